"""Zombie connections are closed; pings can be switched off per charger."""

import asyncio


async def test_charger_that_stops_answering_pings_is_closed(db, raw, central, events):
    await db.execute("SELECT ocpp.add_charge_point('CP-Z', ping_interval => 1)")
    async with raw("CP-Z", close_timeout=1) as ws:
        await ws.send('[2, "h", "Heartbeat", {}]')
        await asyncio.wait_for(ws.recv(), 5)
        assert central.sessions["CP-Z"].ping_interval == 1
        ws.transport.pause_reading()  # a half-dead link: nothing it receives is answered
        await events.wait(event="disconnected", charge_point_id="CP-Z")
        assert "CP-Z" not in central.sessions
    assert not await db.fetchval("SELECT connected FROM ocpp.charge_points WHERE id = 'CP-Z'")


async def test_pings_can_be_switched_off_for_one_charger(db, raw, central):
    await db.execute("SELECT ocpp.add_charge_point('CP-NOPING', ping_interval => 0)")
    async with raw("CP-NOPING") as ws:
        await ws.send('[2, "h", "Heartbeat", {}]')
        await asyncio.wait_for(ws.recv(), 5)
        session = central.sessions["CP-NOPING"]
        assert session.ping_interval == 0
        assert not any("keepalive" in repr(task.get_coro()) for task in session.tasks)
