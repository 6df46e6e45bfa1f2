"""The launcher: the whole suite under supervisord from one command, ``unified-api-server run``."""
