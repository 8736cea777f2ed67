"""The Fabric Gateway client's pieces that need no network: MSP identities, low-S signatures,
transaction ids, proposals read back, signed requests, the connection profile, the gateway's
error details, and a clear FabricUnavailable when nothing answers."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import proposal_pb2

from ledger_svc.fabric import (
    FabricConfigError,
    FabricUnavailable,
    Gateway,
    RetryPolicy,
    Timeouts,
    load_identity,
    load_profile,
)
from ledger_svc.fabric.contract import batch_document, batch_id
from ledger_svc.fabric.gateway import _STATUS, error_details, validation_code_name
from ledger_svc.fabric.identity import P256_ORDER, is_low_s, to_low_s, transaction_id
from ledger_svc.fabric.proposal import (
    build_proposal,
    chaincode_events_request,
    commit_status_request,
    parse_proposal,
)
from services.canonical import VoteRecord


def _certificate(key: ec.EllipticCurvePrivateKey, cn: str) -> bytes:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def make_msp(folder: Path, cn: str = "User1@seoulcity.example") -> Path:
    """An MSP directory as cryptogen writes it: signcerts/<cn>-cert.pem and keystore/priv_sk."""
    key = ec.generate_private_key(ec.SECP256R1())
    (folder / "signcerts").mkdir(parents=True)
    (folder / "keystore").mkdir()
    (folder / "signcerts" / f"{cn}-cert.pem").write_bytes(_certificate(key, cn))
    (folder / "keystore" / "priv_sk").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder


@pytest.fixture
def msp(tmp_path: Path) -> Path:
    return make_msp(tmp_path / "msp")


def test_identity_from_an_msp_directory(msp: Path) -> None:
    identity = load_identity(msp, "SeoulCityMSP")
    creator = identities_pb2.SerializedIdentity.FromString(identity.creator())
    assert creator.mspid == "SeoulCityMSP"
    assert creator.id_bytes == (msp / "signcerts" / "User1@seoulcity.example-cert.pem").read_bytes()
    assert identity.common_name == "User1@seoulcity.example"


def test_unusable_msp_directories_are_explained(tmp_path: Path, msp: Path) -> None:
    with pytest.raises(FabricConfigError, match="not found"):
        load_identity(tmp_path / "nowhere", "SeoulCityMSP")
    other = make_msp(tmp_path / "other", "Admin@seoulcity.example")
    # A key that is not the certificate's.
    (msp / "keystore" / "priv_sk").write_bytes((other / "keystore" / "priv_sk").read_bytes())
    with pytest.raises(FabricConfigError, match="does not match the certificate"):
        load_identity(msp, "SeoulCityMSP")
    (other / "keystore" / "second_sk").write_bytes(b"x")
    with pytest.raises(FabricConfigError, match="more than one private key"):
        load_identity(other, "SeoulCityMSP")
    rsa_free = make_msp(tmp_path / "p384")
    (rsa_free / "keystore" / "priv_sk").write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(FabricConfigError, match="P-256"):
        load_identity(rsa_free, "SeoulCityMSP")


def test_signatures_are_valid_and_always_low_s(msp: Path) -> None:
    identity = load_identity(msp, "SeoulCityMSP")
    for i in range(64):
        message = f"message {i}".encode()
        signature = identity.sign(message)
        assert is_low_s(signature)
        assert identity.verify(message, signature)


def test_high_s_is_folded_to_low_s(msp: Path) -> None:
    identity = load_identity(msp, "SeoulCityMSP")
    message = b"payload"
    r, s = decode_dss_signature(identity.sign(message))
    high = encode_dss_signature(r, P256_ORDER - s)  # the malleable twin: also verifies
    assert not is_low_s(high)
    assert identity.verify(message, high)
    low = to_low_s(high)
    assert decode_dss_signature(low) == (r, s)
    assert to_low_s(low) == low


def test_transaction_id_is_sha256_of_nonce_and_creator(msp: Path) -> None:
    identity = load_identity(msp, "SeoulCityMSP")
    nonce = bytes(range(24))
    proposal = build_proposal(
        identity,
        channel="votes",
        chaincode="votes",
        function="CountTarget",
        args=["proposal:x"],
        nonce=nonce,
    )
    expected = hashlib.sha256(nonce + identity.creator()).hexdigest()
    assert proposal.tx_id == expected == transaction_id(nonce, identity.creator())
    # A fresh nonce each time: another tx id.
    again = build_proposal(identity, channel="votes", chaincode="votes", function="CountTarget")
    assert again.tx_id != proposal.tx_id
    assert len(parse_proposal(again.proposal_bytes).nonce) == 24


def test_proposal_round_trip(msp: Path) -> None:
    identity = load_identity(msp, "SeoulCityMSP")
    proposal = build_proposal(
        identity,
        channel="votes",
        chaincode="votes",
        function="RecordBatch",
        args=['{"batch_id":"1-ab"}', b"\x00raw"],
        transient={"secret": b"s"},
        endorsing_orgs=["SeoulCityMSP"],
        timestamp=1_790_000_000.25,
    )
    parsed = parse_proposal(proposal.proposal_bytes)
    assert parsed.tx_id == proposal.tx_id
    assert parsed.channel == "votes"
    assert parsed.chaincode == "votes"
    assert parsed.header_type == common_pb2.HeaderType.ENDORSER_TRANSACTION
    assert parsed.timestamp_seconds == 1_790_000_000
    assert parsed.creator == identity.creator()
    assert parsed.args == [b"RecordBatch", b'{"batch_id":"1-ab"}', b"\x00raw"]
    assert parsed.transient == {"secret": b"s"}
    assert parsed.tx_id == transaction_id(parsed.nonce, parsed.creator)
    # The signature is ours, over the proposal bytes, low S.
    assert identity.verify(proposal.proposal_bytes, proposal.signature)
    assert is_low_s(proposal.signature)
    # What the gateway receives carries the same signed proposal and the chosen orgs.
    endorse = gateway_pb2.EndorseRequest.FromString(proposal.endorse_request())
    assert endorse.transaction_id == proposal.tx_id
    assert endorse.channel_id == "votes"
    assert list(endorse.endorsing_organizations) == ["SeoulCityMSP"]
    assert endorse.proposed_transaction == proposal_pb2.SignedProposal(
        proposal_bytes=proposal.proposal_bytes, signature=proposal.signature
    )
    evaluate = gateway_pb2.EvaluateRequest.FromString(proposal.evaluate_request())
    assert list(evaluate.target_organizations) == ["SeoulCityMSP"]


def test_signed_status_and_events_requests(msp: Path) -> None:
    identity = load_identity(msp, "SeoulCityMSP")
    signed = gateway_pb2.SignedCommitStatusRequest.FromString(
        commit_status_request(identity, "votes", "ab" * 32)
    )
    request = gateway_pb2.CommitStatusRequest.FromString(signed.request)
    assert (request.channel_id, request.transaction_id) == ("votes", "ab" * 32)
    assert request.identity == identity.creator()
    assert identity.verify(signed.request, signed.signature)
    events = gateway_pb2.SignedChaincodeEventsRequest.FromString(
        chaincode_events_request(identity, "votes", "votes", start_block=7)
    )
    inner = gateway_pb2.ChaincodeEventsRequest.FromString(events.request)
    assert inner.start_position.specified.number == 7
    assert inner.chaincode_id == "votes"
    assert identity.verify(events.request, events.signature)
    latest = gateway_pb2.ChaincodeEventsRequest.FromString(
        gateway_pb2.SignedChaincodeEventsRequest.FromString(
            chaincode_events_request(identity, "votes", "votes")
        ).request
    )
    assert latest.start_position.HasField("next_commit")


def test_batch_document_matches_the_chaincode_contract() -> None:
    import base64
    import uuid
    from datetime import UTC, datetime

    from ledger_svc.backend import batch_root

    records = [
        VoteRecord.build(
            target=f"proposal:{uuid.uuid4()}",
            voter_tag="ab" * 32,
            vote_id=uuid.uuid4(),
            cast_at=datetime.now(UTC),
            choice="agree",
        )
        for _ in range(3)
    ]
    root = batch_root(records)
    document = json.loads(batch_document(4, root, records))
    assert document["batch_id"] == batch_id(4, root) == f"4-{root.hex()[:16]}"
    assert (document["seq"], document["root"]) == (4, root.hex())
    assert [base64.b64decode(r["record"]) for r in document["records"]] == [
        r.encode() for r in records
    ]
    assert [r["vote_id"] for r in document["records"]] == [str(r.vote_id) for r in records]
    assert {r["voter_tag"] for r in document["records"]} == {"ab" * 32}


def _profile(tmp_path: Path, msp: Path, endpoint: str) -> Path:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "tlsca.pem").write_bytes(_certificate(ca_key, "tlsca.seoulcity.example"))
    profile = {
        "channel": "votes",
        "chaincode": "votes",
        "client_org": "SeoulCityMSP",
        "organizations": {
            "SeoulCityMSP": {
                "peer": {
                    "endpoint": endpoint,
                    "tls_ca": "tlsca.pem",  # relative: next to the profile
                    "server_name": "peer0.seoulcity.example",
                },
                "msp_dir": str(msp),
            }
        },
    }
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    return path


def test_profile_is_read_and_checked(tmp_path: Path, msp: Path) -> None:
    path = _profile(tmp_path, msp, "127.0.0.1:7051")
    profile = load_profile(path)
    org = profile.org()
    assert (profile.channel, profile.chaincode, org.msp_id) == ("votes", "votes", "SeoulCityMSP")
    assert org.peer.tls_ca == tmp_path / "tlsca.pem"
    with pytest.raises(FabricConfigError, match="no organisation 'CitizenAuditMSP'"):
        profile.org("CitizenAuditMSP")
    with pytest.raises(FabricConfigError, match="make fabric-up"):
        load_profile(tmp_path / "missing.json")
    broken = json.loads(path.read_text())
    del broken["organizations"]["SeoulCityMSP"]["peer"]["server_name"]
    path.write_text(json.dumps(broken))
    with pytest.raises(FabricConfigError, match="server_name"):
        load_profile(path)


def test_gateway_error_details_are_read_from_the_status_trailer() -> None:
    detail = gateway_pb2.ErrorDetail(
        address="127.0.0.1:9051", msp_id="CitizenAuditMSP", message="connection refused"
    )
    status = _STATUS(code=10, message="failed to collect enough transaction endorsements")
    status.details.add(
        type_url="type.googleapis.com/gateway.ErrorDetail", value=detail.SerializeToString()
    )
    status.details.add(type_url="type.googleapis.com/other.Thing", value=b"")
    assert error_details(status.SerializeToString()) == [
        "127.0.0.1:9051 (CitizenAuditMSP): connection refused"
    ]
    assert error_details(b"\xff garbage") == []
    assert validation_code_name(10) == "ENDORSEMENT_POLICY_FAILURE"
    assert validation_code_name(11) == "MVCC_READ_CONFLICT"


async def test_an_unreachable_peer_is_reported_after_the_retry_budget(
    tmp_path: Path, msp: Path
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gateway = Gateway(
        load_profile(_profile(tmp_path, msp, f"127.0.0.1:{port}")),
        timeouts=Timeouts(evaluate=1.0),
        retry=RetryPolicy(budget_seconds=1.0, first_delay=0.1, max_delay=0.2),
    )
    try:
        with pytest.raises(FabricUnavailable) as unavailable:
            await gateway.evaluate("CountTarget", "proposal:x")
    finally:
        await gateway.close()
    message = str(unavailable.value)
    assert f"peer0.seoulcity.example at 127.0.0.1:{port} (SeoulCityMSP)" in message
    assert "UNAVAILABLE" in message
    assert "evaluate CountTarget" in message
