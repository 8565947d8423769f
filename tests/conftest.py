"""Test fixtures: one real PostgreSQL server per session, a fresh database per test.

The server is pgcsms's own embedded cluster (it runs PostgreSQL as an
unprivileged account when the tests run as root, which initdb demands).
pytest-postgresql builds a template database with every migration and
function file applied once, then clones it for each test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import psycopg
import pytest
from pgcsms.proxy.embedded import SUPERUSER, EmbeddedPostgres
from pgcsms.proxy.migrate import migrate
from pytest_postgresql import factories


@dataclass
class _Server:
    """What pytest-postgresql's noproc factory reads of a running server."""

    host: str
    port: int = 5432
    user: str = SUPERUSER
    password: str | None = None
    options: str = ""
    maintenance_dbname: str = "postgres"
    template_dbname: str | None = None


def _dsn(host: str, port: int | str, user: str, dbname: str) -> str:
    return f"postgresql://{user}@/{dbname}?host={urllib.parse.quote(str(host), safe='')}&port={port}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[_Server]:
    base = tempfile.mkdtemp(prefix="pgcsms-test-")
    os.chmod(base, 0o755)
    cluster = EmbeddedPostgres(os.path.join(base, "pgdata"))
    cluster.start()
    try:
        yield _Server(host=str(cluster.socket_dir))
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def _load_schema(host: str, port: int, user: str, dbname: str, password: str | None = None,
                 **_: object) -> None:
    migrate(_dsn(host, port, user, dbname))


pg_template = factories.postgresql_noproc(depends_on="pg_server", dbname="pgcsms_test", load=[_load_schema])
postgresql = factories.postgresql("pg_template")


@pytest.fixture
def dsn(postgresql: psycopg.Connection) -> str:
    """A URI for this test's own database, migrated."""
    info = postgresql.info
    return _dsn(info.host, info.port, info.user, info.dbname)


@pytest.fixture
async def db(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """An asyncpg connection to this test's database, as the superuser."""
    connection = await asyncpg.connect(dsn, server_settings={"timezone": "UTC"})
    try:
        yield connection
    finally:
        await connection.close()
