"""A CALL the charger resends because our answer was lost is answered again and applied once."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

METER = {"connectorId": 1, "meterValue": [{"timestamp": "2024-05-01T12:00:00Z", "sampledValue": [{"value": "100"}]}]}


async def readings(db) -> int:
    return await db.fetchval("SELECT count(*) FROM ocpp.meter_values")


async def test_a_resent_call_is_answered_from_the_journal_and_applied_once(db, parse, cp):
    first = await parse(cp, "MeterValues", METER, unique_id="m-1")
    again = await parse(cp, "MeterValues", METER, unique_id="m-1")
    assert first.result == again.result == {}
    assert await readings(db) == 1
    journal = await db.fetch("SELECT direction, message_type, error_detail FROM ocpp.message_log "
                             "WHERE unique_id = 'm-1' ORDER BY id")
    assert [(row["direction"], row["message_type"]) for row in journal] == [("in", 2), ("out", 3)] * 2
    assert journal[3]["error_detail"].startswith("resend of a CALL committed at")
    # A third copy too.
    await parse(cp, "MeterValues", METER, unique_id="m-1")
    assert await readings(db) == 1


async def test_the_same_unique_id_with_another_payload_is_another_call(db, parse, cp):
    await parse(cp, "MeterValues", METER, unique_id="m-1")
    other = json.loads(json.dumps(METER))
    other["meterValue"][0]["sampledValue"][0]["value"] = "200"
    await parse(cp, "MeterValues", other, unique_id="m-1")
    assert await readings(db) == 2


async def test_another_charger_may_use_the_same_unique_id(db, parse, cp):
    await db.execute("SELECT ocpp.add_charge_point('CP-2')")
    await parse(cp, "MeterValues", METER, unique_id="m-1")
    await parse("CP-2", "MeterValues", METER, unique_id="m-1")
    assert await readings(db) == 2


async def test_after_the_resend_window_a_unique_id_is_new_again(db, parse, cp):
    await parse(cp, "MeterValues", METER, unique_id="m-1")
    await db.execute("UPDATE pgcsms.journal SET at = at - interval '2 days'")
    await parse(cp, "MeterValues", METER, unique_id="m-1")
    assert await readings(db) == 2


async def test_the_window_can_be_switched_off(db, parse, cp):
    await db.execute("SELECT ocpp.set_setting('resend_window', '0')")
    await parse(cp, "MeterValues", METER, unique_id="m-1")
    await parse(cp, "MeterValues", METER, unique_id="m-1")
    assert await readings(db) == 2


async def test_boot_heartbeat_and_authorize_are_always_answered_afresh(db, parse, cp):
    boot = {"chargePointVendor": "V", "chargePointModel": "M"}
    await parse(cp, "BootNotification", boot, unique_id="1")
    await db.execute("UPDATE pgcsms.journal SET at = at - interval '1 minute', "
                     "answer = jsonb_set(answer, '{currentTime}', '\"2000-01-01T00:00:00Z\"') "
                     "WHERE answer ? 'currentTime'")
    again = await parse(cp, "BootNotification", boot, unique_id="1")
    assert not again.result["currentTime"].startswith("2000")
    await db.execute("SELECT ocpp.add_id_tag('TAG-1')")
    assert (await parse(cp, "Authorize", {"idTag": "TAG-1"}, unique_id="a")).result["idTagInfo"]["status"] == "Accepted"
    await db.execute("UPDATE pgcsms.id_tags SET status = 'Blocked' WHERE id_tag = 'TAG-1'")
    assert (await parse(cp, "Authorize", {"idTag": "TAG-1"}, unique_id="a")).result["idTagInfo"]["status"] == "Blocked"


async def test_a_call_that_failed_is_handled_afresh_when_resent(db, parse, cp):
    # Not schema-valid, so the handler fails: nothing was applied, the resend must be tried again.
    broken = {"connectorId": "one", "meterValue": []}
    assert (await parse(cp, "MeterValues", broken, unique_id="m-2")).error_code is not None
    assert (await parse(cp, "MeterValues", METER, unique_id="m-2")).result == {}
    assert await readings(db) == 1


async def test_a_resend_racing_the_first_copy_waits_for_it_and_is_not_applied_twice(fresh_db, dsn):
    await fresh_db.execute("SELECT ocpp.add_charge_point('CP-1')")
    first = await asyncpg.connect(dsn)
    second = await asyncpg.connect(dsn)
    try:
        transaction = first.transaction()
        await transaction.start()
        await first.fetchrow("SELECT * FROM ocpp.parse('CP-1', 'm-1', 'MeterValues', $1::jsonb)", json.dumps(METER))
        pid = await second.fetchval("SELECT pg_backend_pid()")
        racing = asyncio.create_task(second.fetchrow(
            "SELECT result::text, error_code FROM ocpp.parse('CP-1', 'm-1', 'MeterValues', $1::jsonb)",
            json.dumps(METER)))
        async with asyncio.timeout(10):  # no event says a backend started waiting for a lock: look, bounded
            while not await fresh_db.fetchval("SELECT EXISTS (SELECT FROM pg_locks WHERE pid = $1 AND NOT granted)",
                                              pid):
                await asyncio.sleep(0.01)
        await transaction.commit()
        row = await asyncio.wait_for(racing, 10)
    finally:
        await first.close()
        await second.close()
    assert (json.loads(row["result"]), row["error_code"]) == ({}, None)
    assert await readings(fresh_db) == 1


@pytest.mark.parametrize("action", ["BootNotification", "Heartbeat", "Authorize"])
async def test_the_afresh_list_is_of_actions_every_version_has(action):
    from pgcsms.proxy import catalog
    assert all(action in catalog.station_actions(version) for version in catalog.VERSIONS)
