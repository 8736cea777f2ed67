"""notify-svc fixtures (notify_fixtures.py) with the directory notify-svc's own tests use: the
stand-in of identity-svc's and vote-svc's internal endpoints (standin_directory.py), reached
through notify-svc's real signed client. The real services behind the same client are in
tests/integration/notify."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from notify_svc.config import NotifySettings
from notify_svc.directory import HttpDirectory

# The helper modules next to this file are imported by the tests.
sys.path.insert(0, str(Path(__file__).parent))

from notify_fixtures import *  # noqa: F403
from notify_fixtures import signed_directory
from standin_directory import StandInDirectory


@pytest.fixture
def people(notify_settings: NotifySettings) -> StandInDirectory:
    """The citizens, staff and forums the directory knows (the test adds them)."""
    return StandInDirectory(notify_settings.service_key_bytes)


@pytest.fixture
async def directory(
    notify_settings: NotifySettings, people: StandInDirectory
) -> AsyncIterator[HttpDirectory]:
    """notify-svc's directory client, signing with the (dev) service key, talking to the
    stand-in."""
    async with signed_directory(
        notify_settings,
        identity=people.transport,
        vote=people.transport,
        proposal=people.transport,
    ) as signed:
        yield signed
