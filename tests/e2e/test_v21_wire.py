"""OCPP-J 2.1 on the wire, frame by frame: the subprotocol, SEND, CALLRESULTERROR, ignored message types.

Raw WebSocket frames, for what no client library sends: a SEND is never
answered (proved by a CALL right after it, whose answer is the next frame to
come), a CALLRESULTERROR from the station fails the command it names, and a
CALLRESULT we cannot process gets one back.
"""

from __future__ import annotations

import asyncio
import json

import pytest

STREAM = {"id": 4, "pending": 0, "basetime": "2025-03-01T10:00:00Z", "data": [{"t": 0, "v": "11.5"}]}


async def receive(ws) -> list:
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def exchange(ws, frame: str) -> list:
    await ws.send(frame)
    return await receive(ws)


@pytest.fixture
async def known(db):
    await db.execute("SELECT ocpp.add_charge_point('CS-W')")


@pytest.mark.parametrize(("offered", "chosen"), [
    (["ocpp2.1", "ocpp2.0.1", "ocpp1.6"], "ocpp2.1"),
    (["ocpp2.0.1", "ocpp2.1"], "ocpp2.0.1"),
    (["ocpp2.1"], "ocpp2.1"),
    (["ocpp2.2", "ocpp2.1"], "ocpp2.1"),
])
async def test_the_station_s_order_of_preference_decides(known, raw, db, offered, chosen):
    async with raw("CS-W", subprotocols=offered) as ws:
        assert ws.subprotocol == chosen
    assert await db.fetchval("SELECT ocpp_version FROM ocpp.charge_points WHERE id = 'CS-W'") == chosen[4:]


async def test_a_send_is_stored_and_never_answered(known, raw, db):
    async with raw("CS-W", subprotocols=["ocpp2.1"]) as ws:
        await ws.send(json.dumps([6, "s-1", "NotifyPeriodicEventStream", STREAM]))
        # Refused SENDs are not answered either: a payload that breaks its schema, a CALL's action.
        await ws.send(json.dumps([6, "s-2", "NotifyPeriodicEventStream", {"id": 4}]))
        await ws.send(json.dumps([6, "s-3", "Heartbeat", {}]))
        await ws.send(json.dumps([6, "s-4", "NoSuchThing", {}]))
        assert await exchange(ws, '[2, "h-1", "Heartbeat", {}]') == [3, "h-1", await answer_of(db, "h-1")]
    assert await db.fetchval("SELECT value FROM ocpp.periodic_event_values WHERE stream_id = 4") == "11.5"
    journal = await db.fetch("SELECT unique_id, direction, message_type, error_code FROM ocpp.message_log "
                             "WHERE unique_id LIKE 's-%' ORDER BY id")
    assert [tuple(r) for r in journal] == [
        ("s-1", "in", 6, None), ("s-2", "in", 6, "OccurrenceConstraintViolation"), ("s-3", "in", 6, "NotSupported"),
        ("s-4", "in", 6, "NotImplemented")]


async def answer_of(db, unique_id: str) -> dict:
    return json.loads(await db.fetchval("SELECT payload FROM ocpp.message_log WHERE unique_id = $1 "
                                        "AND direction = 'out'", unique_id))


async def test_a_send_may_come_while_our_call_waits_for_its_answer(known, raw, db, events):
    async with raw("CS-W", subprotocols=["ocpp2.1"]) as ws:
        command_id = await db.fetchval("SELECT ocpp.get_periodic_event_stream('CS-W')")
        request = await receive(ws)
        assert request[:3] == [2, str(command_id), "GetPeriodicEventStream"]
        await ws.send(json.dumps([6, "s-5", "NotifyPeriodicEventStream", STREAM]))
        await ws.send(json.dumps([3, request[1], {"constantStreamData": [
            {"id": 4, "params": {"interval": 1}, "variableMonitoringId": 8}]}]))
        assert (await events.command(command_id))["status"] == "completed"
    stream = await db.fetchrow("SELECT open, interval_s FROM ocpp.periodic_event_streams WHERE stream_id = 4")
    assert tuple(stream) == (True, 1)
    assert await db.fetchval("SELECT count(*) FROM ocpp.periodic_event_values") == 1


