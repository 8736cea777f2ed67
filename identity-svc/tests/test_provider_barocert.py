"""Sign-in through the barocert (Kakao) adapter against a simulated barocert that checks our
Linkhub token signature, request signatures and field encryption: end to end from a web page
and from an app, refusals, expiry, replays and tampering."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
from identity_helpers import bearer, count, fetchval
from provider_sims import BAROCERT_SECRET, PROVIDER_SETTINGS, Person, Providers

from identity_svc.bootstrap import bootstrap
from identity_svc.config import IdentitySettings
from identity_svc.main import create_app
from services.clock import ManualClock
from services_dev.testing import running_app

PERSON = {"name": "김시민", "phone": "010-2345-6789", "birthdate": "1988-03-09"}


async def start(
    client: httpx.AsyncClient, channel: str = "web", person: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(
        "/v1/identity/verifications",
        json={"provider": "barocert_kakao", "channel": channel, "person": person or PERSON},
    )


async def started(client: httpx.AsyncClient, channel: str = "web") -> tuple[str, str]:
    """Start; returns our verification id and barocert's receipt id."""
    response = await start(client, channel)
    assert response.status_code == 201, response.text
    body = response.json()
    return body["verification_id"], await receipt_of(client, body["verification_id"])


async def receipt_of(client: httpx.AsyncClient, verification_id: str) -> str:
    """barocert's receipt id of our attempt (what the adapter kept when it started)."""
    app = client._transport.app  # type: ignore[attr-defined]
    query = "SELECT provider_ref FROM verifications WHERE id = $1::uuid"
    return str(await fetchval(app.state.ctx.settings, query, verification_id))


