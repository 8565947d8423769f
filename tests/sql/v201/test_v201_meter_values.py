"""OCPP 2.0.1 MeterValues (J01) and the sampled values of every version, stored by one function.

Every CALL goes through ``ocpp.parse(..., '2.0.1')`` with a payload checked
against the official 2.0.1 request schema, every answer against the response
schema.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pgcsms.proxy.ocppj import Validator

pytestmark = pytest.mark.rollback

V201 = Validator("2.0.1")
CS = "CS-1"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
_ids = iter(range(10**9))


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def station(db: asyncpg.Connection) -> str:
    await db.execute("SELECT ocpp.add_charge_point($1)", CS)
    await db.execute("SELECT ocpp.connect($1, 'node-a', NULL, '2.0.1')", CS)
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4')")
    return CS


@pytest.fixture
def call(db: asyncpg.Connection, station: str):
    async def call(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        V201.check_request(action, payload)
        row = await db.fetchrow(
            "SELECT result::text, error_code FROM ocpp.parse($1, $2, $3, $4::jsonb, '2.0.1')",
            CS, f"u-{next(_ids)}", action, json.dumps(payload))
        assert row["error_code"] is None, dict(row)
        result = json.loads(row["result"])
        V201.check_response(action, result)
        return result

    return call


async def meter_values(call, evse: int, *samples: tuple[float, list[dict[str, Any]]]) -> None:
    """One MeterValuesRequest: J01.FR.18, answered {}."""
    payload = {"evseId": evse, "meterValue": [{"timestamp": at(minutes), "sampledValue": values}
                                              for minutes, values in samples]}
    assert await call("MeterValues", payload) == {}


async def rows(db: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetch("SELECT * FROM ocpp.meter_values ORDER BY id")]


async def test_the_main_meter(db, call):
    """evseId 0 is the grid meter: in no transaction; the schema's defaults are stored."""
    await meter_values(call, 0, (0, [{"value": 123456.5}]))
    [row] = await rows(db)
    assert {key: row[key] for key in (
        "evse_id", "connector_id", "transaction_id", "transaction_known", "sampled_at", "source", "measurand",
        "unit", "multiplier", "context", "location", "phase", "value", "normalized_value", "normalized_unit",
        "format", "signed_meter_value")} == {
        "evse_id": 0, "connector_id": 0, "transaction_id": None, "transaction_known": False, "sampled_at": T0,
        "source": "MeterValues", "measurand": "Energy.Active.Import.Register", "unit": "Wh", "multiplier": 0,
        "context": "Sample.Periodic", "location": "Outlet", "phase": None, "value": "123456.5",
        "normalized_value": 123456.5, "normalized_unit": "Wh", "format": None, "signed_meter_value": None}


async def test_what_the_station_says_is_kept(db, call):
    signed = {"signedMeterData": "AQID", "signingMethod": "ECDSA-secp256r1-SHA256", "encodingMethod": "OCMF",
              "publicKey": "BAUG"}
    await meter_values(call, 1, (0, [
        {"value": 230.1, "measurand": "Voltage", "phase": "L1-N", "unitOfMeasure": {"unit": "V"},
         "context": "Sample.Clock", "location": "Inlet"},
        {"value": 42, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}, "location": "EV", "context": "Trigger"},
        {"value": 7.5, "signedMeterValue": signed, "context": "Sample.Clock"}]))
    got = [(r["measurand"], r["phase"], r["unit"], r["context"], r["location"], r["value"], r["normalized_value"],
            r["signed_meter_value"] and json.loads(r["signed_meter_value"])) for r in await rows(db)]
    assert got == [("Voltage", "L1-N", "V", "Sample.Clock", "Inlet", "230.1", None, None),
                   ("SoC", None, "Percent", "Trigger", "EV", "42", None, None),
                   ("Energy.Active.Import.Register", None, "Wh", "Sample.Clock", "Outlet", "7.5", 7.5, signed)]


@pytest.mark.parametrize(("sampled", "normalized", "unit", "multiplier"), [
    ({"value": 12.5, "unitOfMeasure": {"unit": "kWh"}}, 12_500.0, "Wh", 0),
    ({"value": 125, "unitOfMeasure": {"multiplier": 2}}, 12_500.0, "Wh", 2),
    ({"value": 12.5, "unitOfMeasure": {"unit": "Wh", "multiplier": 3}}, 12_500.0, "Wh", 3),
    ({"value": 1250000, "unitOfMeasure": {"unit": "Wh", "multiplier": -2}}, 12_500.0, "Wh", -2),
    ({"value": 7.4, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "kW"}}, 7_400.0, "W", 0),
    ({"value": 74, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W", "multiplier": 2}}, 7_400.0,
     "W", 2),
    ({"value": 1.5, "measurand": "Energy.Reactive.Import.Register", "unitOfMeasure": {"unit": "kvarh"}}, 1_500.0,
     "varh", 0),
    ({"value": 2, "measurand": "Energy.Apparent.Import", "unitOfMeasure": {"unit": "kVAh"}}, 2_000.0, "VAh", 0),
    ({"value": 3, "measurand": "Energy.Apparent.Net"}, 3.0, "VAh", 0),
    ({"value": -2.5, "measurand": "Energy.Active.Export.Interval", "unitOfMeasure": {"unit": "kWh"}}, -2_500.0,
     "Wh", 0),
])
async def test_energy_and_power_are_normalised_with_the_multiplier(db, call, sampled, normalized, unit, multiplier):
    await meter_values(call, 1, (0, [sampled]))
    [row] = await rows(db)
    assert (row["normalized_value"], row["normalized_unit"], row["multiplier"]) == (normalized, unit, multiplier)


