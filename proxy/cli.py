"""The ``pgcsms`` command: ``migrate``, ``serve``, ``rfid`` and ``simulate``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import logging
import os
import signal
import socket
import sys

from .embedded import EmbeddedPostgres, EmbeddedPostgresError
from .health import start_health_server
from .migrate import MigrationError, migrate
from .server import DEFAULT_MAX_FRAME_BYTES, CentralSystem, Limits
from .tls import server_context

__all__ = ["main"]

logger = logging.getLogger("pgcsms")


def _listen_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _version() -> str:
    try:
        return importlib.metadata.version("pgcsms")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgcsms", description="OCPP central system whose business rules live in PostgreSQL.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--log-level", default=os.environ.get("PGCSMS_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)

    def database_options(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--dsn", default=os.environ.get("PGCSMS_DSN"),
            help="PostgreSQL connection URI (or PGCSMS_DSN); without it, an embedded cluster")
        command.add_argument("--data-dir", help="data directory of the embedded cluster")

    migrate_command = commands.add_parser("migrate", help="apply migrations and function files")
    database_options(migrate_command)

    serve_command = commands.add_parser("serve", help="migrate, then serve OCPP-J over WebSocket")
    database_options(serve_command)
    serve_command.add_argument("--listen", type=_listen_address, default=("127.0.0.1", 9000),
                               metavar="HOST:PORT", help="WebSocket address (default 127.0.0.1:9000)")
    serve_command.add_argument("--node-id", help="name of this process among several sharing a database "
                               "(default HOSTNAME:PORT)")
    serve_command.add_argument("--pool-size", type=int, default=10,
                               help="database connections at most (default 10)")
    serve_command.add_argument("--parse-concurrency", type=int,
                               help="ocpp.parse round trips at once; more CALLs share a round trip and a commit "
                                    "(default: CPU cores, at most pool size - 2)")
    serve_command.add_argument("--health", type=_listen_address, metavar="HOST:PORT",
                               help="serve /health and /metrics over HTTP here (default: off)")
    serve_command.add_argument("--no-migrate", action="store_true",
                               help="do not migrate first (when serving as a role that may not)")
    serve_command.add_argument("--no-compression", action="store_true",
                               help="refuse permessage-deflate even when a charger offers it")
    tls = serve_command.add_argument_group("TLS (OCPP security profiles 2 and 3)")
    tls.add_argument("--tls-cert", action="append", help="server certificate chain (PEM); serves wss:// instead "
                     "of ws://; give it twice (an ECDSA and an RSA certificate, each with its --tls-key) to serve both")
    tls.add_argument("--tls-key", action="append", help="private key of the --tls-cert in the same position (PEM)")
    tls.add_argument("--tls-client-ca", help="CA that client certificates must chain to (profile 3)")
    limits = serve_command.add_argument_group("limits")
    defaults = Limits()
    limits.add_argument("--max-frame-bytes", type=int, default=DEFAULT_MAX_FRAME_BYTES,
                        help="larger frames close the connection with 1009")
    limits.add_argument("--max-nesting", type=int, default=defaults.max_nesting,
                        help="deeper JSON gets FormationViolation")
    limits.add_argument("--messages-per-second", type=float, default=defaults.messages_per_second,
                        help="per charger, sustained; past the burst the connection is closed with 1008")
    limits.add_argument("--message-burst", type=int, default=defaults.message_burst)
    limits.add_argument("--handshakes-per-second", type=float, default=defaults.handshakes_per_second,
                        help="per source address; past the burst HTTP 429")
    limits.add_argument("--handshake-burst", type=int, default=defaults.handshake_burst)
    limits.add_argument("--handshake-timeout", type=float, default=defaults.handshake_timeout)

    rfid_command = commands.add_parser("rfid", help="migrate, then record the cards an RFID reader on a serial "
                                       "port reads (ocpp.record_scan)")
    database_options(rfid_command)
    rfid_command.add_argument("--port", required=True, help="serial device, e.g. /dev/ttyUSB0 or a "
                              "/dev/serial/by-id/ link (opened again whenever it comes back)")
    rfid_command.add_argument("--baud", type=int, default=9600, help="baud rate (default 9600)")
    rfid_command.add_argument("--reader-id", help="name of the reader in ocpp.rfid_readers (default HOSTNAME:DEVICE)")
    rfid_command.add_argument("--protocol", choices=("line", "rdm6300"), default="line",
                              help="line: one card number per ASCII line; rdm6300: STX/ETX frames with checksum")
    rfid_command.add_argument("--debounce", type=float, default=2.0,
                              help="seconds: the same card read again within them is one scan (default 2)")
    rfid_command.add_argument("--no-migrate", action="store_true",
                              help="do not migrate first (when running as a role that may not)")

    sim = commands.add_parser("simulate", help="run simulated charge points against a central system")
    sim.add_argument("--url", required=True, help="central system, e.g. ws://127.0.0.1:9000/ocpp (+ /ID)")
    sim.add_argument("--count", type=int, default=1, help="chargers, named PREFIX0001... (default 1)")
    sim.add_argument("--protocol", choices=["1.6"], default="1.6")
    sim.add_argument("--profile", choices=["session", "idle", "meter-heavy"], default="session")
    sim.add_argument("--id-tag", action="append", help="a card drivers present, repeatable; with {n}, one card per "
                     "charger used there only (default SIM-TAG-{n}); a card is in one session at a time")
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


@contextlib.contextmanager
def _database(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Yield a DSN: the one given, or an embedded cluster's, stopped on the way out."""
    if args.dsn:
        yield args.dsn
        return
    cluster = EmbeddedPostgres(args.data_dir)
    dsn = cluster.start()
    print(f"pgcsms: embedded PostgreSQL in {cluster.data_dir}; connect with:\n  {cluster.psql_command()}",
          file=sys.stderr, flush=True)
    try:
        yield dsn
    finally:
        cluster.stop()


