"""OCPP 2.1 in the catalog and in SQL's routing: one source of which actions exist and who sends them.

The 2.1 message list is Part 2's, checked here against what the schema files
give: 2.0.1's 64 actions, and 27 new ones (Part 0 §2: battery swap, DER
control, priority charging, dynamic schedules, ad hoc payment, periodic
event streams, certificate chain status, bidirectional power transfer,
tariffs), of which NotifyPeriodicEventStream is a SEND.
"""

from __future__ import annotations

import re

import pytest
from pgcsms.proxy import catalog

pytestmark = pytest.mark.rollback

NEW_STATION_ACTIONS = {
    "BatterySwap", "NotifyDERAlarm", "NotifyDERStartStop", "ReportDERControl", "NotifyPriorityCharging",
    "PullDynamicScheduleUpdate", "NotifySettlement", "VatNumberValidation", "OpenPeriodicEventStream",
    "ClosePeriodicEventStream", "NotifyPeriodicEventStream", "GetCertificateChainStatus",
}
NEW_CSMS_ACTIONS = {
    "RequestBatterySwap", "SetDERControl", "GetDERControl", "ClearDERControl", "UsePriorityCharging",
    "UpdateDynamicSchedule", "NotifyWebPaymentStarted", "GetPeriodicEventStream", "AdjustPeriodicEventStream",
    "SetDefaultTariff", "GetTariffs", "ClearTariffs", "ChangeTransactionTariff", "NotifyAllowedEnergyTransfer",
    "AFRRSignal",
}

_WHEN = re.compile(r"WHEN\s+((?:'\w+'(?:\s*,\s*)?)+)\s+THEN\s+(?:PERFORM\s+)?(ocpp\.\w+)")


async def _routes(db, function: str) -> dict[str, str]:
    definition = await db.fetchval("SELECT pg_get_functiondef($1::regprocedure)", function)
    return {action: handler for actions, handler in _WHEN.findall(definition)
            for action in re.findall(r"'(\w+)'", actions)}


def test_2_1_is_2_0_1_and_27_new_messages():
    v21, v201 = catalog.actions("2.1"), catalog.actions("2.0.1")
    assert len(v21) == 91 and set(v201) < set(v21)
    assert set(v21) - set(v201) == NEW_STATION_ACTIONS | NEW_CSMS_ACTIONS
    assert catalog.station_actions("2.1") == catalog.station_actions("2.0.1") | NEW_STATION_ACTIONS
    assert catalog.central_system_actions("2.1") == catalog.central_system_actions("2.0.1") | NEW_CSMS_ACTIONS


def test_a_send_is_an_action_without_a_response_schema():
    assert catalog.send_actions("2.1") == {"NotifyPeriodicEventStream"}
    action = catalog.actions("2.1")["NotifyPeriodicEventStream"]
    assert (action.response, action.sent_as_send, action.message_type, action.answer_has_status) == (None, True, 6,
                                                                                                     False)
    assert catalog.send_actions("2.0.1") == catalog.send_actions("1.6") == frozenset()


def test_2_1_is_offered_first():
    assert next(iter(catalog.VERSIONS)) == "2.1"
    assert catalog.SUBPROTOCOLS["ocpp2.1"] == "2.1"


async def test_the_sql_catalog_knows_how_each_2_1_action_travels(db):
    rows = await db.fetch("SELECT action, sent_by, message_type FROM ocpp.protocol_actions WHERE ocpp_version = '2.1'")
    assert len(rows) == 37 + 55
    assert {(r["action"], r["sent_by"]) for r in rows if r["message_type"] == 6} == {
        ("NotifyPeriodicEventStream", "ChargingStation")}


async def test_every_2_1_station_action_has_a_handler_and_no_other(db):
    own = await _routes(db, "ocpp._dispatch_v21(text, text, text, jsonb)")
    shared = await _routes(db, "ocpp._dispatch_v201(text, text, text, jsonb, text)")
    assert set(own) >= NEW_STATION_ACTIONS
    assert set(own) <= catalog.station_actions("2.1")
    assert set(own) | set(shared) == catalog.station_actions("2.1")
    assert all(handler.startswith("ocpp.v21_") for handler in own.values())


async def test_2_1_command_effects_are_only_for_2_1_commands_and_exist(db):
    routes = await _routes(db, "ocpp._command_effect_v21(pgcsms.commands)")
    assert set(routes) <= catalog.central_system_actions("2.1")
    assert set(routes) & NEW_CSMS_ACTIONS == set(routes)
    handlers = await _routes(db, "ocpp._dispatch_v21(text, text, text, jsonb)")
    for handler in set(routes.values()) | set(handlers.values()):
        assert await db.fetchval("SELECT EXISTS (SELECT FROM pg_proc WHERE proname = split_part($1, '.', 2) "
                                 "AND pronamespace = 'ocpp'::regnamespace)", handler), handler


async def test_every_2_1_command_has_a_helper(db):
    missing = await db.fetch("SELECT action FROM ocpp.command_actions WHERE ocpp_version = '2.1' AND helper IS NULL")
    assert [r["action"] for r in missing] == []
    helpers = await db.fetch("SELECT helper FROM ocpp.command_actions WHERE ocpp_version = '2.1'")
    for row in helpers:
        assert await db.fetchval("SELECT EXISTS (SELECT FROM pg_proc WHERE proname = split_part($1, '.', 2) "
                                 "AND pronamespace = 'ocpp'::regnamespace)", row["helper"]), row["helper"]
