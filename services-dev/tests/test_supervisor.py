"""The supervisor on its own, with real short-lived processes: restarts with backoff, the restart
budget, the stop sequence, and the restart policy read from the environment."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from services_dev.localrt.children import CommandChild
from services_dev.localrt.config import LauncherError, RestartPolicy
from services_dev.localrt.procfile import ProcfileError, read_procfile
from services_dev.localrt.supervisor import Supervisor
from services_dev.testing.launcher import FAKE_WORKER

FAST = RestartPolicy(limit=3, window=60.0, delay=0.05, max_delay=0.2, stable_after=30.0)


@pytest.fixture
def worker_script(tmp_path: Path) -> str:
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    return f"{sys.executable} {script}"


def _child(name: str, command: str, tmp_path: Path) -> CommandChild:
    return CommandChild(name, command, cwd=tmp_path, env=dict(os.environ), label_width=8)


@pytest.fixture
def run_supervisor() -> Iterator[Callable[..., tuple[Supervisor, list[str]]]]:
    """Build and start a supervisor; stop its processes afterwards."""
    started: list[Supervisor] = []

    def make(*children: CommandChild, policy: RestartPolicy = FAST) -> tuple[Supervisor, list[str]]:
        said: list[str] = []
        supervisor = Supervisor(children, policy, say=said.append, probe_interval=0.2, settle=0.3)
        supervisor.start()
        started.append(supervisor)
        return supervisor, said

    yield make
    for supervisor in started:
        supervisor.stop_processes(timeout=5.0)


def _until(supervisor: Supervisor, predicate: Callable[[], bool], timeout: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        supervisor.tick()
        if predicate():
            return time.monotonic() - began
        time.sleep(0.02)
    pytest.fail(f"condition not met within {timeout}s: {supervisor.snapshot()}")


def _entry(supervisor: Supervisor, name: str) -> dict[str, object]:
    return next(e for e in supervisor.snapshot() if e["name"] == name)


def test_a_killed_process_is_restarted_and_the_others_keep_their_pids(
    tmp_path: Path, worker_script: str, run_supervisor: Callable[..., tuple[Supervisor, list[str]]]
) -> None:
    supervisor, said = run_supervisor(
        _child("alpha", worker_script, tmp_path), _child("beta", worker_script, tmp_path)
    )
    _until(supervisor, supervisor.all_up, 5.0)
    alpha, beta = _entry(supervisor, "alpha"), _entry(supervisor, "beta")
    assert alpha["state"] == "running"
    assert alpha["restarts"] == 0
    assert isinstance(alpha["pid"], int)
    # The pid is the command itself (sh execs it), so a kill reaches the real process.
    assert "fake_worker.py" in " ".join(psutil.Process(alpha["pid"]).cmdline())

    os.kill(alpha["pid"], signal.SIGKILL)
    took = _until(
        supervisor,
        lambda: (
            _entry(supervisor, "alpha")["pid"] not in (None, alpha["pid"])
            and _entry(supervisor, "alpha")["state"] == "running"
        ),
        5.0,
    )
    assert took < 2.0
    again = _entry(supervisor, "alpha")
    assert again["restarts"] == 1
    assert again["last_exit"] == {
        "code": None,
        "signal": "SIGKILL",
        "at": again["last_exit"]["at"],  # type: ignore[index]
        "uptime_s": again["last_exit"]["uptime_s"],  # type: ignore[index]
        "error": None,
    }
    assert _entry(supervisor, "beta")["pid"] == beta["pid"]
    assert _entry(supervisor, "beta")["restarts"] == 0
    log = "\n".join(said)
    assert f"alpha (pid {alpha['pid']}) was killed by SIGKILL" in log
    assert "restart 1 of 3 within 60s in 0.05s" in log
    assert f"alpha restarted as pid {again['pid']} (restart 1)" in log


def test_a_crash_loop_is_given_up_after_its_budget_and_the_rest_keeps_running(
    tmp_path: Path, worker_script: str, run_supervisor: Callable[..., tuple[Supervisor, list[str]]]
) -> None:
    supervisor, said = run_supervisor(
        _child("crasher", f"{worker_script} 3", tmp_path), _child("steady", worker_script, tmp_path)
    )
    _until(supervisor, lambda: _entry(supervisor, "crasher")["state"] == "failed", 10.0)
    crasher = _entry(supervisor, "crasher")
    assert crasher["restarts"] == 3
    assert crasher["pid"] is None
    assert crasher["last_exit"]["code"] == 3  # type: ignore[index]
    steady = _entry(supervisor, "steady")
    assert steady["state"] == "running"
    assert steady["restarts"] == 0
    assert supervisor.not_ready() == {"crasher": "failed"}
    log = "\n".join(said)
    assert "GIVING UP on crasher" in log
    assert "exited with code 3" in log
    # The delays doubled: 0.05, 0.1, 0.2 (the cap).
    delays = [line.rsplit(" in ", 1)[1] for line in said if "; restart " in line]
    assert delays == ["0.05s", "0.1s", "0.2s"]
    # Given up means given up: no restart later either.
    time.sleep(0.5)
    supervisor.tick()
    assert _entry(supervisor, "crasher")["restarts"] == 3


def test_a_process_that_ignores_sigterm_is_killed_when_stopping(
    tmp_path: Path, run_supervisor: Callable[..., tuple[Supervisor, list[str]]]
) -> None:
    stubborn = f"{sys.executable} -c \"import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)\""
    supervisor, said = run_supervisor(_child("stubborn", stubborn, tmp_path))
    _until(supervisor, supervisor.all_up, 5.0)
    time.sleep(0.3)  # let it install its handler
    pid = _entry(supervisor, "stubborn")["pid"]
    began = time.monotonic()
    supervisor.stop_processes(timeout=1.0)
    assert time.monotonic() - began < 4.0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert _entry(supervisor, "stubborn")["state"] == "stopped"
    assert any("killing what did not stop in time: stubborn" in line for line in said)


def test_a_process_that_ran_long_enough_restarts_after_the_first_delay_again() -> None:
    policy = RestartPolicy(limit=10, window=60.0, delay=0.5, max_delay=30.0, stable_after=30.0)
    assert [policy.backoff(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_restart_policy_from_the_environment() -> None:
    assert RestartPolicy.from_env({}) == RestartPolicy()
    policy = RestartPolicy.from_env(
        {
            "PLATFORM_RESTART_LIMIT": "3",
            "PLATFORM_RESTART_WINDOW": "60",
            "PLATFORM_RESTART_DELAY": "0.1",
            "PLATFORM_RESTART_MAX_DELAY": "2",
        }
    )
    assert (policy.limit, policy.window, policy.delay, policy.max_delay) == (3, 60.0, 0.1, 2.0)
    with pytest.raises(LauncherError, match="PLATFORM_RESTART_LIMIT='many' is not a number"):
        RestartPolicy.from_env({"PLATFORM_RESTART_LIMIT": "many"})
    with pytest.raises(LauncherError, match="out of range"):
        RestartPolicy.from_env({"PLATFORM_RESTART_DELAY": "5", "PLATFORM_RESTART_MAX_DELAY": "1"})


def test_procfile_lines_are_read_in_order_and_malformed_ones_refused(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("# comment\n\nweb: uvicorn app --port $PORT\nworker:run it\n")
    entries = read_procfile(procfile)
    assert [(e.name, e.command) for e in entries] == [
        ("web", "uvicorn app --port $PORT"),
        ("worker", "run it"),
    ]
    procfile.write_text("web: a\nweb: b\n")
    with pytest.raises(ProcfileError, match="defined twice"):
        read_procfile(procfile)
    procfile.write_text("just words\n")
    with pytest.raises(ProcfileError, match="expected 'name: command'"):
        read_procfile(procfile)
