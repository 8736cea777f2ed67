"""The launcher supervises its processes: one run with real PostgreSQL, NATS and Caddy and stand-in
services (quick to start), where processes are killed one at a time; then a kill -9 of the
launcher itself. The stand-ins make the restart behaviour testable in seconds; the real services
riding out a PostgreSQL or NATS restart are in test_launcher_recovery.py."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import psutil  # type: ignore[import-untyped]
import pytest

from services_dev.localrt.config import SERVICES
from services_dev.localrt.processes import port_is_free
from services_dev.testing.launcher import FAKE_SERVICE, FAKE_WORKER, LauncherRun
from services_dev.testing.servers import postgres_data_dir

FAST_RESTARTS = {
    "PLATFORM_RESTART_LIMIT": "3",
    "PLATFORM_RESTART_WINDOW": "60",
    "PLATFORM_RESTART_DELAY": "0.1",
}


def _procfile(folder: Path, *workers: str) -> Path:
    """Caddy, a stand-in API per service, and the given ``name: arguments`` stand-in workers."""
    fake, worker = folder / "fake_service.py", folder / "fake_worker.py"
    fake.write_text(FAKE_SERVICE)
    worker.write_text(FAKE_WORKER)
    lines = ["caddy: caddy run --config deploy/local/Caddyfile --adapter caddyfile"]
    lines += [f"{s.name}-api: python {fake} {s.name} ${s.prefix}_PORT" for s in SERVICES]
    for line in workers:
        name, _, args = line.partition(":")
        lines.append(f"{name}: python {worker}{args}")
    procfile = folder / "Procfile"
    procfile.write_text("\n".join(lines) + "\n")
    return procfile


def _settled(run: LauncherRun) -> bool:
    """Every process running and up, except the crasher, which has been given up on."""
    procs = run.processes()
    if not procs:
        return False
    others = [p for name, p in procs.items() if name != "crasher"]
    return procs["crasher"]["state"] == "failed" and all(
        p["state"] == "running" and p["alive"] for p in others
    )


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LauncherRun]:
    folder = tmp_path_factory.mktemp("supervised")
    procfile = _procfile(folder, "worker-a:", "worker-b:", "crasher: 3")
    with postgres_data_dir(folder / "data") as data_dir:
        run = LauncherRun(
            data_dir, folder / "launcher.log", procfile=procfile, migrate=False, env=FAST_RESTARTS
        )
        run.start()
        try:
            run.wait_for(lambda: _settled(run), 120, "the processes to settle")
            yield run
        finally:
            run.kill()
            sys.stdout.write(run.output())  # shown by pytest only when a test fails


def test_status_endpoint_lists_every_process_with_its_state(platform: LauncherRun) -> None:
    runtime = platform.runtime()
    assert runtime["status_url"].startswith("http://127.0.0.1:")
    assert runtime["restart_policy"]["limit"] == 3
    code, body = platform.get("/status")
    assert code == 200
    assert body["launcher"]["pid"] == platform.pid
    assert body["launcher"]["status"] == "running"
    assert body["restart_policy"] == {
        "limit": 3,
        "window_s": 60.0,
        "delay_s": 0.1,
        "max_delay_s": 30.0,
        "stable_after_s": 30.0,
    }
    names = [entry["name"] for entry in body["processes"]]
    assert names == [
        "postgres",
        "nats",
        "caddy",
        *(f"{s.name}-api" for s in SERVICES),
        "worker-a",
        "worker-b",
        "crasher",
    ]
    procs = {entry["name"]: entry for entry in body["processes"]}
    assert procs["postgres"]["kind"] == "server"
    assert procs["postgres"]["pid"] == runtime["pids"]["postgres"]
    assert procs["worker-a"]["kind"] == "process"
    for name in ("postgres", "nats", "caddy", "vote-api", "worker-a"):
        entry = procs[name]
        assert entry["state"] == "running", entry
        assert entry["ready"] is True
        assert psutil.pid_exists(entry["pid"])
        assert entry["restarts"] == 0
        assert entry["last_exit"] is None
    assert procs["crasher"]["pid"] is None

    assert platform.get("/healthz") == (200, {"status": "ok"})
    assert platform.get("/readyz") == (
        503,
        {"status": "not_ready", "not_ready": {"crasher": "failed"}},
    )


def test_a_crash_loop_is_given_up_after_the_budget_while_the_rest_runs(
    platform: LauncherRun,
) -> None:
    crasher = platform.processes()["crasher"]
    assert crasher["state"] == "failed"
    assert crasher["restarts"] == 3
    assert crasher["last_exit"]["code"] == 3
    assert crasher["last_exit"]["signal"] is None
    output = platform.output()
    assert re.search(r"launcher: crasher \(pid \d+\) exited with code 3 after", output)
    assert "restart 1 of 3 within 60s in 0.1s" in output
    assert "GIVING UP on crasher" in output
    # Its own output, under its name.
    assert re.search(r"^\d\d:\d\d:\d\d crasher +\| crashing on purpose$", output, re.M)


def test_make_status_prints_a_table_and_says_not_ready(platform: LauncherRun) -> None:
    env = {**os.environ, "PLATFORM_DATA_DIR": str(platform.data_dir)}
    command = [sys.executable, "-m", "services_dev.localrt.status"]
    table = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert table.returncode == 1, table.stdout + table.stderr  # 1: runs, but not ready
    lines = table.stdout.splitlines()
    assert lines[0].startswith(f"launcher pid {platform.pid}: running, NOT ready")
    assert lines[2].split() == [
        "PROCESS",
        "STATE",
        "PID",
        "RESTARTS",
        "READY",
        "LAST",
        "EXIT",
        "/",
        "DETAIL",
    ]
    rows = {line.split()[0]: line.split() for line in lines[3:]}
    assert rows["crasher"][:5] == ["crasher", "failed", "-", "3", "no"]
    assert rows["crasher"][5:7] == ["exit", "3"]
    assert rows["worker-b"][1] == "running"
    as_json = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True)
    assert json.loads(as_json.stdout)["launcher"]["pid"] == platform.pid


def test_a_killed_worker_is_restarted_within_seconds_and_nothing_else_moves(
    platform: LauncherRun,
) -> None:
    before = platform.processes()
    victim = before["worker-a"]["pid"]
    os.kill(victim, signal.SIGKILL)

    def restarted() -> bool:
        entry = platform.processes().get("worker-a", {})
        return entry.get("state") == "running" and entry.get("pid") not in (None, victim)

    took = platform.wait_for(restarted, 10, "worker-a to be restarted")
    assert took < 5.0
    after = platform.processes()
    assert after["worker-a"]["restarts"] == 1
    assert after["worker-a"]["last_exit"]["signal"] == "SIGKILL"
    for name, entry in before.items():
        if name not in ("worker-a", "crasher"):
            assert after[name]["pid"] == entry["pid"], name
            assert after[name]["restarts"] == 0, name
    assert f"launcher: worker-a (pid {victim}) was killed by SIGKILL" in platform.output()


async def _stream_messages(url: str, create: bool) -> int:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        if create:
            await js.add_stream(name="SUPERVISED", subjects=["supervised.>"])
            await js.publish("supervised.kept", b"{}")
        return int((await js.stream_info("SUPERVISED")).state.messages)
    finally:
        await nc.close()


def _restarted(run: LauncherRun, name: str, old_pid: int) -> bool:
    entry = run.processes().get(name, {})
    return entry.get("state") == "running" and entry.get("pid") not in (None, old_pid)


def test_killed_postgres_and_nats_come_back_on_the_same_ports_with_their_data(
    platform: LauncherRun,
) -> None:
    before = platform.processes()
    pg_port = platform.ports["PLATFORM_PG_PORT"]
    nats_url = f"nats://127.0.0.1:{platform.ports['PLATFORM_NATS_PORT']}"
    assert asyncio.run(_stream_messages(nats_url, create=True)) == 1

    os.kill(before["postgres"]["pid"], signal.SIGKILL)
    took = platform.wait_for(
        lambda: _restarted(platform, "postgres", before["postgres"]["pid"]), 30, "PostgreSQL back"
    )
    sys.stdout.write(f"PostgreSQL accepted connections again {took:.1f}s after its kill -9\n")

    async def databases() -> list[str]:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{pg_port}/postgres")
        try:
            return [r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")]
        finally:
            await conn.close()

    assert {s.database for s in SERVICES} <= set(asyncio.run(databases()))

    os.kill(before["nats"]["pid"], signal.SIGKILL)
    took = platform.wait_for(
        lambda: _restarted(platform, "nats", before["nats"]["pid"]), 30, "NATS back"
    )
    sys.stdout.write(f"NATS healthy again {took:.1f}s after its kill -9\n")
    assert asyncio.run(_stream_messages(nats_url, create=False)) == 1

    after = platform.processes()
    for name in ("caddy", "vote-api", "worker-b"):
        assert after[name]["pid"] == before[name]["pid"], name
    assert platform.runtime()["pids"]["postgres"] == after["postgres"]["pid"]
    assert platform.runtime()["pids"]["nats"] == after["nats"]["pid"]


def test_ctrl_c_stops_every_process_and_frees_every_port(platform: LauncherRun) -> None:
    pids = [entry["pid"] for entry in platform.processes().values() if entry["pid"]]
    assert platform.interrupt() == 0
    assert platform.leftovers() == []
    assert not [pid for pid in pids if psutil.pid_exists(pid)]
    for port in platform.ports.values():
        assert port_is_free("127.0.0.1", port)
    assert platform.runtime()["status"] == "stopped"
    assert "launcher: stopping PostgreSQL" in platform.output()


def _existing(pids: list[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return found


def test_a_kill_9_of_the_launcher_leaves_no_process_behind(tmp_path: Path) -> None:
    procfile = _procfile(tmp_path, "worker:")
    with postgres_data_dir(tmp_path / "data") as data_dir:
        run = LauncherRun(data_dir, tmp_path / "launcher.log", procfile=procfile, migrate=False)
        try:
            run.start()
            run.wait_ready()
            pids = [entry["pid"] for entry in run.processes().values()]
            assert len(pids) == 4 + len(SERVICES)  # postgres, nats, caddy, worker and the APIs
            assert all(pids)
            run.kill()  # SIGKILL: no clean-up code of the launcher runs

            # Every child got its parent-death signal (SIGTERM; SIGINT for PostgreSQL).
            _gone, alive = psutil.wait_procs(_existing(pids), timeout=30)
            assert alive == [], run.leftovers()
            assert run.leftovers(str(procfile)) == []
            for port in run.ports.values():
                assert port_is_free("127.0.0.1", port)

            # The next run on the same data directory starts as usual.
            run.start()
            run.wait_ready()
            assert run.interrupt() == 0
            assert run.leftovers() == []
        finally:
            run.kill()
            sys.stdout.write(run.output())
