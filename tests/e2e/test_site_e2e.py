"""The public site through the running platform (``make run`` on free ports), in headless
chromium: 50 citizens agree to a proposal; the site's list finds it; its page shows the
department's obligation counting down; an official answers; the page shows the 50 tier reached
(and 100 / 1,000 not yet), the obligation fulfilled, the answer and the timeline; the receipt check, computing in the browser, says
"verified" for a real vote and "not verified" for its receipt with one flipped byte.
Screenshots: .data/test-artifacts/site/."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from browser import Browser, Page
from e2e_runtime import Runtime

pytestmark = pytest.mark.e2e

VOTERS = 50
TITLE = "북한산 둘레길에 쉼터를 만들어 주세요"


async def _sign_in(client: httpx.AsyncClient, seed: str, **persona: Any) -> dict[str, Any]:
    started = await client.post("/v1/identity/verifications", json={"provider": "sandbox"})
    assert started.status_code == 201, started.text
    done = await client.post(
        f"/v1/identity/verifications/{started.json()['verification_id']}/complete",
        json={
            "persona": {
                "name": "시민",
                "birthdate": "1985-04-01",
                "phone": "010-1111-2222",
                "ci_seed": seed,
                **persona,
            }
        },
    )
    assert done.status_code == 200, done.text
    body: dict[str, Any] = done.json()
    return body


async def _eventually(what: str, check: Any, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


async def _scenario(client: httpx.AsyncClient) -> dict[str, Any]:
    """A proposal with 50 agreements: its id, a vote id and that vote's receipt (once the ledger
    has recorded it), and a department official's token."""
    gate = asyncio.Semaphore(8)

    async def sign_in(seed: str, **persona: Any) -> dict[str, Any]:
        async with gate:
            return await _sign_in(client, seed, **persona)

    citizens = await asyncio.gather(*(sign_in(f"site-{i:03d}") for i in range(VOTERS + 1)))
    official = await sign_in("site-official", roles=["department"], department="푸른도시여가국")
    auth = [{"Authorization": f"Bearer {c['access_token']}"} for c in citizens]
    created = await client.post(
        "/v1/proposals",
        headers=auth[0],
        json={"title": TITLE, "body": "등산객이 쉴 곳이 부족합니다.", "category": "environment"},
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]

    async def votable() -> bool:
        return (await client.get(f"/v1/votes/tallies/proposals/{pid}")).status_code == 200

    await _eventually("the proposal to be open for agreements", votable)

    async def agree(headers: dict[str, str]) -> str:
        async with gate:
            response = await client.post(
                "/v1/votes/agreements", headers=headers, json={"proposal_id": pid}
            )
        assert response.status_code == 201, response.text
        return str(response.json()["vote_id"])

    vote_ids = await asyncio.gather(*(agree(h) for h in auth[1:]))

    async def tier_reached() -> bool:
        proposal = (await client.get(f"/v1/proposals/{pid}")).json()
        return [t["threshold"] for t in proposal["tiers_reached"]] == [50]

    await _eventually("the 50 tier", tier_reached)

    async def recorded() -> bool:
        return (await client.get(f"/v1/ledger/receipts/{vote_ids[7]}")).status_code == 200

    await _eventually("the ledger to record the vote", recorded)
    receipt = (await client.get(f"/v1/ledger/receipts/{vote_ids[7]}")).json()
    return {
        "proposal_id": pid,
        "vote_id": vote_ids[7],
        "receipt": receipt,
        "official": official["access_token"],
    }


