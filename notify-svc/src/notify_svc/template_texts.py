"""The registered texts of notify-svc's AlimTalk templates (see :mod:`notify_svc.templates` for
what Kakao requires of them and how they are rendered and checked).

Proposers, forum participants and staff have had their templates from the start; a proposal's
followers (citizens who follow it, or agreed with it without opting out) have their own, since
"the proposal you submitted" is not true of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

#: A ``#{variable}`` placeholder.
PLACEHOLDER = re.compile(r"#\{([^{}\s]+)\}")


@dataclass(frozen=True)
class Template:
    """One registered AlimTalk template and its SMS/LMS fallback."""

    #: Our name of the notification kind (what callers pass to :func:`render`).
    code: str
    #: The template code registered at Kakao/NHN (<= 20 characters).
    kakao_code: str
    #: Who receives it: "citizen" or "staff".
    audience: str
    #: The registered AlimTalk text with ``#{variable}`` placeholders.
    text: str
    #: A compact text for an SMS (it becomes an LMS if the values make it longer than 90 bytes).
    sms_text: str
    #: The LMS title (<= 40 cp949 bytes).
    lms_title: str
    #: Values used by :func:`validate_all` (and the dev provider's examples).
    sample: Mapping[str, str]

    @property
    def variables(self) -> tuple[str, ...]:
        """The template's variables, in order of first appearance."""
        return tuple(dict.fromkeys(PLACEHOLDER.findall(self.text)))


_FOOTER = "※ 이 메시지는 제안 진행 상황을 알려 드리는 안내 메시지입니다."
_FOLLOWER_FOOTER = (
    "※ 이 메시지는 관심 제안으로 등록하신 제안의 진행 상황을 알려 드리는 안내 메시지입니다."
)

