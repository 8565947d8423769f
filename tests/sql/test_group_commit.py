"""The group commit's set path leaves exactly what the per-message path leaves.

``ocpp.parse_many`` applies Heartbeat, StatusNotification and 1.6 MeterValues of
Accepted chargers by set statements (``ocpp._parse_set``); everything else, and
a whole batch whose set statements fail, goes one message at a time through
``ocpp.parse``. Here the same traffic goes both ways, to two fleets alike in all
but their names (``S-`` through ``parse_many``, ``M-`` message by message), and
every table, every answer and every event must come out the same.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
from typing import Any

import asyncpg
import pytest

pytestmark = pytest.mark.timeout(60)

MANY = ("SELECT result::text, error_code, error_description FROM ocpp.parse_many("
        "$1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[], 'node-1')")
ONE = ("SELECT result::text, error_code, error_description "
       "FROM ocpp.parse($1, $2, $3, $4::jsonb, $5, 'node-1')")
SET_PATH = "SELECT ocpp._parse_set($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[], 'node-1')::text[]"

PAST = "2026-01-10T08:00:00Z"
FUTURE = "2099-01-01T00:00:00Z"

Message = tuple[str, str, str, dict[str, Any], str]  # charger (without prefix), uniqueId, action, payload, version


def _meter(value_wh: str, *, transaction_id: int | None = None, connector: int = 1,
           unit: str = "Wh", at: str = PAST) -> dict[str, Any]:
    payload: dict[str, Any] = {"connectorId": connector, "meterValue": [
        {"timestamp": at, "sampledValue": [
            {"value": value_wh, "measurand": "Energy.Active.Import.Register", "unit": unit},
            {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
            {"value": "32", "measurand": "Current.Import", "unit": "A", "phase": "L1"}]},
        {"timestamp": "2026-01-10T08:00:10Z", "sampledValue": [{"value": "2"}]}]}
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    return payload


def _status(status: str, *, connector: int = 1, at: str | None = PAST, **more: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"connectorId": connector, "errorCode": "NoError", "status": status, **more}
    if at is not None:
        payload["timestamp"] = at
    return payload


def _event(kind: str, seq: int, *, minutes: int, wh: float | None = 1000, **more: Any) -> dict[str, Any]:
    """A TransactionEvent of TX-1 (2.x), with an energy reading unless wh is None."""
    at = f"2026-01-10T08:{minutes:02d}:00Z"
    payload: dict[str, Any] = {"eventType": kind, "timestamp": at, "seqNo": seq,
                               "triggerReason": "Authorized" if kind == "Started" else "MeterValuePeriodic",
                               "transactionInfo": {"transactionId": "TX-1", "chargingState": "Charging"}, **more}
    if wh is not None:
        payload["meterValue"] = [{"timestamp": at, "sampledValue": [
            {"value": wh, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
            {"value": 7200, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}}]}]
    return payload


def _status_201(status: str, *, evse: int = 1, connector: int = 1, at: str = PAST) -> dict[str, Any]:
    return {"timestamp": at, "connectorStatus": status, "evseId": evse, "connectorId": connector}


async def _set_up(db: asyncpg.Connection, prefix: str) -> dict[str, int]:
    """A fleet: Accepted 1.6 chargers, a 2.0.1 and a 2.1 station, Pending and Rejected ones, states to replay onto."""
    for name in "ABEGHIJKLMNOQ":
        await db.execute("SELECT ocpp.add_charge_point($1)", prefix + name)
    await db.execute("SELECT ocpp.add_charge_point($1, registration_status => 'Pending')", prefix + "P")
    await db.execute("SELECT ocpp.add_charge_point($1, registration_status => 'Rejected')", prefix + "R")
    for name, version in (("C", "2.0.1"), ("D", "2.1")):
        await db.execute("SELECT ocpp.add_charge_point($1)", prefix + name)
        row = await db.fetchrow(ONE, prefix + name, "boot", "BootNotification",
                                json.dumps({"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}),
                                version)
        assert row["error_code"] is None
    # G has a transaction under way (numbered far from anything else, so that
    # _normal can tell it); K and L a connector state to replay onto.
    await db.execute("SELECT setval(pg_get_serial_sequence('pgcsms.transactions', 'id'), $1)",
                     7_000_000 if prefix == "S-" else 8_000_000)
    row = await db.fetchrow(ONE, prefix + "G", "start", "StartTransaction", json.dumps(
        {"connectorId": 1, "idTag": "TAG-1", "meterStart": 1000, "timestamp": PAST}), "1.6")
    transaction_id = json.loads(row["result"])["transactionId"]
    for name, status in (("K", "Charging"), ("L", "Available")):
        row = await db.fetchrow(ONE, prefix + name, "setup", "StatusNotification",
                                json.dumps(_status(status, at="2026-06-01T00:00:00Z")), "1.6")
        assert row["error_code"] is None
    # T (2.0.1) and V (2.1) have a session under way, with a reading.
    for name, version in (("T", "2.0.1"), ("V", "2.1")):
        await db.execute("SELECT ocpp.add_charge_point($1)", prefix + name)
        for action, payload in (
                ("BootNotification", {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}),
                ("TransactionEvent", _event("Started", 0, minutes=0, evse={"id": 1, "connectorId": 1},
                                            idToken={"idToken": "TAG-1", "type": "ISO14443"}))):
            row = await db.fetchrow(ONE, prefix + name, f"setup-{action}", action, json.dumps(payload), version)
            assert row["error_code"] is None, row
    # J's clock was flagged earlier; a right one clears it.
    await db.execute("UPDATE pgcsms.charge_points SET clock_skew = interval '2 hours' WHERE id = $1", prefix + "J")
    return {"G": transaction_id}


def _traffic(fleet: dict[str, int]) -> list[list[Message]]:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    first = [
        ("A", "a1", "Heartbeat", {}, "1.6"),
        ("B", "b1", "StatusNotification", _status("Available", info="ok", vendorId="V", vendorErrorCode="7"), "1.6"),
        ("C", "c1", "StatusNotification", _status_201("Occupied"), "2.0.1"),
        ("D", "d1", "Heartbeat", {}, "2.1"),
        ("D2", "x", "Heartbeat", {}, "1.6"),  # unknown charger: the registration policy
        ("P", "p1", "MeterValues", _meter("5"), "1.6"),  # Pending 1.6 charger: may send
        ("R", "r1", "Heartbeat", {}, "1.6"),  # Rejected: SecurityError
        ("E", "e1", "StatusNotification", _status("Preparing"), "1.6"),  # E twice: both kept in order
        ("E", "e2", "MeterValues", _meter("1.5", unit="kWh"), "1.6"),
        ("G", "g1", "MeterValues", _meter("1234.5", transaction_id=fleet["G"]), "1.6"),
        ("H", "h1", "MeterValues", _meter("10", transaction_id=987654321), "1.6"),  # a transaction we do not know
        ("I", "i1", "StatusNotification", _status("Faulted", at=FUTURE, errorCode="GroundFailure"), "1.6"),
        ("J", "j1", "StatusNotification", _status("Available", at=now), "1.6"),
        ("K", "k1", "StatusNotification", _status("Available", at="2026-03-01T00:00:00Z"), "1.6"),  # older
        ("L", "l1", "StatusNotification", _status("Available", at=None), "1.6"),  # unchanged
        ("Q", "q1", "Authorize", {"idTag": "TAG-1"}, "1.6"),
        ("T", "t1", "TransactionEvent", _event("Updated", 1, minutes=1, wh=1250.5), "2.0.1"),  # in order
        ("V", "v1", "TransactionEvent", _event("Updated", 2, minutes=2, wh=1500), "2.1"),  # a gap: derived
    ]
    resent = [
        ("G", "g1", "MeterValues", _meter("1234.5", transaction_id=fleet["G"]), "1.6"),  # resend: from the journal
        ("A", "a2", "MeterValues", _meter("20"), "1.6"),
        ("B", "b1", "StatusNotification", _status("Unavailable"), "1.6"),  # same uniqueId, new payload: applied
        ("T", "t1", "TransactionEvent", _event("Updated", 1, minutes=1, wh=1250.5), "2.0.1"),  # resend
        ("V", "v2", "TransactionEvent", _event("Updated", 3, minutes=3, wh=1400, offline=True), "2.1"),  # a fall
    ]
    more = [
        ("T", "t2", "TransactionEvent", _event("Updated", 2, minutes=3, wh=None), "2.0.1"),  # no reading
        ("V", "v3", "TransactionEvent", _event("Updated", 4, minutes=4, wh=1700), "2.1"),
        ("C", "c2", "TransactionEvent", _event("Updated", 1, minutes=1), "2.0.1"),  # a session never started
    ]
    last = [
        ("T", "t3", "TransactionEvent", _event("Updated", 3, minutes=4, wh=1290, idToken={
            "idToken": "TAG-1", "type": "ISO14443"}), "2.0.1"),  # a token: the general handler
        ("V", "v4", "TransactionEvent", _event("Ended", 5, minutes=5, wh=1800), "2.1"),
    ]
    poisoned = [
        ("M", "m1", "MeterValues", _meter("30", connector=2**31), "1.6"),  # no column holds it: the set fails
        ("N", "n1", "Heartbeat", {}, "1.6"),
        ("O", "o1", "StatusNotification", _status("SuspendedEV"), "1.6"),
    ]
    return [first, resent, more, last, poisoned]


def _columns(batch: list[Message], prefix: str) -> list[list[str]]:
    return [[prefix + m[0] for m in batch], [m[1] for m in batch], [m[2] for m in batch],
            [json.dumps(m[3]) for m in batch], [m[4] for m in batch]]


_TIME_STRING = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
_TIME_IN_TEXT = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?|Z)?")


def _normal(value: Any, prefix: str, now: datetime.datetime, transaction_id: int = 0) -> Any:
    """A value with the fleet's prefix and transaction taken out, the moments of the run (now, durations) made alike."""
    if isinstance(value, int) and (value == transaction_id or 7_000_000 <= value < 9_000_000):
        return "<transaction>"  # ours: the sequence runs on from one fleet's to the other's
    if isinstance(value, str):
        if _TIME_STRING.match(value):
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return "<now>" if abs(moment - now) < datetime.timedelta(minutes=10) else value
        return _TIME_IN_TEXT.sub("<time>", value.replace(prefix, "X-"))
    if isinstance(value, datetime.datetime):
        return "<now>" if abs(value - now) < datetime.timedelta(minutes=10) else value.isoformat()
    if isinstance(value, datetime.timedelta):
        return round(value.total_seconds() / 60)
    if isinstance(value, dict):
        return {k: _normal(v, prefix, now, transaction_id) for k, v in value.items()
                if k not in {"received_at", "skew"}}
    if isinstance(value, list):
        return [_normal(v, prefix, now, transaction_id) for v in value]
    return value


