"""End-to-end fixtures: a real CentralSystem on a free port, real WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
import websockets
from ocpp.v16 import ChargePoint
from pgcsms.proxy.server import CentralSystem


@pytest.fixture
async def central(dsn: str) -> AsyncIterator[CentralSystem]:
    server = CentralSystem(dsn, host="127.0.0.1", port=0, node_id="test-node", pool_size=4)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
def url(central: CentralSystem) -> Callable[[str], str]:
    return lambda identity: f"ws://127.0.0.1:{central.port}/ocpp/{identity}"


@pytest.fixture
def charger(url: Callable[[str], str]) -> Callable[..., Any]:
    """``async with charger("CP-1") as cp``: an ``ocpp`` library ChargePoint, connected and listening."""

    @contextlib.asynccontextmanager
    async def connect(identity: str, subprotocols: list[str] | None = None,
                      charge_point_class: type[ChargePoint] = ChargePoint) -> AsyncIterator[ChargePoint]:
        async with websockets.connect(url(identity), subprotocols=subprotocols or ["ocpp1.6"],
                                      open_timeout=5) as websocket:
            cp = charge_point_class(identity, websocket, response_timeout=10)
            task = asyncio.create_task(cp.start())
            try:
                yield cp
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                    await task

    return connect


@pytest.fixture
def raw(url: Callable[[str], str]) -> Callable[..., Any]:
    """``async with raw("CP-1") as ws``: a bare WebSocket for frames no library would send."""

    def connect(identity: str, subprotocols: list[str] | None = None, **kwargs: Any) -> Any:
        offered = ["ocpp1.6"] if subprotocols is None else subprotocols or None
        return websockets.connect(url(identity), subprotocols=offered, open_timeout=5, **kwargs)

    return connect


class Events:
    """``LISTEN ocpp_event`` on a connection of its own, as an integrator would."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        self.queue.put_nowait(json.loads(payload))

    async def wait(self, timeout: float = 10, **fields: Any) -> dict[str, Any]:
        """The next event whose fields include these (e.g. ``event="disconnected"``)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.queue.get()
                if all(event.get(key) == value for key, value in fields.items()):
                    return event

    async def command(self, command_id: int, timeout: float = 10) -> dict[str, Any]:
        """The command_completed event of this command."""
        return await self.wait(timeout, event="command_completed", command_id=command_id)


@pytest.fixture
async def events(dsn: str) -> AsyncIterator[Events]:
    listener = Events()
    connection = await asyncpg.connect(dsn)
    await connection.add_listener("ocpp_event", listener.on_notify)
    try:
        yield listener
    finally:
        await connection.close()
