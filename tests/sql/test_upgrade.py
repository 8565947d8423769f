"""Upgrading from the first release: data survives and the schema is a fresh install's.

The old release is this repository's first commit with migrations: its
``proxy/`` and ``sql/`` are extracted with ``git archive`` and its own
``migrate`` builds the database, as that release did. Then today's migrate runs
on it, and a catalog query compares it with a freshly migrated database. A
difference means the history of migrations does not lead where a fresh install
does: typically a function whose signature changed, left behind because no
migration dropped it.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pgcsms.proxy.migrate import migrate

ROOT = Path(__file__).resolve().parents[2]
FIRST_MIGRATION = "sql/migrations/0001_foundation.sql"

# What a schema is made of, one line per fact; equal lines, equal schemas.
SCHEMA = """
WITH ns AS (SELECT oid, nspname FROM pg_namespace WHERE nspname IN ('ocpp', 'pgcsms')),
rel AS (SELECT c.oid, c.relkind, c.relacl, format('%I.%I', ns.nspname, c.relname) AS name
          FROM pg_class AS c JOIN ns ON ns.oid = c.relnamespace)
SELECT format('relation %s %s: %s', rel.relkind, rel.name,
              string_agg(format('%I %s%s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                CASE WHEN a.attnotnull THEN ' NOT NULL' END,
                                ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid),
                                CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text END),
                         ', ' ORDER BY a.attnum))
  FROM rel
  JOIN pg_attribute AS a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef AS d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum)
 GROUP BY rel.relkind, rel.name
UNION ALL
SELECT format('view %s: %s', rel.name, pg_get_viewdef(rel.oid)) FROM rel WHERE rel.relkind IN ('v', 'm')
UNION ALL
SELECT format('grants %s: %s', rel.name, rel.relacl) FROM rel WHERE rel.relacl IS NOT NULL
UNION ALL
SELECT format('comment %s: %s', rel.name, obj_description(rel.oid, 'pg_class')) FROM rel
 WHERE obj_description(rel.oid, 'pg_class') IS NOT NULL
UNION ALL
SELECT format('index %s', pg_get_indexdef(i.indexrelid)) FROM pg_index AS i JOIN rel ON rel.oid = i.indrelid
UNION ALL
SELECT format('constraint %s %I: %s', rel.name, c.conname, pg_get_constraintdef(c.oid))
  FROM pg_constraint AS c JOIN rel ON rel.oid = c.conrelid
UNION ALL
SELECT format('trigger %s', pg_get_triggerdef(t.oid)) FROM pg_trigger AS t JOIN rel ON rel.oid = t.tgrelid
 WHERE NOT t.tgisinternal
UNION ALL
SELECT format('type %s %s: %s', t.oid::regtype, t.typtype,
              (SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)
                 FROM pg_enum AS e WHERE e.enumtypid = t.oid))
  FROM pg_type AS t JOIN ns ON ns.oid = t.typnamespace
 WHERE t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND t.typrelid IN (SELECT oid FROM rel WHERE relkind = 'c'))
UNION ALL
SELECT format('function %s -> %s, %s %s%s %s body %s, grants %s, comment %s', p.oid::regprocedure,
              pg_get_function_result(p.oid), l.lanname, p.provolatile,
              CASE WHEN p.prosecdef THEN ' SECURITY DEFINER' ELSE '' END, p.proconfig, md5(p.prosrc), p.proacl,
              md5(obj_description(p.oid, 'pg_proc')))
  FROM pg_proc AS p JOIN ns ON ns.oid = p.pronamespace JOIN pg_language AS l ON l.oid = p.prolang
UNION ALL
SELECT format('migration %s', migration_id) FROM public._yoyo_migration
"""


def schema(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as connection:
        return sorted(line for (line,) in connection.execute(SCHEMA))


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True,
                          timeout=60).stdout


@pytest.fixture(scope="module")
def first_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``proxy/`` and ``sql/`` trees of the first commit with migrations, extracted."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip(f"needs git and the repository's history ({ROOT}/.git): run from a git checkout")
    try:
        if _git("rev-parse", "--is-shallow-repository").strip() == "true":
            pytest.skip("a shallow clone lacks the first release: fetch the full history (git fetch --unshallow)")
        commit = _git("log", "--diff-filter=A", "--format=%H", "--", FIRST_MIGRATION).split()[-1]
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit, "proxy", "sql"],
                                 capture_output=True, check=True, timeout=60).stdout
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"git cannot read this repository's history: {exc.stderr.strip()}")
    tree = tmp_path_factory.mktemp("first-release")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    assert (tree / FIRST_MIGRATION).is_file()
    return tree


@pytest.fixture
def empty_dsn(dsn: str) -> Iterator[str]:
    """A database with nothing of ours in it, beside this test's migrated one."""
    name = "pgcsms_upgrade_test"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name}")
        connection.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    try:
        yield re.sub(r"/[^/?]+\?", f"/{name}?", dsn, count=1)
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def call(connection: psycopg.Connection, charge_point_id: str, action: str, payload: dict,
         unique_id: str | None = None) -> dict:
    result, error_code, error_description = connection.execute(
        "SELECT result, error_code, error_description FROM ocpp.parse(%s, %s, %s, %s::jsonb)",
        (charge_point_id, unique_id or f"{action}-{os.urandom(4).hex()}", action, json.dumps(payload))).fetchone()
    assert error_code is None, (action, error_code, error_description)
    return result


