"""Click-to-call: the gateway rings the operator's own phone, then bridges to the callee."""
