"""Tariffs and cost in SQL (OCPP 2.1 block I): tariffs kept as TariffType, sessions priced from their events.

Every session is told by real TransactionEvent messages through ``ocpp.parse``
(each checked against the 2.0.1 request schema); the cost is read with
``ocpp.transaction_cost`` (running) and stored by ``ocpp._transaction_event_cost``
(what the TransactionEvent handlers call), in numeric, never float. The
commands to 2.1 stations are checked against the 2.1 schemas.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import jsonschema_rs
import ocpp
import pytest
from pgcsms.proxy.ocppj import Validator

pytestmark = pytest.mark.rollback

V201 = Validator("2.0.1")
V21_SCHEMAS = Path(ocpp.__file__).parent / "v21" / "schemas"
NODE = "node-a"
CS = "CS-1"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # a Wednesday
CARD = {"idToken": "04A2B3C4", "type": "ISO14443"}
SINCE = "2024-01-01T00:00:00Z"  # tariffs valid before every session here
_ids = iter(range(10**9))


def v21(name: str, definition: str | None = None) -> Any:
    """A draft-06 validator for a 2.1 schema file, or for one of its definitions."""
    schema = json.loads((V21_SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    if definition:
        schema = {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    return jsonschema_rs.Draft6Validator(schema)


def check_v21(name: str, payload: dict[str, Any], definition: str | None = None) -> None:
    errors = [error.message for error in v21(name, definition).iter_errors(payload)]
    assert errors == [], (name, payload)


def at(minutes: float, start: datetime = T0) -> str:
    return (start + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def tariff(tariff_id: str = "T-1", **parts: Any) -> dict[str, Any]:
    return {"tariffId": tariff_id, "currency": "EUR", "validFrom": SINCE, **parts}


def kwh(price: str, **conditions: Any) -> dict[str, Any]:
    element: dict[str, Any] = {"priceKwh": Decimal(price)}
    if conditions:
        element["conditions"] = conditions
    return element


def per_minute(price: str, **conditions: Any) -> dict[str, Any]:
    element: dict[str, Any] = {"priceMinute": Decimal(price)}
    if conditions:
        element["conditions"] = conditions
    return element


def dumps(value: Any) -> str:
    """JSON with Decimals as numbers (0.30 is written 0.3: the same number)."""
    return json.dumps(value, default=float)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text, parse_float=Decimal)


class Session:
    """One session of CS-1 told in TransactionEvents: readings in Wh, states, power, at minutes from its start."""

    def __init__(self, db: asyncpg.Connection, tx: str = "TX-1", start: datetime = T0, evse: int = 1) -> None:
        self.db, self.tx, self.start, self.evse, self.seq = db, tx, start, evse, 0

    async def event(self, kind: str, minutes: float, *, wh: float | None = None, state: str | None = None,
                    power_w: float | None = None, current_a: float | None = None, **extra: Any) -> dict[str, Any]:
        sampled: list[dict[str, Any]] = []
        if wh is not None:
            sampled.append({"value": wh})
        if power_w is not None:
            sampled.append({"value": power_w, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}})
        if current_a is not None:
            sampled.extend({"value": current_a, "measurand": "Current.Import", "phase": phase,
                            "unitOfMeasure": {"unit": "A"}} for phase in ("L1", "L2", "L3"))
        info: dict[str, Any] = {"transactionId": self.tx}
        if state:
            info["chargingState"] = state
        payload: dict[str, Any] = {
            "eventType": kind, "timestamp": at(minutes, self.start), "seqNo": self.seq, "transactionInfo": info,
            "triggerReason": {"Started": "Authorized", "Ended": "EVDeparted"}.get(kind, "MeterValuePeriodic"),
            **extra}
        if kind == "Started":
            payload |= {"evse": {"id": self.evse, "connectorId": 1}, "idToken": CARD}
        if sampled:
            payload["meterValue"] = [{"timestamp": at(minutes, self.start), "sampledValue": sampled}]
        self.seq += 1
        V201.check_request("TransactionEvent", payload)
        row = await self.db.fetchrow(
            "SELECT result::text, error_code, error_description FROM ocpp.parse($1, $2, 'TransactionEvent', $3::jsonb, "
            "'2.0.1')", CS, f"u-{next(_ids)}", dumps(payload))
        assert row["error_code"] is None, dict(row)
        result = json.loads(row["result"])
        V201.check_response("TransactionEvent", result)
        return result

    async def id(self) -> int:
        return await self.db.fetchval(
            "SELECT id FROM ocpp.transactions WHERE charge_point_id = $1 AND transaction_id = $2", CS, self.tx)

    async def cost(self) -> dict[str, Any] | None:
        """The cost now: running while open, final once ended."""
        return loads(await self.db.fetchval("SELECT ocpp.transaction_cost($1)::text", await self.id()))

    async def total(self) -> Decimal | None:
        cost = await self.cost()
        return None if cost is None else cost["totalCost"]

    async def answer(self, kind: str, version: str = "2.0.1") -> dict[str, Any]:
        """What the TransactionEvent handler adds to its answer (and stores when the session ended)."""
        return loads(await self.db.fetchval("SELECT ocpp._transaction_event_cost($1, $2, $3)::text",
                                            await self.id(), kind, version))

    async def charge(self, *readings: tuple[float, float], state: str | None = "Charging") -> None:
        """Started at the first (minutes, Wh), Updated at each next, Ended at the last."""
        for n, (minutes, wh) in enumerate(readings):
            kind = "Started" if n == 0 else "Ended" if n == len(readings) - 1 else "Updated"
            await self.event(kind, minutes, wh=wh, state=state if n == 0 else None)


@pytest.fixture
async def station(db: asyncpg.Connection) -> str:
    """CS-1, Accepted, connected over OCPP 2.0.1, and a card."""
    await db.execute("SELECT ocpp.add_charge_point($1)", CS)
    assert (await db.fetchrow("SELECT accepted FROM ocpp.connect($1, $2, NULL, '2.0.1')", CS, NODE))["accepted"]
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4', id_token_type => 'ISO14443')")
    return CS


async def set_tariff(db: asyncpg.Connection, value: dict[str, Any], evse: int = 0, station: str = CS) -> int:
    return await db.fetchval("SELECT ocpp.set_default_tariff($1, $2, $3::jsonb)", station, evse, dumps(value))


async def report(db: asyncpg.Connection, *variables: tuple[str, str, str, int | None]) -> None:
    """The station's device model: (component, variable and instance 'Name[/Instance]', value, evse) by NotifyReport."""
    data = []
    for component, variable, value, evse in variables:
        name, _, instance = variable.partition("/")
        entry: dict[str, Any] = {"component": {"name": component}, "variable": {"name": name},
                                 "variableAttribute": [{"type": "Actual", "value": value}],
                                 "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False}}
        if instance:
            entry["variable"]["instance"] = instance
        if evse is not None:
            entry["component"]["evse"] = {"id": evse}
        data.append(entry)
    n = next(_ids)
    payload = {"requestId": n, "generatedAt": at(-60), "seqNo": 0, "tbc": False, "reportData": data}
    V201.check_request("NotifyReport", payload)
    row = await db.fetchrow("SELECT error_code FROM ocpp.parse($1, $2, 'NotifyReport', $3::jsonb, '2.0.1')",
                            CS, f"u-{n}", dumps(payload))
    assert row["error_code"] is None


# -- energy --------------------------------------------------------------------------------------------------


async def test_030_per_kwh_costs_060_at_2_kwh_and_120_at_4_kwh(db, station):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}))
    session = Session(db)
    await session.event("Started", 0, wh=0, state="Charging")
    assert await session.total() == Decimal("0.00")
    await session.event("Updated", 30, wh=2000)
    running = await session.cost()
    assert running["totalCost"] == Decimal("0.60") and str(running["totalCost"]) == "0.60"
    assert (running["currency"], running["tariffId"], running["final"]) == ("EUR", "T-1", False)
    # A 2.1 station hears the running cost in the answer to Updated.
    assert await session.answer("Updated", "2.1") == {"totalCost": Decimal("0.60")}
    check_v21("TransactionEventResponse", json.loads(dumps(await session.answer("Updated", "2.1"))))
    assert await db.fetchval("SELECT total_cost FROM ocpp.transactions") is None

    await session.event("Ended", 60, wh=4000)
    assert await session.answer("Ended") == {"totalCost": Decimal("1.20")}
    row = await db.fetchrow("SELECT total_cost, currency, cost_details FROM ocpp.transactions")
    assert row["total_cost"] == Decimal("1.20") and str(row["total_cost"]) == "1.20"
    assert row["currency"] == "EUR"
    details = loads(row["cost_details"])
    assert details["totalCost"]["energy"] == {"exclTax": Decimal("1.20"), "inclTax": Decimal("1.20")}
    assert details["totalUsage"] == {"energy": 4000, "chargingTime": 3600, "idleTime": 0}
    check_v21("TransactionEventRequest", json.loads(row["cost_details"]), "CostDetailsType")
    final = await session.cost()
    assert (final["totalCost"], final["final"], final["asOf"]) == (Decimal("1.20"), True, "2024-05-01T13:00:00.000Z")


