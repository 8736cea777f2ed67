"""barocert (Linkhub) Kakao identity verification (카카오 본인인증): the person types their
name, mobile number and birth date, confirms in KakaoTalk, and we verify the signature server to
server.

Contract, as barocert's own SDKs implement it (barocert/barocert.py ``base.py`` and
``kakaocertService.py``, barocert/barocert.sdk.java ``ServiceImpBase``, linkhub-sdk/linkhub.py;
docs/identity.md says where they disagree and which we follow):

- **Token.** ``POST {auth}/BAROCERT/Token`` with ``{"access_id": "", "scope": [...]}``, headers
  ``x-lh-date`` (UTC), ``x-lh-version: 2.0``, ``x-lh-forwarded: *`` and ``Authorization:
  LINKHUB <LinkID> <signature>``: base64 HMAC-SHA256 under the base64-decoded SecretKey of
  ``"POST\\n" + b64(sha256(body)) + "\\n" + date + "\\n*\\n2.0\\n/BAROCERT/Token"``. The answer
  carries ``session_token`` and ``expiration``.
- **Calls.** ``Authorization: Bearer <session_token>``, ``x-bc-version: 2.1``; a POST also
  signs ``"POST\\n" [+ b64(sha256(body)) + "\\n"] + x-bc-date + "\\n" + path + "\\n"`` into
  ``x-bc-auth`` and says ``x-bc-encryptionmode: GCM``. Personal fields of a request are
  ``base64(iv(12) || AES-256-GCM(SecretKey, utf-8) || tag)``. Errors answer non-200 with
  ``{"code": <negative int>, "message": ...}``.
- **Flow.** ``POST /KAKAO/Identity/{clientCode}`` {receiverHP, receiverName, receiverBirthday
  (encrypted), reqTitle, expireIn, token (encrypted), appUseYN, returnURL} → ``{receiptID
  (32 digits), scheme}``; ``GET /KAKAO/Identity/{clientCode}/{receiptID}`` → ``{state}``
  (0 waiting, 1 done, 2 expired, 3 refused, 4 failed); ``POST
  /KAKAO/Identity/Verify/{clientCode}/{receiptID}`` (once, within 10 minutes of the signature)
  → {receiptID, state, signedData, ci, receiverName, receiverYear, receiverDay, receiverHP,
  receiverGender, receiverForeign, receiverTelcoType}. ``signedData`` must equal the token we
  sent: that binds the signature to this attempt.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from identity_svc.providers._http import call, json_of, parse
from identity_svc.providers.base import (
    ProviderError,
    StartRequest,
    StartResult,
    VerificationContext,
    VerifiedIdentity,
    expired,
    pending,
    refuse_if,
)
from services.problems import ProblemError

LINKHUB_VERSION = "2.0"
API_VERSION = "2.1"
#: barocert keeps a request for at most this long (``expireIn``).
MAX_EXPIRE_IN = 1000
#: The Linkhub scopes of the Kakao service (kakaocertService.py).
KAKAO_SCOPES = ("partner", "401", "402", "403", "404", "405")
_RECEIPT_ID = re.compile(r"^\d{32}$")


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _b64_hmac(key: bytes, target: str) -> str:
    return base64.b64encode(hmac.new(key, target.encode(), hashlib.sha256).digest()).decode()


def _utc(now: datetime, millis: bool) -> str:
    stamp = now.astimezone(UTC)
    if millis:
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def encrypt(key: bytes, plaintext: str) -> str:
    """A personal field as barocert wants it: base64(iv || AES-256-GCM ciphertext || tag)."""
    iv = os.urandom(12)
    return base64.b64encode(iv + AESGCM(key).encrypt(iv, plaintext.encode(), None)).decode()


# The models below keep barocert's field names: they are its documented shapes.


class _Receipt(BaseModel):
    model_config = ConfigDict(extra="ignore")

    receiptID: str = Field(pattern=_RECEIPT_ID.pattern)
    scheme: str | None = None


class _Status(BaseModel):
    model_config = ConfigDict(extra="ignore")

    receiptID: str
    state: int


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore")

    receiptID: str
    state: int
    signedData: str
    ci: str | None = None
    receiverName: str | None = None
    receiverYear: str = Field(pattern=r"^\d{4}$")
    receiverDay: str = Field(pattern=r"^\d{4}$")
    receiverHP: str | None = None
    receiverGender: str | None = None
    receiverForeign: str | None = None


class BarocertCompletion(BaseModel):
    """The front end posts ``{}`` once the person confirmed in KakaoTalk (the receipt is ours)."""

    model_config = ConfigDict(extra="forbid")

    receiptID: str | None = None


_GENDERS: dict[str, Literal["male", "female"]] = {
    "M": "male",
    "MALE": "male",
    "남": "male",
    "F": "female",
    "FEMALE": "female",
    "여": "female",
}
_FOREIGN: dict[str, bool] = {"Y": True, "N": False, "TRUE": True, "FALSE": False}


class LinkhubTokens:
    """Linkhub session tokens, fetched when needed and kept until shortly before they expire."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        auth_url: str,
        link_id: str,
        secret: bytes,
        scopes: tuple[str, ...],
        clock: Callable[[], datetime],
    ) -> None:
        self._client = client
        self._auth_url = auth_url.rstrip("/")
        self._link_id = link_id
        self._secret = secret
        self._scopes = scopes
        self._clock = clock
        self._token: str | None = None
        self._until = datetime.min.replace(tzinfo=UTC)
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        """A session token valid for at least another minute."""
        async with self._lock:
            if self._token is None or self._clock() >= self._until:
                self._token, self._until = await self._fetch()
            return self._token

    async def _fetch(self) -> tuple[str, datetime]:
        path = "/BAROCERT/Token"
        body = json.dumps({"access_id": "", "scope": list(self._scopes)}).encode()
        when = _utc(self._clock(), millis=False)
        target = f"POST\n{_b64_sha256(body)}\n{when}\n*\n{LINKHUB_VERSION}\n{path}"
        response = await call(
            self._client,
            "barocert",
            "POST",
            self._auth_url + path,
            content=body,
            headers={
                "x-lh-date": when,
                "x-lh-version": LINKHUB_VERSION,
                "x-lh-forwarded": "*",
                "Authorization": f"LINKHUB {self._link_id} {_b64_hmac(self._secret, target)}",
                "Content-Type": "application/json",
            },
        )
        answer = json_of(response, "Linkhub's token answer")
        token = answer.get("session_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            raise ProviderError(
                f"Linkhub refused a token (code {answer.get('code')})",
                status=502,
                slug="provider-misconfigured",
                title="Identity provider refused the service",
                burn=False,
            )
        try:
            expires = datetime.fromisoformat(str(answer.get("expiration")))
        except ValueError:
            expires = self._clock()  # unknown lifetime: use it for this call only
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return token, expires - timedelta(minutes=1)


