"""The language of problem documents: chosen per request from ``Accept-Language`` (default
``PLATFORM_PROBLEM_LANGUAGE``), applied by services.problems.problem_response with the Korean
text of services.problem_catalogue (see there for the rules)."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Final, Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from services.problem_catalogue import CATALOGUE

Language = Literal["en", "ko"]
LANGUAGES: Final[tuple[Language, ...]] = ("en", "ko")

#: The language of the problems answered to the current request (set by
#: :class:`ProblemLanguageMiddleware`).
problem_language_var: ContextVar[Language] = ContextVar("problem_language", default="en")


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _fields(errors: Any) -> str:
    if not isinstance(errors, list):
        return ""
    locations = []
    for err in errors[:5]:
        loc = err.get("loc", ()) if isinstance(err, dict) else ()
        locations.append(".".join(str(p) for p in loc))
    return ", ".join(locations)


def localize(
    slug: str, title: str, detail: str | None, extra: Mapping[str, Any], language: Language
) -> tuple[str, str | None]:
    """The title and detail of a problem in ``language``."""
    entry = CATALOGUE.get(slug)
    if language != "ko" or entry is None:
        return title, detail
    values = {key: _value(value) for key, value in extra.items()}
    values["fields"] = _fields(extra.get("errors"))
    try:
        ko_detail = entry.ko_detail.format_map(values)
    except (KeyError, IndexError, ValueError):
        ko_detail = entry.ko_title
    return entry.ko_title, ko_detail


def preferred_language(accept_language: str | None, default: Language) -> Language:
    """The language of ``LANGUAGES`` the ``Accept-Language`` header prefers (``default`` when it
    names none of them)."""
    if not accept_language:
        return default
    best: tuple[float, Language] | None = None
    for item in accept_language.split(","):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        candidates: tuple[Language, ...] = (
            (default,) if primary == "*" else tuple(lang for lang in LANGUAGES if lang == primary)
        )
        for language in candidates:
            if best is None or quality > best[0]:
                best = (quality, language)
    return best[1] if best else default


class ProblemLanguageMiddleware:
    """Choose the language of the request's problems from ``Accept-Language``."""

    def __init__(self, app: ASGIApp, default: Language = "en") -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"accept-language")
        language = preferred_language(
            header.decode("latin-1") if header is not None else None, self.default
        )
        token = problem_language_var.set(language)
        try:
            await self.app(scope, receive, send)
        finally:
            problem_language_var.reset(token)