async def test_energy_is_the_register_rises_in_kwh_readings_too(db, station):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}))
    session = Session(db)
    await session.event("Started", 0, state="Charging",
                        meterValue=[{"timestamp": at(0), "sampledValue": [
                            {"value": 10.5, "unitOfMeasure": {"unit": "kWh"}}]}])
    await session.event("Ended", 60, meterValue=[{"timestamp": at(60), "sampledValue": [
        {"value": 12.5, "unitOfMeasure": {"unit": "kWh"}}]}])
    assert await session.total() == Decimal("0.60")


async def test_no_tariff_no_cost(db, station):
    session = Session(db)
    await session.charge((0, 0), (60, 4000))
    assert await session.cost() is None
    assert await session.answer("Ended") == {}
    assert await db.fetchval("SELECT total_cost FROM ocpp.transactions") is None


# -- time ------------------------------------------------------------------------------------------------------


async def test_charging_and_idle_time_follow_the_charging_state(db, station):
    await set_tariff(db, tariff(chargingTime={"prices": [per_minute("0.10")]},
                                idleTime={"prices": [per_minute("0.05")]}))
    session = Session(db)
    await session.event("Started", 0, wh=0, state="Charging")
    await session.event("Updated", 40, wh=8000, state="SuspendedEV")
    await session.event("Ended", 60, wh=8000, state="EVConnected")
    cost = await session.cost()
    parts = cost["costDetails"]["totalCost"]
    assert (parts["chargingTime"]["exclTax"], parts["idleTime"]["exclTax"]) == (Decimal("4.00"), Decimal("1.00"))
    assert cost["totalCost"] == Decimal("5.00")
    assert cost["costDetails"]["totalUsage"] == {"energy": 8000, "chargingTime": 3600, "idleTime": 1200}
    assert [(p["startPeriod"], p["dimensions"]) for p in cost["costDetails"]["chargingPeriods"]] == [
        ("2024-05-01T12:00:00.000Z", [{"type": "Energy", "volume": 8000}, {"type": "ChargingTime", "volume": 2400}]),
        ("2024-05-01T12:40:00.000Z", [{"type": "IdleTIme", "volume": 1200}])]


