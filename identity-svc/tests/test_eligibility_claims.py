"""What is kept of a verified person for eligibility, the claims access tokens carry, the real
providers' configuration, and that nothing raw of a real provider's answer is stored."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from typing import Any

import httpx
import jwt
import pytest
from identity_helpers import (
    assert_not_stored,
    bearer,
    execute,
    fetchval,
    stored_text,
    verify,
)
from provider_sims import PROVIDER_SETTINGS, Person, Providers, fake_ci, fake_di
from pydantic import ValidationError
from test_provider_barocert import receipt_of

from identity_svc.bootstrap import build_providers
from identity_svc.claims import EligibilityFacts, certain_age, korean_date
from identity_svc.config import IdentitySettings
from services.clock import ManualClock


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def test_the_age_claim_is_never_older_than_the_person() -> None:
    march_1990 = date(1990, 3, 1)
    # During the birth month the birthday may not have come yet: still the younger age.
    assert certain_age(march_1990, date(2024, 2, 28)) == 33
    assert certain_age(march_1990, date(2024, 3, 31)) == 33
    assert certain_age(march_1990, date(2024, 4, 1)) == 34
    # The day ages turn is the day in Korea.
    assert korean_date(datetime(2024, 3, 31, 15, 30, tzinfo=UTC)) == date(2024, 4, 1)


def test_citizens_verified_before_the_birth_month_was_kept_get_their_bands_floor() -> None:
    legacy = EligibilityFacts(None, "14_17", datetime(2022, 6, 1, tzinfo=UTC), False, None)
    assert legacy.age(date(2022, 6, 1)) == 14
    assert legacy.age(date(2024, 5, 31)) == 15
    assert legacy.age(date(2024, 6, 1)) == 16
    assert legacy.claims(date(2024, 6, 1)) == {"age": 16, "foreigner": False}


async def test_tokens_carry_the_eligibility_claims(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    today = korean_date(datetime.now(UTC))
    thirteen = date(today.year - 13, today.month, min(today.day, 28))
    minor = await verify(client, "claims-minor", birthdate=thirteen.isoformat())
    assert claims_of(minor["access_token"])["age"] in (12, 13)
    adult = await verify(client, "claims-adult", foreigner=True, residency="worker")
    claims = claims_of(adult["access_token"])
    assert claims["foreigner"] is True
    assert claims["residency"] == "worker"
    assert claims["age"] == certain_age(date(1988, 3, 1), today)
    # The row keeps the first day of the birth month, not the birth date.
    stored = await fetchval(
        identity_settings,
        "SELECT birth_month FROM citizens WHERE id = $1::uuid",
        adult["citizen_id"],
    )
    assert stored == date(1988, 3, 1)
    # And when the account was created, cut to the hour (vote-svc's integrity signals).
    created = await fetchval(
        identity_settings,
        "SELECT created_at FROM citizens WHERE id = $1::uuid",
        adult["citizen_id"],
    )
    assert claims["since"] == int(created.timestamp()) // 3600 * 3600


async def test_refreshed_tokens_carry_them_too_and_a_later_provider_keeps_what_was_said(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    first = await verify(client, "claims-refresh", residency="student")
    # A re-verification that vouches for no residency does not erase the earlier one.
    await verify(client, "claims-refresh", provider="sandbox_pass")
    refreshed = await client.post(
        "/v1/identity/tokens/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert claims_of(refreshed.json()["access_token"])["residency"] == "student"
    # A citizen from before the birth month was kept: the age comes from the band.
    await execute(identity_settings, "UPDATE citizens SET birth_month = NULL")
    again = await client.post(
        "/v1/identity/tokens/refresh", json={"refresh_token": refreshed.json()["refresh_token"]}
    )
    assert claims_of(again.json()["access_token"])["age"] >= 30


async def test_nothing_raw_of_a_real_providers_answer_is_stored(
    provider_client: httpx.AsyncClient,
    sims: Providers,
    provider_settings: IdentitySettings,
    clock: ManualClock,
) -> None:
    person = Person("pipa-real-providers", name="박보호", birthdate="1979-11-23")
    response = await provider_client.post(
        "/v1/identity/verifications", json={"provider": "portone"}
    )
    started = response.json()
    sims.portone.verify(started["next"]["parameters"]["identityVerificationId"], person)
    done = await provider_client.post(
        started["next"]["complete_url"],
        json={"identityVerificationId": started["next"]["parameters"]["identityVerificationId"]},
    )
    assert done.status_code == 200, done.text
    response = await provider_client.post(
        "/v1/identity/verifications",
        json={
            "provider": "barocert_kakao",
            "person": {"name": "박보호", "phone": "010-2345-6789", "birthdate": "1979-11-23"},
        },
    )
    barocert_id = response.json()["verification_id"]
    sims.barocert.confirm(await receipt_of(provider_client, barocert_id), person)
    again = await provider_client.post(response.json()["next"]["complete_url"], json={})
    assert again.json()["citizen_id"] == done.json()["citizen_id"]  # one person, one account
    _, dump = await stored_text(provider_settings)
    assert_not_stored(
        dump,
        [
            "박보호",
            "01023456789",
            "010-2345-6789",
            "1979-11-23",
            "19791123",
            fake_ci(person.seed),
            fake_di("portone", person.seed),
        ],
    )
    me = await provider_client.get("/v1/identity/me", headers=bearer(again.json()["access_token"]))
    assert sorted(me.json()["providers"]) == ["barocert_kakao", "portone"]


def test_a_provider_is_offered_only_when_configured() -> None:
    assert build_providers(IdentitySettings(environment="test")).names == [
        "sandbox",
        "sandbox_pass",
    ]
    configured = IdentitySettings(environment="test", **PROVIDER_SETTINGS)
    assert build_providers(configured).names == [
        "barocert_kakao",
        "portone",
        "sandbox",
        "sandbox_pass",
    ]


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"portone_api_secret": "s"}, "IDENTITY_PORTONE_STORE_ID, IDENTITY_PORTONE_CHANNEL_KEY"),
        (
            {**PROVIDER_SETTINGS, "barocert_secret_key": base64.b64encode(b"short").decode()},
            "IDENTITY_BAROCERT_SECRET_KEY",
        ),
        ({**PROVIDER_SETTINGS, "barocert_client_code": "12345"}, "barocert_client_code"),
    ],
    ids=["partial-portone", "short-barocert-key", "client-code"],
)
def test_incomplete_provider_settings_are_refused(settings: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        IdentitySettings(environment="test", **settings)


def test_production_talks_to_providers_over_https_only() -> None:
    production: dict[str, Any] = {
        "environment": "production",
        "ci_pepper": "p" * 32,
        "di_pepper": "d" * 32,
        "key_encryption_key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "contact_key": base64.b64encode(b"c" * 32).decode(),
        "internal_keys": {"notify-svc": base64.b64encode(b"n" * 32).decode()},
    }
    with pytest.raises(ValidationError, match="IDENTITY_PORTONE_API_URL must be an https"):
        IdentitySettings(**production, **{**PROVIDER_SETTINGS, "portone_api_url": "http://api"})
    settings = IdentitySettings(**production, **PROVIDER_SETTINGS)
    # The sandbox stays refused; the real providers are offered.
    assert build_providers(settings).names == ["barocert_kakao", "portone"]
