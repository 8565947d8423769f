"""OCPP 2.0.1 authorization (block C), local lists (D) and reservations (H), by the rules 1.6 uses.

Every CALL goes through ``ocpp.parse(..., '2.0.1')`` with a payload checked
against the official 2.0.1 request schema, every answer against the response
schema; commands are claimed and answered as the proxy would, both checked.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pgcsms.proxy.ocppj import Validator

pytestmark = pytest.mark.rollback

V201 = Validator("2.0.1")
NODE = "node-a"
CS = "CS-1"
_ids = iter(range(10**9))
# The action each helper queues for a 2.0.1 station.
HELPER_ACTIONS = {
    "ocpp.clear_cache": "ClearCache",
    "ocpp.send_local_list": "SendLocalList",
    "ocpp.get_local_list_version": "GetLocalListVersion",
    "ocpp.reserve_now": "ReserveNow",
    "ocpp.cancel_reservation": "CancelReservation",
}


@pytest.fixture
async def station(db: asyncpg.Connection) -> str:
    """CS-1, Accepted, connected over OCPP 2.0.1."""
    await db.execute("SELECT ocpp.add_charge_point($1)", CS)
    assert (await db.fetchrow("SELECT accepted FROM ocpp.connect($1, $2, NULL, '2.0.1')", CS, NODE))["accepted"]
    return CS


@pytest.fixture
def call(db: asyncpg.Connection, station: str):
    """``await call(action, payload)``: the CALLRESULT payload, both ways schema-checked."""

    async def call(action: str, payload: dict[str, Any], *, unique_id: str | None = None) -> dict[str, Any]:
        V201.check_request(action, payload)
        row = await db.fetchrow(
            "SELECT result::text, error_code, error_description FROM ocpp.parse($1, $2, $3, $4::jsonb, '2.0.1')",
            CS, unique_id or f"u-{next(_ids)}", action, json.dumps(payload))
        assert row["error_code"] is None, dict(row)
        result = json.loads(row["result"])
        V201.check_response(action, result)
        return result

    return call


@pytest.fixture
def authorize(call):
    """``await authorize(id_token, type)``: the idTokenInfo of an AuthorizeRequest."""

    async def authorize(id_token: str, token_type: str = "ISO14443", **extra: Any) -> dict[str, Any]:
        return (await call("Authorize", {"idToken": {"idToken": id_token, "type": token_type}, **extra}))[
            "idTokenInfo"]

    return authorize


class Station:
    """Plays CS-1's proxy for commands: claims, checks against the 2.0.1 schema, answers."""

    def __init__(self, db: asyncpg.Connection) -> None:
        self.db = db

    async def queue(self, sql: str, *args: Any) -> tuple[int, dict[str, Any]]:
        command_id = await self.db.fetchval(sql, *args)
        epoch = await self.db.fetchval("SELECT connection_epoch FROM pgcsms.charge_points WHERE id = $1", CS)
        row = await self.db.fetchrow("SELECT * FROM ocpp.next_command($1, $2, $3)", CS, NODE, epoch)
        assert row is not None and row["command_id"] == command_id
        assert row["action"] == HELPER_ACTIONS[re.search(r"ocpp\.\w+", sql).group()]
        payload = json.loads(row["payload"])
        V201.check_request(row["action"], payload)
        return command_id, payload

    async def answer(self, command_id: int, response: dict[str, Any]) -> str:
        action = await self.db.fetchval("SELECT action FROM ocpp.commands WHERE id = $1", command_id)
        V201.check_response(action, response)
        assert await self.db.fetchval("SELECT ocpp.complete_command($1, $2, $3::jsonb, NULL, NULL, $4)",
                                      CS, str(command_id), json.dumps(response), NODE)
        assert await self.db.fetch("SELECT * FROM ocpp.anomalies WHERE kind = 'command_effect_failed'") == []
        return await self.db.fetchval("SELECT status FROM ocpp.commands WHERE id = $1", command_id)

    async def run(self, sql: str, *args: Any, response: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        command_id, payload = await self.queue(sql, *args)
        return await self.answer(command_id, response), payload


@pytest.fixture
def commands(db: asyncpg.Connection, station: str) -> Station:
    return Station(db)


# -- Authorize -------------------------------------------------------------------------------

async def test_accepted_with_its_group(db, authorize):
    """TC_C_39: the group is the tag's parent, as an IdToken of that tag's type."""
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4', parent_id_tag => 'FAMILY')")
    assert await authorize("04A2B3C4") == {"status": "Accepted",
                                           "groupIdToken": {"idToken": "FAMILY", "type": "Central"}}
    await db.execute("SELECT ocpp.add_id_tag('FAMILY', id_token_type => 'Local')")
    assert (await authorize("04A2B3C4"))["groupIdToken"] == {"idToken": "FAMILY", "type": "Local"}


async def test_an_unknown_token_is_unknown(authorize):
    """TC_C_02."""
    assert await authorize("DEADBEEF") == {"status": "Unknown"}


@pytest.mark.parametrize("status", ["Blocked", "Expired", "Invalid"])
async def test_the_status_of_the_tag(db, authorize, status):
    """TC_C_06, TC_C_07."""
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4', $1, '2099-01-02T03:04:05.678Z')", status)
    assert await authorize("04A2B3C4") == {"status": status, "cacheExpiryDateTime": "2099-01-02T03:04:05.678Z"}


async def test_expired_by_its_expiry(db, authorize):
    expired = datetime.now(UTC) - timedelta(days=1)
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4', expires_at => $1)", expired)
    assert (await authorize("04A2B3C4"))["status"] == "Expired"


async def test_tokens_match_case_insensitively(db, authorize):
    await db.execute("SELECT ocpp.add_id_tag('04a2b3c4')")
    assert (await authorize("04A2B3C4"))["status"] == "Accepted"


@pytest.mark.parametrize(("token", "token_type"), [
    ("04A2B3", "ISO14443"), ("04A2B3C4D", "ISO14443"), ("04A2B3CG", "ISO14443"), ("04A2B3C4D5E6F7A8", "ISO14443"),
    ("04A2B3C4", "ISO15693"), ("X", "eMAID"), ("NL-TNM-C1234", "eMAID"), ("00:1A:2B:3C:4D", "MacAddress"),
    ("nobody", "NoAuthorization"), ("", "ISO14443"), ("", "Central"),
])
async def test_an_unknown_token_not_in_the_form_of_its_type_is_invalid(db, authorize, token, token_type):
    assert await authorize(token, token_type) == {"status": "Invalid"}


@pytest.mark.parametrize(("token", "token_type"), [
    ("VALIDTOKEN1", "ISO14443"), ("04A2B3C4D5E6F7A8B9C0", "ISO14443"), ("04:A2:B3:C4", "ISO14443"),
    ("DE*ABC*C12345678*1", "eMAID"), ("04A2B3C4", "ISO15693"),
])
async def test_the_tags_come_before_the_form_of_a_type(db, authorize, token, token_type):
    """F2: a token the operator registered is answered by its tag, whatever its form (TC_C_08 with the lab's
    valid_idtoken, a 10-byte UID, an EMI3 eMAID)."""
    assert (await authorize(token, token_type))["status"] in ("Invalid", "Unknown")
    await db.execute("SELECT ocpp.add_id_tag($1)", token)  # a tag of any type
    assert await authorize(token, token_type) == {"status": "Accepted"}
    await db.execute("SELECT ocpp.add_id_tag($1, id_token_type => $2)", token, token_type)  # of this very type
    assert await authorize(token, token_type) == {"status": "Accepted"}
    await db.execute("SELECT ocpp.add_id_tag($1, 'Blocked', id_token_type => $2)", token, token_type)
    assert await authorize(token, token_type) == {"status": "Blocked"}


async def test_a_ten_byte_uid_is_an_iso14443_uid(db, authorize):
    """F2: triple-size ISO 14443 UIDs (20 hex digits) are Unknown until registered, and then typed ISO14443."""
    assert await authorize("04A2B3C4D5E6F7A8B9C0") == {"status": "Unknown"}
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4D5E6F7A8B9C0')")
    assert await db.fetchval("SELECT ocpp._id_token_type_for('04A2B3C4D5E6F7A8B9C0')") == "ISO14443"


async def test_no_authorization_with_a_token_is_invalid_whatever_the_tags(db, authorize):
    await db.execute("SELECT ocpp.add_id_tag('nobody')")
    assert await authorize("nobody", "NoAuthorization") == {"status": "Invalid"}


@pytest.mark.parametrize(("token", "token_type"), [
    ("04A2B3C4", "ISO14443"), ("04A2B3C4D5E6F7", "ISO14443"), ("E004010203040506", "ISO15693"),
    ("NL-TNM-C12345678-X", "eMAID"), ("NLTNMC123456789", "eMAID"), ("00:1A:2B:3C:4D:5E", "MacAddress"),
    ("001a2b3c4d5e", "MacAddress"), ("123456", "KeyCode"), ("LOCAL-7", "Local"), ("app-user-7", "Central"),
])
async def test_tokens_of_every_type(db, authorize, token, token_type):
    await db.execute("SELECT ocpp.add_id_tag($1, id_token_type => $2)", token, token_type)
    assert (await authorize(token, token_type))["status"] == "Accepted"


async def test_a_typed_tag_matches_its_type_only_and_a_tag_without_one_any(db, authorize, station):
    await db.execute("SELECT ocpp.add_id_tag('LOCAL-7', id_token_type => 'Local')")
    assert (await authorize("LOCAL-7", "Local"))["status"] == "Accepted"
    assert (await authorize("LOCAL-7", "Central"))["status"] == "Unknown"
    await db.execute("SELECT ocpp.add_id_tag('ANY-7')")
    assert [(await authorize("ANY-7", t))["status"] for t in ("Local", "Central", "KeyCode")] == ["Accepted"] * 3
    # A 1.6 charger presents no type: every tag is its.
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    reply = await db.fetchval("SELECT result FROM ocpp.parse('CP-16', 'a-1', 'Authorize', $1::jsonb)",
                              json.dumps({"idTag": "local-7"}))
    assert json.loads(reply) == {"idTagInfo": {"status": "Accepted"}}


async def test_an_unknown_key_code_is_invalid(authorize):
    """C04.FR.01: a code that opens nothing is a wrong code."""
    assert await authorize("0000", "KeyCode") == {"status": "Invalid"}


async def test_no_authorization_is_accepted(authorize):
    """C02: nothing presented, the station does not authorize."""
    assert await authorize("", "NoAuthorization") == {"status": "Accepted"}


async def test_a_token_already_charging_is_accepted(db, authorize, call):
    """F1, TC_C_48 step 1: a 2.0.1 Authorize never answers ConcurrentTx; the station also asks for the token
    that is to stop (C01, E06), and a transaction left open by an earlier test case must not refuse it."""
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4', parent_id_tag => 'MPG', id_token_type => 'ISO14443')")
    await call("TransactionEvent", {
        "eventType": "Started", "timestamp": "2024-05-01T12:00:00Z", "triggerReason": "Authorized", "seqNo": 0,
        "transactionInfo": {"transactionId": "TX-1"}, "idToken": {"idToken": "04A2B3C4", "type": "ISO14443"},
        "evse": {"id": 1}})
    assert await authorize("04A2B3C4") == {"status": "Accepted",
                                           "groupIdToken": {"idToken": "MPG", "type": "Central"}}
    # Even when the operator wants ConcurrentTx for transactions (ocpp.settings v201_concurrent_tx).
    await db.execute("SELECT ocpp.set_setting('v201_concurrent_tx', 'on')")
    assert (await authorize("04a2b3c4"))["status"] == "Accepted"


async def test_every_evse_reserved_for_others(db, authorize, commands):
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4'), ocpp.add_id_tag('0A0B0C0D')")
    await db.execute("INSERT INTO pgcsms.connectors (charge_point_id, evse_id, connector_id, status) "
                     "VALUES ($1, 1, 1, 'Available'), ($1, 1, 2, 'Available'), ($1, 2, 1, 'Available')", CS)
    status, _ = await commands.run("SELECT ocpp.reserve_now($1, id_tag => '04A2B3C4', expires_at => now() + "
                                   "interval '1 hour', evse_id => 1)", CS, response={"status": "Accepted"})
    assert status == "accepted"
    assert (await authorize("0A0B0C0D"))["status"] == "Accepted"  # EVSE 2 is free
    await commands.run("SELECT ocpp.reserve_now($1, id_tag => '04A2B3C4', expires_at => now() + interval '1 hour', "
                       "evse_id => 2)", CS, response={"status": "Accepted"})
    assert (await authorize("0A0B0C0D"))["status"] == "Invalid"
    assert (await authorize("04A2B3C4"))["status"] == "Accepted"


async def test_a_contract_certificate_is_kept(db, authorize):
    """C07: Plug & Charge. Its certificate and OCSP data are kept for a validator; no certificateStatus."""
    await db.execute("SELECT ocpp.add_id_tag('NLTNMC123456789', id_token_type => 'eMAID')")
    ocsp = [{"hashAlgorithm": "SHA256", "issuerNameHash": "aa", "issuerKeyHash": "bb", "serialNumber": "01",
             "responderURL": "http://ocsp.example.com"}]
    info = await authorize("NLTNMC123456789", "eMAID", certificate="-----BEGIN CERTIFICATE-----",
                           iso15118CertificateHashData=ocsp)
    assert info == {"status": "Accepted"}
    row = await db.fetchrow("SELECT * FROM ocpp.contract_certificates")
    assert (row["charge_point_id"], row["id_token"], row["id_token_type"], row["certificate"],
            json.loads(row["ocsp_request_data"])) == (CS, "NLTNMC123456789", "eMAID", "-----BEGIN CERTIFICATE-----",
                                                      ocsp)


async def test_an_authorize_without_certificate_keeps_none(db, authorize):
    await authorize("04A2B3C4")
    assert await db.fetchval("SELECT count(*) FROM ocpp.contract_certificates") == 0


# -- id tags --------------------------------------------------------------------------------------

async def test_add_id_tag_with_a_type(db):
    await db.execute("SELECT ocpp.add_id_tag($1, id_token_type => 'Central', parent_id_tag => $2)", "c" * 36, "g" * 36)
    row = await db.fetchrow("SELECT * FROM ocpp.id_tags")
    assert (row["id_tag"], row["id_token_type"], row["parent_id_tag"]) == ("c" * 36, "Central", "g" * 36)


@pytest.mark.parametrize(("tag", "token_type", "message"), [
    ("c" * 256, "Central", "1 to 255 characters"),
    ("c" * 21, None, "1 to 20 characters"),
    ("04A2B3C4", "RFID", "IdTokenEnumType"),
    ("", "NoAuthorization", "IdTokenEnumType"),
])
async def test_add_id_tag_refuses_what_no_station_could_present(db, fails, tag, token_type, message):
    async with fails(asyncpg.InvalidParameterValueError, match=message):
        await db.execute("SELECT ocpp.add_id_tag($1, id_token_type => $2)", tag, token_type)


async def test_add_id_tag_takes_a_token_of_an_unusual_form_with_a_notice(db):
    """F2: the operator knows the station's tokens better than a form; a typo gets a notice, not a refusal."""
    notices: asyncio.Queue[str] = asyncio.Queue()

    def listener(_: Any, message: Any) -> None:
        notices.put_nowait(message.message)

    db.add_log_listener(listener)
    try:
        await db.execute("SELECT ocpp.add_id_tag('VALIDTOKEN1', id_token_type => 'ISO14443')")
        notice = await asyncio.wait_for(notices.get(), 5)
    finally:
        db.remove_log_listener(listener)
    assert await db.fetchval("SELECT id_token_type FROM ocpp.id_tags WHERE id_tag = 'VALIDTOKEN1'") == "ISO14443"
    assert "VALIDTOKEN1" in notice and "ISO14443" in notice


# -- ClearCache -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("answer", "status"), [("Accepted", "accepted"), ("Rejected", "rejected")])
async def test_clear_cache(commands, answer, status):
    """TC_C_37, TC_C_38."""
    assert await commands.run("SELECT ocpp.clear_cache($1)", CS, response={"status": answer}) == (status, {})


# -- local authorization lists --------------------------------------------------------------------------

async def test_local_lists(db, commands):
    """D01: Full and Differential updates, versionNumber, removal without idTokenInfo; GetLocalListVersion."""
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4', parent_id_tag => 'FAMILY')")
    await db.execute("SELECT ocpp.add_id_tag('LOCAL-7', 'Blocked', id_token_type => 'Local')")
    await db.execute("SELECT ocpp.add_id_tag('TAG-1', expires_at => '2099-01-01T00:00:00Z')")
    status, payload = await commands.run("SELECT ocpp.send_local_list($1)", CS, response={"status": "Accepted"})
    assert status == "accepted"
    assert payload == {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": [
        {"idToken": {"idToken": "04A2B3C4", "type": "ISO14443"},
         "idTokenInfo": {"status": "Accepted", "groupIdToken": {"idToken": "FAMILY", "type": "Central"}}},
        {"idToken": {"idToken": "LOCAL-7", "type": "Local"}, "idTokenInfo": {"status": "Blocked"}},
        {"idToken": {"idToken": "TAG-1", "type": "Central"},
         "idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": "2099-01-01T00:00:00.000Z"}}]}
    entries = "SELECT id_tag, id_token_type, id_tag_info->>'status' AS status FROM ocpp.local_list_entries ORDER BY 1"
    assert [tuple(r) for r in await db.fetch(entries)] == [
        ("04A2B3C4", "ISO14443", "Accepted"), ("LOCAL-7", "Local", "Blocked"), ("TAG-1", "Central", "Accepted")]
    assert await db.fetchval("SELECT list_version FROM ocpp.local_lists") == 1

    await db.execute("SELECT ocpp.remove_id_tag('LOCAL-7')")
    await db.execute("SELECT ocpp.add_id_tag('TAG-1', 'Blocked')")
    status, payload = await commands.run("SELECT ocpp.send_local_list($1, 'Differential', ARRAY['local-7', 'TAG-1'])",
                                         CS, response={"status": "Accepted"})
    assert payload == {"versionNumber": 2, "updateType": "Differential", "localAuthorizationList": [
        {"idToken": {"idToken": "local-7", "type": "Local"}},  # gone: removed, with the type it was sent with
        {"idToken": {"idToken": "TAG-1", "type": "Central"}, "idTokenInfo": {"status": "Blocked"}}]}
    assert [tuple(r) for r in await db.fetch(entries)] == [
        ("04A2B3C4", "ISO14443", "Accepted"), ("TAG-1", "Central", "Blocked")]

    status, _ = await commands.run("SELECT ocpp.send_local_list($1, 'Full', ARRAY['04A2B3C4'])", CS,
                                   response={"status": "VersionMismatch"})
    assert status == "rejected"
    assert await db.fetchval("SELECT list_version FROM ocpp.local_lists") == 2

    # A full list of nothing leaves the list out (minItems 1) and empties the station's.
    await db.execute("DELETE FROM pgcsms.id_tags")
    status, payload = await commands.run("SELECT ocpp.send_local_list($1)", CS, response={"status": "Accepted"})
    assert payload == {"versionNumber": 3, "updateType": "Full"}
    assert await db.fetchval("SELECT entries FROM ocpp.local_lists") == 0

    status, payload = await commands.run("SELECT ocpp.get_local_list_version($1)", CS, response={"versionNumber": 9})
    assert (status, payload) == ("completed", {})
    assert await db.fetchval("SELECT list_version FROM ocpp.local_lists") == 9
    await commands.run("SELECT ocpp.get_local_list_version($1)", CS, response={"versionNumber": 0})
    assert await db.fetchval("SELECT list_version FROM ocpp.local_lists") == 0


