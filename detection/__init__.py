"""detection/: not built yet (see the issues)."""
