"""CloudEvents envelope and the event registry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from services_helpers import SampleHappened

from services.events import (
    CitizenSuspended,
    CloudEvent,
    UnknownEventType,
    parse_event,
    registered_events,
    to_envelope,
)


def test_envelope_is_cloudevents_1_0() -> None:
    event = SampleHappened(sample_id=uuid.uuid4(), note="안녕")
    envelope = to_envelope(event)
    body = envelope.model_dump(mode="json")
    assert body["specversion"] == "1.0"
    assert body["type"] == "kr.seoul.democracy.sample.happened.v1"
    assert body["source"] == "/tests"
    assert body["subject"] == f"samples/{event.sample_id}"
    assert body["datacontenttype"] == "application/json"
    assert uuid.UUID(body["id"])
    assert datetime.fromisoformat(body["time"]).tzinfo is not None
    assert SampleHappened.subject_name() == "sample.happened.v1"
    assert parse_event(CloudEvent.model_validate(body)) == event


def test_each_envelope_has_a_new_id() -> None:
    event = SampleHappened(sample_id=uuid.uuid4())
    assert to_envelope(event).id != to_envelope(event).id


def test_events_are_frozen_and_validated() -> None:
    event = SampleHappened(sample_id=uuid.uuid4())
    with pytest.raises(ValidationError):
        event.note = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        SampleHappened.model_validate({"sample_id": "not-a-uuid"})


def test_newer_fields_are_ignored_by_older_consumers() -> None:
    sample_id = uuid.uuid4()
    envelope = CloudEvent(
        id=str(uuid.uuid4()),
        source="/tests",
        type=SampleHappened.ce_type(),
        time=datetime.now(UTC),
        data={"sample_id": str(sample_id), "added_later": 1},
    )
    assert parse_event(envelope) == SampleHappened(sample_id=sample_id)


def test_unknown_type_is_reported() -> None:
    envelope = CloudEvent(
        id=str(uuid.uuid4()), source="/x", type="kr.seoul.democracy.nope.v1", time=datetime.now(UTC)
    )
    with pytest.raises(UnknownEventType):
        parse_event(envelope)


def test_registry_lists_platform_events() -> None:
    types = {cls.ce_type() for cls in registered_events()}
    assert CitizenSuspended.ce_type() in types
    assert "kr.seoul.democracy.identity.citizen_verified.v1" in types


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):

        class Again(SampleHappened):
            name = "sample.happened"
