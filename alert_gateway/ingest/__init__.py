"""MQTT ingest: validate at the edge, store durably, acknowledge after commit."""
