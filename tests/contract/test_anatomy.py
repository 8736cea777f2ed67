"""The service anatomy's machine-checkable rules (docs/architecture.md, "Service anatomy") hold on
the repository, and each check finds a planted violation (so a check that cannot fail is caught)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from anatomy import (
    MAX_FUNCTION_LINES,
    MAX_MODULE_LINES,
    ROOT,
    SERVICES,
    all_violations,
    commit_violations,
    import_violations,
    layout_violations,
    size_violations,
)


def test_the_repository_follows_every_rule() -> None:
    problems = all_violations()
    assert not problems, "\n".join(str(p) for p in problems)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of every member's src/ and tests/ (no data, no venv)."""
    for member in ("services", "services-dev", *SERVICES):
        for part in ("src", "tests"):
            source = ROOT / member / part
            if source.is_dir():
                shutil.copytree(
                    source,
                    tmp_path / member / part,
                    ignore=shutil.ignore_patterns("__pycache__", "data"),
                )
    return tmp_path


def _plant(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("where", "line"),
    [
        ("vote-svc/src/vote_svc/planted.py", "from proposal_svc import service\n"),
        ("vote-svc/src/vote_svc/planted.py", "import identity_svc.config\n"),
        ("notify-svc/tests/test_planted.py", "from vote_svc.main import create_app\n"),
        ("services/src/services/planted.py", "from services_dev.testing import running_app\n"),
        ("services/src/services/planted.py", "import ledger_svc\n"),
    ],
)
def test_a_planted_cross_member_import_is_found(tree: Path, where: str, line: str) -> None:
    _plant(tree / where, f'"""planted"""\n\n{line}')
    found = import_violations(tree)
    assert [(v.path, v.rule) for v in found] == [(where, "cross-member import")]


def test_a_services_own_and_shared_imports_pass(tree: Path) -> None:
    _plant(
        tree / "vote-svc/tests/test_planted.py",
        "import services.db\nfrom services_dev.testing import running_app\nfrom vote_svc import hot_path\n",
    )
    assert import_violations(tree) == []


def test_a_planted_long_module_and_long_function_are_found(tree: Path) -> None:
    _plant(tree / "ledger-svc/src/ledger_svc/long.py", "x = 1\n" * (MAX_MODULE_LINES + 1))
    body = "".join(f"    y{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    _plant(tree / "ledger-svc/src/ledger_svc/longfn.py", f"def long() -> None:\n{body}")
    rules = sorted((v.path, v.rule) for v in size_violations(tree))
    assert rules == [
        ("ledger-svc/src/ledger_svc/long.py", "module too long"),
        ("ledger-svc/src/ledger_svc/longfn.py", "function too long"),
    ]


def test_a_planted_commit_in_a_use_case_is_found(tree: Path) -> None:
    _plant(
        tree / "proposal-svc/src/proposal_svc/service/planted.py",
        "async def f(session):\n    await session.commit()\n",
    )
    found = commit_violations(tree)
    assert [(v.path, v.rule) for v in found] == [
        ("proposal-svc/src/proposal_svc/service/planted.py", "commit in a use case")
    ]


def test_a_missing_composition_root_is_found(tree: Path) -> None:
    (tree / "notify-svc/src/notify_svc/bootstrap.py").unlink()
    found = layout_violations(tree)
    assert [v.detail for v in found] == ["notify-svc has no bootstrap.py"]
