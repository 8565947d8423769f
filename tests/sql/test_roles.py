"""The three roles, each logged in as and tried: what it may do and what it may not.

Roles are cluster-wide and shared by every test database, so each test logs in
as a LOGIN user of its own (a random name) made a member of the role, and drops
it at the end; the privileges themselves are granted per database by the
migrations. Each test has a database of its own (``dsn``), in autocommit, so
what the superuser sets up is visible to the other logins.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

Login = Callable[[str], Awaitable[asyncpg.Connection]]

# What the proxy calls (proxy/server.py, proxy/batch.py; record_scan for
# pgcsms rfid) and nothing else; the command delivery functions grant
# themselves in their own file. A new grant to pgcsms_proxy fails this test
# until it is added here, on purpose: someone looks at it.
PROXY_FUNCTIONS = {
    "parse", "parse_many", "connect", "disconnect", "node_started", "log_rejected", "log_frame", "authenticate",
    "log_auth_failure", "next_command", "complete_command", "fail_command", "command_backlog", "setting",
    "record_scan", "live_status",
}
PROXY_CORE = {"parse", "connect", "disconnect", "node_started", "log_rejected", "log_frame", "authenticate",
              "log_auth_failure"}

# The documented views every reader (BI tool) may read.
READER_VIEWS = {
    "settings", "charge_points", "connectors", "status_history", "id_tags", "transactions",
    "meter_values", "message_log", "anomalies", "data_transfers", "data_transfer_vendors",
    "job_status_history", "security_events", "reservations",
}
# Readable by operators only.
OPERATOR_ONLY_VIEWS = {"certificate_signing_requests", "auth_failures"}

# Functions that change something, with arguments that would work for the superuser.
WRITES = [
    ("SELECT ocpp.add_charge_point('CP-X')", ()),
    ("SELECT ocpp.remove_charge_point('CP-1')", ()),
    ("SELECT ocpp.add_id_tag('TAG-X')", ()),
    ("SELECT ocpp.remove_id_tag('TAG-1')", ()),
    ("SELECT ocpp.set_setting('heartbeat_interval', '60')", ()),
    ("SELECT ocpp.add_data_transfer_vendor('com.example')", ()),
    ("SELECT ocpp.set_password('CP-1', 'a password of twenty')", ()),
    ("SELECT ocpp.set_security_profile('CP-1', 0)", ()),
]
PROXY_CALLS = [
    ("SELECT * FROM ocpp.parse('CP-1', 'u-x', 'Heartbeat', '{}')", ()),
    ("SELECT * FROM ocpp.connect('CP-1', 'node-x')", ()),
    ("SELECT ocpp.disconnect('CP-1', 1)", ()),
    ("SELECT ocpp.node_started('node-x')", ()),
    ("SELECT * FROM ocpp.authenticate('CP-1', NULL, 'ws', NULL)", ()),
    ("SELECT ocpp.log_auth_failure('CP-1', 'ws', NULL, NULL, 401, 'x')", ()),
    ("SELECT ocpp.log_frame('CP-1', 'in', 3::smallint, 'u-x', NULL, '{}')", ()),
    ("SELECT ocpp.log_rejected('CP-1', 'u-x', 'Heartbeat', '{}', NULL, 'FormationViolation', 'x')", ()),
]
INTERNALS = [
    ("SELECT ocpp._registration('CP-1')", ()),
    ("SELECT ocpp._setting('heartbeat_interval')", ()),
    ("SELECT * FROM ocpp._auth_failure('CP-1', 'ws', NULL, NULL, 401, 'x')", ()),
    ("SELECT ocpp.on_heartbeat('CP-1', 'u', '{}')", ()),
]
TABLE_WRITES = [
    "UPDATE ocpp.settings SET value = '1' WHERE key = 'heartbeat_interval'",
    "INSERT INTO ocpp.id_tags (id_tag) VALUES ('TAG-Y')",
    "DELETE FROM ocpp.charge_points",
    "UPDATE ocpp.charge_points SET registration_status = 'Accepted'",
]

PASSWORD = "twenty characters!!!"


@pytest.fixture
async def superuser(fresh_db: asyncpg.Connection) -> asyncpg.Connection:
    """The test database with something in every table the roles look at."""
    await fresh_db.execute("SELECT ocpp.add_charge_point('CP-1')")
    await fresh_db.execute("SELECT ocpp.set_password('CP-1', $1)", PASSWORD)
    await fresh_db.execute("SELECT ocpp.add_id_tag('TAG-1')")
    await fresh_db.execute("SELECT * FROM ocpp.authenticate('CP-1', 'a wrong password', 'ws', NULL, '192.0.2.1')")
    await fresh_db.execute("SELECT * FROM ocpp.parse('CP-1', 'u-1', 'SignCertificate', $1::jsonb)",
                           json.dumps({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n"}))
    return fresh_db


@pytest.fixture
async def login_as(superuser: asyncpg.Connection, dsn: str) -> AsyncIterator[Login]:
    users: list[str] = []
    connections: list[asyncpg.Connection] = []

    async def login(role: str) -> asyncpg.Connection:
        user = f"pgcsms_test_{role.removeprefix('pgcsms_')}_{secrets.token_hex(4)}"
        await superuser.execute(f'CREATE ROLE "{user}" LOGIN IN ROLE {role}')
        users.append(user)
        connection = await asyncpg.connect(dsn, user=user, server_settings={"timezone": "UTC"})
        connections.append(connection)
        assert await connection.fetchval("SELECT current_user") == user
        return connection

    try:
        yield login
    finally:
        for connection in connections:
            await connection.close()
        for user in users:
            await superuser.execute(f'DROP ROLE IF EXISTS "{user}"')


async def refused(connection: asyncpg.Connection, sql: str, *args: object) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await connection.execute(sql, *args)


async def relations(connection: asyncpg.Connection, schema: str) -> list[str]:
    rows = await connection.fetch(
        "SELECT c.oid::regclass::text AS name FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1", schema)
    return [r["name"] for r in rows]


async def executable(connection: asyncpg.Connection) -> dict[str, str]:
    """Functions of ocpp, pgcsms and reports the current user may execute: name → volatility."""
    rows = await connection.fetch(
        "SELECT p.proname, p.provolatile FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace "
        "WHERE n.nspname IN ('ocpp', 'pgcsms', 'reports') AND has_function_privilege(p.oid, 'EXECUTE')")
    return {r["proname"]: r["provolatile"] for r in rows}


def view_names(names: list[str]) -> set[str]:
    return {name.removeprefix("ocpp.") for name in names}


# -- every role --------------------------------------------------------------------


async def test_no_function_is_executable_by_public(superuser):
    rows = await superuser.fetch(
        "SELECT p.oid::regprocedure::text AS name FROM pg_proc AS p "
        "JOIN pg_namespace AS n ON n.oid = p.pronamespace "
        "CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a "
        "WHERE n.nspname IN ('ocpp', 'pgcsms') AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'")
    assert [r["name"] for r in rows] == []


async def test_functions_created_later_by_the_migrating_role_are_private(superuser):
    """What a function file applied by ``pgcsms migrate`` gets before its own GRANT."""
    await superuser.execute("CREATE FUNCTION ocpp.zz_probe() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    try:
        public = await superuser.fetchval(
            "SELECT has_function_privilege('public', 'ocpp.zz_probe()', 'EXECUTE')")
        reader = await superuser.fetchval(
            "SELECT has_function_privilege('pgcsms_reader', 'ocpp.zz_probe()', 'EXECUTE')")
        assert (public, reader) == (False, False)
    finally:
        await superuser.execute("DROP FUNCTION ocpp.zz_probe()")


@pytest.mark.parametrize("role", ["pgcsms_proxy", "pgcsms_operator", "pgcsms_reader"])
async def test_no_role_reaches_the_private_schema(superuser, role):
    for privilege in ("USAGE", "CREATE"):
        assert await superuser.fetchval("SELECT has_schema_privilege($1, 'pgcsms', $2)", role, privilege) is False
    assert await superuser.fetchval("SELECT has_schema_privilege($1, 'ocpp', 'CREATE')", role) is False


@pytest.mark.parametrize("role", ["pgcsms_proxy", "pgcsms_operator", "pgcsms_reader"])
async def test_no_role_can_write_through_a_view(login_as, role):
    connection = await login_as(role)
    for sql in TABLE_WRITES:
        await refused(connection, sql)


# -- pgcsms_proxy ------------------------------------------------------------------


async def test_proxy_calls_what_it_needs(login_as, superuser):
    proxy = await login_as("pgcsms_proxy")
    assert tuple(await proxy.fetchrow(
        "SELECT allowed, http_status FROM ocpp.authenticate('CP-1', $1, 'ws', NULL, '192.0.2.1')", PASSWORD)) == (
        True, None)
    row = await proxy.fetchrow("SELECT accepted, epoch FROM ocpp.connect('CP-1', 'node-1', '192.0.2.1', '1.6', $1)",
                               PASSWORD)
    assert row["accepted"] is True
    reply = await proxy.fetchrow("SELECT result, error_code FROM ocpp.parse('CP-1', 'u-2', 'BootNotification', $1)",
                                 json.dumps({"chargePointVendor": "V", "chargePointModel": "M"}))
    assert reply["error_code"] is None and json.loads(reply["result"])["status"] == "Accepted"
    await proxy.execute("SELECT ocpp.log_rejected('CP-1', 'u-3', 'Heartbeat', NULL, '[2,\"u-3\"', "
                        "'FormationViolation', 'not JSON', 'node-1', 2::smallint)")
    await proxy.execute("SELECT ocpp.log_frame('CP-1', 'in', 3::smallint, 'c-1', NULL, '{}')")
    assert await proxy.fetchval("SELECT ocpp.disconnect('CP-1', $1)", row["epoch"]) is True
    assert await proxy.fetchval("SELECT ocpp.node_started('node-1')") == 0
    await proxy.execute("SELECT ocpp.log_auth_failure('CP-1', 'wss', '192.0.2.1', NULL, 401, $1)",
                        "Basic username is not the charge point identity")
    assert await superuser.fetchval("SELECT count(*) FROM ocpp.auth_failures WHERE transport = 'wss'") == 1
    journal = await superuser.fetchval("SELECT count(*) FROM ocpp.message_log WHERE charge_point_id = 'CP-1'")
    assert journal == 2 + 2 + 2 + 1  # SignCertificate, BootNotification, the rejected frame, the answer


async def test_proxy_reads_no_table_and_no_view(login_as, superuser):
    proxy = await login_as("pgcsms_proxy")
    names = await relations(superuser, "ocpp") + await relations(superuser, "pgcsms")
    assert len(names) > 20
    for name in names:
        await refused(proxy, f"SELECT 1 FROM {name} LIMIT 1")


async def test_proxy_executes_only_its_functions(login_as):
    proxy = await login_as("pgcsms_proxy")
    functions = set(await executable(proxy))
    assert PROXY_CORE <= functions <= PROXY_FUNCTIONS


async def test_proxy_cannot_manage_or_call_internals(login_as):
    proxy = await login_as("pgcsms_proxy")
    for sql, args in WRITES + INTERNALS:
        await refused(proxy, sql, *args)
    await refused(proxy, "SELECT pgcsms.crypt('x', 'y')")


# -- pgcsms_operator ---------------------------------------------------------------


async def test_operator_manages_charge_points_tags_and_settings(login_as, superuser):
    operator = await login_as("pgcsms_operator")
    await operator.execute("SELECT ocpp.add_charge_point('CP-2', 'Pending', 'in the garage')")
    await operator.execute("SELECT ocpp.set_password('CP-2', $1)", PASSWORD)
    await operator.execute("SELECT ocpp.set_security_profile('CP-2', 2)")
    await operator.execute("SELECT ocpp.add_id_tag('TAG-2', 'Blocked')")
    await operator.execute("SELECT ocpp.set_setting('unknown_charge_points', 'reject')")
    await operator.execute("SELECT ocpp.add_data_transfer_vendor('com.example')")
    row = await operator.fetchrow(
        "SELECT registration_status, security_profile, has_password FROM ocpp.charge_points WHERE id = 'CP-2'")
    assert tuple(row) == ("Pending", 2, True)
    assert await operator.fetchval("SELECT status FROM ocpp.id_tags WHERE id_tag = 'TAG-2'") == "Blocked"
    assert await operator.fetchval("SELECT value FROM ocpp.settings WHERE key = 'unknown_charge_points'") == "reject"
    assert await operator.fetchval("SELECT ocpp.remove_id_tag('TAG-2')") is True
    assert await operator.fetchval("SELECT ocpp.remove_charge_point('CP-2')") is True


async def test_operator_reads_every_view_including_csrs_and_auth_failures(login_as, superuser):
    operator = await login_as("pgcsms_operator")
    views = await relations(superuser, "ocpp")
    assert view_names(views) >= READER_VIEWS | OPERATOR_ONLY_VIEWS
    for name in views:
        await operator.fetch(f"SELECT * FROM {name} LIMIT 1")
    assert "BEGIN CERTIFICATE REQUEST" in await operator.fetchval(
        "SELECT csr FROM ocpp.certificate_signing_requests WHERE charge_point_id = 'CP-1'")
    assert await operator.fetchval("SELECT http_status FROM ocpp.auth_failures WHERE charge_point_id = 'CP-1'") == 401


async def test_operator_reads_no_private_table_and_no_password_hash(login_as, superuser):
    operator = await login_as("pgcsms_operator")
    for name in await relations(superuser, "pgcsms"):
        await refused(operator, f"SELECT 1 FROM {name} LIMIT 1")
    stored = await superuser.fetchval("SELECT password_hash FROM pgcsms.charge_points WHERE id = 'CP-1'")
    assert stored.startswith("$2")
    for name in await relations(superuser, "ocpp"):
        text = "".join(r["row"] for r in await operator.fetch(f"SELECT to_jsonb(v)::text AS row FROM {name} AS v"))
        assert stored not in text and PASSWORD not in text, name
    await refused(operator, "SELECT pgcsms.crypt('x', 'y')")


async def test_operator_cannot_act_as_the_proxy_nor_call_internals(login_as):
    operator = await login_as("pgcsms_operator")
    for sql, args in PROXY_CALLS + INTERNALS:
        await refused(operator, sql, *args)


# -- pgcsms_reader -----------------------------------------------------------------


async def test_reader_reads_the_documented_views(login_as, superuser):
    reader = await login_as("pgcsms_reader")
    for name in sorted(READER_VIEWS):
        await reader.fetch(f"SELECT * FROM ocpp.{name} LIMIT 1")
    assert await reader.fetchval("SELECT has_password FROM ocpp.charge_points WHERE id = 'CP-1'") is True


async def test_reader_never_sees_csrs_auth_failures_or_secrets(login_as, superuser):
    reader = await login_as("pgcsms_reader")
    for name in sorted(OPERATOR_ONLY_VIEWS):
        await refused(reader, f"SELECT * FROM ocpp.{name} LIMIT 1")
    for name in await relations(superuser, "pgcsms"):
        await refused(reader, f"SELECT 1 FROM {name} LIMIT 1")
    readable = await reader.fetch(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema IN ('ocpp', 'pgcsms')")
    assert readable, "information_schema shows the columns a role can read"
    secret = [(r["table_name"], r["column_name"]) for r in readable
              if r["column_name"] in ("password_hash", "csr") or r["table_name"] in OPERATOR_ONLY_VIEWS]
    assert secret == []


async def test_reader_reads_the_journal_without_csrs(login_as):
    reader = await login_as("pgcsms_reader")
    operator = await login_as("pgcsms_operator")
    query = "SELECT payload FROM ocpp.message_log WHERE action = 'SignCertificate' AND direction = 'in'"
    assert "BEGIN CERTIFICATE REQUEST" not in await reader.fetchval(query)
    assert "BEGIN CERTIFICATE REQUEST" in await operator.fetchval(query)
    everything = await reader.fetch("SELECT to_jsonb(m)::text AS row FROM ocpp.message_log AS m")
    assert not any("BEGIN CERTIFICATE REQUEST" in r["row"] for r in everything)


async def test_reader_cannot_call_anything_that_writes(login_as):
    reader = await login_as("pgcsms_reader")
    for sql, args in WRITES + PROXY_CALLS + INTERNALS:
        await refused(reader, sql, *args)
    # Whatever it may execute only reads: IMMUTABLE or STABLE functions cannot write.
    volatile = {name for name, volatility in (await executable(reader)).items() if volatility == "v"}
    assert volatile == set()
