"""High availability, end to end on this machine: faults under load, and what chargers were told.

Chargers (raw OCPP-J 1.6, resending each CALL with the same uniqueId until a
CALLRESULT comes, like firmware) run sessions of StartTransaction, numbered
MeterValues and StopTransaction against ``pgcsms serve`` in a subprocess. In
the middle of the load:

- the primary PostgreSQL's postmaster is killed (SIGKILL) and its synchronous
  standby promoted: the same ``serve``, never restarted, finds the new primary
  through its multi-host DSN;
- ``serve`` itself is killed (SIGKILL) and started again.

Then the database is compared with every charger's ledger: no acknowledged
reading or transaction is missing, and no resent CALL was applied twice.
Every wait is bounded; the tests await events or poll the database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NoReturn

import asyncpg
import pytest
from failover_cluster import (
    Charger,
    Ledger,
    PgNode,
    Progress,
    ServeProcess,
    Verdict,
    build_pair,
    multi_host_dsn,
    verify,
)
from pgcsms.proxy import dbconnect
from pgcsms.proxy.embedded import find_pg_bin

CHARGERS = 5
SESSIONS = 5
METERS_PER_SESSION = 58  # 5 sessions x (1 start + 58 readings + 1 stop) = 300 CALLs per charger
LOAD_LIMIT = 40.0  # seconds for the whole load, faults included

pytestmark = pytest.mark.skipif(
    find_pg_bin() is None or not (find_pg_bin() / "pg_basebackup").is_file(),  # type: ignore[operator]
    reason="PostgreSQL server binaries (pg_ctl, initdb, pg_basebackup) not installed")


@pytest.fixture
def workdir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="pgcsms-ha-"))
    os.chmod(base, 0o755)  # PostgreSQL's account must reach its directories inside
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pair(workdir: Path) -> Iterator[tuple[PgNode, PgNode]]:
    """A migrated primary and its synchronous streaming standby, Unix sockets only."""
    nodes: list[PgNode] = []
    try:
        primary, standby = build_pair(workdir)
        nodes = [primary, standby]
        yield primary, standby
    finally:
        for node in nodes or [PgNode(workdir / "primary", 0), PgNode(workdir / "standby", 0)]:
            node.stop()


@pytest.fixture
async def serve_process(workdir: Path) -> AsyncIterator[list[ServeProcess]]:
    """Started by the test (it knows the DSN); stopped here whatever happens."""
    processes: list[ServeProcess] = []
    try:
        yield processes
    finally:
        for process in processes:
            await process.stop()


async def _register(connection: asyncpg.Connection, identities: list[str]) -> None:
    await connection.execute("SELECT ocpp.add_charge_point(cp), ocpp.add_id_tag('TAG-' || cp) "
                             "FROM unnest($1::text[]) AS cp", identities)


def _chargers(port: int, progress: Progress, prefix: str) -> list[Charger]:
    deadline = time.monotonic() + LOAD_LIMIT
    return [Charger(f"{prefix}{n}", f"ws://127.0.0.1:{port}/ocpp/{prefix}{n}", progress, sessions=SESSIONS,
                    meters_per_session=METERS_PER_SESSION, deadline=deadline)
            for n in range(1, CHARGERS + 1)]


async def _all_planned(chargers: list[Charger], timeout: float) -> None:
    await asyncio.wait_for(asyncio.gather(*(charger.plan_done.wait() for charger in chargers)), timeout)


async def _fail(what: str, chargers: list[Charger], runs: list[asyncio.Task[Ledger]], *logs: str) -> NoReturn:
    """Fail with the chargers' ledgers and the logs, once the chargers have stopped."""
    for charger in chargers:
        charger.finished.set()
    for run in runs:
        run.cancel()
    await asyncio.gather(*runs, return_exceptions=True)
    pytest.fail(f"{what}\n{_story([charger.ledger for charger in chargers], None, *logs)}")


