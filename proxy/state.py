"""What the parts of the central system share: the live sessions, the pool, the settings.

:class:`ServerState` declares the state; each part of the server is a class
over it in a file of its own (``admission``: handshakes; ``connection``: one
charger's socket; ``frames``: its frames; ``delivery``: commands to it;
``listener``: LISTEN and the sweep), and ``server.CentralSystem`` puts them
together and owns the life cycle.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from ssl import SSLContext

import asyncpg
from websockets.asyncio.server import ServerConnection

from . import ocppj
from .batch import ParseBatcher
from .limits import Limits, TokenBucket
from .stats import Stats

__all__ = ["DATABASE_ERRORS", "DISCONNECT", "InFlight", "ServerState", "Session", "logger"]

logger = logging.getLogger("pgcsms.server")

# InternalClientError: a query on a connection whose backend was just terminated.
DATABASE_ERRORS = (asyncpg.PostgresError, OSError, asyncpg.InterfaceError, asyncpg.InternalClientError)

# A charger's connection ended (or its admission is undone), fenced by its epoch.
DISCONNECT = "SELECT ocpp.disconnect($1, $2)"


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


class ServerState:
    """The state every part of the server reads (set up by ``CentralSystem.__init__``)."""

    dsn: str
    node_id: str
    limits: Limits
    ssl: SSLContext | None
    validators: dict[str, ocppj.Validator]
    sessions: dict[str, Session]
    pool: asyncpg.Pool | None
    batcher: ParseBatcher | None
    stats: Stats
    call_timeout: float
    _call_timeout_from_database: bool
    sweep_interval: float
    _listening: asyncio.Event
    # What the handshake decided (identity, version, epoch, ping interval, has commands), for the
    # connection handler; weak, so a handshake that fails after admission leaves nothing behind.
    _admitted: weakref.WeakKeyDictionary[ServerConnection, tuple[str, str, int, int, bool]]

    @property
    def scheme(self) -> str:
        return "wss" if self.ssl is not None else "ws"