async def test_without_a_charging_state_charging_is_while_energy_flows(db, station):
    await set_tariff(db, tariff(chargingTime={"prices": [per_minute("0.10")]},
                                idleTime={"prices": [per_minute("0.05")]}))
    session = Session(db)
    await session.charge((0, 0), (30, 3000), (45, 3000), (60, 3000), state=None)
    assert await session.total() == Decimal("3.00") + Decimal("1.50")


async def test_idle_time_is_free_for_the_first_ten_minutes(db, station):
    """A maxIdleTime crossed inside a stretch between two events."""
    await set_tariff(db, tariff(idleTime={"prices": [per_minute("0", maxIdleTime=600), per_minute("0.10")]}))
    session = Session(db)
    await session.event("Started", 0, wh=0, state="Charging")
    await session.event("Updated", 30, wh=5000, state="SuspendedEV")
    await session.event("Ended", 60, wh=5000)
    assert await session.total() == Decimal("2.00")


async def test_charging_time_dearer_after_an_hour(db, station):
    """maxTime (the session's duration) and minChargingTime cut the session where they are reached."""
    await set_tariff(db, tariff(chargingTime={"prices": [per_minute("0.05", maxTime=3600), per_minute("0.10")]},
                                energy={"prices": [kwh("0.40", minChargingTime=2700), kwh("0.20")]}))
    session = Session(db)
    await session.charge((0, 0), (90, 9000))
    cost = await session.cost()
    parts = cost["costDetails"]["totalCost"]
    assert parts["chargingTime"]["exclTax"] == Decimal("6.00")  # 60 min x 0.05 + 30 min x 0.10
    assert parts["energy"]["exclTax"] == Decimal("2.70")  # 4.5 kWh x 0.20 + 4.5 kWh x 0.40
    assert cost["totalCost"] == Decimal("8.70")


# -- fixed fee, tax, bounds --------------------------------------------------------------------------------


async def test_fixed_fee_by_its_conditions_at_the_start(db, station):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}, fixedFee={"prices": [
        {"priceFixed": Decimal("2.00"), "conditions": {"dayOfWeek": ["Saturday", "Sunday"]}},
        {"priceFixed": Decimal("1.00")}]}))
    weekday = Session(db)
    await weekday.event("Started", 0, wh=0, state="Charging")
    assert await weekday.total() == Decimal("1.00")
    await weekday.event("Ended", 60, wh=4000)
    assert await weekday.total() == Decimal("2.20")
    saturday = Session(db, "TX-2", T0 + timedelta(days=3), evse=2)
    await saturday.charge((0, 0), (60, 4000))
    cost = await saturday.cost()
    assert cost["totalCost"] == Decimal("3.20")
    assert cost["costDetails"]["totalCost"]["fixed"] == {"exclTax": Decimal("2.00"), "inclTax": Decimal("2.00")}


async def test_payment_brand_surcharge(db, station):
    await set_tariff(db, tariff(fixedFee={"prices": [
        {"priceFixed": Decimal("1.50"), "conditions": {"paymentBrand": "AMEX"}}, {"priceFixed": Decimal("1.00")}]}))
    session = Session(db)
    card = CARD | {"additionalInfo": [{"additionalIdToken": "AMEX", "type": "PaymentBrand"}]}
    await session.event("Started", 0, wh=0, state="Charging")
    await session.event("Updated", 1, idToken=card)
    assert await session.total() == Decimal("1.50")


async def test_taxes_per_part_and_stack(db, station):
    vat = {"type": "VAT", "tax": Decimal("20")}
    await set_tariff(db, tariff(energy={"prices": [kwh("0.30")], "taxRates": [vat]},
                                fixedFee={"prices": [{"priceFixed": Decimal("1.00")}]}))
    session = Session(db)
    await session.charge((0, 0), (60, 4000))
    cost = await session.cost()
    assert cost["costDetails"]["totalCost"]["energy"] == {"exclTax": Decimal("1.20"), "inclTax": Decimal("1.44")}
    assert cost["costDetails"]["totalCost"]["total"] == {"exclTax": Decimal("2.20"), "inclTax": Decimal("2.44")}
    assert cost["totalCost"] == Decimal("2.44")  # including taxes

    # Stack 1 on top of stack 0; rates of one level add up.
    for n, (rates, expected) in enumerate([
            ([vat, {"type": "City", "tax": Decimal("10"), "stack": 1}], "1.58"),  # 1.20 x 1.2 x 1.1 = 1.584
            ([vat | {"stack": 0}, {"type": "Federal", "tax": Decimal("5")}], "1.50")]):  # 1.20 x 1.25
        await set_tariff(db, tariff(f"T-tax-{n}", energy={"prices": [kwh("0.30")], "taxRates": rates}), evse=n + 2)
        other = Session(db, f"TX-tax-{n}", T0 + timedelta(days=1), evse=n + 2)
        await other.charge((0, 0), (60, 4000))
        assert await other.total() == Decimal(expected)


