"""OCPP 2.0.1 provisioning end to end: a strict station (the ``ocpp`` library validates every frame it sends
and receives against the 2.0.1 schemas) boots, reports its device model, is read and configured from SQL.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from ocpp.exceptions import SecurityError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

BOOT = call.BootNotification(charging_station={"model": "E2E-201", "vendor_name": "pgcsms"}, reason="PowerUp")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Station(ChargePoint):  # type: ignore[misc]
    """A 2.0.1 station with a device model of its own: (component, evse, variable) → (value, mutability)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model: dict[tuple[str, int | None, str], tuple[str, str]] = {
            ("OCPPCommCtrlr", None, "OfflineThreshold"): ("60", "ReadWrite"),
            ("OCPPCommCtrlr", None, "HeartbeatInterval"): ("300", "ReadWrite"),
            ("AuthCtrlr", None, "AuthorizeRemoteStart"): ("true", "ReadWrite"),
            ("EVSE", 1, "Power"): ("22000", "ReadOnly"),
            ("ChargingStation", None, "Model"): ("E2E-201", "ReadOnly"),
        }
        self.received: list[tuple[str, dict[str, Any]]] = []

    @staticmethod
    def _key(reference: dict[str, Any]) -> tuple[str, int | None, str]:
        component = reference["component"]
        return component["name"], component.get("evse", {}).get("id"), reference["variable"]["name"]

    @staticmethod
    def _reference(key: tuple[str, int | None, str]) -> dict[str, Any]:
        component: dict[str, Any] = {"name": key[0]}
        if key[1] is not None:
            component["evse"] = {"id": key[1]}
        return {"component": component, "variable": {"name": key[2]}}

    @on(Action.get_variables)
    async def get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self.received.append(("GetVariables", {"get_variable_data": get_variable_data}))
        results = []
        for data in get_variable_data:
            found = self.model.get(self._key(data))
            result = {**self._reference(self._key(data)),
                      "attribute_status": "Accepted" if found else "UnknownVariable"}
            if found:
                result["attribute_value"] = found[0]
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    async def set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self.received.append(("SetVariables", {"set_variable_data": set_variable_data}))
        results = []
        for data in set_variable_data:
            key = self._key(data)
            status = "Rejected"
            if key in self.model and self.model[key][1] == "ReadWrite":
                self.model[key] = (data["attribute_value"], "ReadWrite")
                status = "Accepted"
            results.append({**self._reference(key), "attribute_status": status})
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.get_base_report)
    async def get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        self.received.append(("GetBaseReport", {"request_id": request_id, "report_base": report_base}))
        return call_result.GetBaseReport(status="Accepted")

    @after(Action.get_base_report)
    async def send_report(self, request_id: int, **_: Any) -> None:
        """The whole model in pages of two, as a station does after answering."""
        keys = list(self.model)
        pages = [keys[n:n + 2] for n in range(0, len(keys), 2)]
        for seq_no, page in enumerate(pages):
            await self.call(call.NotifyReport(
                request_id=request_id, generated_at=now(), seq_no=seq_no, tbc=seq_no < len(pages) - 1,
                report_data=[{**self._reference(key),
                              "variable_attribute": [{"type": "Actual", "value": self.model[key][0],
                                                      "mutability": self.model[key][1]}],
                              "variable_characteristics": {"data_type": "string", "supports_monitoring": False}}
                             for key in page]))

    @on(Action.reset)
    async def reset(self, **payload: Any) -> Any:
        self.received.append(("Reset", payload))
        return call_result.Reset(status="Accepted")


async def command_status(db: asyncpg.Connection, command_id: int) -> str:
    return await db.fetchval("SELECT status FROM ocpp.commands WHERE id = $1", command_id)


