"""Real PostgreSQL and NATS servers for tests, started once per test session.

The fixtures here are plain ``@pytest.fixture`` functions; :mod:`services_dev.testing.plugin`
re-exports them. Both servers listen on free loopback ports and keep their data in the session's
temporary directory, so parallel test runs (and a running ``make run``) do not collide.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from services_dev.localrt.nats import EmbeddedNats, NatsError
from services_dev.localrt.postgres import LOCALE, EmbeddedPostgres, PostgresError

__all__ = ["create_database", "free_port", "nats_server", "pg_server", "postgres_data_dir"]

_START_ATTEMPTS = 3


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the kernel's pick).

    Another process may take it before we bind it; the fixtures retry with a new port when the
    server fails to start.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def postgres_data_dir(preferred: Path) -> Iterator[Path]:
    """Yield a directory to put a PostgreSQL cluster (or a runtime data dir) in.

    Normally that is ``preferred`` (a pytest temporary directory). As root it is a fresh
    directory directly under the system temp dir, removed afterwards: PostgreSQL then runs as an
    unprivileged user who must traverse the path, but pytest resets its ``pytest-of-root`` folder
    to mode 0700 whenever *any* pytest session starts, which would break a concurrent session's
    next ``initdb`` or server start.
    """
    if os.geteuid() != 0:
        preferred.mkdir(parents=True, exist_ok=True)
        yield preferred
        return
    path = Path(tempfile.mkdtemp(prefix=f"{preferred.name}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server for the whole session (superuser ``postgres``, trust auth).

    Create a database per test with :func:`create_database`.
    """
    with postgres_data_dir(tmp_path_factory.mktemp("postgres")) as data_dir:
        error: Exception | None = None
        for _ in range(_START_ATTEMPTS):
            # die_with_parent: a killed pytest must not leave the server behind.
            pg = EmbeddedPostgres(data_dir, free_port(), die_with_parent=True)
            try:
                pg.start()
            except PostgresError as exc:  # most likely the port was taken meanwhile
                error = exc
                continue
            try:
                yield pg
            finally:
                pg.stop()
            return
        raise RuntimeError(f"PostgreSQL did not start after {_START_ATTEMPTS} attempts") from error


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """A NATS server with JetStream (file storage) for the whole session."""
    store_dir = tmp_path_factory.mktemp("nats")
    error: Exception | None = None
    for _ in range(_START_ATTEMPTS):
        server = EmbeddedNats(store_dir, free_port(), free_port(), die_with_parent=True)
        try:
            server.start()
        except NatsError as exc:  # most likely a port was taken meanwhile
            error = exc
            continue
        try:
            yield server
        finally:
            server.stop()
        return
    raise RuntimeError(f"NATS did not start after {_START_ATTEMPTS} attempts") from error


def _database_name(prefix: str) -> str:
    # Identifiers are limited to 63 bytes; keep the prefix readable and the suffix unique.
    clean = re.sub(r"[^a-z0-9_]", "_", prefix.lower()).strip("_") or "db"
    return f"{clean[:40]}_{uuid.uuid4().hex[:16]}"


async def create_database(pg: EmbeddedPostgres, prefix: str) -> str:
    """Create a new, uniquely named database (UTF8, C.UTF-8) and return its plain DSN.

    The name starts with ``prefix`` (sanitised to ``[a-z0-9_]``). The DSN has the form
    ``postgresql://postgres@127.0.0.1:PORT/name``; convert it for SQLAlchemy as needed.
    """
    name = _database_name(prefix)
    conn = await asyncpg.connect(pg.dsn("postgres"))
    try:
        # Only template0 may be copied with an explicit locale, and unlike template1 no test can
        # have added objects to it.
        await conn.execute(
            f"CREATE DATABASE \"{name}\" WITH TEMPLATE template0 ENCODING 'UTF8' "
            f"LOCALE_PROVIDER libc LC_COLLATE '{LOCALE}' LC_CTYPE '{LOCALE}'"
        )
    finally:
        await conn.close()
    return pg.dsn(name)
