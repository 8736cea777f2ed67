"""``proposal-svc`` command line (its schema and workers arrive with its issue)."""

from __future__ import annotations

from proposal_svc.config import get_settings
from services.cli import service_cli

_main = service_cli(prog="proposal-svc", settings=get_settings, migrations_dir=None)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``proposal-svc`` script."""
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
