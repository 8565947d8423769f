"""OCPP 2.1 end to end, told by a strict station this project did not write.

The station is the ``ocpp`` package's ``ocpp.v21.ChargePoint``: it checks
every message both ways against the official 2.1 schemas. It connects
offering 2.1 and 2.0.1 (and gets 2.1), boots, authorizes, charges in
bidirectional mode with limits and reports its own cost, raises a DER alarm,
takes a DER control set from SQL and pulls a dynamic schedule update.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ocpp.routing import after, on
from ocpp.v21 import ChargePoint, call, call_result

CARD = {"id_token": "04A2B3C4", "type": "ISO14443"}
T = "2025-03-01T10:{:02d}:00Z"


class Station(ChargePoint):
    """Accepts the DER controls it is sent and remembers them; what to do next is the test's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.controls: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @on("SetDERControl")
    def on_set_der_control(self, **request: Any) -> call_result.SetDERControl:
        return call_result.SetDERControl(status="Accepted")

    @after("SetDERControl")
    def after_set_der_control(self, **request: Any) -> None:
        self.controls.put_nowait(request)


def event(kind: str, seq: int, trigger: str, minute: int, **extra: Any) -> call.TransactionEvent:
    return call.TransactionEvent(event_type=kind, seq_no=seq, timestamp=T.format(minute), trigger_reason=trigger,
                                 transaction_info={"transaction_id": "V2X-1", **extra.pop("info", {})}, **extra)


def reading(wh: float, minute: int) -> list[dict[str, Any]]:
    return [{"timestamp": T.format(minute), "sampled_value": [{"value": wh}]}]


async def test_a_strict_2_1_station_boots_charges_raises_an_alarm_and_takes_commands(db, charger, events):
    await db.execute("SELECT ocpp.add_charge_point('CS-21')")
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4', id_token_type => 'ISO14443')")
    async with charger("CS-21", subprotocols=["ocpp2.1", "ocpp2.0.1"], charge_point_class=Station) as cs:
        boot = await cs.call(call.BootNotification(charging_station={"model": "V2X-1", "vendor_name": "Acme"},
                                                   reason="PowerUp"), suppress=False)
        assert boot.status == "Accepted"
        assert (await events.wait(event="boot", charge_point_id="CS-21"))["ocpp_version"] == "2.1"
        authorized = await cs.call(call.Authorize(id_token=CARD), suppress=False)
        assert authorized.id_token_info["status"] == "Accepted"

        started = await cs.call(event("Started", 0, "Authorized", 0, id_token=CARD, evse={"id": 1, "connector_id": 1},
                                      meter_value=reading(1000, 0), info={
                                          "operation_mode": "CentralSetpoint", "tariff_id": "T-1",
                                          "transaction_limit": {"max_energy": 30000, "max_so_c": 80}}),
                                suppress=False)
        assert started.id_token_info["status"] == "Accepted"
        begun = await events.wait(event="transaction_started", remote_id="V2X-1")
        assert begun["ocpp_version"] == "2.1"
        await cs.call(event("Updated", 1, "MeterValuePeriodic", 15, meter_value=reading(3000, 15)), suppress=False)

        # A DER alarm, stored and told to listeners.
        await cs.call(call.NotifyDERAlarm(control_type="HVMustTrip", timestamp=T.format(16),
                                          grid_event_fault="OverVoltage"), suppress=False)
        alarm = await events.wait(event="der_alarm", charge_point_id="CS-21")
        assert (alarm["control_type"], alarm["grid_event_fault"], alarm["alarm_ended"]) == (
            "HVMustTrip", "OverVoltage", False)

        # A DER control from SQL, taken and kept.
        curve = {"priority": 1, "y_unit": "PctMaxW", "curve_data": [{"x": 49.8, "y": 100}, {"x": 50.2, "y": 0}]}
        command_id = await db.fetchval(
            "SELECT ocpp.set_der_control('CS-21', 'FW-1', 'FreqWatt', $1::jsonb)", json.dumps(
                {"priority": 1, "yUnit": "PctMaxW", "curveData": [{"x": 49.8, "y": 100}, {"x": 50.2, "y": 0}]}))
        taken = await asyncio.wait_for(cs.controls.get(), 10)
        assert (taken["control_id"], taken["control_type"], taken["curve"]) == ("FW-1", "FreqWatt", curve)
        assert (await events.command(command_id))["status"] == "accepted"

        # The latest setpoint of its dynamic profile, pulled.
        await db.execute("SELECT ocpp.set_dynamic_schedule('CS-21', 3, '{\"setpoint\": -3500}')")
        pulled = await cs.call(call.PullDynamicScheduleUpdate(charging_profile_id=3), suppress=False)
        assert (pulled.status, pulled.schedule_update) == ("Accepted", {"setpoint": -3500})

        ended = await cs.call(event("Ended", 2, "StopAuthorized", 30, id_token=CARD, meter_value=reading(5000, 30),
                                    cost_details={"total_cost": {"currency": "EUR", "type_of_cost": "NormalCost",
                                                                 "total": {"incl_tax": 1.2}},
                                                  "total_usage": {"energy": 4000, "charging_time": 1800,
                                                                  "idle_time": 0}},
                                    info={"stopped_reason": "Local", "operation_mode": "Idle"}), suppress=False)
        assert ended.id_token_info["status"] == "Accepted"
        await events.wait(event="transaction_stopped", remote_id="V2X-1")

    assert await db.fetchval("SELECT ocpp_version FROM ocpp.charge_points WHERE id = 'CS-21'") == "2.1"
    session = await db.fetchrow(
        "SELECT t.ocpp_version, t.energy_wh, t.stop_reason, d.operation_mode, d.tariff_id, d.transaction_limit, "
        "d.station_total_cost FROM ocpp.transactions AS t JOIN ocpp.transaction_details AS d USING (id) "
        "WHERE t.transaction_id = 'V2X-1'")
    assert (session["ocpp_version"], session["energy_wh"], session["stop_reason"], session["operation_mode"],
            session["tariff_id"], float(session["station_total_cost"])) == ("2.1", 4000, "Local", "Idle", "T-1", 1.2)
    assert json.loads(session["transaction_limit"]) == {"maxEnergy": 30000, "maxSoC": 80}
    alarm = await db.fetchrow("SELECT control_type, grid_event_fault FROM ocpp.der_alarms "
                              "WHERE charge_point_id = 'CS-21'")
    assert tuple(alarm) == ("HVMustTrip", "OverVoltage")
    assert await db.fetchval("SELECT source FROM ocpp.der_controls WHERE control_id = 'FW-1'") == "set"
