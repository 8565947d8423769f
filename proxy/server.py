"""The OCPP-J WebSocket server: transport, framing, validation, delivery.

Every business decision is a database call; this module only moves frames.
For each CALL from a charger: read the frame, check its payload against the
official schema, make one call to ``ocpp.parse``, and send the answer once
that call has committed. Frames of one connection are handled in order.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import http
import json
import logging
import os
import time
import urllib.parse
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import Any

import asyncpg
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from . import catalog, ocppj
from .batch import ParseBatcher
from .stats import Stats
from .tls import peer_common_name

__all__ = ["DEFAULT_MAX_FRAME_BYTES", "CentralSystem", "Limits", "TokenBucket", "basic_auth_password"]

logger = logging.getLogger("pgcsms.server")

# Served subprotocols (catalog.py); a station offering several gets the first
# of them in its own order of preference (RFC 6455 §4.2.2, OCPP-J 2.0.1 §3.1).
SUBPROTOCOLS = {Subprotocol(name): version for name, version in catalog.SUBPROTOCOLS.items()}
PATH_PREFIX = "/ocpp/"
MAX_IDENTITY_LENGTH = 48
DEFAULT_MAX_FRAME_BYTES = 256 * 1024

_LOG_REJECTED = "SELECT ocpp.log_rejected($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)"
_LOG_FRAME = "SELECT ocpp.log_frame($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)"
_LOG_AUTH_FAILURE = "SELECT ocpp.log_auth_failure($1, $2, $3, $4, $5, $6)"
_CONNECT = ("SELECT accepted, http_status, reason, ping_interval, epoch, has_commands "
            "FROM ocpp.connect($1, $2, $3, $4, $5, $6, $7)")
_DISCONNECT = "SELECT ocpp.disconnect($1, $2)"
_NEXT_COMMAND = "SELECT command_id, unique_id, action, payload FROM ocpp.next_command($1, $2, $3)"
_COMPLETE_COMMAND = "SELECT ocpp.complete_command($1, $2, $3::jsonb, $4, $5, $6, $7)"
_FAIL_COMMAND = "SELECT ocpp.fail_command($1, $2, $3, $4)"
_COMMAND_BACKLOG = "SELECT charge_point_id, epoch FROM ocpp.command_backlog($1)"

# NOTIFY channels: a command was queued (payload: charge point id); integrator
# events (JSON), of which we read "connected" to drop sockets another node took over.
COMMAND_CHANNEL = "pgcsms_command"
EVENT_CHANNEL = "ocpp_event"

# InternalClientError: a query on a connection whose backend was just terminated.
_DATABASE_ERRORS = (asyncpg.PostgresError, OSError, asyncpg.InterfaceError, asyncpg.InternalClientError)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one charger may make us do."""

    # Largest frame accepted; a larger one closes the connection with 1009.
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    # Deepest JSON nesting accepted in a frame; deeper gets FormationViolation.
    max_nesting: int = 32
    # Messages per second a charger may send (sustained), and the burst above it;
    # past both, the connection is closed with 1008 (policy violation).
    messages_per_second: float = 50.0
    message_burst: int = 200
    # WebSocket handshakes per second from one source address, and the burst;
    # past both, HTTP 429.
    handshakes_per_second: float = 20.0
    handshake_burst: int = 100
    # Seconds a WebSocket handshake may take.
    handshake_timeout: float = 30.0
    # Connections the kernel may queue before we accept them (capped by net.core.somaxconn).
    accept_backlog: int = 4096


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass(slots=True, eq=False)
class InFlight:
    """The one command a charger has not answered yet (OCPP-J: one CALL at a time)."""

    command_id: int
    unique_id: str
    action: str
    timer: asyncio.TimerHandle


@dataclass(slots=True, eq=False)
class Session:
    """One charger's live connection."""

    charge_point_id: str
    websocket: ServerConnection
    version: str
    epoch: int
    ping_interval: int
    rate: TokenBucket
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    in_flight: InFlight | None = None
    # Serialises the claim of the next command; a wake-up during a claim re-runs it.
    pumping: bool = False
    pump_again: bool = False


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


