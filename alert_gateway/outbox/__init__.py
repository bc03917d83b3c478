"""The notification outbox: attempts as rows, claimed, sent to Twilio, recorded, chased."""
