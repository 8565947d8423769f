"""Commands at the SQL layer: queueing, delivery, answers, timeouts, ``CALL ocpp.call``.

The proxy is played by hand with the delivery API (``ocpp.next_command``,
``ocpp.complete_command``, ``ocpp.fail_command``, ``ocpp.command_backlog``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from pgcsms.proxy.ocppj import CENTRAL_SYSTEM_ACTIONS

# db: the shared database in a transaction rolled back after each test (fast);
# tests that need commits (NOTIFY, CALL ocpp.call) take fresh_db instead.
pytestmark = pytest.mark.rollback

NODE = "node-a"


async def connect(db: asyncpg.Connection, cp: str = "CP-1", node: str = NODE) -> int:
    row = await db.fetchrow("SELECT accepted, epoch FROM ocpp.connect($1, $2)", cp, node)
    assert row["accepted"]
    return int(row["epoch"])


async def claim(db: asyncpg.Connection, cp: str, epoch: int, node: str = NODE) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT command_id, unique_id, action, payload FROM ocpp.next_command($1, $2, $3)", cp, node, epoch)


async def answer(db: asyncpg.Connection, cp: str, unique_id: str, response: dict[str, Any] | None,
                 error_code: str | None = None, error_description: str | None = None) -> bool:
    return bool(await db.fetchval(
        "SELECT ocpp.complete_command($1, $2, $3::jsonb, $4, $5, $6)", cp, unique_id,
        None if response is None else json.dumps(response), error_code, error_description, NODE))


async def send(db: asyncpg.Connection, cp: str, action: str, payload: dict[str, Any] | None = None,
               expires_at: str | None = None) -> int:
    return int(await db.fetchval("SELECT ocpp.send($1, $2, $3::jsonb, $4::text::timestamptz)", cp, action,
                                 json.dumps(payload or {}), expires_at))


async def command(db: asyncpg.Connection, command_id: int) -> asyncpg.Record:
    return await db.fetchrow("SELECT * FROM ocpp.commands WHERE id = $1", command_id)


@pytest.fixture
async def online(db: asyncpg.Connection, cp: str) -> int:
    """CP-1 connected to node-a: its connection epoch."""
    return await connect(db, cp)


class Listener:
    """A second connection LISTENing on a channel; notifications land in a queue."""

    def __init__(self, connection: asyncpg.Connection, channel: str) -> None:
        self.connection = connection
        self.channel = channel
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    async def start(self) -> Listener:
        await self.connection.add_listener(self.channel, self._on)
        return self

    def _on(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self.queue.put_nowait(payload)

    async def next(self, timeout: float = 5) -> str:
        return await asyncio.wait_for(self.queue.get(), timeout)


@pytest.fixture
async def live(fresh_db: asyncpg.Connection) -> int:
    """For tests that need commits (NOTIFY, CALL ocpp.call): CP-1 connected in a database of its own."""
    await fresh_db.execute("SELECT ocpp.add_charge_point('CP-1')")
    return await connect(fresh_db)


@pytest.fixture
async def other(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A second connection to the test's own database (a proxy, a psql user)."""
    connection = await asyncpg.connect(dsn, server_settings={"timezone": "UTC"})
    try:
        yield connection
    finally:
        await connection.close()


# -- queueing -----------------------------------------------------------------

async def test_send_queues_a_command(db, cp):
    cid = await send(db, cp, "Reset", {"type": "Soft"})
    row = await command(db, cid)
    assert row["status"] == "queued"
    assert row["charge_point_id"] == cp and row["action"] == "Reset"
    assert json.loads(row["payload"]) == {"type": "Soft"}
    assert row["sent_at"] is None and row["response"] is None


async def test_send_to_an_unknown_charge_point_is_an_error(db, fails):
    async with fails(asyncpg.NoDataFoundError, match="unknown charge point 'CP-X'"):
        await send(db, "CP-X", "Reset", {"type": "Soft"})


