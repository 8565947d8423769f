"""Credentials that change in the field never lock a charger out, and the old ones retire once the new are used.

A key sent by command (1.6 AuthorizationKey, 2.0.1 BasicAuthPassword) is taken
by the charger at its next reboot; a security profile upgrade (2.0.1 A05) at
its next connection. Until then its previous credentials stay valid.
"""

from __future__ import annotations

import json

import asyncpg
import pytest

OLD = "old-key-0123456789abcdef"
NEW = "new-key-fedcba9876543210"
NODE = "node-1"


async def online(db: asyncpg.Connection, version: str, password: str | None, transport: str = "ws") -> int:
    row = await db.fetchrow("SELECT accepted, epoch FROM ocpp.connect('CP-1', $1, '192.0.2.1', $2, $3, $4, NULL)",
                            NODE, version, password, transport)
    assert row["accepted"]
    return row["epoch"]


async def answered(db: asyncpg.Connection, epoch: int, command_id: int, response: dict) -> str:
    claimed = await db.fetchrow("SELECT * FROM ocpp.next_command('CP-1', $1, $2)", NODE, epoch)
    assert claimed["command_id"] == command_id
    await db.execute("SELECT ocpp.complete_command('CP-1', $1, $2::jsonb, NULL, NULL, $3)",
                     claimed["unique_id"], json.dumps(response), NODE)
    return await db.fetchval("SELECT status FROM ocpp.commands WHERE id = $1", command_id)


async def may(db: asyncpg.Connection, password: str | None, transport: str = "ws") -> tuple[bool, int | None]:
    row = await db.fetchrow("SELECT allowed, http_status FROM ocpp.authenticate('CP-1', $1, $2, NULL)",
                            password, transport)
    return row["allowed"], row["http_status"]


@pytest.fixture
async def station(db: asyncpg.Connection) -> None:
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")


async def test_a_1_6_key_change_keeps_the_old_key_until_the_new_one_is_used(db, station):
    await db.execute("SELECT ocpp.set_password('CP-1', $1)", OLD)
    epoch = await online(db, "1.6", OLD)
    command = await db.fetchval("SELECT ocpp.change_configuration('CP-1', 'AuthorizationKey', $1)", NEW)
    assert await answered(db, epoch, command, {"status": "RebootRequired"}) == "accepted"
    assert await may(db, OLD) == (True, None)  # the charger has not rebooted yet
    assert await may(db, "neither-of-the-two-keys") == (False, 401)
    assert await may(db, NEW) == (True, None)  # rebooted, with the new key: the old one retires
    assert await may(db, OLD) == (False, 401)
    assert await may(db, NEW) == (True, None)


async def test_a_key_given_to_a_charger_without_one_leaves_it_in_until_it_uses_it(db, station):
    epoch = await online(db, "1.6", None)
    command = await db.fetchval("SELECT ocpp.change_configuration('CP-1', 'AuthorizationKey', $1)", NEW)
    assert await answered(db, epoch, command, {"status": "Accepted"}) == "accepted"
    assert await db.fetchval("SELECT security_profile FROM ocpp.charge_points WHERE id = 'CP-1'") == 1
    assert await may(db, None) == (True, None)  # profile 0 still, for this charger, until it uses the key
    assert await may(db, NEW) == (True, None)
    assert await may(db, None) == (False, 401)


async def test_a_refused_key_changes_nothing(db, station):
    await db.execute("SELECT ocpp.set_password('CP-1', $1)", OLD)
    epoch = await online(db, "1.6", OLD)
    command = await db.fetchval("SELECT ocpp.change_configuration('CP-1', 'AuthorizationKey', $1)", NEW)
    assert await answered(db, epoch, command, {"status": "Rejected"}) == "rejected"
    assert await may(db, OLD) == (True, None)
    assert await may(db, NEW) == (False, 401)


async def test_a_2_0_1_basic_auth_password_rotates_the_same_way(db, station):
    await db.execute("SELECT ocpp.set_password('CP-1', $1)", OLD)
    epoch = await online(db, "2.0.1", OLD)
    command = await db.fetchval("SELECT ocpp.send('CP-1', 'SetVariables', $1::jsonb)", json.dumps({"setVariableData": [
        {"attributeValue": NEW, "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}]}))
    assert NEW not in await db.fetchval("SELECT payload::text FROM ocpp.commands WHERE id = $1", command)
    await answered(db, epoch, command, {"setVariableResult": [
        {"attributeStatus": "Accepted", "component": {"name": "SecurityCtrlr"},
         "variable": {"name": "BasicAuthPassword"}}]})
    assert await may(db, OLD) == (True, None)
    assert await may(db, NEW) == (True, None)
    assert await may(db, OLD) == (False, 401)


async def test_the_operator_setting_a_password_retires_the_old_one_at_once(db, station):
    await db.execute("SELECT ocpp.set_password('CP-1', $1)", OLD)
    await db.execute("SELECT ocpp.set_password('CP-1', $1)", NEW)
    assert await may(db, OLD) == (False, 401)
    assert await may(db, NEW) == (True, None)


NETWORK_PROFILE = {"configurationSlot": 2, "connectionData": {
    "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://csms.example/ocpp",
    "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wired0"}}


async def test_a_security_profile_upgrade_refuses_the_old_profile_once_the_new_one_connected(db, station):
    """OCPP 2.0.1 A05: after SetNetworkProfile to profile 2, plain ws holds until the station came over TLS."""
    await db.execute("SELECT ocpp.set_password('CP-1', $1)", OLD)
    epoch = await online(db, "2.0.1", OLD)
    command = await db.fetchval("SELECT ocpp.send('CP-1', 'SetNetworkProfile', $1::jsonb)",
                                json.dumps(NETWORK_PROFILE))
    assert await answered(db, epoch, command, {"status": "Accepted"}) == "accepted"
    assert await db.fetchval("SELECT security_profile FROM ocpp.charge_points WHERE id = 'CP-1'") == 2
    assert await may(db, OLD, "ws") == (True, None)  # not switched over yet
    assert await may(db, OLD, "wss") == (True, None)  # over TLS: the upgrade is done
    assert await may(db, OLD, "ws") == (False, 403)  # no downgrade from now on


async def test_an_upgrade_to_the_profile_it_has_changes_nothing(db, station):
    await db.execute("SELECT ocpp.set_password('CP-1', $1)", OLD)
    await db.execute("SELECT ocpp.set_security_profile('CP-1', 2)")
    epoch = await online(db, "2.0.1", OLD, "wss")
    command = await db.fetchval("SELECT ocpp.send('CP-1', 'SetNetworkProfile', $1::jsonb)",
                                json.dumps(NETWORK_PROFILE))
    await answered(db, epoch, command, {"status": "Accepted"})
    assert await may(db, OLD, "ws") == (False, 403)
