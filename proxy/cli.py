"""The ``pgcsms`` command: ``demo``, ``serve``, ``migrate``, ``rfid``, ``simulate`` and ``config``.

``serve``, ``migrate`` and ``rfid`` read their settings from flags, the
environment (``PGCSMS_*``), a TOML file (``--config``, ``PGCSMS_CONFIG``) and
defaults, in that order (``proxy/config.py``); ``pgcsms config`` prints the
outcome. ``serve`` speaks systemd's notify protocol (``proxy/systemd.py``),
stops gracefully on SIGTERM and reloads its log level and limits on SIGHUP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import importlib.metadata
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from . import config, logging_setup
from .config import Config, ConfigError
from .embedded import EmbeddedPostgres, EmbeddedPostgresError
from .health import start_health_server
from .migrate import MigrationError, migrate
from .server import default_parse_concurrency
from .simulator import PROTOCOLS as SIMULATED_PROTOCOLS
from .systemd import Notifier
from .tls import server_context
from .workers import Supervisor, serving_status, worker_node_id

__all__ = ["main"]

logger = logging.getLogger("pgcsms")

# Seconds serve waits for its LISTEN connection before saying it is ready anyway.
LISTEN_WAIT = 10.0


def _version() -> str:
    try:
        return importlib.metadata.version("pgcsms")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _common_options(parser: argparse.ArgumentParser, *, configured: bool = True) -> None:
    """--log-level and --log-format (and --config), before or after the command name alike."""
    config.add_flags(parser, ("log_level", "log_format"))
    if configured:
        parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                            help=f"TOML configuration file (or {config.CONFIG_ENV}); see conf/pgcsms.toml")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgcsms", description="OCPP central system whose business rules live in PostgreSQL.",
        epilog="Settings: flags > environment (PGCSMS_*) > configuration file (--config) > defaults; "
               "`pgcsms config` shows them.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _common_options(parser)
    commands = parser.add_subparsers(dest="command", required=True)

    from .demo import add_arguments as demo_arguments  # the demo imports the simulator: only here

    demo_command = commands.add_parser(
        "demo", help="a central system and simulated chargers charging, with a live view of the database")
    _common_options(demo_command, configured=False)
    demo_arguments(demo_command)

    serve_command = commands.add_parser("serve", help="migrate, then serve OCPP-J over WebSocket")
    _common_options(serve_command)
    config.add_flags(serve_command, config.COMMAND_SETTINGS["serve"], groups={
        "tls": "TLS (OCPP security profiles 2 and 3)", "limits": "limits (SIGHUP reloads them from the file)"})

    migrate_command = commands.add_parser("migrate", help="apply migrations and function files")
    _common_options(migrate_command)
    config.add_flags(migrate_command, config.COMMAND_SETTINGS["migrate"])

    rfid_command = commands.add_parser("rfid", help="migrate, then record the cards an RFID reader on a serial "
                                       "port reads (ocpp.record_scan)")
    _common_options(rfid_command)
    config.add_flags(rfid_command, config.COMMAND_SETTINGS["rfid"])

    config_command = commands.add_parser(
        "config", help="print the effective configuration (secrets masked) and where each value came from")
    _common_options(config_command)

    sim = commands.add_parser("simulate", help="run simulated charge points against a central system")
    _common_options(sim, configured=False)
    sim.add_argument("--url", required=True, help="central system, e.g. ws://127.0.0.1:9000/ocpp (+ /ID)")
    sim.add_argument("--count", type=int, default=1, help="chargers, named PREFIX0001... (default 1)")
    sim.add_argument("--protocol", choices=sorted(SIMULATED_PROTOCOLS), default="1.6",
                     help="OCPP version the simulated chargers speak (default 1.6)")
    sim.add_argument("--profile", choices=["session", "idle", "meter-heavy"], default="session")
    sim.add_argument("--id-tag", action="append", help="a card drivers present, repeatable; with {n} (or {uid}), one "
                     "card per charger used there only (default: 1.6 SIM-TAG-{n}, 2.0.1 {uid}, an ISO 14443 UID per "
                     "charger); a card is in one session at a time")
    sim.add_argument("--duration", type=float, help="seconds, then sessions end (default: until SIGINT/SIGTERM)")
    sim.add_argument("--speed", type=float, default=60.0, help="simulated seconds of charging per second "
                     "(default 60: sessions of 5-20 minutes take 5-20 s); protocol timers stay real")
    sim.add_argument("--meter-interval", type=int, help="MeterValueSampleInterval, seconds (default 5; meter-heavy 1)")
    sim.add_argument("--password", default=os.environ.get("PGCSMS_SIMULATE_PASSWORD"),
                     help="HTTP Basic auth, user = identity (or PGCSMS_SIMULATE_PASSWORD)")
    sim.add_argument("--prefix", default="SIM-", help="identity prefix (default SIM-)")
    sim.add_argument("--seed", type=int, help="random seed (printed in the summary)")
    sim.add_argument("--concurrency", type=int, default=20, help="handshakes in flight at once (default 20)")
    return parser


@dataclass(slots=True)
class Database:
    """The DSN in use, and the embedded cluster behind it if there is one."""

    dsn: str
    cluster: EmbeddedPostgres | None

    def announce(self) -> None:
        """Print how to open the embedded database: last before "serving", not buried under migration lines."""
        if self.cluster is not None:
            print(f"pgcsms: embedded PostgreSQL in {self.cluster.data_dir}; connect with:\n"
                  f"  {self.cluster.psql_command()}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _database(settings: Config) -> Iterator[Database]:
    """The DSN given, or an embedded cluster's, stopped on the way out."""
    if settings["dsn"]:
        yield Database(settings["dsn"], None)
        return
    cluster = EmbeddedPostgres(settings["data_dir"])
    dsn = cluster.start()
    try:
        yield Database(dsn, cluster)
    finally:
        cluster.stop()


