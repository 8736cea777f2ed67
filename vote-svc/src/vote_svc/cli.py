"""``vote-svc`` command line: migrate, relay (outbox), consume (read models)."""

from __future__ import annotations

from pathlib import Path

from services.bootstrap import ServiceContext
from services.cli import service_cli
from services.clock import SystemClock
from vote_svc.config import get_settings
from vote_svc.consumers import build_consumers

MIGRATIONS = Path(__file__).parent / "migrations"

_main = service_cli(
    prog="vote-svc",
    bootstrap=lambda: ServiceContext(get_settings(), SystemClock()),
    migrations_dir=MIGRATIONS,
    consumers=lambda ctx, sessions, js: build_consumers(sessions, js),
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vote-svc`` script."""
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
