"""A multi-host DSN whose first host accepts TCP but never answers (a frozen primary) costs seconds, not a minute."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import AsyncIterator

import psycopg
import pytest
from pgcsms.proxy import dbconnect
from pgcsms.proxy.migrate import migrate
from pgcsms.proxy.server import CentralSystem


@pytest.fixture
async def frozen_port() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def _multi_host(dsn: str, frozen_port: int) -> str:
    """The test database's DSN with a frozen TCP host before its Unix socket."""
    parts = urllib.parse.urlsplit(dsn)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query["host"] = f"127.0.0.1,{query['host']}"
    query["port"] = f"{frozen_port},{query.get('port', '5432')}"
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, safe="/,")))


def test_split_hosts_reads_uri_and_parameter_forms():
    assert dbconnect.split_hosts("postgresql://u@a:1,b:2,[::1]:3/db?target_session_attrs=read-write") == [
        "postgresql://u@a:1/db?target_session_attrs=read-write",
        "postgresql://u@b:2/db?target_session_attrs=read-write",
        "postgresql://u@[::1]:3/db?target_session_attrs=read-write"]
    assert dbconnect.split_hosts("postgresql://u@/db?host=/run/a,/run/b&port=5432") == [
        "postgresql://u@/db?host=/run/a&port=5432", "postgresql://u@/db?host=/run/b&port=5432"]
    assert dbconnect.split_hosts("postgresql://u@one:5/db") == ["postgresql://u@one:5/db"]
    assert dbconnect.split_hosts("host=a dbname=b") == ["host=a dbname=b"]


async def test_the_pool_and_listener_pass_a_frozen_first_host(dsn, frozen_port, db):
    await db.execute("SELECT ocpp.add_charge_point('CP-F')")
    multi = _multi_host(dsn, frozen_port)
    started = time.monotonic()
    server = CentralSystem(multi, host="127.0.0.1", port=0, node_id="failover", pool_size=2)
    try:
        await asyncio.wait_for(server.start(), 30)
        await asyncio.wait_for(server.wait_listening(), 30)
        assert await server.check_database()
    finally:
        await server.close()
    # The first connection spends one per-host timeout on the frozen host; the others start at the good one.
    assert time.monotonic() - started < 2 * dbconnect.PER_HOST_TIMEOUT + 5  # the first connection pays, once


@pytest.mark.timeout(60)
def test_migrate_passes_a_frozen_first_host(dsn, frozen_port):
    started = time.monotonic()
    migrate(_multi_host(dsn, frozen_port))
    assert time.monotonic() - started < 2 * dbconnect.PER_HOST_TIMEOUT + 5
    with psycopg.connect(dsn) as connection:
        assert connection.execute("SELECT count(*) FROM ocpp.protocol_actions").fetchone()[0] > 0
