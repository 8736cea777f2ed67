"""``vote-svc`` command line (its schema and workers arrive with its issue)."""

from __future__ import annotations

from services.cli import service_cli
from vote_svc.config import get_settings

_main = service_cli(prog="vote-svc", settings=get_settings, migrations_dir=None)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vote-svc`` script."""
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
