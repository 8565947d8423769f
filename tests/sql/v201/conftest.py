"""Fixtures of the 2.0.1 SQL tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from station201 import NODE, Station


@pytest.fixture
async def station(db: asyncpg.Connection) -> AsyncIterator[Station]:
    await db.execute("SELECT ocpp.add_charge_point('CP-201')")
    epoch = await db.fetchval("SELECT epoch FROM ocpp.connect('CP-201', $1, NULL, '2.0.1')", NODE)
    yield Station(db, epoch)
    assert await db.fetch("SELECT detail FROM ocpp.anomalies WHERE kind = 'command_effect_failed'") == []
