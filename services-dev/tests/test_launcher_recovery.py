"""Real services ride out a kill -9 of PostgreSQL and of NATS under the launcher: the supervisor
restarts the server on the same data and port, the APIs' ``/readyz`` says which dependency is
down meanwhile and turns ready again by itself, and the workers keep their pids and work again
(the outbox relay publishes, a consumer's pull subscription delivers)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import nats
import pytest
from nats.errors import TimeoutError as NatsTimeoutError

from services_dev.localrt.procfile import read_procfile
from services_dev.testing.launcher import REPO_ROOT, LauncherRun
from services_dev.testing.servers import postgres_data_dir

#: The real lines of deploy/local/Procfile for these processes.
PROCESSES = ("vote-api", "vote-relay", "vote-consume", "proposal-api")
WORKERS = ("vote-relay", "vote-consume")
RECOVERY_BOUND = 30.0


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LauncherRun]:
    folder = tmp_path_factory.mktemp("recovery")
    entries = read_procfile(REPO_ROOT / "deploy" / "local" / "Procfile")
    procfile = folder / "Procfile"
    procfile.write_text("".join(f"{e.name}: {e.command}\n" for e in entries if e.name in PROCESSES))
    with postgres_data_dir(folder / "data") as data_dir:
        run = LauncherRun(data_dir, folder / "launcher.log", procfile=procfile)
        run.start()
        try:
            run.wait_for(lambda: run.get("/readyz")[0] == 200, 240, "the platform to be ready")
            yield run
        finally:
            run.kill()
            sys.stdout.write(run.output())  # shown by pytest only when a test fails


def _readyz(client: httpx.Client, run: LauncherRun, service: str) -> tuple[int, dict[str, str]]:
    try:
        response = client.get(f"http://127.0.0.1:{run.ports[f'{service.upper()}_PORT']}/readyz")
        return response.status_code, response.json().get("checks", {})
    except (httpx.HTTPError, ValueError):
        return 0, {}


def _kill_and_wait_ready(run: LauncherRun, server: str) -> tuple[float, list[dict[str, str]]]:
    """kill -9 ``server``; wait until both APIs answer ``/readyz`` 200 again and the launcher
    says everything is ready. Returns the seconds that took and the checks seen meanwhile."""
    victim = run.processes()[server]["pid"]
    seen: list[dict[str, str]] = []
    began = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    with httpx.Client(trust_env=False, timeout=5.0) as client:
        while time.monotonic() - began < RECOVERY_BOUND:
            answers = [_readyz(client, run, service) for service in ("vote", "proposal")]
            seen += [checks for code, checks in answers if code == 503]
            if all(code == 200 for code, _ in answers) and run.get("/readyz")[0] == 200:
                if run.processes()[server]["pid"] != victim:
                    return time.monotonic() - began, seen
            time.sleep(0.2)
    pytest.fail(f"not ready {RECOVERY_BOUND:.0f}s after the kill of {server}\n{run.output()}")


async def _relayed(run: LauncherRun) -> float:
    """Put an event in vote-svc's outbox; seconds until the relay published it on VOTE."""
    event_id = uuid.uuid4()
    subject = "vote.supervision_probe.v1"
    pg = f"postgresql://postgres@127.0.0.1:{run.ports['PLATFORM_PG_PORT']}/vote"
    conn = await asyncpg.connect(pg)
    try:
        await conn.execute(
            "INSERT INTO outbox (event_id, subject, envelope) VALUES ($1, $2, $3::jsonb)",
            event_id,
            subject,
            json.dumps({"id": str(event_id), "probe": True}),
        )
    finally:
        await conn.close()
    began = time.monotonic()
    nc = await nats.connect(f"nats://127.0.0.1:{run.ports['PLATFORM_NATS_PORT']}")
    try:
        sub = await nc.jetstream().subscribe(subject, stream="VOTE", ordered_consumer=True)
        while time.monotonic() - began < RECOVERY_BOUND:
            try:
                msg = await sub.next_msg(timeout=1.0)
            except NatsTimeoutError:
                continue
            if json.loads(msg.data)["id"] == str(event_id):
                return time.monotonic() - began
    finally:
        await nc.close()
    pytest.fail("the outbox relay did not publish the event")


async def _consumed(run: LauncherRun) -> float:
    """Publish an event vote-svc's targets consumer cannot parse; seconds until it was fetched
    and dead-lettered (which proves the consumer's pull subscription delivers)."""
    nc = await nats.connect(f"nats://127.0.0.1:{run.ports['PLATFORM_NATS_PORT']}")
    try:
        js = nc.jetstream()
        probe = f"probe-{uuid.uuid4()}"
        dead = await js.subscribe(
            "deadletter.vote-svc-targets.>", stream="DEADLETTER", ordered_consumer=True
        )
        began = time.monotonic()
        await js.publish("proposal.opened.v1", probe.encode(), headers={"Nats-Msg-Id": probe})
        while time.monotonic() - began < RECOVERY_BOUND:
            try:
                msg = await dead.next_msg(timeout=1.0)
            except NatsTimeoutError:
                continue
            if msg.data == probe.encode():
                return time.monotonic() - began
    finally:
        await nc.close()
    pytest.fail("vote-svc's consumer did not take the event")


def _unchanged(run: LauncherRun, before: dict[str, dict[str, object]]) -> None:
    after = run.processes()
    for name in PROCESSES:
        assert after[name]["pid"] == before[name]["pid"], f"{name} was restarted"
        assert after[name]["restarts"] == 0, name


def test_services_ride_out_a_kill_9_of_postgresql(platform: LauncherRun) -> None:
    before = platform.processes()
    assert asyncio.run(_relayed(platform)) < 10
    took, seen = _kill_and_wait_ready(platform, "postgres")
    sys.stdout.write(f"kill -9 PostgreSQL: APIs ready again after {took:.1f}s\n")
    assert took < RECOVERY_BOUND
    assert any(checks.get("database", "").startswith("unreachable") for checks in seen), seen
    _unchanged(platform, before)
    relayed = asyncio.run(_relayed(platform))
    sys.stdout.write(f"kill -9 PostgreSQL: an outbox event relayed {relayed:.1f}s after\n")
    assert relayed < 10
    consumed = asyncio.run(_consumed(platform))
    assert consumed < 10


def test_services_ride_out_a_kill_9_of_nats(platform: LauncherRun) -> None:
    before = platform.processes()
    took, seen = _kill_and_wait_ready(platform, "nats")
    sys.stdout.write(f"kill -9 NATS: APIs ready again after {took:.1f}s\n")
    assert took < RECOVERY_BOUND
    assert any(checks.get("nats") == "not connected" for checks in seen), seen
    _unchanged(platform, before)
    consumed = asyncio.run(_consumed(platform))
    sys.stdout.write(f"kill -9 NATS: vote-svc's consumer took an event {consumed:.1f}s after\n")
    assert consumed < 10
    assert asyncio.run(_relayed(platform)) < 10


def test_the_platform_still_stops_cleanly_afterwards(platform: LauncherRun) -> None:
    assert platform.interrupt() == 0
    assert platform.leftovers() == []
    assert "GIVING UP" not in platform.output()
    for worker in WORKERS:
        assert f"launcher: {worker} (pid" not in platform.output()  # never restarted
