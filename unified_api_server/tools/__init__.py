"""Tools around the service: the keys command, the demo data and its loader, reference tables."""
