"""The gateway: the one authenticated front door to the component services."""
