"""Sign-in through the PortOne adapter against a simulated PortOne (its documented V2 shapes):
end to end from a web page and from an app, refusals, expiry, replays and tampering."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from identity_helpers import bearer, count
from provider_sims import Person, Providers

from identity_svc.config import IdentitySettings
from services.clock import ManualClock


async def start(client: httpx.AsyncClient, channel: str = "web") -> dict[str, Any]:
    response = await client.post(
        "/v1/identity/verifications", json={"provider": "portone", "channel": channel}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def sdk_answer(started: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What ``PortOne.requestIdentityVerification`` answers the front end."""
    return {
        "transactionType": "IDENTITY_VERIFICATION",
        "identityVerificationId": started["next"]["parameters"]["identityVerificationId"],
        "identityVerificationTxId": "01936b4e-8a0c-7d1e-b2f3-9c4d5e6f7a8b",
        **extra,
    }


async def complete(
    client: httpx.AsyncClient, started: dict[str, Any], payload: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(
        f"/v1/identity/verifications/{started['verification_id']}/complete",
        json=sdk_answer(started) if payload is None else payload,
    )


def portone_id(started: dict[str, Any]) -> str:
    return str(started["next"]["parameters"]["identityVerificationId"])


async def test_simulated_portone_sign_in_from_a_web_page(
    provider_client: httpx.AsyncClient, sims: Providers
) -> None:
    started = await start(provider_client)
    step = started["next"]
    assert step["type"] == "portone"
    assert step["sdk"] == "@portone/browser-sdk"
    assert step["call"] == "requestIdentityVerification"
    assert step["parameters"] == {
        "storeId": "store-4ff4af41-85e3-4559-8eb8-0d08a2c6ceec",
        "identityVerificationId": f"identity-verification-{started['verification_id']}",
        "channelKey": "channel-key-9a8b7c6d",
    }
    assert step["complete_url"] == (
        f"/v1/identity/verifications/{started['verification_id']}/complete"
    )
    sims.portone.verify(portone_id(started), Person("portone-web"))
    done = await complete(provider_client, started)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["created"] is True
    me = await provider_client.get("/v1/identity/me", headers=bearer(body["access_token"]))
    assert me.json()["providers"] == ["portone"]
    assert me.json()["is_foreigner"] is False
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["foreigner"] is False
    assert claims["age"] >= 37


async def test_simulated_portone_sign_in_from_an_app_is_the_same_person_as_the_sandbox(
    provider_client: httpx.AsyncClient, sims: Providers, provider_settings: IdentitySettings
) -> None:
    started = await start(provider_client, channel="app")
    assert started["next"]["sdk"] == "@portone/react-native-sdk"
    sims.portone.verify(portone_id(started), Person("portone-app"))
    first = await complete(provider_client, started)
    assert first.status_code == 200, first.text
    again = await start(provider_client)
    sims.portone.verify(portone_id(again), Person("portone-app"))
    second = await complete(provider_client, again)
    assert second.json()["citizen_id"] == first.json()["citizen_id"]
    assert second.json()["created"] is False
    assert await count(provider_settings, "citizens") == 1


async def test_simulated_portone_failure_is_refused_and_burns_the_attempt(
    provider_client: httpx.AsyncClient, sims: Providers, provider_settings: IdentitySettings
) -> None:
    started = await start(provider_client)
    sims.portone.fail(portone_id(started))
    refused = await complete(provider_client, started)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/verification-rejected")
    assert "T0001" in refused.json()["detail"]
    sims.portone.verify(portone_id(started), Person("portone-late"))
    assert (await complete(provider_client, started)).status_code == 409
    assert await count(provider_settings, "citizens") == 0
    assert await count(provider_settings, "verifications", "status = 'failed'") == 1


async def test_simulated_portone_cancellation_is_refused(
    provider_client: httpx.AsyncClient, sims: Providers, provider_settings: IdentitySettings
) -> None:
    started = await start(provider_client)
    sims.portone.ready(portone_id(started))
    cancelled = await complete(
        provider_client,
        started,
        sdk_answer(started, code="FAILURE_TYPE_PG", message="사용자가 본인인증을 취소하였습니다"),
    )
    assert cancelled.status_code == 422
    assert "cancelled" in cancelled.json()["detail"]
    assert await count(provider_settings, "citizens") == 0


async def test_simulated_portone_not_finished_yet_can_be_completed_later(
    provider_client: httpx.AsyncClient, sims: Providers
) -> None:
    started = await start(provider_client)
    sims.portone.ready(portone_id(started))
    early = await complete(provider_client, started)
    assert early.status_code == 409
    assert early.json()["type"].endswith("/verification-pending")
    sims.portone.verify(portone_id(started), Person("portone-pending"))
    assert (await complete(provider_client, started)).status_code == 200


async def test_simulated_portone_outage_does_not_burn_the_attempt(
    provider_client: httpx.AsyncClient, sims: Providers
) -> None:
    started = await start(provider_client)
    sims.portone.verify(portone_id(started), Person("portone-outage"))
    sims.portone.outage = 502
    down = await complete(provider_client, started)
    assert down.status_code == 503
    assert down.headers["retry-after"] == "5"
    assert down.json()["type"].endswith("/provider-unavailable")
    sims.portone.outage = None
    assert (await complete(provider_client, started)).status_code == 200


async def test_simulated_portone_expired_verification_is_refused(
    provider_client: httpx.AsyncClient,
    sims: Providers,
    clock: ManualClock,
    provider_settings: IdentitySettings,
) -> None:
    started = await start(provider_client)
    sims.portone.verify(portone_id(started), Person("portone-expired"))
    clock.advance(seconds=provider_settings.verification_ttl_seconds + 1)
    late = await complete(provider_client, started)
    assert late.status_code == 410
    assert late.json()["type"].endswith("/verification-expired")
    assert await count(provider_settings, "citizens") == 0
    assert sims.portone.lookups == 0  # refused before asking PortOne


async def test_simulated_portone_verification_older_than_the_attempt_is_refused(
    provider_client: httpx.AsyncClient, sims: Providers, clock: ManualClock
) -> None:
    started = await start(provider_client)
    sims.portone.verify(
        portone_id(started), Person("portone-stale"), at=clock.now() - timedelta(hours=1)
    )
    stale = await complete(provider_client, started)
    assert stale.status_code == 422
    assert "older than this attempt" in stale.json()["detail"]


async def test_simulated_portone_replayed_callback_is_refused(
    provider_client: httpx.AsyncClient, sims: Providers, provider_settings: IdentitySettings
) -> None:
    started = await start(provider_client)
    sims.portone.verify(portone_id(started), Person("portone-replay"), pg_tx_id="danal-tx-1")
    assert (await complete(provider_client, started)).status_code == 200
    replay = await complete(provider_client, started)
    assert replay.status_code == 409
    assert replay.json()["type"].endswith("/verification-already-used")
    # The same provider transaction answered for another attempt (a replayed or forwarded
    # result): refused, nobody signed in, nothing created.
    other = await start(provider_client)
    sims.portone.verify(portone_id(other), Person("portone-replay-2"), pg_tx_id="danal-tx-1")
    again = await complete(provider_client, other)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/verification-replayed")
    assert await count(provider_settings, "citizens") == 1
    assert await count(provider_settings, "refresh_tokens") == 1
    assert await count(provider_settings, "verifications", "status = 'failed'") == 1


@pytest.mark.parametrize(
    "tamper",
    ["other-id", "answer-for-another", "no-ci", "no-birthdate", "malformed"],
)
async def test_simulated_portone_tampered_data_is_refused(
    provider_client: httpx.AsyncClient,
    sims: Providers,
    provider_settings: IdentitySettings,
    tamper: str,
) -> None:
    victim = await start(provider_client)
    sims.portone.verify(portone_id(victim), Person("portone-victim"))
    started = await start(provider_client)
    payload = sdk_answer(started)
    if tamper == "other-id":
        # Someone else's finished verification, posted to complete one's own attempt.
        payload["identityVerificationId"] = portone_id(victim)
    elif tamper == "answer-for-another":
        sims.portone.records[portone_id(started)] = sims.portone.records[portone_id(victim)]
    elif tamper == "no-ci":
        sims.portone.verify(portone_id(started), Person("portone-no-ci"), ci=None)
    elif tamper == "no-birthdate":
        sims.portone.verify(portone_id(started), Person("portone-no-bd"), birthDate=None)
    else:
        sims.portone.verify(portone_id(started), Person("x"))
        sims.portone.records[portone_id(started)]["verifiedCustomer"] = "garbage"
    refused = await complete(provider_client, started, payload)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/verification-rejected")
    assert await count(provider_settings, "citizens") == 0


async def test_simulated_portone_without_nationality_leaves_it_unknown(
    provider_client: httpx.AsyncClient, sims: Providers
) -> None:
    started = await start(provider_client)
    sims.portone.verify(portone_id(started), Person("portone-kakao", foreigner=None))
    done = (await complete(provider_client, started)).json()
    me = await provider_client.get("/v1/identity/me", headers=bearer(done["access_token"]))
    assert me.json()["is_foreigner"] is None
    claims = jwt.decode(done["access_token"], options={"verify_signature": False})
    assert "foreigner" not in claims


async def test_portone_takes_no_personal_details_at_start(
    provider_client: httpx.AsyncClient,
) -> None:
    person = {"name": "홍길동", "phone": "010-1234-5678", "birthdate": "1990-05-17"}
    response = await provider_client.post(
        "/v1/identity/verifications", json={"provider": "portone", "person": person}
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("/person-not-needed")
