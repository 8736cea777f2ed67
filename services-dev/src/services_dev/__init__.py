"""Development-only parts of the platform: the local runtime behind `make run` (embedded
PostgreSQL, NATS, Caddy and every service's processes) and the pytest plugin the tests run on.

Kept out of the `services` library so that production images, which install only `services` and
one service, carry nothing that only development needs (docs/architecture.md)."""
