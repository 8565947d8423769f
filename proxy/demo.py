"""``pgcsms demo``: a central system and simulated chargers charging, with a live view of the database.

What it does, in order:

1. the database: the embedded default cluster (as ``pgcsms serve`` uses it), or ``--dsn``;
2. migrates;
3. on the embedded database only, accepts unknown chargers (``unknown_charge_points``) and
   says so; on a database given with ``--dsn`` it changes no setting and asks nothing: it
   registers the demo chargers with ``ocpp.add_charge_point``, printing that SQL;
4. adds the demo cards (``ocpp.add_id_tag``);
5. serves OCPP-J in this process and runs ``--chargers`` simulated chargers against it
   (``proxy/simulator.py``), whose drivers start sessions within seconds;
6. shows, a few times a second on a terminal (in place) or as a line every two seconds
   otherwise, what the database knows: chargers, connector states, running sessions and
   energy so far, read from the ``ocpp`` views as any client would, beside the psql
   command to look inside and a command to send.

Ctrl-C (or ``--duration``) ends the sessions, stops everything and exits 0; the
sessions stay in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import shutil
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

import asyncpg
import psycopg

from . import dbconnect, simulator
from .config import mask_dsn, parse_address
from .embedded import EmbeddedPostgres, EmbeddedPostgresError
from .logging_setup import accept_sql
from .migrate import MigrationError, migrate
from .server import CentralSystem

__all__ = ["Running", "Snapshot", "add_arguments", "help_lines", "render_line", "render_screen", "run_command",
           "snapshot"]

PREFIX = "DEMO-"
CARDS = ("DEMO-TAG-{n}",)        # one card per charger
METER_INTERVAL = 2               # seconds between MeterValues: energy moves while you watch
TTY_REFRESH = 0.25
LINE_REFRESH = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``pgcsms demo`` (command line only: never a DSN from the environment or a file)."""
    parser.add_argument("--dsn", help="a PostgreSQL database to use instead of the embedded one; no setting "
                        "is changed there, the demo chargers are registered with ocpp.add_charge_point")
    parser.add_argument("--data-dir", help="data directory of the embedded cluster (default: pgcsms serve's)")
    parser.add_argument("--chargers", type=_count, default=5, metavar="N", help="simulated chargers (default 5)")
    parser.add_argument("--listen", type=_address, default=("127.0.0.1", 9000), metavar="HOST:PORT",
                        help="WebSocket address (default 127.0.0.1:9000; port 0: any free port)")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: at Ctrl-C)")


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"expected 1 to 100 chargers, not {text!r}")
    return int(text)


def _address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}") from None


# -- what the database knows ------------------------------------------------------------------------------

_CHARGERS = ("SELECT id, registration_status, connected FROM ocpp.charge_points "
             "WHERE id = ANY($1::text[])")
_CONNECTORS = ("SELECT charge_point_id, connector_id, status FROM ocpp.connectors "
               "WHERE charge_point_id = ANY($1::text[]) AND connector_id > 0 "
               "ORDER BY charge_point_id, connector_id")
# Energy so far of a running session: its latest energy register reading since its meter start.
_RUNNING = """
SELECT t.id, t.charge_point_id, t.connector_id, t.id_tag, t.started_at,
       greatest(coalesce(e.register_wh - t.meter_start, 0), 0)::float8 AS energy_wh
  FROM ocpp.transactions AS t
  LEFT JOIN LATERAL (
        SELECT m.normalized_value AS register_wh
          FROM ocpp.meter_values AS m
         WHERE m.transaction_id = t.id AND m.measurand = 'Energy.Active.Import.Register'
           AND m.normalized_unit = 'Wh' AND m.phase IS NULL
         ORDER BY m.sampled_at DESC, m.id DESC
         LIMIT 1) AS e ON true
 WHERE t.stopped_at IS NULL AND t.charge_point_id = ANY($1::text[]) AND t.start_received_at >= $2
 ORDER BY t.charge_point_id, t.connector_id"""
_FINISHED = ("SELECT count(*), coalesce(sum(energy_wh), 0)::float8 FROM ocpp.transactions "
             "WHERE stopped_at IS NOT NULL AND charge_point_id = ANY($1::text[]) AND start_received_at >= $2")


@dataclasses.dataclass(frozen=True, slots=True)
class Running:
    transaction_id: int
    charge_point_id: str
    connector_id: int
    id_tag: str
    started_at: datetime.datetime
    energy_wh: float


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    """The demo chargers as the database sees them at one moment."""

    at: datetime.datetime
    identities: tuple[str, ...]
    registration: dict[str, str]                 # charge point -> Accepted | Pending | Rejected
    connected: frozenset[str]
    connectors: dict[str, list[tuple[int, str]]]  # charge point -> [(connector, status)]
    running: tuple[Running, ...]
    finished: int
    finished_wh: float

    @property
    def energy_wh(self) -> float:
        return self.finished_wh + sum(r.energy_wh for r in self.running)


