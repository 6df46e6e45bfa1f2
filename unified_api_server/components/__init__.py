"""The components: each a small package describing what differs; the registry lists them."""
