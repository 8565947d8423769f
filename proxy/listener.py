"""The LISTEN side: a dedicated connection hears of new commands and of chargers taken over by
another node; a timer sweeps what a lost notification left behind."""

from __future__ import annotations

import asyncio
import json

from . import dbconnect
from .delivery import Delivery
from .state import DATABASE_ERRORS, logger

__all__ = ["COMMAND_CHANNEL", "EVENT_CHANNEL", "Listener"]

# NOTIFY channels: a command was queued (payload: charge point id); integrator
# events (JSON), of which we read "connected" to drop sockets another node took over.
COMMAND_CHANNEL = "pgcsms_command"
EVENT_CHANNEL = "ocpp_event"

_COMMAND_BACKLOG = "SELECT charge_point_id, epoch FROM ocpp.command_backlog($1)"

# Seconds between attempts to get the LISTEN connection back, at most.
LISTEN_RETRY_MAX = 2.0


class Listener(Delivery):
    """Wakes the delivery of the sessions a notification or the sweep names."""

    def _on_notification(self, connection: object, pid: int, channel: str, payload: str) -> None:
        if channel == COMMAND_CHANNEL:
            session = self.sessions.get(payload)
            if session is not None:
                self._wake(session)
        elif channel == EVENT_CHANNEL:
            try:
                event = json.loads(payload)
            except ValueError:
                return
            if event.get("event") != "connected" or event.get("node_id") == self.node_id:
                return
            session = self.sessions.get(event.get("charge_point_id", ""))
            # Only a newer connection elsewhere replaces ours; a late event of an older one does not.
            if session is not None and int(event.get("epoch") or 0) > session.epoch:
                # Another node holds this charger now; its epoch already fences us.
                logger.info("%s reconnected to node %s: closing our socket", session.charge_point_id,
                            event.get("node_id"))
                session.tasks.append(asyncio.create_task(
                    session.websocket.close(1000, "replaced by a connection on another node")))

    async def _listen(self) -> None:
        """LISTEN on a dedicated connection (never a pooled one), reconnecting by itself."""
        backoff = 0.5
        while True:
            try:
                connection = await dbconnect.connect(self.dsn, server_settings={
                    "application_name": f"pgcsms {self.node_id} listener"})
            except (TimeoutError, *DATABASE_ERRORS):
                logger.warning("listener cannot connect; retrying in %.1f s", backoff)
                await asyncio.sleep(backoff)
                # A few seconds at most: commands wait on this connection, and the sweep
                # (every sweep_interval) is only the safety net.
                backoff = min(backoff * 2, LISTEN_RETRY_MAX)
                continue
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
            try:
                await connection.add_listener(COMMAND_CHANNEL, self._on_notification)
                await connection.add_listener(EVENT_CHANNEL, self._on_notification)
                backoff = 0.5
                self._listening.set()
                # Whatever was queued while we were not listening.
                for session in list(self.sessions.values()):
                    self._wake(session)
                await lost.wait()
                logger.warning("listener connection lost; reconnecting")
            except DATABASE_ERRORS:
                logger.exception("listener failed; reconnecting")
            finally:
                self._listening.clear()
                if not connection.is_closed():
                    await connection.close()

    async def _read_call_timeout(self) -> None:
        """The database's call_timeout, which its own sweep of stale commands also uses."""
        if self._call_timeout_from_database:
            assert self.pool is not None
            configured = await self.pool.fetchval("SELECT ocpp.setting('call_timeout')")
            if configured:
                self.call_timeout = float(configured)

    async def _sweep(self) -> None:
        """NOTIFY is only a nudge: look for commands a lost notification left behind."""
        while True:
            await asyncio.sleep(self.sweep_interval)
            assert self.pool is not None
            try:
                await self._read_call_timeout()
                rows = await self.pool.fetch(_COMMAND_BACKLOG, self.node_id)
            except DATABASE_ERRORS:
                logger.exception("command sweep failed")
                continue
            for row in rows:
                session = self.sessions.get(row["charge_point_id"])
                if session is not None and session.epoch == row["epoch"]:
                    self._wake(session)
