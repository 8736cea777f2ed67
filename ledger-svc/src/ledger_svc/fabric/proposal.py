"""Building the messages of the Fabric Gateway protocol (mirrors hyperledger/fabric-gateway
``pkg/client``: ``proposalbuilder.go``, ``transactioncontext.go``, ``transaction.go``).

A proposal is ``Proposal(header, payload)`` where the header holds a ``ChannelHeader``
(ENDORSER_TRANSACTION, timestamp, channel, tx id, the chaincode id as extension) and a
``SignatureHeader`` (creator, 24-byte nonce), and the payload a ``ChaincodeProposalPayload``
carrying ``ChaincodeInvocationSpec(args=[function, *args])``. The tx id is
``hex(SHA-256(nonce + creator))``; the client signs the proposal bytes, later the endorsed
envelope's payload, and every commit-status and events request.

Everything here is pure (no network); protobuf objects stay inside this module and the gateway.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2
from google.protobuf import timestamp_pb2

from ledger_svc.fabric.identity import SigningIdentity, transaction_id

NONCE_BYTES = 24


@dataclass(frozen=True)
class Proposal:
    """A built, signed proposal: what Endorse and Evaluate send."""

    tx_id: str
    channel: str
    chaincode: str
    function: str
    proposal_bytes: bytes
    signature: bytes
    endorsing_orgs: tuple[str, ...] = ()

    def endorse_request(self) -> bytes:
        """The serialized ``EndorseRequest``."""
        return self._signed(gateway_pb2.EndorseRequest, endorsing_organizations=True)

    def evaluate_request(self) -> bytes:
        """The serialized ``EvaluateRequest``."""
        return self._signed(gateway_pb2.EvaluateRequest, endorsing_organizations=False)

    def _signed(self, message: type, *, endorsing_organizations: bool) -> bytes:
        # `message` is a generated protobuf class (typed Any at this boundary).
        request = message(
            transaction_id=self.tx_id,
            channel_id=self.channel,
            proposed_transaction=proposal_pb2.SignedProposal(
                proposal_bytes=self.proposal_bytes, signature=self.signature
            ),
        )
        orgs = list(self.endorsing_orgs)
        if endorsing_organizations:
            request.endorsing_organizations.extend(orgs)
        else:
            request.target_organizations.extend(orgs)
        serialized: bytes = request.SerializeToString()
        return serialized


@dataclass(frozen=True)
class ParsedProposal:
    """What a proposal says, read back (tests and diagnostics)."""

    tx_id: str
    channel: str
    chaincode: str
    header_type: int
    timestamp_seconds: int
    creator: bytes
    nonce: bytes
    args: list[bytes]
    transient: dict[str, bytes] = field(default_factory=dict)


def _to_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def build_proposal(
    identity: SigningIdentity,
    *,
    channel: str,
    chaincode: str,
    function: str,
    args: Sequence[str | bytes] = (),
    transient: Mapping[str, bytes] | None = None,
    endorsing_orgs: Sequence[str] = (),
    nonce: bytes | None = None,
    timestamp: float | None = None,
) -> Proposal:
    """Build and sign the proposal to invoke ``function(*args)`` of ``chaincode``."""
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    creator = identity.creator()
    tx_id = transaction_id(nonce, creator)
    now = time.time() if timestamp is None else timestamp
    stamp = timestamp_pb2.Timestamp(seconds=int(now), nanos=int((now % 1) * 1e9))
    chaincode_id = chaincode_pb2.ChaincodeID(name=chaincode)
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.HeaderType.ENDORSER_TRANSACTION,
        version=0,
        timestamp=stamp,
        channel_id=channel,
        tx_id=tx_id,
        epoch=0,
        extension=proposal_pb2.ChaincodeHeaderExtension(
            chaincode_id=chaincode_id
        ).SerializeToString(),
    )
    signature_header = common_pb2.SignatureHeader(creator=creator, nonce=nonce)
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=signature_header.SerializeToString(),
    )
    invocation = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(
            type=chaincode_pb2.ChaincodeSpec.Type.NODE,
            chaincode_id=chaincode_id,
            input=chaincode_pb2.ChaincodeInput(
                args=[function.encode("utf-8"), *(_to_bytes(a) for a in args)]
            ),
        )
    )
    payload = proposal_pb2.ChaincodeProposalPayload(
        input=invocation.SerializeToString(), TransientMap=dict(transient or {})
    )
    proposal = proposal_pb2.Proposal(
        header=header.SerializeToString(), payload=payload.SerializeToString()
    )
    proposal_bytes: bytes = proposal.SerializeToString()
    return Proposal(
        tx_id=tx_id,
        channel=channel,
        chaincode=chaincode,
        function=function,
        proposal_bytes=proposal_bytes,
        signature=identity.sign(proposal_bytes),
        endorsing_orgs=tuple(endorsing_orgs),
    )


def parse_proposal(proposal_bytes: bytes) -> ParsedProposal:
    """Read a proposal back into plain values."""
    proposal = proposal_pb2.Proposal.FromString(proposal_bytes)
    header = common_pb2.Header.FromString(proposal.header)
    channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    signature_header = common_pb2.SignatureHeader.FromString(header.signature_header)
    extension = proposal_pb2.ChaincodeHeaderExtension.FromString(channel_header.extension)
    payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
    invocation = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
    return ParsedProposal(
        tx_id=str(channel_header.tx_id),
        channel=str(channel_header.channel_id),
        chaincode=str(extension.chaincode_id.name),
        header_type=int(channel_header.type),
        timestamp_seconds=int(channel_header.timestamp.seconds),
        creator=bytes(signature_header.creator),
        nonce=bytes(signature_header.nonce),
        args=[bytes(a) for a in invocation.chaincode_spec.input.args],
        transient={str(k): bytes(v) for k, v in payload.TransientMap.items()},
    )


@dataclass(frozen=True)
class EndorsedTransaction:
    """An endorsed transaction envelope, signed by us, ready for Submit."""

    tx_id: str
    channel: str
    payload: bytes
    signature: bytes
    #: The chaincode's answer, as the endorsers computed it.
    result: bytes

    def submit_request(self) -> bytes:
        """The serialized ``SubmitRequest``."""
        request = gateway_pb2.SubmitRequest(
            transaction_id=self.tx_id,
            channel_id=self.channel,
            prepared_transaction=common_pb2.Envelope(
                payload=self.payload, signature=self.signature
            ),
        )
        serialized: bytes = request.SerializeToString()
        return serialized


def endorsed_transaction(
    identity: SigningIdentity, proposal: Proposal, endorse_response: bytes
) -> EndorsedTransaction:
    """Sign the prepared envelope an ``EndorseResponse`` carries and extract the result."""
    # Imported here: only this step needs the transaction protos.
    from fabric_protos.peer import proposal_response_pb2, transaction_pb2

    response = gateway_pb2.EndorseResponse.FromString(endorse_response)
    envelope = response.prepared_transaction
    payload = common_pb2.Payload.FromString(envelope.payload)
    transaction = transaction_pb2.Transaction.FromString(payload.data)
    result = b""
    for action in transaction.actions:
        action_payload = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
        response_payload = proposal_response_pb2.ProposalResponsePayload.FromString(
            action_payload.action.proposal_response_payload
        )
        chaincode_action = proposal_pb2.ChaincodeAction.FromString(response_payload.extension)
        result = bytes(chaincode_action.response.payload)
    return EndorsedTransaction(
        tx_id=proposal.tx_id,
        channel=proposal.channel,
        payload=bytes(envelope.payload),
        signature=identity.sign(bytes(envelope.payload)),
        result=result,
    )


def commit_status_request(identity: SigningIdentity, channel: str, tx_id: str) -> bytes:
    """The serialized, signed ``SignedCommitStatusRequest`` for ``tx_id``."""
    request = gateway_pb2.CommitStatusRequest(
        channel_id=channel, transaction_id=tx_id, identity=identity.creator()
    ).SerializeToString()
    signed: bytes = gateway_pb2.SignedCommitStatusRequest(
        request=request, signature=identity.sign(request)
    ).SerializeToString()
    return signed


def chaincode_events_request(
    identity: SigningIdentity,
    channel: str,
    chaincode: str,
    *,
    start_block: int | None = None,
    after_tx_id: str | None = None,
) -> bytes:
    """The serialized, signed ``SignedChaincodeEventsRequest``: events from ``start_block``
    (default: the next block to commit), skipping up to and including ``after_tx_id``."""
    position = (
        ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit())
        if start_block is None
        else ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start_block))
    )
    request = gateway_pb2.ChaincodeEventsRequest(
        channel_id=channel,
        chaincode_id=chaincode,
        identity=identity.creator(),
        start_position=position,
        after_transaction_id=after_tx_id or "",
    ).SerializeToString()
    signed: bytes = gateway_pb2.SignedChaincodeEventsRequest(
        request=request, signature=identity.sign(request)
    ).SerializeToString()
    return signed
