"""Every event notify-svc tells anyone about has a Korean template for each audience, whose
placeholders are exactly the values its handler gives; a gap stops the service at start-up
(``create_app`` and every ``notify-svc`` command), with the list of problems."""

from __future__ import annotations

import dataclasses

import pytest

from notify_svc import cli, kinds
from notify_svc.consumers import HANDLERS
from notify_svc.kinds import KINDS, NOTIFIED_EVENTS, Kind, kind_problems
from notify_svc.main import create_app
from notify_svc.templates import TEMPLATES, TemplateError, TemplateValidationError


def test_every_handled_event_but_submission_has_a_kind_with_a_korean_template() -> None:
    handled = {event.name for event in HANDLERS.event_types()}
    assert handled - {"proposal.submitted"} == set(NOTIFIED_EVENTS)
    for event in NOTIFIED_EVENTS:
        assert any(e == event for e, _ in KINDS), event
    for item in KINDS.values():
        assert "[시민참여]" in TEMPLATES[item.template_code].text
    assert {audience for event, audience in KINDS if event != "proposal.obligation_overdue"} >= {
        "proposer",
        "followers",
    }
    assert kind_problems(KINDS, TEMPLATES, NOTIFIED_EVENTS) == []
    kinds.validate_startup()


def test_a_missing_template_or_unresolved_placeholder_is_reported() -> None:
    broken = dict(KINDS)
    broken[("forum.opened", "followers")] = Kind(
        "forum.opened", "followers", "FOLLOWED_FORUM_OPENED", ("공론장제목",)
    )
    broken[("proposal.answered", "followers")] = Kind(
        "proposal.answered", "followers", "NO_SUCH_TEMPLATE", ("제안제목", "답변주체")
    )
    del broken[("proposal.obligation_overdue", "staff")]
    problems = kind_problems(broken, TEMPLATES, NOTIFIED_EVENTS)
    assert "proposal.obligation_overdue: no template for any audience" in problems
    assert "proposal.answered to followers: no template NO_SUCH_TEMPLATE" in problems
    assert any("FOLLOWED_FORUM_OPENED needs ['마감일시']" in p for p in problems)

    # A template that names a value the handler does not give.
    templates = dict(TEMPLATES)
    answered = templates["PROPOSAL_ANSWERED"]
    templates["PROPOSAL_ANSWERED"] = dataclasses.replace(
        answered, sms_text=answered.sms_text + " #{답변일}"
    )
    [problem] = kind_problems(KINDS, templates, NOTIFIED_EVENTS)
    assert "PROPOSAL_ANSWERED needs ['답변일']" in problem


def test_start_up_fails_clearly_when_a_kind_has_no_template(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(TEMPLATES, "FOLLOWED_FORUM_CLOSED")
    with pytest.raises(TemplateValidationError) as raised:
        create_app()
    assert "forum.closed to followers: no template FOLLOWED_FORUM_CLOSED" in str(raised.value)
    with pytest.raises(TemplateValidationError):
        cli.main(["migrate"])


def test_a_handler_giving_other_values_than_its_kind_is_refused() -> None:
    item = kinds.kind("proposal.answered", "followers")
    assert item.values({"제안제목": "t", "답변주체": "a"}) == {"제안제목": "t", "답변주체": "a"}
    with pytest.raises(TemplateError, match=r"proposal\.answered to followers"):
        item.values({"제안제목": "t"})