def _migrate(database: Database) -> None:
    report = migrate(database.dsn)
    logger.info("schema ready: %d new migrations, %d function files applied",
                len(report.applied_migrations), report.function_files)


def _tls_context(settings: Config):  # type: ignore[no-untyped-def]
    certificates, keys, client_ca = settings["tls.cert"], settings["tls.key"], settings["tls.client_ca"]
    if not (certificates or keys or client_ca):
        return None
    if not (certificates and keys) or len(certificates) != len(keys):
        raise ConfigError("--tls-cert and --tls-key go together, one key for each certificate")
    pairs = list(zip(certificates, keys, strict=True))
    return server_context(*pairs[0], client_ca, more_certificates=pairs[1:])


class _Serving:
    """A running ``pgcsms serve``: what SIGHUP reloads and STATUS= reports."""

    __slots__ = ("args", "central", "notifier", "settings", "url", "worker")

    def __init__(self, args: argparse.Namespace, settings: Config, notifier: Notifier,
                 worker: int | None = None) -> None:
        self.args = args
        self.settings = settings
        self.notifier = notifier
        self.worker = worker  # its index under --workers; None: the only serving process
        self.central: logging_setup.LoggedCentralSystem | None = None
        self.url = ""

    def status(self) -> str:
        return serving_status(self.url, len(self.central.sessions) if self.central is not None else 0)

    def reload(self) -> None:
        """SIGHUP: read the file again; apply the log level and limits, say what else waits for a restart."""
        self.notifier.reloading()
        try:
            new = config.load(self.args, os.environ)
        except ConfigError as error:
            logger.error("reload refused, the running configuration stays: %s", error)
            self.notifier.ready(self.status())
            return
        old = self.settings
        changed = old.changed(new)
        applied = [key for key in changed if config.SETTINGS_BY_KEY[key].reloadable]
        values = dict(old.values)
        sources = dict(old.sources)
        for key in applied:
            values[key], sources[key] = new.values[key], new.sources[key]
        merged = Config(values, sources, old.file, old.ignored)
        if "log_level" in applied:
            logging_setup.set_level(merged["log_level"])
        if any(key.startswith("limits.") for key in applied) and self.central is not None:
            self.central.reload(config.limits(merged))
        what = ", ".join(f"{key} {old.shown(key)} -> {merged.shown(key)}" for key in applied)
        logger.info("reloaded %s: %s", old.file or "(no configuration file)", what or "nothing changed")
        for key in changed:
            if key not in applied:
                logger.warning("%s changed (%s -> %s) but takes effect at the next start", key, old.shown(key),
                               new.shown(key))
        self.settings = merged
        self.notifier.ready(self.status())


