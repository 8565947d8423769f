"""The four scenarios: steady, idle, storm, fanout.

Each takes a :class:`bench.harness.Run` and a :class:`Settings`, measures every
target it was asked for, and returns a dict of results: per target, plus the
headline figures :mod:`bench.report` puts at the top of the JSON.  A target that
cannot be started (pgcsms before the proxy lands, say) is reported with its
error and the others are still measured.
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.harness import (
    Database,
    Run,
    Server,
    TargetUnavailable,
    WorkerPool,
    merge_phase,
    sleep_until,
)
from bench.system import wait_until_quiet

__all__ = ["SCENARIOS", "Settings", "fanout", "idle", "steady", "storm"]

#: Seconds between "go" and the first CALL, so every worker starts together.
LEAD = 0.5
#: Seconds a phase may run past its end waiting for the last replies.
DRAIN = 10.0

TRIGGER_SQL = (
    "SELECT ocpp.send(cp, 'TriggerMessage', '{\"requestedMessage\":\"Heartbeat\"}')"
    " FROM unnest($1::text[]) AS cp"
)
TERMINAL = ("accepted", "rejected", "completed", "failed", "timeout", "expired", "cancelled")


@dataclass
class Settings:
    """What the command line asked for (defaults filled in per scenario)."""

    scenario: str
    chargers: int
    duration: float
    targets: list[str]
    procs: int | None = None
    warmup: float = 1.0
    open_points: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.8, 0.95])
    limit_concurrency: int = 10
    limit_batch: int = 200
    heartbeat_interval: float = 60.0
    connect_concurrency: int = 200
    quiet_wait: float = 10.0
    # storm: 1 registers every charger with a password first (HTTP Basic at each handshake).
    security_profile: int = 0
    # steady: the OCPP version the chargers speak ("1.6" or "2.0.1").
    protocol: str = "1.6"


async def _guard(name: str, body: Awaitable[dict[str, Any]],
                 quiet_wait: float = 0.0) -> dict[str, Any]:
    """Await one target's measurement; turn a failure into a reported error.

    First waits up to ``quiet_wait`` seconds for the machine to be quiet.
    """
    quiet = await wait_until_quiet(quiet_wait) if quiet_wait > 0 else None
    if quiet and quiet["busy_cores"] >= 0.25:
        print(f"[bench] {name}: machine still busy ({quiet['busy_cores']} cores used by"
              f" others after {quiet['waited_s']} s): figures will be disturbed", flush=True)
    started = time.time()
    try:
        result = await body
    except TargetUnavailable as exc:
        result = {"error": str(exc), "unavailable": True}
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    result["seconds"] = round(time.time() - started, 1)
    if quiet is not None:
        result["quiet_before"] = quiet
    status = "ERROR " + result["error"].splitlines()[0] if "error" in result else "done"
    print(f"[bench] {name}: {status} ({result['seconds']} s)", flush=True)
    return result


async def _measured(run: Run, pool: WorkerPool, server: Server | None, db: Database | None,
                    commands: list[dict[str, Any]], measure_from: float, end: float,
                    timeout: float) -> dict[str, Any]:
    """Run one phase on every worker while sampling the servers' CPU over [measure_from, end]."""
    samplers = run.samplers(server, db)
    task = asyncio.create_task(pool.ask(commands, timeout))
    await sleep_until(measure_from)
    before = {name: fn() for name, fn in samplers.items()}
    await sleep_until(end)
    after = {name: fn() for name, fn in samplers.items()}
    answers = await task
    merged = merge_phase(answers)
    duration = end - measure_from
    messages = int(merged.get("window_results", 0))
    merged["msgs_s"] = round(messages / duration, 1) if duration > 0 else None
    loadgen_cpu = float(merged.get("loadgen_cpu_s", 0.0))
    wall = max(a.get("loadgen_wall_s", duration) for a in answers)
    merged["loadgen_cores"] = round(loadgen_cpu / wall, 3) if wall else None
    # The generator's CPU over the measured window, estimated from its whole-phase rate.
    merged["cpu"] = run.cpu_between(before, after, messages,
                                    (merged["loadgen_cores"] or 0.0) * duration)
    return merged


def _split_rate(total: float, sizes: list[int]) -> list[float]:
    chargers = sum(sizes)
    return [total * size / chargers for size in sizes]


