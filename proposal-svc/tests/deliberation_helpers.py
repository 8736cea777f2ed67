"""Helpers for the deliberation tests: citizens, a proposal, a forum, posting, reading rows."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from proposal_helpers import propose

from proposal_svc.config import ProposalSettings
from services.clock import ManualClock
from services.db import to_plain_url
from services_dev.testing.tokens import TestTokens

#: Every table deliberation writes, for "nothing was written" checks.
TABLES = (
    "comments",
    "comment_edits",
    "comment_likes",
    "comment_reports",
    "moderation_decisions",
    "rate_limits",
    "outbox",
    "timeline_entries",
)


class Deliberation:
    """A client of the deliberation routes with citizens of its own."""

    def __init__(self, client: httpx.AsyncClient, tokens: TestTokens) -> None:
        self.client = client
        self.tokens = tokens

    def citizen(self, citizen_id: uuid.UUID | None = None) -> dict[str, str]:
        return self.tokens.headers(citizen_id or uuid.uuid4())

    def moderator(self, citizen_id: uuid.UUID | None = None) -> dict[str, str]:
        return self.tokens.headers(citizen_id or uuid.uuid4(), roles=["citizen", "moderator"])

    def admin(self) -> dict[str, str]:
        return self.tokens.headers(uuid.uuid4(), roles=["citizen", "admin"])

    async def proposal(self, author: uuid.UUID | None = None) -> str:
        return str((await propose(self.client, self.tokens, author))["id"])

    async def forum(self, clock: ManualClock) -> str:
        response = await self.client.post(
            "/v1/forums",
            json={
                "title": "12월 시민 공론장",
                "mode": "hybrid",
                "options": ["찬성", "반대", "유보"],
                "opens_at": (clock.now() - timedelta(minutes=1)).isoformat(),
                "closes_at": (clock.now() + timedelta(days=7)).isoformat(),
            },
            headers=self.admin(),
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def comment(
        self,
        proposal_id: str,
        body: str = "역 앞 대여소가 늘 비어 있어요.",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        response = await self.client.post(
            f"/v1/proposals/{proposal_id}/comments",
            json={"body": body, **extra},
            headers=headers or self.citizen(),
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def opinion(
        self, forum_id: str, stance: str, headers: dict[str, str], body: str = "의견입니다."
    ) -> dict[str, Any]:
        response = await self.client.post(
            f"/v1/forums/{forum_id}/opinions",
            json={"stance": stance, "body": body},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def report(
        self, comment_id: str, reason: str = "abuse", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"/v1/comments/{comment_id}/reports",
            json={"reason": reason},
            headers=headers or self.citizen(),
        )

    async def read(self, comment_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/comments/{comment_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def counts(settings: ProposalSettings, tables: tuple[str, ...] = TABLES) -> dict[str, int]:
    """Rows per table (for "nothing was written")."""
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in tables}
    finally:
        await conn.close()


async def events(settings: ProposalSettings, prefix: str = "") -> list[dict[str, Any]]:
    """The outbox's envelopes in order, of subjects starting with ``prefix``."""
    import json

    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        rows = await conn.fetch(
            "SELECT envelope FROM outbox WHERE subject LIKE $1 ORDER BY seq", prefix + "%"
        )
    finally:
        await conn.close()
    return [json.loads(r["envelope"]) for r in rows]
