"""The launcher's supervisor: keeps every process of the local runtime running.

A process that exits on its own (a crash, a kill -9, an exit code) is started again after a delay
that doubles from ``delay`` up to ``max_delay`` while it keeps crashing (it starts again from
``delay`` once a run lasted ``stable_after`` seconds). Each process has a restart budget: after
``limit`` restarts within ``window`` seconds it is given up on, loudly, and left stopped while the
others keep running. Every exit and restart is logged: which process, its exit code or signal,
the attempt and the delay.

Readiness comes from probes run in threads of their own (an HTTP check, a TCP connect), so that a
slow answer never delays noticing an exit. Processes are only ever spawned from the thread that
calls :meth:`Supervisor.tick` (the launcher's main thread): Linux delivers the parent-death
signal of a child when the thread that forked it ends, so that thread must live as long as the
children do. docs/operations.md, "Restarts", describes the behaviour for operators.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import psutil  # type: ignore[import-untyped]

from services_dev.localrt.config import RestartPolicy
from services_dev.localrt.console import say as console_say
from services_dev.localrt.runtime_file import now

__all__ = [
    "Child",
    "Exit",
    "Health",
    "State",
    "Supervisor",
]


class State(StrEnum):
    """Where a supervised process is in its life."""

    STARTING = "starting"  # spawned, its probe has not answered yet
    RUNNING = "running"
    BACKOFF = "backoff"  # exited; waiting for its restart
    FAILED = "failed"  # restart budget spent: given up
    STOPPING = "stopping"
    STOPPED = "stopped"


_LIVE = (State.STARTING, State.RUNNING)


@dataclass(frozen=True)
class Health:
    """What a probe found: ``alive`` (the process answers) and ``ready`` (it can serve)."""

    alive: bool
    ready: bool
    detail: str | None = None


@dataclass(frozen=True)
class Exit:
    """How a process ended (or why it could not start)."""

    code: int | None
    signal: str | None
    at: str
    uptime: float
    error: str | None = None

    @classmethod
    def of(cls, status: int, uptime: float) -> Exit:
        """From a Popen return code (negative: killed by that signal)."""
        if status < 0:
            try:
                name = signal.Signals(-status).name
            except ValueError:
                name = f"signal {-status}"
            return cls(None, name, now(), uptime)
        return cls(status, None, now(), uptime)

    def describe(self) -> str:
        """E.g. ``was killed by SIGKILL``, ``exited with code 1``."""
        if self.error is not None:
            return f"could not start ({self.error})"
        if self.signal is not None:
            return f"was killed by {self.signal}"
        return f"exited with code {self.code}"

    def as_json(self) -> dict[str, Any]:
        """The exit as the status endpoint shows it."""
        return {
            "code": self.code,
            "signal": self.signal,
            "at": self.at,
            "uptime_s": round(self.uptime, 3),
            "error": self.error,
        }


class Child(ABC):
    """A process the supervisor keeps running: a Procfile command or an embedded server."""

    kind: ClassVar[str] = "process"

    def __init__(self, name: str, command: str, probe: Callable[[], Health] | None) -> None:
        """``probe`` tells whether the process is up and ready; None: running means ready."""
        self.name = name
        self.command = command
        self.probe = probe

    @property
    @abstractmethod
    def pid(self) -> int | None:
        """The pid of the running process, or None."""

    @abstractmethod
    def known_pids(self) -> set[int]:
        """Pids of every process object held, alive or not yet reaped (never reaped elsewhere)."""

    @abstractmethod
    def spawn(self) -> None:
        """Start a new instance; raise when it cannot be started."""

    @abstractmethod
    def poll(self) -> int | None:
        """The exit status once the process has exited, else None."""

    @abstractmethod
    def send(self, sig: int) -> None:
        """Send ``sig`` to the process (and what it started)."""

    def reap(self) -> None:  # noqa: B027 - optional hook; most children hold nothing more
        """Release what the exited process held (log files, sockets)."""


@dataclass(eq=False)
class _Slot:
    """The supervisor's bookkeeping for one child."""

    child: Child
    state: State = State.STOPPED
    pid: int | None = None
    started: float = 0.0
    started_at: str | None = None
    restarts: int = 0
    recent: deque[float] = field(default_factory=deque)
    consecutive: int = 0
    next_start: float = 0.0
    last_exit: Exit | None = None
    health: Health = Health(False, False, "not started")
    generation: int = 0
    slow_reported: bool = False


