"""Escalation: policies, the durable engine, and the outbox of notifications."""
