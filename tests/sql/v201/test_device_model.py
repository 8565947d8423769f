"""The OCPP 2.0.1 device model at the SQL layer: reports, Get/SetVariables, monitoring.

Each station's components and variables come from NotifyReport pages (asked
for with GetBaseReport or GetReport), GetVariables and SetVariables answers;
monitors from NotifyMonitoringReport and the monitoring commands. Payloads in
and out are checked against the 2.0.1 schemas (helpers of test_provisioning).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from test_provisioning import NODE, STATION, V201, Station, call, iso, online

pytestmark = pytest.mark.rollback

NOW = iso(datetime.now(UTC))


@pytest.fixture
async def station(db: asyncpg.Connection) -> Station:
    return await online(db)


@pytest.fixture(autouse=True)
async def effects_never_fail(db: asyncpg.Connection):
    yield
    assert await db.fetch("SELECT detail FROM ocpp.anomalies WHERE kind = 'command_effect_failed'") == []


def item(component: str | dict[str, Any], variable: str | dict[str, Any], *attributes: dict[str, Any],
         **characteristics: Any) -> dict[str, Any]:
    """A ReportDataType: attributes default to one Actual ReadWrite "1"."""
    data = {"component": {"name": component} if isinstance(component, str) else component,
            "variable": {"name": variable} if isinstance(variable, str) else variable,
            "variableAttribute": list(attributes) or [{"value": "1", "mutability": "ReadWrite"}]}
    if characteristics:
        data["variableCharacteristics"] = {"dataType": "integer", "supportsMonitoring": False, **characteristics}
    return data


async def report(db, request_id: int, seq_no: int, *items: dict[str, Any], tbc: bool = False,
                 station: str = STATION) -> None:
    payload = {"requestId": request_id, "generatedAt": NOW, "seqNo": seq_no, "tbc": tbc}
    if items:
        payload["reportData"] = list(items)
    assert (await call(db, "NotifyReport", payload, station=station)).result == {}


async def model(db, where: str = "true", *args: Any) -> list[dict[str, Any]]:
    rows = await db.fetch(f"SELECT component, component_instance, evse_id, connector_id, variable, variable_instance, "
                          f"attribute_type, value, source FROM ocpp.device_variables WHERE {where} "
                          f"ORDER BY charge_point_id, lower(component), evse_id NULLS FIRST, connector_id NULLS FIRST, "
                          f"lower(variable), variable_instance NULLS FIRST, attribute_type", *args)
    return [dict(r) for r in rows]


def row(component, variable, value, *, source="report", attribute_type="Actual", evse=None, connector=None,
        component_instance=None, variable_instance=None) -> dict[str, Any]:
    return {"component": component, "component_instance": component_instance, "evse_id": evse,
            "connector_id": connector, "variable": variable, "variable_instance": variable_instance,
            "attribute_type": attribute_type, "value": value, "source": source}


# -- reports ----------------------------------------------------------------------

async def test_get_base_report_and_its_pages_fill_the_device_model(db, station):
    command = await station.run("SELECT ocpp.get_base_report($1)", STATION, response={"status": "Accepted"})
    request_id = json.loads(command["payload"])["requestId"]
    assert json.loads(command["payload"]) == {"requestId": request_id, "reportBase": "FullInventory"}
    await report(db, request_id, 0,
                 item("OCPPCommCtrlr", "OfflineThreshold",
                      {"type": "Actual", "value": "60", "mutability": "ReadWrite", "persistent": True},
                      {"type": "MaxSet", "value": "3600", "mutability": "ReadOnly", "constant": True},
                      unit="s", minLimit=0, maxLimit=3600),
                 item("SecurityCtrlr", "BasicAuthPassword", {"mutability": "WriteOnly"}, dataType="string"),
                 tbc=True)
    progress = await db.fetchrow("SELECT * FROM ocpp.report_requests")
    assert (progress["status"], progress["complete"], progress["pages"], progress["items"]) == (
        "Accepted", False, 1, 2)
    await report(db, request_id, 1,
                 item({"name": "EVSE", "evse": {"id": 1}}, "Power", {"value": "22000"}, unit="W", dataType="decimal"),
                 item({"name": "Connector", "evse": {"id": 1, "connectorId": 1}}, "ConnectorType",
                      {"value": "cType2", "mutability": "ReadOnly"}, dataType="OptionList",
                      valuesList="cType2,sType2"),
                 item({"name": "DeviceDataCtrlr"}, {"name": "ItemsPerMessage", "instance": "GetVariables"},
                      {"value": "10", "mutability": "ReadOnly"}))
    assert await model(db) == [
        row("Connector", "ConnectorType", "cType2", evse=1, connector=1),
        row("DeviceDataCtrlr", "ItemsPerMessage", "10", variable_instance="GetVariables"),
        row("EVSE", "Power", "22000", evse=1),
        row("OCPPCommCtrlr", "OfflineThreshold", "60"),
        row("OCPPCommCtrlr", "OfflineThreshold", "3600", attribute_type="MaxSet"),
        row("SecurityCtrlr", "BasicAuthPassword", None),
    ]
    offline = await db.fetchrow("SELECT * FROM ocpp.device_variables WHERE variable = 'OfflineThreshold' "
                                "AND attribute_type = 'Actual'")
    assert (offline["mutability"], offline["persistent"], offline["constant"], offline["unit"], offline["data_type"],
            offline["min_limit"], offline["max_limit"], offline["supports_monitoring"], offline["command_id"]) == (
        "ReadWrite", True, False, "s", "integer", 0, 3600, False, command["id"])
    connector_type = await db.fetchrow("SELECT * FROM ocpp.device_variables WHERE variable = 'ConnectorType'")
    assert (connector_type["data_type"], connector_type["values_list"]) == ("OptionList", "cType2,sType2")
    done = await db.fetchrow("SELECT * FROM ocpp.report_requests")
    assert (done["request_id"], done["kind"], done["action"], done["status"], done["complete"], done["pages"],
            done["items"], done["last_seq_no"], done["command_id"], json.loads(done["criteria"])) == (
        request_id, "device_model", "GetBaseReport", "Accepted", True, 2, 5, 1, command["id"],
        {"reportBase": "FullInventory"})


async def test_each_station_has_its_own_model(db, station):
    """The same component and variable on two stations, or on two EVSEs of one, are two facts."""
    await online(db, "CS-2")
    await report(db, 1, 0, item("OCPPCommCtrlr", "HeartbeatInterval", {"value": "300"}),
                 item({"name": "EVSE", "evse": {"id": 1}}, "Power", {"value": "11000"}),
                 item({"name": "EVSE", "evse": {"id": 2}}, "Power", {"value": "22000"}))
    await report(db, 1, 0, item("OCPPCommCtrlr", "HeartbeatInterval", {"value": "60"}),
                 item({"name": "EVSE", "evse": {"id": 1}}, "Power", {"value": "7400"}), station="CS-2")
    values = await db.fetch("SELECT charge_point_id, component, evse_id, value FROM ocpp.device_variables "
                            "ORDER BY charge_point_id, component, evse_id")
    assert [tuple(r) for r in values] == [
        ("CS-1", "EVSE", 1, "11000"), ("CS-1", "EVSE", 2, "22000"), ("CS-1", "OCPPCommCtrlr", None, "300"),
        ("CS-2", "EVSE", 1, "7400"), ("CS-2", "OCPPCommCtrlr", None, "60")]
    assert await db.fetchval("SELECT count(*) FROM ocpp.report_requests") == 2  # one per station, both unasked


async def test_names_are_case_insensitive_and_a_later_report_is_the_truth(db, station):
    await report(db, 1, 0, item("OCPPCommCtrlr", "HeartbeatInterval", {"value": "300"}, unit="s"))
    await report(db, 2, 0, item("ocppcommctrlr", "heartbeatinterval", {"value": "120"}))
    assert await model(db) == [row("ocppcommctrlr", "heartbeatinterval", "120")]
    # No characteristics this time: those of the first report stay.
    assert await db.fetchval("SELECT unit FROM ocpp.device_variables") == "s"


async def test_pages_out_of_order_and_resent(db, station):
    await station.run("SELECT ocpp.get_base_report($1, 'ConfigurationInventory', 42)", STATION,
                      response={"status": "Accepted"})
    await report(db, 42, 2, item("A", "X"))
    await report(db, 42, 0, item("A", "Y"), tbc=True)
    assert not await db.fetchval("SELECT complete FROM ocpp.report_requests")
    await report(db, 42, 0, item("A", "Y"), tbc=True)  # resent: counted once
    await report(db, 42, 1, item("A", "Z"), tbc=True)
    progress = await db.fetchrow("SELECT complete, pages, items, last_seq_no FROM ocpp.report_requests")
    assert tuple(progress) == (True, 3, 3, 2)


async def test_report_completion_is_an_event(fresh_db, dsn):
    db = fresh_db
    await online(db)
    listener = await asyncpg.connect(dsn)
    try:
        heard: list[dict[str, Any]] = []
        await listener.add_listener("ocpp_event", lambda *args: heard.append(json.loads(args[3])))
        await report(db, 7, 0, item("A", "X"), tbc=True)
        await report(db, 7, 1, item("A", "Y"))
        await listener.execute("SELECT 1")  # a round trip: notifications before it have arrived
        assert [e for e in heard if e["event"] == "report_completed"] == [
            {"event": "report_completed", "charge_point_id": STATION, "kind": "device_model", "request_id": 7}]
    finally:
        await listener.close()


@pytest.mark.parametrize(("answer", "complete"), [("EmptyResultSet", True), ("Rejected", False),
                                                  ("NotSupported", False)])
async def test_a_report_refused_or_empty_is_recorded(db, station, answer, complete):
    command = await station.run("SELECT ocpp.get_report($1, component_criteria => ARRAY['Problem'])", STATION,
                                response={"status": answer})
    assert command["status"] == "rejected"
    row = await db.fetchrow("SELECT status, complete, pages, criteria FROM ocpp.report_requests")
    assert (row["status"], row["complete"], row["pages"], json.loads(row["criteria"])) == (
        answer, complete, 0, {"componentCriteria": ["Problem"]})


async def test_pages_before_the_answer_and_a_request_id_used_again(db, station):
    command_id = await db.fetchval("SELECT ocpp.get_base_report($1, request_id => 5)", STATION)
    await station.claim()
    await report(db, 5, 0, item("A", "X"))  # the station reported before it answered
    await station.answer(command_id, {"status": "Accepted"})
    row = await db.fetchrow("SELECT command_id, status, complete, pages FROM ocpp.report_requests")
    assert tuple(row) == (command_id, "Accepted", True, 1)
    again = await station.run("SELECT ocpp.get_base_report($1, 'SummaryInventory', 5)", STATION,
                              response={"status": "Accepted"})
    row = await db.fetchrow("SELECT command_id, complete, pages, criteria FROM ocpp.report_requests")
    assert (row["command_id"], row["complete"], row["pages"], json.loads(row["criteria"])) == (
        again["id"], False, 0, {"reportBase": "SummaryInventory"})


async def test_get_report_payloads(db, station):
    await station.run("SELECT ocpp.get_report($1, $2::jsonb, ARRAY['Active', 'Problem'], 9)", STATION,
                      json.dumps(["EVSE", "SecurityCtrlr.main/Identity",
                                  {"component": {"name": "Connector", "evse": {"id": 1, "connectorId": 2}}}]),
                      response={"status": "Accepted"})
    payload = json.loads(await db.fetchval("SELECT payload FROM ocpp.commands"))
    assert payload == {"requestId": 9, "componentCriteria": ["Active", "Problem"], "componentVariable": [
        {"component": {"name": "EVSE"}},
        {"component": {"name": "SecurityCtrlr", "instance": "main"}, "variable": {"name": "Identity"}},
        {"component": {"name": "Connector", "evse": {"id": 1, "connectorId": 2}}}]}


async def test_request_ids_are_new_each_time(db, station):
    first = await db.fetchval("SELECT ocpp.get_base_report($1)", STATION)
    second = await db.fetchval("SELECT ocpp.get_report($1)", STATION)
    ids = await db.fetch("SELECT (payload->>'requestId')::integer AS id FROM ocpp.commands WHERE id IN ($1, $2)",
                         first, second)
    assert len({r["id"] for r in ids}) == 2


# -- GetVariables and SetVariables ------------------------------------------------

def result(component: str | dict[str, Any], variable: str | dict[str, Any], status: str = "Accepted",
           **extra: Any) -> dict[str, Any]:
    return {"attributeStatus": status,
            "component": {"name": component} if isinstance(component, str) else component,
            "variable": {"name": variable} if isinstance(variable, str) else variable, **extra}


async def test_get_variables_reads_into_the_model(db, station):
    await report(db, 1, 0, item("OCPPCommCtrlr", "OfflineThreshold", {"value": "60", "mutability": "ReadWrite"}))
    command = await station.run(
        "SELECT ocpp.get_variables($1, ARRAY['OCPPCommCtrlr/OfflineThreshold', 'AuthCtrlr/AuthorizeRemoteStart', "
        "'Nope/Nothing', 'OCPPCommCtrlr/OfflineThreshold'])", STATION,
        response={"getVariableResult": [
            result("OCPPCommCtrlr", "OfflineThreshold", attributeValue="120"),
            result("AuthCtrlr", "AuthorizeRemoteStart", attributeValue="false", attributeType="Actual"),
            result("Nope", "Nothing", "UnknownComponent", attributeStatusInfo={"reasonCode": "NotFound"}),
            result("OCPPCommCtrlr", "OfflineThreshold", "Rejected")]})
    assert command["status"] == "completed"
    assert json.loads(command["payload"])["getVariableData"][0] == {
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}}
    assert await model(db) == [row("AuthCtrlr", "AuthorizeRemoteStart", "false", source="get"),
                               row("OCPPCommCtrlr", "OfflineThreshold", "120", source="get")]
    # Mutability stays what the report said.
    assert await db.fetchval("SELECT mutability FROM ocpp.device_variables WHERE variable = 'OfflineThreshold'") == (
        "ReadWrite")
    results = await db.fetch("SELECT position, component, variable, attribute_type, attribute_status, value, "
                             "status_info FROM ocpp.variable_results ORDER BY position")
    assert [(r["component"], r["attribute_status"], r["value"]) for r in results] == [
        ("OCPPCommCtrlr", "Accepted", "120"), ("AuthCtrlr", "Accepted", "false"), ("Nope", "UnknownComponent", None),
        ("OCPPCommCtrlr", "Rejected", None)]
    assert json.loads(results[2]["status_info"]) == {"reasonCode": "NotFound"}


async def test_get_variables_payload_forms(db, station):
    await db.fetchval("SELECT ocpp.get_variables($1, ARRAY['Connector/AvailabilityState', "
                      "'DeviceDataCtrlr.x/ItemsPerMessage.GetVariables'], evse_id => 1, connector_id => 2, "
                      "attribute_type => 'Target')", STATION)
    raw = [{"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "Power"}, "attributeType": "MaxSet"}]
    await db.fetchval("SELECT ocpp.get_variables($1, get_variable_data => $2::jsonb)", STATION, json.dumps(raw))
    payloads = [json.loads(r["payload"]) for r in await db.fetch("SELECT payload FROM ocpp.commands ORDER BY id")]
    for payload in payloads:
        V201.check_request("GetVariables", payload)
    assert payloads == [
        {"getVariableData": [
            {"component": {"name": "Connector", "evse": {"id": 1, "connectorId": 2}},
             "variable": {"name": "AvailabilityState"}, "attributeType": "Target"},
            {"component": {"name": "DeviceDataCtrlr", "instance": "x", "evse": {"id": 1, "connectorId": 2}},
             "variable": {"name": "ItemsPerMessage", "instance": "GetVariables"}, "attributeType": "Target"}]},
        {"getVariableData": raw}]


@pytest.mark.parametrize(("sql", "hint"), [
    ("ocpp.get_variables($1)", None),
    ("ocpp.get_variables($1, ARRAY['A/B'], get_variable_data => '[]')", None),
    ("ocpp.get_variables($1, ARRAY['NoVariable'])", "Component[.instance]/Variable[.instance]"),
    ("ocpp.get_variables($1, ARRAY['/B'])", "Component[.instance]/Variable[.instance]"),
    ("ocpp.get_variables($1, ARRAY['A/B/C'])", "Component[.instance]/Variable[.instance]"),
    ("ocpp.get_variables($1, ARRAY['A/B'], connector_id => 1)", "evse_id"),
    ("ocpp.get_variables($1, get_variable_data => '[]')", None),
    ("ocpp.set_variables($1, '{\"A/B\": null}')", "OfflineThreshold"),
    ("ocpp.set_variables($1, '[\"A/B\"]')", "OfflineThreshold"),
    ("ocpp.set_variable_monitoring($1, 'A/B', 'Delta')", "severity"),
])
async def test_helpers_refuse_what_is_no_request(db, station, fails, sql, hint):
    async with fails(asyncpg.InvalidParameterValueError) as caught:
        await db.fetchval(f"SELECT {sql}", STATION)
    if hint is not None:
        assert hint in caught.value.hint


async def test_set_variables_writes_the_model(db, station):
    await report(db, 1, 0, item("OCPPCommCtrlr", "OfflineThreshold", {"value": "60", "mutability": "ReadWrite"}),
                 item("AuthCtrlr", "AuthorizeRemoteStart", {"value": "true"}),
                 item("SampledDataCtrlr", "TxUpdatedInterval", {"value": "30"}))
    command = await station.run(
        "SELECT ocpp.set_variables($1, $2::jsonb)", STATION,
        json.dumps({"OCPPCommCtrlr/OfflineThreshold": 123, "AuthCtrlr/AuthorizeRemoteStart": False,
                    "SampledDataCtrlr/TxUpdatedInterval": "15", "Nope/Nothing": "x"}),
        response={"setVariableResult": [  # in another order than asked
            result("SampledDataCtrlr", "TxUpdatedInterval", "Rejected"),
            result("Nope", "Nothing", "UnknownComponent"),
            result("AuthCtrlr", "AuthorizeRemoteStart", "RebootRequired"),
            result("ocppcommctrlr", "offlinethreshold", "Accepted", attributeType="Actual")]})
    sent = {(d["component"]["name"], d["variable"]["name"]): d["attributeValue"]
            for d in json.loads(command["payload"])["setVariableData"]}
    assert sent == {("OCPPCommCtrlr", "OfflineThreshold"): "123", ("AuthCtrlr", "AuthorizeRemoteStart"): "false",
                    ("SampledDataCtrlr", "TxUpdatedInterval"): "15", ("Nope", "Nothing"): "x"}
    assert await model(db) == [row("AuthCtrlr", "AuthorizeRemoteStart", "false", source="set"),
                               row("ocppcommctrlr", "offlinethreshold", "123", source="set"),
                               row("SampledDataCtrlr", "TxUpdatedInterval", "30")]
    reboot = "SELECT variable, reboot_required FROM ocpp.device_variables ORDER BY lower(variable)"
    assert [tuple(r) for r in await db.fetch(reboot)] == [
        ("AuthorizeRemoteStart", True), ("offlinethreshold", False), ("TxUpdatedInterval", False)]
    statuses = await db.fetch("SELECT variable, attribute_status FROM ocpp.variable_results ORDER BY position")
    assert [r["attribute_status"] for r in statuses] == ["Rejected", "UnknownComponent", "RebootRequired", "Accepted"]
    await db.execute("UPDATE pgcsms.device_model_attributes SET reboot_required_since = now() - interval '1 minute'")
    await call(db, "BootNotification", {"reason": "RemoteReset",
                                        "chargingStation": {"model": "M", "vendorName": "V"}})
    assert not any(r["reboot_required"] for r in await db.fetch(reboot))


async def test_set_variables_of_an_evse_and_raw(db, station):
    await db.fetchval("SELECT ocpp.set_variables($1, '{\"EVSE/AllowReset\": true}', evse_id => 2, "
                      "attribute_type => 'Target')", STATION)
    raw = [{"component": {"name": "A"}, "variable": {"name": "B", "instance": "i"}, "attributeValue": "v"}]
    await db.fetchval("SELECT ocpp.set_variables($1, set_variable_data => $2::jsonb)", STATION, json.dumps(raw))
    payloads = [json.loads(r["payload"]) for r in await db.fetch("SELECT payload FROM ocpp.commands ORDER BY id")]
    for payload in payloads:
        V201.check_request("SetVariables", payload)
    assert payloads == [{"setVariableData": [{"component": {"name": "EVSE", "evse": {"id": 2}},
                                              "variable": {"name": "AllowReset"}, "attributeType": "Target",
                                              "attributeValue": "true"}]},
                        {"setVariableData": raw}]


async def test_large_requests_follow_the_station_s_items_per_message(db, station):
    names = [f"Ctrlr/V{n}" for n in range(5)]
    # Unknown limit: one command.
    assert len(await db.fetch("SELECT ocpp.get_variables($1, $2::text[])", STATION, names)) == 1
    await db.execute("SELECT ocpp.cancel(id) FROM ocpp.commands")
    await report(db, 1, 0,
                 item("DeviceDataCtrlr", {"name": "ItemsPerMessage", "instance": "GetVariables"}, {"value": "2"}),
                 item("DeviceDataCtrlr", {"name": "ItemsPerMessage", "instance": "SetVariables"}, {"value": "3"}),
                 item("MonitoringCtrlr", {"name": "ItemsPerMessage", "instance": "ClearVariableMonitoring"},
                      {"value": "4"}))
    ids = [r[0] for r in await db.fetch("SELECT ocpp.get_variables($1, $2::text[])", STATION, names)]
    batches = [json.loads(await db.fetchval("SELECT payload FROM ocpp.commands WHERE id = $1", i)) for i in ids]
    assert [[d["variable"]["name"] for d in b["getVariableData"]] for b in batches] == [
        ["V0", "V1"], ["V2", "V3"], ["V4"]]
    assert ids == sorted(ids)  # delivered in order
    values = json.dumps({name: str(n) for n, name in enumerate(names)})
    assert len(await db.fetch("SELECT ocpp.set_variables($1, $2::jsonb)", STATION, values)) == 2
    assert len(await db.fetch("SELECT ocpp.clear_variable_monitoring($1, ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9])",
                              STATION)) == 3


# -- monitoring ------------------------------------------------------------------

async def test_monitoring_report_set_and_clear(db, station):
    command = await station.run("SELECT ocpp.get_monitoring_report($1, monitoring_criteria => "
                                "ARRAY['ThresholdMonitoring'])", STATION, response={"status": "Accepted"})
    request_id = json.loads(command["payload"])["requestId"]
    page = {"requestId": request_id, "seqNo": 0, "generatedAt": NOW, "monitor": [
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
         "variableMonitoring": [{"id": 1, "transaction": False, "value": 22000, "type": "UpperThreshold",
                                 "severity": 4},
                                {"id": 2, "transaction": True, "value": 5, "type": "Delta", "severity": 8}]},
        {"component": {"name": "Controller"}, "variable": {"name": "Temperature"},
         "variableMonitoring": [{"id": 3, "transaction": False, "value": 80.5, "type": "UpperThreshold",
                                 "severity": 2}]}]}
    assert (await call(db, "NotifyMonitoringReport", page)).result == {}
    monitors = ("SELECT monitor_id, component, evse_id, variable, type, severity, value, transaction, source "
                "FROM ocpp.variable_monitors ORDER BY monitor_id")
    assert [tuple(r) for r in await db.fetch(monitors)] == [
        (1, "EVSE", 1, "Power", "UpperThreshold", 4, 22000, False, "report"),
        (2, "EVSE", 1, "Power", "Delta", 8, 5, True, "report"),
        (3, "Controller", None, "Temperature", "UpperThreshold", 2, 80.5, False, "report")]
    progress = await db.fetchrow("SELECT kind, action, complete, items FROM ocpp.report_requests")
    assert tuple(progress) == ("monitoring", "GetMonitoringReport", True, 3)

    set_monitor = await station.run(
        "SELECT ocpp.set_variable_monitoring($1, 'EVSE/Power', 'LowerThreshold', 100, 5, evse_id => 1, "
        "transaction => true)", STATION,
        response={"setMonitoringResult": [{"id": 7, "status": "Accepted", "type": "LowerThreshold", "severity": 5,
                                           "component": {"name": "EVSE", "evse": {"id": 1}},
                                           "variable": {"name": "Power"}}]})
    assert json.loads(set_monitor["payload"]) == {"setMonitoringData": [
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}, "type": "LowerThreshold",
         "value": 100, "severity": 5, "transaction": True}]}
    refused = await station.run(
        "SELECT ocpp.set_variable_monitoring($1, set_monitoring_data => $2::jsonb)", STATION,
        json.dumps([{"component": {"name": "Nope"}, "variable": {"name": "X"}, "type": "Delta", "value": 1,
                     "severity": 9}]),
        response={"setMonitoringResult": [{"status": "UnknownComponent", "type": "Delta", "severity": 9,
                                           "component": {"name": "Nope"}, "variable": {"name": "X"}}]})
    assert refused["status"] == "completed"
    assert [r["monitor_id"] for r in await db.fetch(monitors)] == [1, 2, 3, 7]
    assert tuple(await db.fetchrow("SELECT value, transaction, source, command_id FROM ocpp.variable_monitors "
                                   "WHERE monitor_id = 7")) == (100, True, "set", set_monitor["id"])

    await station.run("SELECT ocpp.clear_variable_monitoring($1, ARRAY[1, 2, 9])", STATION,
                      response={"clearMonitoringResult": [{"id": 1, "status": "Accepted"},
                                                          {"id": 2, "status": "Rejected"},
                                                          {"id": 9, "status": "NotFound"}]})
    assert [r["monitor_id"] for r in await db.fetch(monitors)] == [2, 3, 7]


async def test_monitoring_base_and_level(db, station):
    base = await station.run("SELECT ocpp.set_monitoring_base($1, 'FactoryDefault')", STATION,
                             response={"status": "Accepted"})
    level = await station.run("SELECT ocpp.set_monitoring_level($1, 4)", STATION, response={"status": "Rejected"})
    assert (json.loads(base["payload"]), base["status"]) == ({"monitoringBase": "FactoryDefault"}, "accepted")
    assert (json.loads(level["payload"]), level["status"]) == ({"severity": 4}, "rejected")


# -- the API: helpers, catalog, roles -------------------------------------------------

HELPERS = {
    "GetVariables": "ocpp.get_variables($1, ARRAY['OCPPCommCtrlr/OfflineThreshold'])",
    "SetVariables": "ocpp.set_variables($1, '{\"OCPPCommCtrlr/OfflineThreshold\": 123}')",
    "GetBaseReport": "ocpp.get_base_report($1, 'ConfigurationInventory')",
    "GetReport": "ocpp.get_report($1, '[\"EVSE\"]')",
    "GetMonitoringReport": "ocpp.get_monitoring_report($1)",
    "SetNetworkProfile": "ocpp.set_network_profile($1, 1, 'wss://csms.example.com/ocpp', 2)",
    "SetVariableMonitoring": "ocpp.set_variable_monitoring($1, 'EVSE/Power', 'Delta', 100, 5, evse_id => 1)",
    "ClearVariableMonitoring": "ocpp.clear_variable_monitoring($1, ARRAY[1])",
    "SetMonitoringBase": "ocpp.set_monitoring_base($1, 'All')",
    "SetMonitoringLevel": "ocpp.set_monitoring_level($1, 9)",
    "Reset": "ocpp.reset($1)",
    "ChangeAvailability": "ocpp.change_availability($1, NULL, 'Operative')",
    "TriggerMessage": "ocpp.trigger_message($1, 'Heartbeat')",
}


async def test_every_helper_of_the_block_builds_a_valid_payload_and_is_listed(db, station):
    for action, helper in HELPERS.items():
        command_id = await db.fetchval(f"SELECT {helper}", STATION)
        claimed = await station.claim()  # checks the payload against the 2.0.1 request schema
        assert (claimed["command_id"], claimed["action"]) == (command_id, action)
        await db.execute("SELECT ocpp.fail_command($1, 'timeout')", command_id)
    listed = await db.fetch("SELECT action, helper FROM ocpp.command_actions WHERE ocpp_version = '2.0.1' "
                            "AND action = ANY($1::text[])", list(HELPERS))
    assert {r["action"]: r["helper"] for r in listed} == {a: h.split("(")[0] for a, h in HELPERS.items()}


async def test_a_2_0_1_helper_for_a_1_6_charger_is_refused(db, fails):
    await db.execute("SELECT ocpp.add_charge_point('CP-16')")
    await db.execute("SELECT ocpp.connect('CP-16', $1, NULL, '1.6')", NODE)
    async with fails(asyncpg.InvalidParameterValueError, match="OCPP 1.6"):
        await db.fetchval("SELECT ocpp.get_base_report('CP-16')")


async def test_the_reader_reads_the_model_but_not_network_profiles(db, station, fails):
    await report(db, 1, 0, item("A", "B"))
    await db.execute("SET LOCAL ROLE pgcsms_reader")
    for view in ("device_variables", "variable_results", "report_requests", "variable_monitors", "station_events"):
        await db.fetch(f"SELECT * FROM ocpp.{view}")
    assert await db.fetchval("SELECT count(*) FROM ocpp.device_variables") == 1
    async with fails(asyncpg.InsufficientPrivilegeError):
        await db.fetch("SELECT * FROM ocpp.network_profiles")
    async with fails(asyncpg.InsufficientPrivilegeError):
        await db.fetchval("SELECT ocpp.get_variables($1, ARRAY['A/B'])", STATION)
    await db.execute("RESET ROLE")
    await db.execute("SET LOCAL ROLE pgcsms_operator")
    await db.fetch("SELECT * FROM ocpp.network_profiles")
    assert len(await db.fetch("SELECT ocpp.get_variables($1, ARRAY['A/B'])", STATION)) == 1
