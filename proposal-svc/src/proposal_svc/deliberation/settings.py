"""Deliberation's settings, mixed into ``ProposalSettings`` (so ``PROPOSAL_COMMENT_...``).

Rate rules are JSON lists, e.g. ``PROPOSAL_COMMENT_RATE_LIMITS='[{"limit": 5, "seconds": 60},
{"limit": 50, "seconds": 86400}]'``; the word list is a JSON list of words.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from proposal_svc.deliberation.wordlist import DEFAULT_HELD_WORDS, normalize_entry
from services.ratelimit import RateRule

DEFAULT_POST_LIMITS = (RateRule(limit=5, seconds=60), RateRule(limit=50, seconds=86400))
DEFAULT_REPORT_LIMITS = (RateRule(limit=10, seconds=60), RateRule(limit=100, seconds=86400))


class DeliberationSettings(BaseModel):
    """Limits and rules of comments, opinions, reports and moderation."""

    #: Longest comment or opinion, in Unicode code points after NFC.
    comment_body_max: int = Field(default=2000, ge=10, le=20_000)
    #: Longest report detail and moderator reason.
    comment_reason_max: int = Field(default=500, ge=10, le=5000)
    #: Minutes after posting during which the author may edit (0: never).
    comment_edit_minutes: int = Field(default=15, ge=0, le=7 * 24 * 60)
    #: Open reports (from distinct citizens) that hold a published comment for review.
    comment_report_threshold: int = Field(default=3, ge=1, le=1000)
    #: Replies shown under each top-level comment of a listing (the rest by ``parent_id``).
    comment_reply_preview: int = Field(default=3, ge=0, le=20)
    #: Words that hold a comment for review when posted (docs/deliberation.md, "Word list").
    comment_held_words: list[str] = Field(default_factory=lambda: list(DEFAULT_HELD_WORDS))
    #: Per citizen: comments, replies and opinions posted.
    comment_rate_limits: list[RateRule] = Field(default_factory=lambda: list(DEFAULT_POST_LIMITS))
    #: Per citizen: reports made.
    comment_report_rate_limits: list[RateRule] = Field(
        default_factory=lambda: list(DEFAULT_REPORT_LIMITS)
    )

    @field_validator("comment_held_words")
    @classmethod
    def _words(cls, words: list[str]) -> list[str]:
        return sorted({normalize_entry(word) for word in words})

    @field_validator("comment_rate_limits", "comment_report_rate_limits")
    @classmethod
    def _distinct_windows(cls, rules: list[RateRule]) -> list[RateRule]:
        if len({rule.seconds for rule in rules}) != len(rules):
            raise ValueError("rate rules need distinct windows (seconds)")
        return rules