async def test_boot_report_read_and_configure(db, charger, events, dsn):
    await db.execute("SELECT ocpp.add_charge_point('CS-1')")
    async with charger("CS-1", subprotocols=["ocpp2.0.1"], charge_point_class=Station) as station:
        booted = await station.call(BOOT)
        assert (booted.status, booted.interval) == ("Accepted", 300)
        assert await db.fetchval("SELECT boot_reason FROM ocpp.charge_points WHERE id = 'CS-1'") == "PowerUp"

        await station.call(call.StatusNotification(timestamp=now(), connector_status="Occupied", evse_id=1,
                                                   connector_id=2))
        row = await db.fetchrow("SELECT evse_id, connector_id, status FROM ocpp.connectors "
                                "WHERE charge_point_id = 'CS-1'")
        assert tuple(row) == (1, 2, "Occupied")

        # GetBaseReport: the station answers, then reports in pages.
        report = await db.fetchval("SELECT ocpp.get_base_report('CS-1')")
        assert (await events.command(report))["status"] == "accepted"
        await events.wait(event="report_completed", charge_point_id="CS-1")
        rows = await db.fetch("SELECT component, evse_id, variable, value, mutability FROM ocpp.device_variables "
                              "WHERE charge_point_id = 'CS-1' AND attribute_type = 'Actual'")
        assert {(r["component"], r["evse_id"], r["variable"]): (r["value"], r["mutability"]) for r in rows} == (
            station.model)
        progress = await db.fetchrow("SELECT complete, pages, items FROM ocpp.report_requests")
        assert tuple(progress) == (True, 3, 5)

        # A raw GetVariables with CALL ocpp.call: the answer comes back to the caller.
        connection = await asyncpg.connect(dsn)
        try:
            answered = await asyncio.wait_for(connection.fetchrow(
                "CALL ocpp.call('CS-1', 'GetVariables', $1::jsonb)",
                json.dumps({"getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                                 "variable": {"name": "OfflineThreshold"}},
                                                {"component": {"name": "Nope"}, "variable": {"name": "X"}}]})), 15)
        finally:
            await connection.close()
        assert [(r["attributeStatus"], r.get("attributeValue")) for r in
                json.loads(answered["response"])["getVariableResult"]] == [("Accepted", "60"),
                                                                          ("UnknownVariable", None)]

        # SetVariables from the helper: the station takes it, the model shows it.
        configured = await db.fetchval(
            "SELECT ocpp.set_variables('CS-1', '{\"OCPPCommCtrlr/OfflineThreshold\": 123, \"EVSE/Power\": 1}')")
        assert (await events.command(configured))["status"] == "completed"
        assert station.model[("OCPPCommCtrlr", None, "OfflineThreshold")] == ("123", "ReadWrite")
        rows = await db.fetch("SELECT variable, value, source FROM ocpp.device_variables WHERE variable IN "
                              "('OfflineThreshold', 'Power') ORDER BY variable")
        assert [tuple(r) for r in rows] == [("OfflineThreshold", "123", "set"), ("Power", "22000", "report")]
        results = await db.fetch("SELECT variable, attribute_status FROM ocpp.variable_results "
                                 "WHERE command_id = $1 ORDER BY position", configured)
        assert {r["variable"]: r["attribute_status"] for r in results} == {"OfflineThreshold": "Accepted",
                                                                          "Power": "Rejected"}


async def test_pending_station_gets_only_what_pending_allows(db, charger, events):
    await db.execute("SELECT ocpp.set_setting('unknown_charge_points', 'pending')")
    async with charger("CS-NEW", subprotocols=["ocpp2.0.1"], charge_point_class=Station) as station:
        assert (await station.call(BOOT)).status == "Pending"
        with pytest.raises(SecurityError):
            await station.call(call.StatusNotification(timestamp=now(), connector_status="Available", evse_id=1,
                                                       connector_id=1), suppress=False)

        reset = await db.fetchval("SELECT ocpp.reset('CS-NEW')")
        read = await db.fetchval("SELECT ocpp.get_variables('CS-NEW', ARRAY['OCPPCommCtrlr/HeartbeatInterval'])")
        # Queued after the Reset, delivered before it: the Reset waits for the acceptance.
        assert (await events.command(read))["status"] == "completed"
        assert await command_status(db, reset) == "queued"
        assert [action for action, _ in station.received] == ["GetVariables"]
        assert await db.fetchval("SELECT value FROM ocpp.device_variables WHERE charge_point_id = 'CS-NEW' "
                                 "AND variable = 'HeartbeatInterval'") == "300"

        await db.execute("SELECT ocpp.add_charge_point('CS-NEW', 'Accepted')")  # the operator accepts it
        assert (await station.call(BOOT)).status == "Accepted"
        assert (await events.command(reset))["status"] == "accepted"
        assert station.received[-1] == ("Reset", {"type": "OnIdle"})
        await station.call(call.StatusNotification(timestamp=now(), connector_status="Available", evse_id=1,
                                                   connector_id=1))
        assert await db.fetchval("SELECT status FROM ocpp.connectors WHERE charge_point_id = 'CS-NEW'") == "Available"