@pytest.mark.parametrize("action", ["Foo", "BootNotification", "reset", ""])
async def test_send_an_action_that_is_not_a_command_is_an_error(db, cp, fails, action):
    async with fails(asyncpg.InvalidParameterValueError, match="not an action a central system sends"):
        await send(db, cp, action)


async def test_send_a_payload_that_is_not_an_object_is_an_error(db, cp, fails):
    async with fails(asyncpg.InvalidParameterValueError, match="JSON object"):
        await db.execute("SELECT ocpp.send('CP-1', 'Reset', '[1]'::jsonb)")
    async with fails(asyncpg.InvalidParameterValueError, match="already passed"):
        await send(db, cp, "Reset", {"type": "Soft"}, "2001-01-01T00:00:00Z")


async def test_command_actions_are_the_26_of_ocpp_1_6(db):
    rows = await db.fetch("SELECT action, profile, helper FROM ocpp.command_actions WHERE ocpp_version = '1.6'")
    assert sum(r["profile"] == "core" for r in rows) == 19
    assert sum(r["profile"] == "security" for r in rows) == 7
    assert {r["action"] for r in rows} == CENTRAL_SYSTEM_ACTIONS["1.6"]
    missing = await db.fetch("""
        SELECT a.helper FROM ocpp.command_actions AS a
         WHERE a.ocpp_version = '1.6' AND NOT EXISTS (SELECT FROM pg_proc AS p
                            WHERE p.pronamespace = 'ocpp'::regnamespace
                              AND p.proname = split_part(a.helper, '.', 2))""")
    assert missing == []


async def test_send_notifies_the_proxies(fresh_db, live, other):
    listener = await Listener(other, "pgcsms_command").start()
    await send(fresh_db, "CP-1", "ClearCache")
    assert await listener.next() == "CP-1"


# -- delivery -----------------------------------------------------------------

