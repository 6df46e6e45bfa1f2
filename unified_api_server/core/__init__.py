"""Shared core: what every component service (and the gateway) does the same way."""
