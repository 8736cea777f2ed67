"""The local launcher (``python -m services_dev.localrt.run``) as tests drive it: its own data
directory and free ports, a log, its status endpoint, and a check that nothing of it survives.

Also stand-ins for the service processes (:data:`FAKE_SERVICE`, :data:`FAKE_WORKER`) for tests of
the launcher itself, which need processes that start in moments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest

from services_dev.localrt.children import http_get
from services_dev.localrt.config import SERVICES
from services_dev.testing.servers import free_port

__all__ = ["FAKE_SERVICE", "FAKE_WORKER", "REPO_ROOT", "LauncherRun", "leftovers"]

REPO_ROOT = Path(__file__).resolve().parents[4]

#: ``python fake_service.py <name> <port>``: answers every GET with 200 and what it saw.
FAKE_SERVICE = textwrap.dedent(
    """
    import json, os, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    name, port = sys.argv[1], int(sys.argv[2])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({
                "service": name,
                "path": self.path,
                "request_id": self.headers.get("X-Request-ID"),
                "forwarded_for": self.headers.get("X-Forwarded-For"),
                "database_url": os.environ.get(name.upper() + "_DATABASE_URL"),
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)

#: ``python fake_worker.py [exit-code]``: runs until SIGTERM, or exits at once with the code.
FAKE_WORKER = textwrap.dedent(
    """
    import signal, sys, time
    if len(sys.argv) > 1:
        print("crashing on purpose", flush=True)
        sys.exit(int(sys.argv[1]))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("worker running", flush=True)
    while True:
        time.sleep(3600)
    """
)


def leftovers(data_dir: Path, ports: Mapping[str, int], markers: tuple[str, ...] = ()) -> list[str]:
    """Live processes that belong to a runtime: by data directory, port argument, a marker on
    their command line, or ``PLATFORM_DATA_DIR`` in their environment."""
    port_args = {str(port) for port in ports.values()}
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        if proc.pid == os.getpid():
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            args = proc.info["cmdline"] or []
            cmdline = " ".join(args)
            ours = str(data_dir) in cmdline or bool(port_args & set(args))
            ours = ours or any(marker in cmdline for marker in markers)
            if not ours:
                try:
                    ours = proc.environ().get("PLATFORM_DATA_DIR") == str(data_dir)
                except (psutil.AccessDenied, OSError):
                    ours = False
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        if ours:
            found.append(f"{proc.pid} {proc.info['name']}: {cmdline}")
    return found


class LauncherRun:
    """One launcher process: ``start``, then its ``runtime.json`` and status endpoint."""

    def __init__(
        self,
        data_dir: Path,
        log: Path,
        *,
        procfile: Path | None = None,
        migrate: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Describe a run on free ports; nothing starts before :meth:`start`."""
        self.data_dir = data_dir
        self.log = log
        self.procfile = procfile
        self.migrate = migrate
        self.extra_env = dict(env or {})
        self.ports: dict[str, int] = {
            "PLATFORM_HTTP_PORT": free_port(),
            "PLATFORM_PG_PORT": free_port(),
            "PLATFORM_NATS_PORT": free_port(),
            "PLATFORM_NATS_MONITOR_PORT": free_port(),
            **{f"{spec.prefix}_PORT": free_port() for spec in SERVICES},
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the launcher in the background (its output goes to :attr:`log`)."""
        prefixes = ("PLATFORM_", *(f"{spec.prefix}_" for spec in SERVICES))
        env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        env.update({name: str(port) for name, port in self.ports.items()})
        env["PLATFORM_DATA_DIR"] = str(self.data_dir)
        env.update(self.extra_env)
        args = [sys.executable, "-m", "services_dev.localrt.run"]
        if self.procfile is not None:
            args += ["--procfile", str(self.procfile)]
        if not self.migrate:
            args.append("--no-migrate")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                args, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        """The launcher's pid."""
        assert self.proc is not None
        return self.proc.pid

    def output(self) -> str:
        """The end of the launcher's output (for failure messages)."""
        return self.log.read_text(errors="replace")[-30_000:]

    def runtime(self) -> dict[str, Any]:
        """``runtime.json`` as this launcher wrote it (``{}`` while it is missing, or still the
        one of a previous run)."""
        try:
            data = json.loads((self.data_dir / "runtime.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("pids", {}).get("launcher") != self.pid:
            return {}
        return data

    def get(self, path: str) -> tuple[int | None, Any]:
        """GET ``path`` on the launcher's status endpoint: (status, JSON body or None)."""
        url = self.runtime().get("status_url")
        if not url:
            return None, None
        code, body = http_get(f"{url}{path}", timeout=5.0)
        try:
            return code, json.loads(body) if body else None
        except ValueError:
            return code, None

    def processes(self) -> dict[str, dict[str, Any]]:
        """The status endpoint's processes by name (``{}`` when it does not answer)."""
        code, body = self.get("/status")
        if code != 200 or not isinstance(body, dict):
            return {}
        return {entry["name"]: entry for entry in body["processes"]}

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> float:
        """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds or when
        the launcher exits. Returns the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(
                    f"launcher exited ({self.proc.returncode}) while waiting for {what}\n"
                    f"{self.output()}"
                )
            if predicate():
                return time.monotonic() - started
            time.sleep(0.1)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{self.output()}")

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until the launcher says every process is up (``ready_at`` in runtime.json)."""
        self.wait_for(lambda: "ready_at" in self.runtime(), timeout, "the platform to be up")

    def interrupt(self, timeout: float = 60.0) -> int:
        """Ctrl-C the launcher and wait for it; returns its exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"launcher did not stop within {timeout:.0f}s\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the launcher if it still runs (test clean-up)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def leftovers(self, *markers: str) -> list[str]:
        """Processes of this run still alive (see :func:`leftovers`)."""
        return leftovers(self.data_dir, self.ports, markers)
