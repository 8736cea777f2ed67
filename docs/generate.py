"""Generate the published API documents from the code: one OpenAPI document per service
(docs/openapi/<service>.json), the platform's merged document of the five public APIs (served as
``GET /openapi.json`` through the entry point, from the ``services`` package:
services/src/services/apidocs/platform.json) and the AsyncAPI 3 document of every event
(docs/events/asyncapi.json).

Run with ``make docs``; tests/contract checks that the committed documents are up to date.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from identity_svc.main import create_app as identity_app
from ledger_svc.main import create_app as ledger_app
from notify_svc.main import create_app as notify_app
from proposal_svc.main import create_app as proposal_app
from services.apidocs import PLATFORM_DOCUMENT
from services.events import registered_events
from services.nats import STREAMS, stream_for_subject
from services.problem_catalogue import CATALOGUE
from services.problems import PROBLEM_TYPE_BASE
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


#: Paths of every service that the entry point does not route (docs/api.md, "Entry point").
UNROUTED_PATHS = ("/healthz", "/readyz", "/metrics")
UNROUTED_PREFIXES = ("/internal/",)
PLATFORM_DESCRIPTION = """\
The public APIs of the five services, as routed by the single HTTP entry point (Caddy on :8000
locally, the ingress in Kubernetes; docs/api.md). Generated from the services' own documents
(`make docs`); each service also serves its own at `/openapi.json` on its own port.

- **Authentication**: operations marked with `bearerAuth` need `Authorization: Bearer
  <access token>` (identity-svc issues it; 401 `invalid-token` otherwise). The others are public.
- **Errors**: every refusal is RFC 9457 `application/problem+json` with a stable `type`
  (catalogue: docs/problems.md); `title` and `detail` are in Korean with `Accept-Language: ko`.
- **Browsers**: CORS is granted to the configured origins (`PLATFORM_CORS_ORIGINS`).
"""


def _walk_refs(node: Any, renames: dict[str, str]) -> Any:
    """``node`` with its ``#/components/schemas/<name>`` references renamed."""
    if isinstance(node, dict):
        out = {k: _walk_refs(v, renames) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[-1]
            out["$ref"] = "#/components/schemas/" + renames.get(name, name)
        return out
    if isinstance(node, list):
        return [_walk_refs(v, renames) for v in node]
    return node


def _service_prefix(service: str) -> str:
    return service.removesuffix("-svc").capitalize()


def platform_document(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One OpenAPI 3.1 document of what the entry point routes: every service's public paths
    (not /internal/*, nor the per-service health and metrics), their schemas (a name two
    services define differently is prefixed with the service: ``VoteProposalOut``), tags and
    security schemes."""
    owners: dict[str, list[tuple[str, str]]] = {}
    for service, doc in documents.items():
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            owners.setdefault(name, []).append((service, json.dumps(schema, sort_keys=True)))
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    security_schemes: dict[str, Any] = {}
    tags: dict[str, dict[str, Any]] = {}
    for service, doc in documents.items():
        renames = {
            name: _service_prefix(service) + name
            for name, defs in owners.items()
            if len({text for _, text in defs}) > 1 and service in {s for s, _ in defs}
        }
        doc = _walk_refs(doc, renames)
        for path, item in doc["paths"].items():
            if path in UNROUTED_PATHS or path.startswith(UNROUTED_PREFIXES):
                continue
            if path in paths:
                raise ValueError(f"{path} is published by two services")
            paths[path] = item
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            schemas[renames.get(name, name)] = schema
        security_schemes.update(doc.get("components", {}).get("securitySchemes", {}))
        for tag in doc.get("tags", []):
            if tag["name"] != "operations":
                tags.setdefault(tag["name"], {**tag, "x-service": service})
    components: dict[str, Any] = {"schemas": dict(sorted(schemas.items()))}
    if security_schemes:
        components["securitySchemes"] = security_schemes
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Democracy platform API",
            "version": "1.0.0",
            "description": PLATFORM_DESCRIPTION,
        },
        "servers": [
            {"url": "/", "description": "the entry point this document was fetched from"},
            {"url": "http://127.0.0.1:8000", "description": "make run"},
        ],
        "tags": list(tags.values()),
        "paths": dict(sorted(paths.items())),
        "components": components,
    }


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


PROBLEMS_INTRO = """\
# Problem types

Generated from `services/src/services/problem_catalogue.py` by `make docs` (a test fails when
this file is stale, and another when a slug used in the code is missing from the catalogue).

Every refusal is an RFC 9457 `application/problem+json` document whose `type` is
`{base}<slug>`. **Branch on the slug**: it never changes with the language. `title` and `detail`
are in Korean when the request prefers it (`Accept-Language: ko`, or `ko-KR,ko;q=0.9,...`), in
English otherwise; a request without a usable `Accept-Language` gets the platform's default,
`PLATFORM_PROBLEM_LANGUAGE` (`en` unless set to `ko`). The answer says which in
`Content-Language` (and `Vary: Accept-Language`). A Korean detail is filled from the problem's
extension members (`{{max_bytes}}`, `{{required_roles}}`, ...); extension members themselves are
the same in both languages. The English detail is often more specific (it names the value
that was refused).

| type (slug) | status | English title | 한국어 제목 | 한국어 설명 |
|---|---|---|---|---|
"""


def problems_markdown() -> str:
    """docs/problems.md: the catalogue of problem types."""
    rows = [
        f"| `{slug}` | {entry.status} | {entry.title} | {entry.ko_title} | {entry.ko_detail} |"
        for slug, entry in sorted(CATALOGUE.items())
    ]
    return PROBLEMS_INTRO.format(base=PROBLEM_TYPE_BASE) + "\n".join(rows) + "\n"


def render(document: dict[str, Any]) -> str:
    """Stable JSON text (what is committed)."""
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def expected_files() -> dict[Path, str]:
    """Every generated file and its content."""
    documents = openapi_documents()
    files = {DOCS / "openapi" / f"{name}.json": render(doc) for name, doc in documents.items()}
    files[PLATFORM_DOCUMENT] = render(platform_document(documents))
    files[DOCS / "events" / "asyncapi.json"] = render(asyncapi_document())
    files[DOCS / "problems.md"] = problems_markdown()
    return files


def main() -> int:
    for path, text in expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {os.path.relpath(path, DOCS.parent)}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
