"""The internal API for notify-svc: the encrypted mobile number captured at verification, the
staff lookup, and the service signature guarding both (against real PostgreSQL)."""

from __future__ import annotations

import base64
import logging
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from identity_helpers import bearer, verify
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from identity_svc import models
from identity_svc.bootstrap import bootstrap
from identity_svc.config import IdentitySettings
from identity_svc.main import create_app
from identity_svc.service.contacts import normalise_phone
from services.db import Base, create_engine, to_plain_url
from services.internal_auth import (
    DEV_NOTIFY_SERVICE_KEY,
    ServiceAuth,
    decode_service_key,
    dev_service_key,
)
from services.ratelimit import rate_limits
from services_dev.testing import running_app

NOTIFY = ServiceAuth("notify-svc", decode_service_key(DEV_NOTIFY_SERVICE_KEY))
IDENTITY_TABLES = [getattr(models, name) for name in models.__all__]


async def _contact(client: httpx.AsyncClient, citizen_id: str) -> httpx.Response:
    return await client.get(f"/internal/v1/citizens/{citizen_id}/contact", auth=NOTIFY)


async def _sql(settings: IdentitySettings, statement: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def test_the_verified_phone_is_served_as_digits_to_notify(client: httpx.AsyncClient) -> None:
    citizen = await verify(client, "contact-seed", phone="010-2345-6789")
    response = await _contact(client, citizen["citizen_id"])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "citizen_id": citizen["citizen_id"],
        "phone": "01023456789",
        "status": "active",
    }


