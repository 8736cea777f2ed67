"""NATS JetStream: connection and the stream definitions, created idempotently at start."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

#: Dedupe window for ``Nats-Msg-Id``: a relay that crashed after publishing and before marking
#: its row sent republishes within this window, and the stream drops the copy.
DUPLICATE_WINDOW_SECONDS = 300.0


@dataclass(frozen=True)
class StreamSpec:
    """A JetStream stream we own."""

    name: str
    subjects: tuple[str, ...]
    max_age_days: float = 30.0


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("IDENTITY", ("identity.>",)),
    StreamSpec("PROPOSAL", ("proposal.>", "forum.>")),
    StreamSpec("VOTE", ("vote.>",)),
    StreamSpec("LEDGER", ("ledger.>",)),
    StreamSpec("NOTIFY", ("notify.>",)),
    # Events a consumer gave up on after its bounded redeliveries, kept for operators.
    StreamSpec("DEADLETTER", ("deadletter.>",), max_age_days=90.0),
)


def stream_for_subject(subject: str) -> str:
    """The stream that captures ``subject``."""
    head = subject.split(".", 1)[0]
    for spec in STREAMS:
        if any(s.split(".", 1)[0] == head for s in spec.subjects):
            return spec.name
    raise LookupError(f"no stream captures {subject}")


async def connect(url: str, *, name: str) -> NATS:
    """Connect with reconnects forever (NATS outages must not kill a worker)."""

    async def _error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=_error,
    )


async def ensure_streams(
    js: JetStreamContext, specs: tuple[StreamSpec, ...] = STREAMS, *, replicas: int = 1
) -> None:
    """Create each stream, or bring an existing one to its definition; safe to run at every start."""
    for spec in specs:
        config = StreamConfig(
            name=spec.name,
            subjects=list(spec.subjects),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=spec.max_age_days * 86400.0,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=replicas,
        )
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("created stream %s", spec.name)
        else:
            await js.update_stream(config)
