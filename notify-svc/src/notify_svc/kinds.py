"""Which template each event sends to whom, and the values each handler provides: the table
the consumers build their messages from, checked against the templates at start-up.

=============================  ============  ==========================
event                          audience      template
=============================  ============  ==========================
proposal.threshold_reached     proposer      PROPOSAL_TIER_REACHED
proposal.threshold_reached     followers     FOLLOWED_TIER_REACHED
proposal.answered              proposer      PROPOSAL_ANSWERED
proposal.answered              followers     FOLLOWED_ANSWERED
proposal.status_changed        proposer      PROPOSAL_STATUS_CHANGED
proposal.status_changed        followers     FOLLOWED_STATUS_CHANGED (adopted, budget_linked)
forum.opened                   proposer      FORUM_OPENED
forum.opened                   followers     FOLLOWED_FORUM_OPENED
forum.closed                   proposer      FORUM_CLOSED
forum.closed                   participants  FORUM_CLOSED
forum.closed                   followers     FOLLOWED_FORUM_CLOSED
proposal.obligation_overdue    staff         OBLIGATION_OVERDUE
=============================  ============  ==========================

:func:`validate_startup` (``create_app`` and every ``notify-svc`` command call it first) checks
the templates (:func:`notify_svc.templates.validate_all`), that every event notify-svc tells
anyone about has a kind, and that each kind's template exists and its placeholders are exactly
the values the handler provides; a problem stops the process with the list of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from notify_svc import templates
from notify_svc.template_texts import PLACEHOLDER
from notify_svc.templates import Template, TemplateError, TemplateValidationError

#: The events after which somebody is told something (``proposal.submitted`` only feeds the
#: read model of proposers).
NOTIFIED_EVENTS: Final = (
    "proposal.threshold_reached",
    "proposal.answered",
    "proposal.status_changed",
    "forum.opened",
    "forum.closed",
    "proposal.obligation_overdue",
)

_TIER = ("제안제목", "동의수", "의무", "기한")
_ANSWER = ("제안제목", "답변주체")
_STATUS = ("제안제목", "상태")
_OPENED = ("공론장제목", "마감일시")
_CLOSED = ("공론장제목", "참여자수")


@dataclass(frozen=True)
class Kind:
    """What one audience of one event is sent: a template and the values the handler gives."""

    event: str
    audience: str
    template_code: str
    variables: tuple[str, ...]

    def values(self, values: Mapping[str, str]) -> dict[str, str]:
        """The template's values, exactly the declared ones (raises :class:`TemplateError`)."""
        if set(values) != set(self.variables):
            raise TemplateError(
                f"{self.event} to {self.audience}: values {sorted(values)} "
                f"are not {sorted(self.variables)}"
            )
        return dict(values)


KINDS: Final[dict[tuple[str, str], Kind]] = {
    (k.event, k.audience): k
    for k in (
        Kind("proposal.threshold_reached", "proposer", "PROPOSAL_TIER_REACHED", _TIER),
        Kind("proposal.threshold_reached", "followers", "FOLLOWED_TIER_REACHED", _TIER),
        Kind("proposal.answered", "proposer", "PROPOSAL_ANSWERED", _ANSWER),
        Kind("proposal.answered", "followers", "FOLLOWED_ANSWERED", _ANSWER),
        Kind("proposal.status_changed", "proposer", "PROPOSAL_STATUS_CHANGED", _STATUS),
        Kind("proposal.status_changed", "followers", "FOLLOWED_STATUS_CHANGED", _STATUS),
        Kind("forum.opened", "proposer", "FORUM_OPENED", _OPENED),
        Kind("forum.opened", "followers", "FOLLOWED_FORUM_OPENED", _OPENED),
        Kind("forum.closed", "proposer", "FORUM_CLOSED", _CLOSED),
        Kind("forum.closed", "participants", "FORUM_CLOSED", _CLOSED),
        Kind("forum.closed", "followers", "FOLLOWED_FORUM_CLOSED", _CLOSED),
        Kind(
            "proposal.obligation_overdue",
            "staff",
            "OBLIGATION_OVERDUE",
            ("제안제목", "의무", "기한"),
        ),
    )
}

#: Statuses a proposal's followers are told about (the proposer hears of every change).
FOLLOWER_STATUSES: Final = frozenset({"adopted", "budget_linked"})


def kind(event: str, audience: str) -> Kind:
    """The kind of ``event`` for ``audience`` (KeyError: a programming error)."""
    return KINDS[(event, audience)]


def kind_problems(
    kinds: Mapping[tuple[str, str], Kind],
    registered: Mapping[str, Template],
    events: Iterable[str],
) -> list[str]:
    """What is wrong between the kinds, the templates and the notified events."""
    problems: list[str] = []
    covered = {event for event, _ in kinds}
    problems += [
        f"{event}: no template for any audience" for event in events if event not in covered
    ]
    for (event, audience), item in kinds.items():
        where = f"{event} to {audience}"
        template = registered.get(item.template_code)
        if template is None:
            problems.append(f"{where}: no template {item.template_code}")
            continue
        placeholders = set(template.variables) | set(PLACEHOLDER.findall(template.sms_text))
        unresolved = sorted(placeholders - set(item.variables))
        unused = sorted(set(item.variables) - placeholders)
        if unresolved:
            problems.append(f"{where}: {item.template_code} needs {unresolved}, not given")
        if unused:
            problems.append(f"{where}: {item.template_code} has no place for {unused}")
    return problems


def validate_startup() -> None:
    """Check the templates and the kinds (raises :class:`TemplateValidationError`)."""
    templates.validate_all()
    problems = kind_problems(KINDS, templates.TEMPLATES, NOTIFIED_EVENTS)
    if problems:
        raise TemplateValidationError(problems)
