"""The rules of a service's anatomy that a machine can check (docs/architecture.md, "Service
anatomy"), as functions over a source tree, so that tests run them on the repository and on a
tree with a planted violation.

Run directly for a report: ``python tests/contract/anatomy.py [root]``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("identity-svc", "proposal-svc", "vote-svc", "ledger-svc", "notify-svc")
#: Every workspace member with a ``src/`` layout: its directory → its import package.
MEMBERS = {"services": "services", "services-dev": "services_dev"} | {
    s: s.replace("-", "_") for s in SERVICES
}
PLATFORM_PACKAGES = frozenset(MEMBERS.values())
#: Past this a module or function should be split (the issue says "about"; these are the bounds).
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
#: Files each service must have (its composition root and its one module of dependencies).
REQUIRED = ("bootstrap.py", "deps.py", "main.py", "config.py", "api.py")


@dataclass(frozen=True, order=True)
class Violation:
    path: str
    line: int
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.detail}"


def _python_files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*.py")):
        if "/migrations/versions/" not in path.as_posix():
            yield path


def _imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def _allowed_imports(member: str, *, in_tests: bool) -> frozenset[str]:
    own = MEMBERS[member]
    allowed = {own, "services"}
    if in_tests or member == "services-dev":
        allowed.add("services_dev")  # the test plugin and the local runtime
    return frozenset(allowed)


def import_violations(root: Path = ROOT) -> list[Violation]:
    """A member (its code and its tests) imports only itself and ``services`` (tests and the
    dev tooling also ``services_dev``): no service imports another service, and the
    ``services`` library imports no service and no dev tooling."""
    found: list[Violation] = []
    for member in MEMBERS:
        base = root / member
        for part in ("src", "tests"):
            if not (base / part).is_dir():
                continue
            allowed = _allowed_imports(member, in_tests=part == "tests")
            for path in _python_files(base / part):
                tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
                for line, name in _imported(tree):
                    if name in PLATFORM_PACKAGES and name not in allowed:
                        found.append(
                            Violation(
                                str(path.relative_to(root)),
                                line,
                                "cross-member import",
                                f"{member} imports {name}; only {sorted(allowed)} are allowed "
                                "(cross-service tests belong in tests/)",
                            )
                        )
    return sorted(found)


def size_violations(root: Path = ROOT) -> list[Violation]:
    """No module under a member's ``src/`` over MAX_MODULE_LINES lines, no function over
    MAX_FUNCTION_LINES."""
    found: list[Violation] = []
    for member in MEMBERS:
        src = root / member / "src"
        if not src.is_dir():
            continue
        for path in _python_files(src):
            text = path.read_text(encoding="utf-8")
            rel = str(path.relative_to(root))
            lines = text.count("\n") + (not text.endswith("\n") and bool(text))
            if lines > MAX_MODULE_LINES:
                found.append(
                    Violation(rel, 1, "module too long", f"{lines} lines > {MAX_MODULE_LINES}")
                )
            for node in ast.walk(ast.parse(text, rel)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        found.append(
                            Violation(
                                rel,
                                node.lineno,
                                "function too long",
                                f"{node.name}: {length} lines > {MAX_FUNCTION_LINES}",
                            )
                        )
    return sorted(found)


def _use_case_modules(package: Path) -> Iterator[Path]:
    if (package / "service.py").is_file():
        yield package / "service.py"
    if (package / "service").is_dir():
        yield from _python_files(package / "service")


def commit_violations(root: Path = ROOT) -> list[Violation]:
    """Use cases never commit: the request or consumer boundary owns the transaction
    (``services.db``). No ``.commit()`` call in a service's ``service.py`` or ``service/``."""
    found: list[Violation] = []
    for svc in SERVICES:
        package = root / svc / "src" / MEMBERS[svc]
        for path in _use_case_modules(package):
            rel = str(path.relative_to(root))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), rel)):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "commit"
                ):
                    found.append(Violation(rel, node.lineno, "commit in a use case", "commit()"))
    return sorted(found)


def layout_violations(root: Path = ROOT) -> list[Violation]:
    """Every service has its composition root, its deps module, app factory, settings, routes."""
    found: list[Violation] = []
    for svc in SERVICES:
        package = root / svc / "src" / MEMBERS[svc]
        for name in REQUIRED:
            if not (package / name).is_file():
                rel = str((package / name).relative_to(root))
                found.append(Violation(rel, 0, "missing module", f"{svc} has no {name}"))
    return found


def all_violations(root: Path = ROOT) -> list[Violation]:
    """Every rule above."""
    return [
        *import_violations(root),
        *size_violations(root),
        *commit_violations(root),
        *layout_violations(root),
    ]


if __name__ == "__main__":
    problems = all_violations(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
    for problem in problems:
        print(problem)  # noqa: T201
    raise SystemExit(1 if problems else 0)
