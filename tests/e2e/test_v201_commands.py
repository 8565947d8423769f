"""OCPP 2.0.1 commands from SQL to a real station of the ``ocpp`` library, which checks every message
against the 2.0.1 schemas: smart charging, a log upload and a firmware update followed by their
status notifications, a display message and data transfer, each with its effect in the views."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action


class Station(ChargePoint):  # type: ignore[misc]
    """Answers the commands of this test as a 2.0.1 station would; reports on its uploads and updates."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []
        # Set once the station has sent its last notification and had our answer (so it is committed).
        self.log_reported: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.firmware_reported: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @on(Action.set_charging_profile)
    async def set_charging_profile(self, **payload: Any) -> Any:
        self.received.append(("SetChargingProfile", payload))
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.get_log)
    async def get_log(self, **payload: Any) -> Any:
        self.received.append(("GetLog", payload))
        return call_result.GetLog(status="Accepted", filename="diagnostics-201.zip")

    @after(Action.get_log)
    async def upload_log(self, request_id: int, **_: Any) -> None:
        try:
            for status in ("Uploading", "Uploaded"):
                await self.call(call.LogStatusNotification(status=status, request_id=request_id))
            self.log_reported.set_result(None)
        except Exception as exc:  # the test awaits the outcome, whatever it is
            self.log_reported.set_exception(exc)

    @on(Action.update_firmware)
    async def update_firmware(self, **payload: Any) -> Any:
        self.received.append(("UpdateFirmware", payload))
        return call_result.UpdateFirmware(status="Accepted")

    @after(Action.update_firmware)
    async def install_firmware(self, request_id: int, **_: Any) -> None:
        try:
            for status in ("Downloading", "Downloaded", "Installing", "Installed"):
                await self.call(call.FirmwareStatusNotification(status=status, request_id=request_id))
            self.firmware_reported.set_result(None)
        except Exception as exc:  # the test awaits the outcome, whatever it is
            self.firmware_reported.set_exception(exc)

    @on(Action.set_display_message)
    async def set_display_message(self, **payload: Any) -> Any:
        self.received.append(("SetDisplayMessage", payload))
        return call_result.SetDisplayMessage(status="Accepted")

    @on(Action.data_transfer)
    async def data_transfer(self, **payload: Any) -> Any:
        self.received.append(("DataTransfer", payload))
        return call_result.DataTransfer(status="Accepted", data={"echo": payload.get("data")})


@pytest.fixture
async def station(db, charger):
    # Registered Accepted: commands go out without a BootNotification.
    await db.execute("SELECT ocpp.add_charge_point('CP-201')")
    async with charger("CP-201", subprotocols=["ocpp2.0.1"], charge_point_class=Station) as cp:
        yield cp


async def completed(db, events, command_id: int) -> dict[str, Any]:
    """The command's row once its answer is recorded (command_completed)."""
    event = await events.command(command_id)
    row = dict(await db.fetchrow("SELECT * FROM ocpp.commands WHERE id = $1", command_id))
    assert row["status"] == event["status"], row
    return row


PROFILE = {"id": 31, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
           "chargingSchedule": [{"id": 1, "startSchedule": "2026-01-01T00:00:00Z", "chargingRateUnit": "A",
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}]}