# -- steady ----------------------------------------------------------------
async def _steady_ws(run: Run, settings: Settings, name: str) -> dict[str, Any]:
    server, db = await run.start_target(name)
    try:
        async with run.loadgen(server.url, settings.chargers, settings.procs,
                               f"bench-{name}-") as pool:
            return await _steady_phases(run, settings, name, server, db, pool)
    finally:
        run.stop_server(server)


async def _steady_phases(run: Run, settings: Settings, name: str, server: Server,
                         db: Database | None, pool: WorkerPool) -> dict[str, Any]:
    connect = merge_connect(await pool.ask_all(
        {"cmd": "connect", "concurrency": settings.connect_concurrency, "timeout": 120,
         "protocol": settings.protocol}, 180))
    out: dict[str, Any] = {"connect": connect}
    if connect["booted"] == 0:
        raise RuntimeError(f"no charger booted: {json.dumps(connect)}")
    if settings.protocol == "2.0.1" and not connect.get("transactions_open"):
        raise RuntimeError(f"no charger opened its transaction: {json.dumps(connect)}")
    duration, warmup = settings.duration, settings.warmup

    async def closed(mix: str, length: float) -> dict[str, Any]:
        start = time.time() + LEAD
        cmd = {"cmd": "closed", "start_at": start, "warmup": warmup, "duration": length,
               "mix": mix, "drain": DRAIN}
        return await _measured(run, pool, server, db, [cmd] * len(pool.procs),
                               start + warmup, start + warmup + length,
                               LEAD + warmup + length + DRAIN + 30)

    out["closed"] = await closed("meter", duration)
    peak = out["closed"]["msgs_s"] or 0.0
    print(f"[bench]   {name} closed loop: {peak} msg/s,"
          f" p99 {out['closed']['latency']['p99_ms']} ms", flush=True)
    out["mix"] = await closed("mix", max(1.0, duration / 2))
    out["open"] = []
    for fraction in settings.open_points:
        rate = peak * fraction
        if rate <= 0:
            break
        start = time.time() + LEAD
        length = max(1.0, duration / 2)
        cmds = [
            {"cmd": "open", "start_at": start, "warmup": warmup, "duration": length,
             "rate": r, "mix": "meter", "drain": DRAIN}
            for r in _split_rate(rate, pool.sizes)
        ]
        point = await _measured(run, pool, server, db, cmds, start + warmup,
                                start + warmup + length, LEAD + warmup + length + DRAIN + 30)
        point["fraction_of_peak"] = fraction
        point["offered_msgs_s"] = round(rate, 1)
        point["saturated"] = bool(
            point.get("dropped_at_end") or (point["msgs_s"] or 0) < 0.95 * rate
        )
        out["open"].append(point)
        print(f"[bench]   {name} open {fraction:.0%} of peak: {rate:.0f} msg/s offered,"
              f" p99 {point['latency']['p99_ms']} ms", flush=True)
    out["stats"] = await pool.ask_all({"cmd": "stats"}, 30)
    return out


def merge_connect(answers: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"connected": 0, "booted": 0, "boot_statuses": {}, "errors": {},
                           "seconds": 0.0}
    for answer in answers:
        out["connected"] += answer.get("connected", 0)
        out["booted"] += answer.get("booted", 0)
        out["seconds"] = max(out["seconds"], answer.get("seconds", 0.0))
        for key in ("boot_statuses", "errors", "transaction_statuses"):
            for code, n in answer.get(key, {}).items():
                out.setdefault(key, {})
                out[key][code] = out[key].get(code, 0) + n
        if "transactions_open" in answer:
            out["transactions_open"] = out.get("transactions_open", 0) + answer["transactions_open"]
    return out


