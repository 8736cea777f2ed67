"""What the supervisor runs: a Procfile command, the embedded PostgreSQL and NATS servers, and the
probes that tell whether each is up (alive) and can serve (ready)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar, Protocol

from services_dev.localrt.console import start_pump
from services_dev.localrt.nats import EmbeddedNats
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.localrt.processes import parent_death_preexec
from services_dev.localrt.supervisor import Child, Health

__all__ = [
    "CommandChild",
    "ServerChild",
    "http_get",
    "http_probe",
    "nats_child",
    "postgres_child",
]

# Loopback requests must not go through an http_proxy from the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 0.5) -> tuple[int | None, bytes]:
    """(status, body) of a GET on loopback; status None when nothing answered."""
    try:
        with _NO_PROXY.open(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except (urllib.error.URLError, OSError):
        return None, b""


def _not_ready_detail(status: int | None, body: bytes) -> str:
    """Which dependencies a service's ``/readyz`` says are down (``database: unreachable``)."""
    if status is None:
        return "/readyz did not answer"
    try:
        checks = json.loads(body).get("checks", {})
        failing = [f"{name}: {value}" for name, value in checks.items() if value != "ok"]
    except (ValueError, AttributeError):
        failing = []
    return ", ".join(failing) or f"/readyz answered {status}"


def http_probe(alive_url: str, ready_url: str | None = None) -> Callable[[], Health]:
    """A probe: alive when ``alive_url`` answers 2xx; ready when ``ready_url`` does too (a
    service's ``/readyz``, which checks its database and NATS)."""

    def probe() -> Health:
        status, _ = http_get(alive_url)
        if status is None or not 200 <= status < 300:
            return Health(False, False, f"{alive_url} answered {status or 'nothing'}")
        if ready_url is None:
            return Health(True, True)
        # /readyz waits up to 2 s for the database itself.
        status, body = http_get(ready_url, timeout=3.0)
        if status is not None and 200 <= status < 300:
            return Health(True, True)
        return Health(True, False, _not_ready_detail(status, body))

    return probe


class CommandChild(Child):
    """One Procfile process, run as ``sh -c 'exec <command>'`` (the shell expands ``$PORT``
    variables, then becomes the process) in a session and process group of its own, with the
    parent-death signal set: a kill -9 of the launcher still stops it."""

    def __init__(
        self,
        name: str,
        command: str,
        *,
        cwd: Path,
        env: Mapping[str, str],
        label_width: int,
        probe: Callable[[], Health] | None = None,
    ) -> None:
        """Describe the process; :meth:`spawn` starts it."""
        super().__init__(name, command, probe)
        self._cwd = cwd
        self._env = dict(env)
        self._width = label_width
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The pid of the running process (the command itself, thanks to ``exec``), or None."""
        if self._proc is None or self._proc.returncode is not None:
            return None
        return self._proc.pid

    def known_pids(self) -> set[int]:
        """The pid of the current process object, alive or not yet reaped."""
        return set() if self._proc is None else {self._proc.pid}

    def spawn(self) -> None:
        """Start the command; its output goes to the terminal, prefixed with its name."""
        proc = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {self.command}"],
            cwd=self._cwd,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own session: a terminal Ctrl-C reaches only the launcher, which decides the stop
            # order; and the group can be signalled as a whole.
            start_new_session=True,
            preexec_fn=parent_death_preexec(signal.SIGTERM),
        )
        assert proc.stdout is not None
        start_pump(self.name, self._width, proc.stdout)
        self._proc = proc

    def poll(self) -> int | None:
        """The exit status once it has exited, else None."""
        return None if self._proc is None else self._proc.poll()

    def send(self, sig: int) -> None:
        """Signal the process group (the command and anything it started)."""
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)


class _Server(Protocol):
    """What :class:`ServerChild` needs of an embedded server."""

    @property
    def pid(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def launch(self, *, takeover: bool = False) -> None: ...

    def stop(self, timeout: float = ...) -> None: ...


class ServerChild(Child):
    """An embedded server (PostgreSQL, NATS): restarted on the same data directory and ports.
    The launcher starts it (and waits for it) before the migrations; the supervisor restarts it
    without waiting, its probe telling when it serves again (after crash recovery)."""

    kind: ClassVar[str] = "server"

    def __init__(
        self, name: str, command: str, server: _Server, serving: Callable[[], bool], waiting: str
    ) -> None:
        """``serving`` says whether the server answers; ``waiting`` is the probe's detail until
        it does."""
        super().__init__(name, command, None)
        self.server = server
        self._serving = serving
        self._waiting = waiting
        self.probe = self._probe

    @property
    def pid(self) -> int | None:
        """The server's (main process's) pid, or None."""
        return self.server.pid

    def known_pids(self) -> set[int]:
        """The server's pid (a postmaster's backends are its own children)."""
        pid = self.server.pid
        return {pid} if pid is not None else set()

    def spawn(self) -> None:
        """Start the server again (reaping the dead one and closing its log first)."""
        self.server.stop(timeout=10.0)
        self.server.launch(takeover=True)

    def poll(self) -> int | None:
        """The server's exit status once it has exited."""
        return self.server.poll()

    def send(self, sig: int) -> None:
        """Signal the server's main process."""
        pid = self.server.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def reap(self) -> None:
        """Reap the dead server and close its log."""
        self.server.stop(timeout=5.0)

    def _probe(self) -> Health:
        if self._serving():
            return Health(True, True)
        return Health(False, False, self._waiting)


def postgres_child(server: EmbeddedPostgres) -> ServerChild:
    """The embedded PostgreSQL under the supervisor (crash recovery runs while it is probed)."""
    command = f"postgres -D {server.data_dir} -p {server.port}"
    return ServerChild(
        "postgres", command, server, server.accepting, "not accepting connections yet"
    )


def nats_child(server: EmbeddedNats) -> ServerChild:
    """The embedded NATS server under the supervisor (JetStream recovers its streams)."""
    command = f"nats-server --config {server.config_path}"
    return ServerChild("nats", command, server, server.healthy, "JetStream not healthy yet")
