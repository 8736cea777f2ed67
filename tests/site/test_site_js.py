"""The public site's JavaScript verifier passes its own tests (web/test/*.test.mjs, run by Node's
built-in runner): the published test vectors of docs/verification.md, the certificate-transparency
vectors, RFC 8032 / 8037 and one-byte forgeries. Node 20 or newer is required, not optional."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = sorted((ROOT / "web" / "test").glob("*.test.mjs"))


def test_node_runs_every_site_test_and_all_pass() -> None:
    node = shutil.which("node")
    assert node, "Node.js 20+ is needed for the site's tests (docs/site.md)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    assert int(version.stdout.strip().lstrip("v").split(".")[0]) >= 20, version.stdout
    assert TESTS, "web/test/ has no *.test.mjs"
    run = subprocess.run(
        [node, "--test", *map(str, TESTS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    counts = dict(re.findall(r"^# (pass|fail|skipped|todo) (\d+)$", report, flags=re.M))
    assert int(counts.get("pass", "0")) >= 10, report
    assert (counts.get("fail"), counts.get("skipped"), counts.get("todo")) == ("0", "0", "0"), (
        report
    )
