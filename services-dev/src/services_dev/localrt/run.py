"""Local launcher: ``python -m services_dev.localrt.run`` (what ``make run`` calls).

Starts the embedded PostgreSQL and NATS servers, creates one database per service, applies each
service's migrations, writes the runtime description (``runtime.json``, ``runtime.env``) into the
data directory and then runs the processes of ``deploy/local/Procfile`` (Caddy as the single HTTP
entry, the service APIs and workers) under its own supervisor, which restarts any process that
exits, PostgreSQL and NATS included, with backoff and a restart budget
(:mod:`services_dev.localrt.supervisor`), and serves their state on a status endpoint
(:mod:`services_dev.localrt.status`, ``make status``). With ``LEDGER_BACKEND=fabric`` it first
starts the local Hyperledger Fabric network (``deploy/fabric/fabric.sh up``, data in
``$FABRIC_HOME``, default ``<data dir>/fabric``) and exports ``LEDGER_FABRIC_PROFILE``. Ctrl-C
(SIGINT) or SIGTERM stops the processes, then the Fabric network (``fabric.sh down``: its ledger
is kept), NATS, PostgreSQL, and exits 0. See docs/operations.md, section "Local runtime".
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final

import psutil  # type: ignore[import-untyped]

from services_dev.localrt.children import CommandChild, http_probe, nats_child, postgres_child
from services_dev.localrt.config import (
    HOST,
    SERVICES,
    LauncherError,
    LocalConfig,
    ServiceSpec,
    build_env,
)
from services_dev.localrt.console import say as _say
from services_dev.localrt.fabric import LocalFabric
from services_dev.localrt.nats import EmbeddedNats, NatsError
from services_dev.localrt.postgres import EmbeddedPostgres, PostgresError
from services_dev.localrt.processes import (
    become_subreaper,
    port_is_free,
    terminate_descendants,
    terminate_processes,
)
from services_dev.localrt.procfile import ProcfileEntry, ProcfileError, read_procfile
from services_dev.localrt.runtime_file import RuntimeFile, now
from services_dev.localrt.status import StatusServer
from services_dev.localrt.supervisor import Child, Supervisor

__all__ = [
    "SERVICES",
    "Launcher",
    "LauncherError",
    "LocalConfig",
    "ServiceSpec",
    "build_env",
    "main",
]

# Marks every process started under a launcher, so that orphans of a launcher that was killed
# with SIGKILL can be recognised on the next start. Deliberately not written to runtime.env.
LAUNCHER_MARKER: Final = "PLATFORM_LAUNCHER_PID"


class _Stop(BaseException):
    """Raised from the signal handler to abandon the startup phase."""


def _describe(proc: psutil.Process) -> str | None:
    """Short name of a live process, or None if it is gone or a zombie."""
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return " ".join(proc.cmdline()[:3]) or str(proc.name())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


class Launcher:
    """Runs the local platform in the foreground until a signal."""

    def __init__(
        self,
        config: LocalConfig,
        environ: Mapping[str, str] | None = None,
        *,
        migrate: bool = True,
        ready_timeout: float = 120.0,
    ) -> None:
        """Prepare a launcher; :meth:`run` does the work."""
        self.config = config
        self.environ = dict(os.environ if environ is None else environ)
        self.migrate = migrate
        self.ready_timeout = ready_timeout
        self.exported = build_env(config, self.environ)
        self.postgres = EmbeddedPostgres(
            config.data_dir / "postgres", config.pg_port, HOST, die_with_parent=True
        )
        self.nats = EmbeddedNats(
            config.data_dir / "nats",
            config.nats_port,
            config.nats_monitor_port,
            HOST,
            die_with_parent=True,
        )
        self.fabric = LocalFabric(config.repo_root, self.exported, self.child_env, _say)
        self.supervisor: Supervisor | None = None
        self.status: StatusServer | None = None
        self._phase = "starting"
        self._signal: int | None = None
        self._hurry = False
        self._started_at = now()
        self._ready_at: str | None = None
        self.runtime = RuntimeFile(config, self.exported, self.environ, self.postgres, self.nats)

    # -- environment -------------------------------------------------------------------------

    def child_env(self) -> dict[str, str]:
        """Environment of migrations and Procfile processes: the user's plus ours, venv first."""
        env = dict(self.environ)
        env.update(self.exported)
        env[LAUNCHER_MARKER] = str(os.getpid())
        path = env.get("PATH", os.defpath)
        env["PATH"] = os.pathsep.join([str(self.config.bin_dir), path])
        return env

    # -- main --------------------------------------------------------------------------------

    def run(self) -> int:
        """Start everything, supervise, stop everything; return the process exit code."""
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            with self._exclusive_lock(), self._signals():
                return self._run_locked()
        except LauncherError as exc:
            _say(f"launcher: error: {exc}")
            return 1

    def _run_locked(self) -> int:
        try:
            entries = self._read_procfile()
            self._reap_orphans()
            self._check_ports()
            self._start_status_endpoint()
            self._record(status="starting")
            self._start_backends()
            if self.fabric.enabled:
                self.fabric.up()
                self._record(status="starting")
            self.runtime.write_env()
            if self.migrate:
                self._run_migrations()
            # From here on a signal only asks the supervision loop to stop (no exception
            # thrown into the middle of spawning a process).
            self._phase = "running"
            self._start_supervisor(entries)
            self._record(status="running")
            self.runtime.print_banner(_say)
            return self._supervise()
        except _Stop:
            _say("launcher: interrupted during startup, stopping")
            return 0
        except (LauncherError, PostgresError, NatsError) as exc:
            # Expected failures carry their explanation (and server log lines): no traceback.
            _say(f"launcher: error: {exc}")
            return 1
        finally:
            self._phase = "stopping"
            self._shutdown()

    # -- steps -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive_lock(self) -> Iterator[None]:
        """One launcher per data directory; the kernel drops the lock if we die."""
        lock_path = self.config.data_dir / "launcher.lock"
        handle: IO[str] = lock_path.open("a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = self.runtime.previous().get("pids", {}).get("launcher")
                raise LauncherError(
                    f"another launcher (pid {other}) is running on {self.config.data_dir}; "
                    "stop it (Ctrl-C) or set PLATFORM_DATA_DIR to another directory"
                ) from None
            yield
        finally:
            handle.close()

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        # SIGHUP means the terminal went away, which for us is the same as SIGTERM.
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.getsignal(sig) for sig in handled}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if self._signal is not None:
                # A second Ctrl-C: do not wait for processes that take their time to stop.
                self._hurry = True
            self._signal = self._signal or signum
            if self._phase == "starting":
                raise _Stop()

        for sig in handled:
            signal.signal(sig, on_signal)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _read_procfile(self) -> list[ProcfileEntry]:
        try:
            return read_procfile(self.config.procfile)
        except ProcfileError as exc:
            raise LauncherError(str(exc)) from None

    def _reap_orphans(self) -> None:
        """Stop what a previous launcher, killed without cleaning up, left running.

        We hold the data directory's lock, so no live launcher owns these processes.
        """
        target = str(self.config.data_dir)
        orphans: list[psutil.Process] = []
        me = os.getpid()
        for proc in psutil.process_iter():
            try:
                env = proc.environ()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
                continue
            marker = env.get(LAUNCHER_MARKER)
            if marker and marker != str(me) and env.get("PLATFORM_DATA_DIR") == target:
                orphans.append(proc)
        if orphans:
            _say(f"launcher: stopping {len(orphans)} process(es) left by a previous run")
            terminate_processes(orphans, timeout=15.0)
        # PostgreSQL and NATS do not carry the marker; they are recognised by their directories.
        stopped = self.nats.stop_leftovers() + self.postgres.stop_leftovers()
        if stopped:
            _say(f"launcher: stopped {stopped} server process(es) left by a previous run")

    def _check_ports(self) -> None:
        busy = [
            f"{name}={port}"
            for name, port in self.config.ports().items()
            if not port_is_free(HOST, port)
        ]
        if busy:
            raise LauncherError(
                f"port(s) already in use on {HOST}: {', '.join(busy)}; "
                "stop whatever uses them or choose other ports through these variables"
            )

    def _start_status_endpoint(self) -> None:
        try:
            self.status = StatusServer(self._status, self.config.status_port)
        except OSError as exc:
            raise LauncherError(f"cannot serve the status endpoint: {exc}") from None
        self.status.start()

    def _start_backends(self) -> None:
        _say(f"launcher: starting PostgreSQL on {HOST}:{self.config.pg_port}")
        self.postgres.start(takeover=True)
        for spec in SERVICES:
            self.postgres.create_database(spec.database)
            for extension in spec.extensions:
                self.postgres.ensure_extension(spec.database, extension)
        _say(f"launcher: starting NATS on {self.config.nats_url}")
        self.nats.start(takeover=True)
        (self.config.data_dir / "identity").mkdir(exist_ok=True)
        self._record(status="starting")

    def _run_migrations(self) -> None:
        env = self.child_env()
        for spec in SERVICES:
            exe = self.config.bin_dir / spec.cli
            if not exe.exists():
                raise LauncherError(f"{spec.cli} not found in {self.config.bin_dir} (uv sync?)")
            _say(f"launcher: {spec.cli} migrate")
            result = subprocess.run(
                [str(exe), "migrate"], env=env, cwd=self.config.repo_root, check=False
            )
            if result.returncode != 0:
                raise LauncherError(f"{spec.cli} migrate failed with exit code {result.returncode}")

    # -- supervision -------------------------------------------------------------------------

    def _children(self, entries: list[ProcfileEntry]) -> list[Child]:
        """PostgreSQL, NATS and the Procfile's processes, each with its probe: Caddy's and
        every service API's ``/healthz`` (alive) and an API's ``/readyz`` (ready)."""
        cfg = self.config
        apis = {f"{spec.name}-api": cfg.service_url(spec) for spec in SERVICES}
        width = max(len(entry.name) for entry in entries)
        env = self.child_env()
        children: list[Child] = [postgres_child(self.postgres), nats_child(self.nats)]
        for entry in entries:
            probe = None
            if entry.name == "caddy":
                probe = http_probe(f"{cfg.entry_url}/healthz")
            elif entry.name in apis:
                base = apis[entry.name]
                probe = http_probe(f"{base}/healthz", f"{base}/readyz")
            children.append(
                CommandChild(
                    entry.name,
                    entry.command,
                    cwd=cfg.repo_root,
                    env=env,
                    label_width=width,
                    probe=probe,
                )
            )
        return children

    def _start_supervisor(self, entries: list[ProcfileEntry]) -> None:
        self.supervisor = Supervisor(
            self._children(entries),
            self.config.restart,
            # A restarted server has a new pid: keep runtime.json current.
            on_change=lambda: self._record(status="running"),
        )
        self.supervisor.start(running=("postgres", "nats"))

    def _supervise(self) -> int:
        """Keep the processes running until a signal; report readiness once. Returns 0."""
        supervisor = self.supervisor
        assert supervisor is not None
        deadline = time.monotonic() + self.ready_timeout
        waiting = True
        while self._signal is None:
            supervisor.tick()
            if waiting and supervisor.all_up():
                waiting = False
                self._ready_at = now()
                self._record(status="running", ready_at=self._ready_at)
                _say(f"launcher: platform ready at {self.config.entry_url}  (Ctrl-C to stop)")
            elif waiting and time.monotonic() > deadline:
                waiting = False
                names = ", ".join(supervisor.not_ready())
                _say(f"launcher: still not ready after {self.ready_timeout:.0f}s: {names}")
            time.sleep(0.1)
        return 0

    def _status(self) -> dict[str, Any]:
        """The body of the status endpoint's ``GET /status`` (served from another thread)."""
        supervisor = self.supervisor
        not_ready = supervisor.not_ready() if supervisor is not None else {"launcher": "starting"}
        return {
            "launcher": {
                "pid": os.getpid(),
                "status": self._phase,
                "started_at": self._started_at,
                "ready_at": self._ready_at,
                "data_dir": str(self.config.data_dir),
                "entry_url": self.config.entry_url,
            },
            "ready": self._phase == "running" and not not_ready,
            "not_ready": not_ready,
            "restart_policy": self.config.restart.as_json(),
            "processes": supervisor.snapshot() if supervisor is not None else [],
        }

    def _shutdown(self) -> None:
        """Stop in dependency order: processes, stragglers, NATS, PostgreSQL."""
        if self.supervisor is not None:
            self.supervisor.stop_processes(timeout=10.0, hurry=lambda: self._hurry)
        # Before the sweep below: the Fabric processes are our descendants too.
        self.fabric.down()
        self._stop_stragglers()
        try:
            if self.nats.is_running:
                _say("launcher: stopping NATS")
            self.nats.stop()
        finally:
            if self.postgres.is_running:
                _say("launcher: stopping PostgreSQL")
            self.postgres.stop()
            if self.supervisor is not None:
                self.supervisor.mark_stopped(("postgres", "nats"))
            terminate_descendants(timeout=5.0)
            if self.runtime.written:
                self._record(status="stopped", stopped_at=now())
            if self.status is not None:
                self.status.close()

    def _stop_stragglers(self) -> None:
        """Everything below us except the database and NATS servers (and the postmaster's
        backends), which must outlive the services and are stopped next, in order."""
        keep: set[int] = set()
        for pid in (self.postgres.pid, self.nats.pid):
            if pid is None:
                continue
            keep.add(pid)
            with contextlib.suppress(psutil.NoSuchProcess):
                keep.update(c.pid for c in psutil.Process(pid).children(recursive=True))
        stragglers = [p for p in psutil.Process().children(recursive=True) if p.pid not in keep]
        live = [p for p in stragglers if _describe(p) is not None]
        if live:
            names = ", ".join(f"{p.pid} {_describe(p)}" for p in live)
            _say(f"launcher: stopping leftover process(es): {names}")
        # Zombies (exited descendants adopted by us, the subreaper) are reaped by the same call.
        terminate_processes(stragglers, timeout=10.0)

    # -- runtime description -----------------------------------------------------------------

    def _record(self, *, status: str, **changes: Any) -> None:
        """(Re)write runtime.json with the current state, ``status`` and ``changes``."""
        me = os.getpid()
        pids: dict[str, int | None] = {
            "launcher": me,
            "postgres": self.postgres.pid,
            "nats": self.nats.pid,
            # The launcher supervises the processes itself; "honcho" is the name format 1
            # readers know the supervising process by.
            "supervisor": me,
            "honcho": me,
        }
        if self.status is not None:
            changes.setdefault("status_url", self.status.url)
            changes.setdefault("restart_policy", self.config.restart.as_json())
        self.runtime.record(status=status, pids=pids, **changes)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m services_dev.localrt.run",
        description="Run the platform locally: embedded PostgreSQL + NATS, Caddy, services.",
    )
    parser.add_argument(
        "--procfile",
        type=Path,
        default=None,
        help="Procfile to run (default: $PLATFORM_PROCFILE or deploy/local/Procfile)",
    )
    parser.add_argument(
        "--no-migrate", action="store_true", help="skip '<service>-svc migrate' before starting"
    )
    args = parser.parse_args(argv)
    procfile = args.procfile or (
        Path(os.environ["PLATFORM_PROCFILE"]) if os.environ.get("PLATFORM_PROCFILE") else None
    )
    try:
        config = LocalConfig.from_env(os.environ, procfile=procfile)
    except LauncherError as exc:
        _say(f"launcher: error: {exc}")
        return 2
    # Adopt descendants that lose their parent (a killed postmaster's backends, what a
    # process started in the background), so the final sweep still sees them.
    become_subreaper()
    return Launcher(config, migrate=not args.no_migrate).run()


if __name__ == "__main__":
    sys.exit(main())
