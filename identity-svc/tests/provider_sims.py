"""Simulated identity providers for identity-svc's tests, answering with the request and
response shapes PortOne and barocert document (providers/portone.py, providers/barocert.py say
where those come from). They check what a real provider checks of us -- PortOne the API secret,
barocert the Linkhub token signature, the bearer token, each POST's ``x-bc-auth`` signature and
the AES-GCM encryption of personal fields -- so that a request the real provider would refuse is
refused here too. The tests drive what the person does (confirms, cancels, lets it expire)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PORTONE_SECRET = "portone-test-api-secret"
PORTONE_API = "https://api.portone.test"
BAROCERT_LINK_ID = "TESTER"
#: barocert's published test key (base64 of 32 bytes).
BAROCERT_SECRET = "SwWxqU+0TErBXy/9TVjIPEnI0VTUMMSQZtJf3Ed8q3I="
BAROCERT_CLIENT_CODE = "023040000001"
BAROCERT_API = "https://barocert.test"
BAROCERT_AUTH = "https://auth.barocert.test"

#: Settings that make identity-svc offer both simulated providers.
PROVIDER_SETTINGS: dict[str, Any] = {
    "portone_api_secret": PORTONE_SECRET,
    "portone_store_id": "store-4ff4af41-85e3-4559-8eb8-0d08a2c6ceec",
    "portone_channel_key": "channel-key-9a8b7c6d",
    "portone_api_url": PORTONE_API,
    "barocert_link_id": BAROCERT_LINK_ID,
    "barocert_secret_key": BAROCERT_SECRET,
    "barocert_client_code": BAROCERT_CLIENT_CODE,
    "barocert_api_url": BAROCERT_API,
    "barocert_auth_url": BAROCERT_AUTH,
    "barocert_app_return_url": "seoulcivic://identity/return",
}


def fake_ci(seed: str) -> str:
    """An 88-character CI for ``seed`` (the same seed is the same person, across providers)."""
    return base64.b64encode(hashlib.sha512(b"sim-ci\x00" + seed.encode()).digest()).decode()


def fake_di(provider: str, seed: str) -> str:
    """A 64-character DI, different per provider."""
    return hashlib.sha256(f"sim-di\x00{provider}\x00{seed}".encode()).hexdigest()


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _problem(status: int, kind: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"type": kind, "message": message})


@dataclass
class Person:
    """Who the simulated person is."""

    seed: str
    name: str = "김시민"
    birthdate: str = "1988-03-09"
    phone: str = "01023456789"
    foreigner: bool | None = False


@dataclass
class PortOneSim:
    """PortOne's ``GET /identity-verifications/{id}``; ``records`` is what it knows."""

    clock: Callable[[], datetime]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    lookups: int = 0
    #: Answer every lookup with this status (an outage).
    outage: int | None = None

    def _base(self, verification_id: str, status: str) -> dict[str, Any]:
        now = _iso(self.clock())
        return {
            "status": status,
            "id": verification_id,
            "channel": {"type": "LIVE", "id": "channel-id", "key": "channel-key-9a8b7c6d"},
            "requestedAt": now,
            "updatedAt": now,
            "statusChangedAt": now,
            "version": "V2",
        }

    def ready(self, verification_id: str) -> None:
        """The SDK was opened; the person has not finished."""
        self.records[verification_id] = self._base(verification_id, "READY") | {
            "requestedCustomer": {}
        }

    def verify(
        self,
        verification_id: str,
        person: Person,
        *,
        pg_tx_id: str | None = None,
        at: datetime | None = None,
        **customer: Any,
    ) -> dict[str, Any]:
        """The person verified with their phone (Danal/KCP-style, with CI and DI)."""
        record = self._base(verification_id, "VERIFIED")
        verified_customer: dict[str, Any] = {
            "name": person.name,
            "birthDate": person.birthdate,
            "gender": "FEMALE",
            "phoneNumber": person.phone,
            "operator": "SKT",
            "ci": fake_ci(person.seed),
            "di": fake_di("portone", person.seed),
        }
        if person.foreigner is not None:
            verified_customer["isForeigner"] = person.foreigner
        verified_customer |= customer
        when = _iso(at or self.clock())
        record |= {
            "requestedAt": when,
            "verifiedAt": when,
            "verifiedCustomer": {k: v for k, v in verified_customer.items() if v is not None},
            "pgTxId": pg_tx_id or f"danal-{secrets.token_hex(8)}",
            "pgRawResponse": "{}",
        }
        self.records[verification_id] = record
        return record

    def fail(self, verification_id: str, reason: str = "인증 실패") -> None:
        """The provider refused the person (wrong code, not the phone's owner)."""
        self.records[verification_id] = self._base(verification_id, "FAILED") | {
            "requestedCustomer": {},
            "failure": {"reason": reason, "pgCode": "T0001", "pgMessage": reason},
        }

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.lookups += 1
        if self.outage is not None:
            return httpx.Response(self.outage, text="upstream error")
        if request.headers.get("authorization") != f"PortOne {PORTONE_SECRET}":
            return _problem(401, "UNAUTHORIZED", "잘못된 API Secret입니다.")
        prefix = "/identity-verifications/"
        if request.method != "GET" or not request.url.path.startswith(prefix):
            return _problem(400, "INVALID_REQUEST", "unexpected request")
        record = self.records.get(request.url.path[len(prefix) :])
        if record is None:
            return _problem(404, "IDENTITY_VERIFICATION_NOT_FOUND", "본인인증 건이 없습니다.")
        return httpx.Response(200, json=record)


