"""PortOne identity verification (V2): the front end runs PortOne's SDK with an id we choose, we
read the result server to server.

Contract (developers.portone.io, the V2 OpenAPI document ``v2.openapi.json`` and the browser
SDK's ``browser-sdk.yml``; docs/identity.md):

1. ``start`` chooses the ``identityVerificationId`` (``identity-verification-<our attempt id>``)
   and tells the front end to call ``PortOne.requestIdentityVerification({storeId,
   identityVerificationId, channelKey})`` (the browser SDK: popup, or redirect to
   ``redirectUrl`` on mobile browsers; the React Native SDK in an app).
2. The front end posts what the SDK answered (or the redirect's query string) to
   ``/complete``: ``{"identityVerificationId": ..., "code"?: ..., "message"?: ...}``.
3. ``complete`` trusts nothing of it but the id, which must be the one chosen in step 1, and
   asks PortOne: ``GET {api}/identity-verifications/{id}`` with ``Authorization: PortOne
   <API secret>``. The answer is one of ``READY`` (not finished), ``FAILED`` (with
   ``failure.reason``/``pgCode``) or ``VERIFIED`` with ``verifiedCustomer`` {``name``,
   ``birthDate``, ``gender``, ``isForeigner``, ``phoneNumber``, ``ci``, ``di``} and ``pgTxId``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from identity_svc.providers._http import call, json_of, parse
from identity_svc.providers.base import (
    ProviderError,
    StartRequest,
    StartResult,
    VerificationContext,
    VerifiedIdentity,
    no_person,
    pending,
    refuse_if,
)

#: How far PortOne's clock and ours may disagree when we check that a verification is fresh.
CLOCK_SKEW = timedelta(minutes=1)


# The models below keep PortOne's camelCase field names: they are its documented shapes.


class PortOneCompletion(BaseModel):
    """What the SDK answered the front end (or the redirect's query string)."""

    model_config = ConfigDict(extra="ignore")

    identityVerificationId: str = Field(min_length=1, max_length=200)
    #: Set when the SDK reports a failure or a cancellation.
    code: str | None = Field(default=None, max_length=200)
    message: str | None = Field(default=None, max_length=2000)


class _Customer(BaseModel):
    """``IdentityVerificationVerifiedCustomer``."""

    model_config = ConfigDict(extra="ignore")

    name: str
    ci: str | None = None
    di: str | None = None
    birthDate: date | None = None
    gender: Literal["MALE", "FEMALE", "OTHER"] | None = None
    isForeigner: bool | None = None
    phoneNumber: str | None = None


class _Record(BaseModel):
    """What every ``IdentityVerification`` has."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["READY", "FAILED", "VERIFIED"]
    id: str
    requestedAt: datetime


class _Failure(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: str | None = None
    pgCode: str | None = None


class _Failed(_Record):
    failure: _Failure


class _Verified(_Record):
    verifiedCustomer: _Customer
    verifiedAt: datetime
    pgTxId: str = Field(min_length=1)


_GENDERS: dict[str, Literal["male", "female"]] = {"MALE": "male", "FEMALE": "female"}


class PortOneProvider:
    """PortOne V2 identity verification behind :class:`~identity_svc.providers.IdentityProvider`."""

    name = "portone"

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        api_url: str,
        api_secret: SecretStr,
        store_id: str,
        channel_key: str,
    ) -> None:
        self._client = client
        self._api_url = api_url.rstrip("/")
        self._secret = api_secret
        self._store_id = store_id
        self._channel_key = channel_key

    @staticmethod
    def verification_id(context: VerificationContext) -> str:
        """The ``identityVerificationId`` of our attempt: unique, and ours to choose."""
        return f"identity-verification-{context.verification_id}"

    async def start(self, context: VerificationContext, request: StartRequest) -> StartResult:
        """The SDK call the front end makes (nothing is sent to PortOne yet)."""
        no_person(request, self.name)
        identity_verification_id = self.verification_id(context)
        sdk = "@portone/browser-sdk" if request.channel == "web" else "@portone/react-native-sdk"
        return StartResult(
            next={
                "type": "portone",
                "sdk": sdk,
                "call": "requestIdentityVerification",
                "parameters": {
                    "storeId": self._store_id,
                    "identityVerificationId": identity_verification_id,
                    "channelKey": self._channel_key,
                },
                "complete_url": f"/v1/identity/verifications/{context.verification_id}/complete",
                "complete_with": "the SDK's answer, or the redirect's query parameters",
            },
            provider_ref=identity_verification_id,
        )

    async def complete(
        self, context: VerificationContext, payload: Mapping[str, Any]
    ) -> VerifiedIdentity:
        """Read the verification from PortOne and check it belongs to this attempt."""
        posted = parse(PortOneCompletion, payload, "completion")
        expected = context.provider_ref or self.verification_id(context)
        refuse_if(
            posted.identityVerificationId != expected,
            "identityVerificationId is not the one this verification was started with",
        )
        record = await self._fetch(expected)
        refuse_if(record.get("id") != expected, "PortOne answered for another verification")
        status = parse(_Record, record, "PortOne's verification").status
        if status == "FAILED":
            failure = parse(_Failed, record, "PortOne's verification").failure
            raise ProviderError(
                f"PortOne: the verification failed ({failure.pgCode or failure.reason or '?'})"
            )
        if status == "READY":
            if posted.code is not None:
                # The SDK reported a cancellation or an error before anything was verified.
                raise ProviderError(f"the verification was cancelled or failed ({posted.code})")
            raise pending("the person has not finished the verification with PortOne yet")
        return self._identity(context, parse(_Verified, record, "PortOne's verification"))

    async def _fetch(self, identity_verification_id: str) -> Mapping[str, Any]:
        response = await call(
            self._client,
            self.name,
            "GET",
            f"{self._api_url}/identity-verifications/{quote(identity_verification_id, safe='')}",
            headers={"Authorization": f"PortOne {self._secret.get_secret_value()}"},
        )
        if response.status_code == 404:
            raise ProviderError("PortOne knows no such verification")
        if response.status_code != 200:
            raise ProviderError(f"PortOne refused the lookup (HTTP {response.status_code})")
        return json_of(response, "PortOne's answer")

    def _identity(self, context: VerificationContext, record: _Verified) -> VerifiedIdentity:
        earliest = context.started_at - CLOCK_SKEW
        refuse_if(
            record.requestedAt < earliest or record.verifiedAt < earliest,
            "PortOne's verification is older than this attempt",
        )
        customer = record.verifiedCustomer
        ci, birthdate = customer.ci, customer.birthDate
        if not ci:
            raise ProviderError("PortOne gave no CI (it must be enabled on the PortOne channel)")
        if birthdate is None:
            raise ProviderError("PortOne gave no birth date")
        return VerifiedIdentity(
            provider=self.name,
            ci=SecretStr(ci),
            di=SecretStr(customer.di) if customer.di else None,
            birthdate=birthdate,
            is_foreigner=customer.isForeigner,
            phone=SecretStr(customer.phoneNumber) if customer.phoneNumber else None,
            name=SecretStr(customer.name),
            gender=_GENDERS.get(customer.gender or ""),
            tx_ref=record.pgTxId,
        )
