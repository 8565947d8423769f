"""``pgcsms migrate``: idempotent, atomic, serialised."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pgcsms.proxy.migrate
import psycopg
import pytest
from pgcsms.proxy.migrate import MigrationError, migrate

# Everything a migration or function file defines, as text: equal text, equal schema.
_FINGERPRINT = """
SELECT (SELECT string_agg(p.oid::regprocedure::text || md5(pg_get_functiondef(p.oid))
                          || coalesce(array_to_string(p.proacl, ','), ''), ';' ORDER BY p.oid::regprocedure::text)
          FROM pg_proc AS p WHERE p.pronamespace IN ('ocpp'::regnamespace, 'pgcsms'::regnamespace)),
       (SELECT string_agg(c.relname::text || c.relkind::text || coalesce(array_to_string(c.relacl, ','), ''), ';'
                          ORDER BY c.relname)
          FROM pg_class AS c WHERE c.relnamespace IN ('ocpp'::regnamespace, 'pgcsms'::regnamespace)),
       (SELECT count(*) FROM public._yoyo_migration)
"""


def fingerprint(dsn: str) -> tuple:
    with psycopg.connect(dsn) as connection:
        return connection.execute(_FINGERPRINT).fetchone()


def exists(dsn: str, regclass_or_proc: str, kind: str = "regclass") -> bool:
    with psycopg.connect(dsn) as connection:
        return connection.execute(f"SELECT to_{kind}(%s) IS NOT NULL", (regclass_or_proc,)).fetchone()[0]


@pytest.fixture
def sql_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the sql/ tree that migrate() reads instead of the real one."""
    root = tmp_path / "sql"
    shutil.copytree(pgcsms.proxy.migrate.sql_dir(), root, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    monkeypatch.setattr(pgcsms.proxy.migrate, "sql_dir", lambda: root)
    return root


def test_migrating_again_is_a_no_op(dsn):
    before = fingerprint(dsn)
    report = migrate(dsn)
    assert report.applied_migrations == []
    assert report.function_files == len(list((pgcsms.proxy.migrate.sql_dir() / "functions").rglob("*.sql")))
    assert fingerprint(dsn) == before


def test_a_broken_function_file_changes_nothing(dsn, sql_copy):
    before = fingerprint(dsn)
    (sql_copy / "migrations" / "9999_extra.sql").write_text("CREATE TABLE pgcsms.extra (id int);\n")
    (sql_copy / "functions" / "aaa_marker.sql").write_text(
        "CREATE OR REPLACE FUNCTION ocpp.marker() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n")
    (sql_copy / "functions" / "on_heartbeat.sql").write_text(
        (sql_copy / "functions" / "on_heartbeat.sql").read_text().replace("currentTime", "changedTime"))
    (sql_copy / "functions" / "zzz_broken.sql").write_text(
        "CREATE OR REPLACE FUNCTION ocpp.broken() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\nSELEC oops;\n")
    with pytest.raises(MigrationError) as caught:
        migrate(dsn)
    assert "functions/zzz_broken.sql" in str(caught.value)
    assert "syntax error" in str(caught.value)
    assert fingerprint(dsn) == before
    assert not exists(dsn, "pgcsms.extra")
    assert not exists(dsn, "ocpp.marker()", "regprocedure")

    # Mended, the same run goes through: the new migration once, every function file.
    (sql_copy / "functions" / "zzz_broken.sql").unlink()
    assert migrate(dsn).applied_migrations == ["9999_extra"]
    assert exists(dsn, "pgcsms.extra") and exists(dsn, "ocpp.marker()", "regprocedure")
    assert migrate(dsn).applied_migrations == []


def test_a_broken_migration_changes_nothing(dsn, sql_copy):
    before = fingerprint(dsn)
    (sql_copy / "migrations" / "9998_good.sql").write_text("CREATE TABLE pgcsms.good (id int);\n")
    (sql_copy / "migrations" / "9999_bad.sql").write_text("ALTER TABLE pgcsms.nowhere ADD COLUMN x int;\n")
    with pytest.raises(MigrationError, match="migration 9999_bad"):
        migrate(dsn)
    assert fingerprint(dsn) == before
    assert not exists(dsn, "pgcsms.good")


def test_concurrent_runs_are_serialised(dsn):
    before = fingerprint(dsn)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(dsn)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert fingerprint(dsn) == before


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}: adapt the test to the file"
    path.write_text(text.replace(old, new, 1))


