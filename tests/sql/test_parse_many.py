"""ocpp.parse_many: the group commit the proxy uses under load."""

import json

import asyncpg
import pytest

MANY = ("SELECT result, error_code, error_description FROM ocpp.parse_many("
        "$1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[], 'n1')")


async def test_answers_in_order_and_one_bad_message_does_not_sink_the_others(db):
    for cp in ("A", "B", "C"):
        await db.execute("SELECT ocpp.add_charge_point($1)", cp)
    await db.execute("SELECT ocpp.add_charge_point('R', registration_status => 'Rejected')")
    rows = await db.fetch(MANY, ["A", "R", "B", "C"], ["1", "2", "3", "4"],
                          ["Heartbeat", "Heartbeat", "Authorize", "StatusNotification"],
                          ["{}", "{}", json.dumps({"idTag": "nobody"}),
                           json.dumps({"connectorId": 1, "errorCode": "NoError", "status": "Available"})],
                          ["1.6"] * 4)
    assert [r["error_code"] for r in rows] == [None, "SecurityError", None, None]
    assert "currentTime" in json.loads(rows[0]["result"])
    assert json.loads(rows[2]["result"]) == {"idTagInfo": {"status": "Invalid"}}
    assert await db.fetchval("SELECT status FROM ocpp.connectors WHERE charge_point_id = 'C'") == "Available"
    assert await db.fetchval("SELECT count(*) FROM ocpp.message_log") == 8


async def test_arrays_of_different_lengths_are_refused(db):
    with pytest.raises(asyncpg.InvalidParameterValueError):
        await db.fetch(MANY, ["A"], ["1", "2"], ["Heartbeat"], ["{}"], ["1.6"])


async def test_empty_batch_is_empty(db):
    assert await db.fetch(MANY, [], [], [], [], []) == []


async def test_the_batcher_answers_every_caller_even_when_the_database_fails(dsn):
    """A batch that fails is retried one by one; a caller whose call fails gets the error, never a hang."""
    import asyncio

    from pgcsms.proxy.batch import ParseBatcher

    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        await pool.execute("SELECT ocpp.add_charge_point('OK-1'), ocpp.add_charge_point('OK-2')")
        batcher = ParseBatcher(pool, "n", max_active=1)
        calls = [batcher.parse(cp, f"u-{cp}", "Heartbeat", payload, "1.6")
                 for cp, payload in [("OK-1", "{}"), ("OK-2", "{}"), ("OK-1", "not json at all")]]
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
    finally:
        await pool.close()
    assert results[0]["error_code"] is None and results[1]["error_code"] is None
    assert isinstance(results[2], asyncpg.PostgresError)  # invalid JSON: refused by the cast, alone
    # The three went out together (frames of one turn of the event loop join
    # one batch); the failed batch was then retried message by message.
    assert (batcher.batches, batcher.calls) == (1, 3)


async def test_while_a_round_trip_is_under_way_the_next_waits_for_min_batch_or_hold(dsn):
    """Small batches at moderate load are what costs: the second round trip gathers first, boundedly."""
    import asyncio

    from pgcsms.proxy.batch import ParseBatcher

    async def turns(n: int = 3) -> None:
        for _ in range(n):  # call_soon callbacks run on the next turns of the loop
            await asyncio.sleep(0)

    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=3)
    blocker = await asyncpg.connect(dsn)
    try:
        await pool.execute("SELECT ocpp.add_charge_point('H' || n) FROM generate_series(1, 6) AS n")
        batcher = ParseBatcher(pool, "n", max_active=2, min_batch=3, hold=3600)
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE pgcsms.journal IN EXCLUSIVE MODE")  # no round trip ends
        calls = [asyncio.ensure_future(batcher.parse("H1", "u1", "Heartbeat", "{}", "1.6"))]
        await turns()
        assert (batcher.batches, batcher.calls) == (1, 1)  # none under way: at once, alone
        calls += [asyncio.ensure_future(batcher.parse(f"H{n}", f"u{n}", "Heartbeat", "{}", "1.6")) for n in (2, 3)]
        await turns()
        assert (batcher.batches, batcher.calls) == (1, 1)  # two wait for a third (or an hour)
        calls.append(asyncio.ensure_future(batcher.parse("H4", "u4", "Heartbeat", "{}", "1.6")))
        await turns()
        assert (batcher.batches, batcher.calls) == (2, 4)  # three: they go together
        batcher.hold = 0.01
        calls.append(asyncio.ensure_future(batcher.parse("H5", "u5", "Heartbeat", "{}", "1.6")))
        await turns()
        assert batcher.batches == 2  # both slots busy: it waits for one whatever the hold
        await transaction.rollback()
        results = await asyncio.wait_for(asyncio.gather(*calls), 10)
        assert all(row["error_code"] is None for row in results)
        assert (batcher.batches, batcher.calls) == (3, 5)
        # Alone while a round trip is under way, a CALL waits ``hold`` at most.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE pgcsms.journal IN EXCLUSIVE MODE")
        first = asyncio.ensure_future(batcher.parse("H1", "v1", "Heartbeat", "{}", "1.6"))
        await turns()
        second = asyncio.ensure_future(batcher.parse("H6", "v6", "Heartbeat", "{}", "1.6"))
        await turns()
        assert batcher.batches == 4
        async with asyncio.timeout(5):
            while batcher.batches < 5:  # the hold's timer has no event to await but its effect
                await asyncio.sleep(batcher.hold)
        await transaction.rollback()
        assert all(row["error_code"] is None for row in await asyncio.wait_for(asyncio.gather(first, second), 10))
    finally:
        await blocker.close()
        await pool.close()
