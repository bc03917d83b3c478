"""Personal data under APPI: sealing keys, the audit log, retention and erasure."""
