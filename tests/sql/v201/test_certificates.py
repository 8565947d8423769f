"""OCPP 2.0.1 certificates at the SQL layer: the station's SignCertificate, Get15118EVCertificate and
GetCertificateStatus, and our InstallCertificate, CertificateSigned, GetInstalledCertificateIds and
DeleteCertificate, kept in the same tables as OCPP 1.6.

As the proxy would, the test claims each command, checks its payload against the 2.0.1 request
schema and answers with a CALLRESULT that passes the response schema; each station CALL is valid
against its request schema before ``ocpp.parse`` sees it.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

pytestmark = pytest.mark.rollback




def hash_data(serial: str, algorithm: str = "SHA256") -> dict[str, str]:
    size = {"SHA256": 64, "SHA384": 96, "SHA512": 128}[algorithm]
    return {"hashAlgorithm": algorithm, "issuerNameHash": ("a1" * 64)[:size], "issuerKeyHash": ("b2" * 64)[:size],
            "serialNumber": serial}


INSTALLED = ("SELECT certificate_type, source, serial_number, parent_id IS NOT NULL AS child "
             "FROM ocpp.installed_certificates ORDER BY id")


async def rows(db: asyncpg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetch(sql, *args)]


# -- SignCertificate and CertificateSigned (A02/A03) ------------------------------------------------

async def test_a_signed_certificate_answers_the_csr_of_its_type(db, station, parse):
    answer = await station.send(parse, "SignCertificate",
                                {"csr": "-----BEGIN CERTIFICATE REQUEST----- v2g", "certificateType": "V2GCertificate"})
    assert answer == {"status": "Accepted"}
    await station.send(parse, "SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST----- any"})
    requests = "SELECT certificate_type, status FROM ocpp.certificate_signing_requests ORDER BY id"
    assert await rows(db, requests) == [{"certificate_type": "V2GCertificate", "status": "Received"},
                                        {"certificate_type": None, "status": "Received"}]

    # TC_A_11: by default the type of the newest CSR is echoed (A02.FR.14); here it has none.
    signed = await station.run("SELECT ocpp.certificate_signed('CP-201', '-----BEGIN CERTIFICATE----- cs')",
                               response={"status": "Accepted"})
    assert signed["payload"] == {"certificateChain": "-----BEGIN CERTIFICATE----- cs"}
    assert await rows(db, requests) == [{"certificate_type": "V2GCertificate", "status": "Received"},
                                        {"certificate_type": None, "status": "Signed"}]
    v2g = await station.run("SELECT ocpp.certificate_signed('CP-201', '-----BEGIN CERTIFICATE----- v2g')",
                            response={"status": "Accepted"})
    assert v2g["payload"]["certificateType"] == "V2GCertificate"
    assert [r["status"] for r in await db.fetch(requests)] == ["Signed", "Signed"]
    # TC_A_14: refused, nothing changes.
    await station.run("SELECT ocpp.certificate_signed('CP-201', 'PEM', certificate_type => 'V2GCertificate')",
                      response={"status": "Rejected"})
    assert await rows(db, "SELECT certificate_type, source, certificate FROM ocpp.installed_certificates "
                          "ORDER BY id") == [
        {"certificate_type": "ChargingStationCertificate", "source": "signed",
         "certificate": "-----BEGIN CERTIFICATE----- cs"},
        {"certificate_type": "V2GCertificate", "source": "signed", "certificate": "-----BEGIN CERTIFICATE----- v2g"}]
    # A new one replaces the signed certificate of its type only.
    await station.run("SELECT ocpp.certificate_signed('CP-201', 'PEM 2', certificate_type => 'V2GCertificate')",
                      response={"status": "Accepted"})
    assert [r["certificate"] for r in await db.fetch(
        "SELECT certificate FROM ocpp.installed_certificates ORDER BY id")] == ["-----BEGIN CERTIFICATE----- cs",
                                                                                "PEM 2"]


# -- InstallCertificate, GetInstalledCertificateIds, DeleteCertificate (M03-M05) ---------------------

async def test_installed_reported_and_deleted_certificates(db, station):
    # TC_M_01 / TC_M_05
    installed = await station.run("SELECT ocpp.install_certificate('CP-201', 'CSMSRootCertificate', 'PEM csms')",
                                  response={"status": "Accepted"})
    assert installed["payload"] == {"certificateType": "CSMSRootCertificate", "certificate": "PEM csms"}
    await station.run("SELECT ocpp.install_certificate('CP-201', 'V2GRootCertificate', 'PEM v2g')",
                      response={"status": "Failed"})
    assert await rows(db, INSTALLED) == [
        {"certificate_type": "CSMSRootCertificate", "source": "installed", "serial_number": None, "child": False}]

    # TC_M_18: every type, a V2G chain with its sub-CAs.
    listed = await station.run("SELECT ocpp.get_installed_certificate_ids('CP-201')", response={
        "status": "Accepted", "certificateHashDataChain": [
            {"certificateType": "CSMSRootCertificate", "certificateHashData": hash_data("01", "SHA384")},
            {"certificateType": "ManufacturerRootCertificate", "certificateHashData": hash_data("02")},
            {"certificateType": "V2GCertificateChain", "certificateHashData": hash_data("03", "SHA512"),
             "childCertificateHashData": [hash_data("04", "SHA512"), hash_data("05", "SHA512")]}]})
    assert listed["payload"] == {}
    assert await rows(db, INSTALLED) == [
        {"certificate_type": "CSMSRootCertificate", "source": "installed", "serial_number": None, "child": False},
        {"certificate_type": "CSMSRootCertificate", "source": "reported", "serial_number": "01", "child": False},
        {"certificate_type": "ManufacturerRootCertificate", "source": "reported", "serial_number": "02",
         "child": False},
        {"certificate_type": "V2GCertificateChain", "source": "reported", "serial_number": "03", "child": False},
        {"certificate_type": "V2GCertificateChain", "source": "reported", "serial_number": "04", "child": True},
        {"certificate_type": "V2GCertificateChain", "source": "reported", "serial_number": "05", "child": True}]
    leaf = await db.fetchval("SELECT id FROM ocpp.installed_certificates WHERE serial_number = '03'")
    assert {r["parent_id"] for r in await db.fetch(
        "SELECT parent_id FROM ocpp.installed_certificates WHERE serial_number IN ('04', '05')")} == {leaf}

    # TC_M_20: delete with exactly what the station reported (SHA384 here), hashes in either case.
    reported = hash_data("01", "SHA384")
    deleted = await station.run(
        "SELECT ocpp.delete_certificate('CP-201', $1, $2, $3, $4)", reported["hashAlgorithm"],
        reported["issuerNameHash"].upper(), reported["issuerKeyHash"], reported["serialNumber"],
        response={"status": "Accepted"})
    assert deleted["payload"]["certificateHashData"]["hashAlgorithm"] == "SHA384"
    # TC_M_21: Failed keeps it.
    await station.run("SELECT ocpp.delete_certificate('CP-201', 'SHA256', $1, $2, '02')",
                      hash_data("02")["issuerNameHash"], hash_data("02")["issuerKeyHash"],
                      response={"status": "Failed"})
    assert [r["serial_number"] for r in await db.fetch(INSTALLED)] == [None, "02", "03", "04", "05"]

    # TC_M_19: none of this type; the others stay.
    none = await station.run("SELECT ocpp.get_installed_certificate_ids('CP-201', certificate_types => $1)",
                             ["ManufacturerRootCertificate"], response={"status": "NotFound"})
    assert none["payload"] == {"certificateType": ["ManufacturerRootCertificate"]}
    assert [r["serial_number"] for r in await db.fetch(INSTALLED)] == [None, "03", "04", "05"]
    # Nothing at all: only what we signed would stay.
    await station.run("SELECT ocpp.get_installed_certificate_ids('CP-201')", response={"status": "NotFound"})
    assert await db.fetch(INSTALLED) == []


@pytest.mark.parametrize(("call", "hint"), [
    ("ocpp.install_certificate('CP-201', 'CentralSystemRootCertificate', 'PEM')", "calls it CSMSRootCertificate"),
    ("ocpp.certificate_signed('CP-201', 'PEM', certificate_type => 'ChargePointCertificate')",
     "calls it ChargingStationCertificate"),
    ("ocpp.get_installed_certificate_ids('CP-201', certificate_types => ARRAY['CentralSystemRootCertificate'])",
     "calls it CSMSRootCertificate"),
    ("ocpp.install_certificate('CP-16', 'CSMSRootCertificate', 'PEM')", "calls it CentralSystemRootCertificate"),
    ("ocpp.certificate_signed('CP-16', 'PEM', certificate_type => 'V2GCertificate')", "leave certificate_type out"),
    ("ocpp.get_installed_certificate_ids('CP-16')", "certificate_type =>"),
])
async def test_helpers_refuse_the_other_version_s_values(db, station, fails, call, hint):
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    async with fails(asyncpg.InvalidParameterValueError) as caught:
        await db.execute(f"SELECT {call}")
    assert hint in caught.value.hint


# -- Get15118EVCertificate (M01/M02) -------------------------------------------------------------

async def test_ev_contract_certificates_are_kept_and_answered_failed(db, station, parse):
    request = {"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install", "exiRequest": "gAGCAwQ="}
    answer = await station.send(parse, "Get15118EVCertificate", request)
    assert answer["status"] == "Failed" and answer["exiResponse"] == ""
    assert answer["statusInfo"]["reasonCode"] == "UnsupportedRequest"
    row = await db.fetchrow("SELECT * FROM ocpp.ev_certificate_requests")
    assert (row["iso15118_schema_version"], row["action"], row["exi_request"], row["status"]) == (
        "urn:iso:15118:2:2013:MsgDef", "Install", "gAGCAwQ=", "Failed")


# -- GetCertificateStatus (M06) ----------------------------------------------------------------------

async def test_certificate_status_is_answered_from_the_known_ocsp_responses(db, station, parse):
    asked = {**hash_data("0A"), "responderURL": "http://ocsp.example"}
    failed = await station.send(parse, "GetCertificateStatus", {"ocspRequestData": asked})
    assert failed["status"] == "Failed" and "ocspResult" not in failed
    assert failed["statusInfo"]["reasonCode"] == "NotFound"

    # An integration asked the responder; the hashes may come in another case.
    set_status = "SELECT ocpp.set_certificate_status('SHA256', $1, $2, '0a', $3, $4, $5::text::timestamptz)"
    await db.execute(set_status, asked["issuerNameHash"].upper(), asked["issuerKeyHash"], "Good", "MIIB", None)
    accepted = await station.send(parse, "GetCertificateStatus", {"ocspRequestData": asked})
    assert accepted == {"status": "Accepted", "ocspResult": "MIIB"}
    # A revocation replaces it; an expired response is no answer; a status without a response neither.
    await db.execute(set_status, asked["issuerNameHash"], asked["issuerKeyHash"], "Revoked", "MIIC",
                     "2001-01-01T00:00:00Z")
    assert (await station.send(parse, "GetCertificateStatus", {"ocspRequestData": asked}))["status"] == "Failed"
    await db.execute(set_status, asked["issuerNameHash"], asked["issuerKeyHash"], "Revoked", None, None)
    answer = await station.send(parse, "GetCertificateStatus", {"ocspRequestData": asked})
    assert answer["status"] == "Failed" and "Revoked" in answer["statusInfo"]["additionalInfo"]
    assert await db.fetchval("SELECT count(*) FROM ocpp.certificate_statuses") == 1
    assert [tuple(r) for r in await db.fetch(
        "SELECT responder_url, serial_number, status FROM ocpp.certificate_status_requests ORDER BY id")] == [
        ("http://ocsp.example", "0A", "Failed"), ("http://ocsp.example", "0A", "Accepted"),
        ("http://ocsp.example", "0A", "Failed"), ("http://ocsp.example", "0A", "Failed")]


async def test_set_certificate_status_checks_its_arguments(db, fails):
    async with fails(asyncpg.InvalidParameterValueError, match="Good, Revoked or Unknown"):
        await db.execute("SELECT ocpp.set_certificate_status('SHA256', 'aa', 'bb', '01', 'Fine')")
    async with fails(asyncpg.InvalidParameterValueError, match="SHA256, SHA384 or SHA512"):
        await db.execute("SELECT ocpp.set_certificate_status('MD5', 'aa', 'bb', '01', 'Good')")