async def _tables(db: asyncpg.Connection) -> dict[str, list[str]]:
    """Every table of pgcsms and the columns worth comparing (not identities: sequences run on across fleets)."""
    rows = await db.fetch(
        """SELECT c.table_name, array_agg(c.column_name::text ORDER BY c.ordinal_position) AS columns
             FROM information_schema.columns AS c
             JOIN information_schema.tables AS t USING (table_schema, table_name)
            WHERE c.table_schema = 'pgcsms' AND t.table_type = 'BASE TABLE'
              AND NOT (c.data_type = 'bigint'
                       AND c.column_name IN ('id', 'command_id', 'remote_command_id', 'last_reading_id'))
              AND c.column_name NOT IN ('password_hash')
            GROUP BY c.table_name""")
    return {r["table_name"]: r["columns"] for r in rows}


async def _state(db: asyncpg.Connection, prefix: str, now: datetime.datetime, transaction_id: int
                 ) -> dict[str, Any]:
    """Each table's rows of one fleet, normalised and sorted; the journal also charger by charger, in order."""
    state: dict[str, Any] = {}
    for table, columns in (await _tables(db)).items():
        has_charger = "charge_point_id" in columns or table == "charge_points"
        if not has_charger:
            continue
        key = "id" if table == "charge_points" else "charge_point_id"
        selected = ", ".join(f'"{c}"' for c in columns)
        order = "id" if table == "message_log" else "1"
        rows = await db.fetch(f'SELECT {selected} FROM pgcsms."{table}" WHERE "{key}" LIKE $1 || \'%\' '
                              f"ORDER BY {order}", prefix)
        normal = [json.dumps(_normal(_decoded(dict(r)), prefix, now, transaction_id), sort_keys=True, default=str)
                  for r in rows]
        state[table] = sorted(normal)
        if table == "message_log":
            by_charger: dict[str, list[str]] = {}
            for record, text in zip(rows, normal, strict=True):
                by_charger.setdefault(record["charge_point_id"].replace(prefix, "X-"), []).append(text)
            state["message_log in order"] = by_charger
    return state


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: json.loads(v) if isinstance(v, str) and v[:1] in "{[" else v for k, v in row.items()}


