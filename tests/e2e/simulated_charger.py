"""A charger built on the ``ocpp`` library that answers every OCPP 1.6 central-system command."""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

__all__ = ["SimulatedCharger"]


class SimulatedCharger(ChargePoint):  # type: ignore[misc]
    """Answers commands as a well-behaved charger would; records what it received, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.concurrent = 0
        self.max_concurrent = 0
        self.answer_delay = 0.0
        self.hang = False

    async def _record(self, action: str, payload: dict[str, Any]) -> None:
        self.received.append((action, payload))
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            if self.hang:
                await asyncio.Event().wait()
            if self.answer_delay:
                await asyncio.sleep(self.answer_delay)  # a slow charger, not synchronisation
        finally:
            self.concurrent -= 1

    @on(Action.remote_start_transaction)
    async def remote_start(self, **payload: Any) -> Any:
        await self._record("RemoteStartTransaction", payload)
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.remote_stop_transaction)
    async def remote_stop(self, **payload: Any) -> Any:
        await self._record("RemoteStopTransaction", payload)
        return call_result.RemoteStopTransaction(status="Accepted")

    @on(Action.reset)
    async def reset(self, **payload: Any) -> Any:
        await self._record("Reset", payload)
        return call_result.Reset(status="Accepted")

    @on(Action.unlock_connector)
    async def unlock(self, **payload: Any) -> Any:
        await self._record("UnlockConnector", payload)
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    async def change_availability(self, **payload: Any) -> Any:
        await self._record("ChangeAvailability", payload)
        return call_result.ChangeAvailability(status="Scheduled")

    @on(Action.get_configuration)
    async def get_configuration(self, **payload: Any) -> Any:
        await self._record("GetConfiguration", payload)
        return call_result.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                               {"key": "NumberOfConnectors", "readonly": True, "value": "2"}],
            unknown_key=["NoSuchKey"] if "NoSuchKey" in (payload.get("key") or []) else None)

    @on(Action.change_configuration)
    async def change_configuration(self, **payload: Any) -> Any:
        await self._record("ChangeConfiguration", payload)
        return call_result.ChangeConfiguration(status="Accepted")

    @on(Action.clear_cache)
    async def clear_cache(self, **payload: Any) -> Any:
        await self._record("ClearCache", payload)
        return call_result.ClearCache(status="Accepted")

    @on(Action.trigger_message)
    async def trigger_message(self, **payload: Any) -> Any:
        await self._record("TriggerMessage", payload)
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.reserve_now)
    async def reserve_now(self, **payload: Any) -> Any:
        await self._record("ReserveNow", payload)
        return call_result.ReserveNow(status="Accepted")

    @on(Action.cancel_reservation)
    async def cancel_reservation(self, **payload: Any) -> Any:
        await self._record("CancelReservation", payload)
        return call_result.CancelReservation(status="Accepted")

    @on(Action.send_local_list)
    async def send_local_list(self, **payload: Any) -> Any:
        await self._record("SendLocalList", payload)
        return call_result.SendLocalList(status="Accepted")

    @on(Action.get_local_list_version)
    async def get_local_list_version(self, **payload: Any) -> Any:
        await self._record("GetLocalListVersion", payload)
        return call_result.GetLocalListVersion(list_version=7)

    @on(Action.set_charging_profile)
    async def set_charging_profile(self, **payload: Any) -> Any:
        await self._record("SetChargingProfile", payload)
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    async def clear_charging_profile(self, **payload: Any) -> Any:
        await self._record("ClearChargingProfile", payload)
        return call_result.ClearChargingProfile(status="Accepted")

    @on(Action.get_composite_schedule)
    async def get_composite_schedule(self, **payload: Any) -> Any:
        await self._record("GetCompositeSchedule", payload)
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=payload["connector_id"], schedule_start="2026-11-23T10:00:00Z",
            charging_schedule={"chargingRateUnit": "A", "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16.0}]})

    @on(Action.get_diagnostics)
    async def get_diagnostics(self, **payload: Any) -> Any:
        await self._record("GetDiagnostics", payload)
        return call_result.GetDiagnostics(file_name="diag-2026-11-23.tar.gz")

    @on(Action.update_firmware)
    async def update_firmware(self, **payload: Any) -> Any:
        await self._record("UpdateFirmware", payload)
        return call_result.UpdateFirmware()

    @on(Action.data_transfer)
    async def data_transfer(self, **payload: Any) -> Any:
        await self._record("DataTransfer", payload)
        return call_result.DataTransfer(status="Accepted", data="pong")

    @on(Action.certificate_signed)
    async def certificate_signed(self, **payload: Any) -> Any:
        await self._record("CertificateSigned", payload)
        return call_result.CertificateSigned(status="Accepted")

    @on(Action.install_certificate)
    async def install_certificate(self, **payload: Any) -> Any:
        await self._record("InstallCertificate", payload)
        return call_result.InstallCertificate(status="Accepted")

    @on(Action.get_installed_certificate_ids)
    async def get_installed_certificate_ids(self, **payload: Any) -> Any:
        await self._record("GetInstalledCertificateIds", payload)
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=[
            {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64, "issuerKeyHash": "b" * 64,
             "serialNumber": "01"}])

    @on(Action.delete_certificate)
    async def delete_certificate(self, **payload: Any) -> Any:
        await self._record("DeleteCertificate", payload)
        return call_result.DeleteCertificate(status="Accepted")

    @on(Action.get_log)
    async def get_log(self, **payload: Any) -> Any:
        await self._record("GetLog", payload)
        return call_result.GetLog(status="Accepted", filename="log.txt")

    @on(Action.signed_update_firmware)
    async def signed_update_firmware(self, **payload: Any) -> Any:
        await self._record("SignedUpdateFirmware", payload)
        return call_result.SignedUpdateFirmware(status="Accepted")

    @on(Action.extended_trigger_message)
    async def extended_trigger_message(self, **payload: Any) -> Any:
        await self._record("ExtendedTriggerMessage", payload)
        return call_result.ExtendedTriggerMessage(status="Accepted")