async def test_next_command_claims_journals_and_returns_the_payload(db, cp, online):
    cid = await send(db, cp, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"})
    row = await claim(db, cp, online)
    assert row["command_id"] == cid and row["unique_id"] == str(cid)
    assert row["action"] == "ChangeConfiguration"
    assert json.loads(row["payload"]) == {"key": "HeartbeatInterval", "value": "60"}
    sent = await command(db, cid)
    assert sent["status"] == "sent" and sent["sent_at"] is not None and sent["node_id"] == NODE
    journal = await db.fetchrow("SELECT * FROM ocpp.message_log WHERE unique_id = $1 AND direction = 'out'", str(cid))
    assert journal["message_type"] == 2 and journal["action"] == "ChangeConfiguration"
    assert json.loads(journal["payload"]) == {"key": "HeartbeatInterval", "value": "60"}


async def test_one_command_in_flight_in_queue_order(db, cp, online):
    ids = [await send(db, cp, "TriggerMessage", {"requestedMessage": "Heartbeat"}) for _ in range(3)]
    first = await claim(db, cp, online)
    assert first["command_id"] == ids[0]
    assert await claim(db, cp, online) is None  # OCPP-J: one CALL outstanding
    assert await answer(db, cp, first["unique_id"], {"status": "Accepted"})
    second = await claim(db, cp, online)
    assert second["command_id"] == ids[1]
    assert await db.fetchval("SELECT ocpp.fail_command($1, 'timeout')", second["command_id"])
    third = await claim(db, cp, online)
    assert third["command_id"] == ids[2]
    assert await answer(db, cp, third["unique_id"], {"status": "Rejected"})
    assert await claim(db, cp, online) is None
    statuses = [(await command(db, i))["status"] for i in ids]
    assert statuses == ["accepted", "timeout", "rejected"]


async def test_two_claims_at_once_send_one_command(fresh_db, live, other):
    db = fresh_db
    await send(db, "CP-1", "ClearCache")
    await send(db, "CP-1", "ClearCache")
    tx = db.transaction()
    await tx.start()
    try:
        first = await claim(db, "CP-1", live)
        assert first is not None
        # The second claim waits for the first transaction, then sees it in flight.
        second = asyncio.create_task(claim(other, "CP-1", live))
        await wait_for_lock(db, other)
        await tx.commit()
    except BaseException:
        await tx.rollback()
        raise
    assert await asyncio.wait_for(second, 5) is None
    assert await db.fetchval("SELECT count(*) FROM ocpp.commands WHERE status = 'sent'") == 1


async def test_fencing_only_the_current_connection_claims(db, cp):
    await send(db, cp, "ClearCache")
    assert await claim(db, cp, 0) is None  # never connected
    old = await connect(db, cp)
    new = await connect(db, cp, "node-b")  # the charger moved to another node
    assert await claim(db, cp, old) is None
    assert await claim(db, cp, new) is None  # right epoch, wrong node
    assert await claim(db, cp, old, "node-b") is None  # right node, stale epoch
    assert await claim(db, cp, new, "node-b") is not None
    await db.execute("SELECT ocpp.disconnect('CP-1', $1)", new)
    await send(db, cp, "ClearCache")
    assert await claim(db, cp, new, "node-b") is None  # no longer connected


async def test_a_rejected_charger_gets_no_commands(db, cp, online):
    await send(db, cp, "ClearCache")
    await db.execute("SELECT ocpp.add_charge_point('CP-1', 'Rejected')")
    assert await claim(db, cp, online) is None
    assert await db.fetch("SELECT * FROM ocpp.command_backlog($1)", NODE) == []


async def test_complete_command_records_the_answer_and_journals_it(db, cp, online):
    cid = await send(db, cp, "Reset", {"type": "Hard"})
    row = await claim(db, cp, online)
    assert await answer(db, cp, row["unique_id"], {"status": "Accepted"})
    done = await command(db, cid)
    assert done["status"] == "accepted" and json.loads(done["response"]) == {"status": "Accepted"}
    assert done["completed_at"] is not None and done["error_code"] is None
    journal = await db.fetchrow("SELECT * FROM ocpp.message_log WHERE unique_id = $1 AND direction = 'in'", str(cid))
    assert journal["message_type"] == 3 and journal["action"] == "Reset"
    assert json.loads(journal["payload"]) == {"status": "Accepted"}


async def test_a_commands_answer_joins_its_call_in_one_journal_row(db, cp, online):
    cid = await send(db, cp, "Reset", {"type": "Hard"})
    row = await claim(db, cp, online)
    assert await answer(db, cp, row["unique_id"], {"status": "Accepted"})
    exchange = await db.fetch("SELECT * FROM pgcsms.journal WHERE unique_id = $1", str(cid))
    assert [(r["direction"], r["message_type"], r["answer_type"], json.loads(r["answer"])) for r in exchange] == [
        ("out", 2, 3, {"status": "Accepted"})]
    frames = await db.fetch("SELECT id, direction, message_type, at FROM ocpp.message_log WHERE unique_id = $1 "
                            "ORDER BY id", str(cid))
    assert [(f["id"] - exchange[0]["id"], f["direction"], f["message_type"]) for f in frames] == [
        (0, "out", 2), (1, "in", 3)]
    assert frames[0]["at"] <= frames[1]["at"]


async def test_a_late_answer_joins_its_call_and_a_repeated_one_stands_alone(db, cp, online):
    cid = await send(db, cp, "ClearCache")
    row = await claim(db, cp, online)
    assert await db.fetchval("SELECT ocpp.fail_command($1, 'timeout')", cid)
    assert not await answer(db, cp, row["unique_id"], {"status": "Accepted"})  # too late: the command is over
    assert not await answer(db, cp, row["unique_id"], {"status": "Rejected"})  # and again
    frames = await db.fetch("SELECT direction, message_type, action, payload FROM ocpp.message_log "
                            "WHERE unique_id = $1 ORDER BY id", str(cid))
    assert [(f["direction"], f["message_type"], f["action"], json.loads(f["payload"])) for f in frames] == [
        ("out", 2, "ClearCache", {}), ("in", 3, "ClearCache", {"status": "Accepted"}),
        ("in", 3, None, {"status": "Rejected"})]
    assert (await command(db, cid))["status"] == "timeout"


async def test_an_answer_nobody_waits_for_is_journaled_and_refused(db, cp, online):
    assert not await answer(db, cp, "no-such-id", {"status": "Accepted"})
    cid = await send(db, cp, "ClearCache")
    row = await claim(db, cp, online)
    assert await answer(db, cp, row["unique_id"], {"status": "Accepted"})
    assert not await answer(db, cp, row["unique_id"], {"status": "Accepted"})  # a duplicate
    assert not await answer(db, "CP-2", row["unique_id"], {"status": "Accepted"})  # another charger
    assert (await command(db, cid))["status"] == "accepted"
    assert await db.fetchval("SELECT count(*) FROM ocpp.message_log WHERE direction = 'in'") == 4


async def test_callerror_fails_the_command(db, cp, online):
    cid = await send(db, cp, "GetConfiguration")
    row = await claim(db, cp, online)
    assert await answer(db, cp, row["unique_id"], {"detail": 1}, "NotImplemented", "no such thing")
    done = await command(db, cid)
    assert done["status"] == "failed"
    assert (done["error_code"], done["error_description"]) == ("NotImplemented", "no such thing")
    assert json.loads(done["response"]) == {"detail": 1}
    journal = await db.fetchrow("SELECT * FROM ocpp.message_log WHERE unique_id = $1 AND direction = 'in'", str(cid))
    assert journal["message_type"] == 4 and journal["error_code"] == "NotImplemented"


@pytest.mark.parametrize(("action", "response", "status"), [
    ("ChangeConfiguration", {"status": "RebootRequired"}, "accepted"),
    ("ChangeConfiguration", {"status": "NotSupported"}, "rejected"),
    ("ChangeAvailability", {"status": "Scheduled"}, "accepted"),
    ("UnlockConnector", {"status": "Unlocked"}, "accepted"),
    ("UnlockConnector", {"status": "UnlockFailed"}, "rejected"),
    ("ReserveNow", {"status": "Occupied"}, "rejected"),
    ("SendLocalList", {"status": "VersionMismatch"}, "rejected"),
    ("TriggerMessage", {"status": "NotImplemented"}, "rejected"),
    ("GetLog", {"status": "AcceptedCanceled"}, "accepted"),
    ("GetInstalledCertificateIds", {"status": "NotFound"}, "rejected"),
    ("GetConfiguration", {"configurationKey": []}, "completed"),
    ("GetDiagnostics", {}, "completed"),
    ("GetLocalListVersion", {"listVersion": 3}, "completed"),
    ("UpdateFirmware", {}, "completed"),
])
async def test_status_from_the_answer(db, action, response, status):
    assert await db.fetchval("SELECT ocpp._command_status($1, $2::jsonb)", action, json.dumps(response)) == status


async def test_fail_command(db, cp, online, fails):
    invalid = await send(db, cp, "Reset", {"type": "Gentle"})
    row = await claim(db, cp, online)
    assert await db.fetchval("SELECT ocpp.fail_command($1, 'failed', 'PropertyConstraintViolation', 'type')",
                             row["command_id"])
    done = await command(db, invalid)
    assert (done["status"], done["error_code"], done["response"]) == ("failed", "PropertyConstraintViolation", None)
    assert not await db.fetchval("SELECT ocpp.fail_command($1, 'timeout')", invalid)  # finished already
    async with fails(asyncpg.InvalidParameterValueError):
        await db.fetchval("SELECT ocpp.fail_command($1, 'accepted')", invalid)
    late = await send(db, cp, "ClearCache")
    row = await claim(db, cp, online)
    assert await db.fetchval("SELECT ocpp.fail_command($1, 'timeout')", late)
    done = await command(db, late)
    assert done["status"] == "timeout" and done["error_description"] == "no answer within call_timeout"
    assert not await answer(db, cp, row["unique_id"], {"status": "Accepted"})  # too late


async def test_expired_commands_are_not_sent(db, cp, online):
    stale = await send(db, cp, "ClearCache", expires_at="2999-01-01T00:00:00Z")
    fresh = await send(db, cp, "ClearCache", expires_at="2999-01-01T00:00:00Z")
    await db.execute("UPDATE pgcsms.commands SET expires_at = now() - interval '1 s' WHERE id = $1", stale)
    assert (await command(db, stale))["status"] == "expired"  # as read, before any sweep
    row = await claim(db, cp, online)
    assert row["command_id"] == fresh
    done = await db.fetchrow("SELECT status, completed_at FROM pgcsms.commands WHERE id = $1", stale)
    assert done["status"] == "expired" and done["completed_at"] is not None


async def test_cancel(db, cp, online):
    queued = await send(db, cp, "ClearCache")
    assert await db.fetchval("SELECT ocpp.cancel($1)", queued)
    assert (await command(db, queued))["status"] == "cancelled"
    assert not await db.fetchval("SELECT ocpp.cancel($1)", queued)
    sent = await send(db, cp, "ClearCache")
    assert (await claim(db, cp, online))["command_id"] == sent
    assert not await db.fetchval("SELECT ocpp.cancel($1)", sent)  # on its way: cannot be recalled
    assert not await db.fetchval("SELECT ocpp.cancel(-1)")


# -- connections end, proxies die -----------------------------------------------

async def test_reconnect_reclaims_the_command_in_flight(db, cp, online):
    cid = await send(db, cp, "GetConfiguration")
    await claim(db, cp, online)
    await send(db, cp, "ClearCache")
    new = await connect(db, cp)
    done = await command(db, cid)
    assert done["status"] == "interrupted" and done["error_description"] == "connection closed before the answer"
    assert (await claim(db, cp, new))["action"] == "ClearCache"  # the queue goes on


async def test_disconnect_and_node_restart_reclaim(db, cp, online):
    first = await send(db, cp, "ClearCache")
    await claim(db, cp, online)
    await db.execute("SELECT ocpp.disconnect('CP-1', $1)", online)
    assert (await command(db, first))["status"] == "interrupted"

    second = await send(db, cp, "ClearCache")
    epoch = await connect(db, cp)
    await claim(db, cp, epoch)
    await db.execute("SELECT ocpp.node_started('node-b')")  # not ours
    assert (await command(db, second))["status"] == "sent"
    await db.execute("SELECT ocpp.node_started($1)", NODE)
    assert (await command(db, second))["status"] == "interrupted"


async def test_command_backlog(db, cp, online):
    await db.execute("SELECT ocpp.add_charge_point('CP-2')")
    await db.execute("SELECT ocpp.add_charge_point('CP-3')")
    await connect(db, "CP-2", "node-b")
    await send(db, cp, "ClearCache")
    await send(db, "CP-2", "ClearCache")
    await send(db, "CP-3", "ClearCache")  # offline
    assert [tuple(r) for r in await db.fetch("SELECT * FROM ocpp.command_backlog($1)", NODE)] == [(cp, online)]
    await send(db, cp, "ClearCache")
    await claim(db, cp, online)
    assert await db.fetch("SELECT * FROM ocpp.command_backlog($1)", NODE) == []  # in flight


async def test_command_backlog_sweeps_what_dead_proxies_left(db, cp, online):
    stuck = await send(db, cp, "ClearCache")
    await claim(db, cp, online)
    stale = await send(db, "CP-1", "ClearCache", expires_at="2999-01-01T00:00:00Z")
    await db.execute("UPDATE pgcsms.commands SET sent_at = now() - interval '61 s' WHERE id = $1", stuck)
    await db.execute("UPDATE pgcsms.commands SET expires_at = now() WHERE id = $1", stale)
    assert await db.fetch("SELECT * FROM ocpp.command_backlog('node-z')") == []
    assert (await command(db, stuck))["status"] == "interrupted"
    assert (await db.fetchrow("SELECT status FROM pgcsms.commands WHERE id = $1", stale))["status"] == "expired"


async def test_finished_commands_notify_ocpp_event(fresh_db, live, other):
    db, cp, online = fresh_db, "CP-1", live
    listener = await Listener(other, "ocpp_event").start()
    cid = await send(db, cp, "Reset", {"type": "Soft"})
    row = await claim(db, cp, online)
    await answer(db, cp, row["unique_id"], {"status": "Accepted"})
    cancelled = await send(db, cp, "ClearCache")
    await db.execute("SELECT ocpp.cancel($1)", cancelled)
    events = [json.loads(await listener.next()) for _ in range(2)]
    assert events == [
        {"event": "command_completed", "command_id": cid, "charge_point_id": cp, "action": "Reset",
         "status": "accepted"},
        {"event": "command_completed", "command_id": cancelled, "charge_point_id": cp, "action": "ClearCache",
         "status": "cancelled"},
    ]


async def test_a_failing_effect_keeps_the_answer(db, cp, online):
    cid = await send(db, cp, "GetConfiguration")
    row = await claim(db, cp, online)
    # Not schema-valid (readonly is no boolean); the proxy would catch it, the database copes anyway.
    assert await answer(db, cp, row["unique_id"], {"configurationKey": [{"key": "K", "readonly": "perhaps"}]})
    assert (await command(db, cid))["status"] == "completed"
    anomaly = await db.fetchrow("SELECT kind, detail FROM ocpp.anomalies")
    assert anomaly["kind"] == "command_effect_failed"
    assert json.loads(anomaly["detail"])["command_id"] == cid


# -- roles --------------------------------------------------------------------

async def test_roles(db, cp, online, fails):
    await db.execute("SET ROLE pgcsms_operator")
    cid = await send(db, cp, "ClearCache")
    assert (await db.fetchrow("SELECT status FROM ocpp.commands WHERE id = $1", cid))["status"] == "queued"
    assert await db.fetchval("SELECT ocpp.reset('CP-1')") > cid
    async with fails(asyncpg.InsufficientPrivilegeError):
        await claim(db, cp, online)
    async with fails(asyncpg.InsufficientPrivilegeError):
        await db.execute("SELECT * FROM pgcsms.commands")
    await db.execute("RESET ROLE")

    await db.execute("SET ROLE pgcsms_proxy")
    row = await claim(db, cp, online)
    assert await answer(db, cp, row["unique_id"], {"status": "Accepted"})
    assert await db.fetch("SELECT * FROM ocpp.command_backlog($1)", NODE) != []
    async with fails(asyncpg.InsufficientPrivilegeError):
        await send(db, cp, "ClearCache")
    await db.execute("RESET ROLE")

    await db.execute("SET ROLE pgcsms_reader")
    assert len(await db.fetch("SELECT * FROM ocpp.commands")) == 2
    for sql in ("SELECT ocpp.send('CP-1', 'ClearCache')", "SELECT ocpp.cancel(1)",
                "SELECT ocpp.clear_cache('CP-1')", "CALL ocpp.call('CP-1', 'ClearCache')"):
        async with fails(asyncpg.InsufficientPrivilegeError):
            await db.execute(sql)
    await db.execute("RESET ROLE")


# -- CALL ocpp.call -------------------------------------------------------------
# The procedure commits, so these run in a database of their own: ``other``
# is the psql user, ``fresh_db`` the proxy.

class Proxy:
    """Plays the proxy for ``CALL ocpp.call``: awaits the NOTIFY, claims, answers."""

    def __init__(self, connection: asyncpg.Connection, epoch: int) -> None:
        self.connection = connection
        self.epoch = epoch
        self.listener = Listener(connection, "pgcsms_command")

    async def start(self) -> Proxy:
        await self.listener.start()
        return self

    async def claim(self) -> asyncpg.Record:
        await self.listener.next()
        row = await claim(self.connection, "CP-1", self.epoch)
        assert row is not None
        return row

    async def answer(self, unique_id: str, response: dict[str, Any] | None, error_code: str | None = None,
                     error_description: str | None = None) -> bool:
        return await answer(self.connection, "CP-1", unique_id, response, error_code, error_description)


@pytest.fixture
async def proxy(fresh_db: asyncpg.Connection, live: int) -> Proxy:
    return await Proxy(fresh_db, live).start()


async def call(connection: asyncpg.Connection, action: str, payload: dict[str, Any] | None = None,
               timeout_s: int = 5) -> Any:
    row = await connection.fetchrow("CALL ocpp.call('CP-1', $1, $2::jsonb, $3)", action,
                                    json.dumps(payload or {}), timeout_s)
    return None if row["response"] is None else json.loads(row["response"])


async def wait_for_lock(db: asyncpg.Connection, waiter: asyncpg.Connection) -> None:
    """Until ``waiter`` waits for a lock (there is no event to await: poll, bounded)."""
    pid = waiter.get_server_pid()
    for _ in range(500):
        if await db.fetchval("SELECT EXISTS (SELECT FROM pg_locks WHERE pid = $1 AND NOT granted)", pid):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second session never waited for the lock")


async def test_call_returns_the_answer(fresh_db, proxy, other):
    waiting = asyncio.create_task(call(other, "GetConfiguration", {"key": ["HeartbeatInterval"]}))
    row = await proxy.claim()
    assert json.loads(row["payload"]) == {"key": ["HeartbeatInterval"]}
    response = {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
    assert await proxy.answer(row["unique_id"], response)
    assert await asyncio.wait_for(waiting, 10) == response
    assert (await command(fresh_db, row["command_id"]))["status"] == "completed"
    value = await fresh_db.fetchval("SELECT value FROM ocpp.charger_configuration WHERE key = 'HeartbeatInterval'")
    assert value == "300"


async def test_call_returns_a_rejection_as_an_answer(proxy, other):
    waiting = asyncio.create_task(call(other, "Reset", {"type": "Hard"}))
    row = await proxy.claim()
    await proxy.answer(row["unique_id"], {"status": "Rejected"})
    assert await asyncio.wait_for(waiting, 10) == {"status": "Rejected"}


async def test_call_as_psql_would_with_the_operator_role(fresh_db, proxy, other):
    await other.execute("SET ROLE pgcsms_operator")
    waiting = asyncio.create_task(other.fetchrow("CALL ocpp.call('CP-1', 'ClearCache', '{}')"))
    row = await proxy.claim()
    await proxy.answer(row["unique_id"], {"status": "Accepted"})
    record = await asyncio.wait_for(waiting, 10)
    assert list(record.keys()) == ["response"]  # psql prints one column, response
    assert json.loads(record["response"]) == {"status": "Accepted"}
    # Who queued it: the login role (session_user), whatever role it had set.
    assert (await command(fresh_db, row["command_id"]))["created_by"] == await other.fetchval("SELECT session_user")


async def test_call_to_an_offline_charger_fails_at_once(fresh_db, other):
    await fresh_db.execute("SELECT ocpp.add_charge_point('CP-1')")
    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="CP-1 is offline"):
        await call(other, "ClearCache")
    assert await fresh_db.fetchval("SELECT count(*) FROM ocpp.commands") == 0  # nothing queued
    with pytest.raises(asyncpg.NoDataFoundError, match="unknown charge point"):
        await other.execute("CALL ocpp.call('CP-9', 'ClearCache')")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="timeout_s"):
        await other.execute("CALL ocpp.call('CP-1', 'ClearCache', timeout_s => 0)")


