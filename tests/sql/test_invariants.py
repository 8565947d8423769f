"""Invariants of the SQL API (../shared/DESIGN.md): checked on the migrated schema itself."""

import pytest

pytestmark = pytest.mark.rollback


async def test_every_security_definer_function_fixes_its_search_path(db):
    loose = await db.fetch("""
        SELECT p.oid::regprocedure::text AS name FROM pg_proc AS p
          JOIN pg_namespace AS n ON n.oid = p.pronamespace
         WHERE n.nspname IN ('ocpp', 'pgcsms') AND p.prosecdef
           AND NOT EXISTS (SELECT FROM unnest(p.proconfig) AS c WHERE c LIKE 'search_path=%')""")
    assert [r["name"] for r in loose] == []


async def test_every_public_relation_and_function_is_documented(db):
    undocumented = await db.fetch("""
        SELECT c.oid::regclass::text AS name FROM pg_class AS c
          JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = 'ocpp' AND c.relkind IN ('r', 'v', 'm') AND obj_description(c.oid, 'pg_class') IS NULL
        UNION ALL
        SELECT p.oid::regprocedure::text FROM pg_proc AS p
          JOIN pg_namespace AS n ON n.oid = p.pronamespace
         WHERE n.nspname = 'ocpp' AND obj_description(p.oid, 'pg_proc') IS NULL""")
    assert [r["name"] for r in undocumented] == []


async def test_no_table_lives_in_the_public_api_schema(db):
    tables = await db.fetch("""
        SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = 'ocpp' AND c.relkind = 'r'""")
    assert tables == []
