"""Dev and test support shared by every package: the pytest plugin, JWT test keys, app runners,
and the PostgreSQL and NATS servers for tests and `make run` (found, or embedded)."""
