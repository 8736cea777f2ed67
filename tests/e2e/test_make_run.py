"""End to end: ``make run`` (the local launcher) brings the platform up and down cleanly.

Runs ``python -m services_dev.localrt.run`` on free ports with its own data directory, talks to the
services directly and through Caddy, stops it with SIGINT, checks that nothing of ours survives,
and starts it again on the same data to see the data persist.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from e2e_runtime import SERVICES, Runtime, leftovers

pytestmark = pytest.mark.e2e

PERSONA = {"name": "홍길동", "birthdate": "1990-01-01", "phone": "01012345678", "ci_seed": "e2e-1"}


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
    remaining = leftovers(runtime.data_dir, runtime.ports)
    assert remaining == [], "\n".join(remaining)


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