async def complete(
    client: httpx.AsyncClient, verification_id: str, payload: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(
        f"/v1/identity/verifications/{verification_id}/complete", json=payload or {}
    )


async def test_simulated_barocert_sign_in_from_a_web_page(
    provider_client: httpx.AsyncClient, sims: Providers
) -> None:
    response = await start(provider_client)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["next"]["type"] == "app_push"
    assert body["next"]["app"] == "KakaoTalk"
    assert body["next"]["complete_with"] == {}
    receipt_id = await receipt_of(provider_client, body["verification_id"])
    receipt = sims.barocert.receipts[receipt_id]
    # barocert received the person, decrypted with the shared key; the token is the attempt's.
    assert (receipt.hp, receipt.name, receipt.birthday) == ("01023456789", "김시민", "19880309")
    assert receipt.app is False
    sims.barocert.confirm(receipt_id, Person("barocert-web"))
    done = await complete(provider_client, body["verification_id"])
    assert done.status_code == 200, done.text
    me = await provider_client.get("/v1/identity/me", headers=bearer(done.json()["access_token"]))
    assert me.json()["providers"] == ["barocert_kakao"]
    claims = jwt.decode(done.json()["access_token"], options={"verify_signature": False})
    assert claims["foreigner"] is False


async def test_simulated_barocert_sign_in_from_an_app(
    provider_client: httpx.AsyncClient, sims: Providers
) -> None:
    response = await start(provider_client, channel="app")
    body = response.json()
    assert body["next"]["type"] == "app_to_app"
    receipt_id = await receipt_of(provider_client, body["verification_id"])
    assert body["next"]["scheme"] == f"kakaotalk://bizcert/barocert?txId={receipt_id}"
    assert sims.barocert.receipts[receipt_id].app is True
    sims.barocert.confirm(receipt_id, Person("barocert-app"))
    assert (await complete(provider_client, body["verification_id"])).status_code == 200
    # One Linkhub token served every call.
    assert sims.barocert.tokens_issued == 1


async def test_simulated_barocert_person_unknown_to_kakao_is_refused_at_start(
    provider_client: httpx.AsyncClient, sims: Providers, provider_settings: IdentitySettings
) -> None:
    sims.barocert.unknown_phones.add("01023456789")
    refused = await start(provider_client)
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/verification-rejected")
    assert await count(provider_settings, "verifications") == 0


async def test_barocert_needs_the_person(provider_client: httpx.AsyncClient) -> None:
    response = await provider_client.post(
        "/v1/identity/verifications", json={"provider": "barocert_kakao"}
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("/person-required")


async def test_simulated_barocert_declined_request_is_refused(
    provider_client: httpx.AsyncClient, sims: Providers, provider_settings: IdentitySettings
) -> None:
    verification_id, receipt_id = await started(provider_client)
    sims.barocert.receipts[receipt_id].state = 3
    refused = await complete(provider_client, verification_id)
    assert refused.status_code == 422
    assert "declined" in refused.json()["detail"]
    sims.barocert.confirm(receipt_id, Person("barocert-declined"))
    assert (await complete(provider_client, verification_id)).status_code == 409
    assert await count(provider_settings, "citizens") == 0


async def test_simulated_barocert_not_confirmed_yet_can_be_completed_later(
    provider_client: httpx.AsyncClient, sims: Providers
) -> None:
    verification_id, receipt_id = await started(provider_client)
    early = await complete(provider_client, verification_id)
    assert early.status_code == 409
    assert early.json()["type"].endswith("/verification-pending")
    sims.barocert.confirm(receipt_id, Person("barocert-pending"))
    assert (await complete(provider_client, verification_id)).status_code == 200


async def test_simulated_barocert_expired_request_is_refused(
    provider_client: httpx.AsyncClient, sims: Providers, provider_settings: IdentitySettings
) -> None:
    verification_id, receipt_id = await started(provider_client)
    sims.barocert.receipts[receipt_id].state = 2
    expired = await complete(provider_client, verification_id)
    assert expired.status_code == 410
    assert expired.json()["type"].endswith("/verification-expired")
    assert await count(provider_settings, "citizens") == 0


async def test_simulated_barocert_attempt_expired_on_our_side(
    provider_client: httpx.AsyncClient,
    sims: Providers,
    clock: ManualClock,
    provider_settings: IdentitySettings,
) -> None:
    verification_id, receipt_id = await started(provider_client)
    sims.barocert.confirm(receipt_id, Person("barocert-late"))
    clock.advance(seconds=provider_settings.verification_ttl_seconds + 1)
    assert (await complete(provider_client, verification_id)).status_code == 410


async def test_simulated_barocert_replayed_callback_is_refused(
    provider_client: httpx.AsyncClient, sims: Providers, provider_settings: IdentitySettings
) -> None:
    sims.barocert.fixed_receipt_id = "0" * 31 + "7"
    first, receipt_id = await started(provider_client)
    sims.barocert.confirm(receipt_id, Person("barocert-replay"))
    assert (await complete(provider_client, first)).status_code == 200
    assert (await complete(provider_client, first)).status_code == 409
    # A second attempt answered with the same (already used) receipt.
    second, same = await started(provider_client)
    assert same == receipt_id
    sims.barocert.receipts[receipt_id].verified = False
    sims.barocert.confirm(receipt_id, Person("barocert-replay"))
    again = await complete(provider_client, second)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/verification-replayed")
    assert await count(provider_settings, "citizens") == 1
    assert await count(provider_settings, "refresh_tokens") == 1


async def test_simulated_barocert_tampered_signature_is_refused(
    provider_client: httpx.AsyncClient, sims: Providers, provider_settings: IdentitySettings
) -> None:
    verification_id, receipt_id = await started(provider_client)
    sims.barocert.confirm(receipt_id, Person("barocert-tampered"))
    sims.barocert.receipts[receipt_id].signed_data = "a signature made for another request"
    refused = await complete(provider_client, verification_id)
    assert refused.status_code == 422
    assert "not made for this verification" in refused.json()["detail"]
    assert await count(provider_settings, "citizens") == 0


async def test_simulated_barocert_foreign_receipt_is_refused(
    provider_client: httpx.AsyncClient, sims: Providers, provider_settings: IdentitySettings
) -> None:
    victim, victim_receipt = await started(provider_client)
    sims.barocert.confirm(victim_receipt, Person("barocert-victim"))
    mine, _ = await started(provider_client)
    refused = await complete(provider_client, mine, {"receiptID": victim_receipt})
    assert refused.status_code == 422
    assert await count(provider_settings, "citizens") == 0
    # The victim's own attempt is unharmed.
    assert (await complete(provider_client, victim)).status_code == 200


async def test_simulated_barocert_refuses_a_wrong_secret_key(
    provider_settings: IdentitySettings, clock: ManualClock, sims: Providers
) -> None:
    """A request signed with another key is refused by barocert: a configuration error (502),
    not the person's fault."""
    wrong = IdentitySettings(
        **{
            **provider_settings.model_dump(exclude_unset=True),
            **PROVIDER_SETTINGS,
            "barocert_secret_key": "A" * 43 + "=",
        }
    )
    assert wrong.barocert_secret_key is not None
    assert wrong.barocert_secret_key.get_secret_value() != BAROCERT_SECRET
    ctx = bootstrap(wrong, clock=clock, transport=sims.transport())
    async with running_app(create_app(ctx)) as client:
        response = await start(client)
    assert response.status_code == 502
    assert response.json()["type"].endswith("/provider-misconfigured")
