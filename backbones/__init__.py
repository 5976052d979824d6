"""backbones/: not built yet (see the issues)."""
