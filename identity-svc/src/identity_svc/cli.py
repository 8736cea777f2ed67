"""``identity-svc`` command line: migrate, relay, create-admin, rotate-keys. The commands parse
their arguments, build the context with :func:`~identity_svc.bootstrap.bootstrap` and run one use
case of ``identity_svc.service`` in one transaction."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from identity_svc.bootstrap import IdentityContext, bootstrap
from identity_svc.service import citizens, sessions
from services.cli import service_cli
from services.db import create_engine, create_sessionmaker, transaction
from services.problems import ProblemError

MIGRATIONS = Path(__file__).parent / "migrations"

T = TypeVar("T")


async def _in_transaction(
    ctx: IdentityContext, use_case: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """Run ``use_case`` in one transaction on a one-connection engine of its own."""
    engine = create_engine(ctx.settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            return await use_case(session)
    finally:
        await engine.dispose()


def create_admin(ctx: IdentityContext, citizen_id: uuid.UUID) -> int:
    """Grant the admin role to an already verified citizen (operators bootstrap the first admin)."""
    try:
        view = asyncio.run(
            _in_transaction(ctx, lambda session: citizens.create_admin(session, citizen_id))
        )
    except ProblemError as exc:
        print(f"identity-svc: {exc.title}: {exc.detail or ''}")  # noqa: T201
        return 1
    print(f"citizen {citizen_id} now has roles: {', '.join(view.roles)}")  # noqa: T201
    return 0


def rotate_keys(ctx: IdentityContext) -> int:
    """Retire the active signing key and start signing with a new one."""
    kid = asyncio.run(
        _in_transaction(ctx, lambda session: sessions.rotate_signing_key(session, ctx))
    )
    print(f"new signing key {kid}; the old one stays in the JWKS for its grace period")  # noqa: T201
    return 0


def _extra(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    make_ctx: Callable[[], IdentityContext],
) -> None:
    admin = sub.add_parser("create-admin", help="grant the admin role to a verified citizen")
    admin.add_argument(
        "citizen_id", type=uuid.UUID, help="the citizen_id shown by GET /v1/identity/me"
    )
    admin.set_defaults(func=lambda args: create_admin(make_ctx(), args.citizen_id))
    sub.add_parser("rotate-keys", help="rotate the token-signing key").set_defaults(
        func=lambda _: rotate_keys(make_ctx())
    )


_main = service_cli(
    prog="identity-svc",
    bootstrap=bootstrap,
    migrations_dir=MIGRATIONS,
    extra=_extra,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``identity-svc`` script."""
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