async def _steady_limit(run: Run, settings: Settings) -> dict[str, Any]:
    db = await run.database()
    if not await db.has_function("ocpp", "parse"):
        raise TargetUnavailable("ocpp.parse does not exist yet in the migrated schema")
    if db.monitor is not None:
        # Chargers Accepted, as pgcsms serve's start makes them, also when the
        # limit runs alone: a 2.0.1 station still Pending gets SecurityError
        # for its TransactionEvents, and a Pending charger's messages take the
        # per-message path of ocpp.parse_many.
        await db.monitor.execute("SELECT ocpp.set_setting('unknown_charge_points', 'accept')")
    pool = await run.start_limit(db.dsn, settings.chargers, "bench-limit-")
    try:
        out: dict[str, Any] = {"prepare": (await pool.ask_all(
            {"cmd": "prepare", "protocol": settings.protocol}, 120))[0]}
        for form in ("single", "batched"):
            start = time.time() + LEAD
            length = max(1.0, settings.duration / 2)
            cmd = {"cmd": "run", "form": form, "start_at": start, "warmup": settings.warmup,
                   "duration": length, "concurrency": settings.limit_concurrency
                   if form == "single" else 2, "batch": settings.limit_batch, "mix": "meter"}
            samplers = run.samplers(None, db)
            task = asyncio.create_task(pool.ask_all(cmd, LEAD + length + 120))
            await sleep_until(start + settings.warmup)
            before = {n: f() for n, f in samplers.items()}
            await sleep_until(start + settings.warmup + length)
            after = {n: f() for n, f in samplers.items()}
            (answer,) = await task
            # The client's CPU over the window, estimated from its whole-run rate.
            client = answer["client_cpu_s"] * length / (length + settings.warmup)
            answer["cpu"] = run.cpu_between(before, after, int(answer.get("messages", 0)), client)
            answer.pop("ok", None)
            out[form] = answer
            print(f"[bench]   limit {form}: {answer['msgs_s']} msg/s"
                  f" ({answer['errors']} errors)", flush=True)
        return out
    finally:
        await run.close_pool(pool)


async def steady(run: Run, settings: Settings) -> dict[str, Any]:
    """Closed loop, mix, and open-loop points for each server; then the SQL limit."""
    targets: dict[str, Any] = {}
    for name in settings.targets:
        if name == "limit":
            continue
        targets[name] = await _guard(name, _steady_ws(run, settings, name), settings.quiet_wait)
    if "limit" in settings.targets:
        targets["limit"] = await _guard("limit", _steady_limit(run, settings), settings.quiet_wait)

    def msgs(name: str) -> float | None:
        return targets.get(name, {}).get("closed", {}).get("msgs_s")

    p99 = None
    for point in targets.get("pgcsms", {}).get("open", []):
        if abs(point["fraction_of_peak"] - 0.8) < 1e-9:
            p99 = point["latency"]["p99_ms"]
    limit = targets.get("limit", {})
    return {
        "headline": {
            "pgcsms_msgs_s": msgs("pgcsms"),
            "python_peer_msgs_s": msgs("python_peer"),
            "node_peer_msgs_s": msgs("node_peer"),
            "limit_msgs_s": limit.get("single", {}).get("msgs_s"),
            "limit_batched_msgs_s": limit.get("batched", {}).get("msgs_s"),
            "p99_ms": p99,
        },
        "targets": targets,
    }


# -- idle ------------------------------------------------------------------
async def _idle_target(run: Run, settings: Settings, name: str) -> dict[str, Any]:
    server, db = await run.start_target(name)
    try:
        await asyncio.sleep(1.0)
        base = server.sample()
        async with run.loadgen(server.url, settings.chargers, settings.procs,
                               f"bench-idle-{name}-") as pool:
            connect = merge_connect(await pool.ask_all(
                {"cmd": "connect", "concurrency": settings.connect_concurrency, "timeout": 300,
                 "protocol": settings.protocol, "transactions": False},
                360))
            print(f"[bench]   {name}: {connect['connected']} connected,"
                  f" {connect['booted']} booted in {connect['seconds']} s", flush=True)
            start = time.time() + LEAD
            length = settings.duration
            cmd = {"cmd": "idle", "start_at": start, "duration": length,
                   "interval": settings.heartbeat_interval, "drain": DRAIN}
            samplers = run.samplers(server, db)
            task = asyncio.create_task(pool.ask_all(cmd, LEAD + length + DRAIN + 60))
            await sleep_until(start)
            before = {n: f() for n, f in samplers.items()}
            await sleep_until(start + 0.6 * length)
            loaded = server.sample()
            activity = await db.activity() if db is not None else None
            await sleep_until(start + length)
            after = {n: f() for n, f in samplers.items()}
            phase = merge_phase(await task)
            phase["cpu"] = run.cpu_between(before, after, int(phase.get("results", 0)),
                                           phase.get("loadgen_cpu_s"))
            stats = await pool.ask_all({"cmd": "stats"}, 30)
    finally:
        run.stop_server(server)
    connected = sum(s["connected"] for s in stats)
    rss_base = base.rss_bytes if base else 0
    rss_loaded = loaded.rss_bytes if loaded else 0
    print(f"[bench]   {name}: RSS {rss_base / 2**20:.0f} -> {rss_loaded / 2**20:.0f} MiB"
          f" with {connected} connections", flush=True)
    return {
        "connect": connect,
        "connected_at_end": connected,
        "rss_base_mib": round(rss_base / 2**20, 1),
        "rss_loaded_mib": round(rss_loaded / 2**20, 1),
        "rss_per_connection_kib": round((rss_loaded - rss_base) / 1024 / connected, 1)
        if connected else None,
        "db_connections": activity,
        "heartbeats": phase,
    }