def _story(ledgers: list[Ledger], verdict: Verdict | None, *logs: str) -> str:
    """Everything a reader of a failure needs: each ledger's figures, the verdict, the logs."""
    lines = [f"{ledger.identity}: done={ledger.done} acked={len(ledger.acked)}/{len(ledger.sent)} "
             f"resends={ledger.resends} connections={ledger.connections} failures={dict(ledger.failures)}"
             for ledger in ledgers]
    if verdict is not None:
        lines.append(f"verdict: {verdict.problems()} readings={verdict.readings_stored} "
                     f"transactions={verdict.transactions_stored}")
    return "\n".join([*lines, *logs])


async def _journal_replays(connection: asyncpg.Connection, identities: list[str]) -> int:
    """Resends answered from the journal (committed before, so not applied again)."""
    return await connection.fetchval(
        "SELECT count(*) FROM ocpp.message_log WHERE charge_point_id = ANY($1) AND direction = 'out' "
        "AND error_detail LIKE 'resend of a CALL committed at %'", identities)


def _assert_exactly_once(verdict: Verdict, ledgers: list[Ledger], story: str) -> None:
    assert all(ledger.done for ledger in ledgers), f"a charger did not finish its plan in time\n{story}"
    assert verdict.problems() == {}, f"lost or applied twice\n{story}"
    assert verdict.readings_stored == CHARGERS * SESSIONS * METERS_PER_SESSION, story
    assert verdict.transactions_stored == CHARGERS * SESSIONS, story


