"""A TransactionEvent that comes in order updates the transaction as deriving it from every event would.

Most events of a session are the next Updated with a reading: the handler adds
them to the transaction's row (their state, and the rises of their readings
after the last one) instead of deriving the row again from all the events and
readings of the session, which grew with every event. Whatever the story
(late, repeated, conflicting, offline events, tokens, falls and jumps of the
register, a second EVSE, the end), after each event the row must be what the
full derivation, ``ocpp._v201_derive_transaction``, makes of all of them.
"""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from pgcsms.proxy.ocppj import Validator

pytestmark = pytest.mark.timeout(120)

V201 = Validator("2.0.1")
CS = "CS-ORDER"
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
PARSE = ("SELECT result::text, error_code FROM ocpp.parse(%s, %s, 'TransactionEvent', %s::jsonb, '2.0.1', 'n')")
ROW = "SELECT to_jsonb(t) FROM pgcsms.transactions AS t WHERE t.charge_point_id = %s AND t.remote_id = %s"
DERIVE = ("SELECT ocpp._v201_derive_transaction(t, true) FROM pgcsms.transactions AS t "
          "WHERE t.charge_point_id = %s AND t.remote_id = %s")
_ids = itertools.count()


def _at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat(timespec="seconds").replace("+00:00", "Z")


CHOICES: dict[str, list[Any]] = {
    "kind": ["Updated"] * 8 + ["Started", "Ended"],
    "seq": ["next"] * 7 + ["gap", "same", "earlier", "resend"],
    "minutes": [1, 1, 2, 0, -3],
    "power_only": [False] * 4 + [True],
    "state": [None, None, "Charging", "SuspendedEV", "EVConnected"],
    "token": [None] * 6 + ["04A2B3C4", "STRANGER"],
    "evse": [1] * 6 + [None, 2],
    "offline": [False] * 3 + [True],
    "remote_start": [None] * 8 + [77],
    "trigger": ["MeterValuePeriodic"] * 4 + ["ChargingStateChanged", "StopAuthorized"],
}
RISES = [5, 12.5, 40, 0, -7, 90_000, None]  # None: a reading of the same value; 0: the register reset


def _story(chance: random.Random) -> list[dict[str, Any]]:
    """Up to 12 steps, each a random pick of every choice (uniform, unlike a shrinking generator's)."""
    return [{**{name: chance.choice(options) for name, options in CHOICES.items()},
             "readings": [(chance.choice([0, 1, 1, 2]), chance.choice(RISES)) for _ in range(chance.randint(0, 3))]}
            for _ in range(chance.randint(1, 12))]


def _events(steps: list[dict[str, Any]], tx: str) -> list[dict[str, Any]]:
    """The frames of a story: seqNo, times and register readings as the steps say."""
    frames: list[dict[str, Any]] = []
    seq, minutes, register = 0, 0.0, 1000.0
    for s in steps:
        if s["seq"] == "resend" and frames:
            frames.append(frames[-1])
            continue
        seq = {"next": seq + 1, "gap": seq + 2, "same": seq, "earlier": max(0, seq - 2)}.get(s["seq"], seq + 1)
        minutes += s["minutes"]
        frame: dict[str, Any] = {"eventType": s["kind"], "timestamp": _at(minutes), "seqNo": seq,
                                 "triggerReason": "Authorized" if s["kind"] == "Started" else s["trigger"],
                                 "transactionInfo": {"transactionId": tx}}
        if s["state"]:
            frame["transactionInfo"]["chargingState"] = s["state"]
        if s["remote_start"] is not None:
            frame["transactionInfo"]["remoteStartId"] = s["remote_start"]
        if s["kind"] == "Ended":
            frame["transactionInfo"]["stoppedReason"] = "EVDisconnected"
        if s["token"]:
            frame["idToken"] = {"idToken": s["token"], "type": "ISO14443"}
        if s["evse"] is not None:
            frame["evse"] = {"id": s["evse"], "connectorId": 1}
        if s["offline"]:
            frame["offline"] = True
        values = []
        for half_minutes, rise in s["readings"]:
            if rise is not None:
                register = max(0.0, register + rise) if rise != 0 else 0.0
            measurand = "Power.Active.Import" if s["power_only"] else "Energy.Active.Import.Register"
            values.append({"timestamp": _at(minutes + half_minutes / 2),
                           "sampledValue": [{"value": register, "measurand": measurand}]})
        if values:
            frame["meterValue"] = values
        V201.check_request("TransactionEvent", frame)
        frames.append(frame)
    return frames