async def test_a_later_verification_replaces_the_phone(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    first = await verify(client, "moving-seed", phone="010-2345-6789")
    again = await verify(client, "moving-seed", provider="sandbox_pass", phone="011-234-5678")
    assert again["citizen_id"] == first["citizen_id"]
    assert (await _contact(client, first["citizen_id"])).json()["phone"] == "0112345678"
    rows = await _sql(identity_settings, "SELECT citizen_id FROM citizen_contacts")
    assert [str(r["citizen_id"]) for r in rows] == [first["citizen_id"]]


async def test_a_citizen_without_a_captured_phone_has_null(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    citizen = await verify(client, "no-phone-yet")
    await _sql(identity_settings, "DELETE FROM citizen_contacts")
    response = await _contact(client, citizen["citizen_id"])
    assert response.status_code == 200
    assert response.json()["phone"] is None


async def test_an_unknown_citizen_is_404(client: httpx.AsyncClient) -> None:
    response = await _contact(client, str(uuid.uuid4()))
    assert response.status_code == 404
    assert response.json()["type"].endswith("/citizen-not-found")


async def test_a_suspended_citizen_is_reported_as_suspended(client: httpx.AsyncClient) -> None:
    admin = await verify(client, "contact-admin", roles=["admin"])
    citizen = await verify(client, "to-suspend")
    suspended = await client.post(
        f"/v1/identity/citizens/{citizen['citizen_id']}/suspension",
        json={"reason": "명의 도용 신고 조사 중"},
        headers=bearer(admin["access_token"]),
    )
    assert suspended.status_code == 200, suspended.text
    assert (await _contact(client, citizen["citizen_id"])).json()["status"] == "suspended"


async def test_sealed_phones_cannot_be_swapped_between_citizens(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    """The ciphertext is bound to its citizen id: a row copied onto another citizen does not
    open, so it can never hand out someone else's number."""
    alice = await verify(client, "alice-seed", phone="010-1111-2222")
    bob = await verify(client, "bob-seed", phone="010-3333-4444")
    await _sql(
        identity_settings,
        "UPDATE citizen_contacts SET phone_sealed = "
        "(SELECT phone_sealed FROM citizen_contacts WHERE citizen_id = $1) WHERE citizen_id = $2",
        uuid.UUID(alice["citizen_id"]),
        uuid.UUID(bob["citizen_id"]),
    )
    response = await _contact(client, bob["citizen_id"])
    assert response.status_code == 500
    assert response.json()["type"].endswith("/contact-unreadable")
    assert "01011112222" not in response.text
    assert (await _contact(client, alice["citizen_id"])).json()["phone"] == "01011112222"


async def test_the_phone_is_never_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    citizen = await verify(client, "quiet-seed", phone="010-9876-5432")
    await verify(client, "quiet-seed", phone="019-876-5400")
    assert (await _contact(client, citizen["citizen_id"])).json()["phone"] == "0198765400"
    logged = caplog.text + "".join(capfd.readouterr())
    for shown in ("01098765432", "010-9876-5432", "0198765400", "019-876-5400"):
        assert shown not in logged


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("010-1234-5678", "01012345678"),
        ("01012345678", "01012345678"),
        ("011-234-5678", "0112345678"),
        ("+82 10-1234-5678", "01012345678"),
        ("+82-10-1234-5678", "01012345678"),
        ("02-123-4567", None),
        ("010-1234-567", None),
        ("0101234567890", None),
        ("", None),
    ],
)
def test_phone_numbers_are_normalised_to_digits(raw: str, digits: str | None) -> None:
    assert normalise_phone(raw) == digits


# --- signature ------------------------------------------------------------------------------


async def test_internal_endpoints_refuse_unsigned_and_badly_signed_requests(
    client: httpx.AsyncClient,
) -> None:
    citizen = await verify(client, "guarded-seed")
    path = f"/internal/v1/citizens/{citizen['citizen_id']}/contact"
    unsigned = await client.get(path)
    assert unsigned.status_code == 401
    assert unsigned.json()["type"].endswith("/service-auth-required")
    forged = await client.get(path, auth=ServiceAuth("notify-svc", b"x" * 32))
    assert forged.status_code == 401
    assert forged.json()["type"].endswith("/service-auth-invalid")
    # A citizen's access token is no way in either.
    token = await client.get(path, headers=bearer(citizen["access_token"]))
    assert token.status_code == 401
    listing = await client.get("/internal/v1/citizens", params={"role": "admin"})
    assert listing.status_code == 401
    assert "010" not in unsigned.text + forged.text + token.text


async def test_a_known_service_other_than_notify_is_403(
    identity_settings: IdentitySettings,
) -> None:
    ledger_key = b"L" * 32
    settings = IdentitySettings(
        **{
            **identity_settings.model_dump(),
            "internal_keys": {
                "notify-svc": DEV_NOTIFY_SERVICE_KEY,
                "ledger-svc": base64.b64encode(ledger_key).decode(),
            },
        }
    )
    async with running_app(create_app(bootstrap(settings))) as client:
        citizen = await verify(client, "ledger-wants-it")
        response = await client.get(
            f"/internal/v1/citizens/{citizen['citizen_id']}/contact",
            auth=ServiceAuth("ledger-svc", ledger_key),
        )
        assert response.status_code == 403
        assert response.json()["type"].endswith("/service-not-allowed")
        assert (await _contact(client, citizen["citizen_id"])).status_code == 200


# --- staff lookup ---------------------------------------------------------------------------


async def _staff(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    return await client.get("/internal/v1/citizens", params=params, auth=NOTIFY)


async def test_staff_are_listed_by_role_and_department(client: httpx.AsyncClient) -> None:
    transport = await verify(client, "traffic-1", roles=["department"], department="교통실")
    climate = await verify(client, "climate-1", roles=["department"], department="기후환경본부")
    both = await verify(client, "traffic-admin", roles=["department", "admin"], department="교통실")
    await verify(client, "just-a-citizen")
    mayor = await verify(client, "mayor-office-1", roles=["mayor_office"])

    everyone = (await _staff(client, role="department")).json()
    assert everyone["next_cursor"] is None
    assert [item["citizen_id"] for item in everyone["items"]] == sorted(
        [transport["citizen_id"], climate["citizen_id"], both["citizen_id"]]
    )
    traffic = (await _staff(client, role="department", department="교통실")).json()
    assert {item["citizen_id"] for item in traffic["items"]} == {
        transport["citizen_id"],
        both["citizen_id"],
    }
    admins = (await _staff(client, role="admin", department="교통실")).json()["items"]
    assert admins == [
        {
            "citizen_id": both["citizen_id"],
            "roles": ["citizen", "admin", "department"],
            "department": "교통실",
        }
    ]
    office = (await _staff(client, role="mayor_office")).json()["items"]
    assert office == [
        {
            "citizen_id": mayor["citizen_id"],
            "roles": ["citizen", "mayor_office"],
            "department": None,
        }
    ]
    assert (await _staff(client, role="committee")).json() == {"items": [], "next_cursor": None}


async def test_staff_pages_follow_the_cursor_to_the_end(client: httpx.AsyncClient) -> None:
    ids = sorted(
        [
            (await verify(client, f"committee-{n}", roles=["committee"]))["citizen_id"]
            for n in range(5)
        ]
    )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"role": "committee", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await _staff(client, **params)).json()
        pages += 1
        seen += [item["citizen_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3


async def test_suspended_staff_are_left_out(client: httpx.AsyncClient) -> None:
    admin = await verify(client, "staff-admin", roles=["admin"])
    member = await verify(client, "committee-suspended", roles=["committee"])
    await client.post(
        f"/v1/identity/citizens/{member['citizen_id']}/suspension",
        json={"reason": "조사 중"},
        headers=bearer(admin["access_token"]),
    )
    assert (await _staff(client, role="committee")).json()["items"] == []


@pytest.mark.parametrize(
    ("params", "status", "slug"),
    [
        ({"role": "citizen"}, 422, "validation-error"),
        ({}, 422, "validation-error"),
        ({"role": "admin", "limit": 0}, 422, "validation-error"),
        ({"role": "admin", "limit": 501}, 422, "validation-error"),
        ({"role": "admin", "cursor": "not-a-cursor!"}, 400, "invalid-cursor"),
        ({"role": "admin", "cursor": "AAAA"}, 400, "invalid-cursor"),
    ],
)
async def test_bad_staff_queries_are_refused(
    client: httpx.AsyncClient, params: dict[str, Any], status: int, slug: str
) -> None:
    response = await _staff(client, **params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/" + slug)


# --- schema ---------------------------------------------------------------------------------


def _schema_differences(connection: Connection) -> list[Any]:
    # Only identity-svc's tables: other services' models may share Base.metadata in this process.
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for model in IDENTITY_TABLES:
        model.__table__.to_metadata(metadata)
    # The verification starts' rate-limit counters (services.ratelimit, migration 0005).
    rate_limits.to_metadata(metadata)
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    differences: list[Any] = compare_metadata(context, metadata)
    return differences


async def test_migrations_create_exactly_the_models(identity_settings: IdentitySettings) -> None:
    """Migration 0002 (citizen_contacts and the staff-lookup index) matches the models."""
    engine = create_engine(identity_settings.database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_schema_differences) == []
    finally:
        await engine.dispose()


# --- current status (services.live_principal) -----------------------------------------------


async def test_any_platform_service_reads_a_citizens_current_roles_and_status(
    client: httpx.AsyncClient,
) -> None:
    admin = await verify(client, "status-admin", roles=["admin"])
    citizen = await verify(client, "status-citizen")
    proposal_svc = ServiceAuth("proposal-svc", decode_service_key(dev_service_key("proposal-svc")))
    path = f"/internal/v1/citizens/{citizen['citizen_id']}/status"
    before = await client.get(path, auth=proposal_svc)
    assert before.status_code == 200, before.text
    assert before.json() == {
        "citizen_id": citizen["citizen_id"],
        "status": "active",
        "roles": ["citizen"],
        "department": None,
    }
    granted = await client.put(
        f"/v1/identity/citizens/{citizen['citizen_id']}/roles",
        json={"roles": ["citizen", "department"], "department": "교통실"},
        headers=bearer(admin["access_token"]),
    )
    assert granted.status_code == 200, granted.text
    # The citizen's token still says "citizen"; the status says what they hold now.
    after = (await client.get(path, auth=proposal_svc)).json()
    assert (after["roles"], after["department"]) == (["citizen", "department"], "교통실")
    await client.post(
        f"/v1/identity/citizens/{citizen['citizen_id']}/suspension",
        json={"reason": "조사 중"},
        headers=bearer(admin["access_token"]),
    )
    assert (await client.get(path, auth=proposal_svc)).json()["status"] == "suspended"
    unknown = await client.get(f"/internal/v1/citizens/{uuid.uuid4()}/status", auth=NOTIFY)
    assert unknown.status_code == 404
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=bearer(citizen["access_token"]))).status_code == 401
