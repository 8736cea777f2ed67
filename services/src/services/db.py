"""Database access: async engine, sessions, and the rule that the boundary owns the transaction.

Use cases (``service.py``) receive an ``AsyncSession`` and never commit; the HTTP request
(:data:`SessionDep`) or the consumer/worker that called them commits once at the end, or rolls
back when anything raised. That keeps a state change and its outbox rows in one transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import MetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.util import greenlet_spawn

from services.problems import ProblemError

#: Constraint names are stable across databases and migrations (alembic needs names to drop).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every service's models (each process loads one service)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def to_asyncpg_url(url: str) -> str:
    """Accept ``postgresql://`` URLs too, and use the asyncpg driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def to_plain_url(url: str) -> str:
    """The libpq-style URL (``postgresql://``) that asyncpg.connect() understands."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def create_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 0, pool_pre_ping: bool = True, **kw: Any
) -> AsyncEngine:
    """An async engine on asyncpg with a pre-pinged pool of ``pool_size`` connections.

    No overflow by default: an overflow connection is opened and closed per checkout (a
    PostgreSQL backend fork, TLS negotiation, type introspection), which under load costs more
    than waiting for a pooled one (docs/performance.md, "Overload").
    """
    return create_async_engine(
        to_asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=pool_pre_ping,
        **kw,
    )


#: SQLSTATEs of a server that is going away or not there yet: class 08 (connection exception),
#: 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting up, recovery).
_UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03")


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached right now (down, restarting, in
    crash recovery, the connection lost), rather than that a statement was wrong: retrying the
    same work later may succeed. Looks through SQLAlchemy's and asyncpg's wrapping."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, OSError) and not isinstance(current, TimeoutError):
            return True  # refused, reset, unreachable (a timeout may be anything's)
        code = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(code, str) and (code.startswith("08") or code in _UNAVAILABLE_SQLSTATES):
            return True
        if isinstance(current, asyncpg.InterfaceError) and "connection is closed" in str(current):
            return True
        following = current.orig if isinstance(current, DBAPIError) else None
        current = following or current.__cause__ or current.__context__
    return False


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (responses are built afterwards)."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """The driver's (asyncpg's) connection, checked out of ``engine``'s pool without a Session
    or a Connection around it, for a hot path that sends its statement to the driver itself.

    Each statement is a transaction of its own (autocommit) unless the caller begins one on
    the driver and ends it. The connection goes back to the pool when the block ends. It is
    discarded instead when the block was cancelled (a statement may be half-way), the
    connection was lost, or a transaction was left open: the pool never hands out a
    connection in an unknown state.
    """
    fairy = await engine.raw_connection()
    driver: asyncpg.Connection = fairy.driver_connection
    healthy = False
    try:
        yield driver
        healthy = True
    except Exception:
        healthy = True  # an error the driver raised (or the caller's own) leaves it usable
        raise
    finally:
        if healthy and not driver.is_closed() and not driver.is_in_transaction():
            await greenlet_spawn(fairy.close)
        else:
            await greenlet_spawn(fairy.invalidate)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit when the block ends normally, roll back when it raises."""
    async with sessions() as session, session.begin():
        yield session


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        try:
            yield session
        except ProblemError as exc:
            await (session.commit() if exc.commit else session.rollback())
            raise
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


#: A session whose transaction commits when the endpoint returns (before the response is sent)
#: and rolls back when it raises (unless the problem raised asks for a commit).
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]