async def test_min_cost_for_the_final_cost_max_cost_always(db, station):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}, minCost={"exclTax": Decimal("5.00")}), evse=1)
    await set_tariff(db, tariff("T-max", energy={"prices": [kwh("0.30")], "taxRates": [{"type": "VAT", "tax": 20}]},
                                maxCost={"exclTax": Decimal("1.00"), "inclTax": Decimal("1.20")}), evse=2)
    small = Session(db, "TX-1", evse=1)
    await small.event("Started", 0, wh=0, state="Charging")
    await small.event("Updated", 30, wh=2000)
    running = await small.cost()
    assert (running["totalCost"], running["costDetails"]["totalCost"]["typeOfCost"]) == (Decimal("0.60"), "NormalCost")
    await small.event("Ended", 60, wh=4000)
    await small.answer("Ended")
    final = await small.cost()
    assert (final["totalCost"], final["costDetails"]["totalCost"]["typeOfCost"]) == (Decimal("5.00"), "MinCost")
    stored = await db.fetchval("SELECT total_cost FROM ocpp.transactions WHERE id = $1", await small.id())
    assert stored == Decimal("5.00")

    big = Session(db, "TX-2", evse=2)
    await big.event("Started", 0, wh=0, state="Charging")
    await big.event("Updated", 30, wh=2000)
    assert await big.total() == Decimal("0.72")  # 0.60 + 20 %
    await big.event("Updated", 45, wh=4000)
    capped = await big.cost()
    assert (capped["totalCost"], capped["costDetails"]["totalCost"]["typeOfCost"]) == (Decimal("1.20"), "MaxCost")
    assert capped["costDetails"]["totalCost"]["total"] == {"exclTax": Decimal("1.00"), "inclTax": Decimal("1.20")}


# -- conditions by time --------------------------------------------------------------------------------------


NIGHT = {"prices": [kwh("0.20", startTimeOfDay="22:00", endTimeOfDay="06:00"), kwh("0.40")]}


async def test_time_of_day_splits_the_energy_between_readings(db, station):
    """Readings at 21:00 and 23:00 only: the 2 kWh before 22:00 and the 2 kWh after, interpolated."""
    await set_tariff(db, tariff(energy=NIGHT))
    session = Session(db, start=datetime(2024, 5, 1, 21, 0, tzinfo=UTC))
    await session.charge((0, 0), (120, 4000))
    cost = await session.cost()
    assert cost["totalCost"] == Decimal("1.20")  # 2 x 0.40 + 2 x 0.20
    assert [(p["startPeriod"], p["dimensions"][0]) for p in cost["costDetails"]["chargingPeriods"]] == [
        ("2024-05-01T21:00:00.000Z", {"type": "Energy", "volume": 2000}),
        ("2024-05-01T22:00:00.000Z", {"type": "Energy", "volume": 2000})]


async def test_time_of_day_in_the_stations_time_zone(db, station):
    """19:00 to 21:00 UTC is 21:00 to 23:00 in Berlin (summer time)."""
    await set_tariff(db, tariff(energy=NIGHT))
    start = datetime(2024, 5, 1, 19, 0, tzinfo=UTC)
    utc = Session(db, "TX-1", start)
    await utc.charge((0, 0), (120, 4000))
    assert await utc.total() == Decimal("1.60")  # all day rate in UTC

    await db.execute("SELECT ocpp.set_setting('tariff_time_zone', 'Europe/Berlin')")
    assert await utc.total() == Decimal("1.20")

    await db.execute("SELECT ocpp.set_setting('tariff_time_zone', 'UTC')")
    await report(db, ("ClockCtrlr", "TimeZone", "Europe/Berlin", None))
    assert await db.fetchval("SELECT ocpp._tariff_time_zone($1)", CS) == "Europe/Berlin"
    assert await utc.total() == Decimal("1.20")
    await report(db, ("ClockCtrlr", "TimeZone", "UTC+1", None))  # a POSIX offset, not a zone: not used
    assert await db.fetchval("SELECT ocpp._tariff_time_zone($1)", CS) == "UTC"


async def test_day_of_week_and_dates(db, station):
    await set_tariff(db, tariff(energy={"prices": [
        kwh("0.50", dayOfWeek=["Saturday", "Sunday"]),
        kwh("0.10", validFromDate="2024-12-24", validToDate="2024-12-27"),
        kwh("0.30")]}))
    # Friday 23:00 to Saturday 01:00: 2 kWh each side of midnight.
    weekend = Session(db, "TX-1", datetime(2024, 5, 3, 23, 0, tzinfo=UTC))
    await weekend.charge((0, 0), (120, 4000))
    assert await weekend.total() == Decimal("1.60")  # 2 x 0.30 + 2 x 0.50
    christmas = Session(db, "TX-2", datetime(2024, 12, 25, 12, 0, tzinfo=UTC), evse=2)  # a Wednesday
    await christmas.charge((0, 0), (60, 4000))
    assert await christmas.total() == Decimal("0.40")


# -- conditions by energy, power, current --------------------------------------------------------------------


async def test_energy_threshold_crossed_between_readings(db, station):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.25", maxEnergy=2000), kwh("0.35")]}))
    session = Session(db)
    await session.charge((0, 0), (60, 4000))
    assert await session.total() == Decimal("1.20")  # 2 kWh x 0.25 + 2 kWh x 0.35


@pytest.mark.parametrize("measured", [True, False], ids=["power readings", "average power"])
async def test_fast_charging_costs_more(db, station, measured):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.50", minPower=20000), kwh("0.30")]}))
    session = Session(db)
    await session.event("Started", 0, wh=0, state="Charging", power_w=22000 if measured else None)
    await session.event("Updated", 30, wh=11000, power_w=7000 if measured else None)
    await session.event("Ended", 60, wh=14500)
    assert await session.total() == Decimal("6.55")  # 11 kWh at 22 kW x 0.50 + 3.5 kWh at 7 kW x 0.30


