"""Process helpers shared by the embedded servers and the local launcher.

Everything here is about one promise of the local runtime: stopping it leaves no process of ours
behind, even when the launcher itself is killed. The Linux-only parts (parent-death signal, child
subreaper) degrade to no-ops elsewhere; the portable parts use psutil.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil  # type: ignore[import-untyped]

# prctl(2) option numbers from <linux/prctl.h>.
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, arg: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return int(libc.prctl(option, arg, 0, 0, 0)) == 0


def parent_death_preexec(sig: int) -> Callable[[], None]:
    """Return a ``preexec_fn`` that makes the child receive ``sig`` when its parent dies.

    Without it a ``kill -9`` of the launcher (or of pytest) would leave Postgres and NATS running
    and holding their ports. Linux delivers the signal when the *thread* that forked the child
    exits, so only use it from a thread that lives as long as the child (the main thread).
    """

    def _preexec() -> None:
        # Runs in the child after fork and after any setuid, so the setting survives the
        # privilege drop (Linux clears it on credential changes).
        _prctl(_PR_SET_PDEATHSIG, int(sig))

    return _preexec


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux only).

    If a child dies before its own children (a killed postmaster's backends, what a Procfile
    command started in the background), they are re-parented to us instead of init, so the
    final sweep in :func:`terminate_descendants` still finds them.
    """
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def port_is_free(host: str, port: int) -> bool:
    """Tell whether nothing listens on ``host:port`` and we could bind it now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # SO_REUSEADDR mirrors what the servers do, so a port in TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def can_connect(host: str, port: int, timeout: float = 0.5) -> bool:
    """Tell whether a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.05,
    abort: Callable[[], str | None] | None = None,
    error: type[Exception] = RuntimeError,
) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass.

    ``abort`` is checked on every round; when it returns a message the wait stops early by raising
    ``error`` with that message (used to notice that a server process died instead of waiting out
    the whole timeout). Returns whether the predicate held.
    """
    deadline = time.monotonic() + timeout
    while True:
        if abort is not None:
            reason = abort()
            if reason is not None:
                raise error(reason)
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def stop_popen(
    proc: subprocess.Popen[bytes],
    sig: int = signal.SIGTERM,
    *,
    timeout: float = 30.0,
    escalate: Iterable[int] = (signal.SIGKILL,),
) -> int:
    """Signal a child, wait for it, and escalate through ``escalate`` if it does not exit.

    Returns the exit code. Waiting (not just signalling) matters: the caller usually frees a port
    or a data directory next.
    """
    signals = [sig, *escalate]
    for index, current in enumerate(signals):
        if proc.poll() is not None:
            break
        try:
            proc.send_signal(current)
        except ProcessLookupError:
            break
        wait = timeout if index == 0 else 5.0
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


def terminate_processes(procs: Iterable[psutil.Process], *, timeout: float = 10.0) -> None:
    """SIGTERM the given processes, wait, then SIGKILL whatever is left."""
    alive: list[psutil.Process] = []
    for proc in procs:
        try:
            proc.terminate()
            alive.append(proc)
        except psutil.NoSuchProcess:
            continue
    _gone, still = psutil.wait_procs(alive, timeout=timeout)
    for proc in still:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(still, timeout=5.0)


def terminate_descendants(*, timeout: float = 10.0) -> list[int]:
    """Terminate every remaining descendant of this process; return their pids.

    This is the last line of defence after the supervised processes have stopped: anything still
    alive here escaped its process group (or was adopted thanks to :func:`become_subreaper`).
    """
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.NoSuchProcess:  # pragma: no cover - we are always alive
        return []
    pids = [child.pid for child in children]
    terminate_processes(children, timeout=timeout)
    return pids


def process_identity(pid: int) -> float | None:
    """Return the creation time of ``pid`` (to tell a pid apart from a reused one), or None."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def same_process_alive(pid: int, create_time: float | None) -> psutil.Process | None:
    """Return the process if ``pid`` still runs *and* is the one recorded (same start time)."""
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(float(proc.create_time()) - create_time) > 1.0:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def pid_alive(pid: int) -> bool:
    """Tell whether a process with this pid exists (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except OSError as exc:
        if exc.errno == errno.EPERM:
            return True
        return False
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def tail(path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of a log file (empty if it does not exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