def _flip_one_leaf_byte(receipt: dict[str, Any]) -> dict[str, Any]:
    leaf = bytearray(base64.b64decode(receipt["leaf"]))
    leaf[len(leaf) // 2] ^= 0x01
    return {**receipt, "leaf": base64.b64encode(bytes(leaf)).decode("ascii")}


def _text(page: Page, selector: str) -> str:
    value = page.evaluate(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''")
    return str(value)


def _check_list(page: Page, base: str, pid: str) -> None:
    page.goto(f"{base}/site/?q={quote('둘레길')}")
    page.wait_for("document.body.dataset.loaded === 'true'")
    page.wait_for(f"!!document.querySelector('[data-proposal-id=\"{pid}\"]')")
    assert page.evaluate("document.querySelector('input[name=q]').value") == "둘레길"
    assert TITLE in _text(page, f'[data-proposal-id="{pid}"]')
    assert page.evaluate("document.getElementById('more').offsetParent === null")  # no next page
    page.screenshot("list")
    # "비슷한 제안 찾기": the same words through GET /v1/proposals/similar, with a score.
    page.goto(f"{base}/site/?q={quote('북한산 둘레길 쉼터')}&similar=1")
    page.wait_for("document.body.dataset.loaded === 'true'")
    page.wait_for(f"!!document.querySelector('[data-proposal-id=\"{pid}\"]')")
    assert "유사도" in _text(page, f'[data-proposal-id="{pid}"]')


def _check_pending_obligation(page: Page, base: str, pid: str) -> None:
    """Before the answer: the department's obligation is due in 30 days, counting down."""
    page.goto(f"{base}/site/proposal.html?id={pid}")
    page.wait_for("document.body.dataset.loaded === 'true'")
    selector = '#obligations [data-kind="department_answer"]'
    assert page.evaluate(f"document.querySelector({json.dumps(selector)}).dataset.state") == (
        "pending"
    )
    assert re.search(r"기한 .* (29|30)일 \d+시간 남음", _text(page, selector)), _text(
        page, selector
    )
    assert "아직 답변이 없습니다" in _text(page, "#answers")
    page.screenshot("proposal-before-answer")


def _answer(base: str, pid: str, token: str) -> None:
    with httpx.Client(base_url=base, timeout=30.0, trust_env=False) as client:
        answered = client.post(
            f"/v1/proposals/{pid}/answers",
            headers={"Authorization": f"Bearer {token}"},
            json={"kind": "department", "body": "내년 봄까지 쉼터 세 곳을 설치하겠습니다."},
        )
    assert answered.status_code == 201, answered.text


def _check_proposal(page: Page, base: str, pid: str) -> None:
    page.goto(f"{base}/site/proposal.html?id={pid}")
    page.wait_for("document.body.dataset.loaded === 'true'")
    tiers = page.evaluate(
        "[...document.querySelectorAll('#tiers [data-tier]')]"
        ".map(t => [Number(t.dataset.tier), t.dataset.reached === 'true'])"
    )
    assert tiers == [[50, True], [100, False], [1000, False]], tiers
    assert "달성" in _text(page, '#tiers [data-tier="50"]')
    assert "50 / 100" in _text(page, '#tiers [data-tier="100"]')
    widths = page.evaluate("[...document.querySelectorAll('#tiers .fill')].map(f => f.style.width)")
    assert widths == ["100%", "50%", "5%"], widths
    assert _text(page, "#count") == "50"
    assert "null" not in _text(page, "#meta")
    obligation = page.evaluate(
        "document.querySelector('#obligations [data-kind=\"department_answer\"]').dataset.state"
    )
    assert obligation == "fulfilled"
    assert "내년 봄까지 쉼터 세 곳" in _text(page, "#answers")
    kinds = page.evaluate(
        "[...document.querySelectorAll('#timeline [data-kind]')].map(e => e.dataset.kind)"
    )
    assert kinds[:3] == ["submitted", "opened", "tier_reached"], kinds
    assert "answered" in kinds
    assert "50명 달성" in _text(page, "#timeline")
    # Milestones: shown when the platform has GET /v1/proposals/{id}/milestones, hidden (and
    # nothing broken) where it answers 404.
    with httpx.Client(base_url=base, timeout=30.0, trust_env=False) as client:
        milestones = client.get(f"/v1/proposals/{pid}/milestones")
    hidden = page.evaluate("document.getElementById('milestones-section').hidden")
    assert hidden is (milestones.status_code != 200), (milestones.status_code, hidden)
    page.screenshot("proposal")


def _check_receipts(page: Page, base: str, vote_id: str, receipt: dict[str, Any]) -> None:
    page.goto(f"{base}/site/receipt.html?vote_id={vote_id}")
    verdict = page.wait_for(
        "['verified', 'not-verified', 'error'].includes(document.body.dataset.verdict)"
        " && document.body.dataset.verdict"
    )
    assert verdict == "verified", _text(page, "main")
    assert "확인됨" in _text(page, "#verdict")
    assert page.evaluate("getComputedStyle(document.getElementById('verdict')).color") == (
        "rgb(19, 115, 51)"
    )
    assert "실패" not in _text(page, "#steps")
    page.screenshot("receipt-verified")

    tampered = json.dumps(_flip_one_leaf_byte(receipt))
    page.goto(f"{base}/site/receipt.html?receipt={quote(tampered)}")
    verdict = page.wait_for(
        "['verified', 'not-verified', 'error'].includes(document.body.dataset.verdict)"
        " && document.body.dataset.verdict"
    )
    assert verdict == "not-verified", _text(page, "main")
    assert "확인되지 않음" in _text(page, "#verdict")
    assert page.evaluate("getComputedStyle(document.getElementById('verdict')).color") == (
        "rgb(179, 38, 30)"
    )
    assert "✘ 실패" in _text(page, "#steps")
    page.screenshot("receipt-tampered")


VERDICT = (
    "['verified', 'not-verified', 'error'].includes(document.body.dataset.verdict)"
    " && document.body.dataset.verdict"
)


def _check_receipt_form(page: Page, base: str, receipt: dict[str, Any], tmp_path: Path) -> None:
    """The form: a receipt opened from a file (tampered: not verified), then one pasted (the
    real one: verified)."""
    page.goto(f"{base}/site/receipt.html")
    page.wait_for("document.readyState === 'complete' && !!document.getElementById('file')")
    saved = tmp_path / "tampered-receipt.json"
    saved.write_text(json.dumps(_flip_one_leaf_byte(receipt)), encoding="utf-8")
    page.set_files("#file", saved)
    page.wait_for("document.getElementById('receipt').value.includes('audit_path')")
    page.evaluate("document.querySelector('#check button[type=submit]').click()")
    assert page.wait_for(VERDICT) == "not-verified", _text(page, "main")
    page.evaluate(
        f"document.getElementById('receipt').value = {json.dumps(json.dumps(receipt))};"
        "document.querySelector('#check button[type=submit]').click()"
    )
    assert page.wait_for(VERDICT) == "verified", _text(page, "main")
    assert "확인됨" in _text(page, "#verdict")


@pytest.mark.timeout(900)
def test_the_site_shows_tiers_and_checks_receipts_in_chromium(
    runtime: Runtime, tmp_path: Path
) -> None:
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        runtime.start()
        # Generous: the whole platform starts on a machine that may be shared.
        runtime.wait_healthy(client, timeout=300.0)
        # "/" leads to the site; the API beside it is unchanged.
        root = client.get(f"{runtime.entry_url}/")
        assert (root.status_code, root.headers["location"]) == (302, "/site/")

    async def run() -> dict[str, Any]:
        async with httpx.AsyncClient(
            base_url=runtime.entry_url, timeout=30.0, trust_env=False
        ) as client:
            return await _scenario(client)

    try:
        state = asyncio.run(run())
        with Browser() as browser:
            page = browser.new_page()
            _check_list(page, runtime.entry_url, state["proposal_id"])
            _check_pending_obligation(page, runtime.entry_url, state["proposal_id"])
            _answer(runtime.entry_url, state["proposal_id"], state["official"])
            _check_proposal(page, runtime.entry_url, state["proposal_id"])
            _check_receipts(page, runtime.entry_url, state["vote_id"], state["receipt"])
            _check_receipt_form(page, runtime.entry_url, state["receipt"], tmp_path)
            assert page.errors == [], page.errors
    except BaseException:
        print(runtime.output())  # noqa: T201
        raise
    assert runtime.interrupt() == 0
