"""Scaffolding of the provider adapter tests: a simulated provider API (the real ones, NHN
Cloud and Solapi, are third parties these tests cannot reach) and the NHN Cloud envelopes
both NHN adapters answer with."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

PHONE = "01012345678"
NOW = datetime(2025, 7, 1, 3, 0, tzinfo=UTC)  # 12:00 KST


@dataclass
class FakeApi:
    """Answers requests in order with the queued responses (or raises queued errors)."""

    answers: list[httpx.Response | Exception] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@asynccontextmanager
async def fake_api() -> AsyncIterator[tuple[FakeApi, httpx.AsyncClient]]:
    """A :class:`FakeApi` and an HTTP client whose every request it answers."""
    fake = FakeApi()
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handle)) as client:
        yield fake, client


def nhn_refusal(code: int, message: str, **extra: Any) -> httpx.Response:
    """An NHN Cloud answer with ``isSuccessful: false`` (``extra`` beside the header)."""
    return httpx.Response(
        200,
        json={
            "header": {"isSuccessful": False, "resultCode": code, "resultMessage": message},
            **extra,
        },
    )


def nhn_webhook_body(
    app_key: str, product: str, *hooks: dict[str, Any], event: str = "MESSAGE_RESULT_UPDATE"
) -> bytes:
    """An NHN Cloud webhook body carrying ``hooks``."""
    return json.dumps(
        {
            "hooksId": "202007271010101010sadasdavas",
            "webhookConfigId": "config-1",
            "productName": product,
            "appKey": app_key,
            "event": event,
            "hooks": list(hooks),
        },
        ensure_ascii=False,
    ).encode()
