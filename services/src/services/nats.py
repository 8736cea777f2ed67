"""NATS JetStream: connection and the stream definitions, created idempotently at start."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

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
    # proposal-svc's: its proposals and forums, and the comments and opinions on them.
    StreamSpec("PROPOSAL", ("proposal.>", "forum.>", "comment.>", "opinion.>")),
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


class _ConnectionLog:
    """Logs a client's connection trouble without flooding the output: while the server is away
    the client retries every half second and reports each failure; we log the first one and
    then at most one line every ``every`` seconds, and say when the connection is back."""

    def __init__(self, client: NATS, url: str, every: float = 10.0) -> None:
        self.client = client
        self.url = url
        self.every = every
        self.down_since: float | None = None
        self.last_logged = -every
        self.quiet = 0

    async def error(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self.last_logged < self.every:
            self.quiet += 1
            return
        more = f" ({self.quiet} more since the last report)" if self.quiet else ""
        log.warning("nats %s: %s%s", self.url, exc, more)
        self.last_logged, self.quiet = now, 0

    async def disconnected(self) -> None:
        if not self.client.is_reconnecting:  # closed on purpose
            return
        self.down_since = time.monotonic()
        log.warning("nats %s: disconnected; reconnecting until it is back", self.url)

    async def reconnected(self) -> None:
        took = time.monotonic() - self.down_since if self.down_since is not None else 0.0
        log.warning("nats %s: reconnected after %.1fs", self.url, took)
        self.down_since, self.last_logged, self.quiet = None, -self.every, 0


async def connect(url: str, *, name: str) -> NATS:
    """Connect, waiting for the server as long as it takes, and reconnect forever after a loss
    (a NATS restart must not kill a worker). Subscriptions, pull consumers' included, are
    renewed on the new connection; publishes made meanwhile wait in the client's buffer."""
    client = NATS()
    trouble = _ConnectionLog(client, url)
    await client.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        # Annotated as int, used as a float number of seconds by the client.
        reconnect_time_wait=0.5,  # type: ignore[arg-type]
        error_cb=trouble.error,
        disconnected_cb=trouble.disconnected,
        reconnected_cb=trouble.reconnected,
    )
    return client


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