async def idle(run: Run, settings: Settings) -> dict[str, Any]:
    """Many connected chargers that only heartbeat: memory and database connections."""
    targets = {
        name: await _guard(name, _idle_target(run, settings, name), settings.quiet_wait)
        for name in settings.targets if name != "limit"
    }
    pg = targets.get("pgcsms", {})
    return {
        "headline": {
            "idle_chargers": settings.chargers,
            "idle_rss_per_connection_kib": pg.get("rss_per_connection_kib"),
            "idle_db_connections": (pg.get("db_connections") or {}).get("total"),
            "python_peer_rss_per_connection_kib":
                targets.get("python_peer", {}).get("rss_per_connection_kib"),
            "node_peer_rss_per_connection_kib":
                targets.get("node_peer", {}).get("rss_per_connection_kib"),
        },
        "targets": targets,
    }


# -- storm -----------------------------------------------------------------
async def _storm_target(run: Run, settings: Settings, name: str) -> dict[str, Any]:
    server, db = await run.start_target(name)
    prefix = f"bench-storm-{name}-"
    password_prefix = None
    if settings.security_profile == 1:
        # The peers check no password; pgcsms checks every one (ocpp.authenticate).
        password_prefix = "bench-key-0123456789-"
        if db is not None and db.monitor is not None:
            await db.monitor.execute(
                "SELECT ocpp.add_charge_point(id), ocpp.set_password(id, $2 || id) "
                "FROM (SELECT $1 || lpad(n::text, 6, '0') AS id FROM generate_series(0, $3 - 1) AS n) AS c",
                prefix, password_prefix, settings.chargers)
    try:
        async with run.loadgen(server.url, settings.chargers, settings.procs, prefix,
                               password_prefix) as pool:
            start = time.time() + 1.0
            timeout = settings.duration
            samplers = run.samplers(server, db)
            task = asyncio.create_task(pool.ask_all(
                {"cmd": "storm", "start_at": start, "timeout": timeout, "protocol": settings.protocol},
                timeout + 60))
            await sleep_until(start)
            before = {n: f() for n, f in samplers.items()}
            answers = await task
            after = {n: f() for n, f in samplers.items()}
            activity = await db.activity() if db is not None else None
    finally:
        run.stop_server(server)
    accepted = sum(a["accepted"] for a in answers)
    last = max((a["last_accepted_at"] or 0.0) for a in answers)
    errors: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for answer in answers:
        for code, n in answer["errors"].items():
            errors[code] = errors.get(code, 0) + n
        for code, n in answer["boot_statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    result = {
        "chargers": settings.chargers,
        "accepted": accepted,
        "seconds_to_all_accepted": round(last - start, 3)
        if accepted == settings.chargers else None,
        "seconds_to_last_accepted": round(last - start, 3) if accepted else None,
        "attempts": sum(a["attempts"] for a in answers),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "boot_statuses": statuses,
        "cpu": run.cpu_between(before, after, accepted,
                               sum(a["loadgen_cpu_s"] for a in answers)),
        "loadgen_cpu_s": round(sum(a["loadgen_cpu_s"] for a in answers), 3),
        "timeout_s": timeout,
        "db_connections_after": activity,
        "security_profile": settings.security_profile,
    }
    print(f"[bench]   {name}: {accepted}/{settings.chargers} accepted,"
          f" last at {result['seconds_to_last_accepted']} s,"
          f" {result['errors']} errors", flush=True)
    return result


