"""Residents, their contacts and devices: service verbs, phone numbers and the importer."""
