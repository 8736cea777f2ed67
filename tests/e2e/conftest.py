"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_runtime import SERVICES, Runtime

from services_dev.testing.servers import free_port, postgres_data_dir


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    ports = {
        "PLATFORM_HTTP_PORT": free_port(),
        "PLATFORM_PG_PORT": free_port(),
        "PLATFORM_NATS_PORT": free_port(),
        "PLATFORM_NATS_MONITOR_PORT": free_port(),
        **{f"{name.upper()}_PORT": free_port() for name in SERVICES},
    }
    with postgres_data_dir(tmp_path / "data") as data_dir:
        rt = Runtime(data_dir, ports, tmp_path / "launcher.log")
        try:
            yield rt
        finally:
            rt.kill()