def _node_id(settings: Config) -> str:
    return settings["serve.node_id"] or f"{socket.gethostname()}:{settings['serve.listen'][1]}"


def _check_workers(settings: Config) -> None:
    if settings["serve.workers"] == 1:
        return
    if not hasattr(socket, "SO_REUSEPORT") or not hasattr(os, "fork"):
        raise ConfigError("--workers above 1 needs SO_REUSEPORT and fork (Linux, BSD, macOS)")
    if settings["serve.listen"][1] == 0:
        raise ConfigError("--workers above 1 needs a fixed port in --listen: workers share one port, "
                          "and port 0 would give each its own")


async def _serve(serving: _Serving, database: Database) -> None:
    settings = serving.settings
    notifier = serving.notifier
    host, port = settings["serve.listen"]
    node_id = _node_id(settings)
    worker = serving.worker
    if worker is not None:
        node_id = worker_node_id(node_id, worker)
    central = logging_setup.LoggedCentralSystem(
        database.dsn, host=host, port=port, node_id=node_id, pool_size=settings["serve.pool_size"],
        parse_concurrency=settings["serve.parse_concurrency"] or default_parse_concurrency(
            settings["serve.pool_size"], settings["serve.workers"]),
        limits=config.limits(settings), ssl=_tls_context(settings), compression=settings["serve.compression"],
        reuse_port=worker is not None)
    serving.central = central
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, serving.reload)
    await central.start()  # the port accepts connections once this returns
    # What exists now (modules, the OCPP schemas and validators, the pool) lives as long as the
    # process: frozen, a full collection no longer walks it. Unfrozen, that was ~100,000 objects and
    # 35-50 ms with the event loop stopped, every few seconds under load: at 40 CALLs a second a
    # charger, answers queued behind each pause (bench/README.md, "Where the time goes").
    gc.collect()
    gc.freeze()
    reporters: list[asyncio.Task[None]] = []
    try:
        try:  # commands (and the Pending hints) need the LISTEN connection: ready means that too
            await asyncio.wait_for(central.wait_listening(), LISTEN_WAIT)
        except TimeoutError:
            logger.warning("the LISTEN connection is not up after %g s; serving anyway (commands wait for it)",
                           LISTEN_WAIT)
        health_address = settings["serve.health"]
        health = None
        if health_address:  # worker N: the health port + N
            health_host, health_port = health_address
            health = await start_health_server(central, health_host, health_port + (worker or 0))
        serving.url = f"{central.scheme}://{host}:{central.port}/ocpp/{{chargePointId}}"
        if worker is None:  # else the supervisor says it, once all workers serve
            database.announce()
            print(f"pgcsms: serving {serving.url}", file=sys.stderr, flush=True)
        notifier.ready(serving.status())
        reporters = [asyncio.create_task(notifier.keep_alive()), asyncio.create_task(notifier.report(serving.status))]
        await stop.wait()
        timeout = serving.settings["serve.shutdown_timeout"]
        notifier.stopping(f"stopping: {len(central.sessions)} chargers get up to {timeout:g} s to finish their "
                          "CALLs, then 1001 (going away)")
        logger.info("stopping: CALLs under way get up to %g s, then %d chargers are closed with 1001",
                    timeout, len(central.sessions))
        if health is not None:
            await health.cleanup()
    finally:
        for task in reporters:
            task.cancel()
        await asyncio.gather(*reporters, return_exceptions=True)
        await central.shutdown(serving.settings["serve.shutdown_timeout"])
        loop.remove_signal_handler(signal.SIGHUP)


