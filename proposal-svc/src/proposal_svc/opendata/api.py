"""Open data's routes: the live exports (``/v1/open-data/<dataset>.<csv|json>``) and the daily
snapshots (``/v1/open-data/snapshots``)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from proposal_svc.deps import CtxDep, SessionDep
from proposal_svc.opendata import export, snapshots
from proposal_svc.opendata.datasets import DATASETS, FORMATS, Dataset, Format, csv_value
from proposal_svc.opendata.schemas import SnapshotFilePublic, SnapshotList, SnapshotPublic
from services.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1/open-data", tags=["open data"])

SNAPSHOT_CACHE: Final = "public, max-age=86400, immutable"

_PID = "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f"
_AT = "2026-11-01T09:00:00Z"
#: One record of each dataset, for the documents' examples.
_SAMPLES: Final[dict[str, dict[str, Any]]] = {
    "proposals": {
        "id": _PID,
        "title": "따릉이 대여소를 늘려주세요",
        "body": "출퇴근 시간에 역 앞 대여소에 자전거가 없습니다.",
        "category": "transport",
        "district": "마포구",
        "status": "open",
        "agreement_count": 132,
        "created_at": _AT,
        "opened_at": _AT,
        "closes_at": "2026-12-01T09:00:00Z",
        "closed_at": None,
    },
    "forums": {
        "id": "0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10",
        "proposal_id": _PID,
        "title": "따릉이 대여소 공론장",
        "description": "",
        "mode": "online",
        "options": ["찬성", "반대", "유보"],
        "status": "open",
        "opens_at": _AT,
        "closes_at": "2026-11-15T09:00:00Z",
        "closed_at": None,
        "participant_count": 210,
        "created_at": _AT,
    },
    "answers": {
        "id": "3c2b1a09-8f7e-4d6c-9b5a-4a3b2c1d0e9f",
        "proposal_id": _PID,
        "kind": "department",
        "department": "교통실",
        "body": "대여소 12곳을 내년 상반기에 늘리겠습니다.",
        "created_at": "2026-11-20T10:00:00Z",
    },
    "obligations": {
        "id": "7d6c5b4a-3f2e-4d1c-8b0a-9e8d7c6b5a49",
        "proposal_id": _PID,
        "kind": "department_answer",
        "created_at": "2026-11-03T10:00:00Z",
        "due_at": "2026-12-03T10:00:00Z",
        "fulfilled_at": "2026-11-20T10:00:00Z",
        "overdue_at": None,
        "state": "fulfilled_on_time",
    },
}


def _example(dataset: Dataset, fmt: Format) -> str:
    record = _SAMPLES[dataset.name]
    names = [c.name for c in dataset.columns]
    if fmt == "json":
        return "[\n" + json.dumps({n: record[n] for n in names}, ensure_ascii=False) + "\n]\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(names)
    writer.writerow([csv_value(record[n]) for n in names])
    return buffer.getvalue()


def _conditional_responses(dataset: Dataset, fmt: Format) -> dict[int | str, dict[str, Any]]:
    media = export.MEDIA_TYPES[fmt].split(";")[0]
    example = _example(dataset, fmt)
    content: dict[str, Any] = (
        {
            media: {
                "schema": {"type": "array", "items": {"type": "object"}},
                "example": json.loads(example),
            }
        }
        if fmt == "json"
        else {media: {"schema": {"type": "string"}, "example": example}}
    )
    return {
        200: {
            "description": "The dataset, streamed (columns: docs/open-data.md)",
            "content": content,
            "headers": {
                "ETag": {"schema": {"type": "string"}, "description": "The dataset's version"},
                "Cache-Control": {"schema": {"type": "string"}},
            },
        },
        304: {"description": "Not modified: `If-None-Match` named the current `ETag`"},
        **problem_responses(503),
    }


def _export_route(dataset: Dataset, fmt: Format) -> None:
    async def export_dataset(request: Request, session: SessionDep, ctx: CtxDep) -> Response:
        etag = export.etag_for(await export.version(session, dataset), fmt)
        headers = {
            "ETag": etag,
            "Cache-Control": f"public, max-age={ctx.settings.open_data_max_age_seconds}",
        }
        if export.none_match(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        headers["Content-Disposition"] = f'inline; filename="{dataset.name}.{fmt}"'
        body = export.stream(
            request.app.state.sessions, dataset, fmt, ctx.settings.open_data_batch_rows
        )
        return StreamingResponse(body, media_type=export.MEDIA_TYPES[fmt], headers=headers)

    export_dataset.__name__ = f"export_{dataset.name}_{fmt}"
    router.add_api_route(
        f"/{dataset.name}.{fmt}",
        export_dataset,
        methods=["GET"],
        summary=f"All {dataset.name} as {fmt.upper()} (open data)",
        description=(
            f"{dataset.description} Streamed in id order, never built in memory. The `ETag` "
            "changes whenever a row is added, changed or removed; `If-None-Match` with it "
            "answers 304. Columns, types and meanings: docs/open-data.md. No personal data."
        ),
        response_class=Response,
        responses=_conditional_responses(dataset, fmt),
    )


for _dataset in DATASETS.values():
    for _fmt in FORMATS:
        _export_route(_dataset, _fmt)


def _snapshot_public(snapshot: snapshots.Snapshot) -> SnapshotPublic:
    day = snapshot.day.isoformat()
    return SnapshotPublic(
        date=snapshot.day,
        generated_at=snapshot.generated_at,
        files=[
            SnapshotFilePublic(
                name=f.name,
                rows=f.rows,
                bytes=f.bytes,
                sha256=f.sha256,
                url=f"/v1/open-data/snapshots/{day}/{f.name}",
            )
            for f in snapshot.files
        ],
    )


@router.get(
    "/snapshots",
    summary="The daily snapshots of the open data, newest first",
    description=(
        "One snapshot per day (Korea Standard Time), written by the `tick` worker: every "
        "dataset in CSV and JSON with its row count, size and SHA-256."
    ),
    responses=problem_responses(503),
)
async def list_snapshots(ctx: CtxDep) -> SnapshotList:
    found = snapshots.list_snapshots(ctx.settings.open_data_dir)
    return SnapshotList(items=[_snapshot_public(s) for s in found])


class SnapshotNotFound(ProblemError):
    """404 ``snapshot-not-found``: no finished snapshot of that day holds that file."""

    def __init__(self, day: date, name: str) -> None:
        super().__init__(
            404,
            "snapshot-not-found",
            "Snapshot not found",
            f"no snapshot of {day.isoformat()} holds {name!r}",
            date=day.isoformat(),
            name=name,
            names=list(snapshots.FILE_NAMES),
        )


@router.get(
    "/snapshots/{day}/{name}",
    summary="One file of a daily snapshot",
    description=(
        "The file as written that day (its `ETag` is its SHA-256; it never changes). An unknown "
        "day or file name answers 404 `snapshot-not-found`, a malformed date 422."
    ),
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file",
            "content": {
                "text/csv": {"example": _example(DATASETS["proposals"], "csv")},
                "application/json": {
                    "example": json.loads(_example(DATASETS["proposals"], "json"))
                },
            },
        },
        304: {"description": "Not modified"},
        **problem_responses(404, 422),
    },
)
async def get_snapshot_file(day: date, name: str, request: Request, ctx: CtxDep) -> Response:
    found = snapshots.snapshot_file(ctx.settings.open_data_dir, day, name)
    if found is None:
        raise SnapshotNotFound(day, name)
    path, entry = found
    etag = f'"{entry.sha256}"'
    headers = {"ETag": etag, "Cache-Control": SNAPSHOT_CACHE}
    if export.none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    fmt: Format = "csv" if name.endswith(".csv") else "json"
    return FileResponse(path, media_type=export.MEDIA_TYPES[fmt], headers=headers)
