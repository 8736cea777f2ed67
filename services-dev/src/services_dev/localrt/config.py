"""What the local runtime runs and where: the services, the ports, the exported environment.

Read from ``PLATFORM_*`` and ``<SERVICE>_PORT`` variables (docs/operations.md, "Environment").
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = [
    "HOST",
    "SERVICES",
    "LauncherError",
    "LocalConfig",
    "RestartPolicy",
    "ServiceSpec",
    "build_env",
]

HOST: Final = "127.0.0.1"


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
    ServiceSpec(
        "proposal",
        8002,
        (
            "/v1/proposals",
            "/v1/forums",
            "/v1/comments",
            "/v1/moderation",
            "/v1/open-data",
            "/v1/statistics",
        ),
        extensions=("pg_trgm",),
    ),
    ServiceSpec("vote", 8003, ("/v1/votes",)),
    ServiceSpec("ledger", 8004, ("/v1/ledger",)),
    ServiceSpec("notify", 8005, ("/v1/notifications",)),
)


class LauncherError(RuntimeError):
    """A startup problem explained to the user (printed without a traceback)."""


def _find_repo_root() -> Path:
    """The workspace root: the nearest ancestor holding ``deploy/local/Procfile``."""
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            if (folder / "deploy" / "local" / "Procfile").is_file():
                return folder
    raise LauncherError("cannot find the repository root (no deploy/local/Procfile above cwd)")


def _read(
    environ: Mapping[str, str], name: str, parse: Callable[[str], float], what: str
) -> float | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return parse(raw)
    except ValueError:
        raise LauncherError(f"{name}={raw!r} is not {what}") from None


def _port(environ: Mapping[str, str], name: str, default: int, *, lowest: int = 1) -> int:
    value = _read(environ, name, int, "a port number")
    if value is None:
        return default
    if not lowest <= value < 65536:
        raise LauncherError(f"{name}={value} is out of range")
    return int(value)


def _number(environ: Mapping[str, str], name: str, default: float, *, lowest: float) -> float:
    value = _read(environ, name, float, "a number")
    if value is None:
        return default
    if not lowest <= value < float("inf"):
        raise LauncherError(f"{name}={value:g} is out of range (at least {lowest:g})")
    return value


@dataclass(frozen=True)
class RestartPolicy:
    """How the supervisor restarts a process that exited (docs/operations.md, "Restarts"):
    after ``delay`` seconds, doubling up to ``max_delay`` while it keeps crashing (back to
    ``delay`` once a run lasted ``stable_after`` seconds); after ``limit`` restarts within
    ``window`` seconds it gives up on that process."""

    limit: int = 10
    window: float = 300.0
    delay: float = 0.5
    max_delay: float = 30.0
    stable_after: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RestartPolicy:
        """Read ``PLATFORM_RESTART_LIMIT``, ``_WINDOW``, ``_DELAY`` and ``_MAX_DELAY``."""
        default = cls()
        delay = _number(environ, "PLATFORM_RESTART_DELAY", default.delay, lowest=0.0)
        return cls(
            limit=int(_number(environ, "PLATFORM_RESTART_LIMIT", default.limit, lowest=0)),
            window=_number(environ, "PLATFORM_RESTART_WINDOW", default.window, lowest=1.0),
            delay=delay,
            max_delay=_number(
                environ, "PLATFORM_RESTART_MAX_DELAY", max(default.max_delay, delay), lowest=delay
            ),
        )

    def backoff(self, consecutive: int) -> float:
        """The delay before the restart that follows ``consecutive`` quick exits in a row."""
        return float(min(self.delay * 2 ** max(consecutive - 1, 0), self.max_delay))

    def as_json(self) -> dict[str, float]:
        """The policy as the status endpoint shows it."""
        return {
            "limit": self.limit,
            "window_s": self.window,
            "delay_s": self.delay,
            "max_delay_s": self.max_delay,
            "stable_after_s": self.stable_after,
        }


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
    #: The launcher's status endpoint (0: any free port; runtime.json says which).
    status_port: int = 0
    restart: RestartPolicy = field(default_factory=RestartPolicy)

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
            status_port=_port(environ, "PLATFORM_STATUS_PORT", 0, lowest=0),
            restart=RestartPolicy.from_env(environ),
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
        if self.status_port:
            ports["PLATFORM_STATUS_PORT"] = self.status_port
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
        # Children write to a pipe (the launcher reads it); without this their prints arrive in
        # bursts.
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
            # Where a service asks identity-svc for a citizen's current roles and status
            # (services.live_principal), on its own port.
            computed[f"{p}_IDENTITY_URL"] = f"http://{HOST}:{identity_port}"
    computed["IDENTITY_DATA_DIR"] = str(config.data_dir / "identity")
    # The daily open-data snapshots: written by proposal-svc's tick worker, served by its API.
    computed["PROPOSAL_OPEN_DATA_DIR"] = str(config.data_dir / "open-data")
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
    # vote-svc asks proposal-svc about a target it has not heard of yet (read-your-writes, its
    # internal endpoints on its own port; both sides use the development service keys).
    computed["VOTE_PROPOSAL_URL"] = f"http://{HOST}:{config.service_ports['proposal']}"
    # notify-svc asks identity-svc (phone numbers, staff), vote-svc (forum participants) and
    # proposal-svc (a proposal's followers) on their own ports (internal endpoints are not
    # routed by Caddy) and sends nothing for real:
    # the dev provider keeps what it would have sent (GET /v1/notifications/dev/messages).
    computed["NOTIFY_IDENTITY_URL"] = f"http://{HOST}:{identity_port}"
    computed["NOTIFY_VOTE_URL"] = f"http://{HOST}:{config.service_ports['vote']}"
    computed["NOTIFY_PROPOSAL_URL"] = f"http://{HOST}:{config.service_ports['proposal']}"
    computed["NOTIFY_PROVIDER"] = "dev"
    # Every client of the local runtime comes through Caddy from 127.0.0.1: one network, so
    # the per-network rate limits would count the whole runtime as one client
    # (docs/abuse-limits.md). The per-citizen limits stay.
    computed["IDENTITY_VERIFICATION_RATE_LIMITS"] = "[]"
    computed["PROPOSAL_PROPOSAL_NETWORK_RATE_LIMITS"] = "[]"
    computed["VOTE_NETWORK_RATE_LIMITS"] = "[]"
    exported = {key: environ.get(key, value) for key, value in computed.items()}
    # The launcher's own inputs were read from `environ` already; export them normalised (an
    # absolute data directory), so that every process agrees with runtime.json.
    exported.update({name: str(port) for name, port in config.ports().items()})
    exported["PLATFORM_DATA_DIR"] = str(config.data_dir)
    exported["PLATFORM_ENVIRONMENT"] = config.environment
    return exported
