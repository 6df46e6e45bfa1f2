"""Component services of the Unified API Server and their shared core."""
