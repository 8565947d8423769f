"""The OCPP-J WebSocket server: transport, framing, validation, delivery.

Every business decision is a database call; this module only moves frames.
For each CALL from a charger: read the frame, check its payload against the
official schema, make one call to ``ocpp.parse``, and send the answer once
that call has committed. Frames of one connection are handled in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from . import ocppj

__all__ = ["DEFAULT_MAX_FRAME_BYTES", "CentralSystem", "Limits"]

logger = logging.getLogger("pgcsms.server")

SUBPROTOCOLS = {Subprotocol("ocpp1.6"): "1.6"}
PATH_PREFIX = "/ocpp/"
MAX_IDENTITY_LENGTH = 48
DEFAULT_MAX_FRAME_BYTES = 256 * 1024

_PARSE = ("SELECT result::text, error_code, error_description "
          "FROM ocpp.parse($1, $2, $3, $4::jsonb, $5, $6)")
_LOG_REJECTED = "SELECT ocpp.log_rejected($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)"
_LOG_FRAME = "SELECT ocpp.log_frame($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)"
_CONNECT = "SELECT accepted, reason, ping_interval, epoch FROM ocpp.connect($1, $2, $3, $4)"
_DISCONNECT = "SELECT ocpp.disconnect($1, $2)"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one charger may make us do."""

    # Largest frame accepted; a larger one closes the connection with 1009.
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    # Seconds a WebSocket handshake may take.
    handshake_timeout: float = 10.0


@dataclass(slots=True, eq=False)
class Session:
    """One charger's live connection."""

    charge_point_id: str
    websocket: ServerConnection
    version: str
    epoch: int
    ping_interval: int
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def identity_from_path(path: str) -> str | None:
    """The charge point identity: the last segment of /ocpp/{id}, percent-decoded.

    None when the path is not under /ocpp/ or the identity is empty, too long
    or holds control characters.
    """
    path = path.split("?", 1)[0]
    if not path.startswith(PATH_PREFIX):
        return None
    identity = urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1], errors="strict")
    if (not identity or len(identity) > MAX_IDENTITY_LENGTH or path.rstrip("/") + "/" == PATH_PREFIX
            or any(ord(c) < 32 or ord(c) == 127 for c in identity)):
        return None
    return identity


def _offered_subprotocols(headers: Headers) -> list[str]:
    return [p.strip() for value in headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",") if p.strip()]


def _plain(status: http.HTTPStatus, text: str) -> Response:
    body = (text + "\n").encode()
    headers = Headers([("Content-Type", "text/plain; charset=utf-8"),
                       ("Content-Length", str(len(body))), ("Connection", "close")])
    return Response(status.value, status.phrase, headers, body)


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Pooled connections hold no session state, so skip asyncpg's reset query."""


