"""Who is asking: bearer tokens and the client's address, below both web/ and api/."""
