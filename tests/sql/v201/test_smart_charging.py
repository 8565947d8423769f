"""OCPP 2.0.1 smart charging (K) at the SQL layer: profiles per EVSE, composite schedules, reported
profiles, external limits and ISO 15118 charging needs; one helper per command for both versions.

As the proxy would, the test claims each command, checks its payload against the 2.0.1 request
schema and answers with a CALLRESULT that passes the response schema; each station CALL is valid
against its request schema before ``ocpp.parse`` sees it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from station201 import NOW

pytestmark = pytest.mark.rollback



def profile(profile_id: int, purpose: str = "TxDefaultProfile", stack_level: int = 0, **extra: Any) -> dict[str, Any]:
    return {"id": profile_id, "stackLevel": stack_level, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute", "validFrom": NOW,
            "chargingSchedule": [{"id": 1, "startSchedule": NOW, "chargingRateUnit": "W",
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0},
                                                             {"startPeriod": 3600, "limit": 7400.0}]}], **extra}


SET_PROFILE = "SELECT ocpp.set_charging_profile('CP-201', evse_id => $1, charging_profile => $2::jsonb)"
STORED = ("SELECT evse_id, connector_id, charging_profile_id, purpose, stack_level, transaction_remote_id "
          "FROM ocpp.charging_profiles ORDER BY charging_profile_id")


async def rows(db: asyncpg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetch(sql, *args)]


# -- SetChargingProfile, ClearChargingProfile --------------------------------------------------

async def test_profiles_are_kept_per_evse_and_replaced_by_id(db, station):
    first = await station.run(SET_PROFILE, 1, json.dumps(profile(1)), response={"status": "Accepted"})
    assert first["status"] == "accepted"
    assert first["payload"] == {"evseId": 1, "chargingProfile": profile(1)}
    stored = await db.fetchrow("SELECT * FROM ocpp.charging_profiles")
    assert (stored["evse_id"], stored["connector_id"], stored["kind"], stored["valid_from"], stored["command_id"]) == (
        1, None, "Absolute", datetime.fromisoformat(NOW), first["id"])
    assert json.loads(stored["charging_schedule"]) == profile(1)["chargingSchedule"]
    # A 2.0.1 station refuses a clash of stack level and purpose (K01); one it accepted is another
    # profile (e.g. valid at another time), so only the same id replaces.
    await station.run(SET_PROFILE, 1, json.dumps(profile(2)), response={"status": "Accepted"})
    await station.run(SET_PROFILE, 0, json.dumps(profile(1, "ChargingStationMaxProfile", 3)),
                      response={"status": "Accepted"})
    refused = await station.run(SET_PROFILE, 2, json.dumps(profile(3)),
                                response={"status": "Rejected", "statusInfo": {"reasonCode": "DuplicateProfile"}})
    assert refused["status"] == "rejected"
    assert await rows(db, STORED) == [
        {"evse_id": 0, "connector_id": None, "charging_profile_id": 1, "purpose": "ChargingStationMaxProfile",
         "stack_level": 3, "transaction_remote_id": None},
        {"evse_id": 1, "connector_id": None, "charging_profile_id": 2, "purpose": "TxDefaultProfile",
         "stack_level": 0, "transaction_remote_id": None}]


async def test_clear_by_id_or_by_criteria(db, station):
    for evse, profile_id, purpose, stack_level in [(0, 10, "ChargingStationMaxProfile", 0),
                                                   (1, 11, "TxDefaultProfile", 0), (1, 12, "TxDefaultProfile", 1),
                                                   (2, 13, "TxDefaultProfile", 0)]:
        await station.run(SET_PROFILE, evse, json.dumps(profile(profile_id, purpose, stack_level)),
                          response={"status": "Accepted"})
    by_id = await station.run("SELECT ocpp.clear_charging_profile('CP-201', id => 11)",
                              response={"status": "Accepted"})
    assert by_id["payload"] == {"chargingProfileId": 11}
    unknown = await station.run("SELECT ocpp.clear_charging_profile('CP-201', id => 12)",
                                response={"status": "Unknown"})
    assert unknown["status"] == "rejected"
    by_criteria = await station.run(
        "SELECT ocpp.clear_charging_profile('CP-201', evse_id => 1, charging_profile_purpose => 'TxDefaultProfile')",
        response={"status": "Accepted"})
    assert by_criteria["payload"] == {
        "chargingProfileCriteria": {"evseId": 1, "chargingProfilePurpose": "TxDefaultProfile"}}
    assert [r["charging_profile_id"] for r in await db.fetch(STORED)] == [10, 13]
    await station.run("SELECT ocpp.clear_charging_profile('CP-201', stack_level => 0)", response={"status": "Accepted"})
    assert await db.fetch(STORED) == []


async def test_a_tx_profile_ends_with_its_transaction(db, station):
    # The transaction as TransactionEvent stores it: named by the station (remote_id).
    await db.execute("""
        INSERT INTO pgcsms.transactions (charge_point_id, remote_id, evse_id, connector_id, id_tag,
                                         authorization_status, meter_start, started_at, start_unique_id)
        VALUES ('CP-201', 'tx-201-a', 1, 1, 'TAG', 'Accepted', 0, now(), 'u-1'),
               ('CP-201', 'tx-201-b', 2, 1, 'TAG', 'Accepted', 0, now(), 'u-2')""")
    for evse, profile_id, transaction in [(1, 20, "tx-201-a"), (2, 21, "tx-201-b")]:
        await station.run(SET_PROFILE, evse, json.dumps(profile(profile_id, "TxProfile", transactionId=transaction)),
                          response={"status": "Accepted"})
    await station.run(SET_PROFILE, 1, json.dumps(profile(22)), response={"status": "Accepted"})
    assert (await db.fetchrow(STORED))["transaction_remote_id"] == "tx-201-a"
    await db.execute("UPDATE pgcsms.transactions SET stopped_at = now() WHERE remote_id = 'tx-201-a'")
    assert [r["charging_profile_id"] for r in await db.fetch(STORED)] == [21, 22]


# -- the helpers refuse what the station's version does not have -------------------------------

@pytest.mark.parametrize(("call", "message", "hint"), [
    ("ocpp.set_charging_profile('CP-201', 1, '{}')", "connector_id, cs_charging_profiles given", "evse_id =>"),
    ("ocpp.set_charging_profile('CP-201', evse_id => 1, charging_profile => "
     """'{"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
          "chargingSchedule": []}')""", "TxProfile names the transaction", "transactionId"),
    ("ocpp.clear_charging_profile('CP-201')", "names a profile id or a filter", "evse_id"),
    ("ocpp.clear_charging_profile('CP-201', connector_id => 1)", "connector_id given", "evse_id =>"),
    ("ocpp.clear_charging_profile('CP-201', charging_profile_purpose => 'ChargePointMaxProfile')",
     "'ChargePointMaxProfile' is not OCPP 2.0.1", "calls it ChargingStationMaxProfile"),
    ("ocpp.get_composite_schedule('CP-201', 1, 3600)", "connector_id given", "evse_id =>"),
    ("ocpp.get_composite_schedule('CP-201', evse_id => 1)", "duration", "duration =>"),
    ("ocpp.get_charging_profiles('CP-201', evse_id => 1)", "ids or a filter", "charging_limit_sources"),
    ("ocpp.set_charging_profile('CP-16', evse_id => 1, charging_profile => '{}')", "charging_profile, evse_id given",
     "connector_id =>"),
    ("ocpp.clear_charging_profile('CP-16', evse_id => 1)", "evse_id given", "connector_id =>"),
    ("ocpp.clear_charging_profile('CP-16', charging_profile_purpose => 'ChargingStationMaxProfile')",
     "is not OCPP 1.6", "calls it ChargePointMaxProfile"),
])
async def test_helpers_refuse_the_other_version_s_arguments(db, station, fails, call, message, hint):
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")  # never connected: 1.6
    async with fails(asyncpg.InvalidParameterValueError, match=message) as caught:
        await db.fetchval(f"SELECT {call}")
    assert hint in caught.value.hint
    assert await db.fetchval("SELECT count(*) FROM ocpp.commands") == 0


