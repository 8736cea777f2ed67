"""The published OpenAPI and AsyncAPI documents match the code and describe every endpoint
and event with examples."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from generate import asyncapi_document, expected_files, openapi_documents, platform_document

from services.apidocs import PLATFORM_DOCUMENT


def test_committed_documents_are_up_to_date() -> None:
    stale = [
        str(path)
        for path, text in expected_files().items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"run `make docs` and commit: {stale}"


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def _has_example(doc: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    schema = _resolve(doc, media.get("schema", {}))
    return "examples" in schema or "example" in schema


DOCUMENTS = openapi_documents()


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_every_operation_is_described_with_examples(service: str) -> None:
    doc = DOCUMENTS[service]
    assert doc["paths"], service
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            where = f"{service} {method.upper()} {path}"
            assert operation.get("summary"), f"{where}: no summary"
            assert operation.get("tags"), f"{where}: no tag"
            body = operation.get("requestBody")
            if body:
                for media in body["content"].values():
                    assert _has_example(doc, media), f"{where}: request body without example"
            successes = {k: v for k, v in operation["responses"].items() if k.startswith("2")}
            assert successes, f"{where}: no success response"
            for status, response in successes.items():
                for media in response.get("content", {}).values():
                    assert _has_example(doc, media), f"{where}: {status} response without example"
            for status, response in operation["responses"].items():
                # /readyz answers its probe body with 503, by design not a problem document.
                if status.startswith(("4", "5")) and path != "/readyz":
                    assert "application/problem+json" in response.get("content", {}), (
                        f"{where}: {status} is not documented as problem+json"
                    )


def test_every_event_is_in_the_asyncapi_document() -> None:
    doc = asyncapi_document()
    assert doc["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert "identity.citizen_verified.v1" in addresses
    assert "identity.citizen_suspended.v1" in addresses
    for message in doc["components"]["messages"].values():
        assert message["name"].startswith("kr.seoul.democracy.")


def test_the_platform_document_merges_every_public_path_of_the_five_services() -> None:
    merged = platform_document(DOCUMENTS)
    assert merged["openapi"] == "3.1.0"
    assert json.loads(PLATFORM_DOCUMENT.read_text()) == merged
    public = {
        path
        for doc in DOCUMENTS.values()
        for path in doc["paths"]
        if not path.startswith("/internal/") and path not in ("/healthz", "/readyz", "/metrics")
    }
    assert set(merged["paths"]) == public
    assert {"/v1/identity/me", "/v1/proposals", "/v1/votes/agreements", "/v1/ledger/head"} <= public
    assert not [p for p in merged["paths"] if p.startswith("/internal")]
    operation_ids = [op["operationId"] for item in merged["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids)), "operationIds collide"
    # Every reference resolves in the merged document.
    text = json.dumps(merged)
    for name in set(re.findall(r'"#/components/schemas/([^"]+)"', text)):
        assert name in merged["components"]["schemas"], name


def test_a_schema_two_services_define_differently_is_kept_apart() -> None:
    def doc(title: str) -> dict[str, Any]:
        ref = {"$ref": "#/components/schemas/Thing"}
        return {
            "paths": {f"/v1/{title}": {"get": {"responses": {"200": {"content": {"a": ref}}}}}},
            "components": {"schemas": {"Thing": {"title": title}, "Problem": {"x": 1}}},
        }

    merged = platform_document({"vote-svc": doc("vote"), "ledger-svc": doc("ledger")})
    schemas = merged["components"]["schemas"]
    assert schemas["VoteThing"] == {"title": "vote"}
    assert schemas["LedgerThing"] == {"title": "ledger"}
    assert schemas["Problem"] == {"x": 1}
    vote_ref = merged["paths"]["/v1/vote"]["get"]["responses"]["200"]["content"]["a"]
    assert vote_ref == {"$ref": "#/components/schemas/VoteThing"}