class BarocertKakaoProvider:
    """barocert's Kakao identity verification behind
    :class:`~identity_svc.providers.IdentityProvider`."""

    name = "barocert_kakao"

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        api_url: str,
        auth_url: str,
        link_id: str,
        secret_key: SecretStr,
        client_code: str,
        request_title: str,
        expire_in: int,
        app_return_url: str | None,
        clock: Callable[[], datetime],
    ) -> None:
        self._client = client
        self._api_url = api_url.rstrip("/")
        self._key = base64.b64decode(secret_key.get_secret_value())
        self._client_code = client_code
        self._title = request_title
        self._expire_in = min(expire_in, MAX_EXPIRE_IN)
        self._return_url = app_return_url
        self._clock = clock
        self._tokens = LinkhubTokens(
            client,
            auth_url=auth_url,
            link_id=link_id,
            secret=self._key,
            scopes=KAKAO_SCOPES,
            clock=clock,
        )

    async def start(self, context: VerificationContext, request: StartRequest) -> StartResult:
        """Ask barocert to send the person a request to confirm in KakaoTalk (a message, or,
        from an app, an app-to-app hand-over through the returned ``scheme``)."""
        person = request.person
        if person is None:
            raise ProblemError(
                422,
                "person-required",
                "Personal details required",
                f"{self.name} looks the person up by name, mobile number and birth date: "
                "start with `person`",
            )
        app = request.channel == "app"
        if app and not self._return_url:
            raise ProblemError(
                422,
                "channel-not-offered",
                "Channel not offered",
                f"{self.name} has no app return URL configured (IDENTITY_BAROCERT_APP_RETURN_URL)",
            )
        body: dict[str, Any] = {
            "receiverHP": encrypt(self._key, re.sub(r"\D", "", person.phone.get_secret_value())),
            "receiverName": encrypt(self._key, person.name.get_secret_value()),
            "receiverBirthday": encrypt(self._key, person.birthdate.strftime("%Y%m%d")),
            "reqTitle": self._title,
            "expireIn": self._expire_in,
            "token": encrypt(self._key, context.nonce),
            "appUseYN": app,
        }
        if app:
            body["returnURL"] = self._return_url
        answer = await self._post(f"/KAKAO/Identity/{self._client_code}", body)
        receipt = parse(_Receipt, answer, "barocert's receipt")
        complete_url = f"/v1/identity/verifications/{context.verification_id}/complete"
        next_step: dict[str, Any] = (
            {"type": "app_to_app", "app": "KakaoTalk", "scheme": receipt.scheme}
            if app
            else {"type": "app_push", "app": "KakaoTalk"}
        )
        next_step |= {
            "complete_url": complete_url,
            "complete_with": {},
            "expires_in": self._expire_in,
        }
        return StartResult(next=next_step, provider_ref=receipt.receiptID)

    async def complete(
        self, context: VerificationContext, payload: Mapping[str, Any]
    ) -> VerifiedIdentity:
        """Check the request's state, then verify the signature (barocert allows that once)."""
        posted = parse(BarocertCompletion, payload, "completion")
        receipt_id = context.provider_ref
        if receipt_id is None:
            raise ProviderError("this verification has no barocert receipt")
        refuse_if(
            posted.receiptID not in (None, receipt_id),
            "receiptID is not the one this verification was started with",
        )
        path = f"/KAKAO/Identity/{self._client_code}/{receipt_id}"
        status = parse(_Status, await self._get(path), "barocert's status")
        refuse_if(status.receiptID != receipt_id, "barocert answered for another receipt")
        if status.state == 0:
            raise pending("the person has not confirmed in KakaoTalk yet")
        if status.state == 2:
            raise expired("the KakaoTalk request expired before the person confirmed")
        refuse_if(status.state == 3, "the person declined the request in KakaoTalk")
        refuse_if(status.state != 1, f"barocert reports the verification failed ({status.state})")
        answer = await self._post(f"/KAKAO/Identity/Verify/{self._client_code}/{receipt_id}", None)
        return self._identity(context, receipt_id, parse(_Result, answer, "barocert's result"))

    def _identity(
        self, context: VerificationContext, receipt_id: str, result: _Result
    ) -> VerifiedIdentity:
        refuse_if(result.receiptID != receipt_id, "barocert verified another receipt")
        refuse_if(result.state != 1, "barocert's verification is not complete")
        # The signed text must be the token this attempt sent: a signature made for another
        # attempt (or altered on the way) is refused.
        refuse_if(
            not hmac.compare_digest(result.signedData.encode(), context.nonce.encode()),
            "the signature was not made for this verification",
        )
        if not result.ci:
            raise ProviderError("barocert gave no CI")
        try:
            birthdate = date(
                int(result.receiverYear), int(result.receiverDay[:2]), int(result.receiverDay[2:])
            )
        except ValueError:
            raise ProviderError("barocert gave an impossible birth date") from None
        return VerifiedIdentity(
            provider=self.name,
            ci=SecretStr(result.ci),
            di=None,  # barocert gives no DI
            birthdate=birthdate,
            is_foreigner=_FOREIGN.get((result.receiverForeign or "").upper()),
            phone=SecretStr(result.receiverHP) if result.receiverHP else None,
            name=SecretStr(result.receiverName) if result.receiverName else None,
            gender=_GENDERS.get((result.receiverGender or "").upper()),
            tx_ref=receipt_id,
        )

    async def _get(self, path: str) -> Mapping[str, Any]:
        headers = {
            "Authorization": f"Bearer {await self._tokens.get()}",
            "x-bc-version": API_VERSION,
        }
        response = await call(
            self._client, "barocert", "GET", self._api_url + path, headers=headers
        )
        return self._answer(response)

    async def _post(self, path: str, body: Mapping[str, Any] | None) -> Mapping[str, Any]:
        content = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        when = _utc(self._clock(), millis=True)
        target = "POST\n" + (f"{_b64_sha256(content)}\n" if content else "") + f"{when}\n{path}\n"
        headers = {
            "Authorization": f"Bearer {await self._tokens.get()}",
            "x-bc-date": when,
            "x-bc-version": API_VERSION,
            "x-bc-auth": _b64_hmac(self._key, target),
            "x-bc-encryptionmode": "GCM",
            "Content-Type": "application/json; charset=utf8",
        }
        response = await call(
            self._client, "barocert", "POST", self._api_url + path, content=content, headers=headers
        )
        return self._answer(response)

    @staticmethod
    def _answer(response: httpx.Response) -> Mapping[str, Any]:
        answer = json_of(response, "barocert's answer")
        if response.status_code != 200:
            raise ProviderError(f"barocert refused the request (code {answer.get('code')})")
        return answer