async def test_current_is_the_sum_of_the_phases(db, station):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.45", minCurrent=32), kwh("0.30")]}))
    session = Session(db)
    await session.event("Started", 0, wh=0, state="Charging", current_a=16)  # 48 A
    await session.event("Updated", 30, wh=2000, current_a=8)  # 24 A
    await session.event("Ended", 60, wh=4000)
    assert await session.total() == Decimal("1.50")  # 2 x 0.45 + 2 x 0.30


async def test_evse_kind_from_the_device_model(db, station):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.60", evseKind="DC"), kwh("0.30")]}))
    await report(db, ("EVSE", "SupplyPhases", "0", 1), ("Connector", "ConnectorType", "cType2", 2))
    assert [await db.fetchval("SELECT ocpp._evse_kind($1, $2)", CS, evse) for evse in (1, 2, 3)] == ["DC", "AC", None]
    dc = Session(db, "TX-1", evse=1)
    await dc.charge((0, 0), (60, 4000))
    ac = Session(db, "TX-2", evse=2)
    await ac.charge((0, 0), (60, 4000))
    assert (await dc.total(), await ac.total()) == (Decimal("2.40"), Decimal("1.20"))


# -- which tariff ----------------------------------------------------------------------------------------------


async def test_the_evse_tariff_before_the_stations_and_the_one_in_force_at_the_start(db, station):
    await set_tariff(db, tariff("T-station", energy={"prices": [kwh("0.30")]}))
    await set_tariff(db, tariff("T-evse-1", energy={"prices": [kwh("0.40")]}), evse=1)
    later = tariff("T-later", energy={"prices": [kwh("0.90")]}) | {"validFrom": "2024-05-01T12:30:00Z"}
    await set_tariff(db, later, evse=1)
    on_1 = Session(db, "TX-1", evse=1)
    await on_1.charge((0, 0), (60, 4000))
    on_2 = Session(db, "TX-2", evse=2)
    await on_2.charge((0, 0), (60, 4000))
    assert ((await on_1.cost())["tariffId"], await on_1.total()) == ("T-evse-1", Decimal("1.60"))
    assert ((await on_2.cost())["tariffId"], await on_2.total()) == ("T-station", Decimal("1.20"))
    after = Session(db, "TX-3", T0 + timedelta(hours=2), evse=1)
    await after.charge((0, 0), (60, 1000))
    assert await after.total() == Decimal("0.90")

    # Cleared: sessions that started before keep it, later ones do not get it.
    assert await db.fetchval("SELECT ocpp.clear_tariffs($1, ARRAY['T-station'])", CS) == 1
    assert await on_2.total() == Decimal("1.20")
    rows = {r["tariff_id"]: (r["kind"], r["in_force"], r["cleared_at"] is not None)
            for r in await db.fetch("SELECT * FROM ocpp.tariffs")}
    assert rows == {"T-station": ("default", False, True), "T-evse-1": ("default", False, False),
                    "T-later": ("default", True, False)}


async def test_a_transaction_tariff_prices_the_rest_of_the_session(db, station):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}))
    session = Session(db)
    await session.event("Started", 0, wh=0, state="Charging")
    changed = tariff("T-2", energy={"prices": [kwh("0.50")]}) | {"validFrom": at(30)}
    await db.execute("SELECT ocpp.change_transaction_tariff($1, 'TX-1', $2::jsonb)", CS, dumps(changed))
    await session.event("Updated", 30, wh=2000)
    await session.event("Ended", 60, wh=4000)
    cost = await session.cost()
    assert (cost["totalCost"], cost["tariffId"]) == (Decimal("1.60"), "T-2")  # 2 x 0.30 + 2 x 0.50
    assert [p.get("tariffId") for p in cost["costDetails"]["chargingPeriods"]] == ["T-1", "T-2"]
    row = await db.fetchrow(
        "SELECT kind, transaction_id, evse_id, station_status FROM ocpp.tariffs WHERE tariff_id = 'T-2'")
    assert tuple(row) == ("transaction", await session.id(), 1, None)


async def test_a_transaction_tariff_is_refused_for_another_currency_or_session(db, station, fails):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}))
    session = Session(db)
    await session.event("Started", 0, wh=0, state="Charging")
    in_dollars = tariff("T-2", energy={"prices": [kwh("0.30")]}) | {"currency": "USD"}
    async with fails(asyncpg.InvalidParameterValueError, match="priced in EUR, not USD"):
        await db.execute("SELECT ocpp.change_transaction_tariff($1, 'TX-1', $2::jsonb)", CS, dumps(in_dollars))
    async with fails(asyncpg.NoDataFoundError, match="no open session 'TX-9'"):
        await db.execute("SELECT ocpp.change_transaction_tariff($1, 'TX-9', $2::jsonb)", CS,
                         dumps(tariff("T-2", energy={"prices": [kwh("0.30")]})))


