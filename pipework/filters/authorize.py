"""authorize filters (being written)."""
