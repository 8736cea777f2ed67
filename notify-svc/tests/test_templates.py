"""The AlimTalk template registry: exact registered texts, rendering, start-up validation."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notify_svc.encoding import (
    LMS_MAX_BYTES,
    LMS_TITLE_MAX_BYTES,
    SMS_MAX_BYTES,
    cp949_length,
    is_cp949,
)
from notify_svc.providers.base import Channel
from notify_svc.templates import (
    ALIMTALK_MAX_CHARS,
    KAKAO_TEMPLATE_CODES,
    TEMPLATES,
    Template,
    TemplateError,
    TemplateValidationError,
    format_count,
    format_kst_date,
    format_kst_datetime,
    match_template,
    render,
    validate_all,
    validate_templates,
)

TIER_VALUES = {
    "제안제목": "성수동 보행로에 그늘막을 설치해 주세요",
    "동의수": "1,000",
    "의무": "시장 답변",
    "기한": "2025-07-31",
}


def test_registry_has_one_template_per_notification_kind() -> None:
    assert set(TEMPLATES) == {
        "PROPOSAL_TIER_REACHED",
        "PROPOSAL_ANSWERED",
        "PROPOSAL_STATUS_CHANGED",
        "FORUM_OPENED",
        "FORUM_CLOSED",
        "OBLIGATION_OVERDUE",
        "FOLLOWED_TIER_REACHED",
        "FOLLOWED_ANSWERED",
        "FOLLOWED_STATUS_CHANGED",
        "FOLLOWED_FORUM_OPENED",
        "FOLLOWED_FORUM_CLOSED",
    }
    for code in ("TIER_REACHED", "ANSWERED", "STATUS_CHANGED"):
        assert TEMPLATES[f"FOLLOWED_{code}"].variables == TEMPLATES[f"PROPOSAL_{code}"].variables
    for code in ("FORUM_OPENED", "FORUM_CLOSED"):
        assert TEMPLATES[f"FOLLOWED_{code}"].variables == TEMPLATES[code].variables
    assert TEMPLATES["PROPOSAL_TIER_REACHED"].variables == ("제안제목", "동의수", "의무", "기한")
    assert TEMPLATES["PROPOSAL_ANSWERED"].variables == ("제안제목", "답변주체")
    assert TEMPLATES["PROPOSAL_STATUS_CHANGED"].variables == ("제안제목", "상태")
    assert TEMPLATES["FORUM_OPENED"].variables == ("공론장제목", "마감일시")
    assert TEMPLATES["FORUM_CLOSED"].variables == ("공론장제목", "참여자수")
    assert TEMPLATES["OBLIGATION_OVERDUE"].variables == ("제안제목", "의무", "기한")
    assert TEMPLATES["OBLIGATION_OVERDUE"].audience == "staff"
    assert KAKAO_TEMPLATE_CODES["PROPOSAL_TIER_REACHED"] == "PRP_TIER_REACHED_V1"
    assert all(len(code) <= 20 for code in KAKAO_TEMPLATE_CODES.values())


def test_templates_are_informational_polite_korean() -> None:
    for template in TEMPLATES.values():
        assert template.text.startswith("[시민참여] ")
        assert "(광고)" not in template.text  # informational: no advertising
        assert re.search(r"[가-힣]{2,}", template.text)
        assert "니다." in template.text  # polite (합니다체) sentences
        assert template.sms_text.startswith("[시민참여] ")


def test_render_fills_the_registered_text_exactly() -> None:
    rendered = render("PROPOSAL_TIER_REACHED", TIER_VALUES)

    assert rendered.code == "PROPOSAL_TIER_REACHED"
    assert rendered.kakao_code == "PRP_TIER_REACHED_V1"
    assert rendered.text == (
        "[시민참여] 제안 동의 기준 달성 안내\n"
        "\n"
        "안녕하세요. 회원님께서 올리신 제안이 시민 동의 기준에 도달하여 안내해 드립니다.\n"
        "\n"
        "■ 제안: 성수동 보행로에 그늘막을 설치해 주세요\n"
        "■ 동의 수: 1,000명\n"
        "■ 후속 절차: 시장 답변\n"
        "■ 처리 기한: 2025-07-31\n"
        "\n"
        "처리 결과가 나오면 다시 알려 드리겠습니다.\n"
        "※ 이 메시지는 제안 진행 상황을 알려 드리는 안내 메시지입니다."
    )
    assert rendered.sms_text == (
        "[시민참여] 제안 '성수동 보행로에 그늘막을 설치해 주세요' 동의 1,000명 달성. "
        "시장 답변 기한 2025-07-31"
    )
    assert rendered.lms_title == "[시민참여] 제안 동의 기준 달성"
    assert dict(rendered.variables) == TIER_VALUES


def test_render_rejects_missing_extra_and_empty_variables() -> None:
    missing = dict(TIER_VALUES)
    del missing["기한"]
    with pytest.raises(TemplateError, match="missing 기한"):
        render("PROPOSAL_TIER_REACHED", missing)
    with pytest.raises(TemplateError, match="unexpected 비고"):
        render("PROPOSAL_TIER_REACHED", {**TIER_VALUES, "비고": "x"})
    with pytest.raises(TemplateError, match="의무 is empty"):
        render("PROPOSAL_TIER_REACHED", {**TIER_VALUES, "의무": "  "})
    with pytest.raises(TemplateError, match="must be a string"):
        render("PROPOSAL_TIER_REACHED", {**TIER_VALUES, "동의수": 1000})  # type: ignore[dict-item]
    with pytest.raises(TemplateError, match="unknown template 'NOPE'"):
        render("NOPE", {})


def test_render_does_not_substitute_inside_values() -> None:
    rendered = render(
        "PROPOSAL_STATUS_CHANGED", {"제안제목": "#{상태} 그대로", "상태": "답변 완료"}
    )
    assert "■ 제안: #{상태} 그대로\n" in rendered.text
    assert "■ 현재 상태: 답변 완료\n" in rendered.text


def test_render_refuses_text_longer_than_alimtalk_allows() -> None:
    with pytest.raises(TemplateError, match="1000"):
        render("PROPOSAL_STATUS_CHANGED", {"제안제목": "가" * ALIMTALK_MAX_CHARS, "상태": "접수"})


def test_match_template_accepts_only_the_registered_text_with_values() -> None:
    template = TEMPLATES["PROPOSAL_TIER_REACHED"]
    rendered = render("PROPOSAL_TIER_REACHED", TIER_VALUES)
    assert match_template(template.text, rendered.text) == TIER_VALUES
    assert match_template(template.text, rendered.text.replace("\n\n", "\n", 1)) is None
    assert match_template(template.text, rendered.text + " ") is None
    assert match_template(template.text, rendered.text.replace("안내해", "알려")) is None
    assert match_template("#{a}와 #{a}", "x와 x") == {"a": "x"}
    assert match_template("#{a}와 #{a}", "x와 y") is None


def test_validate_all_passes_and_renders_every_sample() -> None:
    rendered = validate_all()
    assert [r.code for r in rendered] == list(TEMPLATES)
    for item in rendered:
        template = TEMPLATES[item.code]
        assert "#{" not in item.text
        assert match_template(template.text, item.text) == dict(template.sample)
        channel, body, title = item.fallback()
        assert is_cp949(body)
        if channel is Channel.SMS:
            assert cp949_length(body) <= SMS_MAX_BYTES
            assert title is None
        else:
            assert cp949_length(body) <= LMS_MAX_BYTES
            assert title is not None
            assert cp949_length(title) <= LMS_TITLE_MAX_BYTES


def test_fallback_is_the_compact_sms_when_it_fits_else_the_full_lms() -> None:
    short = render("PROPOSAL_STATUS_CHANGED", {"제안제목": "그늘막", "상태": "답변 완료"})
    assert short.fallback() == (Channel.SMS, "[시민참여] 제안 '그늘막' 상태: 답변 완료", None)
    long = render("PROPOSAL_TIER_REACHED", TIER_VALUES)
    assert long.fallback() == (Channel.LMS, long.text, "[시민참여] 제안 동의 기준 달성")


def test_fallback_of_a_title_with_emoji_drops_the_emoji() -> None:
    rendered = render("PROPOSAL_STATUS_CHANGED", {"제안제목": "공원 🌳", "상태": "접수"})
    channel, body, _ = rendered.fallback()
    assert (channel, body) == (Channel.SMS, "[시민참여] 제안 '공원 ' 상태: 접수")


def _broken(**changes: object) -> dict[str, Template]:
    template = dataclasses.replace(TEMPLATES["PROPOSAL_STATUS_CHANGED"], **changes)  # type: ignore[arg-type]
    return {template.code: template}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"text": TEMPLATES["PROPOSAL_STATUS_CHANGED"].text + " 🙂"}, "contains emoji"),
        ({"sms_text": "[시민참여] #{없는변수}"}, "unknown variables"),
        ({"lms_title": "[시민참여] 아주 길고 긴 제목이 여기에 들어갑니다"}, "40 bytes"),
        ({"lms_title": "[시민참여] #{상태}"}, "must not have variables"),
        ({"kakao_code": "PROPOSAL_STATUS_CHANGED"}, "1-20 ASCII"),
        ({"sample": {"제안제목": "x"}}, "sample must give exactly"),
        ({"audience": "everyone"}, "audience"),
        ({"text": "[시민참여] #{제안제목} #{상태}" + "가" * 1000}, "does not render"),
        ({"text": "[시민참여]\r\n#{제안제목} #{상태}"}, "carriage return"),
        ({"text": "[시민참여] #{제안제목} #{상태} #{"}, "malformed placeholder"),
    ],
)
def test_validate_templates_reports_each_problem(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(TemplateValidationError) as caught:
        validate_templates(_broken(**changes))
    assert any(problem in item for item in caught.value.problems), caught.value.problems


def test_validate_templates_reports_duplicate_kakao_codes_and_wrong_keys() -> None:
    first = TEMPLATES["PROPOSAL_ANSWERED"]
    second = dataclasses.replace(TEMPLATES["PROPOSAL_STATUS_CHANGED"], kakao_code=first.kakao_code)
    with pytest.raises(TemplateValidationError) as caught:
        validate_templates({first.code: first, second.code: second, "OTHER": first})
    problems = "\n".join(caught.value.problems)
    assert "is also used by" in problems
    assert "registered under a different code" in problems


def test_kst_formatting_helpers() -> None:
    # 15:30 UTC on 31 July is already 1 August in Seoul.
    assert format_kst_date(datetime(2025, 7, 31, 15, 30, tzinfo=UTC)) == "2025-08-01"
    assert format_kst_date(date(2025, 7, 31)) == "2025-07-31"
    assert format_kst_datetime(datetime(2025, 8, 14, 9, 0, tzinfo=UTC)) == "2025-08-14 18:00"
    assert format_count(1284) == "1,284"
    assert format_count(50) == "50"
    with pytest.raises(TemplateError):
        format_kst_date(datetime(2025, 7, 31, 15, 30))
    with pytest.raises(TemplateError):
        format_kst_datetime(datetime(2025, 7, 31, 15, 30))


values_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
        st.sampled_from(list("abcXYZ0123456789 ,.?!'()-")),
    ),
    min_size=1,
    max_size=120,
).filter(lambda value: value.strip() != "")


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(TEMPLATES)), st.data())
def test_any_values_render_to_the_registered_text_and_a_fitting_fallback_property(
    code: str, data: st.DataObject
) -> None:
    template = TEMPLATES[code]
    values = {name: data.draw(values_text, label=name) for name in template.variables}

    rendered = render(code, values)

    assert match_template(template.text, rendered.text) == values
    channel, body, title = rendered.fallback()
    limit = SMS_MAX_BYTES if channel is Channel.SMS else LMS_MAX_BYTES
    assert is_cp949(body)
    assert cp949_length(body) <= limit
    assert title is None or cp949_length(title) <= LMS_TITLE_MAX_BYTES


def test_docs_show_the_registered_texts() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "notifications-providers.md").read_text()
    for template in TEMPLATES.values():
        assert f"```text\n{template.text}\n```" in docs, template.code
        assert template.sms_text in docs
        assert template.kakao_code in docs