# -- validation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "message"), [
    ({"tariffId": "T-1", "energy": {"prices": [{"priceKwh": 0.3}]}}, r"tariff\.currency is required"),
    ({"tariffId": "T-1", "currency": "euro", "energy": {"prices": [{"priceKwh": 0.3}]}}, r"tariff\.currency"),
    ({"currency": "EUR", "energy": {"prices": [{"priceKwh": 0.3}]}}, r"tariff\.tariffId is required"),
    ({"tariffId": "T-1", "currency": "EUR"}, "has no price"),
    ({"tariffId": "T-1", "currency": "EUR", "reservationTime": {"prices": [{"priceMinute": 0.1}]}}, "has no price"),
    ({"tariffId": "T-1", "currency": "EUR", "energy": {"prices": []}}, r"tariff\.energy\.prices is required"),
    ({"tariffId": "T-1", "currency": "EUR", "energy": {"prices": [{"priceKwh": "0.30"}]}},
     r"tariff\.energy\.prices\[0\]\.priceKwh must be a number"),
    ({"tariffId": "T-1", "currency": "EUR", "enery": {"prices": [{"priceKwh": 0.3}]}}, "unknown field.*enery"),
    ({"tariffId": "T-1", "currency": "EUR", "idleTime": {"prices": [
        {"priceMinute": 0.1}, {"priceMinute": 0.2, "conditions": {"startTimeOfDay": "25:00"}}]}},
     r"tariff\.idleTime\.prices\[1\]\.conditions\.startTimeOfDay must be a time of day"),
    ({"tariffId": "T-1", "currency": "EUR", "energy": {"prices": [
        {"priceKwh": 0.3, "conditions": {"dayOfWeek": ["Funday"]}}]}}, "not a day"),
    ({"tariffId": "T-1", "currency": "EUR", "energy": {"prices": [
        {"priceKwh": 0.3, "conditions": {"validToDate": "2024-02-30"}}]}}, "must be a date"),
    ({"tariffId": "T-1", "currency": "EUR", "energy": {"prices": [
        {"priceKwh": 0.3, "conditions": {"maxIdleTime": 1.5}}]}}, "whole number"),
    ({"tariffId": "T-1", "currency": "EUR", "fixedFee": {"prices": [
        {"priceFixed": 1, "conditions": {"minEnergy": 10}}]}}, "unknown field.*minEnergy"),
    ({"tariffId": "T-1", "currency": "EUR", "energy": {"prices": [{"priceKwh": 0.3}], "taxRates": [{"tax": 20}]}},
     r"taxRates\[0\]\.type is required"),
    ({"tariffId": "T-1", "currency": "EUR", "energy": {"prices": [{"priceKwh": 0.3}]}, "maxCost": {}},
     "needs exclTax or inclTax"),
    ({"tariffId": "T-1", "currency": "EUR", "validFrom": "soon", "energy": {"prices": [{"priceKwh": 0.3}]}},
     r"tariff\.validFrom must be a date-time"),
    ([1, 2], "must be a JSON object"),
])
async def test_a_tariff_that_cannot_be_priced_is_refused(db, station, fails, value, message):
    async with fails(asyncpg.InvalidParameterValueError, match=message) as caught:
        await set_tariff(db, value)
    assert "TariffType" in caught.value.hint
    assert await db.fetchval("SELECT count(*) FROM ocpp.tariffs") == 0


async def test_a_tariff_id_names_one_tariff_and_setting_it_again_changes_nothing(db, station, fails):
    first = await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}))
    assert await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]})) == first
    async with fails(asyncpg.InvalidParameterValueError, match="'T-1' already names another tariff"):
        await set_tariff(db, tariff(energy={"prices": [kwh("0.35")]}), evse=1)
    async with fails(asyncpg.NoDataFoundError, match="unknown charge point"):
        await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}), station="CS-9")
    async with fails(asyncpg.InvalidParameterValueError, match="evse_id is 0"):
        await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}), evse=-1)
    # Stations of other versions get no command: pgcsms prices their sessions alone.
    assert await db.fetchval("SELECT count(*) FROM ocpp.commands") == 0
    valid_from = await db.fetchval("SELECT valid_from FROM ocpp.tariffs")
    assert valid_from == datetime(2024, 1, 1, tzinfo=UTC)


async def test_a_tariff_without_valid_from_is_in_force_from_now(db, station):
    undated = {"tariffId": "T-now", "currency": "EUR", "energy": {"prices": [{"priceKwh": 0.3}]}}
    await set_tariff(db, undated)
    row = await db.fetchrow("SELECT valid_from = now() AS now, in_force FROM ocpp.tariffs")
    assert (row["now"], row["in_force"]) == (True, True)


# -- OCPP 2.0.1: CostUpdated and the tariff in words -----------------------------------------------------------


async def test_cost_updated_where_the_station_shows_cost(db, station):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}))
    session = Session(db)
    await session.event("Started", 0, wh=0, state="Charging")
    await session.event("Updated", 30, wh=2000)
    assert await session.answer("Updated") == {}
    assert await db.fetchval("SELECT count(*) FROM ocpp.commands") == 0  # not known to show cost

    await report(db, ("TariffCostCtrlr", "Enabled/Cost", "true", None))
    assert await session.answer("Updated") == {}  # 2.0.1 answers totalCost only at the end
    [command] = await db.fetch("SELECT action, payload::text, status FROM ocpp.commands")
    assert (command["action"], loads(command["payload"]), command["status"]) == (
        "CostUpdated", {"transactionId": "TX-1", "totalCost": Decimal("0.60")}, "queued")
    V201.check_request("CostUpdated", json.loads(command["payload"]))
    await session.event("Updated", 45, wh=3000)
    await session.answer("Updated")  # the queued one carries the newer cost
    assert [loads(r["payload"]) for r in await db.fetch("SELECT payload::text FROM ocpp.commands")] == [
        {"transactionId": "TX-1", "totalCost": Decimal("0.90")}]

    await report(db, ("TariffCostCtrlr", "Enabled/Cost", "false", None))
    await session.event("Updated", 50, wh=3500)
    await db.execute("DELETE FROM pgcsms.commands")
    assert await db.fetchval("SELECT ocpp._cost_update($1)", await session.id()) is None


