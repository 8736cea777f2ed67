"""The command line every service shares: ``<svc> migrate | relay | consume`` plus its own."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path

from services.config import ServiceSettings
from services.migrations import upgrade
from services.worker import ConsumerFactory, consumers_body, relay_body, run_worker

#: A subcommand: gets the parsed arguments, returns the exit code.
Command = Callable[[argparse.Namespace], int]


def service_cli(
    *,
    prog: str,
    settings: Callable[[], ServiceSettings],
    migrations_dir: Path | None,
    consumers: ConsumerFactory | None = None,
    extra: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None = None,
) -> Callable[[list[str] | None], int]:
    """Build ``main(argv)`` for a service. ``extra`` adds service-specific subcommands whose
    parsers set ``func`` (a :data:`Command`)."""

    def migrate(_: argparse.Namespace) -> int:
        if migrations_dir is None:
            print(f"{prog}: no database schema yet; nothing to migrate")  # noqa: T201
            return 0
        upgrade(migrations_dir, settings().database_url)
        print(f"{prog}: migrations applied")  # noqa: T201
        return 0

    def relay(_: argparse.Namespace) -> int:
        asyncio.run(run_worker(settings(), role="relay", body=relay_body))
        return 0

    def consume(_: argparse.Namespace) -> int:
        assert consumers is not None
        asyncio.run(run_worker(settings(), role="consumers", body=consumers_body(consumers)))
        return 0

    def main(argv: list[str] | None = None) -> int:
        parser = argparse.ArgumentParser(prog=prog)
        sub = parser.add_subparsers(required=True, dest="command")
        sub.add_parser("migrate", help="apply database migrations").set_defaults(func=migrate)
        if migrations_dir is not None:
            sub.add_parser("relay", help="run the outbox relay").set_defaults(func=relay)
        if consumers is not None:
            sub.add_parser("consume", help="run the event consumers").set_defaults(func=consume)
        if extra is not None:
            extra(sub)
        args = parser.parse_args(argv)
        func: Command = args.func
        return func(args)

    return main
