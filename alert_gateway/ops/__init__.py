"""Operations helpers: broker accounts and other tasks run by people who deploy the gateway."""
