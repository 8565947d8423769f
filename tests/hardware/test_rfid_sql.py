"""ocpp.record_scan and ocpp.add_rfid_reader on a real PostgreSQL: every mode and outcome, roles."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pgcsms.proxy.ocppj import Validator

Login = Callable[[str], Awaitable[asyncpg.Connection]]


async def scan(db: asyncpg.Connection, reader: str, tag: str, at: datetime | None = None) -> str:
    if at is None:
        return await db.fetchval("SELECT ocpp.record_scan($1, $2)", reader, tag)
    return await db.fetchval("SELECT ocpp.record_scan($1, $2, $3)", reader, tag, at)


async def scans(db: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT reader_id, id_tag, outcome, command_id FROM ocpp.rfid_scans ORDER BY id")
    return [dict(r) for r in rows]


@pytest.fixture
async def kiosk(db: asyncpg.Connection) -> str:
    """An authorize reader beside connector 1 of CP-1, and an accepted card TAG-1."""
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    await db.execute("SELECT ocpp.add_id_tag('TAG-1')")
    await db.execute("SELECT ocpp.add_rfid_reader('kiosk-1', 'authorize', 'CP-1', 1, 'beside CP-1')")
    return "kiosk-1"


# -- mode log ----------------------------------------------------------------------------


async def test_an_unknown_reader_is_added_in_mode_log(db):
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert await scan(db, "desk:ttyUSB0", "04A2B3C4", at) == "logged"
    reader = await db.fetchrow("SELECT * FROM ocpp.rfid_readers")
    assert (reader["reader_id"], reader["mode"], reader["charge_point_id"]) == ("desk:ttyUSB0", "log", None)
    row = await db.fetchrow("SELECT * FROM ocpp.rfid_scans")
    assert (row["reader_id"], row["id_tag"], row["scanned_at"], row["outcome"], row["command_id"]) == (
        "desk:ttyUSB0", "04A2B3C4", at, "logged", None)
    assert row["received_at"] > at
    # Logging changes nothing else.
    assert await db.fetchval("SELECT count(*) FROM ocpp.id_tags") == 0


async def test_scanned_at_defaults_to_now(db):
    await scan(db, "r", "04A2B3C4")
    assert await db.fetchval("SELECT scanned_at = received_at FROM ocpp.rfid_scans")


# -- mode enroll -------------------------------------------------------------------------


async def test_enroll_adds_an_unknown_card_as_accepted(db):
    await db.execute("SELECT ocpp.add_rfid_reader('desk', 'enroll')")
    assert await scan(db, "desk", "04A2B3C4") == "enrolled"
    tag = await db.fetchrow("SELECT * FROM ocpp.id_tags")
    assert (tag["id_tag"], tag["status"], tag["description"]) == (
        "04A2B3C4", "Accepted", "enrolled at RFID reader desk")
    assert await scan(db, "desk", "04A2B3C4") == "known"
    assert [s["outcome"] for s in await scans(db)] == ["enrolled", "known"]


async def test_enroll_matches_cards_case_insensitively(db):
    await db.execute("SELECT ocpp.add_rfid_reader('desk', 'enroll')")
    await db.execute("SELECT ocpp.add_id_tag('04a2b3c4')")
    assert await scan(db, "desk", "04A2B3C4") == "known"
    assert await db.fetchval("SELECT count(*) FROM ocpp.id_tags") == 1


async def test_enroll_leaves_a_blocked_card_blocked(db):
    await db.execute("SELECT ocpp.add_rfid_reader('desk', 'enroll')")
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4', 'Blocked')")
    assert await scan(db, "desk", "04A2B3C4") == "known"
    assert await db.fetchval("SELECT status FROM ocpp.id_tags") == "Blocked"


# -- mode authorize ----------------------------------------------------------------------


async def test_authorize_queues_a_remote_start(db, kiosk):
    at = datetime.now(UTC)
    assert await scan(db, kiosk, "TAG-1", at) == "remote_start_queued"
    [row] = await scans(db)
    command = await db.fetchrow("SELECT * FROM ocpp.commands WHERE id = $1", row["command_id"])
    assert (command["charge_point_id"], command["action"], command["status"]) == (
        "CP-1", "RemoteStartTransaction", "queued")
    assert json.loads(command["payload"]) == {"idTag": "TAG-1", "connectorId": 1}
    # Undelivered after rfid_scan_max_age (60 s), nobody is waiting at the kiosk any more.
    assert command["expires_at"] == at + timedelta(seconds=60)


async def test_authorize_starts_a_2_0_1_station_with_request_start_transaction(db, kiosk):
    await db.execute("UPDATE pgcsms.charge_points SET ocpp_version = '2.0.1' WHERE id = 'CP-1'")
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4')")
    assert await scan(db, kiosk, "04A2B3C4") == "remote_start_queued"
    command = await db.fetchrow("SELECT action, payload FROM ocpp.commands")
    payload = json.loads(command["payload"])
    assert command["action"] == "RequestStartTransaction"
    assert (payload["idToken"], payload["evseId"]) == ({"idToken": "04A2B3C4", "type": "ISO14443"}, 1)
    Validator("2.0.1").check_request("RequestStartTransaction", payload)


async def test_authorize_on_the_chargers_choice_of_connector(db, kiosk):
    await db.execute("SELECT ocpp.add_rfid_reader('kiosk-1', 'authorize', 'CP-1')")
    assert await scan(db, kiosk, "tag-1") == "remote_start_queued"
    payload = await db.fetchval("SELECT payload FROM ocpp.commands")
    assert json.loads(payload) == {"idTag": "tag-1"}


@pytest.mark.parametrize(("setup", "outcome"), [
    ("SELECT 1", "invalid"),
    ("SELECT ocpp.add_id_tag('TAG-2', 'Blocked')", "blocked"),
    ("SELECT ocpp.add_id_tag('TAG-2', 'Expired')", "expired"),
    ("SELECT ocpp.add_id_tag('TAG-2', 'Accepted', now() - interval '1 day')", "expired"),
    ("SELECT ocpp.add_id_tag('TAG-2', 'Invalid')", "invalid"),
])
async def test_authorize_refuses_a_card_that_is_not_accepted(db, kiosk, setup, outcome):
    await db.execute(setup)
    assert await scan(db, kiosk, "TAG-2") == outcome
    assert await db.fetchval("SELECT count(*) FROM ocpp.commands") == 0
    assert [s["command_id"] for s in await scans(db)] == [None]


async def test_authorize_refuses_a_card_already_charging(db, kiosk):
    await db.execute("SELECT ocpp.add_charge_point('CP-2')")
    reply = await db.fetchrow(
        "SELECT result, error_code FROM ocpp.parse('CP-2', 'u-1', 'StartTransaction', $1::jsonb)",
        json.dumps({"connectorId": 1, "idTag": "TAG-1", "meterStart": 0, "timestamp": "2024-05-01T12:00:00Z"}))
    assert reply["error_code"] is None
    assert await scan(db, kiosk, "TAG-1") == "concurrenttx"
    assert await db.fetchval("SELECT count(*) FROM ocpp.commands") == 0


async def test_authorize_does_not_start_on_a_scan_that_waited_too_long(db, kiosk):
    """A scan queued through a database outage must not start a charge minutes later."""
    assert await scan(db, kiosk, "TAG-1", datetime.now(UTC) - timedelta(minutes=2)) == "stale"
    assert await db.fetchval("SELECT count(*) FROM ocpp.commands") == 0
    await db.execute("SELECT ocpp.set_setting('rfid_scan_max_age', '600')")
    assert await scan(db, kiosk, "TAG-1", datetime.now(UTC) - timedelta(minutes=3)) == "remote_start_queued"


async def test_rfid_scan_max_age_zero_means_no_limit(db, kiosk):
    await db.execute("SELECT ocpp.set_setting('rfid_scan_max_age', '0')")
    assert await scan(db, kiosk, "TAG-1", datetime.now(UTC) - timedelta(days=1)) == "remote_start_queued"
    assert await db.fetchval("SELECT expires_at FROM ocpp.commands") is None


async def test_authorize_reader_whose_charger_was_removed(db, kiosk):
    await db.execute("SELECT ocpp.remove_charge_point('CP-1')")
    assert await db.fetchval("SELECT charge_point_id FROM ocpp.rfid_readers") is None
    assert await scan(db, kiosk, "TAG-1") == "no_charge_point"


# -- every scan ----------------------------------------------------------------------------


async def test_a_retried_scan_is_recorded_once(db, kiosk):
    """The reader retries when an answer is lost: the same reader, tag and time is the same scan."""
    at = datetime.now(UTC)
    assert await scan(db, kiosk, "TAG-1", at) == "remote_start_queued"
    assert await scan(db, kiosk, "TAG-1", at) == "remote_start_queued"
    assert len(await scans(db)) == 1
    assert await db.fetchval("SELECT count(*) FROM ocpp.commands") == 1
    # A millisecond later is another scan (the reader debounces; the database does not).
    assert await scan(db, kiosk, "TAG-1", at + timedelta(milliseconds=1)) == "remote_start_queued"
    assert len(await scans(db)) == 2


async def test_every_scan_notifies_ocpp_event(db, dsn, kiosk):
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    listener = await asyncpg.connect(dsn)
    try:
        await listener.add_listener("ocpp_event", lambda *args: events.put_nowait(json.loads(args[3])))
        await db.execute("SELECT ocpp.add_rfid_reader('desk', 'enroll')")
        await scan(db, "desk", "04A2B3C4")
        await scan(db, kiosk, "TAG-1")
        await scan(db, "elsewhere", "TAG-1")
        received = [await asyncio.wait_for(events.get(), 10) for _ in range(3)]
    finally:
        await listener.close()
    command_id = await db.fetchval("SELECT id FROM ocpp.commands")
    scan_ids = [r["id"] for r in await db.fetch("SELECT id FROM ocpp.rfid_scans ORDER BY id")]
    assert received == [
        {"event": "rfid_scan", "reader_id": "desk", "id_tag": "04A2B3C4", "outcome": "enrolled",
         "scan_id": scan_ids[0], "command_id": None},
        {"event": "rfid_scan", "reader_id": "kiosk-1", "id_tag": "TAG-1", "outcome": "remote_start_queued",
         "scan_id": scan_ids[1], "command_id": command_id},
        {"event": "rfid_scan", "reader_id": "elsewhere", "id_tag": "TAG-1", "outcome": "logged",
         "scan_id": scan_ids[2], "command_id": None},
    ]


@pytest.mark.parametrize(("reader", "tag"), [
    ("r", ""), ("r", "04A2B3C4D5E6F70819ABC"), ("r", "04A2\nB3C4"), ("r", None), ("", "04A2B3C4"),
    ("x" * 129, "04A2B3C4"), (None, "04A2B3C4"),
])
async def test_record_scan_refuses_what_is_no_scan(db, reader, tag):
    with pytest.raises(asyncpg.InvalidParameterValueError):
        await scan(db, reader, tag)
    assert await scans(db) == []


# -- ocpp.add_rfid_reader ----------------------------------------------------------------


async def test_add_rfid_reader_changes_a_reader(db, kiosk):
    await db.execute("SELECT ocpp.add_rfid_reader('kiosk-1', 'enroll')")
    row = await db.fetchrow("SELECT * FROM ocpp.rfid_readers")
    assert (row["mode"], row["charge_point_id"], row["connector_id"], row["description"]) == (
        "enroll", None, None, "beside CP-1")
    assert row["updated_at"] >= row["created_at"]


@pytest.mark.parametrize(("sql", "error"), [
    ("SELECT ocpp.add_rfid_reader('r', 'open')", asyncpg.InvalidParameterValueError),
    ("SELECT ocpp.add_rfid_reader('r', NULL)", asyncpg.InvalidParameterValueError),
    ("SELECT ocpp.add_rfid_reader('', 'log')", asyncpg.InvalidParameterValueError),
    ("SELECT ocpp.add_rfid_reader('r', 'authorize')", asyncpg.InvalidParameterValueError),
    ("SELECT ocpp.add_rfid_reader('r', 'authorize', 'CP-9')", asyncpg.NoDataFoundError),
    ("SELECT ocpp.add_rfid_reader('r', 'log', 'CP-9')", asyncpg.NoDataFoundError),
    ("SELECT ocpp.add_rfid_reader('r', 'authorize', 'CP-1', 0)", asyncpg.InvalidParameterValueError),
    ("SELECT ocpp.add_rfid_reader('r', 'log', NULL, 1)", asyncpg.InvalidParameterValueError),
])
async def test_add_rfid_reader_refuses(db, kiosk, sql, error):
    with pytest.raises(error):
        await db.execute(sql)
    assert await db.fetchval("SELECT count(*) FROM ocpp.rfid_readers") == 1


# -- roles -------------------------------------------------------------------------------


@pytest.fixture
async def login_as(db: asyncpg.Connection, dsn: str) -> AsyncIterator[Login]:
    """A LOGIN user of its own in the given role (roles are cluster-wide; users are dropped after)."""
    users: list[str] = []
    connections: list[asyncpg.Connection] = []

    async def login(role: str) -> asyncpg.Connection:
        user = f"pgcsms_test_rfid_{role.removeprefix('pgcsms_')}_{secrets.token_hex(4)}"
        await db.execute(f'CREATE ROLE "{user}" LOGIN IN ROLE {role}')
        users.append(user)
        connection = await asyncpg.connect(dsn, user=user)
        connections.append(connection)
        return connection

    try:
        yield login
    finally:
        for connection in connections:
            await connection.close()
        for user in users:
            await db.execute(f'DROP ROLE IF EXISTS "{user}"')


async def test_the_proxy_role_records_scans_and_nothing_more(db, kiosk, login_as):
    proxy = await login_as("pgcsms_proxy")
    assert await scan(proxy, kiosk, "TAG-1") == "remote_start_queued"
    assert await db.fetchval("SELECT count(*) FROM ocpp.commands") == 1
    for sql in ("SELECT ocpp.add_rfid_reader('r')", "SELECT * FROM ocpp.rfid_scans",
                "SELECT * FROM ocpp.rfid_readers", "SELECT * FROM pgcsms.rfid_scans"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await proxy.execute(sql)


async def test_the_operator_manages_readers_and_the_reader_role_reads(db, kiosk, login_as):
    operator = await login_as("pgcsms_operator")
    await operator.execute("SELECT ocpp.add_rfid_reader('desk', 'enroll', description => 'front desk')")
    await scan(db, "desk", "04A2B3C4")
    reader = await login_as("pgcsms_reader")
    assert await reader.fetchval("SELECT count(*) FROM ocpp.rfid_readers") == 2
    assert await reader.fetchval("SELECT outcome FROM ocpp.rfid_scans") == "enrolled"
    for connection in (operator, reader):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await scan(connection, "desk", "04A2B3C4")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await reader.execute("SELECT ocpp.add_rfid_reader('r')")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await operator.execute("DELETE FROM ocpp.rfid_scans")


async def test_views_and_functions_are_documented(db):
    missing = await db.fetch("""
        SELECT c.oid::regclass::text AS name FROM pg_class AS c
         WHERE c.oid IN ('ocpp.rfid_readers'::regclass, 'ocpp.rfid_scans'::regclass)
           AND obj_description(c.oid, 'pg_class') IS NULL
        UNION ALL
        SELECT p.oid::regprocedure::text FROM pg_proc AS p
         WHERE p.oid IN ('ocpp.record_scan(text, text, timestamptz)'::regprocedure,
                         'ocpp.add_rfid_reader(text, text, text, integer, text)'::regprocedure)
           AND obj_description(p.oid, 'pg_proc') IS NULL""")
    assert missing == []
