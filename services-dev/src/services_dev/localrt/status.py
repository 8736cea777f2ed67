"""The launcher's status endpoint, and ``make status`` (``python -m services_dev.localrt.status``).

The launcher serves, on ``127.0.0.1:$PLATFORM_STATUS_PORT`` (default: a free port, written to
``runtime.json`` as ``status_url``):

* ``GET /status``: JSON with the launcher's state and every process (pid, state, restarts, last
  exit, readiness);
* ``GET /readyz``: 200 when every process runs and is ready, else 503 naming those that are not;
* ``GET /healthz``: 200 while the launcher runs.

``make status`` finds the endpoint through ``runtime.json`` and prints a table (``--json``: the
document as served). Its exit code is 0 when the platform is ready, 1 when it runs but is not
ready, 2 when no launcher answers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services_dev.localrt.children import http_get
from services_dev.localrt.config import HOST, LauncherError, LocalConfig

__all__ = ["StatusServer", "format_status", "main"]

#: Builds the body of ``GET /status``; its ``ready`` and ``not_ready`` also answer ``/readyz``.
StatusSource = Callable[[], dict[str, Any]]


class StatusServer:
    """``/status``, ``/readyz`` and ``/healthz`` of the launcher, served from a daemon thread."""

    def __init__(self, source: StatusSource, port: int = 0, host: str = HOST) -> None:
        """Bind ``host:port`` now (0: any free port); :meth:`start` serves."""
        handler = _handler(source)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        """The port bound."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.name = "status-endpoint"
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5.0)
        self._server.server_close()


def _handler(source: StatusSource) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, {"status": "ok"})
            elif path == "/status":
                self._send(200, source())
            elif path == "/readyz":
                status = source()
                if status.get("ready"):
                    self._send(200, {"status": "ready"})
                else:
                    body = {"status": "not_ready", "not_ready": status.get("not_ready", {})}
                    self._send(503, body)
            else:
                self._send(
                    404,
                    {"type": "about:blank", "title": "Not Found", "status": 404},
                    "application/problem+json",
                )

        def _send(self, code: int, body: dict[str, Any], kind: str = "application/json") -> None:
            data = json.dumps(body, indent=2).encode() + b"\n"
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # the terminal is for the processes' output

    return Handler


def _last_exit(entry: dict[str, Any]) -> str:
    ended = entry.get("last_exit")
    if not ended:
        return "-"
    how = (
        f"start failed: {ended['error']}"
        if ended.get("error")
        else ended["signal"]
        if ended.get("signal")
        else f"exit {ended['code']}"
    )
    return f"{how} at {str(ended['at'])[11:19]} after {ended['uptime_s']:.0f}s"


def format_status(status: dict[str, Any]) -> str:
    """The ``/status`` document as the table ``make status`` prints."""
    launcher = status.get("launcher", {})
    head = (
        f"launcher pid {launcher.get('pid')}: {launcher.get('status')}, "
        f"{'ready' if status.get('ready') else 'NOT ready'}, since {launcher.get('started_at')}"
    )
    rows = [("PROCESS", "STATE", "PID", "RESTARTS", "READY", "LAST EXIT / DETAIL")]
    for entry in status.get("processes", []):
        detail = _last_exit(entry)
        if entry.get("detail") and not entry.get("ready"):
            detail = f"{detail}; {entry['detail']}"
        if entry.get("next_restart_in_s") is not None:
            detail = f"{detail}; restart in {entry['next_restart_in_s']:.1f}s"
        rows.append(
            (
                entry["name"],
                entry["state"],
                str(entry["pid"] or "-"),
                str(entry["restarts"]),
                "yes" if entry["ready"] else "no",
                detail,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [head, ""]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)]
        lines.append("  ".join([*cells, row[5]]).rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``make status``: print the running launcher's status; see the module doc for exit codes."""
    parser = argparse.ArgumentParser(
        prog="python -m services_dev.localrt.status",
        description="Show the processes of the local runtime (make run) and their state.",
    )
    parser.add_argument("--json", action="store_true", help="print the /status document")
    args = parser.parse_args(argv)
    try:
        config = LocalConfig.from_env(os.environ)
        described = json.loads(config.runtime_json.read_text())
    except (LauncherError, OSError, ValueError) as exc:
        print(f"no local runtime found: {exc}")  # noqa: T201
        return 2
    url = described.get("status_url")
    if described.get("status") == "stopped" or not url:
        print(f"the local runtime in {config.data_dir} is not running")  # noqa: T201
        return 2
    code, body = http_get(f"{url}/status", timeout=5.0)
    if code != 200:
        pid = described.get("pids", {}).get("launcher")
        print(f"the launcher (pid {pid}) does not answer on {url}: is it still running?")  # noqa: T201
        return 2
    status = json.loads(body)
    print(json.dumps(status, indent=2) if args.json else format_status(status))  # noqa: T201
    return 0 if status.get("ready") else 1


if __name__ == "__main__":
    sys.exit(main())
