"""DataTransfer, job status notifications, SecurityEventNotification, SignCertificate."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

pytestmark = pytest.mark.rollback

# -- DataTransfer -------------------------------------------------------------------


async def data_transfer(parse, cp, **payload) -> str:
    return (await parse(cp, "DataTransfer", payload)).result["status"]


async def test_unknown_vendor(db, parse, cp):
    assert await data_transfer(parse, cp, vendorId="com.nobody", messageId="m", data="x") == "UnknownVendorId"
    row = await db.fetchrow("SELECT * FROM ocpp.data_transfers")
    assert (row["charge_point_id"], row["direction"], row["vendor_id"], row["message_id"], row["data"],
            row["status"]) == (cp, "in", "com.nobody", "m", "x", "UnknownVendorId")


@pytest.mark.parametrize("status", ["Accepted", "Rejected"])
async def test_vendor_status(db, parse, cp, status):
    await db.execute("SELECT ocpp.add_data_transfer_vendor('com.example', $1)", status)
    assert await data_transfer(parse, cp, vendorId="com.example", messageId="anything") == status
    assert await data_transfer(parse, cp, vendorId="com.example") == status


async def test_known_message_ids(db, parse, cp):
    await db.execute("SELECT ocpp.add_data_transfer_vendor('com.example', 'Accepted', ARRAY['ping', 'pong'])")
    assert await data_transfer(parse, cp, vendorId="com.example", messageId="ping") == "Accepted"
    assert await data_transfer(parse, cp, vendorId="com.example", messageId="other") == "UnknownMessageId"
    assert await data_transfer(parse, cp, vendorId="com.example") == "UnknownMessageId"
    rows = await db.fetch("SELECT message_id, status FROM ocpp.data_transfers ORDER BY id")
    assert [(r["message_id"], r["status"]) for r in rows] == [
        ("ping", "Accepted"), ("other", "UnknownMessageId"), (None, "UnknownMessageId")]


async def test_vendor_update_and_validation(db, fails):
    await db.execute("SELECT ocpp.add_data_transfer_vendor('com.example', 'Accepted', ARRAY['a'], 'first')")
    await db.execute("SELECT ocpp.add_data_transfer_vendor('com.example', 'Rejected')")
    row = await db.fetchrow("SELECT * FROM ocpp.data_transfer_vendors")
    assert (row["status"], row["message_ids"], row["description"]) == ("Rejected", None, "first")
    async with fails(asyncpg.InvalidParameterValueError):
        await db.execute("SELECT ocpp.add_data_transfer_vendor('com.example', 'UnknownVendorId')")


# -- job status notifications ------------------------------------------------------

@pytest.mark.parametrize(("action", "kind", "payload", "column"), [
    ("DiagnosticsStatusNotification", "diagnostics", {"status": "Uploaded"}, "diagnostics_status"),
    ("FirmwareStatusNotification", "firmware", {"status": "Installed"}, "firmware_status"),
    ("SignedFirmwareStatusNotification", "signed_firmware", {"status": "InvalidSignature", "requestId": 7},
     "firmware_status"),
    ("LogStatusNotification", "log", {"status": "Uploading", "requestId": 3}, None),
])
async def test_job_status(db, parse, cp, action, kind, payload, column):
    assert (await parse(cp, action, payload)).result == {}
    row = await db.fetchrow("SELECT * FROM ocpp.job_status_history")
    assert (row["charge_point_id"], row["kind"], row["status"], row["request_id"]) == (
        cp, kind, payload["status"], payload.get("requestId"))
    charger = await db.fetchrow("SELECT * FROM ocpp.charge_points WHERE id = $1", cp)
    for name in ("diagnostics_status", "firmware_status"):
        assert charger[name] == (payload["status"] if name == column else None)
        assert (charger[name + "_at"] is not None) is (name == column)


async def test_firmware_status_follows_the_latest(db, parse, cp):
    for state in ("Downloading", "Downloaded", "Installing", "Installed"):
        await parse(cp, "FirmwareStatusNotification", {"status": state})
    assert await db.fetchval("SELECT firmware_status FROM ocpp.charge_points") == "Installed"
    assert await db.fetchval("SELECT array_agg(status ORDER BY id) FROM ocpp.job_status_history") == [
        "Downloading", "Downloaded", "Installing", "Installed"]


# -- security extension --------------------------------------------------------------

@pytest.mark.parametrize(("event", "critical"), [
    ("StartupOfTheDevice", True), ("TamperDetectionActivated", True), ("InvalidMessages", False),
    ("FailedToAuthenticateAtCentralSystem", False), ("SomeVendorEvent", False),
])
async def test_security_event(db, parse, cp, event, critical):
    reply = await parse(cp, "SecurityEventNotification",
                        {"type": event, "timestamp": "2024-05-01T12:00:00+02:00", "techInfo": "details"})
    assert reply.result == {}
    row = await db.fetchrow("SELECT * FROM ocpp.security_events")
    assert (row["charge_point_id"], row["type"], row["critical"], row["tech_info"], row["charger_at"]) == (
        cp, event, critical, "details", datetime(2024, 5, 1, 10, tzinfo=UTC))


async def test_sign_certificate(db, parse, cp):
    csr = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBxyz\n-----END CERTIFICATE REQUEST-----"
    assert (await parse(cp, "SignCertificate", {"csr": csr})).result == {"status": "Accepted"}
    row = await db.fetchrow("SELECT * FROM ocpp.certificate_signing_requests")
    assert (row["charge_point_id"], row["csr"], row["status"]) == (cp, csr, "Received")
