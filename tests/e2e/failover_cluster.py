"""Helpers for the high-availability tests (tests/e2e/test_failover.py).

- :class:`PgNode`: a PostgreSQL server of our own on a Unix socket only (no
  TCP), run as the ``postgres`` account when we are root, as
  ``pgcsms.proxy.embedded`` does; :func:`build_pair` makes a primary and a
  streaming standby (``pg_basebackup -R``, a replication slot) that the
  primary waits for at every commit (``synchronous_standby_names``).
- :class:`ServeProcess`: ``pgcsms serve`` as a subprocess that can be killed
  with SIGKILL and started again on the same port.
- :class:`Charger`: a charger speaking raw OCPP-J 1.6 frames that behaves like
  firmware after a fault: it resends the same CALL (same uniqueId, same
  payload) until a CALLRESULT comes, over a new connection when the old one is
  gone, and keeps a ledger of what was acknowledged.
- :func:`verify`: reads the database and compares it with the ledgers: lost
  (acknowledged but not stored) and applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import websockets
from pgcsms.proxy.embedded import find_pg_bin
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

__all__ = [
    "STANDBY_NAME", "Charger", "PgNode", "Progress", "ServeProcess", "Verdict", "build_pair", "multi_host_dsn",
    "verify",
]

DATABASE = "pgcsms"
SUPERUSER = "postgres"
# The standby's application_name, which the primary's synchronous_standby_names names.
STANDBY_NAME = "pgcsms_standby"
SLOT = "pgcsms_standby_slot"


def _account() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as when we are root (it refuses root), else None: ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no 'postgres' or 'nobody' account to run PostgreSQL as")


class PgNode:
    """One PostgreSQL server under ``home``: ``data/``, ``run/`` (its socket), ``postgresql.log``."""

    def __init__(self, home: Path, port: int) -> None:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install -y postgresql)")
        self.bin = bin_dir
        self.account = _account()
        self.home = home
        self.data_dir = home / "data"
        self.socket_dir = home / "run"
        self.log_file = home / "postgresql.log"
        self.port = port
        self.orphans: list[int] = []  # children of a killed postmaster, ended at teardown if still alive

    # -- commands ------------------------------------------------------------

    def run(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / program), *args]
        if self.account is not None:
            command = ["runuser", "-u", self.account.pw_name, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd="/", timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip() or result.stdout}")
        return result

    def make_home(self) -> None:
        for directory in (self.home, self.socket_dir):
            directory.mkdir(mode=0o700)
            if self.account is not None:
                os.chown(directory, self.account.pw_uid, self.account.pw_gid)

    def dsn(self, dbname: str = DATABASE) -> str:
        host = urllib.parse.quote(str(self.socket_dir), safe="")
        return f"postgresql://{SUPERUSER}@/{dbname}?host={host}&port={self.port}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        return self.run("psql", "-X", "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER,
                        "-d", dbname, "-v", "ON_ERROR_STOP=1", "-Atc", sql, timeout=30).stdout.strip()

    def initdb(self) -> None:
        self.run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8", "--locale=C",
                 "--auth-local=trust", "--auth-host=reject", "--no-instructions",
                 "--no-sync")  # a test cluster: the OS may flush it when it likes

    def start(self, *settings: str, wait: bool = True) -> None:
        options = [f"-p {self.port}", f"-c unix_socket_directories='{self.socket_dir}'", "-c listen_addresses=''",
                   *(f"-c {setting}" for setting in settings)]
        self.run("pg_ctl", "start", "-w" if wait else "-W", "-t", "30", "-D", str(self.data_dir),
                 "-l", str(self.log_file), "-o", " ".join(options))

    def stop(self) -> None:
        """Immediate shutdown if it runs; end the orphans of a killed postmaster."""
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.run("pg_ctl", "stop", "-w", "-t", "30", "-m", "immediate", "-D", str(self.data_dir))
        for pid in self.orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])

    def kill_postmaster(self) -> int:
        """SIGKILL to the postmaster, as a crash would (its backends notice and exit by themselves)."""
        pid = self.postmaster_pid()
        self.orphans = _children(pid)
        os.kill(pid, signal.SIGKILL)
        return pid

    def start_after_crash(self, timeout: float = 15) -> None:
        """Start again after kill_postmaster, once its orphaned backends have noticed and exited
        (they hold its shared memory; no event says when: look, bounded)."""
        deadline = time.monotonic() + timeout
        while any(Path(f"/proc/{pid}").exists() for pid in self.orphans):
            if time.monotonic() > deadline:
                raise TimeoutError(f"backends of the killed postmaster still alive after {timeout} s")
            time.sleep(0.05)
        self.start()

    def promote(self) -> None:
        self.run("pg_ctl", "promote", "-w", "-t", "30", "-D", str(self.data_dir))

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (from /proc: no third-party library)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            # The command name, in parentheses, may hold spaces: fields count from after it.
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry))
    return found


def build_pair(base: Path, *, migrate: bool = True) -> tuple[PgNode, PgNode]:
    """A primary and a streaming standby under ``base``; every commit waits for the standby's flush.

    The order matters: the standby is a copy of the primary's files, so the
    primary only names its synchronous standby after the copy (a promoted
    standby that inherited the setting would wait for itself forever).
    """
    primary = PgNode(base / "primary", 55432)
    standby = PgNode(base / "standby", 55433)
    primary.make_home()
    primary.initdb()
    primary.start("wal_level=replica", "max_wal_senders=4", "max_replication_slots=4")
    primary.run("createdb", "-h", str(primary.socket_dir), "-p", str(primary.port), "-U", SUPERUSER, DATABASE)
    if migrate:
        from pgcsms.proxy.migrate import migrate as apply_migrations

        apply_migrations(primary.dsn())
    standby.make_home()
    # -R writes primary_conninfo (with our application_name) and standby.signal; -C -S a slot,
    # so the primary keeps the WAL the standby has not received yet.
    primary.run("pg_basebackup", "-h", str(primary.socket_dir), "-p", str(primary.port), "-U", SUPERUSER,
                "-d", f"application_name={STANDBY_NAME}", "-D", str(standby.data_dir),
                "-R", "-X", "stream", "-C", "-S", SLOT, "--checkpoint=fast", "--no-sync")
    standby.start("hot_standby=on", wait=False)  # ready when the primary sees it streaming, below
    primary.psql(f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'")
    primary.psql("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 30
    while primary.psql("SELECT sync_state FROM pg_stat_replication "
                       f"WHERE application_name = '{STANDBY_NAME}'") != "sync":
        if time.monotonic() > deadline:
            raise RuntimeError(f"the standby never became synchronous:\n{standby.log_tail()}")
        time.sleep(0.05)
    return primary, standby


def multi_host_dsn(*nodes: PgNode, dbname: str = DATABASE, **parameters: str) -> str:
    """``postgresql://postgres@/db?host=/sock1,/sock2&port=p1,p2&...`` in the nodes' order."""
    query = {"host": ",".join(str(node.socket_dir) for node in nodes),
             "port": ",".join(str(node.port) for node in nodes), **parameters}
    return f"postgresql://{SUPERUSER}@/{dbname}?" + urllib.parse.urlencode(query, safe="/,")


