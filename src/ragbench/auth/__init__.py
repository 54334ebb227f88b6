"""API keys for ragbench itself, with roles viewer < editor < admin."""
