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
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final

import psutil  # type: ignore[import-untyped]

from services_dev.localrt.nats import EmbeddedNats, NatsError
from services_dev.localrt.postgres import EmbeddedPostgres, PostgresError
from services_dev.localrt.processes import (
    become_subreaper,
    parent_death_preexec,
    port_is_free,
    process_identity,
    stop_popen,
    terminate_descendants,
    terminate_processes,
)

__all__ = [
    "SERVICES",
    "Launcher",
    "LocalConfig",
    "ServiceSpec",
    "build_env",
    "main",
]

HOST: Final = "127.0.0.1"
RUNTIME_FORMAT_VERSION: Final = 1
# Marks every process started under a launcher, so that orphans of a launcher that was killed
# with SIGKILL can be recognised on the next start. Deliberately not written to runtime.env.
LAUNCHER_MARKER: Final = "PLATFORM_LAUNCHER_PID"


@dataclass(frozen=True)
class ServiceSpec:
    """One platform service as the launcher sees it."""

    name: str
    default_port: int
    routes: tuple[str, ...]
    extensions: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        """Environment variable prefix, e.g. ``IDENTITY``."""
        return self.name.upper()

    @property
    def database(self) -> str:
        """Name of the service's own database."""
        return self.name

    @property
    def cli(self) -> str:
        """The service's console script (``identity-svc`` ...)."""
        return f"{self.name}-svc"


SERVICES: Final[tuple[ServiceSpec, ...]] = (
    ServiceSpec("identity", 8001, ("/v1/identity", "/.well-known/jwks.json")),
    ServiceSpec("proposal", 8002, ("/v1/proposals", "/v1/forums"), extensions=("pg_trgm",)),
    ServiceSpec("vote", 8003, ("/v1/votes",)),
    ServiceSpec("ledger", 8004, ("/v1/ledger",)),
    ServiceSpec("notify", 8005, ("/v1/notifications",)),
)


class LauncherError(RuntimeError):
    """A startup problem explained to the user (printed without a traceback)."""


class _Stop(BaseException):
    """Raised from the signal handler to abandon the startup phase."""


def _find_repo_root() -> Path:
    """The workspace root: the nearest ancestor holding ``deploy/local/Procfile``."""
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            if (folder / "deploy" / "local" / "Procfile").is_file():
                return folder
    raise LauncherError("cannot find the repository root (no deploy/local/Procfile above cwd)")


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise LauncherError(f"{name}={raw!r} is not a port number") from None
    if not 0 < value < 65536:
        raise LauncherError(f"{name}={value} is out of range")
    return value


@dataclass(frozen=True)
class LocalConfig:
    """Where and on which ports the local runtime runs (read from the environment)."""

    repo_root: Path
    data_dir: Path
    environment: str
    http_port: int
    pg_port: int
    nats_port: int
    nats_monitor_port: int
    service_ports: Mapping[str, int]
    procfile: Path
    bin_dir: Path = field(default_factory=lambda: Path(sys.executable).parent)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        repo_root: Path | None = None,
        procfile: Path | None = None,
    ) -> LocalConfig:
        """Read ``PLATFORM_*`` and ``<SERVICE>_PORT`` variables, with the documented defaults."""
        root = repo_root or _find_repo_root()
        data_dir = Path(environ.get("PLATFORM_DATA_DIR") or root / ".data").expanduser()
        config = cls(
            repo_root=root,
            data_dir=data_dir.resolve(),
            environment=environ.get("PLATFORM_ENVIRONMENT") or "dev",
            http_port=_port(environ, "PLATFORM_HTTP_PORT", 8000),
            pg_port=_port(environ, "PLATFORM_PG_PORT", 55432),
            nats_port=_port(environ, "PLATFORM_NATS_PORT", 4222),
            nats_monitor_port=_port(environ, "PLATFORM_NATS_MONITOR_PORT", 8222),
            service_ports={
                s.name: _port(environ, f"{s.prefix}_PORT", s.default_port) for s in SERVICES
            },
            procfile=(procfile or root / "deploy" / "local" / "Procfile").resolve(),
        )
        ports = config.ports()
        seen: dict[int, str] = {}
        for name, port in ports.items():
            if port in seen:
                raise LauncherError(f"{name} and {seen[port]} are both set to port {port}")
            seen[port] = name
        return config

    def ports(self) -> dict[str, int]:
        """Every port we listen on, keyed by the environment variable that sets it."""
        ports = {
            "PLATFORM_HTTP_PORT": self.http_port,
            "PLATFORM_PG_PORT": self.pg_port,
            "PLATFORM_NATS_PORT": self.nats_port,
            "PLATFORM_NATS_MONITOR_PORT": self.nats_monitor_port,
        }
        for spec in SERVICES:
            ports[f"{spec.prefix}_PORT"] = self.service_ports[spec.name]
        return ports

    @property
    def entry_url(self) -> str:
        """The single HTTP entry (Caddy)."""
        return f"http://{HOST}:{self.http_port}"

    @property
    def nats_url(self) -> str:
        """Client URL of the embedded NATS server."""
        return f"nats://{HOST}:{self.nats_port}"

    def service_url(self, spec: ServiceSpec) -> str:
        """Base URL of a service on its own port (bypassing Caddy)."""
        return f"http://{HOST}:{self.service_ports[spec.name]}"

    def database_url(self, spec: ServiceSpec) -> str:
        """SQLAlchemy URL of the service's database on the embedded server."""
        return f"postgresql+asyncpg://postgres@{HOST}:{self.pg_port}/{spec.database}"

    @property
    def runtime_json(self) -> Path:
        """The machine-readable description of the running runtime."""
        return self.data_dir / "runtime.json"

    @property
    def runtime_env(self) -> Path:
        """KEY=VALUE file of the environment exported to the processes."""
        return self.data_dir / "runtime.env"


