"""MeterValues: every sampled value kept, energy and power normalised."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.rollback

T0 = "2024-05-01T12:00:00Z"
T1 = "2024-05-01T12:00:10+02:00"


async def meter_values(parse, cp, meter_value, *, connector=1, transaction_id=None):
    payload = {"connectorId": connector, "meterValue": meter_value}
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    reply = await parse(cp, "MeterValues", payload)
    assert reply.result == {}, reply
    return reply


async def rows(db):
    return await db.fetch("SELECT * FROM ocpp.meter_values ORDER BY id")


async def one(db, parse, cp, sampled_value: dict):
    await meter_values(parse, cp, [{"timestamp": T0, "sampledValue": [sampled_value]}])
    [row] = await rows(db)
    return row


async def test_every_sampled_value_is_a_row(db, parse, cp):
    await meter_values(parse, cp, connector=2, meter_value=[
        {"timestamp": T0, "sampledValue": [
            {"value": "100", "context": "Sample.Periodic", "location": "Outlet", "format": "Raw"},
            {"value": "230.1", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
            {"value": "16", "measurand": "Current.Import", "phase": "L1", "unit": "A"}]},
        {"timestamp": T1, "sampledValue": [{"value": "101"}]},
    ])
    got = [(r["connector_id"], r["evse_id"], r["sampled_at"], r["measurand"], r["phase"], r["unit"], r["value"],
            r["context"], r["location"], r["format"], r["source"], r["transaction_id"], r["transaction_known"])
           for r in await rows(db)]
    t0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    t1 = datetime(2024, 5, 1, 10, 0, 10, tzinfo=UTC)
    assert got == [
        (2, 2, t0, "Energy.Active.Import.Register", None, "Wh", "100", "Sample.Periodic", "Outlet", "Raw",
         "MeterValues", None, False),
        (2, 2, t0, "Voltage", "L1-N", "V", "230.1", None, None, None, "MeterValues", None, False),
        (2, 2, t0, "Current.Import", "L1", "A", "16", None, None, None, "MeterValues", None, False),
        (2, 2, t1, "Energy.Active.Import.Register", None, "Wh", "101", None, None, None, "MeterValues", None,
         False),
    ]


@pytest.mark.parametrize(("sampled", "normalized", "unit"), [
    ({"value": "12.5", "unit": "kWh"}, 12_500.0, "Wh"),
    ({"value": "12500", "unit": "Wh"}, 12_500.0, "Wh"),
    ({"value": "12500"}, 12_500.0, "Wh"),  # energy without a unit is in Wh
    ({"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"}, 7_400.0, "W"),
    ({"value": "7400", "measurand": "Power.Active.Import", "unit": "W"}, 7_400.0, "W"),
    ({"value": "1.5", "measurand": "Energy.Reactive.Import.Register", "unit": "kvarh"}, 1_500.0, "varh"),
    ({"value": "2", "measurand": "Energy.Reactive.Export.Register"}, 2.0, "varh"),
    ({"value": "0.3", "measurand": "Power.Reactive.Import", "unit": "kvar"}, 300.0, "var"),
    ({"value": "-2.5", "measurand": "Energy.Active.Export.Interval", "unit": "kWh"}, -2_500.0, "Wh"),
    ({"value": " 1e3 ", "unit": "Wh"}, 1_000.0, "Wh"),
    ({"value": ".5", "unit": "kWh"}, 500.0, "Wh"),
    ({"value": "11", "measurand": "Power.Offered", "unit": "kW"}, 11_000.0, "W"),
])
async def test_energy_and_power_are_normalised(db, parse, cp, sampled, normalized, unit):
    row = await one(db, parse, cp, sampled)
    assert (row["value"], row["normalized_value"], row["normalized_unit"]) == (sampled["value"], normalized, unit)
    assert row["unit"] == sampled.get("unit", row["unit"])


@pytest.mark.parametrize("sampled", [
    {"value": "230", "measurand": "Voltage", "unit": "V"},
    {"value": "16", "measurand": "Current.Import", "unit": "A"},
    {"value": "55", "measurand": "SoC", "unit": "Percent"},
    {"value": "0.98", "measurand": "Power.Factor"},
    {"value": "21", "measurand": "Temperature", "unit": "Celsius"},
])
async def test_other_measurands_are_not_normalised(db, parse, cp, sampled):
    row = await one(db, parse, cp, sampled)
    assert (row["measurand"], row["value"], row["unit"], row["normalized_value"], row["normalized_unit"]) == (
        sampled["measurand"], sampled["value"], sampled.get("unit"), None, None)


async def test_signed_data_is_kept_but_not_normalised(db, parse, cp):
    signed = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
    row = await one(db, parse, cp, {"value": signed, "format": "SignedData", "unit": "Wh"})
    assert (row["value"], row["format"], row["normalized_value"], row["normalized_unit"]) == (
        signed, "SignedData", None, "Wh")
    await meter_values(parse, cp, [{"timestamp": T0, "sampledValue": [
        {"value": "12", "format": "SignedData", "unit": "kWh"}]}])
    assert (await rows(db))[-1]["normalized_value"] is None


@pytest.mark.parametrize("value", ["", "n/a", "12,5", "1.2.3", "0x10", "NaN", "Infinity", "1e", "--1",
                                   "1e999", "-1e-999", "9" * 400, "0." + "0" * 400 + "1"],
                         ids=lambda value: value[:12])
async def test_values_that_are_not_plain_numbers_are_kept(db, parse, cp, value):
    row = await one(db, parse, cp, {"value": value, "unit": "kWh"})
    assert (row["value"], row["unit"], row["normalized_value"], row["normalized_unit"]) == (value, "kWh", None, "Wh")


async def test_values_for_a_known_transaction(db, parse, cp):
    await db.execute("SELECT ocpp.add_id_tag('TAG-1')")
    started = await parse(cp, "StartTransaction", {"connectorId": 1, "idTag": "TAG-1", "meterStart": 0,
                                                   "timestamp": T0})
    transaction_id = started.result["transactionId"]
    await meter_values(parse, cp, [{"timestamp": T0, "sampledValue": [{"value": "5"}]}],
                       transaction_id=transaction_id)
    [row] = await rows(db)
    assert (row["transaction_id"], row["transaction_known"]) == (transaction_id, True)


async def test_values_for_an_unknown_transaction_are_kept(db, parse, cp):
    await db.execute("SELECT ocpp.add_charge_point('CP-2'), ocpp.add_id_tag('TAG-1')")
    elsewhere = await parse("CP-2", "StartTransaction", {"connectorId": 1, "idTag": "TAG-1", "meterStart": 0,
                                                         "timestamp": T0})
    for transaction_id in (424242, -1, elsewhere.result["transactionId"]):
        await meter_values(parse, cp, [{"timestamp": T0, "sampledValue": [{"value": "5"}]}],
                           transaction_id=transaction_id)
    assert [(r["transaction_id"], r["transaction_known"]) for r in await rows(db)] == [
        (424242, False), (-1, False), (elsewhere.result["transactionId"], False)]


async def test_connector_zero_is_the_main_meter(db, parse, cp):
    await meter_values(parse, cp, [{"timestamp": T0, "sampledValue": [{"value": "99"}]}], connector=0)
    [row] = await rows(db)
    assert (row["connector_id"], row["evse_id"]) == (0, 0)
