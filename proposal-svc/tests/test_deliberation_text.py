"""The text rules and what holds a comment at posting, on the committed Korean corpus
(tests/data/deliberation_corpus.json): no false hold on ordinary words that contain a listed
syllable sequence, holds on listed words in inflected forms, personal data held."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from proposal_svc.config import ProposalSettings
from proposal_svc.deliberation.screening import personal_data, screen
from proposal_svc.deliberation.text import clean_text
from proposal_svc.deliberation.wordlist import DEFAULT_HELD_WORDS, WordList
from services.problems import ProblemError

CORPUS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "deliberation_corpus.json").read_text(encoding="utf-8")
)
PROPOSALS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "corpus" / "seoul_proposals.json").read_text(encoding="utf-8")
)
DEFAULT = WordList(DEFAULT_HELD_WORDS)
WIDER = WordList((*DEFAULT_HELD_WORDS, *CORPUS["extra_words"]))


@pytest.mark.parametrize("text", CORPUS["ordinary"])
def test_ordinary_comments_are_not_held(text: str) -> None:
    assert screen(text, DEFAULT) is None


@pytest.mark.parametrize("text", CORPUS["composed"])
def test_ordinary_words_containing_listed_syllables_are_not_held(text: str) -> None:
    assert DEFAULT.find(text) is None
    assert WIDER.find(text) is None  # even with 시발 and 닥쳐 listed


def test_no_proposal_of_the_similarity_corpus_would_be_held() -> None:
    for proposal in PROPOSALS["proposals"]:
        assert screen(f"{proposal['title']}\n{proposal['body']}", DEFAULT) is None, proposal


@pytest.mark.parametrize("case", CORPUS["held"], ids=lambda case: case["text"])
def test_listed_words_are_held_inflected_and_with_particles(case: dict[str, str]) -> None:
    assert DEFAULT.find(case["text"]) == case["word"]
    assert screen(case["text"], DEFAULT) == "word_list"


def test_a_listed_ambiguous_word_holds_on_its_own_but_not_inside_a_word() -> None:
    assert WIDER.find("시발 진짜") == "시발"
    assert WIDER.find("시발점") is None
    assert WIDER.find("닥쳐!") == "닥쳐"
    assert WIDER.find("닥쳐온다") is None


def test_the_list_is_configurable_and_checked() -> None:
    mine = WordList(["Spam", "광고"])
    assert mine.find("SPAMS everywhere") == "spam"
    assert mine.find("광고입니다") == "광고"
    assert mine.find("씨발") is None
    settings = ProposalSettings(comment_held_words=["  Spam ", "광고"])
    assert settings.comment_held_words == ["spam", "광고"]
    with pytest.raises(ValidationError, match="one Korean word"):
        ProposalSettings(comment_held_words=["two words"])


@pytest.mark.parametrize("case", CORPUS["personal_data"], ids=lambda case: case["text"])
def test_phone_and_resident_numbers_are_held(case: dict[str, str]) -> None:
    assert personal_data(case["text"]) == case["kind"]
    assert screen(case["text"], DEFAULT) == "privacy"


@pytest.mark.parametrize("text", CORPUS["ordinary_numbers"])
def test_ordinary_numbers_are_not_personal_data(text: str) -> None:
    assert personal_data(text) is None


def test_privacy_comes_before_the_word_list() -> None:
    assert screen("씨발 010-1234-5678", DEFAULT) == "privacy"


def _refusal(value: str, max_chars: int = 50) -> ProblemError:
    with pytest.raises(ProblemError) as refused:
        clean_text(value, field="body", max_chars=max_chars)
    assert refused.value.status == 422
    return refused.value


def test_text_is_nfc_trimmed_with_line_breaks_and_tabs_kept() -> None:
    decomposed = unicodedata.normalize("NFD", "  따릉이\r\n정류장\t🚲  ")
    assert clean_text(decomposed, field="body", max_chars=50) == "따릉이\n정류장\t🚲"
    assert clean_text("👨‍👩‍👧 가족", field="body", max_chars=50) == "👨‍👩‍👧 가족"  # ZWJ emoji


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x85", "\ud800", "\u202e", "\u2066"])
def test_control_characters_are_refused(char: str) -> None:
    assert _refusal(f"안녕{char}하세요").slug == "invalid-characters"


@pytest.mark.parametrize("blank", ["", "   ", "\n\t\n", "\u3000", "\u200b\u200b", "\u3164"])
def test_nothing_visible_is_refused(blank: str) -> None:
    assert _refusal(blank).slug == "empty-text"


def test_length_is_counted_after_normalisation() -> None:
    decomposed = unicodedata.normalize("NFD", "가" * 50)  # 100 code points, 50 after NFC
    assert clean_text(decomposed, field="body", max_chars=50) == "가" * 50
    refused = _refusal("가" * 51)
    assert (refused.slug, refused.extra["max_chars"]) == ("text-too-long", 50)
