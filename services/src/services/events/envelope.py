"""CloudEvents 1.0 (JSON format) envelope and the registry of typed event schemas."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Prefix of every CloudEvents ``type`` we publish.
TYPE_PREFIX = "kr.seoul.democracy."

_REGISTRY: dict[str, type[Event]] = {}


class UnknownEventType(LookupError):
    """An envelope names a type that no schema is registered for."""


class Event(BaseModel):
    """Base of every event schema: frozen and versioned.

    Subclasses set ``name`` (``"vote.cast"``), ``version`` and ``source`` (the publishing
    service) and are registered automatically. Within a version only additive changes are
    allowed, so a consumer built against an older schema ignores fields it does not know yet.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: ClassVar[str]
    version: ClassVar[int] = 1
    source: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            ce_type = cls.ce_type()
            if ce_type in _REGISTRY:
                raise ValueError(f"event type {ce_type} registered twice")
            _REGISTRY[ce_type] = cls

    @classmethod
    def ce_type(cls) -> str:
        """The CloudEvents ``type``, e.g. ``kr.seoul.democracy.vote.cast.v1``."""
        return f"{TYPE_PREFIX}{cls.name}.v{cls.version}"

    @classmethod
    def subject_name(cls) -> str:
        """The NATS subject the event is published on, e.g. ``vote.cast.v1``."""
        return nats_subject(cls.name, cls.version)

    def ce_subject(self) -> str | None:
        """The CloudEvents ``subject`` (the entity the event is about); override per type."""
        return None


def nats_subject(name: str, version: int) -> str:
    """Subject-per-type naming: ``<domain>.<event>.v<version>``."""
    return f"{name}.v{version}"


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope in its JSON format."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    type: str
    specversion: Literal["1.0"] = "1.0"
    time: datetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)


def to_envelope(
    event: Event, *, event_id: uuid.UUID | None = None, time: datetime | None = None
) -> CloudEvent:
    """Wrap ``event`` in a new envelope with a fresh id (the id is the dedupe key end to end)."""
    return CloudEvent(
        id=str(event_id or uuid.uuid4()),
        source=event.source,
        type=event.ce_type(),
        time=time or datetime.now(UTC),
        subject=event.ce_subject(),
        data=event.model_dump(mode="json"),
    )


def event_class(ce_type: str) -> type[Event]:
    """The schema registered for a CloudEvents type."""
    try:
        return _REGISTRY[ce_type]
    except KeyError:
        raise UnknownEventType(ce_type) from None


def parse_event(envelope: CloudEvent) -> Event:
    """Validate the envelope's data against its schema."""
    return event_class(envelope.type).model_validate(envelope.data)


def registered_events() -> list[type[Event]]:
    """Every registered event schema, sorted by type (used to generate the AsyncAPI document)."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]
