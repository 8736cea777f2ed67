"""The catalogue of problem types: every ``type`` slug the platform answers with, its status,
its English title and its Korean title and detail (docs/problems.md is generated from it;
services.problem_language applies it).

``title`` and ``detail`` of a problem document are in Korean when the request prefers Korean
(``Accept-Language: ko``, or no usable ``Accept-Language`` while ``PLATFORM_PROBLEM_LANGUAGE`` is
``ko``), in English otherwise; ``type``, ``status`` and the extension members never change with
the language, so clients branch on the slug. A Korean detail is a template filled from the
problem's extension members (``{max_bytes}``; a list is joined with commas) and from
``{fields}`` (the fields of a validation error); a detail the template cannot be filled for falls
back to the Korean title. Answers carry ``Content-Language`` and ``Vary: Accept-Language``.

A slug missing from the catalogue keeps its English text (tests/contract finds every slug in the
code and checks it is here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class ProblemType:
    """One entry of the catalogue."""

    status: int
    title: str
    ko_title: str
    ko_detail: str


def _t(status: int, title: str, ko_title: str, ko_detail: str) -> ProblemType:
    return ProblemType(status, title, ko_title, ko_detail)


CATALOGUE: Final[Mapping[str, ProblemType]] = {
    # -- every service: requests, tokens, limits (services) --------------------------------------
    "bad-request": _t(400, "Bad Request", "잘못된 요청", "요청을 처리할 수 없습니다."),
    "malformed-json": _t(
        400,
        "Request body is not valid JSON",
        "JSON 형식 오류",
        "요청 본문이 올바른 JSON이 아닙니다.",
    ),
    "validation-error": _t(
        422,
        "Request validation failed",
        "요청 값 오류",
        "요청 값이 올바르지 않습니다: {fields}",
    ),
    "unknown-query-parameter": _t(
        422,
        "Unknown query parameter",
        "알 수 없는 쿼리 매개변수",
        "이 경로가 받지 않는 쿼리 매개변수입니다: {unknown}",
    ),
    "invalid-cursor": _t(
        400,
        "Invalid cursor",
        "잘못된 커서",
        "페이지 커서가 올바르지 않습니다. 첫 페이지부터 다시 요청하세요.",
    ),
    "unauthorized": _t(401, "Unauthorized", "인증 필요", "인증이 필요합니다."),
    "invalid-token": _t(
        401,
        "Missing or invalid access token",
        "액세스 토큰 없음 또는 무효",
        "유효한 액세스 토큰이 필요합니다 (Authorization: Bearer <토큰>).",
    ),
    "citizen-unknown": _t(
        401, "Unknown citizen", "알 수 없는 시민", "토큰의 시민을 본인확인 서비스가 알지 못합니다."
    ),
    "forbidden": _t(
        403,
        "Forbidden",
        "권한 없음",
        "이 작업에는 다음 역할 중 하나가 필요합니다: {required_roles}",
    ),
    "citizen-suspended": _t(
        403,
        "Account suspended",
        "이용 정지된 계정",
        "이용이 정지된 계정은 이 작업을 할 수 없습니다.",
    ),
    "ineligible-age": _t(
        403,
        "Below the minimum age",
        "참여 가능 연령 미만",
        "이 참여는 만 {min_age}세 이상만 할 수 있습니다.",
    ),
    "ineligible-foreigner": _t(
        403,
        "Open to Korean nationals only",
        "내국인만 참여 가능",
        "이 참여는 대한민국 국민만 할 수 있습니다.",
    ),
    "ineligible-residency": _t(
        403,
        "Not a resident, worker or student of the city",
        "참여 자격 없음 (거주·근무·재학)",
        "이 참여는 서울시에 거주, 근무 또는 재학하는 시민만 할 수 있습니다.",
    ),
    "cors-origin-not-allowed": _t(
        403,
        "Origin not allowed",
        "허용되지 않은 출처",
        "이 출처({origin})의 브라우저 요청은 허용되지 않습니다.",
    ),
    "not-found": _t(404, "Not Found", "찾을 수 없음", "요청한 경로나 자원이 없습니다."),
    "method-not-allowed": _t(
        405,
        "Method Not Allowed",
        "허용되지 않은 메서드",
        "이 경로는 이 HTTP 메서드를 지원하지 않습니다.",
    ),
    "not-acceptable": _t(
        406, "Not Acceptable", "지원하지 않는 응답 형식", "요청한 응답 형식을 제공할 수 없습니다."
    ),
    "conflict": _t(409, "Conflict", "충돌", "현재 상태와 충돌하는 요청입니다."),
    "payload-too-large": _t(
        413,
        "Request body too large",
        "요청 본문이 너무 큼",
        "요청 본문은 {max_bytes}바이트를 넘을 수 없습니다.",
    ),
    "unsupported-media-type": _t(
        415, "Unsupported Media Type", "지원하지 않는 형식", "요청 본문의 형식을 지원하지 않습니다."
    ),
    "too-many-requests": _t(
        429, "Too Many Requests", "요청이 너무 많음", "잠시 후 다시 시도하세요."
    ),
    "rate-limited": _t(
        429,
        "Too many requests",
        "요청 한도 초과",
        "요청 한도를 넘었습니다. {retry_after}초 후에 다시 시도하세요.",
    ),
    "internal-error": _t(
        500,
        "Internal server error",
        "서버 내부 오류",
        "서버 오류가 발생했습니다. 이 요청 ID로 기록되었습니다.",
    ),
    "overloaded": _t(
        503,
        "Service overloaded",
        "서비스 과부하",
        "처리 중인 요청이 너무 많습니다. 잠시 후 다시 시도하세요.",
    ),
    "database-unavailable": _t(
        503,
        "Service temporarily unavailable",
        "일시적으로 이용할 수 없음",
        "서비스가 지금 데이터베이스에 연결할 수 없습니다. 잠시 후 다시 시도하세요.",
    ),
    "identity-unavailable": _t(
        503,
        "Identity service unavailable",
        "본인확인 서비스 응답 없음",
        "본인확인 서비스에 지금 확인할 수 없습니다. 잠시 후 다시 시도하세요.",
    ),
    "service-auth-required": _t(
        401,
        "Service authentication required",
        "서비스 인증 필요",
        "내부 API는 서명된 서비스 요청만 받습니다.",
    ),
    "service-auth-invalid": _t(
        401,
        "Service authentication failed",
        "서비스 인증 실패",
        "서비스 요청의 서명을 확인할 수 없습니다.",
    ),
    "service-not-allowed": _t(
        403,
        "Service not allowed",
        "허용되지 않은 서비스",
        "이 서비스는 이 내부 API를 호출할 수 없습니다.",
    ),
    # -- identity-svc ----------------------------------------------------------------------------
    "unknown-provider": _t(
        404,
        "Unknown provider",
        "알 수 없는 제공자",
        "제공되지 않는 제공자입니다. 사용 가능: {available}",
    ),
    "channel-not-offered": _t(
        422,
        "Channel not offered",
        "지원하지 않는 채널",
        "이 본인확인 제공자는 이 채널(웹/앱)을 지원하지 않습니다.",
    ),
    "person-required": _t(
        422,
        "Person details required",
        "본인 정보 필요",
        "이 제공자는 이름, 생년월일, 전화번호가 필요합니다.",
    ),
    "person-not-needed": _t(
        422,
        "Person details not accepted",
        "본인 정보 불필요",
        "이 제공자에는 본인 정보를 보내지 않습니다.",
    ),
    "verification-not-found": _t(
        404, "Verification not found", "본인확인 요청 없음", "해당 본인확인 요청이 없습니다."
    ),
    "verification-already-used": _t(
        409,
        "Verification already used",
        "이미 사용된 본인확인",
        "이 본인확인 요청은 이미 완료되었습니다.",
    ),
    "verification-replayed": _t(
        409, "Verification replayed", "재사용된 본인확인 결과", "이미 사용된 본인확인 결과입니다."
    ),
    "verification-expired": _t(
        410, "Verification expired", "본인확인 만료", "본인확인 시간이 지났습니다. 새로 시작하세요."
    ),
    "verification-pending": _t(
        409,
        "Verification not finished yet",
        "본인확인 진행 중",
        "아직 본인확인이 끝나지 않았습니다. 완료 후 다시 시도하세요.",
    ),
    "verification-rejected": _t(
        422, "Verification was rejected", "본인확인 거부", "본인확인 결과를 받아들일 수 없습니다."
    ),
    "provider-unavailable": _t(
        503,
        "Identity provider unavailable",
        "본인확인 제공자 응답 없음",
        "본인확인 제공자에 연결할 수 없습니다. 잠시 후 다시 시도하세요.",
    ),
    "provider-misconfigured": _t(
        500,
        "Identity provider misconfigured",
        "본인확인 제공자 설정 오류",
        "본인확인 제공자 설정에 문제가 있습니다. 운영자에게 문의하세요.",
    ),
    "invalid-refresh-token": _t(
        401,
        "Invalid refresh token",
        "잘못된 갱신 토큰",
        "갱신 토큰이 올바르지 않습니다. 다시 로그인하세요.",
    ),
    "refresh-token-expired": _t(
        401,
        "Refresh token expired",
        "갱신 토큰 만료",
        "갱신 토큰이 만료되었습니다. 다시 로그인하세요.",
    ),
    "refresh-token-revoked": _t(
        401,
        "Refresh token revoked",
        "폐기된 갱신 토큰",
        "폐기된 갱신 토큰입니다. 다시 로그인하세요.",
    ),
    "refresh-token-reused": _t(
        401,
        "Refresh token reused",
        "재사용된 갱신 토큰",
        "이미 사용된 갱신 토큰이 다시 제시되어 이 로그인 전체를 폐기했습니다. 다시 로그인하세요.",
    ),
    "citizen-not-found": _t(404, "Citizen not found", "시민 없음", "해당 시민이 없습니다."),
    "unknown-role": _t(422, "Unknown role", "알 수 없는 역할", "알 수 없는 역할입니다."),
    "department-required": _t(
        422, "Department required", "부서 필요", "부서 역할에는 부서 이름이 필요합니다."
    ),
    "cannot-demote-self": _t(
        409,
        "Cannot remove own admin role",
        "자기 관리자 권한 해제 불가",
        "자신의 관리자 역할은 해제할 수 없습니다.",
    ),
    "cannot-suspend-self": _t(
        409, "Cannot suspend oneself", "자기 정지 불가", "자신의 계정은 정지할 수 없습니다."
    ),
    "contact-unreadable": _t(
        500, "Contact unreadable", "연락처 복호화 실패", "저장된 연락처를 읽을 수 없습니다."
    ),
    # -- proposal-svc ----------------------------------------------------------------------------
    "proposal-not-found": _t(404, "Proposal not found", "제안 없음", "해당 제안이 없습니다."),
    "forum-not-found": _t(404, "Forum not found", "공론장 없음", "해당 공론장이 없습니다."),
    "proposal-not-implementable": _t(
        409,
        "Proposal is not being carried out",
        "이행 단계가 아닌 제안",
        "이행 단계는 채택되었거나 예산이 연계된 제안에만 게시할 수 있습니다.",
    ),
    "reason-required": _t(
        422,
        "A reason is required",
        "사유가 필요합니다",
        "예산이 연계된 사업을 중단하려면 사유를 적어야 합니다.",
    ),
    "snapshot-not-found": _t(
        404,
        "Snapshot not found",
        "스냅숏 없음",
        "해당 날짜의 공개 데이터 스냅숏에 그 파일이 없습니다.",
    ),
    "proposal-lookup-failed": _t(
        503,
        "Try again",
        "잠시 후 다시 시도",
        "제안 정보를 아직 확인할 수 없습니다. 기록된 것은 없습니다.",
    ),
    "forum-lookup-failed": _t(
        503,
        "Try again",
        "잠시 후 다시 시도",
        "공론장 정보를 아직 확인할 수 없습니다. 기록된 것은 없습니다.",
    ),
    "title-too-long": _t(422, "Title too long", "제목이 너무 김", "제목이 허용 길이를 넘습니다."),
    "body-too-long": _t(422, "Body too long", "본문이 너무 김", "본문이 허용 길이를 넘습니다."),
    "empty-text": _t(422, "Text is empty", "내용 없음", "{field}에 보이는 글자가 없습니다."),
    "text-too-long": _t(422, "Text too long", "글이 너무 김", "글이 허용 길이를 넘습니다."),
    "invalid-characters": _t(
        422,
        "Text contains control characters",
        "허용되지 않는 문자",
        "줄바꿈과 탭 외의 제어 문자는 쓸 수 없습니다.",
    ),
    "unknown-category": _t(
        422, "Unknown category", "알 수 없는 분야", "알 수 없는 분야입니다. 사용 가능: {allowed}"
    ),
    "unknown-district": _t(
        422, "Unknown district", "알 수 없는 자치구", "서울시 자치구 코드가 아닙니다."
    ),
    "proposal-not-open": _t(
        409, "Proposal is not open", "동의를 받지 않는 제안", "이 제안은 지금 동의를 받지 않습니다."
    ),
    "proposal-closed": _t(
        409, "Proposal is closed", "마감된 제안", "이 제안은 더 이상 동의를 받지 않습니다."
    ),
    "proposal-not-active": _t(
        409, "Proposal is not active", "진행 중이 아닌 제안", "진행 중인 제안이 아닙니다."
    ),
    "proposal-not-answerable": _t(
        409,
        "Proposal cannot be answered",
        "답변할 수 없는 제안",
        "이 제안에는 지금 답변할 수 없습니다.",
    ),
    "proposal-not-decidable": _t(
        409,
        "Proposal cannot be decided",
        "결정할 수 없는 제안",
        "이 제안은 지금 결정할 수 없습니다.",
    ),
    "proposal-has-agreements": _t(
        409,
        "Proposal has agreements",
        "동의가 있는 제안",
        "동의를 받은 제안은 바꾸거나 철회할 수 없습니다.",
    ),
    "proposal-closed-to-comments": _t(
        409,
        "Proposal closed to comments",
        "댓글 마감",
        "이 제안에는 더 이상 댓글을 달 수 없습니다.",
    ),
    "not-the-author": _t(403, "Not the author", "작성자 아님", "작성자만 할 수 있습니다."),
    "grouped-proposals-required": _t(
        422, "Grouped proposals required", "묶을 제안 필요", "공론장에 묶을 제안을 지정해야 합니다."
    ),
    "unknown-grouped-proposals": _t(
        422,
        "Unknown grouped proposals",
        "알 수 없는 묶음 제안",
        "지정한 제안 중 없는 것이 있습니다.",
    ),
    "invalid-forum-period": _t(
        422, "Invalid forum period", "잘못된 공론장 기간", "공론장 기간이 올바르지 않습니다."
    ),
    "forum-not-open": _t(
        409, "Forum is not open", "열리지 않은 공론장", "이 공론장은 지금 열려 있지 않습니다."
    ),
    "forum-closed": _t(409, "Forum is closed", "마감된 공론장", "이 공론장은 마감되었습니다."),
    "comment-not-found": _t(404, "Comment not found", "댓글 없음", "해당 댓글이 없습니다."),
    "comment-deleted": _t(409, "Comment deleted", "삭제된 댓글", "삭제된 댓글입니다."),
    "comment-not-published": _t(
        409, "Comment not published", "게시되지 않은 댓글", "게시 중인 댓글이 아닙니다."
    ),
    "comment-not-reportable": _t(
        409, "Comment cannot be reported", "신고할 수 없는 댓글", "이 댓글은 신고할 수 없습니다."
    ),
    "comment-not-moderated": _t(
        409, "Comment not under moderation", "검토 대상 아님", "검토 중인 댓글이 아닙니다."
    ),
    "parent-not-published": _t(
        409,
        "Parent comment not published",
        "원댓글 게시 안 됨",
        "게시 중인 댓글에만 답글을 달 수 있습니다.",
    ),
    "invalid-parent": _t(
        422,
        "Invalid parent comment",
        "잘못된 원댓글",
        "답글에는 답글을 달 수 없습니다 (한 단계만 가능).",
    ),
    "edit-window-closed": _t(
        409, "Edit window closed", "수정 시간 지남", "작성 후 수정할 수 있는 시간이 지났습니다."
    ),
    "own-comment": _t(403, "Own comment", "내 댓글", "자신의 댓글에는 할 수 없습니다."),
    "already-reported": _t(409, "Already reported", "이미 신고함", "이미 신고한 댓글입니다."),
    "report-not-found": _t(404, "Report not found", "신고 없음", "해당 신고가 없습니다."),
    # -- vote-svc --------------------------------------------------------------------------------
    "already-voted": _t(
        409, "Already voted", "이미 참여함", "이미 참여했습니다. 처음 한 참여가 유효합니다."
    ),
    "invalid-choice": _t(
        422,
        "Not one of the forum's options",
        "없는 선택지",
        "공론장의 선택지가 아닙니다: {options}",
    ),
    "vote-not-found": _t(404, "Vote not found", "참여 기록 없음", "해당 참여 기록이 없습니다."),
    "vote-retry": _t(
        503,
        "Try again",
        "다시 시도",
        "참여하는 동안 대상이 바뀌어 기록하지 않았습니다. 다시 시도하세요.",
    ),
    # -- ledger-svc ------------------------------------------------------------------------------
    "receipt-not-found": _t(
        404,
        "Receipt not found",
        "영수증 없음",
        "이 참여의 영수증이 아직 없습니다. 잠시 후 다시 시도하세요.",
    ),
    "no-tree-head-yet": _t(
        404, "No tree head yet", "서명된 트리 헤드 없음", "아직 서명된 트리 헤드가 없습니다."
    ),
    "no-such-tree-head": _t(
        404, "No such tree head", "트리 헤드 없음", "해당 크기의 서명된 트리 헤드가 없습니다."
    ),
    "invalid-sizes": _t(
        422, "Invalid tree sizes", "잘못된 트리 크기", "트리 크기가 올바르지 않습니다."
    ),
    "not-audited-yet": _t(404, "Not audited yet", "감사 전", "이 대상은 아직 감사되지 않았습니다."),
    "ledger-corrupted": _t(
        500,
        "The ledger's stored data is inconsistent",
        "원장 데이터 불일치",
        "원장에 저장된 데이터가 일치하지 않습니다.",
    ),
    "ledger-backend-unavailable": _t(
        503,
        "Ledger backend unavailable",
        "원장 백엔드 응답 없음",
        "원장 백엔드에 연결할 수 없습니다. 잠시 후 다시 시도하세요.",
    ),
    # -- notify-svc ------------------------------------------------------------------------------
    "notification-not-found": _t(
        404, "Notification not found", "알림 없음", "해당 알림이 없습니다."
    ),
    "notification-not-dead": _t(
        409,
        "Notification not dead",
        "재전송 대상 아님",
        "재시도가 끝난 알림만 다시 보낼 수 있습니다.",
    ),
    "fallback-exists": _t(
        409, "Fallback exists", "대체 발송 있음", "이 알림은 이미 대체 채널로 보냈습니다."
    ),
    "invalid-webhook-signature": _t(
        401, "Invalid webhook signature", "웹훅 서명 오류", "웹훅 서명을 확인할 수 없습니다."
    ),
    "malformed-webhook": _t(
        400, "Malformed webhook", "웹훅 형식 오류", "웹훅 본문을 읽을 수 없습니다."
    ),
}
