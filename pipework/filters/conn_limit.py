"""conn_limit filters (being written)."""
