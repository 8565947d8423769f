"""The SQL side agrees with the schema catalog: one source of which actions exist and who sends them."""

from __future__ import annotations

import re

import pytest
from pgcsms.proxy import catalog

pytestmark = pytest.mark.rollback

_WHEN = re.compile(r"WHEN\s+((?:'\w+'(?:\s*,\s*)?)+)\s+THEN\s+(?:PERFORM\s+)?(ocpp\.\w+)")


async def _routes(db, function: str) -> dict[str, str]:
    """action → the function its CASE calls, read from the function's own definition."""
    definition = await db.fetchval("SELECT pg_get_functiondef($1::regprocedure)", function)
    routes = {}
    for actions, handler in _WHEN.findall(definition):
        for action in re.findall(r"'(\w+)'", actions):
            routes[action] = handler
    return routes


async def test_the_sql_catalog_is_the_schema_catalog(db):
    rows = await db.fetch("SELECT ocpp_version, action, sent_by, answer_has_status, message_type "
                          "FROM ocpp.protocol_actions")
    assert {tuple(row) for row in rows} == set(catalog.rows())


async def test_every_2_0_1_station_action_has_a_handler_and_no_other(db):
    routes = await _routes(db, "ocpp._dispatch_v201(text, text, text, jsonb, text)")
    assert set(routes) == catalog.station_actions("2.0.1")


async def test_every_1_6_station_action_has_a_handler_and_no_other(db):
    routes = await _routes(db, "ocpp._dispatch(text, text, text, jsonb, text)")
    assert set(routes) == catalog.station_actions("1.6")


@pytest.mark.parametrize("function", ["ocpp._dispatch_v201(text, text, text, jsonb, text)",
                                      "ocpp._dispatch(text, text, text, jsonb, text)",
                                      "ocpp._command_effect_v201(pgcsms.commands)",
                                      "ocpp._command_effect(pgcsms.commands)"])
async def test_every_routed_function_exists(db, function):
    routes = await _routes(db, function)
    assert routes
    missing = [name for name in sorted(set(routes.values()))
               if not await db.fetchval("SELECT EXISTS (SELECT FROM pg_proc WHERE oid::regproc::text = $1 "
                                        "OR proname = split_part($1, '.', 2) "
                                        "AND pronamespace = 'ocpp'::regnamespace)", name)]
    assert missing == []


@pytest.mark.parametrize(("function", "version"), [("ocpp._command_effect_v201(pgcsms.commands)", "2.0.1"),
                                                   ("ocpp._command_effect(pgcsms.commands)", "1.6")])
async def test_command_effects_are_only_for_actions_we_send(db, function, version):
    routes = await _routes(db, function)
    assert set(routes) <= catalog.central_system_actions(version)


async def test_helpers_name_functions_that_exist(db):
    missing = await db.fetch("""
        SELECT a.ocpp_version, a.helper FROM ocpp.command_actions AS a
         WHERE a.helper IS NOT NULL
           AND NOT EXISTS (SELECT FROM pg_proc AS p WHERE p.pronamespace = 'ocpp'::regnamespace
                                                      AND p.proname = split_part(a.helper, '.', 2))""")
    assert missing == []
