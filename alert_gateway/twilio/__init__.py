"""The Twilio boundary: sender, webhook signatures, TwiML builders and a Twilio-compatible fake."""