async def storm(run: Run, settings: Settings) -> dict[str, Any]:
    """Every charger connects and boots at once: time until all are Accepted."""
    targets = {
        name: await _guard(name, _storm_target(run, settings, name), settings.quiet_wait)
        for name in settings.targets if name != "limit"
    }
    pg = targets.get("pgcsms", {})
    return {
        "headline": {
            "storm_chargers": settings.chargers,
            "storm_seconds": pg.get("seconds_to_all_accepted"),
            "storm_accepted": pg.get("accepted"),
            "storm_errors": pg.get("errors"),
            "python_peer_storm_seconds":
                targets.get("python_peer", {}).get("seconds_to_all_accepted"),
            "node_peer_storm_seconds":
                targets.get("node_peer", {}).get("seconds_to_all_accepted"),
        },
        "targets": targets,
    }


# -- fanout ----------------------------------------------------------------
async def _fanout_check(db: Database) -> None:
    assert db.monitor is not None
    missing = [] if await db.has_function("ocpp", "send") else ["ocpp.send"]
    if await db.monitor.fetchval("SELECT to_regclass('ocpp.commands')") is None:
        missing.append("ocpp.commands")
    if missing:
        raise TargetUnavailable(
            f"{' and '.join(missing)} does not exist yet: the fanout scenario needs the"
            " command queue (SELECT ocpp.send(...) and the view ocpp.commands)"
        )


async def _fanout_pgcsms(run: Run, settings: Settings) -> dict[str, Any]:
    db = await run.database()
    await _fanout_check(db)
    assert db.monitor is not None
    server, _ = await run.start_pgcsms()
    timeout = settings.duration
    try:
        async with run.loadgen(server.url, settings.chargers, settings.procs,
                               "bench-fanout-") as pool:
            connect = merge_connect(await pool.ask_all(
                {"cmd": "connect", "concurrency": settings.connect_concurrency, "timeout": 120},
                180))
            ids = [f"bench-fanout-{n:06d}" for n in range(settings.chargers)]
            listen = asyncio.create_task(pool.ask(
                [{"cmd": "listen", "duration": timeout, "expect": size} for size in pool.sizes],
                timeout + 60))
            await asyncio.sleep(0.2)
            samplers = run.samplers(server, db)
            before = {n: f() for n, f in samplers.items()}
            t0 = time.time()
            rows = await db.monitor.fetch(TRIGGER_SQL, ids)
            t_queued = time.time()
            command_ids = [r[0] for r in rows]
            statuses: dict[str, int] = {}
            t_done = None
            while time.time() < t0 + timeout:
                statuses = {
                    r["status"]: r["n"] for r in await db.monitor.fetch(
                        "SELECT status, count(*) AS n FROM ocpp.commands"
                        " WHERE id = ANY($1::bigint[]) GROUP BY status", command_ids)
                }
                if sum(n for s, n in statuses.items() if s in TERMINAL) >= len(command_ids):
                    t_done = time.time()
                    break
                await asyncio.sleep(0.02)
            after = {n: f() for n, f in samplers.items()}
            answers = await listen
    finally:
        run.stop_server(server)
    delivered = sum(a["incoming_calls"] for a in answers)
    last_in = max((a["last_incoming_at"] or 0.0) for a in answers)
    result = {
        "connect": connect,
        "commands": len(command_ids),
        "send_statement_s": round(t_queued - t0, 3),
        "seconds_to_all_answered": round(t_done - t0, 3) if t_done else None,
        "seconds_to_last_delivered": round(last_in - t0, 3) if delivered else None,
        "statuses": statuses,
        "delivered_to_chargers": delivered,
        "followup_heartbeats": sum(a["followups"] for a in answers),
        "timeout_s": timeout,
        "cpu": run.cpu_between(before, after, len(command_ids)),
    }
    print(f"[bench]   fanout: {len(command_ids)} commands, all answered after"
          f" {result['seconds_to_all_answered']} s; statuses {statuses}", flush=True)
    return result


async def fanout(run: Run, settings: Settings) -> dict[str, Any]:
    """1,000 commands queued by one SQL statement: time until all are answered."""
    result = await _guard("pgcsms", _fanout_pgcsms(run, settings), settings.quiet_wait)
    return {
        "headline": {
            "fanout_commands": result.get("commands"),
            "fanout_seconds": result.get("seconds_to_all_answered"),
            "fanout_statuses": result.get("statuses"),
        },
        "targets": {"pgcsms": result},
    }


SCENARIOS: dict[str, Callable[[Run, Settings], Awaitable[dict[str, Any]]]] = {
    "steady": steady,
    "idle": idle,
    "storm": storm,
    "fanout": fanout,
}