async def test_one_helper_serves_both_versions(db, station):
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    command_id = await db.fetchval("SELECT ocpp.get_composite_schedule('CP-16', 1, 600, 'A')")
    assert json.loads(await db.fetchval("SELECT payload FROM ocpp.commands WHERE id = $1", command_id)) == {
        "connectorId": 1, "duration": 600, "chargingRateUnit": "A"}
    await db.execute("SELECT ocpp.cancel($1)", command_id)
    done = await station.run("SELECT ocpp.get_composite_schedule('CP-201', duration => 600, evse_id => 1)",
                             response={"status": "Rejected"})
    assert done["payload"] == {"evseId": 1, "duration": 600}


# -- GetCompositeSchedule ------------------------------------------------------------------------

async def test_composite_schedule_is_kept_per_evse(db, station):
    schedule = {"evseId": 2, "duration": 3600, "scheduleStart": NOW, "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}, {"startPeriod": 1800, "limit": 8.0}]}
    done = await station.run(
        "SELECT ocpp.get_composite_schedule('CP-201', duration => 3600, charging_rate_unit => 'A', evse_id => 2)",
        response={"status": "Accepted", "schedule": schedule})
    assert done["payload"] == {"evseId": 2, "duration": 3600, "chargingRateUnit": "A"}
    row = await db.fetchrow("SELECT * FROM ocpp.composite_schedules")
    assert (row["command_id"], row["evse_id"], row["connector_id"], row["duration"], row["charging_rate_unit"],
            row["schedule_start"]) == (done["id"], 2, None, 3600, "A", datetime.fromisoformat(NOW))
    assert json.loads(row["charging_schedule"]) == schedule
    await station.run("SELECT ocpp.get_composite_schedule('CP-201', duration => 60, evse_id => 1)",
                      response={"status": "Rejected"})
    assert await db.fetchval("SELECT count(*) FROM ocpp.composite_schedules") == 1


# -- GetChargingProfiles and ReportChargingProfiles -------------------------------------------------

async def test_reported_profiles_follow_their_request(db, station, parse):
    asked = await station.run(
        "SELECT ocpp.get_charging_profiles('CP-201', evse_id => 1, charging_limit_sources => ARRAY['CSO', 'EMS'])",
        response={"status": "Accepted"})
    request_id = asked["payload"]["requestId"]
    assert asked["payload"] == {"requestId": request_id, "evseId": 1,
                                "chargingProfile": {"chargingLimitSource": ["CSO", "EMS"]}}
    other = await station.run("SELECT ocpp.get_charging_profiles('CP-201', charging_profile_ids => ARRAY[7])",
                              response={"status": "NoProfiles"})
    assert other["status"] == "rejected" and other["payload"]["requestId"] != request_id

    await station.send(parse, "ReportChargingProfiles", {
        "requestId": request_id, "chargingLimitSource": "CSO", "evseId": 1, "tbc": True,
        "chargingProfile": [profile(30), profile(31, "TxProfile", 1, transactionId="tx-9")]})
    await station.send(parse, "ReportChargingProfiles", {
        "requestId": request_id, "chargingLimitSource": "EMS", "evseId": 1,
        "chargingProfile": [profile(32, "ChargingStationExternalConstraints", 5)]})
    assert await rows(db, "SELECT request_id, command_id, evse_id, charging_limit_source, charging_profile_id, "
                          "purpose, stack_level, transaction_remote_id, tbc FROM ocpp.reported_charging_profiles "
                          "ORDER BY id") == [
        {"request_id": request_id, "command_id": asked["id"], "evse_id": 1, "charging_limit_source": "CSO",
         "charging_profile_id": 30, "purpose": "TxDefaultProfile", "stack_level": 0, "transaction_remote_id": None,
         "tbc": True},
        {"request_id": request_id, "command_id": asked["id"], "evse_id": 1, "charging_limit_source": "CSO",
         "charging_profile_id": 31, "purpose": "TxProfile", "stack_level": 1, "transaction_remote_id": "tx-9",
         "tbc": True},
        {"request_id": request_id, "command_id": asked["id"], "evse_id": 1, "charging_limit_source": "EMS",
         "charging_profile_id": 32, "purpose": "ChargingStationExternalConstraints", "stack_level": 5,
         "transaction_remote_id": None, "tbc": False}]
    # What a station reports is its own account: our stored profiles stay as they are.
    assert await db.fetchval("SELECT count(*) FROM ocpp.charging_profiles") == 0


# -- NotifyChargingLimit, ClearedChargingLimit ---------------------------------------------------

async def test_external_limits_per_evse_and_source_until_cleared(db, station, parse):
    schedule = profile(1)["chargingSchedule"]
    for payload in [
        {"chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": False}, "evseId": 1,
         "chargingSchedule": schedule},
        {"chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": True}, "evseId": 1},
        {"chargingLimit": {"chargingLimitSource": "EMS"}, "evseId": 2},
        {"chargingLimit": {"chargingLimitSource": "SO", "isGridCritical": True}},
        {"chargingLimit": {"chargingLimitSource": "SO"}, "evseId": 2},
    ]:
        assert await station.send(parse, "NotifyChargingLimit", payload) == {}
    limits = "SELECT evse_id, charging_limit_source, is_grid_critical FROM ocpp.charging_limits ORDER BY 1, 2"
    assert await rows(db, limits) == [
        {"evse_id": 0, "charging_limit_source": "SO", "is_grid_critical": True},
        {"evse_id": 1, "charging_limit_source": "EMS", "is_grid_critical": True},
        {"evse_id": 2, "charging_limit_source": "EMS", "is_grid_critical": None},
        {"evse_id": 2, "charging_limit_source": "SO", "is_grid_critical": None}]
    # The newer notification replaced the schedule too.
    assert await db.fetchval("SELECT charging_schedule FROM ocpp.charging_limits WHERE evse_id = 1") is None

    assert await station.send(parse, "ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": 1}) == {}
    assert await station.send(parse, "ClearedChargingLimit", {"chargingLimitSource": "SO"}) == {}
    assert await rows(db, limits) == [{"evse_id": 2, "charging_limit_source": "EMS", "is_grid_critical": None}]