def _decrypt(key: bytes, field_value: str) -> str:
    raw = base64.b64decode(field_value)
    return AESGCM(key).decrypt(raw[:12], raw[12:], None).decode()


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _b64_hmac(key: bytes, target: str) -> str:
    return base64.b64encode(hmac.new(key, target.encode(), hashlib.sha256).digest()).decode()


@dataclass
class Receipt:
    """One barocert identity request."""

    receipt_id: str
    hp: str
    name: str
    birthday: str
    token: str
    app: bool
    state: int = 0
    person: Person | None = None
    verified: bool = False
    #: Answer the verification with this signed text instead of the request's token.
    signed_data: str | None = None


def _error(code: int, message: str, status: int = 400) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message})


@dataclass
class BarocertSim:
    """barocert's Linkhub token service and its Kakao identity API."""

    clock: Callable[[], datetime]
    secret: bytes = field(default_factory=lambda: base64.b64decode(BAROCERT_SECRET))
    receipts: dict[str, Receipt] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    tokens_issued: int = 0
    #: Give every new request this receipt id (a provider answering twice with one receipt).
    fixed_receipt_id: str | None = None
    #: Refuse requests for these phone numbers (no Kakao account matches the person).
    unknown_phones: set[str] = field(default_factory=set)

    def confirm(self, receipt_id: str, person: Person) -> None:
        """The person signed the request in KakaoTalk."""
        receipt = self.receipts[receipt_id]
        receipt.state, receipt.person = 1, person

    def handle_auth(self, request: httpx.Request) -> httpx.Response:
        body = request.content
        when = request.headers.get("x-lh-date", "")
        target = f"POST\n{_b64_sha256(body)}\n{when}\n*\n2.0\n{request.url.path}"
        expected = f"LINKHUB {BAROCERT_LINK_ID} {_b64_hmac(self.secret, target)}"
        if request.url.path != "/BAROCERT/Token" or request.headers.get("authorization") != (
            expected
        ):
            return _error(-11000001, "링크아이디 또는 비밀키가 올바르지 않습니다.", 401)
        if json.loads(body) != {
            "access_id": "",
            "scope": ["partner", "401", "402", "403", "404", "405"],
        }:
            return _error(-11000002, "scope")
        token = secrets.token_urlsafe(24)
        self.sessions.add(token)
        self.tokens_issued += 1
        expires = self.clock() + timedelta(hours=1)
        return httpx.Response(
            200,
            json={
                "session_token": token,
                "serviceID": "BAROCERT",
                "linkID": BAROCERT_LINK_ID,
                "usercode": "",
                "ipaddress": "*",
                "expiration": _iso(expires),
                "scope": ["partner", "401", "402", "403", "404", "405"],
            },
        )

    def handle_api(self, request: httpx.Request) -> httpx.Response:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.sessions:
            return _error(-11000010, "토큰이 유효하지 않습니다.", 401)
        path = request.url.path
        if request.method == "POST":
            digest = f"{_b64_sha256(request.content)}\n" if request.content else ""
            target = f"POST\n{digest}{request.headers.get('x-bc-date', '')}\n{path}\n"
            if request.headers.get("x-bc-auth") != _b64_hmac(self.secret, target):
                return _error(-99999001, "서명이 올바르지 않습니다.", 401)
        parts = path.strip("/").split("/")
        if parts[:2] != ["KAKAO", "Identity"]:
            return _error(-99999002, "unknown path")
        if request.method == "POST" and len(parts) == 3:
            return self._request(parts[2], json.loads(request.content))
        if request.method == "GET" and len(parts) == 4:
            return self._status(parts[2], parts[3])
        if request.method == "POST" and len(parts) == 5 and parts[2] == "Verify":
            return self._verify(parts[3], parts[4])
        return _error(-99999002, "unknown path")

    def _request(self, client_code: str, body: dict[str, Any]) -> httpx.Response:
        if client_code != BAROCERT_CLIENT_CODE:
            return _error(-26000001, "이용기관코드가 올바르지 않습니다.")
        receipt = Receipt(
            receipt_id=self.fixed_receipt_id
            or "".join(secrets.choice("0123456789") for _ in "x" * 32),
            hp=_decrypt(self.secret, body["receiverHP"]),
            name=_decrypt(self.secret, body["receiverName"]),
            birthday=_decrypt(self.secret, body["receiverBirthday"]),
            token=_decrypt(self.secret, body["token"]),
            app=body["appUseYN"],
        )
        if receipt.hp in self.unknown_phones:
            return _error(-26010501, "카카오톡 이용자가 아닙니다.")
        self.receipts[receipt.receipt_id] = receipt
        scheme = f"kakaotalk://bizcert/barocert?txId={receipt.receipt_id}" if receipt.app else None
        return httpx.Response(200, json={"receiptID": receipt.receipt_id, "scheme": scheme})

    def _status(self, client_code: str, receipt_id: str) -> httpx.Response:
        receipt = self.receipts.get(receipt_id)
        if client_code != BAROCERT_CLIENT_CODE or receipt is None:
            return _error(-26000002, "접수아이디가 올바르지 않습니다.")
        now = _iso(self.clock())
        return httpx.Response(
            200,
            json={
                "receiptID": receipt_id,
                "clientCode": client_code,
                "state": receipt.state,
                "expireIn": 600,
                "callCenterName": "서울시",
                "callCenterNum": "120",
                "reqTitle": "서울시 시민참여 본인인증",
                "authCategory": "",
                "returnURL": "",
                "tokenType": "",
                "requestDT": now,
                "viewDT": now,
                "completeDT": now if receipt.state == 1 else "",
                "expireDT": "",
                "verifyDT": "",
                "scheme": "",
                "appUseYN": receipt.app,
            },
        )

    def _verify(self, client_code: str, receipt_id: str) -> httpx.Response:
        receipt = self.receipts.get(receipt_id)
        if client_code != BAROCERT_CLIENT_CODE or receipt is None:
            return _error(-26000002, "접수아이디가 올바르지 않습니다.")
        if receipt.state != 1 or receipt.person is None:
            return _error(-26000003, "서명이 완료되지 않았습니다.")
        if receipt.verified:
            # Kakao's policy: a signature is verified once.
            return _error(-26000004, "이미 검증된 건입니다.")
        receipt.verified = True
        person = receipt.person
        year, month, day = person.birthdate.split("-")
        foreign = {True: "Y", False: "N", None: None}[person.foreigner]
        return httpx.Response(
            200,
            json={
                "receiptID": receipt_id,
                "state": 1,
                "signedData": receipt.signed_data or receipt.token,
                "ci": fake_ci(person.seed),
                "receiverName": person.name,
                "receiverYear": year,
                "receiverDay": month + day,
                "receiverHP": person.phone,
                "receiverGender": "F",
                "receiverForeign": foreign,
                "receiverTelcoType": "SKT",
            },
        )


@dataclass
class Providers:
    """Both simulated providers behind one ``httpx.MockTransport``."""

    portone: PortOneSim
    barocert: BarocertSim

    def transport(self) -> httpx.MockTransport:
        routes = {
            httpx.URL(PORTONE_API).host: self.portone.handle,
            httpx.URL(BAROCERT_API).host: self.barocert.handle_api,
            httpx.URL(BAROCERT_AUTH).host: self.barocert.handle_auth,
        }

        def handle(request: httpx.Request) -> httpx.Response:
            return routes[request.url.host](request)

        return httpx.MockTransport(handle)