async def test_call_callerror(proxy, other):
    waiting = asyncio.create_task(call(other, "DataTransfer", {"vendorId": "V"}))
    row = await proxy.claim()
    await proxy.answer(row["unique_id"], {"why": "nope"}, "NotImplemented", "DataTransfer is not implemented")
    with pytest.raises(asyncpg.PostgresError) as caught:
        await asyncio.wait_for(waiting, 10)
    assert caught.value.sqlstate == "OC001"
    assert ("CP-1 answered DataTransfer with CALLERROR NotImplemented: DataTransfer is not implemented"
            in str(caught.value))
    assert '"why": "nope"' in caught.value.detail


async def test_call_with_an_invalid_payload(fresh_db, proxy, other):
    waiting = asyncio.create_task(call(other, "Reset", {"type": "Gentle"}))
    row = await proxy.claim()
    await fresh_db.execute(
        "SELECT ocpp.fail_command($1, 'failed', 'PropertyConstraintViolation', 'type: not in enum')",
        row["command_id"])
    with pytest.raises(asyncpg.InvalidParameterValueError, match="invalid payload: Reset was not sent"):
        await asyncio.wait_for(waiting, 10)


async def test_call_timeout_of_a_command_never_sent(fresh_db, live, other):
    await send(fresh_db, "CP-1", "ClearCache")
    await claim(fresh_db, "CP-1", live)  # another command holds the line
    with pytest.raises(asyncpg.PostgresError, match="timed out: CP-1 did not take Reset within 1 s") as caught:
        await call(other, "Reset", {"type": "Soft"}, timeout_s=1)
    assert caught.value.sqlstate == "P0001"
    assert await fresh_db.fetchval("SELECT status FROM ocpp.commands WHERE action = 'Reset'") == "cancelled"