TEMPLATES: dict[str, Template] = {
    template.code: template
    for template in (
        Template(
            code="PROPOSAL_TIER_REACHED",
            kakao_code="PRP_TIER_REACHED_V1",
            audience="citizen",
            text=(
                "[시민참여] 제안 동의 기준 달성 안내\n"
                "\n"
                "안녕하세요. 회원님께서 올리신 제안이 시민 동의 기준에 도달하여 안내해 드립니다.\n"
                "\n"
                "■ 제안: #{제안제목}\n"
                "■ 동의 수: #{동의수}명\n"
                "■ 후속 절차: #{의무}\n"
                "■ 처리 기한: #{기한}\n"
                "\n"
                "처리 결과가 나오면 다시 알려 드리겠습니다.\n" + _FOOTER
            ),
            sms_text="[시민참여] 제안 '#{제안제목}' 동의 #{동의수}명 달성. #{의무} 기한 #{기한}",
            lms_title="[시민참여] 제안 동의 기준 달성",
            sample={
                "제안제목": "성수동 보행로에 그늘막을 설치해 주세요",
                "동의수": "1,000",
                "의무": "시장 답변",
                "기한": "2025-07-31",
            },
        ),
        Template(
            code="PROPOSAL_ANSWERED",
            kakao_code="PRP_ANSWERED_V1",
            audience="citizen",
            text=(
                "[시민참여] 제안 답변 등록 안내\n"
                "\n"
                "안녕하세요. 회원님께서 올리신 제안에 답변이 등록되었습니다.\n"
                "\n"
                "■ 제안: #{제안제목}\n"
                "■ 답변: #{답변주체}\n"
                "\n"
                "답변 내용은 시민참여 누리집의 '내 제안'에서 확인하실 수 있습니다.\n" + _FOOTER
            ),
            sms_text="[시민참여] 제안 '#{제안제목}'에 #{답변주체} 답변이 등록되었습니다.",
            lms_title="[시민참여] 제안 답변 등록",
            sample={
                "제안제목": "성수동 보행로에 그늘막을 설치해 주세요",
                "답변주체": "서울특별시 도시공간정책과",
            },
        ),
        Template(
            code="PROPOSAL_STATUS_CHANGED",
            kakao_code="PRP_STATUS_V1",
            audience="citizen",
            text=(
                "[시민참여] 제안 진행 상태 변경 안내\n"
                "\n"
                "안녕하세요. 회원님께서 올리신 제안의 진행 상태가 바뀌었습니다.\n"
                "\n"
                "■ 제안: #{제안제목}\n"
                "■ 현재 상태: #{상태}\n"
                "\n"
                "자세한 내용은 시민참여 누리집의 '내 제안'에서 확인하실 수 있습니다.\n" + _FOOTER
            ),
            sms_text="[시민참여] 제안 '#{제안제목}' 상태: #{상태}",
            lms_title="[시민참여] 제안 상태 변경",
            sample={"제안제목": "성수동 보행로에 그늘막을 설치해 주세요", "상태": "부서 검토 중"},
        ),
        Template(
            code="FORUM_OPENED",
            kakao_code="FORUM_OPENED_V1",
            audience="citizen",
            text=(
                "[시민참여] 공론장 개설 안내\n"
                "\n"
                "안녕하세요. 회원님께서 올리신 제안을 두고 시민 공론장이 열렸습니다.\n"
                "\n"
                "■ 공론장: #{공론장제목}\n"
                "■ 참여 마감: #{마감일시}\n"
                "\n"
                "마감 전까지 시민참여 누리집에서 의견을 나누고 투표에 참여하실 수 있습니다.\n"
                + _FOOTER
            ),
            sms_text="[시민참여] 공론장 개설: '#{공론장제목}' (마감 #{마감일시})",
            lms_title="[시민참여] 공론장 개설",
            sample={
                "공론장제목": "성수동 보행로 그늘막 설치, 어떻게 생각하시나요?",
                "마감일시": "2025-08-14 18:00",
            },
        ),
        Template(
            code="FORUM_CLOSED",
            kakao_code="FORUM_CLOSED_V1",
            audience="citizen",
            text=(
                "[시민참여] 공론장 마감 안내\n"
                "\n"
                "안녕하세요. 회원님과 관련된 시민 공론장의 참여가 마감되었습니다.\n"
                "\n"
                "■ 공론장: #{공론장제목}\n"
                "■ 참여자 수: #{참여자수}명\n"
                "\n"
                "공론장 결과는 시민참여 누리집에서 확인하실 수 있습니다.\n"
                "※ 이 메시지는 참여하신 공론장의 진행 상황을 알려 드리는 안내 메시지입니다."
            ),
            sms_text="[시민참여] 공론장 '#{공론장제목}' 마감. 참여 #{참여자수}명",
            lms_title="[시민참여] 공론장 마감",
            sample={
                "공론장제목": "성수동 보행로 그늘막 설치, 어떻게 생각하시나요?",
                "참여자수": "1,284",
            },
        ),
        Template(
            code="OBLIGATION_OVERDUE",
            kakao_code="OBL_OVERDUE_V1",
            audience="staff",
            text=(
                "[시민참여] 처리 기한 경과 안내\n"
                "\n"
                "담당하신 시민 제안의 처리 기한이 지났습니다. 확인 후 처리해 주시기 바랍니다.\n"
                "\n"
                "■ 제안: #{제안제목}\n"
                "■ 처리할 절차: #{의무}\n"
                "■ 처리 기한: #{기한}\n"
                "\n"
                "처리 현황은 시민참여 업무 화면에서 확인하실 수 있습니다.\n"
                "※ 이 메시지는 담당 업무의 처리 기한을 알려 드리는 안내 메시지입니다."
            ),
            sms_text="[시민참여] 기한 경과: '#{제안제목}' #{의무} (기한 #{기한})",
            lms_title="[시민참여] 처리 기한 경과",
            sample={
                "제안제목": "성수동 보행로에 그늘막을 설치해 주세요",
                "의무": "부서 답변",
                "기한": "2025-07-31",
            },
        ),
        # --- a proposal's followers -------------------------------------------------------
        Template(
            code="FOLLOWED_TIER_REACHED",
            kakao_code="FLW_TIER_REACHED_V1",
            audience="citizen",
            text=(
                "[시민참여] 관심 제안 동의 기준 달성 안내\n"
                "\n"
                "안녕하세요. 회원님께서 관심 제안으로 등록하신 제안이 시민 동의 기준에 "
                "도달했습니다.\n"
                "\n"
                "■ 제안: #{제안제목}\n"
                "■ 동의 수: #{동의수}명\n"
                "■ 후속 절차: #{의무}\n"
                "■ 처리 기한: #{기한}\n"
                "\n"
                "처리 결과가 나오면 다시 알려 드리겠습니다.\n" + _FOLLOWER_FOOTER
            ),
            sms_text="[시민참여] 관심 제안 '#{제안제목}' 동의 #{동의수}명 달성. #{의무} 기한 #{기한}",
            lms_title="[시민참여] 관심 제안 동의 기준 달성",
            sample={
                "제안제목": "성수동 보행로에 그늘막을 설치해 주세요",
                "동의수": "1,000",
                "의무": "시장 답변",
                "기한": "2025-07-31",
            },
        ),
        Template(
            code="FOLLOWED_ANSWERED",
            kakao_code="FLW_ANSWERED_V1",
            audience="citizen",
            text=(
                "[시민참여] 관심 제안 답변 등록 안내\n"
                "\n"
                "안녕하세요. 회원님께서 관심 제안으로 등록하신 제안에 답변이 등록되었습니다.\n"
                "\n"
                "■ 제안: #{제안제목}\n"
                "■ 답변: #{답변주체}\n"
                "\n"
                "답변 내용은 시민참여 누리집의 '관심 제안'에서 확인하실 수 있습니다.\n"
                + _FOLLOWER_FOOTER
            ),
            sms_text="[시민참여] 관심 제안 '#{제안제목}'에 #{답변주체} 답변이 등록되었습니다.",
            lms_title="[시민참여] 관심 제안 답변 등록",
            sample={
                "제안제목": "성수동 보행로에 그늘막을 설치해 주세요",
                "답변주체": "서울특별시 도시공간정책과",
            },
        ),
        Template(
            code="FOLLOWED_STATUS_CHANGED",
            kakao_code="FLW_STATUS_V1",
            audience="citizen",
            text=(
                "[시민참여] 관심 제안 진행 상태 변경 안내\n"
                "\n"
                "안녕하세요. 회원님께서 관심 제안으로 등록하신 제안의 진행 상태가 바뀌었습니다.\n"
                "\n"
                "■ 제안: #{제안제목}\n"
                "■ 현재 상태: #{상태}\n"
                "\n"
                "자세한 내용은 시민참여 누리집의 '관심 제안'에서 확인하실 수 있습니다.\n"
                + _FOLLOWER_FOOTER
            ),
            sms_text="[시민참여] 관심 제안 '#{제안제목}' 상태: #{상태}",
            lms_title="[시민참여] 관심 제안 상태 변경",
            sample={"제안제목": "성수동 보행로에 그늘막을 설치해 주세요", "상태": "정책 채택"},
        ),
        Template(
            code="FOLLOWED_FORUM_OPENED",
            kakao_code="FLW_FORUM_OPENED_V1",
            audience="citizen",
            text=(
                "[시민참여] 관심 제안 공론장 개설 안내\n"
                "\n"
                "안녕하세요. 회원님께서 관심 제안으로 등록하신 제안을 두고 시민 공론장이 "
                "열렸습니다.\n"
                "\n"
                "■ 공론장: #{공론장제목}\n"
                "■ 참여 마감: #{마감일시}\n"
                "\n"
                "마감 전까지 시민참여 누리집에서 의견을 나누고 투표에 참여하실 수 있습니다.\n"
                + _FOLLOWER_FOOTER
            ),
            sms_text="[시민참여] 관심 제안 공론장 개설: '#{공론장제목}' (마감 #{마감일시})",
            lms_title="[시민참여] 관심 제안 공론장 개설",
            sample={
                "공론장제목": "성수동 보행로 그늘막 설치, 어떻게 생각하시나요?",
                "마감일시": "2025-08-14 18:00",
            },
        ),
        Template(
            code="FOLLOWED_FORUM_CLOSED",
            kakao_code="FLW_FORUM_CLOSED_V1",
            audience="citizen",
            text=(
                "[시민참여] 관심 제안 공론장 마감 안내\n"
                "\n"
                "안녕하세요. 회원님께서 관심 제안으로 등록하신 제안의 시민 공론장 참여가 "
                "마감되었습니다.\n"
                "\n"
                "■ 공론장: #{공론장제목}\n"
                "■ 참여자 수: #{참여자수}명\n"
                "\n"
                "공론장 결과는 시민참여 누리집에서 확인하실 수 있습니다.\n" + _FOLLOWER_FOOTER
            ),
            sms_text="[시민참여] 관심 제안 공론장 '#{공론장제목}' 마감. 참여 #{참여자수}명",
            lms_title="[시민참여] 관심 제안 공론장 마감",
            sample={
                "공론장제목": "성수동 보행로 그늘막 설치, 어떻게 생각하시나요?",
                "참여자수": "1,284",
            },
        ),
    )
}