async def snapshot(connection: asyncpg.Connection, identities: Sequence[str],
                   since: datetime.datetime) -> Snapshot:
    """Read the views once."""
    ids = list(identities)
    chargers = await connection.fetch(_CHARGERS, ids)
    connectors: dict[str, list[tuple[int, str]]] = {}
    for row in await connection.fetch(_CONNECTORS, ids):
        connectors.setdefault(row["charge_point_id"], []).append((row["connector_id"], row["status"]))
    running = tuple(Running(r["id"], r["charge_point_id"], r["connector_id"], r["id_tag"], r["started_at"],
                            r["energy_wh"]) for r in await connection.fetch(_RUNNING, ids, since))
    finished, finished_wh = await connection.fetchrow(_FINISHED, ids, since)
    return Snapshot(datetime.datetime.now(datetime.UTC), tuple(identities),
                    {r["id"]: r["registration_status"] for r in chargers},
                    frozenset(r["id"] for r in chargers if r["connected"]), connectors, running, finished,
                    finished_wh)


# -- how it looks -----------------------------------------------------------------------------------------


def _kwh(wh: float) -> str:
    return f"{wh / 1000:.3f} kWh"


def _state(view: Snapshot, identity: str) -> str:
    registration = view.registration.get(identity)
    if identity not in view.connected:
        return "connecting" if registration is None else "offline"
    if registration != "Accepted":
        return f"{registration}: {accept_sql(identity)}"
    return ""


def _connectors(view: Snapshot, identity: str) -> str:
    return " ".join(f"{connector}:{status}" for connector, status in view.connectors.get(identity, []))


def render_line(view: Snapshot) -> str:
    """One plain line (output that is not a terminal)."""
    chargers = []
    for identity in view.identities:
        state = _state(view, identity)
        chargers.append(f"{identity} {state or _connectors(view, identity) or 'booting'}")
    return (f"pgcsms demo {view.at:%H:%M:%S}: {len(view.connected)}/{len(view.identities)} chargers online | "
            + " | ".join(chargers)
            + f" | sessions: {len(view.running)} charging, {view.finished} finished | "
            f"energy so far {_kwh(view.energy_wh)}")


def help_lines(psql: str, view: Snapshot | None = None) -> list[str]:
    """Where to look, and a command to send."""
    first = view.identities[0] if view is not None else f"{PREFIX}0001"
    running = view.running[0] if view is not None and view.running else None
    command = (f"SELECT ocpp.remote_stop_transaction('{running.charge_point_id}', {running.transaction_id});"
               if running is not None else f"SELECT ocpp.remote_start_transaction('{first}', 'DEMO-TAG-0001');")
    return [
        f"look inside     {psql}",
        "                SELECT * FROM ocpp.transactions ORDER BY id DESC LIMIT 5;",
        f"send a command  CALL ocpp.call('{first}', 'GetConfiguration', '{{}}');",
        f"                {command}",
    ]


def render_screen(view: Snapshot, url: str, psql: str) -> list[str]:
    """The terminal view, redrawn in place."""
    width = max(len(identity) for identity in view.identities) + 2
    lines = [
        f"pgcsms demo  {len(view.connected)}/{len(view.identities)} chargers online at {url}  (Ctrl-C stops)",
        "",
        f"  {'charger':<{width}}{'connectors':<28}session",
    ]
    by_charger: dict[str, list[Running]] = {}
    for session in view.running:
        by_charger.setdefault(session.charge_point_id, []).append(session)
    for identity in view.identities:
        state = _state(view, identity)
        sessions = by_charger.get(identity, [])
        text = "; ".join(f"#{s.transaction_id} on {s.connector_id}, {s.id_tag}, {_kwh(s.energy_wh)}"
                         for s in sessions)
        lines.append(f"  {identity:<{width}}{state or f'{_connectors(view, identity):<28}{text}'}")
    lines += [
        "",
        f"  {view.at:%H:%M:%S} UTC  sessions: {len(view.running)} charging, {view.finished} finished   "
        f"energy so far {_kwh(view.energy_wh)}",
        "",
        *(f"  {line}" for line in help_lines(psql, view)),
    ]
    return lines


