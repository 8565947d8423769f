"""Authorize and id tag management."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

pytestmark = pytest.mark.rollback

NOW = "2024-05-01T12:00:00Z"


async def authorize(parse, cp: str, tag: str) -> dict:
    return (await parse(cp, "Authorize", {"idTag": tag})).result["idTagInfo"]


async def test_accepted(db, parse, cp):
    await db.execute("SELECT ocpp.add_id_tag('TAG-1')")
    assert await authorize(parse, cp, "TAG-1") == {"status": "Accepted"}


async def test_unknown_tag_is_invalid(parse, cp):
    assert await authorize(parse, cp, "NOPE") == {"status": "Invalid"}


@pytest.mark.parametrize("status", ["Blocked", "Expired", "Invalid"])
async def test_status_of_the_tag(db, parse, cp, status):
    await db.execute("SELECT ocpp.add_id_tag('TAG-1', $1)", status)
    assert (await authorize(parse, cp, "TAG-1"))["status"] == status


async def test_expired_by_expiry_date(db, parse, cp):
    expired = datetime.now(UTC) - timedelta(days=1)
    await db.execute("SELECT ocpp.add_id_tag('TAG-1', 'Accepted', $1)", expired)
    info = await authorize(parse, cp, "TAG-1")
    assert info["status"] == "Expired"
    assert datetime.fromisoformat(info["expiryDate"].replace("Z", "+00:00")) == expired.replace(
        microsecond=expired.microsecond // 1000 * 1000)


async def test_expiry_date_and_parent_are_given(db, parse, cp):
    await db.execute("SELECT ocpp.add_id_tag('TAG-1', 'Accepted', '2099-01-02T03:04:05.678Z', 'GROUP-1')")
    assert await authorize(parse, cp, "TAG-1") == {
        "status": "Accepted", "expiryDate": "2099-01-02T03:04:05.678Z", "parentIdTag": "GROUP-1"}


async def test_tags_match_case_insensitively(db, parse, cp):
    await db.execute("SELECT ocpp.add_id_tag('abcDEF01')")
    assert (await authorize(parse, cp, "ABCdef01"))["status"] == "Accepted"


async def test_concurrent_transaction(db, parse, cp):
    await db.execute("SELECT ocpp.add_id_tag('TAG-1')")
    await parse(cp, "StartTransaction", {"connectorId": 1, "idTag": "TAG-1", "meterStart": 0, "timestamp": NOW})
    assert (await authorize(parse, cp, "tag-1"))["status"] == "ConcurrentTx"
    # ...on any charger.
    await db.execute("SELECT ocpp.add_charge_point('CP-2')")
    assert (await authorize(parse, "CP-2", "TAG-1"))["status"] == "ConcurrentTx"


async def test_concurrent_only_while_open(db, parse, cp):
    await db.execute("SELECT ocpp.add_id_tag('TAG-1')")
    started = await parse(cp, "StartTransaction",
                          {"connectorId": 1, "idTag": "TAG-1", "meterStart": 0, "timestamp": NOW})
    await parse(cp, "StopTransaction", {"transactionId": started.result["transactionId"], "meterStop": 5,
                                        "timestamp": NOW})
    assert (await authorize(parse, cp, "TAG-1"))["status"] == "Accepted"


async def test_blocked_at_a_pending_charger(db, parse):
    await db.execute("SELECT ocpp.add_id_tag('TAG-1', expires_at => '2099-01-01Z', parent_id_tag => 'G')")
    await db.execute("SELECT ocpp.add_charge_point('CP-X', 'Pending')")
    assert await authorize(parse, "CP-X", "TAG-1") == {"status": "Blocked"}


async def test_a_rejected_charger_may_not_ask(db, parse):
    await db.execute("SELECT ocpp.add_id_tag('TAG-1')")
    await db.execute("SELECT ocpp.add_charge_point('CP-X', 'Rejected')")
    assert (await parse("CP-X", "Authorize", {"idTag": "TAG-1"})).error_code == "SecurityError"


async def test_an_invalid_tag_stays_invalid_at_a_pending_charger(db, parse):
    await db.execute("SELECT ocpp.add_charge_point('CP-X', 'Pending')")
    assert (await authorize(parse, "CP-X", "NOPE"))["status"] == "Invalid"


async def test_removed_tag_is_invalid(db, parse, cp):
    await db.execute("SELECT ocpp.add_id_tag('TAG-1')")
    assert await db.fetchval("SELECT ocpp.remove_id_tag('tag-1')") is True
    assert (await authorize(parse, cp, "TAG-1"))["status"] == "Invalid"
    assert await db.fetchval("SELECT ocpp.remove_id_tag('tag-1')") is False


# -- add_id_tag ------------------------------------------------------------------

async def test_add_id_tag_updates_the_same_tag_in_any_case(db):
    await db.execute("SELECT ocpp.add_id_tag('Tag-1', description => 'blue card')")
    await db.execute("SELECT ocpp.add_id_tag('TAG-1', 'Blocked', parent_id_tag => 'G')")
    rows = await db.fetch("SELECT * FROM ocpp.id_tags")
    assert [(r["id_tag"], r["status"], r["parent_id_tag"], r["description"]) for r in rows] == [
        ("Tag-1", "Blocked", "G", "blue card")]


@pytest.mark.parametrize("tag", ["", "x" * 21, None])
async def test_add_id_tag_refuses_bad_tags(db, fails, tag):
    async with fails(asyncpg.InvalidParameterValueError, match="1 to 20 characters"):
        await db.execute("SELECT ocpp.add_id_tag($1)", tag)


@pytest.mark.parametrize("status", ["accepted", "ConcurrentTx", ""])
async def test_add_id_tag_refuses_bad_status(db, fails, status):
    async with fails(asyncpg.InvalidParameterValueError, match="status must be"):
        await db.execute("SELECT ocpp.add_id_tag('TAG-1', $1)", status)
    assert await db.fetchval("SELECT count(*) FROM ocpp.id_tags") == 0
