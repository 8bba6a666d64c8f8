"""cache filters (being written)."""
