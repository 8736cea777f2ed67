"""An asyncio client of the Fabric Gateway service of a peer (Fabric v2.4+), over gRPC with TLS.

The flows mirror hyperledger/fabric-gateway ``pkg/client``:

- **Evaluate**: sign a proposal, ``Gateway/Evaluate`` on one peer, return the result payload.
- **Submit**: sign a proposal, ``Gateway/Endorse`` (the gateway peer collects endorsements from
  enough organisations, or from exactly ``endorsing_orgs``), sign the prepared envelope's
  payload, ``Gateway/Submit`` (to the orderer), then a signed ``Gateway/CommitStatus`` that
  blocks until the transaction is in a block: the validation code and the block number.
- **ChaincodeEvents**: a signed request, then a stream of events per block.

Transient failures — the peer unreachable (UNAVAILABLE), too slow (DEADLINE_EXCEEDED), the
gateway unable to reach enough endorsers or the orderer, or an MVCC/phantom read conflict at
validation — are retried with backoff until ``RetryPolicy.budget_seconds`` has passed, then
raised as :class:`FabricUnavailable` with what went wrong where. A retried submit builds a new
proposal (a new tx id), so the transactions submitted this way must be idempotent (the votes
chaincode's are: a batch is keyed by its id, a record by its target and voter tag).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import transaction_pb2
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

from ledger_svc.fabric.errors import (
    ChaincodeError,
    CommitFailed,
    FabricConfigError,
    FabricError,
    FabricUnavailable,
)
from ledger_svc.fabric.identity import SigningIdentity, load_identity
from ledger_svc.fabric.profile import ConnectionProfile, OrgProfile
from ledger_svc.fabric.proposal import (
    EndorsedTransaction,
    Proposal,
    build_proposal,
    chaincode_events_request,
    commit_status_request,
    endorsed_transaction,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

VALID = 0
#: Validation codes after which the same transaction, endorsed again, can succeed.
RETRYABLE_COMMIT_CODES = frozenset(
    {
        transaction_pb2.TxValidationCode.MVCC_READ_CONFLICT,
        transaction_pb2.TxValidationCode.PHANTOM_READ_CONFLICT,
    }
)
_TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        # The gateway answers FAILED_PRECONDITION while discovery does not (yet) know enough
        # endorsers, e.g. while a peer restarts.
        grpc.StatusCode.FAILED_PRECONDITION,
    }
)


def validation_code_name(code: int) -> str:
    """``11`` → ``MVCC_READ_CONFLICT``."""
    try:
        return str(transaction_pb2.TxValidationCode.Name(code))
    except ValueError:
        return f"UNKNOWN_CODE_{code}"


@dataclass(frozen=True)
class Timeouts:
    """Per-call deadlines, in seconds."""

    evaluate: float = 10.0
    endorse: float = 30.0
    submit: float = 10.0
    #: CommitStatus blocks until the transaction is in a block.
    commit: float = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """How long transient failures are retried, and the backoff between attempts."""

    budget_seconds: float = 20.0
    first_delay: float = 0.2
    max_delay: float = 2.0


@dataclass(frozen=True)
class Committed:
    """A transaction in a block, valid."""

    tx_id: str
    block: int
    result: bytes


@dataclass(frozen=True)
class CommitStatus:
    """What CommitStatus answered for a transaction."""

    tx_id: str
    code: int
    block: int

    @property
    def code_name(self) -> str:
        return validation_code_name(self.code)


@dataclass(frozen=True)
class ChaincodeEvent:
    """An event a transaction emitted, with its block."""

    block: int
    tx_id: str
    chaincode: str
    name: str
    payload: bytes


@dataclass
class _GrpcFailure:
    code: Any
    message: str
    details: list[str] = field(default_factory=list)

    @property
    def transient(self) -> bool:
        if self.code in _TRANSIENT_CODES:
            return True
        # ABORTED: the gateway could not collect endorsements. A chaincode error is final
        # ("chaincode response 500, ..."); anything else (an endorser down) may pass.
        return self.code == grpc.StatusCode.ABORTED and not self.chaincode_message

    @property
    def chaincode_message(self) -> str | None:
        for text in [self.message, *self.details]:
            if "chaincode response" in text:
                return text
        return None

    def describe(self) -> str:
        name = getattr(self.code, "name", str(self.code))
        text = f"{name}: {self.message}"
        if self.details:
            text += " [" + "; ".join(self.details) + "]"
        return text


# google.rpc.Status, in a private descriptor pool (googleapis-common-protos is not a dependency
# and its own registration must never clash with ours).
def _status_class() -> Any:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(any_pb2.DESCRIPTOR.serialized_pb))
    proto = descriptor_pb2.FileDescriptorProto(
        name="ledger_svc/google_rpc_status.proto",
        package="google.rpc",
        dependency=["google/protobuf/any.proto"],
        syntax="proto3",
    )
    message = proto.message_type.add(name="Status")
    field_type = descriptor_pb2.FieldDescriptorProto
    message.field.add(
        name="code", number=1, type=field_type.TYPE_INT32, label=field_type.LABEL_OPTIONAL
    )
    message.field.add(
        name="message", number=2, type=field_type.TYPE_STRING, label=field_type.LABEL_OPTIONAL
    )
    message.field.add(
        name="details",
        number=3,
        type=field_type.TYPE_MESSAGE,
        label=field_type.LABEL_REPEATED,
        type_name=".google.protobuf.Any",
    )
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))


_STATUS = _status_class()


def error_details(status_details: bytes) -> list[str]:
    """The gateway's ``ErrorDetail`` entries (``address (msp): message``) of a serialized
    ``google.rpc.Status`` (the ``grpc-status-details-bin`` trailer)."""
    try:
        status = _STATUS.FromString(status_details)
    except Exception:
        return []
    found: list[str] = []
    for detail in status.details:
        if str(detail.type_url).endswith("gateway.ErrorDetail"):
            info = gateway_pb2.ErrorDetail.FromString(detail.value)
            found.append(f"{info.address} ({info.msp_id}): {info.message}")
    return found


def _failure(exc: grpc.aio.AioRpcError) -> _GrpcFailure:
    details: list[str] = []
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            details = error_details(value)
    return _GrpcFailure(code=exc.code(), message=exc.details() or "", details=details)


def _channel_options(server_name: str) -> list[tuple[str, Any]]:
    return [
        ("grpc.ssl_target_name_override", server_name),
        ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
        # Reconnect quickly once a restarted peer is back (the default backoff grows to 120 s).
        ("grpc.initial_reconnect_backoff_ms", 500),
        ("grpc.min_reconnect_backoff_ms", 500),
        ("grpc.max_reconnect_backoff_ms", 3000),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
    ]


class Gateway:
    """A connection to one organisation's gateway peer, acting as that organisation's client.

    The gRPC channel is opened on first use, in the running event loop; :meth:`close` it."""

    def __init__(
        self,
        profile: ConnectionProfile,
        *,
        org: str | None = None,
        identity: SigningIdentity | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.profile = profile
        self.org: OrgProfile = profile.org(org)
        self.identity = identity or load_identity(self.org.msp_dir, self.org.msp_id)
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        try:
            self._root_ca = self.org.peer.tls_ca.read_bytes()
        except OSError as exc:
            raise FabricConfigError(
                f"cannot read the peer's TLS CA {self.org.peer.tls_ca}: {exc}"
            ) from exc
        self._channel: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def channel_name(self) -> str:
        return self.profile.channel

    @property
    def chaincode(self) -> str:
        return self.profile.chaincode

    @property
    def where(self) -> str:
        """``peer0.seoulcity.example at 127.0.0.1:7051 (SeoulCityMSP)``, for messages."""
        peer = self.org.peer
        return f"{peer.server_name} at {peer.endpoint} ({self.org.msp_id})"

    def _grpc(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._channel is None or self._loop is not loop:
            credentials = grpc.ssl_channel_credentials(root_certificates=self._root_ca)
            self._channel = grpc.aio.secure_channel(
                self.org.peer.endpoint,
                credentials,
                options=_channel_options(self.org.peer.server_name),
            )
            self._loop = loop
        return self._channel

    async def close(self) -> None:
        """Close the gRPC channel (if open in this loop)."""
        channel, self._channel = self._channel, None
        if channel is not None and self._loop is asyncio.get_running_loop():
            await channel.close()
        self._loop = None

    async def _call(self, method: str, request: bytes, deadline: float) -> bytes:
        # A gRPC deadline (not asyncio.timeout): the peer sees it and stops working on the call.
        call = self._grpc().unary_unary(f"/gateway.Gateway/{method}")
        response: bytes = await call(request, timeout=deadline)
        return response

    # -- retries ---------------------------------------------------------------------------

    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[_T]]) -> _T:
        deadline = time.monotonic() + self.retry.budget_seconds
        delay = self.retry.first_delay
        tries = 0
        while True:
            tries += 1
            try:
                return await attempt()
            except grpc.aio.AioRpcError as exc:
                failure = _failure(exc)
                if failure.chaincode_message is not None:
                    raise ChaincodeError(failure.chaincode_message) from None
                if not failure.transient:
                    raise FabricError(f"{what} via {self.where}: {failure.describe()}") from None
                reason = failure.describe()
            except _RetryableCommit as exc:
                reason = str(exc)
            if time.monotonic() + delay > deadline:
                raise FabricUnavailable(
                    f"{what} via {self.where} failed {tries} time(s) over "
                    f"{self.retry.budget_seconds:.0f}s; last: {reason}"
                ) from None
            log.debug("fabric: %s failed (%s); retrying in %.1fs", what, reason, delay)
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(delay * 2, self.retry.max_delay)

    # -- evaluate ----------------------------------------------------------------------------

    def proposal(
        self,
        function: str,
        args: Sequence[str | bytes] = (),
        *,
        endorsing_orgs: Sequence[str] = (),
    ) -> Proposal:
        """A signed proposal to call ``function(*args)`` on the profile's channel and chaincode."""
        return build_proposal(
            self.identity,
            channel=self.channel_name,
            chaincode=self.chaincode,
            function=function,
            args=args,
            endorsing_orgs=endorsing_orgs,
        )

    async def evaluate(
        self, function: str, *args: str | bytes, target_orgs: Sequence[str] = ()
    ) -> bytes:
        """Run a query on one peer and return its result (nothing is ordered or written)."""

        async def once() -> bytes:
            proposal = self.proposal(function, args, endorsing_orgs=target_orgs)
            response = await self._call(
                "Evaluate", proposal.evaluate_request(), self.timeouts.evaluate
            )
            payload: bytes = gateway_pb2.EvaluateResponse.FromString(response).result.payload
            return payload

        return await self._retrying(f"evaluate {function}", once)

    async def probe(self, function: str, *args: str | bytes, deadline: float = 2.0) -> str | None:
        """One query without retries: None if the peer and the chaincode answered (even with a
        chaincode error), else what went wrong; for readiness checks."""
        proposal = self.proposal(function, args)
        try:
            await self._call("Evaluate", proposal.evaluate_request(), deadline)
        except grpc.aio.AioRpcError as exc:
            failure = _failure(exc)
            if failure.chaincode_message is not None:
                return None  # the chaincode itself answered
            return f"{self.where}: {failure.describe()}"
        return None

    # -- submit ------------------------------------------------------------------------------

    async def endorse(self, proposal: Proposal) -> EndorsedTransaction:
        """Collect endorsements for ``proposal`` and sign the resulting transaction (one try)."""
        response = await self._call("Endorse", proposal.endorse_request(), self.timeouts.endorse)
        return endorsed_transaction(self.identity, proposal, response)

    async def send(self, transaction: EndorsedTransaction) -> None:
        """Hand the signed transaction to the ordering service (one try)."""
        await self._call("Submit", transaction.submit_request(), self.timeouts.submit)

    async def commit_status(self, tx_id: str) -> CommitStatus:
        """The validation code and block of ``tx_id``, waiting until it is committed (one try)."""
        response = gateway_pb2.CommitStatusResponse.FromString(
            await self._call(
                "CommitStatus",
                commit_status_request(self.identity, self.channel_name, tx_id),
                self.timeouts.commit,
            )
        )
        return CommitStatus(
            tx_id=tx_id, code=int(response.result), block=int(response.block_number)
        )

    async def wait_for_commit(self, tx_id: str) -> CommitStatus:
        """:meth:`commit_status`, retried on transient failures."""
        return await self._retrying(f"commit status of {tx_id}", lambda: self.commit_status(tx_id))

    async def submit(
        self,
        function: str,
        *args: str | bytes,
        endorsing_orgs: Sequence[str] = (),
        reuse: Callable[[bytes, str], str | None] | None = None,
    ) -> Committed:
        """Endorse, submit and wait for the commit of ``function(*args)``; raise
        :class:`CommitFailed` if the network validates it as invalid.

        ``reuse(result, tx_id)`` may name an earlier transaction that already did the work (an
        idempotent chaincode answering with a stored result): then nothing is submitted and that
        transaction's commit is returned with the endorsed result."""

        async def once() -> Committed:
            proposal = self.proposal(function, args, endorsing_orgs=endorsing_orgs)
            transaction = await self.endorse(proposal)
            earlier = reuse(transaction.result, transaction.tx_id) if reuse else None
            if earlier is not None and earlier != transaction.tx_id:
                status = await self.wait_for_commit(earlier)
            else:
                await self.send(transaction)
                status = await self.wait_for_commit(transaction.tx_id)
            if status.code in RETRYABLE_COMMIT_CODES:
                raise _RetryableCommit(
                    f"transaction {status.tx_id} invalidated ({status.code_name}); endorsing again"
                )
            if status.code != VALID:
                raise CommitFailed(status.tx_id, status.code, status.code_name, status.block)
            return Committed(tx_id=status.tx_id, block=status.block, result=transaction.result)

        return await self._retrying(f"submit {function}", once)

    # -- events ------------------------------------------------------------------------------

    async def chaincode_events(
        self, *, start_block: int | None = None, after_tx_id: str | None = None
    ) -> AsyncIterator[ChaincodeEvent]:
        """The chaincode's events from ``start_block`` (default: from the next block on), until
        the caller stops iterating. Not retried: a broken stream raises."""
        request = chaincode_events_request(
            self.identity,
            self.channel_name,
            self.chaincode,
            start_block=start_block,
            after_tx_id=after_tx_id,
        )
        call = self._grpc().unary_stream("/gateway.Gateway/ChaincodeEvents")(request)
        try:
            async for raw in call:
                response = gateway_pb2.ChaincodeEventsResponse.FromString(raw)
                for event in response.events:
                    yield ChaincodeEvent(
                        block=int(response.block_number),
                        tx_id=str(event.tx_id),
                        chaincode=str(event.chaincode_id),
                        name=str(event.event_name),
                        payload=bytes(event.payload),
                    )
        except grpc.aio.AioRpcError as exc:
            raise FabricUnavailable(
                f"chaincode events via {self.where}: {_failure(exc).describe()}"
            ) from None
        finally:
            call.cancel()


class _RetryableCommit(Exception):
    """A transaction invalidated by a read conflict: endorse it again."""
