"""ocpp.prune: the journal is trimmed, business records are not."""

import asyncpg
import pytest

pytestmark = pytest.mark.rollback


async def test_prune_trims_old_journal_and_keeps_the_rest(db, parse, cp):
    await parse(cp, "Heartbeat", {})
    await db.execute("UPDATE pgcsms.journal SET at = now() - interval '100 days'")
    await parse(cp, "Heartbeat", {})
    await db.execute("INSERT INTO pgcsms.auth_failures (charge_point_id, transport, http_status, reason, at) "
                     "VALUES ('X', 'ws', 401, 'old', now() - interval '100 days')")
    rows = {r["relation"]: r["deleted"] for r in await db.fetch("SELECT * FROM ocpp.prune()")}
    assert rows == {"ocpp.message_log": 2, "ocpp.auth_failures": 1}
    assert await db.fetchval("SELECT count(*) FROM ocpp.message_log") == 2


async def test_prune_keeps_at_least_a_day(db):
    with pytest.raises(asyncpg.InvalidParameterValueError):
        await db.fetch("SELECT * FROM ocpp.prune(interval '1 hour')")