async def _serve(args: argparse.Namespace, dsn: str) -> None:
    host, port = args.listen
    node_id = args.node_id or f"{socket.gethostname()}:{port}"
    limits = Limits(
        max_frame_bytes=args.max_frame_bytes, max_nesting=args.max_nesting,
        messages_per_second=args.messages_per_second, message_burst=args.message_burst,
        handshakes_per_second=args.handshakes_per_second, handshake_burst=args.handshake_burst,
        handshake_timeout=args.handshake_timeout)
    context = None
    if args.tls_cert or args.tls_key or args.tls_client_ca:
        if not (args.tls_cert and args.tls_key) or len(args.tls_cert) != len(args.tls_key):
            raise SystemExit("pgcsms: --tls-cert and --tls-key go together, one key for each certificate")
        pairs = list(zip(args.tls_cert, args.tls_key, strict=True))
        context = server_context(*pairs[0], args.tls_client_ca, more_certificates=pairs[1:])
    central = CentralSystem(dsn, host=host, port=port, node_id=node_id, pool_size=args.pool_size,
                            parse_concurrency=args.parse_concurrency, limits=limits, ssl=context,
                            compression=not args.no_compression)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with central:
        health = await start_health_server(central, *args.health) if args.health else None
        print(f"pgcsms: serving {central.scheme}://{host}:{central.port}/ocpp/{{chargePointId}}",
              file=sys.stderr, flush=True)
        await stop.wait()
        logger.info("stopping")
        if health is not None:
            await health.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # websockets' debug log shows headers and frames: Authorization, AuthorizationKey.
    logging.getLogger("websockets").setLevel(max(logging.getLevelName(args.log_level), logging.INFO))
    if args.command == "simulate":  # a client: no database
        from .simulator import run_command

        return run_command(args)
    try:
        with _database(args) as dsn:
            if not getattr(args, "no_migrate", False):
                report = migrate(dsn)
                logger.info("schema ready: %d new migrations, %d function files applied",
                            len(report.applied_migrations), report.function_files)
            if args.command == "serve":
                # Chosen outside the except clause: a failure while serving must not
                # carry "No module named uvloop" as its context.
                try:
                    import uvloop  # type: ignore[import-not-found]
                except ImportError:
                    uvloop = None
                (asyncio.run if uvloop is None else uvloop.run)(_serve(args, dsn))
            elif args.command == "rfid":
                from pgcsms.hardware.rfid import serve as serve_rfid  # pyserial only for this command

                asyncio.run(serve_rfid(args.port, dsn, reader_id=args.reader_id, protocol=args.protocol,
                                       baudrate=args.baud, debounce=args.debounce))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
