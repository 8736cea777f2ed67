"""Generate the published API documents from the code: one OpenAPI document per service
(docs/openapi/<service>.json) and the AsyncAPI 3 document of every event (docs/events/asyncapi.json).

Run with ``make docs``; tests/contract checks that the committed documents are up to date.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from identity_svc.main import create_app as identity_app
from ledger_svc.main import create_app as ledger_app
from notify_svc.main import create_app as notify_app
from proposal_svc.main import create_app as proposal_app
from services.events import registered_events
from services.nats import STREAMS, stream_for_subject
from vote_svc.main import create_app as vote_app

DOCS = Path(__file__).parent
APPS: dict[str, Callable[[], FastAPI]] = {
    "identity-svc": identity_app,
    "proposal-svc": proposal_app,
    "vote-svc": vote_app,
    "ledger-svc": ledger_app,
    "notify-svc": notify_app,
}


def openapi_documents() -> dict[str, dict[str, Any]]:
    """Each service's OpenAPI document (the app is built, not started)."""
    documents = {}
    for name, factory in APPS.items():
        app: FastAPI = factory()
        documents[name] = app.openapi()
    return documents


def asyncapi_document() -> dict[str, Any]:
    """AsyncAPI 3.0 description of every event: channel per NATS subject, CloudEvents envelope."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {
        "CloudEvent": {
            "type": "object",
            "description": "CloudEvents 1.0 JSON envelope; `data` holds the event.",
            "required": ["id", "source", "type", "specversion", "time", "datacontenttype", "data"],
            "properties": {
                "id": {
                    "type": "string",
                    "format": "uuid",
                    "description": "Event id, also the Nats-Msg-Id (dedupe key)",
                },
                "source": {"type": "string", "examples": ["/identity-svc"]},
                "type": {
                    "type": "string",
                    "examples": ["kr.seoul.democracy.identity.citizen_verified.v1"],
                },
                "specversion": {"const": "1.0"},
                "time": {"type": "string", "format": "date-time"},
                "subject": {
                    "type": ["string", "null"],
                    "examples": ["citizens/6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f"],
                },
                "datacontenttype": {"const": "application/json"},
                "data": {"type": "object"},
            },
        }
    }
    # Only the platform's schemas (tests register event types of their own).
    for event in (e for e in registered_events() if e.__module__ == "services.events.schemas"):
        subject = event.subject_name()
        key = event.name.replace(".", "_") + f"_v{event.version}"
        data_schema = event.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in data_schema.pop("$defs", {}).items():
            schemas[name] = definition
        schemas[key] = data_schema
        messages[key] = {
            "name": event.ce_type(),
            "title": event.__name__,
            "summary": (event.__doc__ or "").strip().splitlines()[0] if event.__doc__ else "",
            "contentType": "application/cloudevents+json",
            "headers": {
                "type": "object",
                "properties": {
                    "Nats-Msg-Id": {"type": "string", "description": "= CloudEvents id"}
                },
            },
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/CloudEvent"},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": event.ce_type()},
                            "source": {"const": event.source},
                            "data": {"$ref": f"#/components/schemas/{key}"},
                        },
                    },
                ]
            },
        }
        channels[key] = {
            "address": subject,
            "description": f"JetStream stream {stream_for_subject(subject)}",
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        operations[f"receive_{key}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"Published by {event.source.strip('/')} through its transactional outbox",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Democracy platform events",
            "version": "1.0.0",
            "description": (
                "CloudEvents 1.0 over NATS JetStream. Streams: "
                + ", ".join(f"{s.name} ({', '.join(s.subjects)})" for s in STREAMS)
                + ". Delivery is at least once; deduplicate on the CloudEvents id."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "local": {"host": "127.0.0.1:4222", "protocol": "nats", "description": "make run"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render(document: dict[str, Any]) -> str:
    """Stable JSON text (what is committed)."""
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def expected_files() -> dict[Path, str]:
    """Every generated file and its content."""
    files = {
        DOCS / "openapi" / f"{name}.json": render(doc) for name, doc in openapi_documents().items()
    }
    files[DOCS / "events" / "asyncapi.json"] = render(asyncapi_document())
    return files


def main() -> int:
    for path, text in expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(DOCS.parent)}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
