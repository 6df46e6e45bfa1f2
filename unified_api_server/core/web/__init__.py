"""The web layer: the app factory, the views every component shares, its sockets."""
