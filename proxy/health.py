"""Health and metrics over HTTP (aiohttp), on a port of their own.

``GET /health`` answers 200 when the database answers and the command
listener is up, 503 otherwise (for load balancers and systemd watchdogs);
``GET /metrics`` is the Prometheus text exposition.
"""

from __future__ import annotations

from aiohttp import web

from .server import CentralSystem

__all__ = ["health_app", "start_health_server"]


def health_app(central: CentralSystem) -> web.Application:
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
        }
        return web.Response(text=central.stats.prometheus(gauges),
                            content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    return app


async def start_health_server(central: CentralSystem, host: str, port: int) -> web.AppRunner:
    """Serve :func:`health_app` on host:port; ``await runner.cleanup()`` stops it."""
    runner = web.AppRunner(health_app(central), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
