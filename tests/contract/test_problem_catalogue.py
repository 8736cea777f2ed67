"""Every problem type the code answers with is in the catalogue (services.problem_catalogue,
rendered as docs/problems.md) with a Korean title and detail."""

from __future__ import annotations

import re

from problem_slugs import code_slugs, slugs_in

from services.problem_catalogue import CATALOGUE
from services.problems import _SLUGS

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_every_slug_in_the_code_is_in_the_catalogue() -> None:
    found = code_slugs()
    assert len(found) > 80, "the scanner finds too little to be working"
    missing = [f"{f.where}: {f.pattern}" for f in found if not any(map(f.matches, CATALOGUE))]
    assert not missing, "add these problem types to services/problem_catalogue.py:\n" + "\n".join(
        missing
    )
    generic = set(_SLUGS.values()) - set(CATALOGUE)
    assert not generic, generic


def test_every_catalogue_entry_has_korean_text_and_a_problem_status() -> None:
    for slug, entry in CATALOGUE.items():
        assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", slug), slug
        assert 400 <= entry.status < 600, slug
        assert entry.title, slug
        assert entry.title.isascii(), slug
        assert HANGUL.search(entry.ko_title), f"{slug}: no Korean title"
        assert HANGUL.search(entry.ko_detail), f"{slug}: no Korean detail"


def test_the_scanner_finds_each_way_a_slug_is_written() -> None:
    source = """
raise ProblemError(409, "planted-conflict", "t")
response = problem_response(path, 503, "planted-outage", "t")
super().__init__(404, f"{kind}-planted-missing", "t")
error = ProviderError("d", status=410, slug="planted-gone")
raise _refuse("planted-refusal", "d", "reason")
ok = compute(200, "not-a-problem")
"""
    found = slugs_in(source, "planted.py")
    assert any(f.matches("planted-conflict") for f in found)
    assert any(f.matches("planted-outage") for f in found)
    assert any(f.matches("forum-planted-missing") for f in found)
    assert any(f.matches("planted-gone") for f in found)
    assert any(f.matches("planted-refusal") for f in found)
    assert not any(f.matches("not-a-problem") for f in found)
