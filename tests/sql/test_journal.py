"""The journal (ocpp.message_log) and typed errors: what a charger sent is kept, whatever we answered."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.rollback

BOOT = {"chargePointVendor": "V", "chargePointModel": "M"}


async def journal(db, cp=None):
    rows = await db.fetch("SELECT * FROM ocpp.message_log WHERE $1::text IS NULL OR charge_point_id = $1 "
                          "ORDER BY id", cp)
    return [dict(r) for r in rows]


def jsonb(value):
    return None if value is None else json.loads(value)


async def test_a_call_and_its_result_are_journaled(db, parse, cp):
    reply = await parse(cp, "BootNotification", BOOT, unique_id="b-1", node_id="node-a")
    inbound, outbound = await journal(db)
    assert (inbound["direction"], inbound["message_type"], inbound["unique_id"], inbound["action"],
            jsonb(inbound["payload"]), inbound["node_id"], inbound["error_code"]) == (
        "in", 2, "b-1", "BootNotification", BOOT, "node-a", None)
    assert (outbound["direction"], outbound["message_type"], outbound["unique_id"], outbound["action"],
            jsonb(outbound["payload"]), outbound["node_id"], outbound["error_code"]) == (
        "out", 3, "b-1", "BootNotification", reply.result, "node-a", None)
    assert inbound["at"] <= outbound["at"]


async def test_every_parse_journals_two_rows(db, parse, cp):
    await parse(cp, "Heartbeat")
    await parse(cp, "Authorize", {"idTag": "X"})
    await parse(cp, "NoSuchAction", {})
    rows = await journal(db)
    assert [(r["direction"], r["message_type"], r["action"]) for r in rows] == [
        ("in", 2, "Heartbeat"), ("out", 3, "Heartbeat"), ("in", 2, "Authorize"), ("out", 3, "Authorize"),
        ("in", 2, "NoSuchAction"), ("out", 4, "NoSuchAction")]


async def test_an_exchange_is_one_row_read_as_two_frames(db, parse, cp):
    await parse(cp, "Heartbeat", unique_id="h-1")
    await parse(cp, "NoSuchAction", {}, unique_id="n-1")
    exchanges = await db.fetch("SELECT * FROM pgcsms.journal ORDER BY id")
    assert [(e["direction"], e["message_type"], e["action"], e["answer_type"], e["error_code"])
            for e in exchanges] == [("in", 2, "Heartbeat", 3, None), ("in", 2, "NoSuchAction", 4, "NotImplemented")]
    frames = await journal(db)
    assert [f["id"] for f in frames] == [exchanges[0]["id"], exchanges[0]["id"] + 1,
                                         exchanges[1]["id"], exchanges[1]["id"] + 1]
    # The error is the answer's, not the CALL's; each frame has its own time.
    assert [(f["direction"], f["message_type"], f["error_code"]) for f in frames] == [
        ("in", 2, None), ("out", 3, None), ("in", 2, None), ("out", 4, "NotImplemented")]
    assert frames[0]["at"] <= frames[1]["at"] <= frames[2]["at"] <= frames[3]["at"]


async def test_unknown_action_is_not_implemented(db, parse, cp):
    reply = await parse(cp, "FancyAction", {"a": 1}, unique_id="x-1")
    assert (reply.error_code, reply.error_description) == ("NotImplemented", "action 'FancyAction' is not implemented")
    _, outbound = await journal(db)
    assert (outbound["message_type"], outbound["error_code"], outbound["error_description"],
            outbound["error_detail"], outbound["payload"]) == (
        4, "NotImplemented", "action 'FancyAction' is not implemented", None, None)


async def test_a_rejected_charger_may_only_boot(db, parse):
    await db.execute("SELECT ocpp.add_charge_point('CP-R', 'Rejected')")
    for action, payload in (("Heartbeat", {}), ("StatusNotification",
                                                {"connectorId": 1, "errorCode": "NoError", "status": "Available"})):
        reply = await parse("CP-R", action, payload)
        assert reply.error_code == "SecurityError"
        assert "BootNotification" in reply.error_description
    assert await db.fetchval("SELECT count(*) FROM ocpp.status_history") == 0
    assert (await parse("CP-R", "BootNotification", BOOT)).result["status"] == "Rejected"
    assert len(await journal(db)) == 6


async def test_a_version_not_served_is_not_supported(db, parse, cp):
    reply = await parse(cp, "Heartbeat", version="1.5")
    assert reply.error_code == "NotSupported"
    assert "1.5" in reply.error_description


async def test_an_internal_fault_tells_the_charger_nothing_and_the_journal_everything(db, parse, cp):
    # parse trusts the proxy's schema check; a payload that never passed one provokes a fault.
    reply = await parse(cp, "StatusNotification", {"connectorId": "one", "errorCode": "NoError",
                                                   "status": "Available"}, unique_id="s-1")
    assert (reply.error_code, reply.error_description) == ("InternalError", "Internal error")
    inbound, outbound = await journal(db)
    assert jsonb(inbound["payload"])["connectorId"] == "one"
    assert (outbound["message_type"], outbound["error_code"], outbound["error_description"]) == (
        4, "InternalError", "Internal error")
    assert outbound["error_detail"].startswith("22P02: ")
    assert "one" in outbound["error_detail"]
    assert await db.fetchval("SELECT count(*) FROM ocpp.status_history") == 0


async def test_an_internal_fault_undoes_the_half_done_work(db, parse, cp):
    await db.execute("SELECT ocpp.add_id_tag('TAG-1')")
    open_one = await parse(cp, "StartTransaction", {"connectorId": 1, "idTag": "TAG-1", "meterStart": 0,
                                                     "timestamp": "2024-05-01T12:00:00Z"})
    # The open transaction would be superseded before meterStart fails its cast.
    reply = await parse(cp, "StartTransaction", {"connectorId": 1, "idTag": "TAG-2", "meterStart": "lots",
                                                  "timestamp": "2024-05-01T13:00:00Z"})
    assert reply.error_code == "InternalError"
    row = await db.fetchrow("SELECT stopped_at FROM ocpp.transactions WHERE id = $1",
                            open_one.result["transactionId"])
    assert row["stopped_at"] is None
    assert await db.fetchval("SELECT count(*) FROM ocpp.transactions") == 1
    assert await db.fetchval("SELECT count(*) FROM ocpp.anomalies") == 0
    assert len(await journal(db)) == 4


@pytest.mark.parametrize("payload", [
    {"connectorId": 99_999_999_999, "errorCode": "NoError", "status": "Available"},  # past 32 bits
    {"connectorId": -1, "errorCode": "NoError", "status": "Available"},  # no such connector
])
async def test_a_value_the_schema_allows_but_no_column_holds_is_the_chargers_fault(db, parse, cp, payload):
    reply = await parse(cp, "StatusNotification", payload)
    assert reply.error_code == "PropertyConstraintViolation"
    _, outbound = await journal(db)
    assert outbound["error_detail"].split(":")[0] in {"22003", "23514"}


@pytest.mark.parametrize(("sqlstate", "on_16", "on_201"), [
    ("OC001", "NotImplemented", "NotImplemented"),
    ("OC002", "NotSupported", "NotSupported"),
    ("OC003", "InternalError", "InternalError"),
    ("OC004", "ProtocolError", "ProtocolError"),
    ("OC005", "SecurityError", "SecurityError"),
    ("OC006", "FormationViolation", "FormatViolation"),
    ("OC007", "PropertyConstraintViolation", "PropertyConstraintViolation"),
    ("OC008", "OccurenceConstraintViolation", "OccurrenceConstraintViolation"),
    ("OC009", "TypeConstraintViolation", "TypeConstraintViolation"),
    ("OC010", "GenericError", "GenericError"),
    ("22003", "InternalError", "InternalError"),
    ("P0001", "InternalError", "InternalError"),
])
async def test_call_error_code(db, sqlstate, on_16, on_201):
    assert await db.fetchval("SELECT ocpp.call_error_code($1)", sqlstate) == on_16
    assert await db.fetchval("SELECT ocpp.call_error_code($1, '1.6')", sqlstate) == on_16
    assert await db.fetchval("SELECT ocpp.call_error_code($1, '2.0.1')", sqlstate) == on_201


# -- frames the proxy refused, and frames no CALL of ours explains ------------------------

async def test_log_rejected_unreadable_frame(db, cp):
    await db.execute("SELECT ocpp.log_rejected($1, NULL, NULL, NULL, $2, 'FormationViolation', "
                     "'frame is not valid JSON', 'node-a', NULL)", cp, '[2, "x", {')
    inbound, outbound = await journal(db)
    assert (inbound["direction"], inbound["message_type"], inbound["unique_id"], inbound["payload"],
            inbound["raw"], inbound["node_id"]) == ("in", None, None, None, '[2, "x", {', "node-a")
    assert (outbound["direction"], outbound["message_type"], outbound["error_code"],
            outbound["error_description"], outbound["raw"]) == (
        "out", 4, "FormationViolation", "frame is not valid JSON", None)


async def test_log_rejected_call_with_a_payload(db, cp):
    payload = {"chargePointVendor": "V"}
    await db.execute("SELECT ocpp.log_rejected($1, 'b-1', 'BootNotification', $2::jsonb, $3, "
                     "'OccurenceConstraintViolation', 'chargePointModel is required')",
                     cp, json.dumps(payload), "[2,...]")
    inbound, outbound = await journal(db)
    # The parsed payload is kept; raw only when nothing could be parsed.
    assert (inbound["message_type"], inbound["unique_id"], inbound["action"], jsonb(inbound["payload"]),
            inbound["raw"], inbound["node_id"]) == (2, "b-1", "BootNotification", payload, None, None)
    assert (outbound["message_type"], outbound["unique_id"], outbound["action"], outbound["error_code"]) == (
        4, "b-1", "BootNotification", "OccurenceConstraintViolation")


async def test_log_rejected_keeps_the_frame_of_an_unknown_charger(db):
    await db.execute("SELECT ocpp.log_rejected('GHOST', '1', 'Heartbeat', '{}', NULL, 'SecurityError', 'who?')")
    assert len(await journal(db, "GHOST")) == 2
    assert await db.fetchval("SELECT count(*) FROM ocpp.charge_points") == 0


async def test_log_frame(db, cp):
    await db.execute("SELECT ocpp.log_frame($1, 'in', 3::smallint, 'c-1', NULL, $2::jsonb)",
                     cp, json.dumps({"status": "Accepted"}))
    await db.execute("SELECT ocpp.log_frame($1, 'in', 4::smallint, 'c-2', NULL, '{}'::jsonb, NULL, "
                     "'NotSupported', 'no', 'node-b')", cp)
    await db.execute("SELECT ocpp.log_frame($1, 'in', NULL, NULL, NULL, NULL, '[9]', 'ProtocolError', 'x')", cp)
    rows = await journal(db)
    assert [(r["direction"], r["message_type"], r["unique_id"], jsonb(r["payload"]), r["raw"], r["error_code"],
             r["error_description"], r["node_id"]) for r in rows] == [
        ("in", 3, "c-1", {"status": "Accepted"}, None, None, None, None),
        ("in", 4, "c-2", {}, None, "NotSupported", "no", "node-b"),
        ("in", None, None, None, "[9]", "ProtocolError", "x", None),
    ]


async def test_a_chargers_latest_frames_come_in_order_by_id(db, cp):
    await db.execute(
        "INSERT INTO pgcsms.journal (charge_point_id, direction, message_type, unique_id, action, payload, "
        "answer_type, answer, answered_at) "
        "SELECT $1, 'in', 2, n::text, 'Heartbeat', '{}', 3, '{}', clock_timestamp() FROM generate_series(1, 300) AS n",
        cp)
    await db.execute(  # a command not yet answered
        "INSERT INTO pgcsms.journal (charge_point_id, direction, message_type, unique_id, action, payload) "
        "VALUES ($1, 'out', 2, 'c-1', 'Reset', '{}')", cp)
    latest = await db.fetch("SELECT id, direction, message_type, unique_id FROM ocpp.message_log "
                            "WHERE charge_point_id = $1 ORDER BY id DESC LIMIT 5", cp)
    assert [(r["direction"], r["message_type"], r["unique_id"]) for r in latest] == [
        ("out", 2, "c-1"), ("out", 3, "300"), ("in", 2, "300"), ("out", 3, "299"), ("in", 2, "299")]
    assert latest[1]["id"] == latest[2]["id"] + 1
