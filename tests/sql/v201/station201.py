"""A 2.0.1 station and its proxy for the SQL tests of the command blocks (smart charging, firmware
and logs, certificates, display messages, customer information, data transfer and security)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pgcsms.proxy.ocppj import Validator

__all__ = ["NODE", "NOW", "V201", "Station"]

V201 = Validator("2.0.1")
NODE = "node-a"
NOW = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Station:
    """Plays CP-201 (OCPP 2.0.1) and its proxy: each command queued is claimed, checked and answered."""

    def __init__(self, db: asyncpg.Connection, epoch: int) -> None:
        self.db = db
        self.epoch = epoch

    async def run(self, sql: str, *args: Any, response: dict[str, Any]) -> dict[str, Any]:
        """Run a helper, deliver its command, answer it; the command row after the answer."""
        command_id = await self.db.fetchval(sql, *args)
        sent = await self.db.fetchrow("SELECT * FROM ocpp.next_command('CP-201', $1, $2)", NODE, self.epoch)
        assert sent is not None and sent["command_id"] == command_id
        V201.check_request(sent["action"], json.loads(sent["payload"]))
        V201.check_response(sent["action"], response)
        assert await self.db.fetchval("SELECT ocpp.complete_command('CP-201', $1, $2::jsonb, NULL, NULL, $3)",
                                      sent["unique_id"], json.dumps(response), NODE)
        row = dict(await self.db.fetchrow("SELECT * FROM ocpp.commands WHERE id = $1", command_id))
        return {**row, "payload": json.loads(row["payload"])}

    async def send(self, parse: Any, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A CALL of the station, valid against its schema; the CALLRESULT (checked by ``parse``)."""
        V201.check_request(action, payload)
        reply = await parse("CP-201", action, payload, version="2.0.1")
        assert reply.error_code is None, reply
        return reply.result