# -- reservations ------------------------------------------------------------------------------------

async def test_reserve_now_and_cancel(db, commands, fails):
    """H01, H02: ReserveNow for an EVSE with the tag's group; CancelReservation."""
    await db.execute("SELECT ocpp.add_id_tag('04A2B3C4', parent_id_tag => 'FAMILY')")
    expiry = datetime.now(UTC) + timedelta(hours=1)
    command_id, payload = await commands.queue(
        "SELECT ocpp.reserve_now($1, id_tag => '04A2B3C4', expires_at => $2, evse_id => 1)", CS, expiry)
    reservation = await db.fetchrow("SELECT * FROM ocpp.reservations")
    assert payload == {"id": reservation["id"], "expiryDateTime": expiry.isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"), "idToken": {"idToken": "04A2B3C4", "type": "ISO14443"}, "evseId": 1,
        "groupIdToken": {"idToken": "FAMILY", "type": "Central"}}
    assert (reservation["status"], reservation["evse_id"], reservation["id_token_type"], reservation["command_id"]) == (
        "Requested", 1, "ISO14443", command_id)
    assert await commands.answer(command_id, {"status": "Accepted"}) == "accepted"
    assert await db.fetchval("SELECT status FROM ocpp.reservations") == "Accepted"
    status, cancel = await commands.run("SELECT ocpp.cancel_reservation($1, $2)", CS, reservation["id"],
                                        response={"status": "Accepted"})
    assert (status, cancel) == ("accepted", {"reservationId": reservation["id"]})
    assert await db.fetchval("SELECT status FROM ocpp.reservations") == "Cancelled"

    # Any EVSE, a connector type, a token type of our choosing.
    _, payload = await commands.run(
        "SELECT ocpp.reserve_now($1, id_tag => 'APP-7', expires_at => now() + interval '1 hour', "
        "connector_type => 'cType2', id_token_type => 'Central')", CS, response={"status": "Occupied"})
    assert "evseId" not in payload
    assert (payload["connectorType"], payload["idToken"]["type"]) == ("cType2", "Central")
    row = await db.fetchrow("SELECT * FROM ocpp.reservations WHERE id = $1", payload["id"])
    assert (row["status"], row["evse_id"], row["connector_type"]) == ("Occupied", 0, "cType2")

    async with fails(asyncpg.InvalidParameterValueError, match="for an EVSE, not a connector") as caught:
        await db.execute("SELECT ocpp.reserve_now($1, 1, '04A2B3C4', now() + interval '1 hour')", CS)
    assert "evse_id" in caught.value.hint