class ServeProcess:
    """``pgcsms serve`` in a subprocess; its output kept in ``log_path`` and in ``lines``."""

    def __init__(self, dsn: str, log_path: Path, *, node_id: str, extra: tuple[str, ...] = ()) -> None:
        self.dsn = dsn
        self.log_path = log_path
        self.node_id = node_id
        self.extra = extra
        self.port = 0
        self.process: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self.starts = 0

    async def start(self, timeout: float = 30) -> int:
        """Start it (on the port of the previous run, if any) and return its port once it serves."""
        serving = asyncio.get_running_loop().create_future()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pgcsms.proxy.cli", "--log-level", "INFO", "serve", "--dsn", self.dsn,
            "--no-migrate", "--listen", f"127.0.0.1:{self.port}", "--node-id", self.node_id,
            # Chargers here send as fast as answers come: the per-charger message limit is not under test.
            "--messages-per-second", "100000", "--message-burst", "100000", *self.extra,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        self.starts += 1
        self._reader = asyncio.create_task(self._read(self.process, serving))
        try:
            self.port = await asyncio.wait_for(serving, timeout)
        except TimeoutError:
            raise AssertionError(f"pgcsms serve did not serve within {timeout} s:\n{self.tail()}") from None
        return self.port

    async def _read(self, process: asyncio.subprocess.Process, serving: asyncio.Future[int]) -> None:
        assert process.stdout is not None
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"--- start {self.starts} (pid {process.pid})\n")
            async for raw in process.stdout:
                line = raw.decode(errors="replace").rstrip()
                self.lines.append(line)
                log.write(line + "\n")
                log.flush()
                found = re.search(r"pgcsms: serving wss?://[^:]+:(\d+)/", line)
                if found and not serving.done():
                    serving.set_result(int(found.group(1)))
        if not serving.done():
            serving.set_exception(AssertionError(f"pgcsms serve exited ({await process.wait()})"))

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def kill(self) -> None:
        """SIGKILL, as a crash would."""
        assert self.process is not None
        self.process.kill()
        await asyncio.wait_for(self.process.wait(), 10)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 10)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 10)
        if self._reader is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reader, 10)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.lines[-lines:])