def test_a_typo_in_a_plpgsql_body_fails_naming_its_file(dsn, sql_copy):
    before = fingerprint(dsn)
    (sql_copy / "migrations" / "9999_extra.sql").write_text("CREATE TABLE pgcsms.extra (id int);\n")
    _edit(sql_copy / "functions" / "on_heartbeat.sql", "RETURN jsonb_build_object", "RETRN jsonb_build_object")
    with pytest.raises(MigrationError) as caught:
        migrate(dsn)
    message = str(caught.value)
    assert message.startswith("sql/functions/on_heartbeat.sql: ocpp.on_heartbeat: syntax error"), message
    assert "RETRN" in message and message.endswith("(line 6)")
    assert fingerprint(dsn) == before
    assert not exists(dsn, "pgcsms.extra")


def test_a_broken_sql_body_fails_naming_its_file_and_every_other_broken_one(dsn, sql_copy):
    before = fingerprint(dsn)
    _edit(sql_copy / "functions" / "authentication.sql", "INSERT INTO pgcsms.auth_failures (",
          "INSERT INTO pgcsms.auth_failure (")
    _edit(sql_copy / "functions" / "on_heartbeat.sql", "RETURN jsonb_build_object", "RETRN jsonb_build_object")
    with pytest.raises(MigrationError) as caught:
        migrate(dsn)
    message = str(caught.value)
    assert ('sql/functions/authentication.sql: ocpp.log_auth_failure: relation "pgcsms.auth_failure" does not exist'
            in message), message
    assert "sql/functions/on_heartbeat.sql: ocpp.on_heartbeat: syntax error" in message
    assert fingerprint(dsn) == before


def test_a_body_is_checked_under_its_own_search_path(dsn, sql_copy):
    # Valid where it runs (SET search_path = pgcsms), unresolvable under migrate's own search_path.
    (sql_copy / "functions" / "zzz_own_path.sql").write_text(
        "CREATE OR REPLACE FUNCTION ocpp.own_path() RETURNS bigint LANGUAGE sql SET search_path = pgcsms\n"
        "AS $$ SELECT count(*) FROM auth_failures $$;\n")
    migrate(dsn)
    assert exists(dsn, "ocpp.own_path()", "regprocedure")

    # Unqualified under pg_catalog, pg_temp, as in every SECURITY DEFINER function of ours: a failure.
    _edit(sql_copy / "functions" / "zzz_own_path.sql", "SET search_path = pgcsms", "SET search_path = pg_catalog")
    with pytest.raises(MigrationError, match=r'zzz_own_path\.sql: ocpp\.own_path: relation "auth_failures"'):
        migrate(dsn)


def test_a_broken_body_no_file_defines_is_reported_as_such(dsn):
    with psycopg.connect(dsn) as connection:
        connection.execute("SET check_function_bodies = off")
        connection.execute("CREATE FUNCTION pgcsms.left_over() RETURNS int LANGUAGE plpgsql AS $$ BEGN END $$")
    with pytest.raises(MigrationError, match=r"^no file of sql/ defines it: pgcsms\.left_over: syntax error"):
        migrate(dsn)


def test_every_body_of_the_real_tree_is_checked_and_valid(dsn):
    report = migrate(dsn)
    with psycopg.connect(dsn) as connection:
        ours = connection.execute(
            "SELECT count(*) FROM pg_proc AS p JOIN pg_language AS l ON l.oid = p.prolang "
            "WHERE p.pronamespace IN ('ocpp'::regnamespace, 'pgcsms'::regnamespace, 'reports'::regnamespace) "
            "AND l.lanname IN ('plpgsql', 'sql')").fetchone()[0]
    assert ours > 50
    assert report.validated_functions == ours
