"""HTTP: health, metrics, the JSON API, Twilio webhooks and the console."""