def build_env(config: LocalConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """The platform variables exported to every process (what ``runtime.env`` lists).

    A variable the user already set in ``environ`` keeps the user's value.
    """
    computed: dict[str, str] = {
        "PLATFORM_ENVIRONMENT": config.environment,
        "PLATFORM_DATA_DIR": str(config.data_dir),
        "PLATFORM_HTTP_PORT": str(config.http_port),
        "PLATFORM_PG_PORT": str(config.pg_port),
        "PLATFORM_NATS_PORT": str(config.nats_port),
        "PLATFORM_NATS_MONITOR_PORT": str(config.nats_monitor_port),
        "PLATFORM_ENTRY_URL": config.entry_url,
        "PLATFORM_NATS_URL": config.nats_url,
        "PLATFORM_POSTGRES_URL": f"postgresql://postgres@{HOST}:{config.pg_port}/postgres",
        # Children write to a pipe (honcho); without this their prints arrive in bursts.
        "PYTHONUNBUFFERED": "1",
    }
    identity_port = config.service_ports["identity"]
    for spec in SERVICES:
        p = spec.prefix
        computed[f"{p}_PORT"] = str(config.service_ports[spec.name])
        computed[f"{p}_DATABASE_URL"] = config.database_url(spec)
        computed[f"{p}_NATS_URL"] = config.nats_url
        computed[f"{p}_ENVIRONMENT"] = config.environment
        if spec.name != "identity":
            computed[f"{p}_JWKS_URL"] = f"http://{HOST}:{identity_port}/.well-known/jwks.json"
    computed["IDENTITY_DATA_DIR"] = str(config.data_dir / "identity")
    if config.environment == "dev":
        computed["IDENTITY_SANDBOX_ROLES"] = "true"
    # The architecture's default for `make run`: the Merkle log in ledger-svc's own database.
    computed["LEDGER_BACKEND"] = "local"
    if environ.get("LEDGER_BACKEND") == "fabric":
        # The local Fabric network that the launcher starts (deploy/fabric/fabric.sh).
        fabric_home = Path(environ.get("FABRIC_HOME") or config.data_dir / "fabric")
        computed["FABRIC_HOME"] = str(fabric_home.expanduser().resolve())
        computed["LEDGER_FABRIC_PROFILE"] = str(Path(computed["FABRIC_HOME"]) / "profile.json")
    # The auditor reads vote-svc's public per-target records.
    computed["LEDGER_VOTE_URL"] = f"http://{HOST}:{config.service_ports['vote']}"
    # notify-svc asks identity-svc (phone numbers, staff) and vote-svc (forum participants) on
    # their own ports (internal endpoints are not routed by Caddy) and sends nothing for real:
    # the dev provider keeps what it would have sent (GET /v1/notifications/dev/messages).
    computed["NOTIFY_IDENTITY_URL"] = f"http://{HOST}:{identity_port}"
    computed["NOTIFY_VOTE_URL"] = f"http://{HOST}:{config.service_ports['vote']}"
    computed["NOTIFY_PROVIDER"] = "dev"
    exported = {key: environ.get(key, value) for key, value in computed.items()}
    # The launcher's own inputs were read from `environ` already; export them normalised (an
    # absolute data directory), so that every process agrees with runtime.json.
    exported.update({name: str(port) for name, port in config.ports().items()})
    exported["PLATFORM_DATA_DIR"] = str(config.data_dir)
    exported["PLATFORM_ENVIRONMENT"] = config.environment
    return exported


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


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
        self._state: dict[str, Any] = {}

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
            self._write_runtime_env()
            if self.migrate:
                self._run_migrations()
            self._start_honcho()
            self._phase = "running"
            self._record(status="running")
            self._print_banner()
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
                other = self._previous_state().get("pids", {}).get("launcher")
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

    def _previous_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.config.runtime_json.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

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

    def _write_runtime_env(self) -> None:
        lines = [
            "# Environment exported by `python -m services_dev.localrt.run` to every process.",
            f"# Load into a shell with: set -a; . {self.config.runtime_env}; set +a",
        ]
        lines += [f"{key}={shlex.quote(value)}" for key, value in sorted(self.exported.items())]
        _write_atomic(self.config.runtime_env, "\n".join(lines) + "\n")

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
                self._record(status="running", ready_at=_now())
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
            if self._state:
                self._record(status="stopped", stopped_at=_now())

    # -- runtime description -----------------------------------------------------------------

    def _record(self, *, status: str, **changes: Any) -> None:
        """(Re)write runtime.json with the current state, ``status`` and ``changes``."""
        cfg = self.config
        if not self._state:
            self._state = {"format": RUNTIME_FORMAT_VERSION, "started_at": _now()}
        pids: dict[str, int | None] = {
            "launcher": os.getpid(),
            "postgres": self.postgres.pid,
            "nats": self.nats.pid,
            "honcho": self.honcho.pid if self.honcho is not None else None,
        }
        services = {
            spec.name: {
                "url": cfg.service_url(spec),
                "port": cfg.service_ports[spec.name],
                "routes": list(spec.routes),
                "database": spec.database,
                "database_url": self.exported[f"{spec.prefix}_DATABASE_URL"],
                "healthz": f"{cfg.service_url(spec)}/healthz",
                "openapi": f"{cfg.service_url(spec)}/openapi.json",
                "env_prefix": spec.prefix,
            }
            for spec in SERVICES
        }
        self._state.update(
            {
                "environment": cfg.environment,
                "repo_root": str(cfg.repo_root),
                "data_dir": str(cfg.data_dir),
                "procfile": str(cfg.procfile),
                "entry_url": cfg.entry_url,
                "ports": {
                    "http": cfg.http_port,
                    "postgres": cfg.pg_port,
                    "nats": cfg.nats_port,
                    "nats_monitor": cfg.nats_monitor_port,
                    **{spec.name: cfg.service_ports[spec.name] for spec in SERVICES},
                },
                "postgres": {
                    "url": self.exported["PLATFORM_POSTGRES_URL"],
                    "data_dir": str(self.postgres.data_dir),
                    "log": str(self.postgres.log_path),
                },
                "nats": {
                    "url": self.exported["PLATFORM_NATS_URL"],
                    "monitor_url": self.nats.monitor_url,
                    "store_dir": str(self.nats.store_dir),
                    "log": str(self.nats.log_path),
                },
                "services": services,
                **(
                    {
                        "fabric": {
                            "home": self.exported["FABRIC_HOME"],
                            "profile": self.exported["LEDGER_FABRIC_PROFILE"],
                            "port_offset": int(self.environ.get("FABRIC_PORT_OFFSET") or 0),
                        }
                    }
                    if self.fabric_enabled
                    else {}
                ),
                "pids": pids,
                "pid_create_times": {
                    name: process_identity(pid) if pid is not None else None
                    for name, pid in pids.items()
                },
                "env_file": str(cfg.runtime_env),
            }
        )
        self._state.update(changes, status=status)
        _write_atomic(cfg.runtime_json, json.dumps(self._state, indent=2) + "\n")

    def _print_banner(self) -> None:
        cfg = self.config
        width = 10
        _say("")
        _say(f"Local platform ({cfg.environment}), data in {cfg.data_dir}")
        _say(f"  {'entry':<{width}} {cfg.entry_url}  (Caddy)")
        for spec in SERVICES:
            routes = ", ".join(spec.routes)
            _say(f"  {spec.name:<{width}} {cfg.service_url(spec)}  ({routes})")
        _say(f"  {'postgres':<{width}} {self.exported['PLATFORM_POSTGRES_URL']}")
        _say(f"  {'nats':<{width}} {cfg.nats_url}  (monitor {self.nats.monitor_url})")
        _say(f"  {'runtime':<{width}} {cfg.runtime_json}  ({cfg.runtime_env.name})")
        _say("Ctrl-C stops everything.")
        _say("")


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
