"""Fuzz ``ocpp.parse`` with schema-valid OCPP 1.6 payloads.

Every payload the proxy would let through (valid against the official schema),
with arbitrary text and SQL-looking strings in every string field, through one
database connection: each reply is a CALLRESULT that passes the official
response schema or a CALLERROR with a known code, never InternalError, and the
journal gains exactly the CALL and its answer. ``PARSE_EXAMPLES`` calls
(1,500 by default; see ocpp_strategies.py).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from hypothesis import given
from hypothesis import strategies as st
from ocpp_strategies import PARSE_EXAMPLES, SQL_STRINGS, STORABLE, calls, fuzz_settings
from pgcsms.proxy import ocppj

KNOWN_CODES_1_6 = {
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError", "FormationViolation",
    "PropertyConstraintViolation", "OccurenceConstraintViolation", "TypeConstraintViolation", "GenericError",
}
VALIDATOR = ocppj.Validator("1.6")

EVIL = "x'); DROP TABLE pgcsms.charge_points; --"
CHARGE_POINTS = {"CP-A": "Accepted", "CP-P": "Pending", "CP-R": "Rejected", EVIL: "Accepted"}

PARSE = ("SELECT result::text, error_code, error_description "
         "FROM ocpp.parse(%s, %s, %s, %s::jsonb, '1.6', 'fuzz-node')")
JOURNAL = ("SELECT charge_point_id, direction, message_type, unique_id, action, payload::text, error_code, "
           "error_description, error_detail, node_id FROM ocpp.message_log WHERE id > %s ORDER BY id")

unique_ids = st.one_of(st.text(STORABLE, min_size=1, max_size=36), st.sampled_from([s[:36] for s in SQL_STRINGS]))


def setup(connection: psycopg.Connection) -> None:
    for charge_point_id, status in CHARGE_POINTS.items():
        connection.execute("SELECT ocpp.add_charge_point(%s, %s)", (charge_point_id, status))
    for tag, status in [("TAG-1", "Accepted"), ("'); DROP TABLE x; --", "Accepted"), ("TAG-B", "Blocked")]:
        connection.execute("SELECT ocpp.add_id_tag(%s, %s)", (tag, status))
    connection.execute("SELECT ocpp.add_data_transfer_vendor('com.example')")


def check(connection: psycopg.Connection, charge_point_id: str, unique_id: str, action: str,
          payload: dict[str, Any]) -> None:
    VALIDATOR.check_request(action, payload)  # the generator only makes what the proxy lets through
    last = connection.execute("SELECT coalesce(max(id), 0) FROM ocpp.message_log").fetchone()[0]
    result, error_code, error_description = connection.execute(
        PARSE, (charge_point_id, unique_id, action, json.dumps(payload, ensure_ascii=False))).fetchone()
    journal = connection.execute(JOURNAL, (last,)).fetchall()
    detail = journal[-1][8] if journal else None
    assert error_code != "InternalError", f"{action} {payload!r} from {charge_point_id!r}: {detail}"
    assert (result is None) != (error_code is None)
    if result is not None:
        VALIDATOR.check_response(action, json.loads(result))
    else:
        assert error_code in KNOWN_CODES_1_6 and error_description
    if CHARGE_POINTS[charge_point_id] == "Rejected" and action != "BootNotification":
        assert error_code == "SecurityError"

    assert len(journal) == 2, journal
    call, answer = journal
    assert call[:5] == (charge_point_id, "in", 2, unique_id, action)
    assert json.loads(call[5]) == payload
    assert answer[:5] == (charge_point_id, "out", 3 if error_code is None else 4, unique_id, action)
    assert (answer[5], answer[6], answer[7]) == (result, error_code, error_description)
    assert call[9] == answer[9] == "fuzz-node"


def test_parse_answers_every_schema_valid_call(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET timezone = 'UTC'")
        setup(connection)
        tables = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname IN ('pgcsms', 'ocpp')").fetchone()[0]
        calls_made = 0

        @fuzz_settings(PARSE_EXAMPLES)
        @given(st.sampled_from(sorted(CHARGE_POINTS)), unique_ids, calls())
        def parse(charge_point_id: str, unique_id: str, call: tuple[str, dict[str, Any]]) -> None:
            nonlocal calls_made
            calls_made += 1
            check(connection, charge_point_id, unique_id, *call)

        parse()
        assert calls_made >= PARSE_EXAMPLES
        # Nothing a charger sent was taken for SQL.
        assert connection.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname IN ('pgcsms', 'ocpp')").fetchone()[0] == tables
        assert connection.execute("SELECT count(*) FROM ocpp.charge_points WHERE id = ANY(%s)",
                                  (list(CHARGE_POINTS),)).fetchone()[0] == len(CHARGE_POINTS)


def test_sql_looking_strings_are_stored_verbatim(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        setup(connection)
        for number, text in enumerate(SQL_STRINGS):
            payload = {"vendorId": text[:255], "messageId": text[:50], "data": text}
            check(connection, EVIL, f"sql-{number}", "DataTransfer", payload)
            stored = connection.execute(
                "SELECT vendor_id, message_id, data FROM ocpp.data_transfers WHERE charge_point_id = %s "
                "ORDER BY id DESC LIMIT 1", (EVIL,)).fetchone()
            assert stored == (text[:255], text[:50], text)


def test_values_no_column_holds_are_refused_not_internal_errors(dsn: str) -> None:
    """What this fuzz found first: schema-valid values past what PostgreSQL stores."""
    now = "2024-05-01T12:00:00Z"
    cases = [
        ("StartTransaction", {"connectorId": 2**31, "idTag": "TAG-1", "meterStart": 0, "timestamp": now}),
        ("StartTransaction", {"connectorId": 1, "idTag": "TAG-1", "meterStart": 10**30, "timestamp": now}),
        ("MeterValues", {"connectorId": 2**63, "meterValue": [{"timestamp": now, "sampledValue": [{"value": "1"}]}]}),
        ("StatusNotification", {"connectorId": -1, "errorCode": "NoError", "status": "Available"}),
        ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available",
                                "timestamp": "2024-05-01T12:00:00+20:00"}),
        ("LogStatusNotification", {"status": "Idle", "requestId": -(2**31) - 1}),
    ]
    with psycopg.connect(dsn, autocommit=True) as connection:
        setup(connection)
        for number, (action, payload) in enumerate(cases):
            check(connection, "CP-A", f"range-{number}", action, payload)
            code, detail = connection.execute(
                "SELECT error_code, error_detail FROM ocpp.message_log WHERE unique_id = %s AND direction = 'out'",
                (f"range-{number}",)).fetchone()
            assert code == "PropertyConstraintViolation", (action, payload, detail)
            assert detail  # the internal cause, for the operator only


def test_a_stop_for_a_transaction_id_past_bigint_is_an_unknown_transaction(dsn: str) -> None:
    """A charger must never be made to retry a StopTransaction forever (issue 2)."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        setup(connection)
        check(connection, "CP-A", "huge-stop", "StopTransaction",
              {"transactionId": 2**63, "meterStop": 0, "timestamp": "2024-05-01T12:00:00Z"})
        code = connection.execute("SELECT error_code FROM ocpp.message_log WHERE unique_id = 'huge-stop' "
                                  "AND direction = 'out'").fetchone()[0]
        assert code is None
        kind, transaction_id = connection.execute(
            "SELECT kind, transaction_id FROM ocpp.anomalies WHERE unique_id = 'huge-stop'").fetchone()
        assert (kind, transaction_id) == ("unknown_transaction_stop", None)
