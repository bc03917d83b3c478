"""Alerts: opening, attaching, timeline, acknowledgement and resolution."""
