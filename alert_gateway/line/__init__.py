"""LINE: the Messaging API channel (push with buttons, webhook answers, link codes) and its fake."""
