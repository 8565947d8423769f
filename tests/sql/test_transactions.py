"""StartTransaction and StopTransaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.rollback

T0 = "2024-05-01T12:00:00Z"
T1 = "2024-05-01T12:30:00Z"
T2 = "2024-05-01T13:00:00Z"


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture
async def tag(db) -> str:
    await db.execute("SELECT ocpp.add_id_tag('TAG-1', parent_id_tag => 'GROUP')")
    return "TAG-1"


async def start(parse, cp, *, connector=1, tag="TAG-1", meter=1000, timestamp=T0, unique_id=None, **extra):
    reply = await parse(cp, "StartTransaction", {"connectorId": connector, "idTag": tag, "meterStart": meter,
                                                 "timestamp": timestamp, **extra}, unique_id=unique_id)
    assert reply.error_code is None, reply
    return reply.result


async def stop(parse, cp, transaction_id, *, meter=5000, timestamp=T1, unique_id=None, **extra):
    reply = await parse(cp, "StopTransaction", {"transactionId": transaction_id, "meterStop": meter,
                                                "timestamp": timestamp, **extra}, unique_id=unique_id)
    assert reply.error_code is None, reply
    return reply.result


async def transaction(db, transaction_id):
    return await db.fetchrow("SELECT * FROM ocpp.transactions WHERE id = $1", transaction_id)


async def anomalies(db, kind=None):
    rows = await db.fetch("SELECT * FROM ocpp.anomalies WHERE $1::text IS NULL OR kind = $1 ORDER BY id", kind)
    return [dict(r) for r in rows]


# -- StartTransaction ---------------------------------------------------------------

async def test_start_opens_a_transaction(db, parse, cp, tag):
    result = await start(parse, cp, connector=2, meter=1234, unique_id="s-1")
    assert result["idTagInfo"] == {"status": "Accepted", "parentIdTag": "GROUP"}
    assert isinstance(result["transactionId"], int) and 0 < result["transactionId"] < 2**31
    row = await transaction(db, result["transactionId"])
    assert (row["charge_point_id"], row["evse_id"], row["connector_id"], row["id_tag"], row["parent_id_tag"],
            row["authorization_status"], row["meter_start"], row["started_at"], row["stopped_at"]) == (
        cp, 2, 2, "TAG-1", "GROUP", "Accepted", 1234, at(T0), None)


async def test_each_start_gets_a_new_id(parse, cp, tag):
    first = await start(parse, cp, connector=1)
    second = await start(parse, cp, connector=2, tag="OTHER")
    assert first["transactionId"] != second["transactionId"]


async def test_start_with_an_unknown_tag_is_recorded_as_invalid(db, parse, cp):
    result = await start(parse, cp, tag="NOPE")
    assert result["idTagInfo"] == {"status": "Invalid"}
    assert (await transaction(db, result["transactionId"]))["authorization_status"] == "Invalid"


async def test_start_at_a_pending_charger_is_blocked_but_recorded(db, parse, tag):
    await db.execute("SELECT ocpp.add_charge_point('CP-P', 'Pending')")
    result = await start(parse, "CP-P")
    assert result["idTagInfo"] == {"status": "Blocked"}
    assert (await transaction(db, result["transactionId"]))["authorization_status"] == "Blocked"


async def test_start_with_a_tag_busy_elsewhere_is_concurrent(db, parse, cp, tag):
    await start(parse, cp, connector=1)
    result = await start(parse, cp, connector=2, timestamp=T1)
    assert result["idTagInfo"]["status"] == "ConcurrentTx"
    assert await db.fetchval("SELECT count(*) FROM ocpp.transactions WHERE stopped_at IS NULL") == 2


async def test_resend_with_the_same_unique_id_gets_the_same_transaction(db, parse, cp, tag):
    first = await start(parse, cp, unique_id="s-1")
    again = await start(parse, cp, unique_id="s-1")
    assert again == first
    assert await db.fetchval("SELECT count(*) FROM ocpp.transactions") == 1
    assert await anomalies(db) == []


async def test_resend_with_a_new_unique_id_gets_the_same_transaction(db, parse, cp, tag):
    first = await start(parse, cp, unique_id="s-1")
    again = await start(parse, cp, unique_id="s-2", tag="tag-1")
    assert again["transactionId"] == first["transactionId"]
    assert again["idTagInfo"]["status"] == "Accepted"
    assert await db.fetchval("SELECT count(*) FROM ocpp.transactions") == 1
    assert await anomalies(db) == []


async def test_a_unique_id_reused_after_a_reboot_is_a_new_transaction(db, parse, cp, tag):
    # Much firmware numbers its messages from 1 again after a reboot.
    first = await start(parse, cp, unique_id="1", timestamp=T0)
    await stop(parse, cp, first["transactionId"], unique_id="2", timestamp=T1)
    second = await start(parse, cp, unique_id="1", timestamp=T2)
    assert second["transactionId"] != first["transactionId"]
    assert second["idTagInfo"]["status"] == "Accepted"
    row = await transaction(db, second["transactionId"])
    assert (row["started_at"], row["stopped_at"]) == (at(T2), None)


async def test_a_start_supersedes_an_open_transaction_on_the_same_connector(db, parse, cp, tag):
    lost = await start(parse, cp, connector=1, timestamp=T0)
    other = await start(parse, cp, connector=2, tag="OTHER", timestamp=T0)
    new = await start(parse, cp, connector=1, tag="TAG-2", timestamp=T1, unique_id="s-new")
    superseded = await transaction(db, lost["transactionId"])
    assert superseded["stopped_at"] == at(T1)
    assert superseded["meter_stop"] is None
    assert (await transaction(db, other["transactionId"]))["stopped_at"] is None
    assert (await transaction(db, new["transactionId"]))["stopped_at"] is None
    [anomaly] = await anomalies(db)
    assert (anomaly["kind"], anomaly["transaction_id"], anomaly["unique_id"], anomaly["charge_point_id"]) == (
        "superseded_transaction", lost["transactionId"], "s-new", cp)
    assert anomaly["detail"] and json.loads(anomaly["detail"])["connector_id"] == 1


async def test_a_superseded_transaction_never_ends_before_it_started(db, parse, cp, tag):
    lost = await start(parse, cp, connector=1, timestamp=T1)
    await start(parse, cp, connector=1, tag="TAG-2", timestamp=T0)  # a charger clock set back
    assert (await transaction(db, lost["transactionId"]))["stopped_at"] == at(T1)


async def test_superseding_frees_the_tag(db, parse, cp, tag):
    await start(parse, cp, connector=1, timestamp=T0)
    result = await start(parse, cp, connector=1, timestamp=T1)
    assert result["idTagInfo"]["status"] == "Accepted"


async def test_a_late_stop_fills_in_a_superseded_transaction(db, parse, cp, tag):
    lost = await start(parse, cp, connector=1, timestamp=T0)
    await start(parse, cp, connector=1, tag="TAG-2", timestamp=T2)
    await stop(parse, cp, lost["transactionId"], meter=4000, timestamp=T1, reason="PowerLoss")
    row = await transaction(db, lost["transactionId"])
    assert (row["meter_stop"], row["energy_wh"], row["stopped_at"], row["stop_reason"]) == (
        4000, 3000, at(T1), "PowerLoss")
    assert [a["kind"] for a in await anomalies(db)] == ["superseded_transaction"]


async def _reservation(db, cp, connector=1, status="Accepted") -> int:
    return await db.fetchval(
        "INSERT INTO pgcsms.reservations (charge_point_id, connector_id, id_tag, expires_at, status) "
        "VALUES ($1, $2, 'TAG-1', now() + interval '1 hour', $3) RETURNING id", cp, connector, status)


async def test_start_consumes_its_reservation(db, parse, cp, tag):
    reservation = await _reservation(db, cp)
    result = await start(parse, cp, reservationId=reservation)
    row = await db.fetchrow("SELECT status, transaction_id FROM ocpp.reservations WHERE id = $1", reservation)
    assert (row["status"], row["transaction_id"]) == ("Used", result["transactionId"])
    assert (await transaction(db, result["transactionId"]))["reservation_id"] == reservation
    assert await anomalies(db) == []


async def test_start_with_an_unknown_reservation_is_flagged(db, parse, cp, tag):
    await db.execute("SELECT ocpp.add_charge_point('CP-2')")
    elsewhere = await _reservation(db, "CP-2")
    used = await _reservation(db, cp, status="Used")
    for connector, reservation in enumerate((987654, elsewhere, used), start=1):
        result = await start(parse, cp, connector=connector, reservationId=reservation)
        [anomaly] = await anomalies(db, "unknown_reservation")
        assert (anomaly["transaction_id"], json.loads(anomaly["detail"])) == (
            result["transactionId"], {"reservation_id": reservation})
        await db.execute("DELETE FROM pgcsms.anomalies")
    assert await db.fetchval("SELECT status FROM ocpp.reservations WHERE id = $1", elsewhere) == "Accepted"


# -- StopTransaction ------------------------------------------------------------------

async def test_stop_closes_the_transaction(db, parse, cp, tag):
    started = await start(parse, cp, meter=1000)
    result = await stop(parse, cp, started["transactionId"], meter=8500, timestamp=T1, reason="EVDisconnected",
                        idTag="tag-1", unique_id="p-1")
    assert result == {"idTagInfo": {"status": "Accepted", "parentIdTag": "GROUP"}}
    row = await transaction(db, started["transactionId"])
    assert (row["meter_stop"], row["energy_wh"], row["stopped_at"], row["stop_reason"], row["stop_id_tag"]) == (
        8500, 7500, at(T1), "EVDisconnected", "tag-1")
    assert row["duration"].total_seconds() == 1800
    assert row["stop_received_at"] is not None
    assert await anomalies(db) == []


async def test_stop_without_tag_or_reason(db, parse, cp, tag):
    started = await start(parse, cp)
    assert await stop(parse, cp, started["transactionId"]) == {}
    row = await transaction(db, started["transactionId"])
    assert (row["stop_reason"], row["stop_id_tag"]) == ("Local", None)


async def test_stop_answers_the_tag_status_without_concurrency(db, parse, cp, tag):
    started = await start(parse, cp)
    await db.execute("SELECT ocpp.add_id_tag('TAG-1', 'Blocked')")
    result = await stop(parse, cp, started["transactionId"], idTag="TAG-1")
    assert result["idTagInfo"]["status"] == "Blocked"


async def test_stop_stores_transaction_data(db, parse, cp, tag):
    started = await start(parse, cp, connector=3)
    await stop(parse, cp, started["transactionId"], transactionData=[
        {"timestamp": T0, "sampledValue": [{"value": "1.0", "unit": "kWh", "context": "Transaction.Begin"}]},
        {"timestamp": T1, "sampledValue": [{"value": "5.0", "unit": "kWh", "context": "Transaction.End"},
                                           {"value": "80", "measurand": "SoC", "unit": "Percent"}]},
    ])
    rows = await db.fetch("SELECT * FROM ocpp.meter_values ORDER BY id")
    assert [(r["transaction_id"], r["transaction_known"], r["connector_id"], r["source"], r["sampled_at"],
             r["measurand"], r["value"], r["normalized_value"]) for r in rows] == [
        (started["transactionId"], True, 3, "StopTransaction", at(T0), "Energy.Active.Import.Register", "1.0",
         1000.0),
        (started["transactionId"], True, 3, "StopTransaction", at(T1), "Energy.Active.Import.Register", "5.0",
         5000.0),
        (started["transactionId"], True, 3, "StopTransaction", at(T1), "SoC", "80", None),
    ]


@pytest.mark.parametrize("transaction_id", [-1, 0, 987654])
async def test_stop_of_an_unknown_transaction_is_accepted_and_flagged(db, parse, cp, tag, transaction_id):
    result = await stop(parse, cp, transaction_id, idTag="TAG-1", unique_id="p-1", transactionData=[
        {"timestamp": T1, "sampledValue": [{"value": "42"}]}])
    assert result == {"idTagInfo": {"status": "Accepted", "parentIdTag": "GROUP"}}
    [anomaly] = await anomalies(db)
    assert (anomaly["kind"], anomaly["transaction_id"], anomaly["unique_id"]) == (
        "unknown_transaction_stop", transaction_id, "p-1")
    assert json.loads(anomaly["detail"])["meterStop"] == 5000
    [value] = await db.fetch("SELECT * FROM ocpp.meter_values")
    assert (value["transaction_id"], value["transaction_known"], value["value"], value["connector_id"]) == (
        transaction_id, False, "42", 0)


async def test_stop_of_another_chargers_transaction_is_unknown(db, parse, cp, tag):
    await db.execute("SELECT ocpp.add_charge_point('CP-2')")
    started = await start(parse, "CP-2")
    await stop(parse, cp, started["transactionId"])
    assert (await transaction(db, started["transactionId"]))["stopped_at"] is None
    assert [a["kind"] for a in await anomalies(db)] == ["unknown_transaction_stop"]


async def test_the_same_stop_again_changes_nothing(db, parse, cp, tag):
    started = await start(parse, cp)
    data = [{"timestamp": T1, "sampledValue": [{"value": "5000"}]}]
    first = await stop(parse, cp, started["transactionId"], unique_id="p-1", idTag="TAG-1", transactionData=data)
    again = await stop(parse, cp, started["transactionId"], unique_id="p-1", idTag="TAG-1", transactionData=data)
    assert again == first
    assert await anomalies(db) == []
    assert await db.fetchval("SELECT count(*) FROM ocpp.meter_values") == 1


async def test_a_second_stop_is_a_duplicate(db, parse, cp, tag):
    started = await start(parse, cp)
    await stop(parse, cp, started["transactionId"], meter=5000, timestamp=T1, unique_id="p-1")
    await stop(parse, cp, started["transactionId"], meter=9999, timestamp=T2, unique_id="p-2", reason="Other",
               transactionData=[{"timestamp": T2, "sampledValue": [{"value": "9999"}]}])
    row = await transaction(db, started["transactionId"])
    assert (row["meter_stop"], row["stopped_at"], row["stop_reason"]) == (5000, at(T1), "Local")
    [anomaly] = await anomalies(db)
    assert (anomaly["kind"], anomaly["transaction_id"], anomaly["unique_id"]) == (
        "duplicate_stop", started["transactionId"], "p-2")
    assert await db.fetchval("SELECT count(*) FROM ocpp.meter_values") == 0


async def test_full_session_figures(db, parse, cp, tag):
    started = await start(parse, cp, meter=100, timestamp=T0)
    await stop(parse, cp, started["transactionId"], meter=12_100, timestamp=T2)
    row = await transaction(db, started["transactionId"])
    assert (row["energy_wh"], row["duration"].total_seconds()) == (12_000, 3600)
