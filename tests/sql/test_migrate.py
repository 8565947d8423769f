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
    assert report.function_files == len(list((pgcsms.proxy.migrate.sql_dir() / "functions").glob("*.sql")))
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
