"""The ``pgcsms`` command: ``migrate`` and ``serve``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys

from .embedded import EmbeddedPostgres, EmbeddedPostgresError
from .migrate import MigrationError, migrate
from .server import DEFAULT_MAX_FRAME_BYTES, CentralSystem, Limits

__all__ = ["main"]

logger = logging.getLogger("pgcsms")


def _listen_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgcsms", description="OCPP central system whose business rules live in PostgreSQL.")
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
    serve_command.add_argument("--max-frame-bytes", type=int, default=DEFAULT_MAX_FRAME_BYTES)
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
    central = CentralSystem(dsn, host=host, port=port, node_id=node_id, pool_size=args.pool_size,
                            limits=Limits(max_frame_bytes=args.max_frame_bytes))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with central:
        print(f"pgcsms: serving ws://{host}:{central.port}/ocpp/{{chargePointId}}", file=sys.stderr, flush=True)
        await stop.wait()
        logger.info("stopping")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with _database(args) as dsn:
            report = migrate(dsn)
            logger.info("schema ready: %d new migrations, %d function files applied",
                        len(report.applied_migrations), report.function_files)
            if args.command == "serve":
                try:
                    import uvloop  # type: ignore[import-not-found]
                except ImportError:
                    asyncio.run(_serve(args, dsn))
                else:
                    uvloop.run(_serve(args, dsn))
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
