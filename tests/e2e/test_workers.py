"""``pgcsms serve --workers N``: N proxies on one port under a supervisor that speaks for them.

Real processes, a real notify socket (the service manager's side), real
WebSocket chargers; each test awaits what it checks and is bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
import websockets
from service_manager import Manager, served_port, serving

CHARGERS = 24  # all on one worker by chance: 2 in 2**24


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
        return [int(child) for child in children.read().split()]


@asynccontextmanager
async def chargers(port: int, names: list[str]) -> AsyncIterator[dict[str, websockets.ClientConnection]]:
    """Connected and booted (Accepted) chargers, by name."""
    sockets: dict[str, websockets.ClientConnection] = {}
    try:
        for name in names:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/ocpp/{name}", subprotocols=["ocpp1.6"],
                                          open_timeout=10)
            sockets[name] = ws
            await ws.send(json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "V",
                                                                      "chargePointModel": "M"}]))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert answer[0] == 3 and answer[2]["status"] == "Accepted", answer
        yield sockets
    finally:
        for ws in sockets.values():
            await ws.close()


async def _health(port: int) -> dict[str, object]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/health",
                                                               timeout=aiohttp.ClientTimeout(total=5)) as response:
        return dict(await response.json())


async def _answer_one_command(ws: websockets.ClientConnection) -> str:
    """Answer the next CALL from the CSMS (Accepted) and return its action."""
    message = json.loads(await asyncio.wait_for(ws.recv(), 15))
    assert message[0] == 2, message
    await ws.send(json.dumps([3, message[1], {"status": "Accepted"}]))
    return str(message[2])


async def _start(tmp_path, dsn: str, *args: str, watchdog_usec: int | None = None):
    return serving(tmp_path, "--dsn", dsn, "--no-migrate", "--workers", "2", *args,
                   listen=f"127.0.0.1:{_free_port()}", watchdog_usec=watchdog_usec)


async def _ready(manager: Manager) -> str:
    ready = await manager.next("READY=1", timeout=60)
    assert "(2 of 2 workers serving)" in ready, ready
    return ready


@pytest.mark.timeout(120)
async def test_two_workers_share_the_port_each_a_node_of_its_own(dsn, db, events, tmp_path):
    names = [f"CP-W{n}" for n in range(CHARGERS)]
    for name in names:
        await db.execute("SELECT ocpp.add_charge_point($1)", name)
    health = _free_port()
    async with await _start(tmp_path, dsn, "--health", f"127.0.0.1:{health}", "--node-id", "csms",
                            watchdog_usec=600_000) as (manager, serve):
        port = served_port(await _ready(manager))
        await serve.line(rf"pgcsms: serving ws://127\.0\.0\.1:{port}/ocpp/\{{chargePointId\}} with 2 workers")
        # Each worker answers health on a port of its own, under its own node id.
        assert (await _health(health))["node_id"] == "csms/0"
        assert (await _health(health + 1))["node_id"] == "csms/1"
        async with chargers(port, names) as sockets:
            nodes = dict(await db.fetch("SELECT id, node_id FROM ocpp.charge_points "
                                        "WHERE id = ANY($1) AND connected", names))
            assert set(nodes.values()) == {"csms/0", "csms/1"}, nodes  # the kernel spread them
            # The supervisor sums the workers' chargers for the service manager.
            async with asyncio.timeout(15):
                while f"{CHARGERS} chargers connected" not in (await manager.next("STATUS=serving")):
                    pass
            assert await manager.next("WATCHDOG=1", timeout=10) == "WATCHDOG=1"
            # A command reaches a charger whichever worker holds it.
            for node in ("csms/0", "csms/1"):
                name = next(name for name, held_by in nodes.items() if held_by == node)
                command_id = await db.fetchval("SELECT ocpp.send($1, 'Reset', '{\"type\": \"Soft\"}')", name)
                assert await _answer_one_command(sockets[name]) == "Reset"
                assert (await events.command(command_id, timeout=15))["status"] == "accepted"
            serve.process.send_signal(signal.SIGTERM)
            assert "STOPPING=1" in await manager.next("STOPPING=1", timeout=10)
            for ws in sockets.values():
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 30)
                assert ws.close_code == 1001  # every worker drained and went away
        assert await serve.wait() == 0


@pytest.mark.timeout(120)
async def test_a_worker_that_dies_is_forked_again_and_serves(dsn, db, tmp_path):
    names = [f"CP-R{n}" for n in range(CHARGERS)]
    for name in names:
        await db.execute("SELECT ocpp.add_charge_point($1)", name)
    async with await _start(tmp_path, dsn, "--node-id", "csms") as (manager, serve):
        port = served_port(await _ready(manager))
        workers = _children(serve.process.pid)
        assert len(workers) == 2
        async with chargers(port, names) as sockets:
            held = dict(await db.fetch("SELECT id, node_id FROM ocpp.charge_points "
                                       "WHERE id = ANY($1)", names))
            victims = [name for name, node in held.items() if node == "csms/1"]
            assert victims
            # Worker 1 is the second forked; kill -9 it: its chargers lose their socket, nobody else does.
            signal_target = workers[1]
            os.kill(signal_target, signal.SIGKILL)
            for name in victims:
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(sockets[name].recv(), 15)
            await serve.line(r"worker 1 \(node csms/1\) killed by signal 9; starting it again")
            await manager.next("READY=1", timeout=30)  # the new worker 1 serves: all ready again
            assert len(_children(serve.process.pid)) == 2 and signal_target not in _children(serve.process.pid)
            survivors = [name for name in names if name not in victims]
            for name in survivors:  # untouched
                await sockets[name].send(json.dumps([2, "hb", "Heartbeat", {}]))
                assert json.loads(await asyncio.wait_for(sockets[name].recv(), 10))[0] == 3
        # The dead worker's chargers come back, on either worker.
        async with chargers(port, victims):
            assert await db.fetchval("SELECT count(*) FROM ocpp.charge_points WHERE id = ANY($1) "
                                     "AND connected", victims) == len(victims)
        serve.process.send_signal(signal.SIGTERM)
        assert await serve.wait() == 0


@pytest.mark.timeout(120)
async def test_sighup_reaches_every_worker_and_ready_follows_both(dsn, tmp_path):
    settings = tmp_path / "pgcsms.toml"
    settings.write_text('log_level = "INFO"\n[limits]\nmessage_burst = 200\n')
    async with await _start(tmp_path, dsn, "--config", str(settings)) as (manager, serve):
        await _ready(manager)
        settings.write_text('log_level = "INFO"\n[limits]\nmessage_burst = 3\n')
        serve.process.send_signal(signal.SIGHUP)
        assert "RELOADING=1" in await manager.next("RELOADING=1", timeout=10)
        await manager.next("READY=1", timeout=10)
        await serve.line(r"limits\.message_burst 200 -> 3", timeout=10, count=2)  # one line from each worker
        serve.process.send_signal(signal.SIGTERM)
        assert await serve.wait() == 0


async def _exited(pid: int) -> None:
    """Return once process ``pid`` (not our child) has exited: its pidfd becomes readable."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    gone = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(pidfd, gone.set)
    try:
        await gone.wait()
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


@pytest.mark.timeout(120)
async def test_workers_leave_with_a_supervisor_killed_with_minus_9(dsn, db, tmp_path):
    async with await _start(tmp_path, dsn, "--shutdown-timeout", "1") as (manager, serve):
        port = served_port(await _ready(manager))
        workers = _children(serve.process.pid)
        serve.process.kill()
        async with asyncio.timeout(30):
            for pid in workers:
                await _exited(pid)
        with pytest.raises(OSError):  # nobody holds the port any more
            await asyncio.open_connection("127.0.0.1", port)
        assert not await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgcsms %'")


@pytest.mark.timeout(120)
async def test_a_worker_that_cannot_start_stops_the_service(dsn, tmp_path):
    health = _free_port()
    with socket.socket() as taken:  # worker 1's health port is someone else's
        taken.bind(("127.0.0.1", health + 1))
        taken.listen()
        async with await _start(tmp_path, dsn, "--health", f"127.0.0.1:{health}") as (manager, serve):
            assert await serve.wait() == 1
            assert "worker 1 exited with code 1 before it served: stopping" in serve.output
            assert not any("READY=1" in message for message in manager.received)