async def test_the_tariff_in_words_for_a_personal_message(db, station):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}, idleTime={"prices": [per_minute("0.05")]},
                                fixedFee={"prices": [{"priceFixed": Decimal("1.00")}]}))
    message = loads(await db.fetchval("SELECT ocpp._tariff_message($1, 1)::text", CS))
    assert message == {"format": "UTF8", "content": "0.30 EUR/kWh, 0.05 EUR/min idle, 1.00 EUR per session"}
    described = tariff("T-2", energy={"prices": [kwh("0.30")]}, description=[
        {"format": "UTF8", "language": "en", "content": "30 cents a kWh"},
        {"format": "UTF8", "language": "nl", "content": "30 cent per kWh"}])
    await set_tariff(db, described, evse=2)
    assert loads(await db.fetchval("SELECT ocpp._tariff_message($1, 2, 'nl')::text", CS)) == {
        "format": "UTF8", "language": "nl", "content": "30 cent per kWh"}
    schema = json.loads((V21_SCHEMAS.parent.parent / "v201" / "schemas" / "AuthorizeResponse.json").read_text())
    validator = jsonschema_rs.Draft6Validator({"$ref": "#/definitions/MessageContentType",
                                               "definitions": schema["definitions"]})
    assert validator.is_valid(message)
    assert await db.fetchval("SELECT ocpp._tariff_message('CS-unknown', 1)") is None


# -- OCPP 2.1 stations: the commands and their answers -------------------------------------------------------------


TARIFF_ACTIONS = {"SetDefaultTariff": True, "ChangeTransactionTariff": True, "GetTariffs": True, "ClearTariffs": False}


@pytest.fixture
async def station21(db: asyncpg.Connection) -> str:
    """CS-21, Accepted, connected over OCPP 2.1 (the catalog's tariff actions there, whoever filled it)."""
    for action, has_status in TARIFF_ACTIONS.items():
        await db.execute("INSERT INTO pgcsms.protocol_actions (ocpp_version, action, sent_by, answer_has_status) "
                         "VALUES ('2.1', $1, 'CSMS', $2) ON CONFLICT DO NOTHING", action, has_status)
    await db.execute("SELECT ocpp.add_charge_point('CS-21')")
    assert (await db.fetchrow("SELECT accepted FROM ocpp.connect('CS-21', $1, NULL, '2.1')", NODE))["accepted"]
    return "CS-21"


async def deliver(db: asyncpg.Connection, response: dict[str, Any], station: str = "CS-21") -> dict[str, Any]:
    """Plays the proxy: claims the next command, checks it against the 2.1 schema, answers, applies its effect."""
    epoch = await db.fetchval("SELECT connection_epoch FROM pgcsms.charge_points WHERE id = $1", station)
    claimed = await db.fetchrow("SELECT * FROM ocpp.next_command($1, $2, $3)", station, NODE, epoch)
    assert claimed is not None
    payload = json.loads(claimed["payload"])
    check_v21(f"{claimed['action']}Request", payload)
    check_v21(f"{claimed['action']}Response", response)
    assert await db.fetchval("SELECT ocpp.complete_command($1, $2, $3::jsonb, NULL, NULL, $4)",
                             station, claimed["unique_id"], dumps(response), NODE)
    # Applied here too, whatever the 2.1 routing does with it (it is idempotent).
    effect = {"SetDefaultTariff": "set_default_tariff", "ChangeTransactionTariff": "change_transaction_tariff",
              "GetTariffs": "get_tariffs", "ClearTariffs": "clear_tariffs"}[claimed["action"]]
    await db.execute(f"SELECT ocpp._v21_effect_{effect}(c) FROM pgcsms.commands AS c WHERE c.id = $1",
                     claimed["command_id"])
    return {"action": claimed["action"], "payload": payload}


async def held(db: asyncpg.Connection) -> dict[str, tuple[Any, ...]]:
    return {r["tariff_id"]: (r["station_status"], r["at_station"])
            for r in await db.fetch("SELECT * FROM ocpp.tariffs WHERE charge_point_id = 'CS-21'")}


async def test_a_21_station_gets_its_default_tariff(db, station21):
    value = tariff(energy={"prices": [kwh("0.30", startTimeOfDay="22:00", endTimeOfDay="06:00"), kwh("0.40")],
                           "taxRates": [{"type": "VAT", "tax": 21}]},
                   description=[{"format": "UTF8", "content": "0.40 EUR/kWh, 0.30 at night"}])
    await set_tariff(db, value, station="CS-21")
    assert await held(db) == {"T-1": (None, None)}
    sent = await deliver(db, {"status": "Accepted"})
    assert sent == {"action": "SetDefaultTariff", "payload": {"evseId": 0, "tariff": json.loads(dumps(value))}}
    assert await held(db) == {"T-1": ("Accepted", True)}
    assert await db.fetchval("SELECT status FROM ocpp.commands") == "accepted"
    # Held: setting it again sends nothing.
    await set_tariff(db, value, station="CS-21")
    assert await db.fetchval("SELECT count(*) FROM ocpp.commands") == 1

    await set_tariff(db, tariff("T-2", idleTime={"prices": [per_minute("0.10")]}), evse=1, station="CS-21")
    await deliver(db, {"status": "ConditionNotSupported", "statusInfo": {"reasonCode": "NoIdle"}})
    assert await held(db) == {"T-1": ("Accepted", True), "T-2": ("ConditionNotSupported", False)}