class Supervisor:
    """Starts the children, restarts those that exit, reports their state."""

    def __init__(
        self,
        children: Sequence[Child],
        policy: RestartPolicy,
        *,
        say: Callable[[str], None] = console_say,
        probe_interval: float = 1.0,
        start_timeout: float = 120.0,
        settle: float = 1.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        """Supervise ``children`` under ``policy``; nothing starts before :meth:`start`. A
        child without a probe counts as up once it has run for ``settle`` seconds."""
        self.policy = policy
        self._slots = [_Slot(child) for child in children]
        self._say = say
        self._probe_interval = probe_interval
        self._start_timeout = start_timeout
        self._settle = settle
        self._on_change = on_change
        self._lock = threading.Lock()
        self._stop_probes = threading.Event()
        self._probers: list[threading.Thread] = []
        self._last_reap = 0.0

    # -- life cycle ----------------------------------------------------------------------------

    def start(self, running: Collection[str] = ()) -> None:
        """Spawn every child, except those named in ``running`` (already started and ready,
        like the servers the launcher started before the migrations), then start the probes."""
        for slot in self._slots:
            if slot.child.name in running:
                self._mark_started(slot, Health(True, True))
            else:
                self._spawn(slot, restart=False)
        for slot in self._slots:
            if slot.child.probe is not None:
                thread = threading.Thread(target=self._probe_loop, args=(slot,), daemon=True)
                thread.name = f"probe-{slot.child.name}"
                thread.start()
                self._probers.append(thread)

    def tick(self) -> None:
        """One round: notice exits, start what is due, note processes that came up."""
        clock = time.monotonic()
        for slot in self._slots:
            if slot.state in _LIVE:
                status = slot.child.poll()
                if status is not None:
                    self._exited(slot, Exit.of(status, clock - slot.started))
                elif slot.state is State.STARTING:
                    self._check_started(slot, clock)
            elif slot.state is State.BACKOFF and clock >= slot.next_start:
                self._spawn(slot, restart=True)
        if clock - self._last_reap > 2.0:
            self._last_reap = clock
            self._reap_strays()

    def stop_processes(
        self, timeout: float = 10.0, hurry: Callable[[], bool] = lambda: False
    ) -> None:
        """Stop every Procfile process (SIGTERM to its process group, SIGKILL after ``timeout``
        or as soon as ``hurry()`` holds) and stop restarting anything. The embedded servers are
        left to the caller, which stops them after the services that use them."""
        self._stop_probes.set()
        pending: list[_Slot] = []
        with self._lock:
            for slot in self._slots:
                if slot.state in _LIVE and slot.child.kind == "process":
                    slot.state = State.STOPPING
                    pending.append(slot)
                elif slot.state is State.BACKOFF:
                    slot.state = State.STOPPED
        for slot in pending:
            slot.child.send(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        killed = False
        while pending:
            pending = [slot for slot in pending if slot.child.poll() is None]
            if pending and not killed and (time.monotonic() > deadline or hurry()):
                names = ", ".join(slot.child.name for slot in pending)
                self._say(f"launcher: killing what did not stop in time: {names}")
                for slot in pending:
                    slot.child.send(signal.SIGKILL)
                killed, deadline = True, time.monotonic() + 5.0
            elif pending and killed and time.monotonic() > deadline:
                break
            time.sleep(0.05)
        with self._lock:
            for slot in self._slots:
                if slot.state is State.STOPPING:
                    slot.child.reap()
                    slot.state = State.STOPPED

    def mark_stopped(self, names: Collection[str]) -> None:
        """Record that the caller stopped these children (the embedded servers)."""
        with self._lock:
            for slot in self._slots:
                if slot.child.name in names:
                    slot.state = State.STOPPED

    # -- state ---------------------------------------------------------------------------------

    def all_up(self) -> bool:
        """Whether every child runs and answers its probe (it may still be not ready)."""
        return all(s.state is State.RUNNING and s.health.alive for s in self._slots)

    def not_ready(self) -> dict[str, str]:
        """Children that are not running and ready, with why."""
        found: dict[str, str] = {}
        for slot in self._slots:
            if slot.state is not State.RUNNING:
                found[slot.child.name] = str(slot.state)
            elif not slot.health.ready:
                found[slot.child.name] = slot.health.detail or "not ready"
        return found

    def snapshot(self) -> list[dict[str, Any]]:
        """Every child as the status endpoint lists it."""
        clock = time.monotonic()
        with self._lock:
            return [self._describe(slot, clock) for slot in self._slots]

    def _describe(self, slot: _Slot, clock: float) -> dict[str, Any]:
        live = slot.state in _LIVE
        window_start = clock - self.policy.window
        return {
            "name": slot.child.name,
            "kind": slot.child.kind,
            "command": slot.child.command,
            "state": str(slot.state),
            "pid": slot.child.pid if live else None,
            "alive": live and slot.health.alive,
            "ready": slot.state is State.RUNNING and slot.health.ready,
            "detail": slot.health.detail if live else None,
            "started_at": slot.started_at,
            "uptime_s": round(clock - slot.started, 3) if live else None,
            "restarts": slot.restarts,
            "restarts_in_window": sum(1 for t in slot.recent if t >= window_start),
            "next_restart_in_s": (
                round(max(slot.next_start - clock, 0.0), 3) if slot.state is State.BACKOFF else None
            ),
            "last_exit": slot.last_exit.as_json() if slot.last_exit is not None else None,
        }

    # -- internals -----------------------------------------------------------------------------

    def _mark_started(self, slot: _Slot, health: Health) -> None:
        with self._lock:
            slot.state = State.RUNNING if health.alive else State.STARTING
            slot.pid = slot.child.pid
            slot.started = time.monotonic()
            slot.started_at = now()
            slot.generation += 1
            slot.slow_reported = False
            slot.health = health

    def _spawn(self, slot: _Slot, *, restart: bool) -> None:
        name = slot.child.name
        if restart:
            with self._lock:
                slot.restarts += 1
                slot.recent.append(time.monotonic())
        try:
            slot.child.spawn()
        except Exception as exc:  # e.g. a port still taken: counts as a crash at start
            self._say(f"launcher: {name} could not be started: {exc}")
            self._exited(slot, Exit(None, None, now(), 0.0, error=str(exc)[:500]))
            return
        self._mark_started(slot, Health(False, False, "starting"))
        if restart:
            self._say(
                f"launcher: {name} restarted as pid {slot.child.pid} (restart {slot.restarts})"
            )
            self._changed()

    def _check_started(self, slot: _Slot, clock: float) -> None:
        if slot.child.probe is None and clock - slot.started >= self._settle:
            # Nothing to ask: a process that survived its first moments counts as up.
            slot.health = Health(True, True)
        if slot.health.alive:
            with self._lock:
                slot.state = State.RUNNING
            if slot.restarts:
                took = clock - slot.started
                self._say(f"launcher: {slot.child.name} is up again ({took:.1f}s after its start)")
                self._changed()
        elif not slot.slow_reported and clock - slot.started > self._start_timeout:
            slot.slow_reported = True
            self._say(
                f"launcher: {slot.child.name} is still not up after {self._start_timeout:.0f}s "
                f"({slot.health.detail or 'no answer'})"
            )

    def _exited(self, slot: _Slot, ended: Exit) -> None:
        name, pid = slot.child.name, slot.pid
        slot.child.reap()
        policy = self.policy
        clock = time.monotonic()
        delay = 0.0
        with self._lock:
            slot.last_exit = ended
            while slot.recent and slot.recent[0] < clock - policy.window:
                slot.recent.popleft()
            if ended.uptime >= policy.stable_after:
                slot.consecutive = 0
            if len(slot.recent) >= policy.limit:
                slot.state = State.FAILED
            else:
                slot.consecutive += 1
                delay = policy.backoff(slot.consecutive)
                slot.next_start = clock + delay
                slot.state = State.BACKOFF
        what = (
            f"{name}{f' (pid {pid})' if pid else ''} {ended.describe()} after {ended.uptime:.1f}s"
        )
        if slot.state is State.FAILED:
            self._give_up(slot, what)
        else:
            self._say(
                f"launcher: {what}; restart {len(slot.recent) + 1} of {policy.limit} "
                f"within {policy.window:g}s in {delay:g}s"
            )
        self._changed()

    def _give_up(self, slot: _Slot, what: str) -> None:
        bar = "!" * 78
        self._say(bar)
        self._say(
            f"launcher: GIVING UP on {slot.child.name}: {what}, and it was already restarted "
            f"{len(slot.recent)} times within {self.policy.window:g}s (its restart budget)."
        )
        self._say(
            "launcher: everything else keeps running; see its output above, fix it and start "
            "`make run` again (`make status` shows every process)."
        )
        self._say(bar)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def _probe_loop(self, slot: _Slot) -> None:
        probe = slot.child.probe
        assert probe is not None
        while not self._stop_probes.is_set():
            generation, state = slot.generation, slot.state
            if state in _LIVE:
                try:
                    health = probe()
                except Exception as exc:  # a probe must never end its thread
                    health = Health(False, False, f"probe failed: {exc!r}")
                with self._lock:
                    if slot.generation == generation and slot.state in _LIVE:
                        slot.health = health
            # Poll faster while a process is coming up, to notice it is up within moments.
            self._stop_probes.wait(0.2 if state is State.STARTING else self._probe_interval)

    def _reap_strays(self) -> None:
        """Reap exited descendants that were re-parented to us (we are a child subreaper), e.g.
        the backends of a killed postmaster, and that no process object of ours will reap."""
        known: set[int] = set()
        for slot in self._slots:
            known |= slot.child.known_pids()
        with contextlib.suppress(psutil.Error):
            for proc in psutil.Process().children():
                if proc.pid in known:
                    continue
                with contextlib.suppress(psutil.Error, ChildProcessError):
                    if proc.status() == psutil.STATUS_ZOMBIE:
                        os.waitpid(proc.pid, os.WNOHANG)
