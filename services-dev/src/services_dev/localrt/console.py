"""The launcher's terminal: its own messages and every process's output, one whole line at a
time (several threads write here: the main loop and one reader per process)."""

from __future__ import annotations

import sys
import threading
import time
from typing import IO

__all__ = ["pump", "say", "start_pump"]

_lock = threading.Lock()


def _write(line: str) -> None:
    with _lock:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            # A closed terminal or pipe must not stop the launcher nor block a process on its
            # output (the reader keeps draining it).
            pass


def say(message: str = "") -> None:
    """Print one message of the launcher's own (``launcher: ...``)."""
    _write(message)


def pump(name: str, width: int, stream: IO[bytes]) -> None:
    """Copy ``stream`` (a process's stdout and stderr) to the terminal until it ends, each line
    as ``HH:MM:SS name | line`` (the format honcho used before the launcher ran them itself)."""
    label = f"{name:<{width}}"
    with stream:
        for raw in stream:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            _write(f"{time.strftime('%H:%M:%S')} {label} | {line}")


def start_pump(name: str, width: int, stream: IO[bytes]) -> threading.Thread:
    """Run :func:`pump` in a daemon thread (it ends when the process closes its output)."""
    thread = threading.Thread(target=pump, args=(name, width, stream), daemon=True)
    thread.name = f"output-{name}"
    thread.start()
    return thread
