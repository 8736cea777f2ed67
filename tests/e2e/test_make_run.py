"""End to end: ``make run`` (the local launcher) brings the platform up and down cleanly.

Runs ``python -m services.localrt.run`` on free ports with its own data directory, talks to the
services directly and through Caddy, stops it with SIGINT, checks that nothing of ours survives,
and starts it again on the same data to see the data persist.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from services.testing.servers import free_port, postgres_data_dir

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("identity", "proposal", "vote", "ledger", "notify")
STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
PERSONA = {"name": "홍길동", "birthdate": "1990-01-01", "phone": "01012345678", "ci_seed": "e2e-1"}


class Runtime:
    """One launcher process and what it was given."""

    def __init__(self, data_dir: Path, ports: dict[str, int], log: Path) -> None:
        self.data_dir = data_dir
        self.ports = ports
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

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
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.localrt.run"],
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

    def wait_healthy(self, client: httpx.Client) -> None:
        def healthy() -> bool:
            try:
                for name in SERVICES:
                    if client.get(f"{self.service_url(name)}/healthz").status_code != 200:
                        return False
                jwks = client.get(f"{self.entry_url}/.well-known/jwks.json")
                return jwks.status_code == 200 and "keys" in jwks.json()
            except (httpx.HTTPError, ValueError):
                return False

        self.wait_until(healthy, STARTUP_TIMEOUT, "every service to be healthy")

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


def _leftovers(data_dir: Path, ports: dict[str, int]) -> list[str]:
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


def _sign_in(client: httpx.Client, entry: str) -> dict[str, Any]:
    started = client.post(f"{entry}/v1/identity/verifications", json={"provider": "sandbox"})
    assert started.status_code == 201, started.text
    verification_id = started.json()["verification_id"]
    completed = client.post(
        f"{entry}/v1/identity/verifications/{verification_id}/complete",
        json={"persona": PERSONA},
    )
    assert completed.status_code == 200, completed.text
    body: dict[str, Any] = completed.json()
    assert body["access_token"]
    me = client.get(
        f"{entry}/v1/identity/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200, me.text
    assert me.json()["citizen_id"] == body["citizen_id"]
    return body


def _assert_runtime_file(runtime: Runtime) -> None:
    state = json.loads((runtime.data_dir / "runtime.json").read_text())
    assert state["status"] == "running"
    assert state["entry_url"] == runtime.entry_url
    assert state["data_dir"] == str(runtime.data_dir)
    assert state["ports"]["http"] == runtime.ports["PLATFORM_HTTP_PORT"]
    assert state["ports"]["postgres"] == runtime.ports["PLATFORM_PG_PORT"]
    assert state["nats"]["url"] == f"nats://127.0.0.1:{runtime.ports['PLATFORM_NATS_PORT']}"
    assert runtime.proc is not None
    assert state["pids"]["launcher"] == runtime.proc.pid
    for name in ("postgres", "nats", "honcho"):
        assert psutil.pid_exists(state["pids"][name]), name
    for name in SERVICES:
        service = state["services"][name]
        assert service["url"] == runtime.service_url(name)
        pg_port = runtime.ports["PLATFORM_PG_PORT"]
        assert service["database_url"] == (
            f"postgresql+asyncpg://postgres@127.0.0.1:{pg_port}/{name}"
        )
    assert isinstance(state["started_at"], str)
    env_lines = (runtime.data_dir / "runtime.env").read_text().splitlines()
    assert f"VOTE_PORT={runtime.ports['VOTE_PORT']}" in env_lines


def _assert_stopped_cleanly(runtime: Runtime, code: int) -> None:
    assert code == 0, runtime.output()
    leftovers = _leftovers(runtime.data_dir, runtime.ports)
    assert leftovers == [], "\n".join(leftovers)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    ports = {
        "PLATFORM_HTTP_PORT": free_port(),
        "PLATFORM_PG_PORT": free_port(),
        "PLATFORM_NATS_PORT": free_port(),
        "PLATFORM_NATS_MONITOR_PORT": free_port(),
        **{f"{name.upper()}_PORT": free_port() for name in SERVICES},
    }
    with postgres_data_dir(tmp_path / "data") as data_dir:
        rt = Runtime(data_dir, ports, tmp_path / "launcher.log")
        try:
            yield rt
        finally:
            rt.kill()


@pytest.mark.timeout(360)
def test_make_run_serves_through_caddy_stops_cleanly_and_keeps_data(runtime: Runtime) -> None:
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        runtime.start()
        runtime.wait_healthy(client)
        first = _sign_in(client, runtime.entry_url)
        assert first["created"] is True
        _assert_runtime_file(runtime)

        _assert_stopped_cleanly(runtime, runtime.interrupt())
        state = json.loads((runtime.data_dir / "runtime.json").read_text())
        assert state["status"] == "stopped"

        # Second run on the same data directory: the citizen is still there.
        runtime.start()
        runtime.wait_healthy(client)
        again = _sign_in(client, runtime.entry_url)
        assert again["created"] is False
        assert again["citizen_id"] == first["citizen_id"]

        _assert_stopped_cleanly(runtime, runtime.interrupt())
