"""The runtime description in the data directory: ``runtime.json`` (machine-readable: status,
ports, URLs, pids) and ``runtime.env`` (the exported environment), plus the start banner.

Format of both: docs/operations.md, section "Data directory".
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from services_dev.localrt.config import SERVICES, LocalConfig
from services_dev.localrt.nats import EmbeddedNats
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.localrt.processes import process_identity

__all__ = ["RUNTIME_FORMAT_VERSION", "RuntimeFile", "now", "write_atomic"]

RUNTIME_FORMAT_VERSION: Final = 1


def now() -> str:
    """The current UTC time as ISO 8601 with a ``Z`` (seconds precision)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader never sees a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class RuntimeFile:
    """Writes ``runtime.json`` and ``runtime.env`` for one launcher run."""

    def __init__(
        self,
        config: LocalConfig,
        exported: Mapping[str, str],
        environ: Mapping[str, str],
        postgres: EmbeddedPostgres,
        nats: EmbeddedNats,
    ) -> None:
        """Describe the run of ``config`` with the ``exported`` environment."""
        self.config = config
        self.exported = exported
        self.environ = environ
        self.postgres = postgres
        self.nats = nats
        self._state: dict[str, Any] = {}

    @property
    def written(self) -> bool:
        """Whether this run has written ``runtime.json`` yet."""
        return bool(self._state)

    def previous(self) -> dict[str, Any]:
        """What ``runtime.json`` holds now (a previous run's description), or ``{}``."""
        try:
            data = json.loads(self.config.runtime_json.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def record(self, *, status: str, pids: Mapping[str, int | None], **changes: Any) -> None:
        """(Re)write runtime.json with the current state, ``status``, ``pids`` and ``changes``."""
        if not self._state:
            self._state = {"format": RUNTIME_FORMAT_VERSION, "started_at": now()}
        self._state.update(self._describe())
        self._state["pids"] = dict(pids)
        self._state["pid_create_times"] = {
            name: process_identity(pid) if pid is not None else None for name, pid in pids.items()
        }
        self._state.update(changes, status=status)
        write_atomic(self.config.runtime_json, json.dumps(self._state, indent=2) + "\n")

    def _describe(self) -> dict[str, Any]:
        cfg = self.config
        described: dict[str, Any] = {
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
            "services": self._services(),
            "env_file": str(cfg.runtime_env),
        }
        if self.exported.get("LEDGER_BACKEND") == "fabric":
            described["fabric"] = {
                "home": self.exported["FABRIC_HOME"],
                "profile": self.exported["LEDGER_FABRIC_PROFILE"],
                "port_offset": int(self.environ.get("FABRIC_PORT_OFFSET") or 0),
            }
        return described

    def _services(self) -> dict[str, Any]:
        cfg = self.config
        return {
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

    def write_env(self) -> None:
        """Write ``runtime.env``: the exported environment as shell-quoted KEY=VALUE lines."""
        lines = [
            "# Environment exported by `python -m services_dev.localrt.run` to every process.",
            f"# Load into a shell with: set -a; . {self.config.runtime_env}; set +a",
        ]
        lines += [f"{key}={shlex.quote(value)}" for key, value in sorted(self.exported.items())]
        write_atomic(self.config.runtime_env, "\n".join(lines) + "\n")

    def print_banner(self, say: Callable[[str], None]) -> None:
        """Print where everything is, once the processes are started."""
        cfg = self.config
        width = 10
        say("")
        say(f"Local platform ({cfg.environment}), data in {cfg.data_dir}")
        say(f"  {'entry':<{width}} {cfg.entry_url}  (Caddy)")
        for spec in SERVICES:
            routes = ", ".join(spec.routes)
            say(f"  {spec.name:<{width}} {cfg.service_url(spec)}  ({routes})")
        say(f"  {'postgres':<{width}} {self.exported['PLATFORM_POSTGRES_URL']}")
        say(f"  {'nats':<{width}} {cfg.nats_url}  (monitor {self.nats.monitor_url})")
        say(f"  {'runtime':<{width}} {cfg.runtime_json}  ({cfg.runtime_env.name})")
        say("Ctrl-C stops everything.")
        say("")