class Screen:
    """Draws the view: in place on a terminal, a plain line every few seconds otherwise."""

    def __init__(self, out: TextIO, *, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self.drawn = 0
        self.last_line = 0.0

    def draw(self, view: Snapshot, url: str, psql: str) -> None:
        if self.tty:
            # A wrapped line would throw off the count of lines to go back up: cut at the terminal's width.
            width = max(20, shutil.get_terminal_size((120, 40)).columns - 1)
            lines = [line[:width] for line in render_screen(view, url, psql)]
            # Back to the top of what was drawn; each line cleared to its end, then anything below.
            up = f"\x1b[{self.drawn}F" if self.drawn else ""
            self.out.write(up + "".join(f"{line}\x1b[K\n" for line in lines) + "\x1b[J")
            self.drawn = len(lines)
        else:
            now = asyncio.get_running_loop().time()
            if now - self.last_line < LINE_REFRESH:
                return
            self.last_line = now
            self.out.write(render_line(view) + "\n")
        self.out.flush()


# -- the run ----------------------------------------------------------------------------------------------


def _say(out: TextIO, text: str) -> None:
    out.write(f"pgcsms demo: {text}\n")
    out.flush()


def _prepare(dsn: str, options: simulator.Options, *, embedded: bool, out: TextIO) -> None:
    """Let the demo chargers in and give their drivers cards."""
    with psycopg.connect(dbconnect.libpq_dsn(dsn), autocommit=True) as connection:
        if embedded:
            connection.execute("SELECT ocpp.set_setting('unknown_charge_points', 'accept')")
            _say(out, "this embedded database now accepts unknown chargers, yours too (SELECT ocpp.set_setting("
                 "'unknown_charge_points', 'accept'); 'pending' puts it back)")
        else:
            statements = [accept_sql(identity) for identity in options.identities()]
            _say(out, "on the given database no setting changes; the demo chargers are registered with:")
            for statement in statements:
                out.write(f"  {statement}\n")
                connection.execute(statement)
        cards = list(options.cards())
        for card in cards:
            connection.execute("SELECT ocpp.add_id_tag(%s, description => 'pgcsms demo')", (card,))
        _say(out, f"cards {cards[0]}..{cards[-1]} added (ocpp.add_id_tag)")


async def _demo(dsn: str, options: simulator.Options, listen: tuple[str, int], duration: float | None,
                psql: str, out: TextIO, tty: bool) -> None:
    host, port = listen
    central = CentralSystem(dsn, host=host, port=port, node_id="pgcsms-demo", pool_size=6)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await central.start()
    except OSError as error:
        raise OSError(f"cannot listen on {host}:{port} ({error.strerror or error}): is pgcsms serve running? "
                      f"pgcsms demo --listen {host}:{port + 1} serves elsewhere") from None
    try:
        url = f"ws://{host}:{central.port}/ocpp"
        options = dataclasses.replace(options, url=url)
        screen = Screen(out, tty=tty)
        connection = await dbconnect.connect(dsn, server_settings={"application_name": "pgcsms demo view"})
        try:
            since = await connection.fetchval("SELECT now()")
            _say(out, f"serving {url}/{{id}}; {options.count} simulated chargers start charging in a few seconds")
            if not tty:
                for line in help_lines(psql):
                    out.write(f"  {line}\n")
            fleet = asyncio.create_task(simulator.simulate(options, stop), name="demo chargers")
            fleet.add_done_callback(lambda _: stop.set())  # it ended by itself: a failure, shown below
            if duration is not None:
                loop.call_later(duration, stop.set)
            view_url = f"{url}/{{id}}"
            while not stop.is_set():
                screen.draw(await snapshot(connection, options.identities(), since), view_url, psql)
                await _wait(stop, TTY_REFRESH if tty else LINE_REFRESH / 4)
            _say(out, "stopping: the drivers end their sessions")
            summary = await fleet
            view = await snapshot(connection, options.identities(), since)
            if summary.stats.simulator_errors:
                _say(out, "the simulator failed: see the log above")
            _say(out, f"stopped: {view.finished} sessions, {_kwh(view.energy_wh)}; they stay in the database "
                 f"({psql})")
        finally:
            await connection.close()
    finally:
        await central.shutdown(5.0)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """A refresh period that ends early when ``event`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def run_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``pgcsms demo``: 0 once stopped (Ctrl-C, SIGTERM or --duration)."""
    out = out or sys.stdout
    options = simulator.Options(url="ws://placeholder/ocpp", count=args.chargers, prefix=PREFIX, id_tags=CARDS,
                                meter_interval=METER_INTERVAL)
    cluster: EmbeddedPostgres | None = None
    try:
        if args.dsn:
            dsn = args.dsn
            psql = f"psql '{mask_dsn(dsn)}'"
        else:
            cluster = EmbeddedPostgres(args.data_dir)
            _say(out, f"starting the embedded PostgreSQL in {cluster.data_dir}")
            dsn = cluster.start()
            psql = cluster.psql_command()
        report = migrate(dsn)
        _say(out, f"schema ready ({len(report.applied_migrations)} new migrations)")
        _prepare(dsn, options, embedded=cluster is not None, out=out)
        asyncio.run(_demo(dsn, options, args.listen, args.duration, psql, out, out.isatty()))
    except KeyboardInterrupt:  # before the live view took over Ctrl-C
        _say(out, "interrupted")
    except EmbeddedPostgresError as error:
        print(f"pgcsms demo: {error}", file=sys.stderr)
        return 2
    except MigrationError as error:
        print(f"pgcsms demo: migration failed, nothing changed: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"pgcsms demo: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        if type(error).__module__.startswith(("psycopg", "asyncpg")):
            print(f"pgcsms demo: database error: {error}", file=sys.stderr)
            return 1
        raise
    finally:
        if cluster is not None:
            cluster.stop()
    return 0
