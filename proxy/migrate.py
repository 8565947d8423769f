"""``pgcsms migrate``: the schema, then every function file, under one lock.

Tables, types, indexes, roles and grants are versioned yoyo migrations in
``sql/migrations/``. Function bodies live in ``sql/functions/`` and are applied
again on every run with ``CREATE OR REPLACE``: yoyo's post-apply hooks run only
when a new migration was applied, so this step is ours. All of it happens in
one transaction, under an advisory lock that serialises concurrent runs (two
``pgcsms serve`` starting together); a broken file rolls everything back.

Function files are applied with body checks off (bodies call each other, so
file order must not matter), then every body in our schemas is checked once
everything exists, before the commit: a typo in PL/pgSQL fails the migration,
naming its file, instead of every call at run time.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri

from . import catalog, dbconnect

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
    validated_functions: int = 0


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
    with psycopg.connect(dbconnect.libpq_dsn(dsn), autocommit=True) as connection:
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
        _fill_protocol_catalog(connection)
        # Bodies reference each other: apply them unchecked, in any file order,
        # then check them all once everything exists.
        connection.execute("SET LOCAL check_function_bodies = off")
        for path in function_files:
            try:
                connection.execute(path.read_text(encoding="utf-8"))
            except psycopg.Error as exc:
                where = path.relative_to(root.parent)
                raise MigrationError(f"{where}: {exc.diag.message_primary or exc}") from exc
        validated = _check_bodies(connection, root, function_files)
        # Whoever runs this, no function of ours is callable by PUBLIC; each
        # file grants what its callers need.
        connection.execute("REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA ocpp, pgcsms FROM PUBLIC")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return MigrationReport([m.id for m in pending], len(function_files), validated)


def _fill_protocol_catalog(connection: psycopg.Connection) -> None:
    """pgcsms.protocol_actions from the ocpp package's schema files (proxy/catalog.py): SQL keeps no list."""
    rows = catalog.rows()
    connection.execute(
        """
        WITH wanted AS (
            SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::boolean[], %s::smallint[])
                       AS w (ocpp_version, action, sent_by, answer_has_status, message_type)),
        gone AS (
            DELETE FROM pgcsms.protocol_actions AS p
             WHERE NOT EXISTS (SELECT FROM wanted AS w
                                WHERE (w.ocpp_version, w.action, w.sent_by) = (p.ocpp_version, p.action, p.sent_by)))
        INSERT INTO pgcsms.protocol_actions AS p (ocpp_version, action, sent_by, answer_has_status, message_type)
        SELECT * FROM wanted
        ON CONFLICT (ocpp_version, action, sent_by) DO UPDATE
           SET answer_has_status = excluded.answer_has_status, message_type = excluded.message_type
         WHERE (p.answer_has_status, p.message_type)
               IS DISTINCT FROM (excluded.answer_has_status, excluded.message_type)
        """,
        [list(column) for column in zip(*rows, strict=True)])


# What our files define, read from their text: which schemas are ours, and where each function lives.
# (Case-insensitive keywords only: a whole-pattern re.I makes this scan five times slower.)
_DEFINITION = re.compile(
    r'(?i:create)\s+(?:(?i:schema)\s+(?:(?i:if\s+not\s+exists)\s+)?("[^"]+"|\w+)'
    r'|(?:(?i:or\s+replace)\s+)?(?i:function|procedure)\s+("[^"]+"|\w+)\s*\.\s*("[^"]+"|\w+)\s*\()')

# The routines of our schemas whose language checks bodies; extension members
# (pgcrypto lives in pgcsms) are not ours to check.
_ROUTINES = """
SELECT p.oid, n.nspname, p.proname, l.lanvalidator::regproc::text, coalesce(p.proconfig, '{}')
  FROM pg_proc AS p
  JOIN pg_namespace AS n ON n.oid = p.pronamespace
  JOIN pg_language AS l ON l.oid = p.prolang
 WHERE n.nspname = ANY (%s) AND l.lanname IN ('plpgsql', 'sql') AND p.prokind IN ('f', 'p')
   AND NOT EXISTS (SELECT FROM pg_depend AS d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
 ORDER BY n.nspname, p.proname, p.oid
"""

