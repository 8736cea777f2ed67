"""Find every problem ``type`` slug the code answers with, by reading the source (ast).

A slug is found where a call passes a status (400..599) and then a slug literal as positional
arguments (``ProblemError(409, "already-voted", ...)``, ``problem_response(path, 503,
"overloaded", ...)``, ``super().__init__(404, f"{kind}-not-found", ...)``), passes ``slug="..."``,
or calls a ``_refuse("slug", ...)`` helper; plus the generic slugs of services.problems. An
f-string slug is a pattern (each ``{...}`` matches one word).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = ("services", "identity-svc", "proposal-svc", "vote-svc", "ledger-svc", "notify-svc")
SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$|^[a-z]+$")


@dataclass(frozen=True)
class FoundSlug:
    """A slug (or a pattern of slugs) and where it is."""

    pattern: str
    where: str

    def matches(self, slug: str) -> bool:
        return re.fullmatch(self.pattern, slug) is not None


def _pattern(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value) if SLUG.match(node.value) else None
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(re.escape(value.value))
            else:
                parts.append("[a-z]+")
        return "".join(parts)
    return None


def _is_status(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
        and 400 <= node.value < 600
    )


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def slugs_in(source: str, where: str) -> list[FoundSlug]:
    """Every slug used in one module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        candidates: list[ast.expr] = []
        candidates += [b for a, b in zip(node.args, node.args[1:], strict=False) if _is_status(a)]
        candidates += [k.value for k in node.keywords if k.arg == "slug"]
        if _call_name(node) == "_refuse" and node.args:
            candidates.append(node.args[0])
        for candidate in candidates:
            pattern = _pattern(candidate)
            if pattern is not None:
                found.append(FoundSlug(pattern, f"{where}:{node.lineno}"))
    return found


def code_slugs(root: Path = ROOT) -> list[FoundSlug]:
    """Every slug in the services' and the library's source."""
    found = []
    for member in MEMBERS:
        for path in sorted((root / member / "src").rglob("*.py")):
            found += slugs_in(path.read_text(encoding="utf-8"), str(path.relative_to(root)))
    return found
