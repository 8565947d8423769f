"""A full charging session by a charger client this project did not write."""

from datetime import UTC, datetime

from ocpp.v16 import call
from ocpp.v16.datatypes import MeterValue, SampledValue


def now() -> str:
    return datetime.now(UTC).isoformat()


async def test_full_session_is_recorded(db, charger):
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    await db.execute("SELECT ocpp.add_id_tag('TAG-1')")
    async with charger("CP-1") as cp:
        boot = await cp.call(call.BootNotification(
            charge_point_vendor="Acme", charge_point_model="Volt", firmware_version="1.2.3",
            charge_point_serial_number="SN-9"))
        assert boot.status == "Accepted"
        assert boot.interval == 300

        status = await cp.call(call.StatusNotification(
            connector_id=1, error_code="NoError", status="Preparing", timestamp=now()), suppress=False)
        assert status is not None
        auth = await cp.call(call.Authorize(id_tag="TAG-1"))
        assert auth.id_tag_info["status"] == "Accepted"

        start = await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000,
                                                    timestamp=now()))
        assert start.id_tag_info["status"] == "Accepted"
        transaction_id = start.transaction_id

        await cp.call(suppress=False, payload=call.MeterValues(
            connector_id=1, transaction_id=transaction_id, meter_value=[
            MeterValue(timestamp=now(), sampled_value=[
                SampledValue(value="1.5", measurand="Energy.Active.Import.Register", unit="kWh"),
                SampledValue(value="7.2", measurand="Power.Active.Import", unit="kW"),
            ])]))
        stop = await cp.call(call.StopTransaction(meter_stop=4500, timestamp=now(),
                                                  transaction_id=transaction_id, id_tag="TAG-1",
                                                  reason="EVDisconnected"))
        assert stop.id_tag_info["status"] == "Accepted"

    point = await db.fetchrow("SELECT * FROM ocpp.charge_points WHERE id = 'CP-1'")
    assert (point["vendor"], point["model"], point["firmware_version"]) == ("Acme", "Volt", "1.2.3")
    tx = await db.fetchrow("SELECT * FROM ocpp.transactions WHERE id = $1", transaction_id)
    assert tx["energy_wh"] == 3500
    assert tx["stop_reason"] == "EVDisconnected"
    assert tx["stopped_at"] is not None
    values = await db.fetch(
        "SELECT measurand, normalized_value, normalized_unit FROM ocpp.meter_values "
        "WHERE transaction_id = $1 ORDER BY id", transaction_id)
    assert [(v["measurand"], v["normalized_value"], v["normalized_unit"]) for v in values] == [
        ("Energy.Active.Import.Register", 1500.0, "Wh"), ("Power.Active.Import", 7200.0, "W")]
    journal = await db.fetch(
        "SELECT direction, message_type, action FROM ocpp.message_log WHERE charge_point_id = 'CP-1' ORDER BY id")
    actions = ["BootNotification", "StatusNotification", "Authorize", "StartTransaction", "MeterValues",
               "StopTransaction"]
    assert [(r["direction"], r["message_type"], r["action"]) for r in journal] == [
        row for action in actions for row in (("in", 2, action), ("out", 3, action))]
    connector = await db.fetchrow("SELECT status FROM ocpp.connectors WHERE charge_point_id = 'CP-1'")
    assert connector["status"] == "Preparing"


async def test_connection_state_follows_the_socket(db, charger, central, events):
    await db.execute("SELECT ocpp.add_charge_point('CP-2')")
    async with charger("CP-2") as cp:
        await cp.call(call.Heartbeat())
        row = await db.fetchrow("SELECT connected, node_id FROM ocpp.charge_points WHERE id = 'CP-2'")
        assert row["connected"] and row["node_id"] == "test-node"
    # The server records the disconnection after the close handshake: await its event.
    await events.wait(event="disconnected", charge_point_id="CP-2")
    assert not await db.fetchval("SELECT connected FROM ocpp.charge_points WHERE id = 'CP-2'")
