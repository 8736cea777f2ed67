"""Open data's settings, mixed into ``ProposalSettings`` (so ``PROPOSAL_OPEN_DATA_...``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class OpenDataSettings(BaseModel):
    """Where the daily snapshots go, how often the worker looks, how long they are kept."""

    #: Directory of the daily snapshots (``<dir>/<YYYY-MM-DD>/<name>``); the ``tick`` worker
    #: writes it and the API serves it, so both must see the same directory.
    open_data_dir: Path = Path(".data/open-data")
    #: Seconds between the worker's checks whether today's snapshot exists.
    open_data_snapshot_check_seconds: float = Field(default=300.0, gt=0)
    #: Days of snapshots kept (older directories are removed after a new one is written).
    open_data_keep_days: int = Field(default=90, ge=1, le=3650)
    #: Rows read per query while exporting (keyset batches).
    open_data_batch_rows: int = Field(default=1000, ge=10, le=50_000)
    #: ``Cache-Control: public, max-age=`` of the live exports.
    open_data_max_age_seconds: int = Field(default=300, ge=0, le=86_400)
