"""Escalation: policies, the pure planner, the durable engine and intake of first steps."""
