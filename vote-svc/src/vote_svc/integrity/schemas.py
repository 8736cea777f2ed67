"""Answers of the integrity report and the staff's signal queue, with examples."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SignalKind = Literal[
    "arrival_spike",
    "new_accounts",
    "network_concentration",
    "agent_concentration",
    "night_burst",
    "age_band_skew",
]

SignalLevel = Literal["notice", "warning"]

_PROPOSAL_ID = "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f"
_SIGNAL: dict[str, Any] = {
    "kind": "network_concentration",
    "level": "warning",
    "window_start": "2026-12-02T05:10:00Z",
    "window_end": "2026-12-02T05:20:00Z",
    "detected_at": "2026-12-02T05:21:03Z",
    "evidence": {"votes": 312, "top_votes": 300, "top_share": 0.9615, "distinct": 9},
}


class SignalPublic(BaseModel):
    """A signal on one window of a proposal, with its evidence (aggregates only)."""

    kind: SignalKind
    level: SignalLevel
    window_start: datetime
    window_end: datetime
    detected_at: datetime
    #: Counts, shares and ratios (docs/integrity.md, "Signals"); a count below k is null.
    evidence: dict[str, Any]


class ProposalIntegrity(BaseModel):
    """The public integrity report of one proposal."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "proposal_id": _PROPOSAL_ID,
                    "votes_with_signals": 1480,
                    "min_count": 10,
                    "retention_days": 90,
                    "signals": [_SIGNAL],
                }
            ]
        }
    )

    proposal_id: uuid.UUID
    #: Votes whose pseudonymous signals are still kept (null below ``min_count``).
    votes_with_signals: int | None
    #: k: no count below it is published.
    min_count: int
    retention_days: int
    signals: list[SignalPublic]


class SignalStaff(SignalPublic):
    """A signal in the staff's queue: which target, and every count."""

    id: uuid.UUID
    target_type: Literal["proposal", "forum"]
    target_id: uuid.UUID


class SignalQueue(BaseModel):
    """A page of signals, newest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            **_SIGNAL,
                            "id": "0b7e8f52-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
                            "target_type": "proposal",
                            "target_id": _PROPOSAL_ID,
                        }
                    ],
                    "next_cursor": "WyIyMDI2LTEyLTAyVDA1OjIxOjAzKzAwOjAwIiwgIjBiN2UiXQ",
                }
            ]
        }
    )

    items: list[SignalStaff]
    next_cursor: str | None
