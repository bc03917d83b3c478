"""`alert-gateway demo`: the whole system in one process, with no external services."""