async def test_a_callresulterror_from_the_station_fails_the_command(known, raw, db, events):
    async with raw("CS-W", subprotocols=["ocpp2.1"]) as ws:
        command_id = await db.fetchval("SELECT ocpp.afrr_signal('CS-W', 1)")
        request = await receive(ws)
        await ws.send(json.dumps([5, request[1], "FormatViolation", "cannot read that", {"field": "signal"}]))
        assert (await events.command(command_id))["status"] == "failed"
        # The command slot is free again: the next one goes out.
        following = await db.fetchval("SELECT ocpp.afrr_signal('CS-W', 0)")
        assert (await receive(ws))[:2] == [2, str(following)]
    row = await db.fetchrow("SELECT error_code, error_description, response FROM ocpp.commands WHERE id = $1",
                            command_id)
    assert (row["error_code"], row["error_description"], json.loads(row["response"])) == (
        "FormatViolation", "cannot read that", {"field": "signal"})
    assert await db.fetchval("SELECT message_type FROM ocpp.message_log WHERE unique_id = $1 AND direction = 'in'",
                             str(command_id)) == 5


async def test_a_callresult_we_cannot_process_gets_a_callresulterror(known, raw, db, events):
    async with raw("CS-W", subprotocols=["ocpp2.1"]) as ws:
        command_id = await db.fetchval("SELECT ocpp.afrr_signal('CS-W', 1)")
        request = await receive(ws)
        await ws.send(json.dumps([3, request[1], {"status": "Maybe"}]))
        refused = await receive(ws)
        assert refused[:3] == [5, request[1], "PropertyConstraintViolation"]
        assert "Maybe" in refused[3] and refused[4] == {}
        assert (await events.command(command_id))["status"] == "failed"
        # A CALLRESULT that is no CALLRESULT at all, for the same reason.
        await ws.send(json.dumps([3, "x-1"]))
        assert (await receive(ws))[:3] == [5, "x-1", "FormatViolation"]
    journal = await db.fetch("SELECT direction, message_type FROM ocpp.message_log WHERE unique_id = $1 ORDER BY id",
                             request[1])
    assert [tuple(r) for r in journal] == [("out", 2), ("in", 3), ("out", 5)]


async def test_unknown_message_types_are_ignored_in_2_1_and_answered_before(known, raw, db):
    async with raw("CS-W", subprotocols=["ocpp2.1"]) as ws:
        await ws.send('[7, "u-7", "Heartbeat", {}]')
        await ws.send('[8, "u-8"]')
        assert (await exchange(ws, '[2, "h-2", "Heartbeat", {}]'))[:2] == [3, "h-2"]
    ignored = await db.fetch("SELECT message_type, raw, error_code FROM ocpp.message_log "
                             "WHERE unique_id IN ('u-7', 'u-8') ORDER BY id")
    assert [(r["message_type"], r["raw"], r["error_code"]) for r in ignored] == [
        (None, '[7, "u-7", "Heartbeat", {}]', "MessageTypeNotSupported"),
        (None, '[8, "u-8"]', "MessageTypeNotSupported")]
    async with raw("CS-W", subprotocols=["ocpp2.0.1"]) as ws:
        for frame in ('[6, "s", "NotifyPeriodicEventStream", {}]', '[5, "c", "GenericError", "", {}]'):
            assert (await exchange(ws, frame))[:3] == [4, json.loads(frame)[1], "MessageTypeNotSupported"]


async def test_a_send_only_action_as_a_call_is_not_supported(known, raw):
    async with raw("CS-W", subprotocols=["ocpp2.1"]) as ws:
        reply = await exchange(ws, json.dumps([2, "c-1", "NotifyPeriodicEventStream", STREAM]))
    assert reply[:3] == [4, "c-1", "NotSupported"]


async def test_a_retried_call_keeps_its_message_id_and_is_applied_once(known, raw, db):
    report = {"controlType": "LVMustTrip", "timestamp": "2025-03-01T10:00:00Z", "gridEventFault": "UnderVoltage"}
    async with raw("CS-W", subprotocols=["ocpp2.1"]) as ws:
        first = await exchange(ws, json.dumps([2, "r-1", "NotifyDERAlarm", report]))
    async with raw("CS-W", subprotocols=["ocpp2.1"]) as ws:  # the answer was lost; it retries after reconnecting
        again = await exchange(ws, json.dumps([2, "r-1", "NotifyDERAlarm", report]))
    assert first == again == [3, "r-1", {}]
    assert await db.fetchval("SELECT count(*) FROM ocpp.der_alarms") == 1
