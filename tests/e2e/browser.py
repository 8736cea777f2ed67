"""A real browser for the site's tests: Debian's ``chromium``, headless, driven over the Chrome
DevTools Protocol by this small driver (``websockets``' synchronous client; no Selenium).

``find_chromium()`` finds the browser; on a fresh CI machine (``CI=true``) without one it installs
it with ``apt-get install -y chromium fonts-nanum`` (the fonts so that the screenshots show Korean;
docs/site.md). Without a browser the tests fail: a
skipped browser test would pass nothing.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / ".data" / "test-artifacts" / "site"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
START_TIMEOUT = 30.0


def find_chromium() -> str:
    """The browser's path; installs Debian's ``chromium`` when missing and ``CI=true``."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI", "").lower() == "true" and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium", "fonts-nanum"],
            check=True,
            env=env,
            timeout=1200,
        )
        found = shutil.which("chromium")
        if found:
            return found
    pytest.fail(
        "no chromium: install it with `apt-get install -y chromium fonts-nanum` (or `make "
        "chromium`); "
        "with CI=true the test installs it itself"
    )


class Page:
    """One tab, over its own DevTools WebSocket."""

    def __init__(self, ws_url: str) -> None:
        # Entered as a context manager (websockets 17 warns otherwise); left in close().
        self._ws: ClientConnection = connect(
            ws_url, max_size=None, open_timeout=START_TIMEOUT
        ).__enter__()
        self._ids = itertools.count(1)
        #: Uncaught exceptions and console errors of the page, as text.
        self.errors: list[str] = []
        self.send("Page.enable")
        self.send("Runtime.enable")

    def _event(self, message: dict[str, Any]) -> None:
        params = message.get("params", {})
        if message.get("method") == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(str(details.get("exception", {}).get("description") or details))
        elif message.get("method") == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append(" ".join(str(a.get("value", a)) for a in params.get("args", [])))

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        """Call a DevTools method and return its result (events meanwhile are recorded)."""
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def set_files(self, selector: str, *paths: Path) -> None:
        """Choose files in an ``<input type=file>``, as a user would (fires ``change``)."""
        root = self.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if not node:
            raise AssertionError(f"no element {selector!r}")
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(p) for p in paths]})

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll until the expression is truthy; its value."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except RuntimeError:
                value = None  # the page is between documents
            if value:
                return value
            time.sleep(0.2)
        body = self.evaluate("document.body ? document.body.innerText : ''")
        raise AssertionError(f"timed out waiting for {expression!r}; errors {self.errors}\n{body}")

    def screenshot(self, name: str) -> Path:
        """A full-page PNG under .data/test-artifacts/site/."""
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        self._ws.__exit__(None, None, None)


class Browser:
    """Headless chromium with a throw-away profile; ``new_page()`` opens a tab."""

    def __init__(self, width: int = 1100, height: int = 1400) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="site-chromium-")
        args = [
            find_chromium(),
            "--headless=new",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--user-data-dir={self._profile.name}",
            f"--window-size={width},{height}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--lang=ko-KR",
            "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # chromium refuses to run as root with its sandbox
        self.log = Path(self._profile.name) / "chromium.log"
        with self.log.open("wb") as out:
            self._proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        self._port = self._wait_port()
        self._pages: list[Page] = []

    def _wait_port(self) -> int:
        active = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited: {self.log.read_text(errors='replace')}")
            if active.is_file():
                lines = active.read_text().split()
                if lines:
                    return int(lines[0])
            time.sleep(0.1)
        raise RuntimeError(f"chromium did not start: {self.log.read_text(errors='replace')}")

    def new_page(self) -> Page:
        import httpx  # the DevTools HTTP endpoint, only to open a tab

        with httpx.Client(trust_env=False, timeout=10.0) as client:
            target = client.put(f"http://127.0.0.1:{self._port}/json/new?about:blank").json()
        page = Page(target["webSocketDebuggerUrl"])
        self._pages.append(page)
        return page

    def close(self) -> None:
        for page in self._pages:
            page.close()
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
