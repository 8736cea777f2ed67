"""Local launcher: ``python -m services_dev.localrt.run`` (what ``make run`` calls).

Starts the embedded PostgreSQL and NATS servers, creates one database per service, applies each
service's migrations, writes the runtime description (``runtime.json``, ``runtime.env``) into the
data directory and then runs the processes of ``deploy/local/Procfile`` under honcho (Caddy as the
single HTTP entry, the service APIs and workers). With ``LEDGER_BACKEND=fabric`` it first starts the
local Hyperledger Fabric network (``deploy/fabric/fabric.sh up``, data in ``$FABRIC_HOME``, default
``<data dir>/fabric``) and exports ``LEDGER_FABRIC_PROFILE``. Ctrl-C (SIGINT) or SIGTERM stops the
processes, then the Fabric network (``fabric.sh down``: its ledger is kept), NATS, PostgreSQL,
and exits 0. If a process dies on its own, everything is stopped and
the exit code is non-zero. See docs/operations.md, section "Local runtime".
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
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final

import psutil  # type: ignore[import-untyped]

from services_dev.localrt.config import (
    HOST,
    SERVICES,
    LauncherError,
    LocalConfig,
    ServiceSpec,
    build_env,
)
from services_dev.localrt.nats import EmbeddedNats, NatsError
from services_dev.localrt.postgres import EmbeddedPostgres, PostgresError
from services_dev.localrt.processes import (
    become_subreaper,
    parent_death_preexec,
    port_is_free,
    stop_popen,
    terminate_descendants,
    terminate_processes,
)
from services_dev.localrt.runtime_file import RuntimeFile, now

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


def _say(message: str = "") -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_ok(url: str) -> bool:
    try:
        with _NO_PROXY.open(url, timeout=0.5) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError):
        return False


def _describe(proc: psutil.Process) -> str | None:
    """Short name of a live process, or None if it is gone or a zombie."""
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return " ".join(proc.cmdline()[:3]) or str(proc.name())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


class Launcher:
    """Runs the local platform in the foreground until a signal or a crash."""

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
        self.honcho: subprocess.Popen[bytes] | None = None
        self._fabric_up = False
        self._phase = "starting"
        self._signal: int | None = None
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
            self._reap_orphans()
            self._check_ports()
            self._record(status="starting")
            self._start_backends()
            if self.fabric_enabled:
                self._start_fabric()
            self.runtime.write_env()
            if self.migrate:
                self._run_migrations()
            self._start_honcho()
            self._phase = "running"
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
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.getsignal(sig) for sig in handled}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            first = self._signal is None
            self._signal = self._signal or signum
            if self._phase == "starting":
                raise _Stop()
            if self._phase == "running" and self.honcho is not None and first:
                # honcho stops its process groups on SIGINT/SIGTERM; SIGHUP means the terminal
                # went away, which for us is the same as SIGTERM.
                forward = signal.SIGTERM if signum == signal.SIGHUP else signum
                with contextlib.suppress(ProcessLookupError):
                    self.honcho.send_signal(forward)

        for sig in handled:
            signal.signal(sig, on_signal)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

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

    @property
    def fabric_enabled(self) -> bool:
        """Whether ledger-svc anchors on the local Fabric network (``LEDGER_BACKEND=fabric``)."""
        return self.exported.get("LEDGER_BACKEND") == "fabric"

    def _fabric(self, command: str, timeout: float | None) -> int:
        script = self.config.repo_root / "deploy" / "fabric" / "fabric.sh"
        if not script.is_file():
            raise LauncherError(f"LEDGER_BACKEND=fabric needs {script}, which does not exist")
        env = self.child_env()
        return subprocess.run(
            ["bash", str(script), command],
            env=env,
            cwd=self.config.repo_root,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=timeout,
        ).returncode

    def _start_fabric(self) -> None:
        home = self.exported["FABRIC_HOME"]
        _say(
            f"launcher: starting the Fabric network (deploy/fabric/fabric.sh up, FABRIC_HOME={home})"
        )
        # A cold start builds the Fabric binaries from source: minutes, so no time limit here.
        self._fabric_up = True
        code = self._fabric("up", timeout=None)
        if code != 0:
            raise LauncherError(
                f"deploy/fabric/fabric.sh up failed with exit code {code} (see above)"
            )
        profile = Path(self.exported["LEDGER_FABRIC_PROFILE"])
        if not profile.is_file():
            raise LauncherError(f"fabric.sh up wrote no connection profile at {profile}")
        self._record(status="starting")

    def _stop_fabric(self) -> None:
        if not self._fabric_up:
            return
        self._fabric_up = False
        _say("launcher: stopping the Fabric network (its ledger is kept)")
        try:
            code = self._fabric("down", timeout=120.0)
        except (subprocess.TimeoutExpired, LauncherError) as exc:
            _say(f"launcher: fabric.sh down did not finish: {exc}")
            return
        if code != 0:
            _say(f"launcher: fabric.sh down failed with exit code {code}")

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

    def _start_honcho(self) -> None:
        cfg = self.config
        if not cfg.procfile.is_file():
            raise LauncherError(f"Procfile not found: {cfg.procfile}")
        args = [
            sys.executable,
            "-m",
            "honcho",
            "start",
            "--procfile",
            str(cfg.procfile),
            "--app-root",
            str(cfg.repo_root),
            # Not the repository's .env: the environment comes from us (see runtime.env), and a
            # stray .env would silently diverge from what runtime.json reports.
            "--env",
            os.devnull,
        ]
        if not sys.stdout.isatty():
            args.append("--no-colour")
        self.honcho = subprocess.Popen(
            args,
            cwd=cfg.repo_root,
            env=self.child_env(),
            stdin=subprocess.DEVNULL,
            # Own session: a terminal Ctrl-C reaches only us, and we decide the stop order.
            start_new_session=True,
            preexec_fn=parent_death_preexec(signal.SIGTERM),
        )

    def _supervise(self) -> int:
        """Wait for honcho; report readiness once. Return 0 after a signal, else non-zero."""
        honcho = self.honcho
        assert honcho is not None
        deadline = time.monotonic() + self.ready_timeout
        pending: list[tuple[str, str]] | None = self._readiness_checks()
        stop_deadline: float | None = None
        while True:
            try:
                code = honcho.wait(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                pass
            if self._signal is not None:
                # honcho kills its processes 5 s after asking; if it hangs anyway, _shutdown
                # escalates.
                stop_deadline = stop_deadline or time.monotonic() + 30.0
                if time.monotonic() > stop_deadline:
                    return 0
                continue
            if pending is None:
                continue
            pending = [(name, url) for name, url in pending if not _http_ok(url)]
            if not pending:
                pending = None
                self._record(status="running", ready_at=now())
                _say(f"launcher: platform ready at {self.config.entry_url}  (Ctrl-C to stop)")
            elif time.monotonic() > deadline:
                names = ", ".join(name for name, _ in pending)
                _say(f"launcher: still not ready after {self.ready_timeout:.0f}s: {names}")
                pending = None
        if self._signal is not None:
            return 0
        _say(f"launcher: a process exited (honcho exit code {code}); stopping everything")
        return code or 1

    def _readiness_checks(self) -> list[tuple[str, str]]:
        checks = [("caddy", f"{self.config.entry_url}/healthz")]
        checks += [(s.name, f"{self.config.service_url(s)}/healthz") for s in SERVICES]
        return checks

    def _shutdown(self) -> None:
        """Stop in dependency order: processes, stragglers, NATS, PostgreSQL."""
        honcho, self.honcho = self.honcho, None
        if honcho is not None and honcho.poll() is None:
            # honcho SIGTERMs its process groups and SIGKILLs them after 5 s; give it time.
            stop_popen(honcho, signal.SIGTERM, timeout=20.0)
        # Before the sweep below: the Fabric processes are our descendants too.
        self._stop_fabric()
        # Everything below us except the database and NATS servers (and the postmaster's
        # backends), which must outlive the services and are stopped next, in order.
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
        # Zombies (exited children adopted from honcho) are reaped by the same call.
        terminate_processes(stragglers, timeout=10.0)
        try:
            if self.nats.is_running:
                _say("launcher: stopping NATS")
            self.nats.stop()
        finally:
            if self.postgres.is_running:
                _say("launcher: stopping PostgreSQL")
            self.postgres.stop()
            terminate_descendants(timeout=5.0)
            if self.runtime.written:
                self._record(status="stopped", stopped_at=now())

    # -- runtime description -----------------------------------------------------------------

    def _record(self, *, status: str, **changes: Any) -> None:
        """(Re)write runtime.json with the current state, ``status`` and ``changes``."""
        pids: dict[str, int | None] = {
            "launcher": os.getpid(),
            "postgres": self.postgres.pid,
            "nats": self.nats.pid,
            "honcho": self.honcho.pid if self.honcho is not None else None,
        }
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
    # Adopt descendants that lose their parent (honcho), so the final sweep still sees them.
    become_subreaper()
    return Launcher(config, migrate=not args.no_migrate).run()


if __name__ == "__main__":
    sys.exit(main())