@dataclass
class Progress:
    """Shared by the chargers of a run: how many CALLRESULTs so far, and events the test awaits."""

    target: int  # acknowledged CALLs after which ``reached`` is set (the moment to inject a fault)
    chargers: int  # how many chargers share it: ``trouble`` is set once each saw a failure after the fault
    acked: int = 0
    ack_times: list[float] = field(default_factory=list)  # monotonic time of each CALLRESULT
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    fault_at: float | None = None  # monotonic time of the fault, set by the test
    troubled: set[str] = field(default_factory=set)  # chargers that saw a failure after the fault
    trouble: asyncio.Event = field(default_factory=asyncio.Event)  # every charger saw one

    def ack(self) -> None:
        self.acked += 1
        self.ack_times.append(time.monotonic())
        if self.acked >= self.target:
            self.reached.set()

    def first_ack_after(self, moment: float) -> float | None:
        return next((at for at in self.ack_times if at > moment), None)

    def failed(self, identity: str) -> None:
        if self.fault_at is not None:
            self.troubled.add(identity)
            if len(self.troubled) >= self.chargers:
                self.trouble.set()


@dataclass
class Ledger:
    """What one charger sent and what was acknowledged to it."""

    identity: str
    sent: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # uniqueId -> (action, payload)
    acked: dict[str, Any] = field(default_factory=dict)  # uniqueId -> CALLRESULT payload
    readings_sent: set[int] = field(default_factory=set)
    readings_acked: set[int] = field(default_factory=set)
    starts_acked: dict[int, int] = field(default_factory=dict)  # meterStart -> transactionId
    stops_acked: dict[int, int] = field(default_factory=dict)  # transactionId -> meterStop
    failures: Counter[str] = field(default_factory=Counter)  # InternalError, connection lost, ...
    failures_after_fault: Counter[str] = field(default_factory=Counter)
    resends: int = 0  # CALLs sent more than once
    connections: int = 0
    commands: list[tuple[str, str]] = field(default_factory=list)  # (action, uniqueId) received from the server
    done: bool = False  # every CALL of its plan acknowledged


