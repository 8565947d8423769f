"""Charger authentication: ocpp.set_password, ocpp.set_security_profile, ocpp.authenticate.

Security profiles of the OCPP 1.6 Security Whitepaper: 0 none, 1 HTTP Basic auth,
2 TLS + Basic auth, 3 TLS client certificate.
"""

from __future__ import annotations

import json

import asyncpg
import pytest

PASSWORD = "correct horse battery staple"  # 28 characters
HEX_KEY = "00112233445566778899aabbccddeeff01234567"  # a 20-byte AuthorizationKey in hex


async def authenticate(db: asyncpg.Connection, charge_point_id: str | None, password: str | None,
                       transport: str = "ws", client_cn: str | None = None,
                       remote_address: str | None = "192.0.2.7") -> tuple[bool, int | None, str]:
    row = await db.fetchrow("SELECT allowed, http_status, reason FROM ocpp.authenticate($1, $2, $3, $4, $5)",
                            charge_point_id, password, transport, client_cn, remote_address)
    return row["allowed"], row["http_status"], row["reason"]


async def charger(db: asyncpg.Connection, profile: int, password: str | None = PASSWORD,
                  charge_point_id: str = "CP-1") -> str:
    await db.execute("SELECT ocpp.add_charge_point($1)", charge_point_id)
    if password is not None:
        await db.execute("SELECT ocpp.set_password($1, $2)", charge_point_id, password)
    await db.execute("SELECT ocpp.set_security_profile($1, $2)", charge_point_id, profile)
    return charge_point_id


