"""The wire: handshake refusals, CALLERROR codes, journal of refused frames, replacement."""

import asyncio
import json

import pytest
import websockets
from websockets.exceptions import InvalidStatus


async def exchange(ws, frame: str) -> list:
    await ws.send(frame)
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


@pytest.mark.parametrize(("frame", "code", "unique_id"), [
    ("not json", "FormationViolation", "-1"),
    ('[2, "abc", "Heartbeat", {', "FormationViolation", "abc"),
    ('{"a": 1}', "FormationViolation", "-1"),
    ('[2, "u1", "Heartbeat"]', "ProtocolError", "u1"),
    ('[2, 17, "Heartbeat", {}]', "ProtocolError", "-1"),
    ('[7, "u2", "Heartbeat", {}]', "ProtocolError", "u2"),
    ('[2, "u3", "Heartbeat", []]', "FormationViolation", "u3"),
    ('[2, "u4", "FlyToTheMoon", {}]', "NotImplemented", "u4"),
    ('[2, "u5", "Reset", {"type": "Hard"}]', "NotSupported", "u5"),
    ('[2, "u6", "StatusNotification", {"connectorId": "one", "errorCode": "NoError", "status": "Available"}]',
     "TypeConstraintViolation", "u6"),
    ('[2, "u7", "StatusNotification", {"errorCode": "NoError", "status": "Available"}]',
     "OccurenceConstraintViolation", "u7"),
    ('[2, "u8", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}]',
     "PropertyConstraintViolation", "u8"),
    ('[2, "u9", "Heartbeat", {"extra": true}]', "FormationViolation", "u9"),
    ('[2, "u10", "Authorize", {"idTag": "123456789012345678901"}]', "PropertyConstraintViolation", "u10"),
    ('[2, "nul", "Heartbeat", {}]\x00', "FormationViolation", "nul"),
])
async def test_bad_frames_get_the_right_callerror_and_are_journaled(db, raw, frame, code, unique_id):
    await db.execute("SELECT ocpp.add_charge_point('CP-W')")
    async with raw("CP-W") as ws:
        reply = await exchange(ws, frame)
        assert reply[0] == 4
        assert reply[1] == unique_id
        assert reply[2] == code
        # The connection stays open and serves the next message.
        ok = await exchange(ws, '[2, "next", "Heartbeat", {}]')
        assert ok[0] == 3 and ok[1] == "next"
    rows = await db.fetch("SELECT direction, message_type, error_code, raw FROM ocpp.message_log "
                          "WHERE charge_point_id = 'CP-W' ORDER BY id")
    assert rows[1]["direction"] == "out" and rows[1]["error_code"] == code
    assert rows[0]["direction"] == "in"


async def test_rejected_charger_gets_security_error_until_it_boots(db, raw):
    await db.execute("SELECT ocpp.add_charge_point('CP-R', registration_status => 'Rejected')")
    async with raw("CP-R") as ws:
        reply = await exchange(ws, '[2, "h", "Heartbeat", {}]')
        assert reply[:3] == [4, "h", "SecurityError"]
        boot = await exchange(ws, '[2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]')
        assert boot[0] == 3 and boot[2]["status"] == "Rejected"


async def test_database_failure_is_internal_error_without_detail(db, raw):
    await db.execute("SELECT ocpp.add_charge_point('CP-F')")
    # A handler fault: break a helper the StatusNotification handler calls.
    await db.execute("ALTER TABLE pgcsms.status_history RENAME TO status_history_gone")
    async with raw("CP-F") as ws:
        reply = await exchange(ws, '[2, "s", "StatusNotification", '
                                   '{"connectorId": 1, "errorCode": "NoError", "status": "Available"}]')
    assert reply == [4, "s", "InternalError", "Internal error", {}]
    detail = await db.fetchval("SELECT error_detail FROM ocpp.message_log WHERE unique_id = 's' AND direction = 'out'")
    assert "status_history" in detail


@pytest.mark.parametrize(("path", "status"), [
    ("/ocpp/", 400),
    ("/ocpp/" + "x" * 49, 400),
    ("/ocpp/bad%01id", 400),
    ("/elsewhere/CP-1", 404),
])
async def test_bad_identities_are_refused_at_the_handshake(central, path, status):
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(f"ws://127.0.0.1:{central.port}{path}", subprotocols=["ocpp1.6"],
                                      open_timeout=5):
            pass
    assert refused.value.response.status_code == status


async def test_unserved_subprotocol_is_refused_and_none_is_served_as_16(db, raw):
    await db.execute("SELECT ocpp.add_charge_point('CP-S')")
    with pytest.raises(InvalidStatus) as refused:
        async with raw("CP-S", subprotocols=["ocpp2.0"]):
            pass
    assert refused.value.response.status_code == 400
    async with raw("CP-S", subprotocols=[]) as ws:
        assert ws.subprotocol is None
        reply = await exchange(ws, '[2, "h", "Heartbeat", {}]')
        assert reply[0] == 3


async def test_unknown_charger_refused_under_reject_policy(db, raw):
    await db.execute("SELECT ocpp.set_setting('unknown_charge_points', 'reject')")
    with pytest.raises(InvalidStatus) as refused:
        async with raw("CP-NEW"):
            pass
    assert refused.value.response.status_code == 404
    assert await db.fetchval("SELECT count(*) FROM ocpp.charge_points") == 0


async def test_second_connection_replaces_the_first(db, raw):
    await db.execute("SELECT ocpp.add_charge_point('CP-D')")
    async with raw("CP-D") as first, raw("CP-D") as second:
        await asyncio.wait_for(first.wait_closed(), 5)
        assert first.close_code == 1000
        reply = await exchange(second, '[2, "h", "Heartbeat", {}]')
        assert reply[0] == 3
        assert await db.fetchval("SELECT connected FROM ocpp.charge_points WHERE id = 'CP-D'")


async def test_oversized_frame_closes_with_1009(db, raw, central):
    await db.execute("SELECT ocpp.add_charge_point('CP-B')")
    async with raw("CP-B", max_size=None) as ws:
        padding = "x" * central.limits.max_frame_bytes
        await ws.send('[2, "big", "DataTransfer", {"vendorId": "V", "data": "' + padding + '"}]')
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1009


async def test_a_plain_http_request_never_reaches_the_database(db, central):
    """websockets refuses what is not a WebSocket upgrade; no connection may be recorded for it."""
    await db.execute("SELECT ocpp.add_charge_point('CP-GET')")
    reader, writer = await asyncio.open_connection("127.0.0.1", central.port)
    writer.write(b"GET /ocpp/CP-GET HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.split()[1] in (b"426", b"400")
    row = await db.fetchrow("SELECT connected, connection_epoch FROM pgcsms.charge_points WHERE id = 'CP-GET'")
    assert (row["connected"], row["connection_epoch"]) == (False, 0)
