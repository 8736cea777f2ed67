"""Helpers for proposal-svc tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from services_dev.testing.tokens import TestTokens

BODY = {
    "title": "따릉이 대여소를 늘려주세요",
    "body": "출퇴근 시간에 역 앞 대여소에 자전거가 없습니다. 대여소와 거치대를 늘려주세요.",
    "category": "transport",
    "district": "마포구",
}


async def propose(
    client: httpx.AsyncClient, tokens: TestTokens, author: uuid.UUID | None = None, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/proposals", json={**BODY, **overrides}, headers=tokens.headers(author)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
