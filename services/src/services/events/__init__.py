"""Events: the CloudEvents 1.0 envelope and the typed, frozen schemas of every event type.

Schemas live here, not in the publishing service, so that a consumer parses the events it
receives without importing another service's package.
"""

from services.events.envelope import (
    CloudEvent,
    Event,
    UnknownEventType,
    event_class,
    nats_subject,
    parse_event,
    registered_events,
    to_envelope,
)
from services.events.schemas import (
    CitizenReinstated,
    CitizenSuspended,
    CitizenVerified,
    ForumClosed,
    ForumOpened,
    LedgerAuditMismatch,
    LedgerBatchCommitted,
    LedgerDuplicateRefused,
    ProposalAnswered,
    ProposalClosed,
    ProposalObligationOverdue,
    ProposalOpened,
    ProposalStatusChanged,
    ProposalSubmitted,
    ProposalThresholdReached,
    VoteCast,
    VoteTallyChanged,
)

__all__ = [
    "CitizenReinstated",
    "CitizenSuspended",
    "CitizenVerified",
    "CloudEvent",
    "Event",
    "ForumClosed",
    "ForumOpened",
    "LedgerAuditMismatch",
    "LedgerBatchCommitted",
    "LedgerDuplicateRefused",
    "ProposalAnswered",
    "ProposalClosed",
    "ProposalObligationOverdue",
    "ProposalOpened",
    "ProposalStatusChanged",
    "ProposalSubmitted",
    "ProposalThresholdReached",
    "UnknownEventType",
    "VoteCast",
    "VoteTallyChanged",
    "event_class",
    "nats_subject",
    "parse_event",
    "registered_events",
    "to_envelope",
]
