"""OCPP 2.0.1 firmware (L) and log (N01) jobs at the SQL layer: UpdateFirmware, GetLog and PublishFirmware
open jobs keyed by requestId, which FirmwareStatusNotification, LogStatusNotification and
PublishFirmwareStatusNotification bring along, in the same jobs and history as OCPP 1.6.

As the proxy would, the test claims each command, checks its payload against the 2.0.1 request
schema and answers with a CALLRESULT that passes the response schema; each station CALL is valid
against its request schema before ``ocpp.parse`` sees it.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from station201 import NOW

pytestmark = pytest.mark.rollback




async def job(db: asyncpg.Connection, command_id: int) -> dict[str, Any]:
    return dict(await db.fetchrow("SELECT * FROM ocpp.jobs WHERE command_id = $1", command_id))


async def history(db: asyncpg.Connection) -> list[tuple[str, str, int | None, int | None]]:
    return [tuple(r) for r in await db.fetch(
        "SELECT kind, status, request_id, job_id FROM ocpp.job_status_history ORDER BY id")]


# -- UpdateFirmware and FirmwareStatusNotification (L01) ----------------------------------------

UPDATE = ("SELECT ocpp.update_firmware('CP-201', 'https://fw.example/v2.bin', $1::text::timestamptz, "
          "signing_certificate => '-----BEGIN CERTIFICATE-----', signature => 'c2lnbmF0dXJl', request_id => $2)")


async def test_a_firmware_update_follows_its_request_id_to_installed(db, station, parse):
    done = await station.run(UPDATE, NOW, 5, response={"status": "Accepted"})
    assert done["status"] == "accepted"
    assert done["payload"] == {"requestId": 5, "firmware": {
        "location": "https://fw.example/v2.bin", "retrieveDateTime": NOW.replace("Z", ".000Z"),
        "signingCertificate": "-----BEGIN CERTIFICATE-----", "signature": "c2lnbmF0dXJl"}}
    row = await job(db, done["id"])
    assert (row["kind"], row["request_id"], row["location"], row["status"]) == (
        "firmware", 5, "https://fw.example/v2.bin", "Accepted")
    # TC_L_01: the whole flow; the reboot's BootNotification is the provisioning block's.
    for status in ("Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting", "Installed"):
        assert await station.send(parse, "FirmwareStatusNotification", {"status": status, "requestId": 5}) == {}
        assert (await job(db, done["id"]))["status"] == status
    row = await job(db, done["id"])
    assert row["finished_at"] is not None
    assert [h[3] for h in await history(db)] == [row["id"]] * 6
    assert await db.fetchval("SELECT firmware_status FROM ocpp.charge_points WHERE id = 'CP-201'") == "Installed"
    # Triggered with no update going on (TC_F_18): Idle, no requestId, no job.
    await station.send(parse, "FirmwareStatusNotification", {"status": "Idle"})
    assert (await history(db))[-1] == ("firmware", "Idle", None, None)


async def test_a_second_update_cancels_or_is_refused(db, station, parse):
    first = await station.run(UPDATE, NOW, 6, response={"status": "Accepted"})
    await station.send(parse, "FirmwareStatusNotification", {"status": "Downloading", "requestId": 6})
    # TC_L_11: refused, the first goes on.
    refused = await station.run(UPDATE, NOW, 7, response={"status": "Rejected"})
    assert refused["status"] == "rejected"
    assert await db.fetchval("SELECT count(*) FROM ocpp.jobs WHERE command_id = $1", refused["id"]) == 0
    assert (await job(db, first["id"]))["status"] == "Downloading"
    # TC_L_10: AcceptedCanceled, the first is cancelled and the new one runs.
    second = await station.run(UPDATE, NOW, 8, response={"status": "AcceptedCanceled"})
    assert second["status"] == "accepted"
    row = await job(db, first["id"])
    assert row["status"] == "Canceled" and row["finished_at"] is not None
    await station.send(parse, "FirmwareStatusNotification", {"status": "DownloadFailed", "requestId": 8})
    row = await job(db, second["id"])
    assert row["status"] == "DownloadFailed" and row["finished_at"] is not None
    # TC_L_04/05: a certificate the station does not trust.
    for status in ("InvalidCertificate", "RevokedCertificate"):
        assert (await station.run(UPDATE, NOW, 9, response={"status": status}))["status"] == "rejected"
    assert await db.fetchval("SELECT count(*) FROM ocpp.jobs") == 2


async def test_request_ids_are_drawn_when_not_given(db, station):
    one = await station.run("SELECT ocpp.update_firmware('CP-201', 'https://fw.example/a.bin')",
                            response={"status": "Rejected"})
    two = await station.run("SELECT ocpp.update_firmware('CP-201', 'https://fw.example/a.bin')",
                            response={"status": "Rejected"})
    assert isinstance(one["payload"]["requestId"], int)
    assert one["payload"]["requestId"] != two["payload"]["requestId"]


async def test_update_firmware_for_1_6_refuses_the_2_0_1_fields(db, station, fails):
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    async with fails(asyncpg.InvalidParameterValueError, match="signature, signing_certificate given") as caught:
        await db.execute("SELECT ocpp.update_firmware('CP-16', 'https://fw.example/v2.bin', "
                         "signing_certificate => 'PEM', signature => 'c2ln')")
    assert "signed_update_firmware" in caught.value.hint


# -- GetLog and LogStatusNotification (N01) ------------------------------------------------------

GET_LOG = "SELECT ocpp.get_log('CP-201', $1, $2, 'https://logs.example/upload')"


async def test_log_uploads_follow_their_request_id(db, station, parse):
    # TC_N_25
    first = await station.run(GET_LOG, "DiagnosticsLog", 21, response={"status": "Accepted", "filename": "diag.zip"})
    assert first["payload"] == {"logType": "DiagnosticsLog", "requestId": 21,
                                "log": {"remoteLocation": "https://logs.example/upload"}}
    row = await job(db, first["id"])
    assert (row["kind"], row["request_id"], row["file_name"], row["location"]) == (
        "log", 21, "diag.zip", "https://logs.example/upload")
    await station.send(parse, "LogStatusNotification", {"status": "Uploading", "requestId": 21})
    # TC_N_36: a second GetLog cancels the first, which the station reports as AcceptedCanceled.
    second = await station.run(GET_LOG, "SecurityLog", 22, response={"status": "AcceptedCanceled"})
    assert second["status"] == "accepted"
    assert (await job(db, first["id"]))["status"] == "Canceled"
    await station.send(parse, "LogStatusNotification", {"status": "AcceptedCanceled", "requestId": 21})
    await station.send(parse, "LogStatusNotification", {"status": "Uploading", "requestId": 22})
    await station.send(parse, "LogStatusNotification", {"status": "Uploaded", "requestId": 22})
    row = await job(db, second["id"])
    assert row["status"] == "Uploaded" and row["finished_at"] is not None
    first_job, second_job = (await job(db, first["id"]))["id"], row["id"]
    assert await history(db) == [("log", "Uploading", 21, first_job), ("log", "AcceptedCanceled", 21, first_job),
                                 ("log", "Uploading", 22, second_job), ("log", "Uploaded", 22, second_job)]
    # TC_N_34
    refused = await station.run(GET_LOG, "DiagnosticsLog", 23, response={"status": "Rejected"})
    assert refused["status"] == "rejected"
    assert await db.fetchval("SELECT count(*) FROM ocpp.jobs WHERE command_id = $1", refused["id"]) == 0


# -- PublishFirmware, UnpublishFirmware and PublishFirmwareStatusNotification (L03/L04) -------------

async def test_published_firmware_says_where_until_unpublished(db, station, parse):
    checksum = "0123456789abcdef0123456789abcdef"
    published = await station.run(
        "SELECT ocpp.publish_firmware('CP-201', 'https://fw.example/v3.bin', $1, retries => 2)", checksum,
        response={"status": "Accepted"})
    request_id = published["payload"]["requestId"]
    assert published["payload"] == {"location": "https://fw.example/v3.bin", "checksum": checksum,
                                    "requestId": request_id, "retries": 2}
    for status in ("Downloading", "Downloaded", "ChecksumVerified"):
        await station.send(parse, "PublishFirmwareStatusNotification", {"status": status, "requestId": request_id})
    locations = ["http://lc.local/fw/v3.bin", "ftp://lc.local/fw/v3.bin"]
    await station.send(parse, "PublishFirmwareStatusNotification",
                       {"status": "Published", "requestId": request_id, "location": locations})
    row = await job(db, published["id"])
    assert (row["kind"], row["status"], row["checksum"], row["published_locations"]) == (
        "publish_firmware", "Published", checksum, locations)
    assert row["finished_at"] is not None
    assert await db.fetchval("SELECT locations FROM ocpp.job_status_history ORDER BY id DESC LIMIT 1") == locations
    # The station's own firmware is not what a local controller publishes.
    assert await db.fetchval("SELECT firmware_status FROM ocpp.charge_points WHERE id = 'CP-201'") is None

    none = await station.run("SELECT ocpp.unpublish_firmware('CP-201', 'ffffffffffffffffffffffffffffffff')",
                             response={"status": "NoFirmware"})
    assert none["payload"] == {"checksum": "ffffffffffffffffffffffffffffffff"}
    assert (await job(db, published["id"]))["status"] == "Published"
    await station.run("SELECT ocpp.unpublish_firmware('CP-201', $1)", checksum, response={"status": "Unpublished"})
    assert (await job(db, published["id"]))["status"] == "Unpublished"