async def test_commands_reach_a_2_0_1_station_and_change_what_they_say(db, station, events):
    assert await db.fetchval("SELECT ocpp_version FROM ocpp.charge_points WHERE id = 'CP-201'") == "2.0.1"

    profile = await completed(db, events, await db.fetchval(
        "SELECT ocpp.set_charging_profile('CP-201', evse_id => 1, charging_profile => $1::jsonb)", json.dumps(PROFILE)))
    assert profile["status"] == "accepted"
    assert tuple(await db.fetchrow(
        "SELECT evse_id, charging_profile_id, purpose, command_id FROM ocpp.charging_profiles")) == (
        1, 31, "TxDefaultProfile", profile["id"])

    log = await completed(db, events, await db.fetchval(
        "SELECT ocpp.get_log('CP-201', 'DiagnosticsLog', 41, 'https://logs.example/upload')"))
    assert log["status"] == "accepted"
    await asyncio.wait_for(station.log_reported, 10)
    job = await db.fetchrow("SELECT * FROM ocpp.jobs WHERE command_id = $1", log["id"])
    assert (job["kind"], job["request_id"], job["file_name"], job["status"]) == (
        "log", 41, "diagnostics-201.zip", "Uploaded")
    assert job["finished_at"] is not None
    assert [tuple(r) for r in await db.fetch(
        "SELECT kind, status, request_id, job_id FROM ocpp.job_status_history ORDER BY id")] == [
        ("log", "Uploading", 41, job["id"]), ("log", "Uploaded", 41, job["id"])]

    firmware = await completed(db, events, await db.fetchval(
        "SELECT ocpp.update_firmware('CP-201', 'https://fw.example/v2.bin', signing_certificate => "
        "'-----BEGIN CERTIFICATE-----', signature => 'c2lnbmF0dXJl')"))
    assert firmware["status"] == "accepted"
    await asyncio.wait_for(station.firmware_reported, 10)
    request_id = json.loads(firmware["payload"])["requestId"]
    job = await db.fetchrow("SELECT * FROM ocpp.jobs WHERE command_id = $1", firmware["id"])
    assert (job["kind"], job["request_id"], job["status"]) == ("firmware", request_id, "Installed")
    assert [r["status"] for r in await db.fetch(
        "SELECT status FROM ocpp.job_status_history WHERE kind = 'firmware' AND job_id = $1 ORDER BY id",
        job["id"])] == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert await db.fetchval("SELECT firmware_status FROM ocpp.charge_points WHERE id = 'CP-201'") == "Installed"

    # As from psql: CALL waits for the answer and returns it.
    message = {"message": {"id": 5, "priority": "InFront", "message": {"format": "UTF8", "content": "Back at noon"}}}
    row = await db.fetchrow("CALL ocpp.call('CP-201', 'SetDisplayMessage', $1::jsonb, 10)", json.dumps(message))
    assert json.loads(row["response"]) == {"status": "Accepted"}
    assert tuple(await db.fetchrow("SELECT message_id, priority, content, source FROM ocpp.display_messages")) == (
        5, "InFront", "Back at noon", "set")

    transfer = await completed(db, events, await db.fetchval(
        "SELECT ocpp.data_transfer('CP-201', 'com.example', 'ping', json_data => '{\"n\": 1}')"))
    assert transfer["status"] == "accepted"
    assert tuple(await db.fetchrow(
        "SELECT direction, vendor_id, data, status, response_data FROM ocpp.data_transfers")) == (
        "out", "com.example", '{"n": 1}', "Accepted", '{"echo": {"n": 1}}')

    # What the station received is what the helpers built, in order.
    assert [action for action, _ in station.received] == [
        "SetChargingProfile", "GetLog", "UpdateFirmware", "SetDisplayMessage", "DataTransfer"]
    assert station.received[0][1]["evse_id"] == 1


async def test_a_station_s_data_transfer_to_an_unknown_vendor_is_a_status(db, station):
    answer = await station.call(call.DataTransfer(vendor_id="com.nobody", message_id="hello"))
    assert answer.status == "UnknownVendorId"
    await db.execute("SELECT ocpp.add_data_transfer_vendor('com.example')")
    answer = await station.call(call.DataTransfer(vendor_id="com.example", data={"n": 2}))
    assert answer.status == "Accepted"
    assert [tuple(r) for r in await db.fetch(
        "SELECT direction, vendor_id, data, status FROM ocpp.data_transfers ORDER BY id")] == [
        ("in", "com.nobody", None, "UnknownVendorId"), ("in", "com.example", '{"n": 2}', "Accepted")]
