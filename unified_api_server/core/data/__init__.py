"""The data layer: the only code that writes SQL, and the one write path."""
