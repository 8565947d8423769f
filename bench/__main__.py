"""``python -m bench``: benchmark pgcsms against in-memory peers and the SQL limit.

    python -m bench --scenario steady|idle|storm|fanout [--duration S] [--chargers N]
                    [--json FILE] [--dsn DSN] [--targets pgcsms,python,node,limit]
                    [--protocol 1.6|2.0.1] ...

It starts its own PostgreSQL (embedded, in a temporary directory) unless
``--dsn`` is given, migrates it with ``pgcsms migrate``, starts ``pgcsms serve``
and the peers as separate processes on 127.0.0.1, drives them from separate load
generator processes, and writes the results: JSON (``--json``), and a markdown
table plus, for steady, a PNG plot under ``bench/results/``.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import PROTOCOLS, raise_nofile_limit
from bench.harness import BENCH_DIR, Run
from bench.report import build_document, plot_latency, write_json, write_markdown
from bench.scenarios import SCENARIOS, Settings
from bench.system import machine_info

__all__ = ["DEFAULTS", "main", "parse_args"]

#: Per scenario: chargers, duration (s), targets.  For storm and fanout the
#: duration is the time allowed for every charger to be Accepted / every command
#: to be answered.
DEFAULTS: dict[str, dict[str, Any]] = {
    "steady": {"chargers": 200, "duration": 10.0,
               "targets": ["pgcsms", "python_peer", "node_peer", "limit"]},
    "idle": {"chargers": 10_000, "duration": 20.0,
             "targets": ["pgcsms", "python_peer", "node_peer"]},
    "storm": {"chargers": 10_000, "duration": 120.0,
              "targets": ["pgcsms", "python_peer", "node_peer"]},
    "fanout": {"chargers": 1_000, "duration": 60.0, "targets": ["pgcsms"]},
}

_ALIASES = {"python": "python_peer", "node": "node_peer", "pg": "pgcsms",
            "python_peer": "python_peer", "node_peer": "node_peer", "pgcsms": "pgcsms",
            "limit": "limit"}

#: Hard cap on one whole run, whatever the settings say.
RUN_CAP_S = 3600.0


def _targets(text: str) -> list[str]:
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part not in _ALIASES:
            raise argparse.ArgumentTypeError(f"unknown target {part!r}")
        if _ALIASES[part] not in out:
            out.append(_ALIASES[part])
    return out


def _fractions(text: str) -> list[float]:
    values = [float(p) for p in text.split(",") if p.strip()]
    if not values or any(not 0 < v <= 2 for v in values):
        raise argparse.ArgumentTypeError("fractions of peak must be in (0, 2]")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--duration", type=float, default=None,
                        help="steady: measured seconds of the closed-loop point (mix and each"
                             " open-loop point get half; default 10); idle: seconds of"
                             " heartbeats (20); storm/fanout: time allowed (120/60)")
    parser.add_argument("--chargers", type=int, default=None,
                        help="simulated chargers (steady 200, idle and storm 10000, fanout 1000)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="1.6",
                        help="steady, idle, storm: the OCPP version the chargers speak (default"
                             " 1.6); in steady with 2.0.1 each charger opens a transaction and sends"
                             " TransactionEvent Updated instead of MeterValues")
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    parser.add_argument("--dsn", default=None,
                        help="use this PostgreSQL instead of an embedded one (it gets migrated)")
    parser.add_argument("--targets", type=_targets, default=None,
                        help="comma list of pgcsms, python, node, limit (default: per scenario)")
    parser.add_argument("--procs", type=int, default=None,
                        help="load generator processes (default: one per 2,500 chargers)")
    parser.add_argument("--pool-size", type=int, default=None,
                        help="passed to pgcsms serve --pool-size")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of load before each measured window (steady)")
    parser.add_argument("--open-points", type=_fractions, default=[0.25, 0.5, 0.8, 0.95],
                        help="open-loop offered rates as fractions of the closed-loop peak")
    parser.add_argument("--heartbeat-interval", type=float, default=60.0,
                        help="idle: seconds between a charger's heartbeats")
    parser.add_argument("--limit-concurrency", type=int, default=None,
                        help="limit: connections for the one-message-a-round-trip form"
                             " (default: --pool-size, else 10, pgcsms serve's default pool)")
    parser.add_argument("--limit-batch", type=int, default=200,
                        help="limit: messages per round trip in the batched form")
    parser.add_argument("--connect-concurrency", type=int, default=200,
                        help="handshakes in flight per load generator while connecting")
    parser.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for pgcsms serve (repeat it), e.g."
                             " --serve-arg=--messages-per-second=1000")
    parser.add_argument("--address-per-process", action="store_true",
                        help="connect all of a generator process's chargers from one address"
                             " (default: each charger from its own 127.x.y.z)")
    parser.add_argument("--security-profile", type=int, choices=(0, 1), default=0,
                        help="storm: 1 registers every charger with a password first and each handshake"
                             " authenticates with HTTP Basic (OCPP security profile 1)")
    parser.add_argument("--offer-compression", action="store_true",
                        help="simulated chargers offer permessage-deflate (RFC 7692); pgcsms accepts it"
                             " unless --serve-arg=--no-compression")
    parser.add_argument("--quiet-wait", type=float, default=10.0,
                        help="seconds to wait, before each target, for other processes to"
                             " leave the CPU idle (0: do not wait)")
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--no-results", action="store_true",
                        help="write no markdown/PNG under the results directory")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (database, logs) after the run")
    args = parser.parse_args(argv)
    defaults = DEFAULTS[args.scenario]
    args.chargers = args.chargers or defaults["chargers"]
    args.duration = args.duration or defaults["duration"]
    args.targets = args.targets or list(defaults["targets"])
    if args.chargers < 1 or args.duration <= 0:
        parser.error("--chargers and --duration must be positive")
    if args.protocol != "1.6" and args.scenario not in ("steady", "idle", "storm"):
        parser.error("--protocol 2.0.1 is for the steady, idle and storm scenarios")
    return args


async def _run(args: argparse.Namespace, command: str) -> tuple[dict[str, Any], int]:
    settings = Settings(
        scenario=args.scenario, chargers=args.chargers, duration=args.duration,
        targets=args.targets, procs=args.procs, warmup=args.warmup,
        open_points=args.open_points,
        limit_concurrency=args.limit_concurrency or args.pool_size or 10,
        limit_batch=args.limit_batch, heartbeat_interval=args.heartbeat_interval,
        connect_concurrency=args.connect_concurrency, quiet_wait=args.quiet_wait,
        security_profile=args.security_profile, protocol=args.protocol,
    )
    started = datetime.now(UTC)
    serve_args = list(args.serve_arg)
    if args.scenario == "steady" and not any(a.startswith("--messages-per-second") for a in serve_args):
        # Simulated chargers send back to back, far beyond any real charger: lift the
        # per-charger rate limit (50 msg/s) so it measures throughput, not the limit.
        serve_args += ["--messages-per-second=100000", "--message-burst=100000"]
    run = Run(args.dsn, args.pool_size, args.keep, serve_args,
              None if args.address_per_process else "per-charger", args.offer_compression)
    protocol = f" (OCPP {args.protocol})" if args.protocol != "1.6" else ""
    print(f"[bench] {args.scenario}{protocol}: {args.chargers} chargers, targets"
          f" {', '.join(args.targets)}; work directory {run.workdir}", flush=True)
    try:
        outcome = await asyncio.wait_for(SCENARIOS[args.scenario](run, settings), RUN_CAP_S)
        pg_version = await run.postgres_version()
    finally:
        notes = list(run.notes)
        if args.keep:
            notes.append(f"work directory kept: {run.workdir}")
        await run.close()
    finished = datetime.now(UTC)
    recorded = {**vars(settings), "command": command, "dsn": "embedded" if not args.dsn
                else "given", "pool_size": args.pool_size, "serve_args": serve_args,
                "source_addresses": "one per process" if args.address_per_process
                else "one per charger", "offer_compression": args.offer_compression}
    doc = build_document(
        args.scenario, recorded, machine_info(pg_version), outcome,
        started.isoformat(timespec="seconds"), finished.isoformat(timespec="seconds"), notes,
    )
    code = 1 if doc.get("target_errors") else 0
    return doc, code


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    args = parse_args(argv)
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    raise_nofile_limit()
    t0 = time.monotonic()
    doc, code = asyncio.run(_run(args, command))
    stamp = doc["started_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    if args.json is not None:
        write_json(args.json, doc)
        print(f"[bench] JSON: {args.json}")
    if not args.no_results:
        suffix = "-ocpp201" if args.protocol == "2.0.1" else ""
        base = args.results_dir / f"{stamp}-{args.scenario}-{args.chargers}{suffix}"
        plot = plot_latency(base.with_suffix(".png"), doc)
        write_json(base.with_suffix(".json"), doc)
        write_markdown(base.with_suffix(".md"), doc, plot)
        print(f"[bench] results: {base.with_suffix('.md')}" + (f", {plot}" if plot else ""))
    headline = {k: v for k, v in doc.items()
                if not isinstance(v, dict | list) and k not in ("started_at", "finished_at")}
    print("[bench] " + ", ".join(f"{k}={v}" for k, v in headline.items()))
    for name, error in (doc.get("target_errors") or {}).items():
        print(f"[bench] {name} NOT MEASURED: {error.splitlines()[0]}")
    print(f"[bench] finished in {time.monotonic() - t0:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
