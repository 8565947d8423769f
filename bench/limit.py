"""The "limit" baseline: pgcsms's SQL work called straight through asyncpg, no WebSocket.

Each message is one call of ``ocpp.parse(charge_point_id, unique_id, action, payload)``,
the function the proxy calls for every CALL it receives; the result is what the
proxy would send back.  Two forms:

* ``single``: one message a round trip, ``concurrency`` connections each looping
  over a prepared ``SELECT * FROM ocpp.parse($1, $2, $3, $4::jsonb)``;
* ``batched``: ``batch`` messages a round trip through ``ocpp.parse_many``
  (the proxy's group commit: set statements for the high-volume messages),
  ``concurrency`` connections at once.

A worker process like :mod:`bench.loadgen`: JSON commands on stdin, results on
stdout.  ``{"cmd": "prepare", "protocol": "1.6"}`` BootNotifications every charger
(with ``"protocol": "2.0.1"``: 2.0.1 BootNotifications, then a TransactionEvent
Started per charger, and every later message goes through ``ocpp.parse(..., '2.0.1')``:
the load's TransactionEvent Updated of those transactions); ``{"cmd": "run",
"form": "single"|"batched", "start_at": T, "warmup": 1, "duration": 10,
"concurrency": 8, "batch": 200, "mix": "meter"}`` runs one form.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from typing import Any

import asyncpg

from bench.common import (
    SUBPROTOCOLS,
    Histogram,
    MessageFactory,
    install_fast_loop,
    mixes,
    serve_json_commands,
    transaction_id,
)

__all__ = ["BATCH_SQL", "SINGLE_SQL", "SINGLE_SQL_VERSION", "Limit", "main"]

SINGLE_SQL = "SELECT * FROM ocpp.parse($1::text, $2::text, $3::text, $4::jsonb)"
#: The proxy's group commit: ``ocpp.parse_many`` (every message of the batch in the version given last).
BATCH_SQL = (
    "SELECT * FROM ocpp.parse_many($1::text[], $2::text[], $3::text[], $4::jsonb[],"
    " array_fill($5::text, ARRAY[cardinality($1::text[])]), 'bench-limit')"
)
#: The single form with the OCPP version as last parameter (2.0.1; 1.6 keeps the form above).
SINGLE_SQL_VERSION = "SELECT * FROM ocpp.parse($1::text, $2::text, $3::text, $4::jsonb, $5::text)"


def _split(frame: bytes) -> tuple[str, str]:
    """``[2,"uid","Action",{payload}]`` text -> (action, payload text), for our own frames."""
    text = frame.decode()
    rest = text[4:]  # after '[2,"'
    rest = rest[rest.index('"') + 3 :]  # after 'uid","'
    action, _, payload = rest.partition('",')
    return action, payload[:-1]


class Limit:
    """Chargers known to the database, and the loops that feed ``ocpp.parse``."""

    def __init__(self, dsn: str, ids: list[str]) -> None:
        self.dsn = dsn
        self.ids = ids
        self.factories = {cp: MessageFactory(time.time()) for cp in ids}
        self.protocol = "1.6"
        self.pool: asyncpg.Pool | None = None

    def set_protocol(self, protocol: str) -> None:
        """Speak OCPP ``protocol`` from now on (fresh chargers' message counters)."""
        if protocol not in SUBPROTOCOLS:
            raise ValueError(f"unknown OCPP version {protocol!r}")
        if protocol == self.protocol:
            return
        self.protocol = protocol
        epoch = time.time()
        self.factories = {cp: MessageFactory(epoch, protocol, transaction_id(cp, epoch))
                          for cp in self.ids}

    def _sql(self, form: str) -> tuple[str, tuple[str, ...]]:
        """The statement of ``form`` and its extra parameters (the version, for 2.0.1)."""
        if form != "single":
            return BATCH_SQL, (self.protocol,)
        if self.protocol == "1.6":
            return SINGLE_SQL, ()
        return SINGLE_SQL_VERSION, (self.protocol,)

    async def _pool(self, size: int) -> asyncpg.Pool:
        if self.pool is None or self.pool.get_max_size() < size:
            if self.pool is not None:
                await self.pool.close()
            self.pool = await asyncpg.create_pool(
                self.dsn, min_size=size, max_size=size, statement_cache_size=1024
            )
        assert self.pool is not None
        return self.pool

    def _message(self, cp: str, action: str) -> tuple[str, str, str, str]:
        uid, frame = self.factories[cp].call(action)
        action, payload = _split(frame)
        return cp, f"L{uid}", action, payload

    async def prepare(self) -> dict[str, Any]:
        """BootNotification every charger (so later messages come from known chargers).

        2.0.1: then a TransactionEvent Started each, opening the transaction the
        load's TransactionEvent Updated belong to.
        """
        pool = await self._pool(4)
        statuses: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        sql, extra = self._sql("batched")
        steps = ["BootNotification"] + (["TransactionEvent"] if self.protocol == "2.0.1" else [])
        async with pool.acquire() as conn:
            for action in steps:
                rows = [self._message(cp, action) for cp in self.ids]
                cols = list(zip(*rows, strict=True))
                for record in await conn.fetch(sql, *map(list, cols), *extra):
                    if record["error_code"]:
                        code = str(record["error_code"])
                        errors[code if action == "BootNotification" else f"{action}:{code}"] += 1
                    else:
                        statuses[str(record["result"])[:80]] += 1
        return {
            "booted": len(self.ids),
            "protocol": self.protocol,
            "errors": dict(errors),
            "results": dict(statuses.most_common(3)),
        }

    async def run(self, form: str, start_at: float, warmup: float, duration: float,
                  concurrency: int, batch: int, mix: str) -> dict[str, Any]:
        """Run one form; count messages parsed between warm-up end and the deadline."""
        pool = await self._pool(concurrency)
        actions = mixes(self.protocol)[mix]
        delay = start_at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        measure_from = time.perf_counter() + warmup
        end = measure_from + duration
        cpu0 = time.process_time()
        hist = Histogram()
        counted = 0
        errors: Counter[str] = Counter()
        # Each worker has chargers of its own, as each charger has one
        # connection: a charger's messages go one after the other, never two
        # at once (a 2.0.1 TransactionEvent that overtook the one before it
        # would be a late event, not the next of its session).
        shares = [self.ids[w::concurrency] for w in range(concurrency)]
        positions = [0] * concurrency

        def take(worker: int, n: int) -> list[tuple[str, str, str, str]]:
            ids = shares[worker]
            out = []
            for _ in range(min(n, len(ids))):
                position = positions[worker]
                cp = ids[position % len(ids)]
                out.append(self._message(cp, actions[(position // len(ids)) % len(actions)]))
                positions[worker] = position + 1
            return out

        async def worker(number: int) -> None:
            nonlocal counted
            async with pool.acquire() as conn:
                sql, extra = self._sql(form)
                if form == "single":
                    stmt = await conn.prepare(sql)
                    while True:
                        t0 = time.perf_counter()
                        if t0 >= end:
                            return
                        (msg,) = take(number, 1)
                        record = await stmt.fetchrow(*msg, *extra)
                        t1 = time.perf_counter()
                        if record is None or record["error_code"]:
                            errors[str(record["error_code"] if record else "no row")] += 1
                        elif t0 >= measure_from and t1 <= end:
                            counted += 1
                            hist.add(t1 - t0)
                else:
                    stmt = await conn.prepare(sql)
                    while True:
                        t0 = time.perf_counter()
                        if t0 >= end:
                            return
                        msgs = take(number, batch)
                        cols = [list(c) for c in zip(*msgs, strict=True)]
                        records = await stmt.fetch(*cols, *extra)
                        t1 = time.perf_counter()
                        bad = [r["error_code"] for r in records if r["error_code"]]
                        for code in bad:
                            errors[str(code)] += 1
                        if len(records) != len(msgs):
                            errors["row count"] += 1
                        if t0 >= measure_from and t1 <= end:
                            counted += len(records) - len(bad)
                            hist.add(t1 - t0)

        await asyncio.gather(*(worker(number) for number in range(concurrency)))
        return {
            "form": form,
            "concurrency": concurrency,
            "batch": batch if form == "batched" else 1,
            "duration": duration,
            "messages": counted,
            "msgs_s": round(counted / duration, 1),
            "errors": sum(errors.values()),
            "error_codes": dict(errors.most_common(10)),
            "round_trip": hist.summary_ms(),
            "client_cpu_s": round(time.process_time() - cpu0, 3),
        }

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()


async def _dispatch(limit: Limit, cmd: dict[str, Any]) -> dict[str, Any]:
    if cmd.get("cmd") == "prepare":
        limit.set_protocol(str(cmd.get("protocol", "1.6")))
        return await limit.prepare()
    if cmd.get("cmd") == "run":
        return await limit.run(
            str(cmd.get("form", "single")), float(cmd["start_at"]), float(cmd.get("warmup", 1)),
            float(cmd["duration"]), int(cmd.get("concurrency", 8)), int(cmd.get("batch", 200)),
            str(cmd.get("mix", "meter")),
        )
    raise ValueError(f"unknown command {cmd.get('cmd')!r}")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (one limit process)."""
    parser = argparse.ArgumentParser(description="pgcsms benchmark: SQL limit through asyncpg")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--prefix", default="bench-limit-")
    parser.add_argument("--count", type=int, default=200, help="distinct charger ids")
    args = parser.parse_args(argv)
    install_fast_loop()
    ids = [f"{args.prefix}{n:06d}" for n in range(args.count)]

    async def run() -> None:
        limit = Limit(args.dsn, ids)
        await serve_json_commands(lambda cmd: _dispatch(limit, cmd), limit.close)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
