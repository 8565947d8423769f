"""``pgcsms migrate``: the schema, then every function file, under one lock.

Tables, types, indexes, roles and grants are versioned yoyo migrations in
``sql/migrations/``. Function bodies live in ``sql/functions/`` and are applied
again on every run with ``CREATE OR REPLACE``: yoyo's post-apply hooks run only
when a new migration was applied, so this step is ours. All of it happens in
one transaction, under an advisory lock that serialises concurrent runs (two
``pgcsms serve`` starting together); a broken file rolls everything back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri

__all__ = ["MigrationError", "MigrationReport", "migrate", "sql_dir"]

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key: the bytes of "pgcsms" read as an integer.
ADVISORY_LOCK_KEY = int.from_bytes(b"pgcsms", "big")


class MigrationError(RuntimeError):
    """A migration or function file failed; nothing was changed."""


@dataclass(frozen=True, slots=True)
class MigrationReport:
    applied_migrations: list[str]
    function_files: int


def sql_dir() -> Path:
    """The ``sql/`` directory, which is always beside ``proxy/``.

    In a checkout (and an editable install) that is the repository's ``sql/``;
    installed from a wheel, ``pgcsms/sql`` beside ``pgcsms/proxy`` in
    site-packages. Raises :class:`MigrationError` when it holds no migrations,
    so a broken install never "succeeds" by applying nothing.
    """
    root = Path(__file__).resolve().parent.parent / "sql"
    if not (root / "migrations").is_dir() or not any((root / "migrations").glob("*.sql")):
        raise MigrationError(f"no SQL migrations in {root}: the pgcsms installation is incomplete")
    return root


class _Backend(PostgresqlPsycopgBackend):
    """yoyo's psycopg backend on our DSN, in the transaction we hold.

    yoyo normally opens a connection per migration and commits each one; we
    hand it our connection, so its commits become savepoint releases inside
    our single transaction.
    """

    def __init__(self, connection: psycopg.Connection) -> None:
        self._shared = connection
        super().__init__(parse_uri("postgresql+psycopg:///pgcsms"), "_yoyo_migration")

    def connect(self, dburi: object) -> psycopg.Connection:
        return self._shared

    def copy(self) -> _Backend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """The connection is ours to close, not yoyo's."""


def migrate(dsn: str) -> MigrationReport:
    """Apply pending migrations and every function file, atomically."""
    root = sql_dir()
    # sql/functions/*.sql are shared by every OCPP version; sql/functions/v201/ etc. hold one version's handlers.
    function_files = sorted((root / "functions").rglob("*.sql"), key=lambda path: path.relative_to(root).parts)
    with psycopg.connect(dsn, autocommit=True) as connection:
        # yoyo keeps its bookkeeping in the current schema; pin it, since
        # "$user" could resolve to one of ours for a role named like it.
        connection.execute("SET search_path = public")
        connection.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            return _migrate_locked(connection, root, function_files)
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def _migrate_locked(connection: psycopg.Connection, root: Path, function_files: list[Path]) -> MigrationReport:
    backend = _Backend(connection)
    backend.init_database()
    backend.ensure_internal_schema_updated()  # yoyo's own bookkeeping tables
    connection.execute("BEGIN")
    try:
        backend._in_transaction = True  # yoyo nests its transactions as savepoints in ours
        backend._is_locked = True  # our advisory lock stands for yoyo's lock table
        migrations = read_migrations(str(root / "migrations"))
        pending = backend.to_apply(migrations)
        for migration in pending:
            logger.info("applying migration %s", migration.id)
            try:
                backend.apply_one(migration)
            except psycopg.Error as exc:
                raise MigrationError(f"migration {migration.id}: {exc.diag.message_primary or exc}") from exc
        # Bodies reference each other; check them when called, not in file order.
        connection.execute("SET LOCAL check_function_bodies = off")
        for path in function_files:
            try:
                connection.execute(path.read_text(encoding="utf-8"))
            except psycopg.Error as exc:
                where = path.relative_to(root.parent)
                raise MigrationError(f"{where}: {exc.diag.message_primary or exc}") from exc
        # Whoever runs this, no function of ours is callable by PUBLIC; each
        # file grants what its callers need.
        connection.execute("REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA ocpp, pgcsms FROM PUBLIC")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return MigrationReport([m.id for m in pending], len(function_files))
