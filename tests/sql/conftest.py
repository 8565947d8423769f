"""SQL-layer fixtures: CALLs through ocpp.parse, answers checked against the official schemas.

``db`` is, as in tests/conftest.py, a connection to a database of the test's
own, in autocommit. Cloning that database costs a third of a second, so a
module marked ``pytestmark = pytest.mark.rollback`` gets instead a connection
to one migrated database shared by the session, inside a transaction rolled
back after each test: there ``now()`` stands still and notifications are never
delivered (take ``fresh_db`` for those). A statement expected to fail goes in
``async with fails(...)``, so that only its savepoint is rolled back.
"""

from __future__ import annotations

import contextlib
import json
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from pgcsms.proxy.ocppj import Validator
from pytest_postgresql.janitor import DatabaseJanitor

_validators = {version: Validator(version) for version in ("1.6", "2.0.1")}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rollback: db is the session's shared database, in a transaction rolled back after the test")


@pytest.fixture(scope="session")
def shared_dsn(pg_template: Any) -> Any:
    """One migrated database for the rollback tests, cloned once from the template."""
    janitor = DatabaseJanitor(user=pg_template.user, host=pg_template.host, port=pg_template.port,
                              dbname="pgcsms_sql_shared", template_dbname=pg_template.template_dbname,
                              maintenance_dbname=pg_template.maintenance_dbname)
    with janitor:
        host = urllib.parse.quote(str(pg_template.host), safe="")
        yield f"postgresql://{pg_template.user}@/pgcsms_sql_shared?host={host}&port={pg_template.port}"


@pytest.fixture
async def db(request: pytest.FixtureRequest) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection: to the test's own database, or rolled back (``rollback`` marker)."""
    rollback = request.node.get_closest_marker("rollback") is not None
    dsn = request.getfixturevalue("shared_dsn" if rollback else "dsn")
    connection = await asyncpg.connect(dsn, server_settings={"timezone": "UTC"})
    try:
        if not rollback:
            yield connection
            return
        transaction = connection.transaction()
        await transaction.start()
        try:
            yield connection
        finally:
            with contextlib.suppress(asyncpg.InterfaceError):
                await transaction.rollback()
    finally:
        await connection.close()


@pytest.fixture
async def fresh_db(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection to a database of this test's own, in autocommit."""
    connection = await asyncpg.connect(dsn, server_settings={"timezone": "UTC"})
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def fails(db: asyncpg.Connection) -> Callable[..., contextlib.AbstractAsyncContextManager[Any]]:
    """``async with fails(asyncpg.SomeError, match=...) as caught:`` in a savepoint of its own."""

    @contextlib.asynccontextmanager
    async def expect(exception: type[BaseException], match: str | None = None) -> AsyncIterator[Any]:
        with pytest.raises(exception, match=match) as caught:
            async with db.transaction():
                yield caught

    return expect


@dataclass(frozen=True, slots=True)
class Reply:
    """What ocpp.parse returned: a CALLRESULT payload, or a CALLERROR code and description."""

    result: dict[str, Any] | None
    error_code: str | None
    error_description: str | None


Parse = Callable[..., Awaitable[Reply]]


@pytest.fixture
def parse(db: asyncpg.Connection) -> Parse:
    """``await parse(cp, action, payload, unique_id=None, version='1.6')``.

    Every CALLRESULT must pass the official response schema of the version,
    as a charger would check it.
    """

    async def call(charge_point_id: str, action: str, payload: dict[str, Any] | None = None, *,
                   unique_id: str | None = None, version: str = "1.6", node_id: str | None = None) -> Reply:
        row = await db.fetchrow(
            "SELECT result::text, error_code, error_description FROM ocpp.parse($1, $2, $3, $4::jsonb, $5, $6)",
            charge_point_id, unique_id or uuid.uuid4().hex, action, json.dumps(payload or {}), version, node_id)
        result = None if row["result"] is None else json.loads(row["result"])
        if result is not None:
            assert row["error_code"] is None
            _validators[version].check_response(action, result)
        else:
            assert row["error_code"] is not None
        return Reply(result, row["error_code"], row["error_description"])

    return call


@pytest.fixture
async def cp(db: asyncpg.Connection) -> str:
    """An Accepted charge point, CP-1."""
    await db.execute("SELECT ocpp.add_charge_point('CP-1')")
    return "CP-1"
