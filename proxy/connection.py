"""One charger's connection: its session, keepalive, frame loop and disconnection."""

from __future__ import annotations

import asyncio

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .frames import Frames
from .limits import TokenBucket
from .state import DATABASE_ERRORS, DISCONNECT, Session, logger

__all__ = ["Connections"]


class Connections(Frames):
    """Serves an admitted connection until it closes; a newer one for the same identity replaces it."""

    async def _serve_connection(self, websocket: ServerConnection) -> None:
        admitted = self._admitted.pop(websocket, None)
        if admitted is None:  # pragma: no cover - process_request always admits first
            await websocket.close(1011, "not admitted")
            return
        identity, version, epoch, ping_interval, has_commands = admitted
        session = Session(identity, websocket, version, epoch, ping_interval,
                          TokenBucket(self.limits.messages_per_second, self.limits.message_burst))
        previous = self.sessions.get(identity)
        self.sessions[identity] = session
        if previous is not None:
            logger.info("%s connected again: closing its previous connection", identity)
            previous.tasks.append(asyncio.create_task(previous.websocket.close(1000, "replaced by a new connection")))
        logger.info("%s connected (OCPP %s, epoch %d)", identity, version, epoch)
        if ping_interval > 0:
            session.tasks.append(asyncio.create_task(self._keepalive(session)))
        if has_commands:
            self._wake(session)  # commands queued while it was away
        try:
            flooding = False
            async for message in websocket:
                if flooding:
                    continue  # drain until the peer's close frame arrives
                if not session.rate.take():
                    logger.warning("%s exceeded %g messages/s: closing", identity, self.limits.messages_per_second)
                    # Closing waits for the peer's close frame, which queues behind
                    # unread messages: close in the background and keep draining.
                    flooding = True
                    session.tasks.append(asyncio.create_task(websocket.close(1008, "message rate limit exceeded")))
                    continue
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                await self._handle_frame(session, text)
        except ConnectionClosed:
            pass
        finally:
            for task in session.tasks:
                task.cancel()
            if self.sessions.get(identity) is session:
                del self.sessions[identity]
            if session.in_flight is not None:
                # It may have been applied: interrupted, not timeout (an integrator checks before resending).
                await self._finish_in_flight(session, "interrupted", None, "connection closed before the answer")
            await self._disconnect(session)
            logger.info("%s disconnected (%s)", identity, websocket.close_code)

    async def _disconnect(self, session: Session) -> None:
        assert self.pool is not None
        try:
            await self.pool.execute(DISCONNECT, session.charge_point_id, session.epoch)
        except DATABASE_ERRORS:
            logger.exception("could not record the disconnection of %s", session.charge_point_id)

    async def _keepalive(self, session: Session) -> None:
        """Ping every ping_interval seconds; close a connection whose pong does not come.

        Per charger rather than websockets' server-wide keepalive, since some
        firmware answers pings with invalid pongs and must be spared them.
        """
        interval = session.ping_interval
        websocket = session.websocket
        while True:
            await asyncio.sleep(interval)
            try:
                pong = await websocket.ping()
                await asyncio.wait_for(pong, timeout=interval)
            except TimeoutError:
                logger.info("%s did not answer a ping in %d s: closing", session.charge_point_id, interval)
                # A zombie will not complete a closing handshake either: offer it, then drop the socket.
                try:
                    await asyncio.wait_for(websocket.close(1011, "keepalive ping timeout"), timeout=1)
                except TimeoutError:
                    websocket.transport.abort()
                return
            except ConnectionClosed:
                return