# -- ISO 15118: NotifyEVChargingNeeds, NotifyEVChargingSchedule -----------------------------------

async def test_ev_charging_needs_and_schedule_are_kept_and_accepted(db, station, parse):
    needs = {"requestedEnergyTransfer": "DC", "departureTime": "2030-01-01T18:00:00",
             "dcChargingParameters": {"evMaxCurrent": 200, "evMaxVoltage": 400, "energyAmount": 40000,
                                      "stateOfCharge": 35}}
    answer = await station.send(parse, "NotifyEVChargingNeeds",
                                {"evseId": 1, "maxScheduleTuples": 12, "chargingNeeds": needs})
    assert answer == {"status": "Accepted"}
    row = await db.fetchrow("SELECT * FROM ocpp.ev_charging_needs")
    assert (row["evse_id"], row["requested_energy_transfer"], row["max_schedule_tuples"], row["status"]) == (
        1, "DC", 12, "Accepted")
    assert row["departure_time"] == datetime(2030, 1, 1, 18, tzinfo=UTC)  # no offset: UTC
    assert json.loads(row["charging_needs"]) == needs

    chosen = profile(1)["chargingSchedule"][0]
    answer = await station.send(parse, "NotifyEVChargingSchedule",
                                {"timeBase": NOW, "evseId": 1, "chargingSchedule": chosen})
    assert answer == {"status": "Accepted"}
    row = await db.fetchrow("SELECT * FROM ocpp.ev_charging_schedules")
    assert (row["evse_id"], row["time_base"], row["status"]) == (1, datetime.fromisoformat(NOW), "Accepted")
    assert json.loads(row["charging_schedule"]) == chosen
