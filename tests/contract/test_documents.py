"""The published OpenAPI and AsyncAPI documents match the code and describe every endpoint
and event with examples."""

from __future__ import annotations

from typing import Any

import pytest
from generate import asyncapi_document, expected_files, openapi_documents


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