@pytest.mark.parametrize("sampled", [
    {"value": 16, "measurand": "Current.Import", "unitOfMeasure": {"unit": "A", "multiplier": 1}},
    {"value": 50, "measurand": "Frequency"},
    {"value": 1, "unitOfMeasure": {"unit": "Wh", "multiplier": 99}},  # no power of ten that big: kept, not scaled
])
async def test_what_is_not_normalised(db, call, sampled):
    await meter_values(call, 1, (0, [sampled]))
    [row] = await rows(db)
    assert row["normalized_value"] is None
    assert row["multiplier"] == sampled.get("unitOfMeasure", {}).get("multiplier", 0)


async def _session(call, tx: str = "TX-1", evse: int = 1, start: float = 0, end: float | None = None) -> None:
    def te(kind: str, seq: int, minutes: float, **extra: Any) -> dict[str, Any]:
        return {"eventType": kind, "timestamp": at(minutes), "triggerReason": "Authorized", "seqNo": seq,
                "transactionInfo": {"transactionId": tx}, **extra}
    await call("TransactionEvent", te("Started", 0, start, evse={"id": evse, "connectorId": 1},
                                      idToken={"idToken": "04A2B3C4", "type": "ISO14443"},
                                      meterValue=[{"timestamp": at(start), "sampledValue": [
                                          {"value": 1000, "context": "Transaction.Begin"}]}]))
    if end is not None:
        await call("TransactionEvent", te("Ended", 1, end))


async def test_values_of_an_evse_belong_to_the_transaction_under_way_then(db, call):
    """J02: clock-aligned values during a transaction count in its energy; one taken before it, not."""
    await _session(call, start=10)
    await meter_values(call, 1, (5, [{"value": 900}]), (40, [{"value": 4000, "context": "Sample.Clock"}]))
    await meter_values(call, 2, (40, [{"value": 77}]))  # another EVSE, no transaction
    tx = await db.fetchrow("SELECT id, energy_wh FROM ocpp.transactions WHERE transaction_id = 'TX-1'")
    got = [(r["evse_id"], r["connector_id"], r["transaction_id"], r["transaction_known"], r["value"])
           for r in await rows(db) if r["source"] == "MeterValues"]
    assert got == [(1, None, None, False, "900"), (1, 1, tx["id"], True, "4000"), (2, None, None, False, "77")]
    assert tx["energy_wh"] == 3_000


async def test_late_values_go_to_the_transaction_of_their_time(db, call):
    """Queued offline: a sample of the first session, sent during the second, is the first's."""
    await _session(call, "TX-A", start=0, end=30)
    await _session(call, "TX-B", start=60)
    await meter_values(call, 1, (20, [{"value": 1500}]), (70, [{"value": 1200}]))
    ids = dict(await db.fetch("SELECT transaction_id, id FROM ocpp.transactions"))
    got = [r["transaction_id"] for r in await rows(db) if r["source"] == "MeterValues"]
    assert got == [ids["TX-A"], ids["TX-B"]]
    energies = dict(await db.fetch("SELECT transaction_id, energy_wh FROM ocpp.transactions"))
    assert energies == {"TX-A": 500, "TX-B": 200}


async def test_1_6_values_keep_what_was_sent(db):
    """The same function stores 1.6 values: strings, unit, format; no 2.0.1 defaults added."""
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    payload = {"connectorId": 2, "meterValue": [{"timestamp": at(0), "sampledValue": [
        {"value": "1.5", "unit": "kWh"}, {"value": "230", "measurand": "Voltage", "unit": "V"}]}]}
    reply = await db.fetchrow("SELECT result::text FROM ocpp.parse('CP-16', 'm-1', 'MeterValues', $1::jsonb)",
                              json.dumps(payload))
    assert json.loads(reply["result"]) == {}
    got = [(r["evse_id"], r["connector_id"], r["value"], r["unit"], r["context"], r["location"], r["multiplier"],
            r["normalized_value"]) for r in await rows(db)]
    assert got == [(2, 2, "1.5", "kWh", None, None, None, 1500.0), (2, 2, "230", "V", None, None, None, None)]
