"""The local runtime as the end-to-end tests drive it: ``python -m services_dev.localrt.run`` (what
``make run`` runs) on free ports with its own data directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("identity", "proposal", "vote", "ledger", "notify")
#: Generous: a cold start on a loaded 2-core machine migrates five databases first.
STARTUP_TIMEOUT = 300.0
STOP_TIMEOUT = 30.0


class Runtime:
    """One launcher process and what it was given."""

    def __init__(self, data_dir: Path, ports: dict[str, int], log: Path) -> None:
        self.data_dir = data_dir
        self.ports = ports
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        #: Settings a test adds on top of the launcher's (e.g. a faster audit round).
        self.extra_env: dict[str, str] = {}

    @property
    def entry_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['PLATFORM_HTTP_PORT']}"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[f'{name.upper()}_PORT']}"

    def start(self) -> None:
        # The launcher must see only what we choose, not this shell's platform settings.
        prefixes = ("PLATFORM_", *(f"{name.upper()}_" for name in SERVICES))
        env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        env.update({name: str(port) for name, port in self.ports.items()})
        env["PLATFORM_DATA_DIR"] = str(self.data_dir)
        env.update(self.extra_env)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services_dev.localrt.run"],
                cwd=REPO_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-20_000:]

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"launcher exited ({self.proc.returncode}) while waiting for {what}\n"
                    f"{self.output()}"
                )
            if predicate():
                return
            time.sleep(0.25)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{self.output()}")

    def wait_healthy(self, client: httpx.Client, timeout: float = STARTUP_TIMEOUT) -> None:
        def healthy() -> bool:
            try:
                for name in SERVICES:
                    if client.get(f"{self.service_url(name)}/healthz").status_code != 200:
                        return False
                jwks = client.get(f"{self.entry_url}/.well-known/jwks.json")
                return jwks.status_code == 200 and "keys" in jwks.json()
            except (httpx.HTTPError, ValueError):
                return False

        self.wait_until(healthy, timeout, "every service to be healthy")

    def interrupt(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"launcher did not stop within {STOP_TIMEOUT:.0f}s\n{self.output()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def leftovers(data_dir: Path, ports: dict[str, int]) -> list[str]:
    """Processes that still belong to the runtime: by data dir, port argument or environment."""
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