def _is_websocket_upgrade(headers: Headers) -> bool:
    return ("websocket" in headers.get("Upgrade", "").lower() and "Sec-WebSocket-Key" in headers
            and headers.get("Sec-WebSocket-Version", "").strip() == "13")


def _offered_subprotocols(headers: Headers) -> list[str]:
    return [p.strip() for value in headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",") if p.strip()]


def _plain(status: http.HTTPStatus, text: str) -> Response:
    body = (text + "\n").encode()
    headers = Headers([("Content-Type", "text/plain; charset=utf-8"),
                       ("Content-Length", str(len(body))), ("Connection", "close")])
    return Response(status.value, status.phrase, headers, body)


def _storable(raw: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: keep such frames with the NUL escaped."""
    return raw.replace("\x00", "\\u0000") if raw is not None and "\x00" in raw else raw


def _unauthorized() -> Response:
    response = _plain(http.HTTPStatus.UNAUTHORIZED, "authentication required")
    response.headers["WWW-Authenticate"] = 'Basic realm="pgcsms", charset="UTF-8"'
    return response


def basic_auth_password(headers: Headers, identity: str) -> str | None:
    """The password of an HTTP Basic ``Authorization`` header, None without one.

    Raises ValueError when the header is malformed or names another user
    (OCPP security profiles 1 and 2: the username is the charger identity).
    """
    value = headers.get("Authorization")
    if value is None:
        return None
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic":
        raise ValueError("authorization scheme is not Basic")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("malformed Basic credentials") from None
    username, separator, secret = decoded.partition(b":")
    if not separator or username != identity.encode("utf-8"):
        raise ValueError("Basic username is not the charge point identity")
    # An AuthorizationKey may be raw octets; those that are not printable UTF-8 travel as hex.
    try:
        text = secret.decode("utf-8")
    except UnicodeDecodeError:
        return secret.hex()
    return text if text.isprintable() else secret.hex()


async def _quiet_parameters(connection: asyncpg.Connection) -> None:
    """Keep bind parameters (charger passwords) out of slow-statement log lines too.

    Only a superuser may change this setting; other roles keep the server's
    (the README tells operators to set it for the proxy's login role).
    """
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await connection.execute("SET log_parameter_max_length = 0")


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
        # How many ocpp.parse round trips may run at once; past that, CALLs
        # wait and share the next round trip and commit (group commit).
        parse_concurrency: int | None = None,
        # Commands (call_timeout None: the database's call_timeout setting)
        call_timeout: float | None = None,
        sweep_interval: float = 5.0,
        # Limits
        limits: Limits | None = None,
        # TLS (security profiles 2 and 3); None serves plain ws://
        ssl: SSLContext | None = None,
        # permessage-deflate (RFC 7692) when a station offers it; OCPP-J 2.0.1
        # §3.3 requires a CSMS to support it.
        compression: bool = True,
    ) -> None:
        self.dsn = dsn
        self.host = host
        self.port = port
        self.node_id = node_id or f"{host}:{port}"
        self.pool_size = pool_size
        self.parse_concurrency = parse_concurrency or max(1, min(pool_size - 2, os.cpu_count() or 2))
        self.call_timeout = call_timeout or 30.0
        self._call_timeout_from_database = call_timeout is None
        self.sweep_interval = sweep_interval
        self.limits = limits or Limits()
        self.ssl = ssl
        self.compression = compression
        self.validators = {version: ocppj.Validator(version) for version in SUBPROTOCOLS.values()}
        self.sessions: dict[str, Session] = {}
        self.pool: asyncpg.Pool | None = None
        self.batcher: ParseBatcher | None = None
        self._server: Server | None = None
        # What the handshake decided, for the handler; weak, so a handshake that
        # fails after admission leaves nothing behind.
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, tuple[str, str, int, int, bool]] = (
            weakref.WeakKeyDictionary())
        self._background: list[asyncio.Task[None]] = []
        self._handshake_buckets: dict[str, TokenBucket] = {}
        self.stats = Stats()
        self._listening = asyncio.Event()

    # -- life cycle -----------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise

    async def _start(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=min(2, self.pool_size), max_size=self.pool_size, reset=_no_reset,
            init=_quiet_parameters,
            server_settings={
                "application_name": f"pgcsms {self.node_id}", "timezone": "UTC",
                # A lock held by some operator's open transaction fails one message, not the fleet.
                "lock_timeout": "5s",
                # Bind parameters carry charger passwords: never into the server log on an error.
                "log_parameter_max_length_on_error": "0",
            },
        )
        await self.pool.execute("SELECT ocpp.node_started($1)", self.node_id)
        await self._read_call_timeout()
        self.batcher = ParseBatcher(self.pool, self.node_id, max_active=self.parse_concurrency)
        self._background = [asyncio.create_task(self._listen()), asyncio.create_task(self._sweep())]
        self._server = await serve(
            self._serve_connection, self.host, self.port,
            process_request=self._process_request,
            process_response=self._process_response,
            select_subprotocol=self._select_subprotocol,
            subprotocols=list(SUBPROTOCOLS),
            # websockets' defaults for deflate keep it small: 4 KiB windows, memLevel 5.
            compression="deflate" if self.compression else None,
            ping_interval=None,  # our own keepalive, per charger (see _keepalive)
            max_size=self.limits.max_frame_bytes,
            open_timeout=self.limits.handshake_timeout,
            server_header="pgcsms",
            ssl=self.ssl,
            # A fleet reconnects at once after a restart: a short accept queue
            # drops SYNs, and each drop costs the charger seconds of TCP backoff.
            backlog=self.limits.accept_backlog,
        )
        if self.port == 0:
            self.port = next(iter(self._server.sockets)).getsockname()[1]
        logger.info("serving OCPP-J on %s://%s:%d%s{chargePointId} as node %s",
                    self.scheme, self.host, self.port, PATH_PREFIX, self.node_id)

    @property
    def scheme(self) -> str:
        return "wss" if self.ssl is not None else "ws"

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
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

    @property
    def listening(self) -> bool:
        """Whether the LISTEN connection for commands is up."""
        return self._listening.is_set()

    async def wait_listening(self) -> None:
        """Return once the LISTEN connection for commands is up."""
        await self._listening.wait()

    async def check_database(self) -> bool:
        """One round trip through the pool."""
        if self.pool is None:
            return False
        try:
            return await self.pool.fetchval("SELECT true", timeout=2) is True
        except (*_DATABASE_ERRORS, TimeoutError):
            return False

    # -- handshake ------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        remote = connection.remote_address[0] if connection.remote_address else None
        if not self._handshake_allowed(remote):
            return _plain(http.HTTPStatus.TOO_MANY_REQUESTS, "too many connection attempts, retry later")
        try:
            identity = identity_from_path(request.path)
        except UnicodeDecodeError:
            identity = None
        if identity is None:
            if not request.path.startswith(PATH_PREFIX):
                return _plain(http.HTTPStatus.NOT_FOUND, f"OCPP endpoint is {PATH_PREFIX}{{chargePointId}}")
            return _plain(http.HTTPStatus.BAD_REQUEST,
                          "invalid charge point identity: 1 to 48 characters, no control characters")
        if not _is_websocket_upgrade(request.headers):
            # websockets refuses it (426 or 400); the database must not hear of it.
            return None
        offered = _offered_subprotocols(request.headers)
        served = [Subprotocol(p) for p in offered if p in SUBPROTOCOLS]
        if offered and not served:
            return _plain(http.HTTPStatus.BAD_REQUEST,
                          f"unsupported OCPP version; this server speaks {', '.join(SUBPROTOCOLS)}")
        # No subprotocol at all: some firmware (e.g. Grizzl-E) sends none; serve it as 1.6.
        version = SUBPROTOCOLS[served[0]] if served else "1.6"
        assert self.pool is not None
        try:
            password = basic_auth_password(request.headers, identity)
        except ValueError as error:
            logger.info("refused %s from %s: %s", identity, remote, error)
            try:
                await self.pool.execute(_LOG_AUTH_FAILURE, identity, self.scheme, remote,
                                        peer_common_name(connection.transport), 401, str(error))
            except _DATABASE_ERRORS:
                logger.exception("could not record the refused handshake of %s", identity)
            return _unauthorized()
        try:
            row = await self.pool.fetchrow(_CONNECT, identity, self.node_id, remote, version, password, self.scheme,
                                           peer_common_name(connection.transport))
        except _DATABASE_ERRORS:
            logger.exception("database unavailable during handshake of %s", identity)
            return _plain(http.HTTPStatus.SERVICE_UNAVAILABLE, "central system unavailable, retry later")
        if not row["accepted"]:
            # The reason is for our log; the charger only learns the status.
            logger.info("refused %s from %s: %s", identity, remote, row["reason"])
            if row["http_status"] == http.HTTPStatus.UNAUTHORIZED:
                return _unauthorized()
            status = http.HTTPStatus(row["http_status"])
            return _plain(status, status.phrase)
        self._admitted[connection] = (identity, version, row["epoch"], row["ping_interval"], row["has_commands"])
        return None

    async def _process_response(self, connection: ServerConnection, request: Request,
                                response: Response) -> None:
        """A handshake admitted by ocpp.connect that still fails: record that the charger is not here."""
        if response.status_code == http.HTTPStatus.SWITCHING_PROTOCOLS:
            return
        admitted = self._admitted.pop(connection, None)
        if admitted is not None:
            identity, _, epoch, _, _ = admitted
            assert self.pool is not None
            try:
                await self.pool.execute(_DISCONNECT, identity, epoch)
            except _DATABASE_ERRORS:
                logger.exception("could not undo the admission of %s", identity)

    def _handshake_allowed(self, remote: str | None) -> bool:
        key = remote or ""
        bucket = self._handshake_buckets.get(key)
        if bucket is None:
            if len(self._handshake_buckets) > 100_000:  # bound the memory an address scan can take
                self._handshake_buckets.clear()
            bucket = self._handshake_buckets[key] = TokenBucket(self.limits.handshakes_per_second,
                                                                self.limits.handshake_burst)
        return bucket.take()

    @staticmethod
    def _select_subprotocol(connection: ServerConnection,
                            subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        for offered in subprotocols:
            if offered in SUBPROTOCOLS:
                return offered
        return None

    # -- a connection ---------------------------------------------------------

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
                await self._finish_in_flight(session, "timeout", None, "connection closed before the answer")
            await self._disconnect(session)
            logger.info("%s disconnected (%s)", identity, websocket.close_code)

    async def _disconnect(self, session: Session) -> None:
        assert self.pool is not None
        try:
            await self.pool.execute(_DISCONNECT, session.charge_point_id, session.epoch)
        except _DATABASE_ERRORS:
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

    # -- frames ---------------------------------------------------------------

    async def _handle_frame(self, session: Session, text: str) -> None:
        try:
            message = ocppj.parse_frame(text, max_nesting=self.limits.max_nesting)
        except ocppj.FrameError as error:
            self.stats.counters["in_malformed"] += 1
            await self._refuse_frame(session, text, error)
            return
        self.stats.counters[f"in_{type(message).__name__.lower()}"] += 1
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
        payload_json = json.dumps(call.payload, ensure_ascii=False)
        started = time.perf_counter()
        try:
            assert self.batcher is not None
            row = await self.batcher.parse(session.charge_point_id, call.unique_id, call.action, payload_json,
                                           version)
        except Exception as error:
            # Nothing was committed: say so, without internal detail, and keep
            # the frame in the journal if the database still takes a write.
            logger.error("ocpp.parse failed for %s %s %s: %s", session.charge_point_id, call.action,
                         call.unique_id, error)
            await self._refuse_call(session, call, "InternalError", "Internal error")
            return
        finally:
            self.stats.parse_calls += 1
            self.stats.parse_seconds += time.perf_counter() - started
        if row["error_code"] is not None:
            self.stats.callerrors_sent[row["error_code"]] += 1
            frame = ocppj.call_error_frame(call.unique_id, row["error_code"], row["error_description"], version)
        else:
            frame = ocppj.call_result_frame(call.unique_id, row["result"])
        await self._send(session, frame)

    async def _handle_answer(self, session: Session, message: ocppj.CallResult | ocppj.CallError) -> None:
        """A CALLRESULT or CALLERROR from the charger, for a command we sent.

        The database journals it and applies its effect; an answer nobody waits
        for (late, or unknown) is journaled all the same.
        """
        in_flight = session.in_flight
        if in_flight is not None and in_flight.unique_id == message.unique_id:
            in_flight.timer.cancel()
            session.in_flight = None
            self.stats.commands["answered"] += 1
        error_code = error_description = None
        if isinstance(message, ocppj.CallResult):
            payload = message.payload
            if in_flight is not None and in_flight.unique_id == message.unique_id:
                try:
                    self.validators[session.version].check_response(in_flight.action, payload)
                except ocppj.PayloadError as error:
                    error_code, error_description = error.code, f"invalid answer: {error.description}"
        else:
            payload = message.error_details
            error_code = ocppj.wire_error_code(message.error_code, session.version)
            error_description = message.error_description
        assert self.pool is not None
        try:
            message_type = ocppj.CALLRESULT if isinstance(message, ocppj.CallResult) else ocppj.CALLERROR
            await self.pool.execute(_COMPLETE_COMMAND, session.charge_point_id, message.unique_id,
                                    json.dumps(payload, ensure_ascii=False), error_code, error_description,
                                    self.node_id, message_type)
        except _DATABASE_ERRORS:
            logger.exception("could not record the answer of %s to %s", session.charge_point_id, message.unique_id)
        self._wake(session)

    # -- commands -------------------------------------------------------------

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
                except _DATABASE_ERRORS:
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
        except _DATABASE_ERRORS:
            logger.exception("could not record command %d as %s", command_id, status)

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
                connection = await asyncpg.connect(self.dsn, server_settings={
                    "application_name": f"pgcsms {self.node_id} listener"})
            except (TimeoutError, *_DATABASE_ERRORS):
                logger.warning("listener cannot connect; retrying in %.1f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30)
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
            except _DATABASE_ERRORS:
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
            except _DATABASE_ERRORS:
                logger.exception("command sweep failed")
                continue
            for row in rows:
                session = self.sessions.get(row["charge_point_id"])
                if session is not None and session.epoch == row["epoch"]:
                    self._wake(session)

    async def _refuse_frame(self, session: Session, text: str, error: ocppj.FrameError) -> None:
        version = session.version
        # The journal knows message types 2, 3 and 4; the raw text keeps any other.
        message_type = error.message_type if error.message_type in ocppj.MESSAGE_TYPES else None
        if error.answerable:
            self.stats.callerrors_sent[ocppj.wire_error_code(error.code, version)] += 1
            await self._journal_refusal(session, error.unique_id, error.action, None, text,
                                        error.code, error.description, message_type)
            await self._send(session, ocppj.call_error_frame(error.unique_id, error.code,
                                                             error.description, version))
        else:
            await self._log_frame(session, "in", message_type, error.unique_id, None, None, text,
                                  ocppj.wire_error_code(error.code, version), error.description)

    async def _refuse_call(self, session: Session, call: ocppj.Call, code: str, text: str) -> None:
        self.stats.callerrors_sent[ocppj.wire_error_code(code, session.version)] += 1
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
                _storable(raw), ocppj.wire_error_code(code, session.version), description, self.node_id,
                message_type)
        except _DATABASE_ERRORS:
            logger.exception("could not journal a refused frame from %s", session.charge_point_id)

    async def _log_frame(self, session: Session, direction: str, message_type: int | None,
                         unique_id: str | None, action: str | None, payload: dict[str, Any] | None,
                         raw: str | None, error_code: str | None, error_description: str | None) -> None:
        assert self.pool is not None
        try:
            await self.pool.execute(
                _LOG_FRAME, session.charge_point_id, direction, message_type, unique_id, action,
                None if payload is None else json.dumps(payload, ensure_ascii=False), _storable(raw),
                error_code, error_description, self.node_id)
        except _DATABASE_ERRORS:
            logger.exception("could not journal a frame from %s", session.charge_point_id)

    @staticmethod
    async def _send(session: Session, frame: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await session.websocket.send(frame)
