"""Group commit for ``ocpp.parse``: one round trip and one commit for many chargers.

While no round trip is under way, a CALL goes out at once, alone (lowest
latency). While one is, the next starts once ``min_batch`` CALLs (32) wait or
the oldest has waited ``hold`` (5 ms); while all ``max_active`` are, CALLs
queue up, and the next free slot takes all of them in one ``ocpp.parse_many``
call. Under load the batches grow by themselves; idle, they are of one. Each
charger still has at most one CALL here at a time (its frames are handled in
order), and every answer is released only after the commit that holds it.

A batch of one goes through ``ocpp.parse_many`` too: the high-volume messages
(Heartbeat, StatusNotification, 1.6 MeterValues) have set rules there, which
cost no more for one message than the per-message path and far less per
message for many. A batch whose call fails is retried one message at a time
through ``ocpp.parse``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

__all__ = ["ParseBatcher"]

logger = logging.getLogger("pgcsms.batch")

_PARSE_ONE = ("SELECT result::text, error_code, error_description "
              "FROM ocpp.parse($1, $2, $3, $4::jsonb, $5, $6)")
_PARSE_MANY = ("SELECT result::text, error_code, error_description "
               "FROM ocpp.parse_many($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6)")

Call = tuple[str, str, str, str, str]  # charge point id, unique id, action, payload JSON, OCPP version


class ParseBatcher:
    """Runs ``ocpp.parse`` for CALLs, batching them while round trips are under way."""

    __slots__ = ("_active", "_dispatch_scheduled", "_held_since", "_max_active", "_pending", "_tasks", "_timer",
                 "batches", "calls", "hold", "max_batch", "min_batch", "node_id", "pool")

    def __init__(self, pool: asyncpg.Pool, node_id: str, *, max_active: int, max_batch: int = 200,
                 min_batch: int = 32, hold: float = 0.005) -> None:
        self.pool = pool
        self.node_id = node_id
        self.max_batch = max_batch
        # While a round trip is under way, another starts only with min_batch
        # CALLs, or once the oldest has waited ``hold`` seconds: a round trip and
        # a commit cost about as much for 2 CALLs as for 20, and many small
        # ones at moderate load cost the CPU that queues build on.
        self.min_batch = min_batch
        self.hold = hold
        self._max_active = max_active
        self._active = 0
        self._dispatch_scheduled = False
        self._held_since = 0.0  # loop time the oldest pending CALL came
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # round trips under way (a task unreferenced may vanish)
        self._pending: list[tuple[Call, asyncio.Future[asyncpg.Record]]] = []
        # Round trips made, and CALLs they carried: their ratio is the mean batch size.
        self.batches = 0
        self.calls = 0

    async def parse(self, charge_point_id: str, unique_id: str, action: str, payload_json: str,
                    version: str) -> asyncpg.Record:
        """The (result, error_code, error_description) of one CALL, once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[asyncpg.Record] = loop.create_future()
        if not self._pending:
            self._held_since = loop.time()
        self._pending.append(((charge_point_id, unique_id, action, payload_json, version), future))
        if not self._dispatch_scheduled:
            # Not at once: after the frames that arrived with this one (ready
            # in the same turn of the event loop) have joined the batch.
            self._dispatch_scheduled = True
            loop.call_soon(self._dispatch)
        return await future

    def _dispatch(self) -> None:
        self._dispatch_scheduled = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = asyncio.get_running_loop()
        while self._pending and self._active < self._max_active:
            if self._active and len(self._pending) < self.min_batch:
                wait = self._held_since + self.hold - loop.time()
                if wait > 0:  # a round trip is under way: gather more first, for ``hold`` at most
                    self._timer = loop.call_later(wait, self._dispatch)
                    return
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            self._active += 1
            self.batches += 1
            self.calls += len(batch)
            self._held_since = loop.time()
            task = loop.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[Call, asyncio.Future[asyncpg.Record]]]) -> None:
        try:
            await self._run_many(batch)
        except BaseException as error:
            # Whatever went wrong, no charger may wait for an answer forever.
            for _, future in batch:
                if not future.done():
                    future.set_exception(error if isinstance(error, Exception) else RuntimeError("cancelled"))
            if not isinstance(error, Exception):
                raise
        finally:
            self._active -= 1
            self._dispatch()

    async def _run_one(self, call: Call, future: asyncio.Future[asyncpg.Record]) -> None:
        try:
            row = await self.pool.fetchrow(_PARSE_ONE, *call, self.node_id)
        except Exception as error:  # the caller turns it into an InternalError
            if not future.done():
                future.set_exception(error)
            return
        if not future.done():
            future.set_result(row)

    async def _run_many(self, batch: list[tuple[Call, asyncio.Future[asyncpg.Record]]]) -> None:
        columns: list[list[Any]] = [list(column) for column in zip(*(call for call, _ in batch), strict=True)]
        try:
            rows = await self.pool.fetch(_PARSE_MANY, *columns, self.node_id)
        except Exception as error:
            if len(batch) == 1:  # the caller turns it into an InternalError
                future = batch[0][1]
                if not future.done():
                    future.set_exception(error)
                return
            # Nothing of the batch committed. One message must not sink the
            # others: retry them one by one.
            logger.warning("batch of %d failed (%s); retrying one by one", len(batch), error)
            await asyncio.gather(*(self._run_one(call, future) for call, future in batch))
            return
        for (_, future), row in zip(batch, rows, strict=True):
            if not future.done():
                future.set_result(row)
