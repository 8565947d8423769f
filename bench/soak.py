"""``python -m bench.soak``: an hour (or a day) of a fleet's life against one ``pgcsms serve``, sampled.

    python -m bench.soak [--chargers 1000] [--duration 3600] [--sample-interval 5] [--dsn DSN] ...

Not part of CI: it looks for what only time shows (memory that grows, database
connections that leak, a journal that grows faster than the traffic explains).
It brings up what ``python -m bench`` does (an embedded PostgreSQL unless
``--dsn``, ``pgcsms migrate``, ``pgcsms serve`` in its own process: see
bench/harness.py), then runs N simulated OCPP 1.6 chargers in this process
(``websockets`` clients, each from its own loopback address, 127.1.0.1...):

- each boots, reports Available, starts a transaction, sends MeterValues every
  ``--meter-interval`` s and a Heartbeat every ``--heartbeat-interval`` s;
- every ``--reconnect-interval`` s (±50 %, per charger) it stops its
  transaction and reconnects: half close the WebSocket cleanly, half drop the
  TCP connection without a closing handshake, as a lost link does; then a new
  connection, a new transaction;
- every ``--command-interval`` s, ``--commands-per-tick`` commands are queued
  from SQL (``ocpp.send``: TriggerMessage for a Heartbeat, ChangeAvailability)
  to chargers picked at random; chargers answer them (and send the Heartbeat
  a TriggerMessage asks for).

Every ``--sample-interval`` s one CSV row: the proxy's RSS and CPU, the
database's client connections (``pg_stat_activity``: all, and pgcsms's own),
the journal's size (``pg_total_relation_size('pgcsms.journal')``),
chargers connected, CALLs answered and failed, latency, reconnects, commands.
At the end: ``<stamp>-soak-<N>.csv``, ``.json`` (settings, machine, summary)
and, when matplotlib is installed, ``.png`` (four panels over time) under
``--out-dir`` (default bench/results). Every phase is bounded: connecting
(``--connect-timeout``), the run (``--duration``, at most 24 h), stopping (30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import random
import shlex
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from bench.common import raise_nofile_limit
from bench.harness import BENCH_DIR, Database, Run, Server
from bench.loadgen import charger_address
from bench.system import machine_info

__all__ = ["main", "parse_args"]

MAX_CHARGERS = 20_000
MAX_DURATION = 86_400.0
#: Seconds a CALL may wait for its answer before it counts as an error.
CALL_TIMEOUT = 30.0
#: Seconds the chargers get to stop their transactions and close at the end.
STOP_TIMEOUT = 30.0
ID_TAG = "SOAK-TAG"
COMMAND_TERMINAL = ("accepted", "rejected", "completed", "failed", "timeout", "interrupted", "expired",
                    "cancelled")
CSV_COLUMNS = (
    "phase", "elapsed_s", "serve_rss_mib", "serve_cpu_cores", "db_connections", "db_connections_pgcsms", "journal_mib",
    "chargers_connected", "calls_answered", "calls_per_s", "call_errors", "latency_p50_ms", "latency_p99_ms",
    "reconnects", "commands_queued", "commands_final",
)


def _bounded(kind: type, low: float, high: float) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}")
        return value
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chargers", type=_bounded(int, 1, MAX_CHARGERS), default=1000,
                        help=f"simulated chargers (default 1000, at most {MAX_CHARGERS})")
    parser.add_argument("--duration", type=_bounded(float, 10, MAX_DURATION), default=3600.0,
                        help="seconds of load after every charger connected (default 3600, at most 86400)")
    parser.add_argument("--sample-interval", type=_bounded(float, 0.5, 600), default=5.0,
                        help="seconds between CSV rows (default 5)")
    parser.add_argument("--meter-interval", type=_bounded(float, 0.1, 3600), default=10.0,
                        help="seconds between a charger's MeterValues (default 10)")
    parser.add_argument("--heartbeat-interval", type=_bounded(float, 1, 86400), default=60.0,
                        help="seconds between a charger's Heartbeats (default 60)")
    parser.add_argument("--reconnect-interval", type=_bounded(float, 1, MAX_DURATION), default=300.0,
                        help="mean seconds between a charger's reconnects, ±50%% (default 300)")
    parser.add_argument("--command-interval", type=_bounded(float, 0.5, 3600), default=10.0,
                        help="seconds between batches of commands queued from SQL (default 10)")
    parser.add_argument("--commands-per-tick", type=_bounded(int, 0, 100_000), default=10,
                        help="commands queued each time (default 10)")
    parser.add_argument("--connect-concurrency", type=_bounded(int, 1, 10_000), default=100,
                        help="handshakes in flight at once while the fleet first connects (default 100)")
    parser.add_argument("--connect-timeout", type=_bounded(float, 1, 3600), default=300.0,
                        help="seconds allowed for every charger to connect and boot (default 300)")
    parser.add_argument("--dsn", help="use this PostgreSQL (it is migrated) instead of a private embedded one")
    parser.add_argument("--pool-size", type=int, help="passed to pgcsms serve --pool-size")
    parser.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for pgcsms serve (repeat it)")
    parser.add_argument("--out-dir", type=Path, default=BENCH_DIR / "results",
                        help="where the CSV, JSON and PNG go (default bench/results)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, logs)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    return parser.parse_args(argv)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class FleetStats:
    """Counters the chargers update and the sampler reads."""

    connected: int = 0
    booted: int = 0
    answered: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0
    commands_received: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, since the last sample

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())


class SoakCharger:
    """One simulated charger: connections, a transaction per connection, meter values, heartbeats."""

    def __init__(self, fleet: Fleet, number: int) -> None:
        self.fleet = fleet
        self.identity = f"SOAK-{number:05d}"
        self.address = charger_address(number)
        self.url = f"{fleet.url}{self.identity}"
        self.ws: Any = None
        self.pending: dict[str, asyncio.Future[list[Any]]] = {}
        self.lock = asyncio.Lock()  # one outstanding CALL at a time (OCPP-J)
        self.sequence = 0
        self.register = random.randint(0, 10_000_000)
        self.booted = False
        self.heartbeat_wanted = False  # a TriggerMessage asked for one
        self.wake = asyncio.Event()  # set for a wanted Heartbeat, and when the run stops

    async def connect(self) -> bool:
        stats = self.fleet.stats
        try:
            self.ws = await websockets.connect(
                self.url, subprotocols=[Subprotocol("ocpp1.6")], open_timeout=30, ping_interval=None,
                compression=None, local_addr=(self.address, 0), close_timeout=5)
        except (OSError, TimeoutError, InvalidHandshake) as error:
            stats.errors[f"connect: {type(error).__name__}"] += 1
            return False
        stats.connected += 1
        reader = asyncio.create_task(self._read(self.ws))
        self.fleet.tasks.add(reader)
        reader.add_done_callback(self.fleet.tasks.discard)
        if not self.booted:
            result = await self.call("BootNotification", {"chargePointVendor": "Soak", "chargePointModel": "S1"})
            if result is None or result.get("status") != "Accepted":
                return False
            self.booted = True
            stats.booted += 1
        await self.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
        return True

    async def _read(self, ws: Any) -> None:
        """Answers to our CALLs, and the server's CALLs (commands), until the connection ends."""
        try:
            async for text in ws:
                message = json.loads(text)
                if message[0] == 2:
                    action = message[2]
                    self.fleet.stats.commands_received[action] += 1
                    await ws.send(json.dumps([3, message[1], {"status": "Accepted"}]))
                    if action == "TriggerMessage" and message[3].get("requestedMessage") == "Heartbeat":
                        self.heartbeat_wanted = True
                        self.wake.set()
                else:
                    future = self.pending.pop(message[1], None)
                    if future is not None and not future.done():
                        future.set_result(message)
        except ConnectionClosed:
            pass
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
            self.pending.clear()

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """One CALL; its CALLRESULT payload, or None (counted as an error)."""
        stats = self.fleet.stats
        async with self.lock:
            ws = self.ws
            if ws is None:
                return None
            self.sequence += 1
            unique_id = f"{self.sequence}"
            future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
            self.pending[unique_id] = future
            started = time.perf_counter()
            try:
                await ws.send(json.dumps([2, unique_id, action, payload]))
                reply = await asyncio.wait_for(future, CALL_TIMEOUT)
            except (ConnectionClosed, ConnectionError, OSError):
                stats.errors[f"{action}: connection lost"] += 1
                return None
            except TimeoutError:
                stats.errors[f"{action}: no answer in {CALL_TIMEOUT:g} s"] += 1
                return None
            finally:
                self.pending.pop(unique_id, None)
            if reply[0] != 3:
                stats.errors[f"{action}: {reply[2]}"] += 1
                return None
            stats.answered += 1
            stats.latencies.append(time.perf_counter() - started)
            result: dict[str, Any] = reply[2]
            return result

    def _meter(self) -> dict[str, Any]:
        self.register += random.randint(50, 500)
        return {"timestamp": _now_iso(), "sampledValue": [
            {"value": str(self.register), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"}]}

    async def _one_connection(self) -> None:
        """A transaction with meter values and heartbeats, until it is time to reconnect or stop."""
        fleet = self.fleet
        loop = asyncio.get_running_loop()
        started = await self.call("StartTransaction", {
            "connectorId": 1, "idTag": ID_TAG, "meterStart": self.register, "timestamp": _now_iso()})
        transaction_id = started.get("transactionId") if started else None
        mean = fleet.args.reconnect_interval
        reconnect_at = loop.time() + mean * random.uniform(0.5, 1.5)
        next_meter = loop.time() + random.uniform(0, fleet.args.meter_interval)
        next_heartbeat = loop.time() + random.uniform(0, fleet.args.heartbeat_interval)
        while self.ws is not None and not fleet.stopping.is_set() and loop.time() < reconnect_at:
            due = min(next_meter, next_heartbeat, reconnect_at)
            # Sleep until the next thing is due, unless the run stops or a Heartbeat is asked for.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), max(0.0, due - loop.time()))
            self.wake.clear()
            if fleet.stopping.is_set() or self.ws is None or self.ws.close_code is not None:
                break
            now = loop.time()
            if self.heartbeat_wanted or now >= next_heartbeat:
                self.heartbeat_wanted = False
                await self.call("Heartbeat", {})
                next_heartbeat = now + fleet.args.heartbeat_interval
            if now >= next_meter and transaction_id is not None:
                await self.call("MeterValues", {"connectorId": 1, "transactionId": transaction_id,
                                                "meterValue": [self._meter()]})
                next_meter = now + fleet.args.meter_interval
        if transaction_id is not None and self.ws is not None and self.ws.close_code is None:
            await self.call("StopTransaction", {"transactionId": transaction_id, "meterStop": self.register,
                                                "timestamp": _now_iso(), "reason": "Local"})

    async def _close(self, abrupt: bool) -> None:
        ws, self.ws = self.ws, None
        if ws is None:
            return
        self.fleet.stats.connected -= 1
        if abrupt:
            ws.transport.abort()  # no closing handshake: the proxy finds out from TCP
        else:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)

    async def life(self, connected: asyncio.Event | None = None) -> None:
        """Connect, live, reconnect, until the run stops."""
        fleet = self.fleet
        backoff = 1.0
        first = True
        while not fleet.stopping.is_set():
            if self.ws is None:
                async with fleet.handshakes if first else contextlib.nullcontext():
                    ok = await self.connect()
                if not ok:
                    await self._close(abrupt=True)
                    await _sleep_or_stop(fleet.stopping, backoff * random.uniform(0.5, 1.5))
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = 1.0
                if first:
                    first = False
                    fleet.ready += 1
                    if fleet.ready == len(fleet.chargers):
                        fleet.all_ready.set()
            await self._one_connection()
            if fleet.stopping.is_set():
                break
            fleet.stats.reconnects += 1
            await self._close(abrupt=random.random() < 0.5)
            await _sleep_or_stop(fleet.stopping, random.uniform(0.1, 2.0))
        await self._close(abrupt=False)


async def _sleep_or_stop(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


class Fleet:
    """The chargers, their shared counters, and the events of the run."""

    def __init__(self, args: argparse.Namespace, url: str) -> None:
        self.args = args
        self.url = url
        self.stats = FleetStats()
        self.stopping = asyncio.Event()
        self.all_ready = asyncio.Event()
        self.ready = 0
        self.handshakes = asyncio.Semaphore(args.connect_concurrency)
        self.tasks: set[asyncio.Task[None]] = set()
        self.chargers = [SoakCharger(self, number) for number in range(args.chargers)]
        self.lives: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.lives = [asyncio.create_task(charger.life()) for charger in self.chargers]

    async def stop(self) -> None:
        self.stopping.set()
        for charger in self.chargers:
            charger.wake.set()
        done, pending = await asyncio.wait(self.lives, timeout=STOP_TIMEOUT)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                self.stats.errors[f"charger crashed: {task.exception()!r}"] += 1


async def _queue_commands(db: Database, fleet: Fleet, counts: Counter[str]) -> None:
    """Every command interval, commands from SQL to chargers picked at random (none once stopping).

    On a connection of its own: the sampler's queries must not wait behind these, nor collide with them.
    """
    connection = await asyncpg.connect(db.dsn, server_settings={"application_name": "bench.soak commands"})
    try:
        await _queue_commands_on(connection, fleet, counts)
    finally:
        await connection.close()


async def _queue_commands_on(connection: asyncpg.Connection, fleet: Fleet, counts: Counter[str]) -> None:
    args = fleet.args
    tick = 0
    while not fleet.stopping.is_set():
        await _sleep_or_stop(fleet.stopping, args.command_interval)
        if fleet.stopping.is_set() or args.commands_per_tick == 0:
            break
        picked = random.sample([c.identity for c in fleet.chargers], min(args.commands_per_tick, len(fleet.chargers)))
        tick += 1
        action, payload = (("TriggerMessage", '{"requestedMessage": "Heartbeat"}') if tick % 2
                           else ("ChangeAvailability", '{"connectorId": 0, "type": "Operative"}'))
        try:
            await connection.execute("SELECT ocpp.send(cp, $2, $3::jsonb) FROM unnest($1::text[]) AS cp",
                                     picked, action, payload)
            counts[action] += len(picked)
        except Exception as error:  # a soak keeps going; the count says what was queued
            fleet.stats.errors[f"ocpp.send: {type(error).__name__}"] += 1


async def _sample(server: Server, db: Database, fleet: Fleet, queued: Counter[str], started: float,
                  previous: dict[str, float], phase: str = "load") -> dict[str, Any]:
    assert db.monitor is not None
    stats = fleet.stats
    tree = server.sample()
    activity = await db.activity()
    journal = await db.monitor.fetchval("SELECT pg_total_relation_size('pgcsms.journal')")
    final = await db.monitor.fetchval("SELECT count(*) FROM ocpp.commands WHERE charge_point_id LIKE 'SOAK-%' "
                                      "AND status = ANY($1)", list(COMMAND_TERMINAL))
    now = time.monotonic()
    wall = max(1e-9, now - previous.get("at", started))
    cpu = tree.cpu_s if tree is not None else 0.0
    latencies, stats.latencies = stats.latencies, []
    # Rates over a window much shorter than a sample interval (the first row, the last) say little: left empty.
    full = wall >= fleet.args.sample_interval / 2
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    row = {
        "phase": phase,
        "elapsed_s": round(now - started, 1),
        "serve_rss_mib": round(tree.rss_bytes / 2**20, 1) if tree is not None else None,
        "serve_cpu_cores": round((cpu - previous["cpu"]) / wall, 3) if "cpu" in previous and full else None,
        "db_connections": activity["total"],
        "db_connections_pgcsms": sum(n for app, n in activity["by_application"].items() if app.startswith("pgcsms")),
        "journal_mib": round(journal / 2**20, 2),
        "chargers_connected": stats.connected,
        "calls_answered": stats.answered,
        "calls_per_s": round((stats.answered - previous.get("answered", 0)) / wall, 1) if full else None,
        "call_errors": stats.error_total,
        "latency_p50_ms": round(p50 * 1000, 2) if p50 is not None else None,
        "latency_p99_ms": round(p99 * 1000, 2) if p99 is not None else None,
        "reconnects": stats.reconnects,
        "commands_queued": sum(queued.values()),
        "commands_final": final,
    }
    previous.update(at=now, cpu=cpu, answered=stats.answered)
    return row


def _slope_per_hour(rows: list[dict[str, Any]], key: str) -> float | None:
    """Least-squares growth of ``key`` per hour over the second half of the run (after warm-up)."""
    points = [(r["elapsed_s"], r[key]) for r in rows[len(rows) // 2:] if r[key] is not None]
    if len(points) < 3:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    return round(sum((x - mean_x) * (y - mean_y) for x, y in points) / spread * 3600, 2)


def _plot(path: Path, rows: list[dict[str, Any]], title: str) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    minutes = [r["elapsed_s"] / 60 for r in rows]
    panels = ((("serve_rss_mib",), "proxy RSS (MiB)"), (("db_connections", "db_connections_pgcsms"), "DB connections"),
              (("journal_mib",), "journal (MiB)"), (("calls_per_s",), "CALLs answered / s"))
    figure, axes = plt.subplots(len(panels), 1, sharex=True, figsize=(9, 10))
    for axis, (keys, label) in zip(axes, panels, strict=True):
        for key in keys:
            axis.plot(minutes, [float("nan") if r[key] is None else r[key] for r in rows], linewidth=1,
                      label={"db_connections": "all clients", "db_connections_pgcsms": "pgcsms serve"}.get(key))
        if len(keys) > 1:
            axis.legend(loc="lower right")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
    axes[-1].set_xlabel("minutes")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


async def _run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    random.seed(args.seed)
    serve_args = list(args.serve_arg)
    run = Run(args.dsn, args.pool_size, args.keep, serve_args)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = args.out_dir / f"{stamp}-soak-{args.chargers}"
    csv_path = base.with_suffix(".csv")
    print(f"[soak] {args.chargers} chargers for {args.duration:g} s; work directory {run.workdir}; "
          f"samples to {csv_path}", flush=True)
    rows: list[dict[str, Any]] = []
    queued: Counter[str] = Counter()
    fleet: Fleet | None = None
    try:
        server, db = await run.start_pgcsms()
        assert db.monitor is not None
        await db.monitor.execute("SELECT ocpp.add_id_tag($1)", ID_TAG)
        baseline = server.sample()
        fleet = Fleet(args, server.url)
        connect_started = time.monotonic()
        fleet.start()
        try:
            await asyncio.wait_for(fleet.all_ready.wait(), args.connect_timeout)
        except TimeoutError:
            print(f"[soak] only {fleet.ready} of {args.chargers} chargers connected in {args.connect_timeout:g} s",
                  flush=True)
        connect_s = time.monotonic() - connect_started
        print(f"[soak] {fleet.ready} chargers connected and booted in {connect_s:.1f} s", flush=True)
        commands = asyncio.create_task(_queue_commands(db, fleet, queued))
        started = time.monotonic()
        at_start = server.sample()
        previous: dict[str, float] = {"at": started, "answered": fleet.stats.answered,
                                      **({"cpu": at_start.cpu_s} if at_start is not None else {})}
        fleet.stats.latencies = []  # the boot storm is not the soak
        with open(csv_path, "w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            next_sample = started
            while True:
                row = await _sample(server, db, fleet, queued, started, previous)
                rows.append(row)
                writer.writerow(row)
                out.flush()  # an interrupted soak still leaves its samples
                if len(rows) % max(1, int(60 / args.sample_interval)) == 1:
                    print("[soak] " + ", ".join(f"{k}={row[k]}" for k in (
                        "elapsed_s", "serve_rss_mib", "db_connections", "journal_mib", "chargers_connected",
                        "calls_per_s", "call_errors")), flush=True)
                if time.monotonic() - started >= args.duration:
                    break
                next_sample += args.sample_interval
                await asyncio.sleep(max(0.0, min(next_sample, started + args.duration) - time.monotonic()))
            await fleet.stop()
            commands.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await commands
            # Commands still in flight when the chargers left end when the proxy sees them go.
            row = await _sample(server, db, fleet, queued, started, previous, phase="stopped")
            rows.append(row)
            writer.writerow(row)
        statuses = {r["status"]: r["n"] for r in await db.monitor.fetch(
            "SELECT status, count(*) AS n FROM ocpp.commands WHERE charge_point_id LIKE 'SOAK-%' GROUP BY 1")}
        journal_rows = await db.monitor.fetchval("SELECT count(*) FROM ocpp.message_log")
        pg_version = db.version
    finally:
        if fleet is not None and not fleet.stopping.is_set():
            await fleet.stop()
        await run.close()
    stats = fleet.stats
    measured = [r for r in rows if r["serve_rss_mib"] is not None]
    journal_growth = (rows[-1]["journal_mib"] - rows[0]["journal_mib"]) * 2**20
    calls = rows[-1]["calls_answered"] - rows[0]["calls_answered"]
    summary = {
        "chargers": args.chargers, "connected_and_booted": fleet.ready, "connect_s": round(connect_s, 1),
        "duration_s": rows[-1]["elapsed_s"], "samples": len(rows),
        "serve_rss_mib": {"before_chargers": round(baseline.rss_bytes / 2**20, 1) if baseline else None,
                          "first": measured[0]["serve_rss_mib"] if measured else None,
                          "last": measured[-1]["serve_rss_mib"] if measured else None,
                          "max": max((r["serve_rss_mib"] for r in measured), default=None),
                          "growth_mib_per_hour_second_half": _slope_per_hour(
                              [r for r in rows if r["phase"] == "load"], "serve_rss_mib")},
        "db_connections": {"min": min(r["db_connections"] for r in rows),
                           "max": max(r["db_connections"] for r in rows),
                           "pgcsms_max": max(r["db_connections_pgcsms"] for r in rows)},
        "journal": {"first_mib": rows[0]["journal_mib"], "last_mib": rows[-1]["journal_mib"],
                    "rows_at_end": journal_rows,
                    "bytes_per_answered_call": round(journal_growth / calls) if calls else None},
        "calls_answered": stats.answered,
        "calls_per_s_mean": round(calls / max(1e-9, rows[-1]["elapsed_s"] - rows[0]["elapsed_s"]), 1),
        "latency_p99_ms_worst_sample": max((r["latency_p99_ms"] for r in rows
                                            if r["phase"] == "load" and r["latency_p99_ms"] is not None),
                                           default=None),
        "errors": dict(stats.errors), "reconnects": stats.reconnects,
        "commands_queued": dict(queued), "commands_received": dict(stats.commands_received),
        "commands_by_status": statuses,
    }
    plot = _plot(base.with_suffix(".png"), rows, f"pgcsms soak: {args.chargers} chargers, {args.duration:g} s")
    document = {"command": command, "settings": {k: str(v) if isinstance(v, Path) else v
                                                 for k, v in vars(args).items()},
                "machine": machine_info(pg_version), "summary": summary, "csv": str(csv_path),
                "png": str(plot) if plot else None, "notes": run.notes}
    base.with_suffix(".json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"[soak] CSV {csv_path}; JSON {base.with_suffix('.json')}; "
          + (f"PNG {plot}" if plot else "no PNG: matplotlib is not installed (pip install -r bench/requirements.txt)"))
    print("[soak] summary " + json.dumps(summary), flush=True)
    return document


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m bench.soak " + shlex.join(sys.argv[1:] if argv is None else argv)
    raise_nofile_limit()
    cap = args.connect_timeout + args.duration + STOP_TIMEOUT + 300  # whatever happens, the run ends
    try:
        document = asyncio.run(asyncio.wait_for(_run(args, command), cap))
    except TimeoutError:
        print(f"[soak] the run exceeded its cap of {timedelta(seconds=cap)}", file=sys.stderr)
        return 1
    return 1 if document["summary"]["connected_and_booted"] < args.chargers else 0


if __name__ == "__main__":
    sys.exit(main())
