"""A priced OCPP 2.1 session, told by a strict station: the tariff set in SQL reaches it, its
TransactionEvent answers carry the running and the final cost, and the transaction keeps it.

The station is the ``ocpp`` package's ``ocpp.v21.ChargePoint`` (every message checked both ways
against the official 2.1 schemas), authorizing with a 40-character token, which 2.0.1 could not carry.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ocpp.routing import on
from ocpp.v21 import ChargePoint, call, call_result

TOKEN = {"id_token": "CONTRACT-" + "7" * 31, "type": "Central"}  # 40 characters
TARIFF = {"tariffId": "T-30", "currency": "EUR",
          "energy": {"prices": [{"priceKwh": 0.30}], "taxRates": [{"type": "VAT", "tax": 0}]}}
# The session's clock: the last hour (a tariff applies from when it was set).
START = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=61)


def at(minute: int) -> str:
    return (START + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


class Station(ChargePoint):
    """Takes the default tariff it is sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tariffs: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @on("SetDefaultTariff")
    def on_set_default_tariff(self, **request: Any) -> call_result.SetDefaultTariff:
        self.tariffs.put_nowait(request)
        return call_result.SetDefaultTariff(status="Accepted")


def reading(wh: float, minute: int, context: str) -> list[dict[str, Any]]:
    return [{"timestamp": at(minute), "sampled_value": [{"value": wh, "context": context}]}]


def event(kind: str, seq: int, trigger: str, minute: int, wh: float, context: str,
          **extra: Any) -> call.TransactionEvent:
    return call.TransactionEvent(event_type=kind, seq_no=seq, timestamp=at(minute), trigger_reason=trigger,
                                 transaction_info={"transaction_id": "PRICED-1", **extra.pop("info", {})},
                                 meter_value=reading(wh, minute, context), **extra)


async def test_a_priced_session_answers_its_running_and_final_cost(db, charger, events):
    await db.execute("SELECT ocpp.add_charge_point('CS-PRICE')")
    await db.execute("SELECT ocpp.add_id_tag($1, id_token_type => 'Central')", TOKEN["id_token"])
    async with charger("CS-PRICE", subprotocols=["ocpp2.1"], charge_point_class=Station) as cs:
        boot = await cs.call(call.BootNotification(charging_station={"model": "M", "vendor_name": "V"},
                                                   reason="PowerUp"), suppress=False)
        assert boot.status == "Accepted"
        # The tariff, set from SQL, reaches the station.
        await db.execute("SELECT ocpp.set_default_tariff('CS-PRICE', 0, $1::jsonb)", json.dumps(TARIFF))
        await db.execute("UPDATE pgcsms.tariffs SET valid_from = $1", START)  # in force before the session
        received = await asyncio.wait_for(cs.tariffs.get(), 10)
        assert received["tariff"]["tariff_id"] == "T-30"

        started = await cs.call(event("Started", 0, "Authorized", 0, 0, "Transaction.Begin", id_token=TOKEN,
                                      evse={"id": 1, "connector_id": 1},
                                      info={"charging_state": "Charging"}), suppress=False)
        assert started.id_token_info["status"] == "Accepted"
        running = await cs.call(event("Updated", 1, "MeterValuePeriodic", 30, 2000, "Sample.Periodic",
                                      info={"charging_state": "Charging"}), suppress=False)
        assert Decimal(str(running.total_cost)) == Decimal("0.60")  # 2 kWh at 0.30
        ended = await cs.call(event("Ended", 2, "EVCommunicationLost", 60, 4000, "Transaction.End",
                                    info={"stopped_reason": "EVDisconnected"}), suppress=False)
        assert Decimal(str(ended.total_cost)) == Decimal("1.20")  # 4 kWh at 0.30
        await events.wait(event="transaction_stopped", charge_point_id="CS-PRICE")

    row = await db.fetchrow("SELECT total_cost, currency, energy_wh, id_tag, ocpp_version FROM ocpp.transactions "
                            "WHERE charge_point_id = 'CS-PRICE'")
    assert (row["total_cost"], row["currency"], row["energy_wh"]) == (Decimal("1.20"), "EUR", 4000)
    assert (row["id_tag"], row["ocpp_version"]) == (TOKEN["id_token"], "2.1")
    assert await db.fetchval("SELECT status FROM ocpp.commands WHERE action = 'SetDefaultTariff'") == "accepted"
