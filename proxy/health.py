"""Health, metrics and the live status page over HTTP (aiohttp), on a port of their own.

``GET /health`` answers 200 when the database answers and the command
listener is up, 503 otherwise (for load balancers and systemd watchdogs);
``GET /metrics`` is the Prometheus text exposition.

``GET /`` is a status page for people (``status_page/``: HTML, CSS and a
little JavaScript, no build step): the chargers, their connectors and running
sessions, kept current without reloading. It loads ``GET /status.json`` (the
fleet now, ``reports.live_status()`` in a read-only transaction; no id tags,
no secrets), then follows ``GET /events`` (server-sent events). Every browser
of this process is fed by one :class:`StatusFeed`: one dedicated ``LISTEN
ocpp_event`` connection, open while at least one page is, and a query per
burst of events, never per browser. What the page shows is decided in SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from . import dbconnect
from .listener import EVENT_CHANNEL
from .server import CentralSystem
from .state import DATABASE_ERRORS

__all__ = ["StatusFeed", "health_app", "start_health_server"]

logger = logging.getLogger("pgcsms.status")

STATUS_PAGE = Path(__file__).resolve().with_name("status_page")
_FILES = {"index.html": "text/html", "status.css": "text/css", "status.js": "text/javascript"}
_HEADERS = {
    # Only our own files; the page inserts text, never markup (textContent).
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_SNAPSHOT = "SELECT reports.live_status($1::text[])::text"


class _Client:
    """One browser's event stream: messages waiting to be written, oldest first."""

    __slots__ = ("closed", "queue")

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(size)
        self.closed = asyncio.Event()