def _run_configured(args: argparse.Namespace, settings: Config) -> int:
    command = args.command
    notifier = Notifier() if command == "serve" else None  # read, and hidden from the embedded PostgreSQL
    if command == "rfid" and not settings["rfid.port"]:
        print("pgcsms rfid: which serial port? give --port DEVICE (or PGCSMS_RFID_PORT, or port in [rfid])",
              file=sys.stderr)
        return 2
    if command == "serve":
        _tls_context(settings)  # a mistake there is found before any database is started
        _check_workers(settings)
    with _database(settings) as database:
        if command == "migrate" or settings["migrate"]:
            _migrate(database)
        if command == "migrate":
            database.announce()
        elif command == "serve":
            assert notifier is not None
            # Chosen outside the except clause: a failure while serving must not
            # carry "No module named uvloop" as its context.
            run: Callable[[Coroutine[Any, Any, None]], None] = asyncio.run
            with contextlib.suppress(ImportError):  # the "fast" extra
                run = importlib.import_module("uvloop").run
            workers = settings["serve.workers"]
            if workers > 1:
                def run_worker(index: int, to_supervisor: Notifier) -> int:
                    run(_serve(_Serving(args, settings, to_supervisor, worker=index), database))
                    return 0

                supervisor = Supervisor(workers, _node_id(settings), run_worker, notifier=notifier,
                                        shutdown_timeout=settings["serve.shutdown_timeout"],
                                        on_serving=database.announce)
                try:
                    return supervisor.run()
                finally:
                    notifier.close()
            try:
                run(_serve(_Serving(args, settings, notifier), database))
            finally:
                notifier.close()
        elif command == "rfid":
            from pgcsms.hardware.rfid import serve as serve_rfid  # pyserial only for this command

            database.announce()
            asyncio.run(serve_rfid(settings["rfid.port"], database.dsn, reader_id=settings["rfid.reader_id"],
                                   protocol=settings["rfid.protocol"], baudrate=settings["rfid.baud"],
                                   debounce=settings["rfid.debounce"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configured = args.command not in ("simulate", "demo")
    try:
        # simulate and demo take their options from the command line only: a demo must
        # never find a production DSN in the environment or a file.
        settings = config.load(args, os.environ) if configured else config.load(args, os.environ, use_file=False)
    except ConfigError as error:
        print(f"pgcsms: {error}", file=sys.stderr)
        return 2
    if args.command == "config":
        print(settings.format())
        return 0
    log_level = settings["log_level"]
    if args.command == "demo" and settings.source("log_level") == "default":
        log_level = "WARNING"  # the live view is the output; lines about each charger would scroll it away
    logging_setup.configure(log_level, settings["log_format"])
    if args.command == "simulate":  # a client: no database
        from .simulator import run_command

        return run_command(args)
    if args.command == "demo":
        from .demo import run_command as run_demo

        return run_demo(args)
    try:
        return _run_configured(args, settings)
    except ConfigError as error:
        print(f"pgcsms: {error}", file=sys.stderr)
        return 2
    except EmbeddedPostgresError as error:
        print(f"pgcsms: {error}", file=sys.stderr)
        return 2
    except MigrationError as error:
        print(f"pgcsms: migration failed, nothing changed: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"pgcsms: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        if type(error).__module__.startswith(("psycopg", "asyncpg")):
            print(f"pgcsms: database error: {error}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