async def failures(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM ocpp.auth_failures ORDER BY id")


# -- set_password ----------------------------------------------------------------


async def test_set_password_stores_bcrypt_and_raises_the_profile(db):
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    await db.execute("SELECT ocpp.set_password('CP-1', $1)", PASSWORD)
    stored = await db.fetchval("SELECT password_hash FROM pgcsms.charge_points WHERE id = 'CP-1'")
    assert stored.startswith("$2") and PASSWORD not in stored
    assert await db.fetchval("SELECT pgcsms.crypt($1, $2) = $2", PASSWORD, stored)
    row = await db.fetchrow("SELECT security_profile, has_password FROM ocpp.charge_points WHERE id = 'CP-1'")
    assert (row["security_profile"], row["has_password"]) == (1, True)


async def test_each_password_gets_its_own_salt(db):
    for cp in ("CP-1", "CP-2"):
        await db.execute("SELECT ocpp.add_charge_point($1)", cp)
        await db.execute("SELECT ocpp.set_password($1, $2)", cp, PASSWORD)
    hashes = await db.fetch("SELECT password_hash FROM pgcsms.charge_points")
    assert len({r["password_hash"] for r in hashes}) == 2


async def test_set_password_keeps_a_higher_profile(db):
    await charger(db, 3)
    await db.execute("SELECT ocpp.set_password('CP-1', $1)", "another password 123")
    assert await db.fetchval("SELECT security_profile FROM ocpp.charge_points WHERE id = 'CP-1'") == 3


@pytest.mark.parametrize("password, words", [
    ("x" * 15, "at least 16 characters"),
    ("é" * 37, "at most 72 bytes"),
    ("sixteen chars ok\n", "no control characters"),
])
async def test_set_password_refuses_weak_or_unusable_passwords(db, fails, password, words):
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    async with fails(asyncpg.InvalidParameterValueError, match=words) as raised:
        await db.execute("SELECT ocpp.set_password('CP-1', $1)", password)
    assert password not in str(raised.value)
    assert await db.fetchval("SELECT has_password FROM ocpp.charge_points WHERE id = 'CP-1'") is False


async def test_sixteen_characters_are_enough(db):
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    await db.execute("SELECT ocpp.set_password('CP-1', $1)", "x" * 16)
    assert (await authenticate(db, "CP-1", "x" * 16))[0] is True


async def test_set_password_for_an_unknown_charge_point(db, fails):
    async with fails(asyncpg.NoDataFoundError, match="no charge point 'CP-9'"):
        await db.execute("SELECT ocpp.set_password('CP-9', $1)", PASSWORD)


async def test_clearing_the_password_of_a_basic_auth_charger_is_refused(db, fails):
    await charger(db, 2)
    async with fails(asyncpg.InvalidParameterValueError, match="needs its password"):
        await db.execute("SELECT ocpp.set_password('CP-1', NULL)")
    assert await db.fetchval("SELECT has_password FROM ocpp.charge_points WHERE id = 'CP-1'") is True


async def test_clearing_the_password_at_profile_3(db):
    await charger(db, 3)
    await db.execute("SELECT ocpp.set_password('CP-1', NULL)")
    row = await db.fetchrow("SELECT security_profile, has_password FROM ocpp.charge_points WHERE id = 'CP-1'")
    assert (row["security_profile"], row["has_password"]) == (3, False)


async def test_a_new_password_replaces_the_old_one(db):
    await charger(db, 1)
    await db.execute("SELECT ocpp.set_password('CP-1', $1)", "the new password, 2024")
    assert (await authenticate(db, "CP-1", PASSWORD))[:2] == (False, 401)
    assert (await authenticate(db, "CP-1", "the new password, 2024"))[0] is True


# -- set_security_profile --------------------------------------------------------


async def test_profile_0_switches_authentication_off_and_clears_the_password(db):
    await charger(db, 2)
    await db.execute("SELECT ocpp.set_security_profile('CP-1', 0)")
    row = await db.fetchrow("SELECT security_profile, has_password FROM ocpp.charge_points WHERE id = 'CP-1'")
    assert (row["security_profile"], row["has_password"]) == (0, False)
    assert await db.fetchval("SELECT password_hash FROM pgcsms.charge_points WHERE id = 'CP-1'") is None


@pytest.mark.parametrize("profile", [1, 2])
async def test_basic_auth_profiles_need_a_password_first(db, fails, profile):
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    async with fails(asyncpg.InvalidParameterValueError, match="needs a password"):
        await db.execute("SELECT ocpp.set_security_profile('CP-1', $1)", profile)


@pytest.mark.parametrize("profile", [-1, 4, None])
async def test_profiles_are_0_to_3(db, fails, profile):
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    async with fails(asyncpg.InvalidParameterValueError, match="a security profile is 0"):
        await db.execute("SELECT ocpp.set_security_profile('CP-1', $1)", profile)


async def test_set_security_profile_for_an_unknown_charge_point(db, fails):
    async with fails(asyncpg.NoDataFoundError):
        await db.execute("SELECT ocpp.set_security_profile('CP-9', 3)")


async def test_the_table_itself_keeps_profile_and_password_consistent(db, fails):
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    async with fails(asyncpg.CheckViolationError):
        await db.execute("UPDATE pgcsms.charge_points SET security_profile = 1 WHERE id = 'CP-1'")
    async with fails(asyncpg.CheckViolationError):
        await db.execute("UPDATE pgcsms.charge_points SET password_hash = 'x' WHERE id = 'CP-1'")
    async with fails(asyncpg.CheckViolationError):
        await db.execute("UPDATE pgcsms.charge_points SET security_profile = 4 WHERE id = 'CP-1'")


# -- authenticate ----------------------------------------------------------------


@pytest.mark.parametrize("transport", ["ws", "wss"])
@pytest.mark.parametrize("password", [None, "anything at all, ignored"])
async def test_profile_0_lets_anyone_in(db, transport, password):
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    allowed, status, _ = await authenticate(db, "CP-1", password, transport)
    assert (allowed, status) == (True, None)
    assert await failures(db) == []


@pytest.mark.parametrize("transport", ["ws", "wss"])
async def test_profile_1_needs_the_right_password(db, transport):
    await charger(db, 1)
    assert (await authenticate(db, "CP-1", PASSWORD, transport))[:2] == (True, None)
    assert (await authenticate(db, "CP-1", PASSWORD.upper(), transport))[:2] == (False, 401)
    assert (await authenticate(db, "CP-1", None, transport))[:2] == (False, 401)
    assert (await authenticate(db, "CP-1", "", transport))[:2] == (False, 401)
    assert [r["http_status"] for r in await failures(db)] == [401, 401, 401]


async def test_wrong_and_missing_password_look_the_same_to_the_charger(db):
    await charger(db, 1)
    wrong = await authenticate(db, "CP-1", "not the password at all")
    missing = await authenticate(db, "CP-1", None)
    assert wrong[:2] == missing[:2] == (False, 401)
    # The reasons differ, for the operator's log only.
    assert "wrong password" in wrong[2] and "no password" in missing[2]


async def test_profile_2_refuses_plain_ws_even_with_the_right_password(db):
    await charger(db, 2)
    allowed, status, reason = await authenticate(db, "CP-1", PASSWORD, "ws")
    assert (allowed, status) == (False, 403)
    assert "needs TLS" in reason and "sent in clear" in reason
    assert (await authenticate(db, "CP-1", None, "ws"))[:2] == (False, 403)


async def test_profile_2_needs_tls_and_the_right_password(db):
    await charger(db, 2)
    assert (await authenticate(db, "CP-1", PASSWORD, "wss"))[:2] == (True, None)
    assert (await authenticate(db, "CP-1", "not the password at all", "wss"))[:2] == (False, 401)
    assert (await authenticate(db, "CP-1", None, "wss"))[:2] == (False, 401)
    # A client certificate does not replace the password at profile 2.
    assert (await authenticate(db, "CP-1", None, "wss", "CP-1"))[:2] == (False, 401)


async def test_profile_3_needs_tls_and_a_certificate_for_this_identity(db):
    await charger(db, 3, password=None)
    assert (await authenticate(db, "CP-1", None, "wss", "CP-1"))[:2] == (True, None)
    assert (await authenticate(db, "CP-1", None, "ws", "CP-1"))[:2] == (False, 403)
    assert (await authenticate(db, "CP-1", None, "wss", None))[:2] == (False, 403)
    assert (await authenticate(db, "CP-1", None, "wss", "CP-2"))[:2] == (False, 403)
    assert (await authenticate(db, "CP-1", None, "wss", "cp-1"))[:2] == (False, 403)
    rows = await failures(db)
    assert [r["client_cn"] for r in rows] == ["CP-1", None, "CP-2", "cp-1"]
    assert "another identity" in rows[2]["reason"]


async def test_profile_3_does_not_need_nor_check_a_password(db):
    await charger(db, 3)
    assert (await authenticate(db, "CP-1", "not the password at all", "wss", "CP-1"))[:2] == (True, None)
    assert (await authenticate(db, "CP-1", PASSWORD, "wss", None))[:2] == (False, 403)


async def test_hex_keys_compare_case_insensitively(db):
    await charger(db, 1, password=HEX_KEY)
    assert (await authenticate(db, "CP-1", HEX_KEY.upper()))[0] is True
    assert (await authenticate(db, "CP-1", HEX_KEY.lower()))[0] is True
    assert (await authenticate(db, "CP-1", HEX_KEY[:-1] + "8"))[:2] == (False, 401)


async def test_a_password_beyond_bcrypt_length_never_matches(db):
    # bcrypt reads 72 bytes: a longer password must not pass on its prefix.
    key = "k" * 72
    await charger(db, 1, password=key)
    assert (await authenticate(db, "CP-1", key))[0] is True
    assert (await authenticate(db, "CP-1", key + "extra"))[:2] == (False, 401)


async def test_unknown_charge_point_rejected_by_policy_is_404(db):
    await db.execute("SELECT ocpp.set_setting('unknown_charge_points', 'reject')")
    assert (await authenticate(db, "CP-9", PASSWORD))[:2] == (False, 404)
    assert await db.fetchval("SELECT count(*) FROM ocpp.charge_points") == 0
    [row] = await failures(db)
    assert (row["charge_point_id"], row["http_status"], row["remote_address"]) == ("CP-9", 404, "192.0.2.7")


@pytest.mark.parametrize("policy, status", [("pending", "Pending"), ("accept", "Accepted")])
async def test_unknown_charge_point_registered_by_policy_starts_at_profile_0(db, policy, status):
    await db.execute("SELECT ocpp.set_setting('unknown_charge_points', $1)", policy)
    assert (await authenticate(db, "CP-9", None))[:2] == (True, None)
    row = await db.fetchrow("SELECT registration_status, security_profile, has_password "
                            "FROM ocpp.charge_points WHERE id = 'CP-9'")
    assert tuple(row) == (status, 0, False)


@pytest.mark.parametrize("identity", ["", "x" * 49, "CP\n1", None])
async def test_impossible_identities_are_404_not_errors(db, identity):
    await db.execute("SELECT ocpp.set_setting('unknown_charge_points', 'accept')")
    assert (await authenticate(db, identity, PASSWORD))[:2] == (False, 404)
    assert await db.fetchval("SELECT count(*) FROM ocpp.charge_points") == 0


async def test_transport_is_ws_or_wss(db, fails):
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    async with fails(asyncpg.InvalidParameterValueError, match="ws or wss"):
        await authenticate(db, "CP-1", None, "http")


async def test_sql_in_identity_password_and_cn_is_only_data(db):
    evil = "x'); DROP TABLE pgcsms.charge_points; --"
    await charger(db, 3, charge_point_id=evil)
    assert (await authenticate(db, evil, evil, "wss", evil))[:2] == (True, None)
    assert (await authenticate(db, evil, evil, "wss", evil + "'"))[:2] == (False, 403)
    assert await db.fetchval("SELECT count(*) FROM ocpp.charge_points") == 1


async def test_no_password_anywhere_but_its_hash(db):
    """Neither the passwords set nor the ones tried reach a view, a log or a refusal."""
    await charger(db, 1, charge_point_id="CP-1")
    await charger(db, 2, password=HEX_KEY, charge_point_id="CP-2")
    tried = ["a wrong password, 12345", PASSWORD, HEX_KEY]
    for cp in ("CP-1", "CP-2"):
        for password in tried:
            for transport in ("ws", "wss"):
                await authenticate(db, cp, password, transport)
    assert len(await failures(db)) > 0
    views = await db.fetch("SELECT c.oid::regclass::text AS name FROM pg_class AS c "
                           "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = 'ocpp' AND c.relkind = 'v'")
    hashes = [r["password_hash"] for r in await db.fetch("SELECT password_hash FROM pgcsms.charge_points")]
    for view in views:
        rows = await db.fetch(f"SELECT to_jsonb(v)::text AS row FROM {view['name']} AS v")
        text = "\n".join(r["row"] for r in rows)
        for secret in [*tried, HEX_KEY.upper(), *hashes]:
            assert secret not in text, f"{secret!r} is readable in {view['name']}"
    columns = await db.fetch("SELECT table_name, column_name FROM information_schema.columns "
                             "WHERE table_schema = 'ocpp' AND column_name LIKE '%password%'")
    assert [(c["table_name"], c["column_name"]) for c in columns] == [("charge_points", "has_password")]


async def test_refusals_are_recorded_with_their_circumstances(db):
    await charger(db, 2)
    await authenticate(db, "CP-1", "wrong but long enough", "wss", None, "198.51.100.4")
    [row] = await failures(db)
    assert {k: row[k] for k in ("charge_point_id", "transport", "remote_address", "http_status")} == {
        "charge_point_id": "CP-1", "transport": "wss", "remote_address": "198.51.100.4", "http_status": 401}
    assert row["at"] is not None
    assert "wrong but long enough" not in json.dumps(dict(row), default=str)


async def test_the_proxy_records_refusals_of_its_own(db):
    await db.execute("SELECT ocpp.log_auth_failure('CP-1', 'ws', '192.0.2.9', NULL, 401, $1)",
                     "malformed Basic credentials")
    [row] = await failures(db)
    assert (row["charge_point_id"], row["http_status"], row["reason"]) == ("CP-1", 401, "malformed Basic credentials")
