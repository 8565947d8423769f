"""Commands to a charger: claim the next queued one, send it, settle it (answer, timeout, failure).

OCPP-J allows one CALL in flight per direction: a session has at most one
:class:`InFlight`; its answer, timeout or the connection's end frees the slot
and wakes the pump for the next command in queue order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from websockets.exceptions import ConnectionClosed

from . import ocppj
from .state import DATABASE_ERRORS, InFlight, ServerState, Session, logger

__all__ = ["Delivery"]

_NEXT_COMMAND = "SELECT command_id, unique_id, action, payload FROM ocpp.next_command($1, $2, $3)"
_FAIL_COMMAND = "SELECT ocpp.fail_command($1, $2, $3, $4)"


class Delivery(ServerState):
    """Sends each charger its queued commands, one at a time."""

    def _wake(self, session: Session) -> None:
        """Send the charger its next queued command, unless one is in flight."""
        if session.pumping:
            session.pump_again = True
            return
        if session.in_flight is None:
            session.pumping = True
            session.tasks.append(asyncio.create_task(self._pump(session)))
            session.tasks[:] = [task for task in session.tasks if not task.done()]

    async def _pump(self, session: Session) -> None:
        try:
            while session.in_flight is None and self.sessions.get(session.charge_point_id) is session:
                session.pump_again = False
                assert self.pool is not None
                try:
                    row = await self.pool.fetchrow(_NEXT_COMMAND, session.charge_point_id, self.node_id,
                                                   session.epoch)
                except DATABASE_ERRORS:
                    logger.exception("could not claim a command for %s", session.charge_point_id)
                    return
                if row is None:
                    if session.pump_again:
                        continue
                    return
                await self._deliver(session, row["command_id"], row["unique_id"], row["action"], row["payload"])
        finally:
            session.pumping = False

    async def _deliver(self, session: Session, command_id: int, unique_id: str, action: str,
                       payload_json: str) -> None:
        """Send one claimed command, or fail it if its payload breaks the schema."""
        assert self.pool is not None
        try:
            self.validators[session.version].check_request(action, json.loads(payload_json))
        except (ocppj.PayloadError, KeyError) as error:
            code = error.code if isinstance(error, ocppj.PayloadError) else "NotSupported"
            text = error.description if isinstance(error, ocppj.PayloadError) else f"no schema for {action}"
            self.stats.commands["failed"] += 1
            await self._fail_command(command_id, "failed", code, text)
            return
        self.stats.commands["sent"] += 1
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.call_timeout, self._on_timeout, session, unique_id)
        session.in_flight = InFlight(command_id, unique_id, action, timer)
        # If the socket is gone, the disconnect path settles the in-flight command.
        with contextlib.suppress(ConnectionClosed):
            await session.websocket.send(ocppj.call_frame(unique_id, action, payload_json))

    def _on_timeout(self, session: Session, unique_id: str) -> None:
        in_flight = session.in_flight
        if in_flight is None or in_flight.unique_id != unique_id:
            return
        session.tasks.append(asyncio.create_task(
            self._finish_in_flight(session, "timeout", None, f"no answer within {self.call_timeout:g} s")))

    async def _finish_in_flight(self, session: Session, status: str, code: str | None, text: str) -> None:
        in_flight = session.in_flight
        if in_flight is None:
            return
        in_flight.timer.cancel()
        session.in_flight = None
        self.stats.commands[status] += 1
        await self._fail_command(in_flight.command_id, status, code, text)
        self._wake(session)

    async def _fail_command(self, command_id: int, status: str, code: str | None, text: str) -> None:
        assert self.pool is not None
        try:
            await self.pool.execute(_FAIL_COMMAND, command_id, status, code, text)
        except DATABASE_ERRORS:
            logger.exception("could not record command %d as %s", command_id, status)