def _send(connection: psycopg.Connection, frame: dict[str, Any]) -> None:
    result, error_code = connection.execute(PARSE, (CS, f"u-{next(_ids)}", json.dumps(frame))).fetchone()
    assert error_code is None and result is not None


def _row_and_derived(connection: psycopg.Connection, tx: str) -> tuple[Any, Any]:
    row = connection.execute(ROW, (CS, tx)).fetchone()[0]
    with connection.transaction(force_rollback=True):
        connection.execute(DERIVE, (CS, tx))
        derived = connection.execute(ROW, (CS, tx)).fetchone()[0]
    return row, derived


@pytest.fixture
def connection(dsn: str) -> psycopg.Connection:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET timezone = 'UTC'")
        connection.execute("SELECT ocpp.add_charge_point(%s)", (CS,))
        assert connection.execute("SELECT accepted FROM ocpp.connect(%s, 'n', NULL, '2.0.1')", (CS,)).fetchone()[0]
        connection.execute("SELECT ocpp.add_id_tag('04A2B3C4')")
        yield connection


@pytest.mark.parametrize("seed", range(4))
def test_every_event_leaves_the_row_the_full_derivation_makes(connection: psycopg.Connection, seed: int) -> None:
    chance = random.Random(seed)
    for _ in range(50):
        tx = f"TX-{next(_ids)}"
        frames = _events(_story(chance), tx)
        for n, frame in enumerate(frames):
            _send(connection, frame)
            row, derived = _row_and_derived(connection, tx)
            assert row == derived, (frames[: n + 1], {k: (row[k], derived[k]) for k in row if row[k] != derived[k]})


def test_an_in_order_session_is_not_derived_again_event_by_event(dsn: str) -> None:
    """The test above holds for either path: here the in-order one is seen to be taken."""
    with psycopg.connect(dsn) as connection:  # one transaction: its function statistics
        connection.execute("SET track_functions = 'all'")
        connection.execute("SELECT ocpp.add_charge_point(%s)", (CS,))
        connection.execute("SELECT ocpp.connect(%s, 'n', NULL, '2.0.1')", (CS,))
        steps = [{"kind": "Started", "seq": "next", "minutes": 0, "readings": [(0, 5)], "power_only": False,
                  "state": "EVConnected", "token": None, "evse": 1, "offline": False, "remote_start": None,
                  "trigger": "Authorized"}]
        steps += [{**steps[0], "kind": "Updated", "minutes": 1, "state": "Charging" if n % 2 else None,
                   "evse": None if n % 3 else 1, "readings": [(0, 250), (1, 250)], "trigger": "MeterValuePeriodic"}
                  for n in range(40)]
        for frame in _events(steps, "TX-LONG"):
            _send(connection, frame)
        derivations = connection.execute(
            "SELECT calls FROM pg_stat_xact_user_functions WHERE funcname = '_v201_derive_transaction'").fetchone()
        row, derived = _row_and_derived(connection, "TX-LONG")
    assert derivations == (1,)  # the Started event's
    assert row == derived
    assert row["energy_wh"] == 40 * 2 * 250 + 0 and row["last_seq_no"] == 41 and row["charging_state"] == "Charging"


PLAN_READINGS = (
    "INSERT INTO pgcsms.meter_values (charge_point_id, transaction_id, transaction_known, sampled_at, source, "
    "measurand, location, value, normalized_value, normalized_unit) "
    "SELECT 'CS-PLAN', $1, true, $2::timestamptz + make_interval(secs => n), 'TransactionEvent', "
    "'Energy.Active.Import.Register', 'Outlet', n::text, n, 'Wh' FROM generate_series(1, $3) AS n")
PLAN_RISES = ("SELECT count(*) FROM ocpp._energy_registers_from(ARRAY[$1::bigint], ARRAY[$2::timestamptz], "
              "ARRAY[0::bigint])")
ROWS_READ = ("SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
             "WHERE relid = 'pgcsms.meter_values'::regclass")


async def test_the_rises_read_only_the_sessions_readings_whatever_the_plans_age(fresh_db):
    # Planned once per connection (as the group commit runs it) while there
    # are no readings at all, the statement must still find a session's
    # readings by its key once other sessions have thousands.
    await fresh_db.execute("SET plan_cache_mode = force_generic_plan")
    async with fresh_db.transaction():
        assert await fresh_db.fetchval(PLAN_RISES, 1, START) == 0
        await fresh_db.execute(PLAN_READINGS, 1, START, 5000)
        await fresh_db.execute(PLAN_READINGS, 2, START, 3)
        before = await fresh_db.fetchval(ROWS_READ)
        assert await fresh_db.fetchval(PLAN_RISES, 2, START) == 3
        assert await fresh_db.fetchval(ROWS_READ) - before < 50
