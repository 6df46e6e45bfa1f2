"""Running jobs: real work in child processes, every change stored as it happens."""
