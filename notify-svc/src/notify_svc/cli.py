"""``notify-svc`` command line: migrate, relay (outbox), consume (events → planned messages),
send (the dispatcher)."""

from __future__ import annotations

from pathlib import Path

from notify_svc import kinds
from notify_svc.bootstrap import bootstrap
from notify_svc.consumers import build_consumers
from notify_svc.dispatch.worker import send_body
from services.cli import service_cli
from services.worker import Worker

MIGRATIONS = Path(__file__).parent / "migrations"

_main = service_cli(
    prog="notify-svc",
    bootstrap=bootstrap,
    migrations_dir=MIGRATIONS,
    consumers=build_consumers,
    workers={"send": Worker("run the dispatcher (sends messages)", send_body)},
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``notify-svc`` script. The AlimTalk templates are checked first:
    a template Kakao would refuse stops every command."""
    kinds.validate_startup()
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
