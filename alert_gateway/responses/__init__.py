"""Answers from people: Twilio status callbacks, keypresses and SMS replies applied to attempts."""
