"""OCPP 2.1 at the SQL layer: a station connected over 2.1, its CALLs and SENDs, and its proxy.

Every CALL or SEND a test makes the station send is checked against the
official 2.1 request schema first (``ocpp.v21`` schemas of the ``ocpp``
package), and every CALLRESULT against the 2.1 response schema, as a strict
station would; every command queued is claimed, its payload checked against
the 2.1 request schema, and answered with a CALLRESULT that passes the 2.1
response schema.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from pgcsms.proxy.ocppj import Validator

V21 = Validator("2.1")
NODE = "node-21"
CS = "CS-21"


class Station:
    """Plays CS-21 (OCPP 2.1) and its proxy."""

    def __init__(self, db: asyncpg.Connection, epoch: int, identity: str = CS) -> None:
        self.db = db
        self.epoch = epoch
        self.id = identity

    async def call(self, action: str, payload: dict[str, Any], *, unique_id: str | None = None) -> dict[str, Any]:
        """A CALL of the station, valid against its 2.1 schema; the CALLRESULT, valid against its schema."""
        reply = await self.reply(action, payload, unique_id=unique_id)
        assert reply["error_code"] is None, reply
        return reply["result"]

    async def reply(self, action: str, payload: dict[str, Any], *, unique_id: str | None = None) -> dict[str, Any]:
        """What ``ocpp.parse`` answers a valid CALL: result (checked against the schema) or a CALLERROR."""
        V21.check_request(action, payload)
        row = await self.db.fetchrow(
            "SELECT result::text, error_code, error_description FROM ocpp.parse($1, $2, $3, $4::jsonb, '2.1', $5)",
            self.id, unique_id or uuid.uuid4().hex, action, json.dumps(payload), NODE)
        result = None if row["result"] is None else json.loads(row["result"])
        if result is not None:
            V21.check_response(action, result)
        return {"result": result, "error_code": row["error_code"], "error_description": row["error_description"]}

    async def send(self, action: str, payload: dict[str, Any], *, unique_id: str | None = None) -> dict[str, Any]:
        """A SEND of the station (message type 6), valid against its schema: nothing to answer, only an error."""
        V21.check_request(action, payload)
        row = await self.db.fetchrow(
            "SELECT result, error_code, error_description "
            "FROM ocpp.parse($1, $2, $3, $4::jsonb, '2.1', $5, 6::smallint)",
            self.id, unique_id or uuid.uuid4().hex, action, json.dumps(payload), NODE)
        assert row["result"] is None
        return dict(row)

    async def run(self, sql: str, *args: Any, response: dict[str, Any] | None) -> dict[str, Any]:
        """Run a helper, deliver its command (checked), answer it (None: no answer); the command row after."""
        command_id = await self.db.fetchval(sql, *args)
        sent = await self.deliver(command_id)
        if response is not None:
            await self.answer(sent["unique_id"], sent["action"], response)
        return await self.command(command_id)

    async def deliver(self, command_id: int) -> dict[str, Any]:
        """Claim the command as the proxy would and check its payload against the 2.1 request schema."""
        sent = await self.db.fetchrow("SELECT * FROM ocpp.next_command($1, $2, $3)", self.id, NODE, self.epoch)
        assert sent is not None and sent["command_id"] == command_id
        V21.check_request(sent["action"], json.loads(sent["payload"]))
        return {**dict(sent), "payload": json.loads(sent["payload"])}

    async def answer(self, unique_id: str, action: str, response: dict[str, Any]) -> None:
        V21.check_response(action, response)
        assert await self.db.fetchval("SELECT ocpp.complete_command($1, $2, $3::jsonb, NULL, NULL, $4)",
                                      self.id, unique_id, json.dumps(response), NODE)

    async def command(self, command_id: int) -> dict[str, Any]:
        row = dict(await self.db.fetchrow("SELECT * FROM ocpp.commands WHERE id = $1", command_id))
        return {**row, "payload": json.loads(row["payload"]),
                "response": None if row["response"] is None else json.loads(row["response"])}


@pytest.fixture
async def station(db: asyncpg.Connection) -> AsyncIterator[Station]:
    """CS-21, Accepted, connected over OCPP 2.1; no command effect may fail."""
    await db.execute("SELECT ocpp.add_charge_point($1)", CS)
    epoch = await db.fetchval("SELECT epoch FROM ocpp.connect($1, $2, NULL, '2.1')", CS, NODE)
    yield Station(db, epoch)
    assert await db.fetch("SELECT detail FROM ocpp.anomalies WHERE kind = 'command_effect_failed'") == []


@pytest.fixture
def rows(db: asyncpg.Connection) -> Any:
    """``await rows(sql, *args)``: the rows as dicts."""

    async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in await db.fetch(sql, *args)]

    return fetch
