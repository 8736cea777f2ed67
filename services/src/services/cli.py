"""The command line every service shares: ``<svc> migrate | relay | consume`` plus its own
workers and commands, each given the context the service's bootstrap builds."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from services.bootstrap import ServiceContext
from services.migrations import upgrade
from services.worker import ConsumerFactory, Worker, consumers_body, relay_body, run_worker

C = TypeVar("C", bound=ServiceContext[Any])

#: A subcommand: gets the parsed arguments, returns the exit code.
Command = Callable[[argparse.Namespace], int]
#: Adds service-specific subcommands whose parsers set ``func`` (a :data:`Command`); it gets the
#: bootstrap so that a command builds the context only when it runs.
Extra = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]", Callable[[], C]], None]


def service_cli(
    *,
    prog: str,
    bootstrap: Callable[[], C],
    migrations_dir: Path | None,
    consumers: ConsumerFactory[C] | None = None,
    workers: Mapping[str, Worker[C]] | None = None,
    extra: Extra[C] | None = None,
) -> Callable[[list[str] | None], int]:
    """Build ``main(argv)`` for a service: ``migrate``, ``relay`` (with a schema), ``consume``
    (with ``consumers``), one command per entry of ``workers``, and ``extra``'s."""

    def migrate(_: argparse.Namespace) -> int:
        if migrations_dir is None:
            print(f"{prog}: no database schema yet; nothing to migrate")  # noqa: T201
            return 0
        upgrade(migrations_dir, bootstrap().settings.database_url)
        print(f"{prog}: migrations applied")  # noqa: T201
        return 0

    def worker_command(role: str, worker: Worker[C]) -> Command:
        def run(_: argparse.Namespace) -> int:
            asyncio.run(run_worker(bootstrap(), role=role, body=worker.body))
            return 0

        return run

    every: dict[str, Worker[C]] = {}
    if migrations_dir is not None:
        every["relay"] = Worker("run the outbox relay", relay_body)
    if consumers is not None:
        every["consume"] = Worker("run the event consumers", consumers_body(consumers))
    every.update(workers or {})

    def main(argv: list[str] | None = None) -> int:
        parser = argparse.ArgumentParser(prog=prog)
        sub = parser.add_subparsers(required=True, dest="command")
        sub.add_parser("migrate", help="apply database migrations").set_defaults(func=migrate)
        for name, worker in every.items():
            sub.add_parser(name, help=worker.help).set_defaults(func=worker_command(name, worker))
        if extra is not None:
            extra(sub, bootstrap)
        args = parser.parse_args(argv)
        func: Command = args.func
        return func(args)

    return main
