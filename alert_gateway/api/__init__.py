"""The JSON API under /api/v1: bearer-token auth, alerts, residents, devices, rejected messages."""
