"""``identity-svc`` command line: migrate, relay, create-admin, rotate-keys."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from pathlib import Path

from identity_svc import keys, service
from identity_svc.config import get_settings
from services.bootstrap import ServiceContext
from services.cli import service_cli
from services.clock import SystemClock
from services.db import create_engine, create_sessionmaker, transaction
from services.problems import ProblemError

MIGRATIONS = Path(__file__).parent / "migrations"


async def _create_admin(citizen_id: uuid.UUID) -> list[str]:
    engine = create_engine(get_settings().database_url, pool_size=1, max_overflow=0)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            current = await service.citizen_view(session, citizen_id)
            roles = sorted({*current.roles, "admin"})
            view = await service.set_roles(session, None, citizen_id, roles, current.department)
            return view.roles
    finally:
        await engine.dispose()


def create_admin(args: argparse.Namespace) -> int:
    """Grant the admin role to an already verified citizen (operators bootstrap the first admin)."""
    try:
        roles = asyncio.run(_create_admin(args.citizen_id))
    except ProblemError as exc:
        print(f"identity-svc: {exc.title}: {exc.detail or ''}")  # noqa: T201
        return 1
    print(f"citizen {args.citizen_id} now has roles: {', '.join(roles)}")  # noqa: T201
    return 0


async def _rotate() -> str:
    settings = get_settings()
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            return await keys.rotate(session, settings.kek)
    finally:
        await engine.dispose()


def rotate_keys(_: argparse.Namespace) -> int:
    """Retire the active signing key and start signing with a new one."""
    kid = asyncio.run(_rotate())
    print(f"new signing key {kid}; the old one stays in the JWKS for its grace period")  # noqa: T201
    return 0


def _extra(sub: argparse._SubParsersAction[argparse.ArgumentParser], _: object) -> None:
    admin = sub.add_parser("create-admin", help="grant the admin role to a verified citizen")
    admin.add_argument(
        "citizen_id", type=uuid.UUID, help="the citizen_id shown by GET /v1/identity/me"
    )
    admin.set_defaults(func=create_admin)
    sub.add_parser("rotate-keys", help="rotate the token-signing key").set_defaults(
        func=rotate_keys
    )


_main = service_cli(
    prog="identity-svc",
    bootstrap=lambda: ServiceContext(get_settings(), SystemClock()),
    migrations_dir=MIGRATIONS,
    extra=_extra,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``identity-svc`` script."""
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
