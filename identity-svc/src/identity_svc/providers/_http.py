"""What the HTTP adapters share: one call that turns transport failures into "retry later"
instead of a refusal, and the reading of a provider's JSON answer."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from identity_svc.providers.base import ProviderError, as_mapping, unavailable

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


def misconfigured(provider: str, status: int) -> ProviderError:
    """The provider refused our own credentials: an operator must fix the configuration. The
    attempt is not burnt (nothing about the person was wrong)."""
    log.error(
        "%s refused our credentials (HTTP %s): check its IDENTITY_* settings", provider, status
    )
    return ProviderError(
        f"{provider} refused this service's credentials",
        status=502,
        slug="provider-misconfigured",
        title="Identity provider refused the service",
        burn=False,
    )


async def call(
    client: httpx.AsyncClient, provider: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """Send one request; a network failure, a timeout, 429 or 5xx is :func:`unavailable` (the
    same completion can be retried), 401/403 is :func:`misconfigured`."""
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        log.warning("%s unreachable: %r", provider, exc)
        raise unavailable(f"{provider} could not be reached; try again") from exc
    if response.status_code == 429 or response.status_code >= 500:
        log.warning("%s answered HTTP %s", provider, response.status_code)
        raise unavailable(f"{provider} is unavailable (HTTP {response.status_code}); try again")
    if response.status_code in (401, 403):
        raise misconfigured(provider, response.status_code)
    return response


def json_of(response: httpx.Response, what: str) -> Mapping[str, Any]:
    """The JSON object of ``response``, or a refusal naming ``what`` it should have been."""
    try:
        body = response.json()
    except ValueError:
        raise ProviderError(f"{what} is not JSON") from None
    return as_mapping(body, what)


def parse(model: type[M], body: Mapping[str, Any], what: str) -> M:
    """``body`` read as ``model``; a shape the provider's documentation does not allow is refused
    (naming the first offending field, never its value: it may be personal data)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ProviderError(f"{what}: {where}: {first['msg']}") from None