async def test_call_timeout_of_a_command_in_flight(fresh_db, proxy, other):
    waiting = asyncio.create_task(call(other, "ClearCache", timeout_s=1))
    row = await proxy.claim()
    with pytest.raises(asyncpg.PostgresError, match="timed out: no answer from CP-1 to ClearCache within 1 s"):
        await asyncio.wait_for(waiting, 10)
    assert (await command(fresh_db, row["command_id"]))["status"] == "sent"  # the proxy's timer decides


async def test_call_when_the_proxy_times_out(fresh_db, proxy, other):
    waiting = asyncio.create_task(call(other, "ClearCache"))
    row = await proxy.claim()
    await fresh_db.execute("SELECT ocpp.fail_command($1, 'timeout', NULL, 'no answer within 30 s')",
                           row["command_id"])
    with pytest.raises(asyncpg.PostgresError, match=r"timed out: no answer from CP-1 to ClearCache .*within 30 s"):
        await asyncio.wait_for(waiting, 10)


async def test_call_in_a_transaction_block_is_refused(fresh_db, live):
    with pytest.raises(asyncpg.InvalidTransactionTerminationError):
        async with fresh_db.transaction():
            await call(fresh_db, "ClearCache")
    assert await fresh_db.fetchval("SELECT count(*) FROM ocpp.commands") == 0