@pytest.mark.timeout(180)
def test_upgrading_from_the_first_release_keeps_the_data_and_ends_as_a_fresh_install(first_release, empty_dsn, dsn):
    # The first release migrates with its own code.
    done = subprocess.run([sys.executable, "-c", "import sys; from proxy.migrate import migrate; migrate(sys.argv[1])",
                           empty_dsn], cwd=first_release, env=dict(os.environ, PYTHONPATH=str(first_release)),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    old_schema = schema(empty_dsn)

    # A charger boots and charges. The first release's StartTransaction is broken
    # (a variable/column clash fixed in 017a8c8): its transaction is inserted
    # as that function would have; the rest goes through the old functions.
    with psycopg.connect(empty_dsn, autocommit=True) as connection:
        connection.execute("SELECT ocpp.add_charge_point('CP-UPGRADE')")
        connection.execute("SELECT ocpp.add_id_tag('TAG-UPGRADE')")
        assert call(connection, "CP-UPGRADE", "BootNotification",
                    {"chargePointVendor": "V", "chargePointModel": "M"})["status"] == "Accepted"
        transaction_id = connection.execute(
            "INSERT INTO pgcsms.transactions (charge_point_id, evse_id, connector_id, id_tag, authorization_status,"
            " meter_start, started_at, start_unique_id)"
            " VALUES ('CP-UPGRADE', 1, 1, 'TAG-UPGRADE', 'Accepted', 1000, '2026-01-01T10:00:00Z', 'start-1')"
            " RETURNING id").fetchone()[0]
        meter_values = {"connectorId": 1, "transactionId": transaction_id,
                        "meterValue": [{"timestamp": "2026-01-01T10:30:00Z", "sampledValue": [{"value": "1200"}]}]}
        assert call(connection, "CP-UPGRADE", "MeterValues", meter_values, unique_id="meter-1") == {}
        journal = connection.execute("SELECT * FROM ocpp.message_log ORDER BY id").fetchall()

    report = migrate(empty_dsn)
    assert report.applied_migrations, "the first release already had every migration: nothing was upgraded"
    upgraded = schema(empty_dsn)
    assert upgraded != old_schema

    fresh = schema(dsn)
    missing, extra = sorted(set(fresh) - set(upgraded)), sorted(set(upgraded) - set(fresh))
    assert (missing, extra) == ([], []), "upgraded schema differs from a fresh install's:\n" + "\n".join(
        [*(f"- {line[:300]}" for line in missing), *(f"+ {line[:300]}" for line in extra)])

    # The old rows are there, and today's functions carry on with them.
    with psycopg.connect(empty_dsn, autocommit=True) as connection:
        assert connection.execute(
            "SELECT charge_point_id, id_tag, meter_start, started_at = '2026-01-01T10:00:00Z', stopped_at "
            "FROM pgcsms.transactions WHERE id = %s", (transaction_id,)).fetchone() == (
            "CP-UPGRADE", "TAG-UPGRADE", 1000, True, None)
        # The journal reads as it did, a row a frame, though it now keeps an
        # exchange a row; a resend of a CALL journaled the old way is still
        # answered from it and not applied again.
        assert connection.execute("SELECT * FROM ocpp.message_log ORDER BY id").fetchall() == journal
        assert call(connection, "CP-UPGRADE", "MeterValues", meter_values, unique_id="meter-1") == {}
        assert connection.execute("SELECT transaction_id, value FROM pgcsms.meter_values").fetchall() == [
            (transaction_id, "1200")]
        assert connection.execute(
            "SELECT error_detail LIKE 'resend of a CALL committed at %%' FROM ocpp.message_log "
            "ORDER BY id DESC LIMIT 1").fetchone() == (True,)
        stopped = call(connection, "CP-UPGRADE", "StopTransaction", {
            "transactionId": transaction_id, "meterStop": 1500, "timestamp": "2026-01-01T11:00:00Z",
            "idTag": "TAG-UPGRADE"})
        assert stopped["idTagInfo"]["status"] == "Accepted"
        assert connection.execute("SELECT meter_stop FROM pgcsms.transactions WHERE id = %s",
                                  (transaction_id,)).fetchone() == (1500,)