async def test_a_21_station_gets_a_transaction_tariff(db, station21):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}), station="CS-21")
    await deliver(db, {"status": "Accepted"})
    await db.execute("INSERT INTO pgcsms.transactions (charge_point_id, remote_id, ocpp_version, evse_id, "
                     "connector_id, started_at, start_unique_id) "
                     "VALUES ('CS-21', 'TX-21', '2.1', 1, 1, now(), 'u-start')")
    await db.execute("SELECT ocpp.change_transaction_tariff('CS-21', 'TX-21', $1::jsonb)",
                     dumps(tariff("T-driver", energy={"prices": [kwh("0.25")]})))
    sent = await deliver(db, {"status": "Accepted"})
    assert (sent["action"], sent["payload"]["transactionId"]) == ("ChangeTransactionTariff", "TX-21")
    assert (await held(db))["T-driver"] == ("Accepted", True)


async def test_get_and_clear_tariffs_of_a_21_station(db, station21, fails):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}), station="CS-21")
    await set_tariff(db, tariff("T-2", energy={"prices": [kwh("0.35")]}), evse=1, station="CS-21")
    await deliver(db, {"status": "Accepted"})
    await deliver(db, {"status": "Accepted"})

    await db.execute("SELECT ocpp.get_tariffs('CS-21')")
    sent = await deliver(db, {"status": "Accepted", "tariffAssignments": [
        {"tariffId": "T-2", "tariffKind": "DefaultTariff", "evseIds": [1]},
        {"tariffId": "T-other", "tariffKind": "DefaultTariff", "evseIds": [2]}]})
    assert sent == {"action": "GetTariffs", "payload": {"evseId": 0}}
    assert await held(db) == {"T-1": ("Accepted", False), "T-2": ("Accepted", True)}

    assert await db.fetchval("SELECT ocpp.clear_tariffs('CS-21', ARRAY['T-2'], 1)") == 1
    sent = await deliver(db, {"clearTariffsResult": [{"tariffId": "T-2", "status": "Accepted"}]})
    assert sent == {"action": "ClearTariffs", "payload": {"tariffIds": ["T-2"], "evseId": 1}}
    assert (await held(db))["T-2"] == ("Accepted", False)
    assert await db.fetchval("SELECT clear_command_id IS NOT NULL FROM ocpp.tariffs WHERE tariff_id = 'T-2'")

    # Sent again, what it no longer holds.
    assert await db.fetchval("SELECT ocpp.send_tariffs('CS-21')") == 1
    sent = await deliver(db, {"status": "Accepted"})
    assert sent["payload"]["tariff"]["tariffId"] == "T-1"

    async with fails(asyncpg.InvalidParameterValueError, match="GetTariffs is OCPP 2.1"):
        await db.execute("SELECT ocpp.add_charge_point('CS-16'); SELECT ocpp.get_tariffs('CS-16')")


async def test_a_command_without_an_answer_leaves_the_holding_unknown(db, station21):
    await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}), station="CS-21")
    command = await db.fetchval("SELECT command_id FROM ocpp.tariffs")
    epoch = await db.fetchval("SELECT connection_epoch FROM pgcsms.charge_points WHERE id = 'CS-21'")
    await db.fetchrow("SELECT * FROM ocpp.next_command('CS-21', $1, $2)", NODE, epoch)
    assert await db.fetchval("SELECT ocpp.fail_command($1, 'timeout')", command)
    await db.execute("SELECT ocpp._v21_effect_set_default_tariff(c) FROM pgcsms.commands AS c WHERE c.id = $1", command)
    assert await held(db) == {"T-1": ("timeout", None)}
    # Set again: sent again.
    await set_tariff(db, tariff(energy={"prices": [kwh("0.30")]}), station="CS-21")
    assert await db.fetchval("SELECT count(*) FROM ocpp.commands WHERE status = 'queued'") == 1


# -- arithmetic ------------------------------------------------------------------------------------------------


async def test_rounding_to_the_currencys_minor_unit(db):
    assert [await db.fetchval("SELECT ocpp._currency_decimals($1)", c) for c in ("EUR", "JPY", "KWD", "XYZ")] == [
        2, 0, 3, 2]
    rates = [{"type": "A", "tax": 10}, {"type": "B", "tax": 5, "stack": 0}, {"type": "C", "tax": 10, "stack": 1}]
    assert await db.fetchval("SELECT ocpp._with_tax(100, $1::jsonb)", dumps(rates)) == Decimal("126.5")  # x 1.15 x 1.1


@pytest.mark.parametrize(("start", "end", "time", "holds"), [
    ("22:00", "06:00", "23:30", True), ("22:00", "06:00", "05:59", True), ("22:00", "06:00", "06:00", False),
    ("08:00", "18:00", "08:00", True), ("08:00", "18:00", "18:00", False), ("18:00", "00:00", "23:59", True),
    ("18:00", "00:00", "17:59", False), (None, "09:00", "08:00", True), ("09:00", None, "08:00", False),
    (None, None, "03:00", True)])
async def test_time_of_day(db, start, end, time, holds):
    assert await db.fetchval("SELECT ocpp._time_of_day_holds($1, $2, $3::text::time)", start, end, time) is holds