async def test_an_unmatched_answer_is_journaled_without_an_authorization_key(db, cp):
    secret = "TopSecretKey0123456789"
    answer = {"configurationKey": [{"key": "AuthorizationKey", "readonly": False, "value": secret}]}
    assert await db.fetchval("SELECT ocpp.complete_command($1, 'nobody-asked', $2::jsonb)", cp,
                             json.dumps(answer)) is False
    journal = await db.fetchval("SELECT payload::text FROM ocpp.message_log WHERE unique_id = 'nobody-asked'")
    assert secret not in journal and "********" in journal


async def test_call_timeout_is_at_least_a_second(db):
    with pytest.raises(asyncpg.InvalidParameterValueError):
        await db.execute("SELECT ocpp.set_setting('call_timeout', '0')")


async def test_an_unparseable_frame_is_journaled_without_an_authorization_key(db, cp):
    garbled = ('[3, "x", {"configurationKey": [{"key": "AuthorizationKey", "readonly": false, '
               '"value": "Sekrit0123456789"}')
    await db.execute("SELECT ocpp.log_frame($1, 'in', NULL, 'x', NULL, NULL, $2)", cp, garbled)
    raw = await db.fetchval("SELECT raw FROM ocpp.message_log WHERE unique_id = 'x'")
    assert "Sekrit0123456789" not in raw and '"value": "********"' in raw