async def test_reserve_now_of_a_1_6_charger_is_unchanged(db, fails):
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    command_id = await db.fetchval("SELECT ocpp.reserve_now('CP-16', 2, 'TAG', '2999-01-01T00:00:00Z')")
    payload = json.loads(await db.fetchval("SELECT payload FROM ocpp.commands WHERE id = $1", command_id))
    assert payload == {"connectorId": 2, "expiryDate": "2999-01-01T00:00:00.000Z", "idTag": "TAG",
                       "reservationId": payload["reservationId"]}
    async with fails(asyncpg.InvalidParameterValueError, match="are for OCPP 2.0.1 stations") as caught:
        await db.execute("SELECT ocpp.reserve_now('CP-16', 2, 'TAG', now() + interval '1 h', evse_id => 2)")
    assert "connector_id" in caught.value.hint


@pytest.mark.parametrize(("update", "status"), [("Expired", "Expired"), ("Removed", "Removed")])
async def test_the_station_ends_a_reservation(db, call, commands, update, status):
    """H01/TC_H_07: ReservationStatusUpdate."""
    await commands.run("SELECT ocpp.reserve_now($1, id_tag => 'T-1', expires_at => now() + interval '1 hour')", CS,
                       response={"status": "Accepted"})
    reservation = await db.fetchval("SELECT id FROM ocpp.reservations")
    update_payload = {"reservationId": reservation, "reservationUpdateStatus": update}
    assert await call("ReservationStatusUpdate", update_payload) == {}
    assert await db.fetchval("SELECT status FROM ocpp.reservations") == status
    assert await db.fetch("SELECT * FROM ocpp.anomalies") == []


async def test_a_reservation_used_or_cancelled_stays_so(db, call, commands):
    await commands.run("SELECT ocpp.reserve_now($1, id_tag => 'T-1', expires_at => now() + interval '1 hour')", CS,
                       response={"status": "Accepted"})
    reservation = await db.fetchval("SELECT id FROM ocpp.reservations")
    await commands.run("SELECT ocpp.cancel_reservation($1, $2)", CS, reservation, response={"status": "Accepted"})
    await call("ReservationStatusUpdate", {"reservationId": reservation, "reservationUpdateStatus": "Removed"})
    assert await db.fetchval("SELECT status FROM ocpp.reservations") == "Cancelled"


async def test_an_update_of_a_reservation_not_ours_is_flagged(db, call):
    assert await call("ReservationStatusUpdate", {"reservationId": 4242, "reservationUpdateStatus": "Expired"}) == {}
    [row] = await db.fetch("SELECT kind, detail FROM ocpp.anomalies")
    assert (row["kind"], json.loads(row["detail"])) == (
        "unknown_reservation", {"reservation_id": 4242, "reservation_update_status": "Expired"})
