"""The OCPP-J WebSocket server: transport, framing, validation, delivery.

Every business decision is a database call; this module only moves frames.
For each CALL from a charger: read the frame, check its payload against the
official schema, make one call to ``ocpp.parse``, and send the answer once
that call has committed. Frames of one connection are handled in order.

:class:`CentralSystem` owns the life cycle (pool, port, background tasks) and
is made of parts, a file each: ``admission`` (handshakes), ``connection`` (a
charger's socket), ``frames`` (its frames), ``delivery`` (commands to it) and
``listener`` (LISTEN and the sweep), over the state declared in ``state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import weakref
from ssl import SSLContext

import asyncpg
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from . import dbconnect, ocppj
from .admission import PATH_PREFIX, SUBPROTOCOLS, Admission, basic_auth_password, identity_from_path
from .batch import ParseBatcher
from .connection import Connections
from .limits import DEFAULT_MAX_FRAME_BYTES, Limits, TokenBucket
from .listener import COMMAND_CHANNEL, EVENT_CHANNEL, Listener
from .state import DATABASE_ERRORS, Session, logger
from .stats import Stats

__all__ = [
    "COMMAND_CHANNEL", "DEFAULT_MAX_FRAME_BYTES", "EVENT_CHANNEL", "CentralSystem", "Limits", "TokenBucket",
    "basic_auth_password", "default_parse_concurrency", "identity_from_path",
]


# permessage-deflate, sized for OCPP: messages are a few hundred bytes, so 1 KiB
# windows and a small memLevel compress nearly as well as zlib's defaults and
# cost a fraction of the memory per connection (bench/README.md: idle).
_DEFLATE = ServerPerMessageDeflateFactory(server_max_window_bits=10, client_max_window_bits=10,
                                          compress_settings={"memLevel": 3})


def default_parse_concurrency(pool_size: int, workers: int = 1) -> int:
    """``ocpp.parse`` round trips at once when not configured: this process's share of the cores.

    Each round trip in flight keeps one PostgreSQL backend busy; more of them
    than cores only make the batches smaller (and cost more a message).
    """
    return max(1, min(pool_size - 2, (os.cpu_count() or 2) // workers))


async def _quiet_parameters(connection: asyncpg.Connection) -> None:
    """Keep bind parameters (charger passwords) out of slow-statement log lines too.

    Only a superuser may change this setting; other roles keep the server's
    (the README tells operators to set it for the proxy's login role).
    """
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await connection.execute("SET log_parameter_max_length = 0")


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Pooled connections hold no session state, so skip asyncpg's reset query."""


class CentralSystem(Admission, Connections, Listener):
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
        # Share the port with other processes (SO_REUSEPORT): the workers of ``pgcsms serve --workers``.
        reuse_port: bool = False,
    ) -> None:
        self.dsn = dsn
        self.host = host
        self.port = port
        self.node_id = node_id or f"{host}:{port}"
        self.pool_size = pool_size
        self.parse_concurrency = parse_concurrency or default_parse_concurrency(pool_size)
        self.call_timeout = call_timeout or 30.0
        self._call_timeout_from_database = call_timeout is None
        self.sweep_interval = sweep_interval
        self.limits = limits or Limits()
        self.ssl = ssl
        self.compression = compression
        self.reuse_port = reuse_port
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
            connect=dbconnect.connect,  # each host of a multi-host DSN tried in turn, bounded
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
            compression=None,
            extensions=[_DEFLATE] if self.compression else None,
            ping_interval=None,  # our own keepalive, per charger (see _keepalive)
            max_size=self.limits.max_frame_bytes,
            open_timeout=self.limits.handshake_timeout,
            server_header="pgcsms",
            ssl=self.ssl,
            # A fleet reconnects at once after a restart: a short accept queue
            # drops SYNs, and each drop costs the charger seconds of TCP backoff.
            backlog=self.limits.accept_backlog,
            reuse_port=self.reuse_port,
        )
        if self.port == 0:
            self.port = next(iter(self._server.sockets)).getsockname()[1]
        logger.info("serving OCPP-J on %s://%s:%d%s{chargePointId} as node %s",
                    self.scheme, self.host, self.port, PATH_PREFIX, self.node_id)

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

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop gracefully: accept no new connection, give the CALLs under way ``timeout`` seconds, then close.

        Under way: CALLs from chargers waiting for their ``ocpp.parse`` round trip
        (answered once it commits), and commands sent to chargers whose answer
        has not come. Then :meth:`close` closes every charger with 1001 (going
        away) and the pool.
        """
        if self._server is not None:
            self._server.server.close()  # the listening socket only; open connections stay
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        def under_way() -> bool:
            batcher = self.batcher
            parsing = batcher is not None and (batcher._active > 0 or bool(batcher._pending))
            return parsing or any(session.in_flight is not None for session in self.sessions.values())

        while under_way() and loop.time() < deadline:
            await asyncio.sleep(0.01)  # a drain, bounded by the deadline
        # A committed answer goes out on the loop's next turns, ahead of the close frame.
        for _ in range(3):
            await asyncio.sleep(0)
        await self.close()

    def reload(self, limits: Limits) -> tuple[str, ...]:
        """Apply new limits without dropping anyone; return the names of those left for the next start.

        Rates, bursts and nesting apply at once, to connected chargers too; the
        frame size, handshake timeout and accept backlog are the listening
        socket's, fixed when it opened.
        """
        fixed = ("max_frame_bytes", "handshake_timeout", "accept_backlog")
        later = tuple(name for name in fixed if getattr(limits, name) != getattr(self.limits, name))
        self.limits = dataclasses.replace(limits, **{name: getattr(self.limits, name) for name in fixed})
        for session in self.sessions.values():
            session.rate.rate, session.rate.burst = self.limits.messages_per_second, self.limits.message_burst
        for bucket in self._handshake_buckets.values():
            bucket.rate, bucket.burst = self.limits.handshakes_per_second, self.limits.handshake_burst
        return later

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
        except (*DATABASE_ERRORS, TimeoutError):
            return False