async def test_set_path_and_per_message_path_leave_the_same_state(db, dsn):
    fleets = {prefix: await _set_up(db, prefix) for prefix in ("S-", "M-")}
    events: dict[str, list[dict[str, Any]]] = {"S-": [], "M-": []}
    listener = await asyncpg.connect(dsn)
    all_heard = asyncio.Event()

    def heard(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
        event = json.loads(payload)
        if event.get("event") == "end":
            all_heard.set()
        for prefix, seen in events.items():
            if str(event.get("charge_point_id", "")).startswith(prefix):
                seen.append(event)

    await listener.add_listener("ocpp_event", heard)
    answers: dict[str, list[tuple[Any, ...]]] = {"S-": [], "M-": []}
    try:
        now = datetime.datetime.now(datetime.UTC)
        for batch_s, batch_m in zip(_traffic(fleets["S-"]), _traffic(fleets["M-"]), strict=True):
            for row in await db.fetch(MANY, *_columns(batch_s, "S-")):
                answers["S-"].append(tuple(row))
            for message in zip(*_columns(batch_m, "M-"), strict=True):
                answers["M-"].append(tuple(await db.fetchrow(ONE, *message)))
        # Every event of both fleets is in before the comparison.
        await db.execute("SELECT pg_notify('ocpp_event', '{\"event\": \"end\"}')")
        await asyncio.wait_for(all_heard.wait(), 10)
    finally:
        await listener.close()

    def answer(row: tuple[Any, ...], prefix: str) -> tuple[Any, ...]:
        result = None if row[0] is None else _normal(json.loads(row[0]), prefix, now, fleets[prefix]["G"])
        return result, row[1], row[2]

    assert [answer(a, "S-") for a in answers["S-"]] == [answer(a, "M-") for a in answers["M-"]]
    codes = [a[1] for a in answers["S-"]]
    assert codes.count("SecurityError") == 1 and codes.count("PropertyConstraintViolation") == 1

    def normal_events(prefix: str) -> list[str]:
        return sorted(json.dumps(_normal(e, prefix, now, fleets[prefix]["G"]), sort_keys=True)
                      for e in events[prefix])

    assert normal_events("S-") == normal_events("M-")
    assert any(e["event"] == "status" for e in events["S-"])
    state_s = await _state(db, "S-", now, fleets["S-"]["G"])
    state_m = await _state(db, "M-", now, fleets["M-"]["G"])
    assert state_s.keys() == state_m.keys()
    for table in state_s:
        assert state_s[table] == state_m[table], table
    # The traffic reached what it is about: readings, a replay kept in history only, a flagged clock.
    assert len(state_s["meter_values"]) > 10 and len(state_s["anomalies"]) >= 1
    assert await db.fetchval("SELECT clock_skew IS NULL FROM pgcsms.charge_points WHERE id = 'S-J'")
    assert await db.fetchval("SELECT status FROM pgcsms.connectors WHERE charge_point_id = 'S-K'") == "Charging"


async def test_the_set_path_takes_the_high_volume_messages_of_accepted_chargers(db):
    """What ocpp._parse_set answers itself (the rest go through ocpp.parse): a test of the test above."""
    fleet = await _set_up(db, "S-")
    first, resent, more, _, poisoned = _traffic(fleet)
    transaction = db.transaction()
    await transaction.start()
    taken = await db.fetchval(SET_PATH, *_columns(first, "S-"))
    await transaction.rollback()
    assert [m[0] for m, a in zip(first, taken, strict=True) if a is not None] == [
        "A", "B", "C", "D", "G", "H", "I", "J", "K", "L", "T"]
    await db.fetch(MANY, *_columns(first, "S-"))
    taken = await db.fetchval(SET_PATH, *_columns(resent, "S-"))
    # g1 and t1 are resends; V's seqNo 3 comes next (2 came after a gap, and was derived)
    assert [m[1] for m, a in zip(resent, taken, strict=True) if a is not None] == ["a2", "b1", "v2"]
    await db.fetch(MANY, *_columns(resent, "S-"))
    taken = await db.fetchval(SET_PATH, *_columns(more, "S-"))
    assert [m[1] for m, a in zip(more, taken, strict=True) if a is not None] == ["t2", "v3"]
    with pytest.raises(asyncpg.NumericValueOutOfRangeError):
        await db.fetchval(SET_PATH, *_columns(poisoned, "S-"))
