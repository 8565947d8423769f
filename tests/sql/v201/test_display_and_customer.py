"""OCPP 2.0.1 display messages (O) and customer information (N09/N10) at the SQL layer: what each station
shows as far as we know it, and what it reports about a customer.

As the proxy would, the test claims each command, checks its payload against the 2.0.1 request
schema and answers with a CALLRESULT that passes the response schema; each station CALL is valid
against its request schema before ``ocpp.parse`` sees it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import pytest
from station201 import NOW

pytestmark = pytest.mark.rollback




MESSAGES = "SELECT message_id, source, content FROM ocpp.display_messages ORDER BY message_id"


async def messages(db: asyncpg.Connection) -> list[tuple[int, str, str]]:
    return [tuple(r) for r in await db.fetch(MESSAGES)]


def info(message_id: int, content: str, **extra: Any) -> dict[str, Any]:
    return {"id": message_id, "priority": "NormalCycle", "message": {"format": "UTF8", "content": content}, **extra}


# -- SetDisplayMessage, ClearDisplayMessage ------------------------------------------------------

async def test_messages_set_and_cleared(db, station):
    first = await station.run(
        "SELECT ocpp.set_display_message('CP-201', 'Welcome', priority => 'InFront', language => 'en', "
        "start_date_time => $1::text::timestamptz, display => '{\"name\": \"Display\"}')", NOW,
        response={"status": "Accepted"})
    assert first["payload"] == {"message": {
        "id": 1, "priority": "InFront", "startDateTime": NOW.replace("Z", ".000Z"), "display": {"name": "Display"},
        "message": {"format": "UTF8", "language": "en", "content": "Welcome"}}}
    row = await db.fetchrow("SELECT * FROM ocpp.display_messages")
    assert (row["priority"], row["language"], row["start_at"], row["source"], row["command_id"]) == (
        "InFront", "en", datetime.fromisoformat(NOW), "set", first["id"])
    # Ids follow what the station has; a refused message is not on it.
    second = await station.run("SELECT ocpp.set_display_message('CP-201', 'Closed at night')",
                               response={"status": "Accepted"})
    assert second["payload"]["message"]["id"] == 2
    refused = await station.run("SELECT ocpp.set_display_message('CP-201', '<b>x</b>', format => 'HTML')",
                                response={"status": "NotSupportedMessageFormat"})
    assert refused["status"] == "rejected" and refused["payload"]["message"]["id"] == 3
    assert await messages(db) == [(1, "set", "Welcome"), (2, "set", "Closed at night")]

    cleared = await station.run("SELECT ocpp.clear_display_message('CP-201', 1)", response={"status": "Accepted"})
    assert cleared["payload"] == {"id": 1}
    # Unknown: the station had no such message any more either.
    await station.run("SELECT ocpp.clear_display_message('CP-201', 2)", response={"status": "Unknown"})
    assert await messages(db) == []


async def test_a_report_of_every_message_replaces_what_we_knew(db, station, parse):
    for content in ("one", "two", "three"):
        await station.run("SELECT ocpp.set_display_message('CP-201', $1)", content, response={"status": "Accepted"})
    asked = await station.run("SELECT ocpp.get_display_messages('CP-201')", response={"status": "Accepted"})
    request_id = asked["payload"]["requestId"]
    assert asked["payload"] == {"requestId": request_id}
    # Set while the report is under way: not in it, still there.
    await station.run("SELECT ocpp.set_display_message('CP-201', 'four')", response={"status": "Accepted"})
    await station.send(parse, "NotifyDisplayMessages",
                       {"requestId": request_id, "tbc": True, "messageInfo": [info(1, "one"), info(7, "seven")]})
    assert await messages(db) == [(1, "reported", "one"), (2, "set", "two"), (3, "set", "three"), (4, "set", "four"),
                                  (7, "reported", "seven")]
    await station.send(parse, "NotifyDisplayMessages", {"requestId": request_id, "messageInfo": [info(3, "drei")]})
    assert await messages(db) == [(1, "reported", "one"), (3, "reported", "drei"), (4, "set", "four"),
                                  (7, "reported", "seven")]
    assert {r["command_id"] for r in await db.fetch(
        "SELECT command_id FROM ocpp.display_messages WHERE source = 'reported'")} == {asked["id"]}

    # A report of some messages only adds; asked for all and there are none: nothing left.
    some = await station.run("SELECT ocpp.get_display_messages('CP-201', priority => 'InFront')",
                             response={"status": "Accepted"})
    assert some["payload"] == {"requestId": some["payload"]["requestId"], "priority": "InFront"}
    await station.send(parse, "NotifyDisplayMessages", {"requestId": some["payload"]["requestId"],
                                                        "messageInfo": [info(9, "nine", priority="InFront")]})
    assert [m[0] for m in await messages(db)] == [1, 3, 4, 7, 9]
    await station.run("SELECT ocpp.get_display_messages('CP-201')", response={"status": "Unknown"})
    assert await messages(db) == []


async def test_a_message_of_a_transaction_goes_with_it(db, station):
    await db.execute("""
        INSERT INTO pgcsms.transactions (charge_point_id, remote_id, evse_id, connector_id, id_tag,
                                         authorization_status, meter_start, started_at, start_unique_id)
        VALUES ('CP-201', 'tx-42', 1, 1, 'TAG', 'Accepted', 0, now(), 'u-1')""")
    done = await station.run("SELECT ocpp.set_display_message('CP-201', '11 kW', transaction_id => 'tx-42')",
                             response={"status": "Accepted"})
    assert done["payload"]["message"]["transactionId"] == "tx-42"
    await station.run("SELECT ocpp.set_display_message('CP-201', 'Welcome')", response={"status": "Accepted"})
    await db.execute("UPDATE pgcsms.transactions SET stopped_at = now() WHERE remote_id = 'tx-42'")
    assert await messages(db) == [(2, "set", "Welcome")]


# -- CustomerInformation and NotifyCustomerInformation (N09/N10) -----------------------------------

async def test_customer_information_pages_follow_their_request(db, station, parse):
    # TC_N_27
    asked = await station.run("SELECT ocpp.customer_information('CP-201', id_token => '04A2B3C4')",
                              response={"status": "Accepted"})
    request_id = asked["payload"]["requestId"]
    assert asked["payload"] == {"requestId": request_id, "report": True, "clear": False,
                                "idToken": {"idToken": "04A2B3C4", "type": "ISO14443"}}
    for seq_no, data, tbc in [(0, "sessions: 12", True), (1, "last seen: yesterday", False)]:
        assert await station.send(parse, "NotifyCustomerInformation", {
            "requestId": request_id, "seqNo": seq_no, "tbc": tbc, "data": data, "generatedAt": NOW}) == {}
    assert [tuple(r) for r in await db.fetch(
        "SELECT request_id, command_id, seq_no, tbc, data, generated_at FROM ocpp.customer_information "
        "ORDER BY seq_no")] == [(request_id, asked["id"], 0, True, "sessions: 12", datetime.fromisoformat(NOW)),
                                (request_id, asked["id"], 1, False, "last seen: yesterday",
                                 datetime.fromisoformat(NOW))]
    # TC_N_62 / TC_N_32: by customer identifier, clear only.
    cleared = await station.run("SELECT ocpp.customer_information('CP-201', report => false, clear => true, "
                                "customer_identifier => 'OpenChargeAlliance', request_id => 77)",
                                response={"status": "Accepted"})
    assert cleared["payload"] == {"requestId": 77, "report": False, "clear": True,
                                  "customerIdentifier": "OpenChargeAlliance"}


async def test_customer_information_sends_the_tags_own_type(db, station):
    """F3, TC_N_27-31: idToken.type is the tag's (ocpp._id_token_type_for), or the one asked for."""
    await db.execute("SELECT ocpp.add_id_tag('LOCAL-7', id_token_type => 'Local')")
    sent = {}
    for token in ("04A2B3C4", "LOCAL-7", "TAG1"):
        asked = await station.run("SELECT ocpp.customer_information('CP-201', id_token => $1)", token,
                                  response={"status": "Accepted"})
        sent[token] = asked["payload"]["idToken"]["type"]
    assert sent == {"04A2B3C4": "ISO14443", "LOCAL-7": "Local", "TAG1": "Central"}
    asked = await station.run(
        "SELECT ocpp.customer_information('CP-201', id_token => 'TAG1', id_token_type => 'KeyCode')",
        response={"status": "Accepted"})
    assert asked["payload"]["idToken"] == {"idToken": "TAG1", "type": "KeyCode"}


@pytest.mark.parametrize(("call", "message"), [
    ("ocpp.customer_information('CP-201')", "names the customer once"),
    ("ocpp.customer_information('CP-201', id_token => 'A', customer_identifier => 'B')", "names the customer once"),
    ("ocpp.customer_information('CP-201', report => false, id_token => 'A')", "reports the data, clears it"),
])
async def test_customer_information_names_one_customer_and_does_something(db, station, fails, call, message):
    async with fails(asyncpg.InvalidParameterValueError, match=message):
        await db.execute(f"SELECT {call}")


async def test_personal_data_is_for_operators_only(db):
    for view, reader in [("ocpp.customer_information", False), ("ocpp.ev_certificate_requests", False),
                         ("ocpp.display_messages", True), ("ocpp.charging_limits", True),
                         ("ocpp.reported_charging_profiles", True), ("ocpp.certificate_statuses", True)]:
        assert await db.fetchval("SELECT has_table_privilege('pgcsms_reader', $1, 'SELECT')", view) is reader, view
        assert await db.fetchval("SELECT has_table_privilege('pgcsms_operator', $1, 'SELECT')", view) is True, view
