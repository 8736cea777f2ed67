"""The README's curl walk-through runs as written against the real platform: its shell blocks,
in order, in one bash with ``set -euo pipefail``, in a directory where ``.venv`` and ``.data`` are
the repository's venv and the running platform's data directory. The only change made to the
text is the port of ``localhost:8000`` (the test's platform runs on a free port)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest
from e2e_runtime import REPO_ROOT, Runtime

pytestmark = pytest.mark.e2e

README = REPO_ROOT / "README.md"
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def readme_blocks() -> list[str]:
    """The shell blocks of the walk-through (from "Using the API" to "Configuration")."""
    text = README.read_text(encoding="utf-8")
    walkthrough = text[text.index("## Using the API") : text.index("## Configuration")]
    return BLOCK.findall(walkthrough)


TRAILER = """
echo  # the walk-through's last answer ends without a newline
echo "::VOTE_ID=$VOTE_ID"
echo "::PID=$PID"
echo "::CITIZEN_ID=$CITIZEN_ID"
echo "::TOKEN2=${#TOKEN2}"
curl -s localhost:8000/v1/identity/me -H "Authorization: Bearer $TOKEN" > me.json
curl -s -G localhost:8000/v1/proposals/similar --data-urlencode 'text=따릉이 대여소 확대' > similar.json
"""


def test_the_readme_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first = BLOCK.search(text)
    assert first is not None
    assert text.index("```bash") < text.index("\n## ")
    commands = [line.split("#")[0].strip() for line in first.group(1).splitlines()]
    assert commands == ["make run", "make test"]


def test_the_walkthrough_does_what_the_issue_asks() -> None:
    script = "\n".join(readme_blocks())
    assert "TOKEN2=" in script
    assert "VOTE_ID=" in script
    assert "--data-urlencode" in script
    assert ". .data/runtime.env" in script
    assert "ledger/receipts/$VOTE_ID" in script
    bash = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert bash.returncode == 0, bash.stderr


def _values(output: str) -> dict[str, str]:
    return dict(re.findall(r"^::(\w+)=(.*)$", output, flags=re.M))


@pytest.mark.timeout(1200)
def test_the_readme_walkthrough_runs_against_the_platform(runtime: Runtime, tmp_path: Path) -> None:
    work = tmp_path / "walkthrough"
    work.mkdir()
    (work / ".venv").symlink_to(REPO_ROOT / ".venv")
    (work / ".data").symlink_to(runtime.data_dir)
    entry = f"127.0.0.1:{runtime.ports['PLATFORM_HTTP_PORT']}"
    script = "set -euo pipefail\n" + "\n".join(readme_blocks()) + TRAILER
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        runtime.start()
        runtime.wait_healthy(client, timeout=480)
        done = subprocess.run(
            ["bash", "-c", script.replace("localhost:8000", entry)],
            cwd=work,
            text=True,
            capture_output=True,
            timeout=600,
        )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-8000:]
    values = _values(done.stdout)
    assert int(values["TOKEN2"]) > 100, "TOKEN2 is not a token"
    # The Korean problem of the unauthenticated /me.
    assert "액세스 토큰 없음 또는 무효" in done.stdout
    # create-admin with .data/runtime.env loaded made the first citizen an admin.
    me = json.loads((work / "me.json").read_text())
    assert me["citizen_id"] == values["CITIZEN_ID"]
    assert "admin" in me["roles"], me
    # The second citizen's agreement got a receipt that verified offline (exit 0 under set -e).
    receipt = json.loads((work / "receipt.json").read_text())
    assert values["VOTE_ID"] in json.dumps(receipt)
    # The Hangul query found the proposal.
    assert values["PID"] in (work / "similar.json").read_text()
