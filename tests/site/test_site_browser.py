"""The site's verifier modules run in a real browser too (headless chromium over DevTools): the
worked example of docs/verification.md verifies with the browser's own WebCrypto (SHA-256 and
Ed25519), and a receipt with one flipped leaf byte does not. The files are served as they are
(web/ by a plain static server, with the receipt JSON read from the documentation page)."""

from __future__ import annotations

import base64
import functools
import json
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from browser import Browser

ROOT = Path(__file__).resolve().parents[2]


def _example(name: str) -> object:
    page = (ROOT / "docs" / "verification.md").read_text(encoding="utf-8")
    section = page[page.index(f"`{name}`", page.index("### The files")) :]
    block = re.search(r"```json\n(.*?)```", section, flags=re.S)
    assert block
    return json.loads(block.group(1))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site_url() -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(ROOT / "web"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_worked_example_verifies_in_chromium_and_a_flipped_byte_does_not(
    site_url: str,
) -> None:
    receipt = _example("receipt.json")
    head = _example("head.json")
    keys = _example("keys.json")
    assert isinstance(receipt, dict)
    tampered = dict(receipt)
    leaf = bytearray(base64.b64decode(receipt["leaf"]))
    leaf[10] ^= 0x01
    tampered["leaf"] = base64.b64encode(bytes(leaf)).decode()
    script = (
        "const [receipt, tampered, head, keys] = "
        + json.dumps([receipt, tampered, head, keys])
        + ";"
        + """
      (async () => {
        const { verifyReceipt } = await import("./js/verify.js");
        const good = await verifyReceipt(receipt, head, keys);
        const bad = await verifyReceipt(tampered, head, keys);
        return { good: good.ok, checked: good.signaturesChecked, failures: good.failures,
                 bad: bad.ok, badFailures: bad.failures.length,
                 agent: navigator.userAgent };
      })()
    """
    )
    with Browser() as browser:
        page = browser.new_page()
        page.goto(f"{site_url}/receipt.html")
        page.wait_for("document.readyState === 'complete'")
        result = page.evaluate(script)
    assert "Chrome" in result["agent"], result
    assert result["failures"] == []
    assert (result["good"], result["checked"]) == (True, True)
    assert result["bad"] is False
    assert result["badFailures"] >= 1