@pytest.mark.timeout(120)
async def test_primary_killed_standby_promoted_nothing_lost_nothing_twice(pair, workdir, serve_process):
    primary, standby = pair
    identities = [f"HA-{n}" for n in range(1, CHARGERS + 1)]
    setup = await asyncpg.connect(primary.dsn())
    try:
        await _register(setup, identities)
    finally:
        await setup.close()
    dsn = multi_host_dsn(primary, standby, target_session_attrs="read-write")
    serve = ServeProcess(dsn, workdir / "serve.log", node_id="ha-node", extra=("--pool-size", "4"))
    serve_process.append(serve)
    port = await serve.start()
    progress = Progress(target=CHARGERS * SESSIONS * (METERS_PER_SESSION + 2) // 3, chargers=CHARGERS)
    chargers = _chargers(port, progress, "HA-")
    runs = [asyncio.create_task(charger.run()) for charger in chargers]
    started = time.monotonic()
    step = "a third of the load acknowledged"
    try:
        await asyncio.wait_for(progress.reached.wait(), LOAD_LIMIT)
        acked_before = progress.acked
        killed = primary.kill_postmaster()
        progress.fault_at = time.monotonic()
        # The gap: every charger sees InternalError or a lost connection before the standby is promoted.
        step = "every charger saw a failure after the kill"
        await asyncio.wait_for(progress.trouble.wait(), 10)
        standby.promote()
        promoted_at = time.monotonic()
        step = "every charger acknowledged its whole plan after the promotion"
        await _all_planned(chargers, LOAD_LIMIT - (time.monotonic() - started))
        finished_at = time.monotonic()
        # The command path came back too: a command queued on the new primary is delivered.
        step = "a command queued after the failover delivered"
        new_primary = await asyncpg.connect(standby.dsn())
        try:
            command = await new_primary.fetchval(
                "SELECT ocpp.send($1, 'TriggerMessage', '{\"requestedMessage\": \"Heartbeat\"}')", identities[0])
            status = None
            deadline = time.monotonic() + 15  # commands are nudged by NOTIFY, and swept every 5 s at worst
            while time.monotonic() < deadline:
                status = await new_primary.fetchval("SELECT status FROM ocpp.commands WHERE id = $1", command)
                if status not in ("queued", "sent"):
                    break
                await asyncio.sleep(0.05)
        finally:
            await new_primary.close()
    except TimeoutError:
        await _fail(f"timed out waiting until: {step}", chargers, runs, f"--- serve\n{serve.tail()}",
                    f"--- primary\n{primary.log_tail(15)}", f"--- standby\n{standby.log_tail(15)}")
    finally:
        for charger in chargers:
            charger.finished.set()
    ledgers = await asyncio.wait_for(asyncio.gather(*runs), 15)
    checker = await asyncpg.connect(standby.dsn())
    try:
        verdict = await verify(checker, ledgers)
        replays = await _journal_replays(checker, identities)
        in_recovery = await checker.fetchval("SELECT pg_is_in_recovery()")
    finally:
        await checker.close()
    story = _story(ledgers, verdict, f"--- serve\n{serve.tail()}", f"--- primary\n{primary.log_tail(15)}",
                   f"--- standby\n{standby.log_tail(15)}")
    first_ack = progress.first_ack_after(promoted_at)
    assert progress.fault_at is not None
    print(f"\nfailover: killed postmaster {killed} after {acked_before} CALLRESULTs; promoted "
          f"{promoted_at - progress.fault_at:.2f} s after the kill; first CALLRESULT "
          f"{None if first_ack is None else round(first_ack - promoted_at, 3)} s after the promotion; load done "
          f"{finished_at - started:.1f} s after start; failures after the kill "
          f"{sum((ledger.failures_after_fault for ledger in ledgers), start=Counter())}; "
          f"resends {sum(ledger.resends for ledger in ledgers)}; answered from the journal {replays}; "
          f"command after failover: {status}")

    assert not in_recovery
    assert serve.running and serve.starts == 1, f"serve was not the same process throughout\n{story}"
    assert all(ledger.failures_after_fault for ledger in ledgers), story
    _assert_exactly_once(verdict, ledgers, story)
    assert status == "accepted", f"a command queued after the failover was not delivered: {status}\n{story}"
    assert ledgers[0].commands and ledgers[0].commands[-1][0] == "TriggerMessage", story


@pytest.mark.timeout(120)
async def test_primary_crashed_and_restarted_nothing_lost_nothing_twice(pair, workdir, serve_process):
    """PostgreSQL killed -9 and started again (crash recovery) under load: serve, naming only it, recovers."""
    primary, _standby = pair
    identities = [f"RS-{n}" for n in range(1, CHARGERS + 1)]
    setup = await asyncpg.connect(primary.dsn())
    try:
        await _register(setup, identities)
    finally:
        await setup.close()
    serve = ServeProcess(primary.dsn(), workdir / "serve.log", node_id="restart-node", extra=("--pool-size", "4"))
    serve_process.append(serve)
    port = await serve.start()
    progress = Progress(target=CHARGERS * SESSIONS * (METERS_PER_SESSION + 2) // 3, chargers=CHARGERS)
    chargers = _chargers(port, progress, "RS-")
    runs = [asyncio.create_task(charger.run()) for charger in chargers]
    started = time.monotonic()
    step = "a third of the load acknowledged"
    try:
        await asyncio.wait_for(progress.reached.wait(), LOAD_LIMIT)
        acked_before = progress.acked
        primary.kill_postmaster()
        progress.fault_at = time.monotonic()
        step = "every charger saw a failure after the kill"
        await asyncio.wait_for(progress.trouble.wait(), 10)
        primary.start_after_crash()  # crash recovery replays the WAL: what was committed is there
        restarted_at = time.monotonic()
        step = "every charger acknowledged its whole plan after the restart"
        await _all_planned(chargers, LOAD_LIMIT - (time.monotonic() - started))
        finished_at = time.monotonic()
    except TimeoutError:
        await _fail(f"timed out waiting until: {step}", chargers, runs, f"--- serve\n{serve.tail()}",
                    f"--- primary\n{primary.log_tail(15)}")
    finally:
        for charger in chargers:
            charger.finished.set()
    ledgers = await asyncio.wait_for(asyncio.gather(*runs), 15)
    checker = await asyncpg.connect(primary.dsn())
    try:
        verdict = await verify(checker, ledgers)
        replays = await _journal_replays(checker, identities)
    finally:
        await checker.close()
    story = _story(ledgers, verdict, f"--- serve\n{serve.tail()}", f"--- primary\n{primary.log_tail(15)}")
    first_ack = progress.first_ack_after(restarted_at)
    assert progress.fault_at is not None
    print(f"\nrestart: killed after {acked_before} CALLRESULTs; started again "
          f"{restarted_at - progress.fault_at:.2f} s after; first CALLRESULT "
          f"{None if first_ack is None else round(first_ack - restarted_at, 3)} s after; load done "
          f"{finished_at - started:.1f} s after start; resends {sum(ledger.resends for ledger in ledgers)}; "
          f"answered from the journal {replays}")
    assert serve.running and serve.starts == 1, f"serve was not the same process throughout\n{story}"
    assert all(ledger.failures_after_fault for ledger in ledgers), story
    _assert_exactly_once(verdict, ledgers, story)


@pytest.mark.timeout(90)
async def test_serve_killed_under_load_nothing_lost_nothing_twice(dsn, db, workdir, serve_process):
    identities = [f"CRASH-{n}" for n in range(1, CHARGERS + 1)]
    await _register(db, identities)
    serve = ServeProcess(dsn, workdir / "serve.log", node_id="crash-node", extra=("--pool-size", "4"))
    serve_process.append(serve)
    port = await serve.start()
    progress = Progress(target=CHARGERS * SESSIONS * (METERS_PER_SESSION + 2) // 3, chargers=CHARGERS)
    chargers = _chargers(port, progress, "CRASH-")
    runs = [asyncio.create_task(charger.run()) for charger in chargers]
    started = time.monotonic()
    step = "a third of the load acknowledged"
    try:
        await asyncio.wait_for(progress.reached.wait(), LOAD_LIMIT)
        acked_before = progress.acked
        await serve.kill()
        progress.fault_at = time.monotonic()
        step = "serve started again"
        await serve.start()  # the same port: the chargers come back by themselves
        restarted_at = time.monotonic()
        step = "every charger acknowledged its whole plan after the restart"
        await _all_planned(chargers, LOAD_LIMIT - (time.monotonic() - started))
        finished_at = time.monotonic()
    except TimeoutError:
        await _fail(f"timed out waiting until: {step}", chargers, runs, f"--- serve\n{serve.tail()}")
    finally:
        for charger in chargers:
            charger.finished.set()
    ledgers = await asyncio.wait_for(asyncio.gather(*runs), 15)
    verdict = await verify(db, ledgers)
    replays = await _journal_replays(db, identities)
    story = _story(ledgers, verdict, f"--- serve\n{serve.tail()}")
    first_ack = progress.first_ack_after(restarted_at)
    assert progress.fault_at is not None
    print(f"\nserve crash: killed after {acked_before} CALLRESULTs; restart took "
          f"{restarted_at - progress.fault_at:.2f} s; first CALLRESULT "
          f"{None if first_ack is None else round(first_ack - restarted_at, 3)} s after; load done "
          f"{finished_at - started:.1f} s after start; resends {sum(ledger.resends for ledger in ledgers)}; "
          f"answered from the journal {replays}")

    assert serve.starts == 2
    assert all(ledger.failures_after_fault for ledger in ledgers), f"a charger did not notice the crash\n{story}"
    _assert_exactly_once(verdict, ledgers, story)


@pytest.mark.timeout(60)
async def test_a_standby_named_first_in_the_dsn_is_passed_over(workdir):
    """After a failover the old primary comes back as a standby, and the DSN keeps its order:
    a process (re)started then must skip the standby for the read-write host behind it."""
    primary, standby = build_pair(workdir, migrate=False)
    try:
        dsn = multi_host_dsn(standby, primary, dbname="postgres", target_session_attrs="read-write")
        connection = await asyncio.wait_for(dbconnect.connect(dsn), 30)
        try:
            assert await connection.fetchval("SELECT pg_is_in_recovery()") is False
        finally:
            await connection.close()
    finally:
        primary.stop()
        standby.stop()