class StatusFeed:
    """The fleet's state for status pages, kept current from ``LISTEN ocpp_event``.

    NOTIFY is only a nudge: an event names a charger, whose state is then read
    again (``reports.live_status``) after a short pause that gathers a burst;
    the whole fleet is read again every ``refresh_interval`` seconds (energy
    of running sessions moves without events, and a notification may be
    lost) and whenever the LISTEN connection comes back. Browsers receive only
    the chargers whose state changed.
    """

    __slots__ = (
        "_at", "_chargers", "_clients", "_encoded", "_full", "_idle", "_lock", "_pending", "_ready", "_snapshot_cache",
        "_tasks", "_wake", "central", "coalesce", "linger", "max_clients", "queue_size", "refresh_interval")

    def __init__(self, central: CentralSystem, *,
                 # Limits
                 max_clients: int = 100, queue_size: int = 64,
                 # Timing (seconds)
                 refresh_interval: float = 15.0, coalesce: float = 0.2, linger: float = 30.0) -> None:
        self.central = central
        self.max_clients = max_clients
        self.queue_size = queue_size
        self.refresh_interval = refresh_interval
        self.coalesce = coalesce
        # How long the LISTEN connection stays after the last page closed (a reload comes back at once).
        self.linger = linger
        self._idle: asyncio.Task[None] | None = None
        self._clients: set[_Client] = set()
        self._chargers: dict[str, dict[str, Any]] = {}
        self._at: str | None = None
        self._encoded: bytes | None = None
        self._pending: set[str] = set()
        self._full = True
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._snapshot_cache: tuple[float, str] | None = None

    # -- reading the database ---------------------------------------------------

    async def _read(self, charge_point_ids: list[str] | None) -> str:
        """``reports.live_status`` through the pool, read-only."""
        pool = self.central.pool
        if pool is None:
            raise ConnectionError("the central system is not started")
        async with pool.acquire(timeout=5) as connection, connection.transaction(readonly=True):
            text: str = await connection.fetchval(_SNAPSHOT, charge_point_ids, timeout=10)
            return text

    async def snapshot(self) -> str:
        """The whole fleet as JSON text; one query a second at most, however many ask."""
        async with self._lock:
            cached = self._snapshot_cache
            if cached is not None and time.monotonic() - cached[0] < 1.0:
                return cached[1]
            text = await self._read(None)
            self._snapshot_cache = (time.monotonic(), text)
            return text

    # -- browsers -------------------------------------------------------------------

    def subscribe(self) -> _Client | None:
        """A new event stream, or None when ``max_clients`` are connected already."""
        if len(self._clients) >= self.max_clients:
            return None
        client = _Client(self.queue_size)
        self._clients.add(client)
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if not self._tasks:
            self._full, self._ready = True, asyncio.Event()
            self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._publish())]
        return client

    def unsubscribe(self, client: _Client) -> None:
        self._clients.discard(client)
        if not self._clients and self._tasks and self._idle is None:
            # Nobody watches: no LISTEN connection held for nothing, after a while.
            self._idle = asyncio.create_task(self._stop_when_idle())

    async def _stop_when_idle(self) -> None:
        await asyncio.sleep(self.linger)
        self._idle = None
        if not self._clients:
            await self._stop()

    async def first_message(self, timeout: float = 10) -> bytes:
        """The whole fleet as an event, once the feed has read it."""
        async with asyncio.timeout(timeout):
            await self._ready.wait()
        return self._snapshot_event()

    def _snapshot_event(self) -> bytes:
        if self._encoded is None:
            self._encoded = _event("snapshot", {"at": self._at, "chargers": list(self._chargers.values())})
        return self._encoded

    @property
    def clients(self) -> int:
        return len(self._clients)

    def _broadcast(self, message: bytes) -> None:
        for client in self._clients:
            if client.queue.full():
                # A browser that does not keep up gets the fleet as it is now, not its backlog.
                while not client.queue.empty():
                    client.queue.get_nowait()
                client.queue.put_nowait(self._snapshot_event())
            else:
                client.queue.put_nowait(message)

    # -- LISTEN, and what it sets off -------------------------------------------------

    def _on_event(self, connection: object, pid: int, channel: str, payload: str) -> None:
        try:
            charge_point_id = json.loads(payload).get("charge_point_id")
        except (ValueError, AttributeError):
            return
        if isinstance(charge_point_id, str):
            self._pending.add(charge_point_id)
            self._wake.set()

    async def _listen(self) -> None:
        """One dedicated LISTEN connection (never a pooled one), reconnecting by itself."""
        backoff = 0.5
        while True:
            try:
                connection = await dbconnect.connect(self.central.dsn, server_settings={
                    "application_name": f"pgcsms {self.central.node_id} status page"})
            except (TimeoutError, *DATABASE_ERRORS):
                logger.warning("status page cannot LISTEN; retrying in %.1f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
            try:
                await connection.add_listener(EVENT_CHANNEL, self._on_event)
                backoff = 0.5
                self._full = True  # whatever happened while nobody listened
                self._wake.set()
                await lost.wait()
                logger.warning("status page LISTEN connection lost; reconnecting")
            except DATABASE_ERRORS:
                logger.exception("status page LISTEN failed; reconnecting")
            finally:
                if not connection.is_closed():
                    with contextlib.suppress(*DATABASE_ERRORS):
                        await asyncio.shield(connection.close(timeout=2))

    async def _publish(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.refresh_interval):
                    await self._wake.wait()
                await asyncio.sleep(self.coalesce)  # a burst of events is one query
            self._wake.clear()
            full = self._full or len(self._pending) > 100 or not self._pending
            named = None if full else sorted(self._pending)
            self._full, self._pending = False, set()
            try:
                text = await self._read(named)
            except (TimeoutError, ConnectionError, *DATABASE_ERRORS) as error:
                logger.warning("status page cannot read the fleet: %s", error)
                self._full = True
                continue
            self._apply(text, named)

    def _apply(self, text: str, named: list[str] | None) -> None:
        """Keep the new state; tell browsers which chargers changed or went."""
        status = json.loads(text)
        fresh = {charger["id"]: charger for charger in status["chargers"]}
        previous = self._chargers
        self._at = status["at"]
        scope = previous.keys() if named is None else set(named)
        gone = sorted(key for key in scope if key in previous and key not in fresh)
        changed = [charger for key, charger in fresh.items() if previous.get(key) != charger]
        if named is None:
            self._chargers = fresh
            self._snapshot_cache = (time.monotonic(), text)
        else:
            for key in gone:
                del previous[key]
            previous.update(fresh)
        if not self._ready.is_set():
            self._encoded = None
            self._ready.set()
        elif changed or gone:
            self._encoded = None
            self._broadcast(_event("update", {"at": status["at"], "chargers": changed, "removed": gone}))

    async def _stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._chargers, self._encoded, self._pending = {}, None, set()

    async def close(self) -> None:
        """End every event stream and the LISTEN connection (the server is shutting down)."""
        for client in self._clients:
            client.closed.set()
            while not client.queue.empty():
                client.queue.get_nowait()
            client.queue.put_nowait(b"")  # wakes its writer, which sees it closed
        self._clients.clear()
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        await self._stop()


def _event(name: str, data: dict[str, Any]) -> bytes:
    """One server-sent event; JSON holds no raw newline, so one data line."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _status_page_routes(app: web.Application, feed: StatusFeed) -> None:
    files = {name: (STATUS_PAGE / name).read_bytes() for name in _FILES}

    def serve(name: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(body=files[name], content_type=_FILES[name], charset="utf-8", headers=_HEADERS)
        return handler

    async def status_json(request: web.Request) -> web.Response:
        try:
            text = await feed.snapshot()
        except (TimeoutError, ConnectionError, *DATABASE_ERRORS):
            logger.warning("status.json: the database does not answer", exc_info=True)
            return web.json_response({"error": "the database does not answer"}, status=503, headers=_HEADERS)
        return web.Response(text=text, content_type="application/json", headers=_HEADERS)

    async def events(request: web.Request) -> web.StreamResponse:
        client = feed.subscribe()
        if client is None:
            return web.Response(status=503, text="too many status pages open\n",
                                headers={**_HEADERS, "Retry-After": "30"})
        response = web.StreamResponse(headers={
            **_HEADERS, "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        try:
            await response.prepare(request)
            await response.write(b"retry: 2000\n\n")
            await response.write(await feed.first_message())
            while True:
                try:
                    async with asyncio.timeout(feed.refresh_interval + 5):
                        message = await client.queue.get()
                except TimeoutError:
                    message = b": keepalive\n\n"  # proxies close streams that stay silent
                if client.closed.is_set():
                    break
                async with asyncio.timeout(30):  # a browser that takes nothing for 30 s is gone
                    await response.write(message)
        except (ConnectionError, TimeoutError):
            pass
        finally:
            feed.unsubscribe(client)
        return response

    app.router.add_get("/", serve("index.html"))
    for name in _FILES:
        if name != "index.html":
            app.router.add_get(f"/{name}", serve(name))
    app.router.add_get("/status.json", status_json)
    app.router.add_get("/events", events)


def health_app(central: CentralSystem, *, max_status_clients: int = 100,
               status_refresh: float = 15.0) -> web.Application:
    """``/health``, ``/metrics`` and the status page (``/``, ``/status.json``, ``/events``).

    ``max_status_clients`` bounds the status pages open at once (each holds an
    event stream); ``status_refresh`` is how often (seconds) the whole fleet is
    read again for them.
    """
    async def health(request: web.Request) -> web.Response:
        database = await central.check_database()
        body = {
            "status": "ok" if database and central.listening else "unavailable",
            "node_id": central.node_id,
            "database": database,
            "listener": central.listening,
            "chargers": len(central.sessions),
        }
        return web.json_response(body, status=200 if body["status"] == "ok" else 503)

    async def metrics(request: web.Request) -> web.Response:
        pool = central.pool
        gauges = {
            "connected_chargers": float(len(central.sessions)),
            "commands_in_flight": float(sum(1 for s in central.sessions.values() if s.in_flight)),
            "pool_size": float(pool.get_size() if pool else 0),
            "pool_idle": float(pool.get_idle_size() if pool else 0),
            "listener_up": 1.0 if central.listening else 0.0,
            "parse_round_trips": float(central.batcher.batches if central.batcher else 0),
            "parse_calls_batched": float(central.batcher.calls if central.batcher else 0),
            "status_page_clients": float(feed.clients),
        }
        return web.Response(text=central.stats.prometheus(gauges),
                            content_type="text/plain", charset="utf-8")

    feed = StatusFeed(central, max_clients=max_status_clients, refresh_interval=status_refresh)

    async def close_feed(app: web.Application) -> None:
        await feed.close()

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    _status_page_routes(app, feed)
    app.on_shutdown.append(close_feed)
    return app


async def start_health_server(central: CentralSystem, host: str, port: int, **options: Any) -> web.AppRunner:
    """Serve :func:`health_app` on host:port (``options`` go to it); ``await runner.cleanup()`` stops it."""
    runner = web.AppRunner(health_app(central, **options), access_log=None, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