class CentralSystem:
    """Serves OCPP-J on a WebSocket port, backed by a pool of database connections.

    ``start()`` opens the pool and the port; ``close()`` closes both. A second
    connection for an identity already connected replaces the first.
    """

    def __init__(
        self,
        dsn: str,
        *,
        host: str = "127.0.0.1",
        port: int = 9000,
        node_id: str | None = None,
        # Database
        pool_size: int = 10,
        # Limits
        limits: Limits | None = None,
    ) -> None:
        self.dsn = dsn
        self.host = host
        self.port = port
        self.node_id = node_id or f"{host}:{port}"
        self.pool_size = pool_size
        self.limits = limits or Limits()
        self.validators = {version: ocppj.Validator(version) for version in SUBPROTOCOLS.values()}
        self.sessions: dict[str, Session] = {}
        self.pool: asyncpg.Pool | None = None
        self._server: Server | None = None
        self._admitted: dict[int, tuple[str, str, int, int]] = {}

    # -- life cycle -----------------------------------------------------------

    async def start(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=min(2, self.pool_size), max_size=self.pool_size, reset=_no_reset,
            server_settings={"application_name": f"pgcsms {self.node_id}", "timezone": "UTC"},
        )
        await self.pool.execute("SELECT ocpp.node_started($1)", self.node_id)
        self._server = await serve(
            self._serve_connection, self.host, self.port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            subprotocols=list(SUBPROTOCOLS),
            compression=None,
            ping_interval=None,  # our own keepalive, per charger (see _keepalive)
            max_size=self.limits.max_frame_bytes,
            open_timeout=self.limits.handshake_timeout,
            server_header="pgcsms",
        )
        if self.port == 0:
            self.port = next(iter(self._server.sockets)).getsockname()[1]
        logger.info("serving OCPP-J on ws://%s:%d%s{chargePointId} as node %s",
                    self.host, self.port, PATH_PREFIX, self.node_id)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self.pool is not None:
            await self.pool.close()

    async def __aenter__(self) -> CentralSystem:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- handshake ------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        try:
            identity = identity_from_path(request.path)
        except UnicodeDecodeError:
            identity = None
        if identity is None:
            if not request.path.startswith(PATH_PREFIX):
                return _plain(http.HTTPStatus.NOT_FOUND, f"OCPP endpoint is {PATH_PREFIX}{{chargePointId}}")
            return _plain(http.HTTPStatus.BAD_REQUEST,
                          "invalid charge point identity: 1 to 48 characters, no control characters")
        offered = _offered_subprotocols(request.headers)
        served = [Subprotocol(p) for p in offered if p in SUBPROTOCOLS]
        if offered and not served:
            return _plain(http.HTTPStatus.BAD_REQUEST,
                          f"unsupported OCPP version; this server speaks {', '.join(SUBPROTOCOLS)}")
        # No subprotocol at all: some firmware (e.g. Grizzl-E) sends none; serve it as 1.6.
        version = SUBPROTOCOLS[served[0]] if served else "1.6"
        remote = connection.remote_address[0] if connection.remote_address else None
        assert self.pool is not None
        try:
            row = await self.pool.fetchrow(_CONNECT, identity, self.node_id, remote, version)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
            logger.exception("database unavailable during handshake of %s", identity)
            return _plain(http.HTTPStatus.SERVICE_UNAVAILABLE, "central system unavailable, retry later")
        if not row["accepted"]:
            logger.info("refused %s from %s: %s", identity, remote, row["reason"])
            return _plain(http.HTTPStatus.NOT_FOUND, row["reason"])
        self._admitted[id(connection)] = (identity, version, row["epoch"], row["ping_interval"])
        return None

    @staticmethod
    def _select_subprotocol(connection: ServerConnection,
                            subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        for offered in subprotocols:
            if offered in SUBPROTOCOLS:
                return offered
        return None

    # -- a connection ---------------------------------------------------------

    async def _serve_connection(self, websocket: ServerConnection) -> None:
        admitted = self._admitted.pop(id(websocket), None)
        if admitted is None:  # pragma: no cover - process_request always admits first
            await websocket.close(1011, "not admitted")
            return
        identity, version, epoch, ping_interval = admitted
        session = Session(identity, websocket, version, epoch, ping_interval)
        previous = self.sessions.get(identity)
        self.sessions[identity] = session
        if previous is not None:
            logger.info("%s connected again: closing its previous connection", identity)
            await previous.websocket.close(1000, "replaced by a new connection")
        logger.info("%s connected (OCPP %s, epoch %d)", identity, version, epoch)
        if ping_interval > 0:
            session.tasks.append(asyncio.create_task(self._keepalive(session)))
        try:
            async for message in websocket:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                await self._handle_frame(session, text)
        except ConnectionClosed:
            pass
        finally:
            for task in session.tasks:
                task.cancel()
            if self.sessions.get(identity) is session:
                del self.sessions[identity]
            await self._disconnect(session)
            logger.info("%s disconnected (%s)", identity, websocket.close_code)

    async def _disconnect(self, session: Session) -> None:
        assert self.pool is not None
        try:
            await self.pool.execute(_DISCONNECT, session.charge_point_id, session.epoch)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
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
                await websocket.close(1011, "keepalive ping timeout")
                return
            except ConnectionClosed:
                return

    # -- frames ---------------------------------------------------------------

    async def _handle_frame(self, session: Session, text: str) -> None:
        try:
            message = ocppj.parse_frame(text)
        except ocppj.FrameError as error:
            await self._refuse_frame(session, text, error)
            return
        if isinstance(message, ocppj.Call):
            await self._handle_call(session, message)
        else:
            await self._handle_answer(session, message)

    async def _handle_call(self, session: Session, call: ocppj.Call) -> None:
        version = session.version
        if call.action not in ocppj.CHARGE_POINT_ACTIONS[version]:
            if call.action in ocppj.CENTRAL_SYSTEM_ACTIONS[version]:
                code, text = "NotSupported", f"{call.action} is sent by the central system, not to it"
            else:
                code, text = "NotImplemented", f"unknown action {call.action[:64]!r}"
            await self._refuse_call(session, call, code, text)
            return
        try:
            self.validators[version].check_request(call.action, call.payload)
        except ocppj.PayloadError as error:
            await self._refuse_call(session, call, error.code, error.description)
            return
        assert self.pool is not None
        try:
            row = await self.pool.fetchrow(
                _PARSE, session.charge_point_id, call.unique_id, call.action,
                json.dumps(call.payload, ensure_ascii=False), version, self.node_id)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as error:
            # Nothing was committed: say so, without internal detail.
            logger.error("ocpp.parse failed for %s %s %s: %s", session.charge_point_id, call.action,
                         call.unique_id, error)
            await self._send(session, ocppj.call_error_frame(
                call.unique_id, "InternalError", "Internal error", version))
            return
        if row["error_code"] is not None:
            frame = ocppj.call_error_frame(call.unique_id, row["error_code"], row["error_description"], version)
        else:
            frame = ocppj.call_result_frame(call.unique_id, row["result"])
        await self._send(session, frame)

    async def _handle_answer(self, session: Session, message: ocppj.CallResult | ocppj.CallError) -> None:
        """A CALLRESULT or CALLERROR from the charger, for a command we sent."""
        if isinstance(message, ocppj.CallResult):
            await self._log_frame(session, "in", ocppj.CALLRESULT, message.unique_id, None,
                                  message.payload, None, None, None)
        else:
            await self._log_frame(session, "in", ocppj.CALLERROR, message.unique_id, None,
                                  message.error_details, None, message.error_code, message.error_description)

    async def _refuse_frame(self, session: Session, text: str, error: ocppj.FrameError) -> None:
        version = session.version
        # The journal knows message types 2, 3 and 4; the raw text keeps any other.
        message_type = error.message_type if error.message_type in ocppj.MESSAGE_TYPES else None
        if error.answerable:
            await self._journal_refusal(session, error.unique_id, error.action, None, text,
                                        error.code, error.description, message_type)
            await self._send(session, ocppj.call_error_frame(error.unique_id, error.code,
                                                             error.description, version))
        else:
            await self._log_frame(session, "in", message_type, error.unique_id, None, None, text,
                                  ocppj.wire_error_code(error.code, version), error.description)

    async def _refuse_call(self, session: Session, call: ocppj.Call, code: str, text: str) -> None:
        await self._journal_refusal(session, call.unique_id, call.action, call.payload, None, code, text,
                                    ocppj.CALL)
        await self._send(session, ocppj.call_error_frame(call.unique_id, code, text, session.version))

    async def _journal_refusal(self, session: Session, unique_id: str | None, action: str | None,
                               payload: dict[str, Any] | None, raw: str | None, code: str,
                               description: str, message_type: int | None) -> None:
        assert self.pool is not None
        try:
            await self.pool.execute(
                _LOG_REJECTED, session.charge_point_id, unique_id, action,
                None if payload is None else json.dumps(payload, ensure_ascii=False),
                raw, ocppj.wire_error_code(code, session.version), description, self.node_id, message_type)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
            logger.exception("could not journal a refused frame from %s", session.charge_point_id)

    async def _log_frame(self, session: Session, direction: str, message_type: int | None,
                         unique_id: str | None, action: str | None, payload: dict[str, Any] | None,
                         raw: str | None, error_code: str | None, error_description: str | None) -> None:
        assert self.pool is not None
        try:
            await self.pool.execute(
                _LOG_FRAME, session.charge_point_id, direction, message_type, unique_id, action,
                None if payload is None else json.dumps(payload, ensure_ascii=False), raw,
                error_code, error_description, self.node_id)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
            logger.exception("could not journal a frame from %s", session.charge_point_id)

    @staticmethod
    async def _send(session: Session, frame: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await session.websocket.send(frame)
