"""``vote-svc`` command line: migrate, relay (outbox), consume (read models)."""

from __future__ import annotations

from pathlib import Path

from services.cli import service_cli
from vote_svc.bootstrap import bootstrap
from vote_svc.consumers import build_consumers

MIGRATIONS = Path(__file__).parent / "migrations"

_main = service_cli(
    prog="vote-svc",
    bootstrap=bootstrap,
    migrations_dir=MIGRATIONS,
    consumers=build_consumers,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vote-svc`` script."""
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