class Charger:
    """An OCPP 1.6 charger on raw frames: sessions of StartTransaction, numbered MeterValues, StopTransaction.

    Each CALL is built once; until its CALLRESULT arrives it is resent as is
    (same uniqueId, same payload): after a CALLERROR (with a short backoff),
    after a lost connection (on a new one) or after ``reply_timeout``. The
    meter register counts up by one per message, so every reading (and every
    meterStart) is a number this charger sends once: the database must hold
    each acknowledged one exactly once.
    """

    def __init__(self, identity: str, url: str, progress: Progress, *, sessions: int, meters_per_session: int,
                 deadline: float, reply_timeout: float = 5.0) -> None:
        self.identity = identity
        self.url = url
        self.progress = progress
        self.sessions = sessions
        self.meters_per_session = meters_per_session
        self.deadline = deadline
        self.reply_timeout = reply_timeout
        self.ledger = Ledger(identity)
        self.id_tag = f"TAG-{identity}"
        self._ws: Any = None
        self._register = 0
        self._clock = datetime.now(UTC).replace(microsecond=0)
        self.plan_done = asyncio.Event()  # every CALL of the plan acknowledged
        self.finished = asyncio.Event()  # set by the test: stop idling and close

    # -- the plan ------------------------------------------------------------

    async def run(self) -> Ledger:
        """Send the whole plan, then stay connected answering commands until ``finished`` is set."""
        try:
            for _ in range(self.sessions):
                meter_start = self._tick()
                result = await self._call("StartTransaction", {
                    "connectorId": 1, "idTag": self.id_tag, "meterStart": meter_start, "timestamp": self._time()})
                transaction_id = result["transactionId"]
                self.ledger.starts_acked[meter_start] = transaction_id
                for _ in range(self.meters_per_session):
                    reading = self._tick()
                    self.ledger.readings_sent.add(reading)
                    await self._call("MeterValues", {
                        "connectorId": 1, "transactionId": transaction_id,
                        "meterValue": [{"timestamp": self._time(), "sampledValue": [{
                            "value": str(reading), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]})
                    self.ledger.readings_acked.add(reading)
                meter_stop = self._tick()
                await self._call("StopTransaction", {
                    "transactionId": transaction_id, "meterStop": meter_stop, "timestamp": self._time(),
                    "reason": "Local"})
                self.ledger.stops_acked[transaction_id] = meter_stop
            self.ledger.done = True
            self.plan_done.set()
            await self._idle()
        except TimeoutError:
            pass  # the run's time limit: the ledger says how far it got
        finally:
            if self._ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._ws.close(), 2)
        return self.ledger

    def _tick(self) -> int:
        self._register += 1
        return self._register

    def _time(self) -> str:
        # Charger time advances one second per message: no two messages share a timestamp.
        return (self._clock + timedelta(seconds=self._register)).isoformat().replace("+00:00", "Z")

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    # -- the wire ------------------------------------------------------------

    async def _connection(self) -> Any:
        """The open connection, or a new one: retried with backoff until the deadline."""
        backoff = 0.05
        while self._ws is None:
            try:
                self._ws = await websockets.connect(self.url, subprotocols=[Subprotocol("ocpp1.6")],
                                                    open_timeout=min(5.0, self._remaining()))
                self.ledger.connections += 1
            except (OSError, TimeoutError, InvalidHandshake) as error:
                self._failure(f"connect: {type(error).__name__}")
                # Like firmware: wait a little, longer each time (bounded), then try again.
                await asyncio.sleep(min(backoff, self._remaining()))
                backoff = min(backoff * 2, 0.5)
        return self._ws

    def _failure(self, kind: str) -> None:
        self.ledger.failures[kind] += 1
        if self.progress.fault_at is not None:
            self.ledger.failures_after_fault[kind] += 1
        self.progress.failed(self.identity)

    async def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1)

    async def _call(self, action: str, payload: dict[str, Any]) -> Any:
        unique_id = f"{self.identity}-{self._register}"
        self.ledger.sent[unique_id] = (action, payload)
        frame = json.dumps([2, unique_id, action, payload])
        backoff = 0.05
        attempts = 0
        while True:
            ws = await self._connection()
            attempts += 1
            if attempts == 2:
                self.ledger.resends += 1
            try:
                await ws.send(frame)
                reply = await asyncio.wait_for(self._reply(ws, unique_id), min(self.reply_timeout, self._remaining()))
            except (ConnectionClosed, OSError) as error:
                self._failure(f"connection lost: {type(error).__name__}")
                await self._drop()
                continue
            except TimeoutError:
                self._remaining()  # the run's deadline ends it here
                self._failure("no answer")
                await self._drop()  # a charger that gave up on an answer reconnects and resends
                continue
            if reply[0] == 3:
                self.ledger.acked[unique_id] = reply[2]
                self.progress.ack()
                return reply[2]
            self._failure(f"CALLERROR {reply[2]}")
            await asyncio.sleep(min(backoff, self._remaining()))
            backoff = min(backoff * 2, 0.5)

    async def _reply(self, ws: Any, unique_id: str) -> list[Any]:
        """The CALLRESULT or CALLERROR of ``unique_id``; commands from the server are answered meanwhile."""
        while True:
            message = json.loads(await ws.recv())
            if message[0] == 2:
                await self._answer_command(ws, message)
            elif message[1] == unique_id:
                return message
            # else: a late answer to an earlier attempt of a CALL already acknowledged

    async def _answer_command(self, ws: Any, message: list[Any]) -> None:
        self.ledger.commands.append((message[2], message[1]))
        await ws.send(json.dumps([3, message[1], {"status": "Accepted"}]))

    async def _idle(self) -> None:
        """Stay connected (reconnecting if need be) and answer commands until ``finished``."""
        finished = asyncio.ensure_future(self.finished.wait())
        try:
            while not self.finished.is_set():
                ws = await self._connection()
                receive = asyncio.ensure_future(ws.recv())
                await asyncio.wait({receive, finished}, timeout=self._remaining(),
                                   return_when=asyncio.FIRST_COMPLETED)
                if not receive.done():
                    receive.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await receive
                    continue
                try:
                    message = json.loads(receive.result())
                except (ConnectionClosed, OSError):
                    self._failure("connection lost while idle")
                    await self._drop()
                    continue
                if message[0] == 2:
                    await self._answer_command(ws, message)
        finally:
            finished.cancel()


@dataclass
class Verdict:
    """The database compared with the chargers' ledgers."""

    lost_readings: dict[str, list[int]]  # acknowledged, not stored
    duplicated_readings: dict[str, list[int]]  # stored more than once
    unknown_readings: dict[str, list[int]]  # stored, never sent
    lost_transactions: dict[str, list[int]]  # acknowledged transactionId not stored
    duplicated_transactions: dict[str, list[int]]  # meterStart with more than one transaction
    unstopped: dict[str, list[int]]  # StopTransaction acknowledged, transaction still open
    anomalies: list[tuple[str, str]]  # (charge point, kind): superseded transactions, duplicate stops...
    readings_stored: int
    transactions_stored: int

    def problems(self) -> dict[str, Any]:
        return {name: value for name, value in vars(self).items()
                if name not in ("readings_stored", "transactions_stored") and value}


async def verify(connection: asyncpg.Connection, ledgers: list[Ledger]) -> Verdict:
    """Compare what the database holds with what the chargers were told."""
    ids = [ledger.identity for ledger in ledgers]
    readings: dict[str, Counter[int]] = {identity: Counter() for identity in ids}
    for row in await connection.fetch(
            "SELECT charge_point_id, value::bigint AS reading, count(*) AS n FROM ocpp.meter_values "
            "WHERE charge_point_id = ANY($1) AND source = 'MeterValues' GROUP BY 1, 2", ids):
        readings[row["charge_point_id"]][row["reading"]] = row["n"]
    transactions: dict[str, list[asyncpg.Record]] = {identity: [] for identity in ids}
    for row in await connection.fetch(
            "SELECT id, charge_point_id, meter_start, meter_stop, stopped_at FROM ocpp.transactions "
            "WHERE charge_point_id = ANY($1)", ids):
        transactions[row["charge_point_id"]].append(row)
    anomalies = [(row["charge_point_id"], row["kind"]) for row in await connection.fetch(
        "SELECT charge_point_id, kind FROM ocpp.anomalies WHERE charge_point_id = ANY($1)", ids)]
    verdict = Verdict({}, {}, {}, {}, {}, {}, anomalies, 0, 0)
    for ledger in ledgers:
        stored = readings[ledger.identity]
        verdict.readings_stored += sum(stored.values())
        rows = transactions[ledger.identity]
        verdict.transactions_stored += len(rows)
        by_id = {row["id"]: row for row in rows}
        starts = Counter(row["meter_start"] for row in rows)
        checks = {
            "lost_readings": sorted(r for r in ledger.readings_acked if stored[r] == 0),
            "duplicated_readings": sorted(r for r, n in stored.items() if n > 1),
            "unknown_readings": sorted(r for r in stored if r not in ledger.readings_sent),
            "lost_transactions": sorted(t for t in ledger.starts_acked.values() if t not in by_id),
            "duplicated_transactions": sorted(m for m, n in starts.items() if n > 1),
            "unstopped": sorted(t for t, stop in ledger.stops_acked.items()
                                if t in by_id and (by_id[t]["stopped_at"] is None or by_id[t]["meter_stop"] != stop)),
        }
        for name, found in checks.items():
            if found:
                getattr(verdict, name)[ledger.identity] = found
    return verdict
