"""Tests of the local runtime: embedded PostgreSQL and NATS (real servers) and the launcher."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import nats
import psutil  # type: ignore[import-untyped]
import pytest

from services_dev.localrt.nats import EmbeddedNats, NatsError
from services_dev.localrt.postgres import EmbeddedPostgres, PostgresAlreadyRunningError
from services_dev.localrt.processes import port_is_free
from services_dev.localrt.run import SERVICES, LauncherError, LocalConfig, build_env
from services_dev.testing.launcher import FAKE_SERVICE
from services_dev.testing.servers import create_database, free_port, postgres_data_dir

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_root(tmp_path: Path) -> Iterator[Path]:
    """Where a test may put clusters (see ``postgres_data_dir`` for why not always tmp_path)."""
    with postgres_data_dir(tmp_path / "pgroot") as path:
        yield path


@pytest.fixture
def pg(pg_root: Path) -> Iterator[EmbeddedPostgres]:
    """A fresh cluster per test (these tests stop and restart it)."""
    server = EmbeddedPostgres(pg_root / "pg", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _fetchval(dsn: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


# -- EmbeddedPostgres -------------------------------------------------------------------------


def test_dsn_is_a_plain_tcp_url(pg: EmbeddedPostgres) -> None:
    assert pg.dsn("identity") == f"postgresql://postgres@127.0.0.1:{pg.port}/identity"
    assert pg.dsn() == f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"


async def test_database_is_utf8_with_c_utf8_ctype_and_trgm_sees_hangul(
    pg: EmbeddedPostgres,
) -> None:
    pg.create_database("proposal")
    pg.create_database("proposal")  # idempotent
    pg.ensure_extension("proposal", "pg_trgm")
    pg.ensure_extension("proposal", "pg_trgm")  # idempotent

    conn = await asyncpg.connect(pg.dsn("postgres"))
    try:
        row = await conn.fetchrow(
            "SELECT datctype, datcollate, pg_encoding_to_char(encoding) AS enc "
            "FROM pg_database WHERE datname = 'proposal'"
        )
    finally:
        await conn.close()
    assert row is not None
    assert (row["datctype"], row["datcollate"], row["enc"]) == ("C.UTF-8", "C.UTF-8", "UTF8")

    trigrams = await _fetchval(pg.dsn("proposal"), "SELECT show_trgm('서울시 공공자전거')")
    assert isinstance(trigrams, list)
    assert trigrams, "pg_trgm produced no trigrams for Hangul: the ctype is not UTF-8 aware"
    similarity = await _fetchval(
        pg.dsn("proposal"), "SELECT similarity('서울시 공공자전거', '공공자전거 확대')"
    )
    assert isinstance(similarity, float)
    assert similarity > 0


async def test_testing_helper_creates_unique_c_utf8_databases(pg: EmbeddedPostgres) -> None:
    first = await create_database(pg, "My-Tests")
    second = await create_database(pg, "My-Tests")
    assert first != second
    name = first.rsplit("/", 1)[1]
    assert name.startswith("my_tests_")
    assert await _fetchval(first, "SELECT current_database()") == name
    ctype = await _fetchval(pg.dsn(), "SELECT datctype FROM pg_database WHERE datname = $1", name)
    assert ctype == "C.UTF-8"


async def test_restart_reuses_the_data(pg_root: Path) -> None:
    data_dir = pg_root / "pg"
    with EmbeddedPostgres(data_dir, free_port()) as first:
        first.create_database("keep")
        conn = await asyncpg.connect(first.dsn("keep"))
        try:
            await conn.execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('서울')")
        finally:
            await conn.close()
        port = first.port
    assert not first.is_running
    assert not (data_dir / "postmaster.pid").exists()
    assert port_is_free("127.0.0.1", port)
    version_stamp = (data_dir / "PG_VERSION").stat().st_mtime_ns

    # A new object (as in a second `make run`), even on another port, finds the same cluster.
    with EmbeddedPostgres(data_dir, free_port()) as second:
        assert await _fetchval(second.dsn("keep"), "SELECT v FROM t") == "서울"
    assert (data_dir / "PG_VERSION").stat().st_mtime_ns == version_stamp  # no second initdb


async def test_recovers_from_a_crash_with_a_stale_pid_file(pg_root: Path) -> None:
    data_dir = pg_root / "pg"
    crashed = EmbeddedPostgres(data_dir, free_port())
    crashed.start()
    crashed.create_database("keep")
    assert crashed.pid is not None
    os.kill(crashed.pid, signal.SIGKILL)
    crashed.stop()  # reaps the dead child; the pid file stays behind like after a real crash
    pid_file = data_dir / "postmaster.pid"
    assert pid_file.exists()
    # Worst case: the recorded pid now belongs to an unrelated live process (here: pytest).
    lines = pid_file.read_text().splitlines()
    pid_file.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")

    # Backends notice the postmaster's death on their own; wait for them before restarting.
    with EmbeddedPostgres(data_dir, free_port()) as again:
        names = await _fetchval(again.dsn(), "SELECT array_agg(datname) FROM pg_database")
        assert isinstance(names, list)
        assert "keep" in names


def test_a_live_server_on_the_directory_is_refused_unless_taking_over(
    pg: EmbeddedPostgres,
) -> None:
    intruder = EmbeddedPostgres(pg.data_dir, free_port())
    with pytest.raises(PostgresAlreadyRunningError) as info:
        intruder.start()
    assert info.value.pid == pg.pid

    old_pid = pg.pid
    assert old_pid is not None
    intruder.start(takeover=True)
    try:
        assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
        assert intruder.psql("SELECT 1").strip() == "1"
    finally:
        intruder.stop()


def test_stop_leaves_no_postgres_process(pg_root: Path) -> None:
    server = EmbeddedPostgres(pg_root / "pg", free_port())
    server.start()
    server.stop()
    target = str(server.data_dir)
    leftovers = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if target in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []


# -- EmbeddedNats -----------------------------------------------------------------------------


async def test_nats_has_jetstream_with_file_storage_that_survives_a_restart(
    tmp_path: Path,
) -> None:
    store = tmp_path / "nats"
    with EmbeddedNats(store, free_port(), free_port()) as server:
        assert server.url == f"nats://127.0.0.1:{server.port}"
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            await js.add_stream(name="VOTE", subjects=["vote.>"], duplicate_window=120.0)
            ack = await js.publish("vote.cast.v1", b"{}", headers={"Nats-Msg-Id": "e-1"})
            assert (ack.stream, ack.seq) == ("VOTE", 1)
            again = await js.publish("vote.cast.v1", b"{}", headers={"Nats-Msg-Id": "e-1"})
            assert again.duplicate
        finally:
            await nc.close()

    with EmbeddedNats(store, free_port(), free_port()) as server:
        nc = await nats.connect(server.url)
        try:
            info = await nc.jetstream().stream_info("VOTE")
            assert info.state.messages == 1
        finally:
            await nc.close()


def test_nats_refuses_a_busy_port(tmp_path: Path) -> None:
    with EmbeddedNats(tmp_path / "a", free_port(), free_port()) as first:
        second = EmbeddedNats(tmp_path / "b", first.port, free_port())
        with pytest.raises(NatsError, match="already in use"):
            second.start()
        assert not second.is_running


# -- launcher configuration -------------------------------------------------------------------


def _config(environ: dict[str, str], tmp_path: Path) -> LocalConfig:
    return LocalConfig.from_env(
        {"PLATFORM_DATA_DIR": str(tmp_path), **environ}, repo_root=REPO_ROOT
    )


def test_defaults_and_exported_environment(tmp_path: Path) -> None:
    config = _config({}, tmp_path)
    assert config.http_port == 8000
    assert config.pg_port == 55432
    assert (config.nats_port, config.nats_monitor_port) == (4222, 8222)
    assert dict(config.service_ports) == {
        "identity": 8001,
        "proposal": 8002,
        "vote": 8003,
        "ledger": 8004,
        "notify": 8005,
    }
    env = build_env(config, {})
    assert env["VOTE_DATABASE_URL"] == "postgresql+asyncpg://postgres@127.0.0.1:55432/vote"
    assert env["VOTE_NATS_URL"] == "nats://127.0.0.1:4222"
    assert env["VOTE_ENVIRONMENT"] == "dev"
    assert env["VOTE_PORT"] == "8003"
    assert env["VOTE_JWKS_URL"] == "http://127.0.0.1:8001/.well-known/jwks.json"
    assert "IDENTITY_JWKS_URL" not in env
    assert env["IDENTITY_SANDBOX_ROLES"] == "true"
    assert env["IDENTITY_DATA_DIR"] == str(tmp_path / "identity")
    # One machine, one network: the per-network rate limits are off, the per-citizen ones on.
    assert env["VOTE_NETWORK_RATE_LIMITS"] == env["IDENTITY_VERIFICATION_RATE_LIMITS"] == "[]"
    assert env["PROPOSAL_PROPOSAL_NETWORK_RATE_LIMITS"] == "[]"
    assert "VOTE_CITIZEN_RATE_LIMITS" not in env
    assert env["PROPOSAL_OPEN_DATA_DIR"] == str(tmp_path / "open-data")
    for spec in SERVICES:
        assert f"{spec.prefix}_DATABASE_URL" in env


def test_user_values_win_and_sandbox_roles_are_dev_only(tmp_path: Path) -> None:
    user = {
        "PLATFORM_ENVIRONMENT": "test",
        "IDENTITY_PORT": "9101",
        "LEDGER_DATABASE_URL": "postgresql+asyncpg://elsewhere/ledger",
    }
    config = _config(user, tmp_path)
    env = build_env(config, user)
    assert env["LEDGER_DATABASE_URL"] == "postgresql+asyncpg://elsewhere/ledger"
    assert env["PROPOSAL_JWKS_URL"] == "http://127.0.0.1:9101/.well-known/jwks.json"
    assert env["PROPOSAL_IDENTITY_URL"] == "http://127.0.0.1:9101"
    assert env["IDENTITY_ENVIRONMENT"] == "test"
    assert "IDENTITY_SANDBOX_ROLES" not in env


def test_relative_data_dir_is_exported_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = LocalConfig.from_env({"PLATFORM_DATA_DIR": "state"}, repo_root=REPO_ROOT)
    env = build_env(config, {"PLATFORM_DATA_DIR": "state"})
    assert env["PLATFORM_DATA_DIR"] == str(tmp_path.resolve() / "state")
    assert config.runtime_json == tmp_path.resolve() / "state" / "runtime.json"


def test_clashing_or_invalid_ports_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LauncherError, match="both set to port 8003"):
        _config({"LEDGER_PORT": "8003"}, tmp_path)
    with pytest.raises(LauncherError, match="not a port"):
        _config({"PLATFORM_HTTP_PORT": "http"}, tmp_path)


# -- launcher, end to end with stand-in services ----------------------------------------------


def _ours(markers: list[str]) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if proc.pid != os.getpid() and any(m in cmdline for m in markers):
            found.append(f"{proc.pid}: {cmdline}")
    return found


def _wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"launcher exited early ({proc.returncode}) while waiting for {what}")
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_launcher_runs_the_procfile_and_stops_everything_on_sigint(
    tmp_path: Path, pg_root: Path
) -> None:
    import httpx

    fake = tmp_path / "fake_service.py"
    fake.write_text(FAKE_SERVICE)
    procfile = tmp_path / "Procfile"
    lines = ["caddy: caddy run --config deploy/local/Caddyfile --adapter caddyfile"]
    for spec in SERVICES:
        lines.append(f"{spec.name}-api: python {fake} {spec.name} ${spec.prefix}_PORT")
    procfile.write_text("\n".join(lines) + "\n")

    data_dir = pg_root / "data"
    ports = {
        "PLATFORM_HTTP_PORT": free_port(),
        "PLATFORM_PG_PORT": free_port(),
        "PLATFORM_NATS_PORT": free_port(),
        "PLATFORM_NATS_MONITOR_PORT": free_port(),
        **{f"{spec.prefix}_PORT": free_port() for spec in SERVICES},
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_", "IDENTITY_"))}
    env.update({k: str(v) for k, v in ports.items()})
    env["PLATFORM_DATA_DIR"] = str(data_dir)
    log = tmp_path / "launcher.log"
    with log.open("wb") as out:
        launcher = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services_dev.localrt.run",
                "--procfile",
                str(procfile),
                "--no-migrate",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    runtime = data_dir / "runtime.json"
    try:

        def ready() -> bool:
            try:
                return "ready_at" in json.loads(runtime.read_text())
            except (FileNotFoundError, ValueError):
                return False

        _wait_for(ready, 60, "the platform to become ready", launcher)
        state = json.loads(runtime.read_text())
        assert state["status"] == "running"
        assert state["pids"]["launcher"] == launcher.pid
        assert all(isinstance(state["pids"][k], int) for k in ("postgres", "nats", "honcho"))
        assert state["entry_url"] == f"http://127.0.0.1:{ports['PLATFORM_HTTP_PORT']}"

        with httpx.Client(base_url=state["entry_url"], trust_env=False, timeout=5) as client:
            routed = client.get("/v1/forums/42", headers={"X-Request-ID": "req-1"}).json()
            assert routed["service"] == "proposal"
            assert routed["request_id"] == "req-1"
            assert routed["forwarded_for"] == "127.0.0.1"
            assert routed["database_url"].endswith(f":{ports['PLATFORM_PG_PORT']}/proposal")
            minted = client.get("/.well-known/jwks.json").json()
            assert minted["service"] == "identity"
            assert minted["request_id"]
            missing = client.get("/v1/unknown")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"

        env_file = (data_dir / "runtime.env").read_text()
        assert f"VOTE_PORT={ports['VOTE_PORT']}" in env_file

        launcher.send_signal(signal.SIGINT)
        launcher.wait(30)
        assert launcher.returncode == 0
        markers = [str(data_dir), str(procfile), str(fake)]
        assert _ours(markers) == []
        for port in ports.values():
            assert port_is_free("127.0.0.1", port)
        assert json.loads(runtime.read_text())["status"] == "stopped"
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        # Shown by pytest only when the test fails.
        sys.stdout.write(log.read_text(errors="replace"))