_UNDO = "ROLLBACK TO SAVEPOINT pgcsms_check; RELEASE SAVEPOINT pgcsms_check"


def _identifier(token: str) -> str:
    return token[1:-1].replace('""', '"') if token.startswith('"') else token.lower()


def _check_bodies(connection: psycopg.Connection, root: Path, function_files: list[Path]) -> int:
    """Check every function body of our schemas as ``CREATE FUNCTION`` would have; return how many.

    PL/pgSQL gets its syntax checked (names in its statements resolve only when
    they run); SQL bodies are also resolved against the tables and functions
    that now exist. Each check runs under the function's own settings (its
    ``SET search_path``). One statement checks all functions of a language
    and settings; only when it fails are they checked one by one, to name
    every broken body.
    """
    started = time.perf_counter()
    schemas: set[str] = set()
    homes: dict[tuple[str, str], Path] = {}
    # Function files last: a function's home is the file that now defines it, not its first migration.
    for path in [*sorted((root / "migrations").glob("*.sql")), *function_files]:
        for created, schema, name in _DEFINITION.findall(path.read_text(encoding="utf-8")):
            if created:
                schemas.add(_identifier(created))
            else:
                homes[_identifier(schema), _identifier(name)] = path
    connection.execute("SET LOCAL check_function_bodies = on")
    routines = connection.execute(_ROUTINES, (sorted(schemas),)).fetchall()
    groups: dict[tuple[str, tuple[str, ...]], list[tuple[int, str, str]]] = {}
    for oid, schema, name, validator, settings in routines:
        groups.setdefault((validator, tuple(settings)), []).append((oid, schema, name))
    failures: list[str] = []
    for (validator, settings), members in groups.items():
        if _check(connection, validator, settings, [oid for oid, _, _ in members]) is None:
            continue
        for oid, schema, name in members:
            error = _check(connection, validator, settings, [oid])
            if error is not None:
                home = homes.get((schema, name))
                where = home.relative_to(root.parent) if home else "no file of sql/ defines it"
                failures.append(f"{where}: {schema}.{name}: {error.diag.message_primary or error}"
                                f"{_line(connection, oid, home, error)}")
    logger.debug("checked %d function bodies in %.0f ms", len(routines), (time.perf_counter() - started) * 1e3)
    if failures:
        raise MigrationError("; ".join(failures))
    return len(routines)


def _check(connection: psycopg.Connection, validator: str, settings: tuple[str, ...],
           oids: list[int]) -> psycopg.Error | None:
    """Run a language's validator on functions, under settings that a savepoint then undoes."""
    statements: list[sql.Composable] = [sql.SQL("SAVEPOINT pgcsms_check")]
    statements.extend(sql.SQL("SELECT set_config({}, {}, true)").format(*map(sql.Literal, item.split("=", 1)))
                      for item in settings)
    statements.append(sql.SQL("SELECT {}(oid) FROM unnest({}::oid[]) AS oid").format(
        sql.SQL(validator), sql.Literal(oids)))
    statements.append(sql.SQL(_UNDO))
    try:
        connection.execute(sql.SQL("; ").join(statements).as_string(connection))
    except psycopg.OperationalError:
        raise  # the connection or a timeout, not a body
    except psycopg.Error as exc:
        connection.execute(_UNDO)
        return exc
    return None


def _line(connection: psycopg.Connection, oid: int, home: Path | None, error: psycopg.Error) -> str:
    """Where in its file (or else in its body) the language saw the error, as a suffix; or nothing."""
    row = connection.execute("SELECT prosrc FROM pg_proc WHERE oid = %s", (oid,)).fetchone()
    body: str = row[0] if row else ""
    near = re.search(r"\bnear line (\d+)", error.diag.context or "")
    if error.diag.internal_position and error.diag.internal_query == body:
        line = body.count("\n", 0, int(error.diag.internal_position) - 1) + 1
    elif near:
        line = int(near.group(1))
    else:
        return ""
    text = home.read_text(encoding="utf-8") if home else ""
    start = text.find(body) if body.strip() else -1
    if start < 0:
        return f" (line {line} of its body)"
    return f" (line {text.count(chr(10), 0, start) + line})"
