"""OCPP-J 2.0.1 framing and validation: the catalog, error codes per version, the 2.0.1 schemas."""

from __future__ import annotations

import pytest
from pgcsms.proxy import catalog, ocppj
from pgcsms.proxy.ocppj import FrameError, PayloadError, Validator, parse_frame


def test_the_catalog_reads_every_action_of_each_version_from_the_schema_files():
    assert len(catalog.actions("2.0.1")) == 64
    assert len(catalog.station_actions("2.0.1")) == 25
    assert len(catalog.central_system_actions("2.0.1")) == 40
    assert catalog.station_actions("2.0.1") & catalog.central_system_actions("2.0.1") == {"DataTransfer"}
    assert len(catalog.actions("1.6")) == 39  # 13 + 25 + DataTransfer
    assert "TransactionEvent" in catalog.station_actions("2.0.1")
    assert "RequestStartTransaction" in catalog.central_system_actions("2.0.1")
    assert "StartTransaction" not in catalog.actions("2.0.1")


def test_catalog_rows_say_which_answers_carry_a_status():
    rows = {(version, action, sent_by): has_status for version, action, sent_by, has_status, _ in catalog.rows()}
    assert rows[("2.0.1", "SetVariables", "CSMS")] is False  # a list of results, no top-level status
    assert rows[("2.0.1", "RequestStartTransaction", "CSMS")] is True
    assert rows[("2.0.1", "DataTransfer", "ChargingStation")] is True
    assert rows[("1.6", "GetConfiguration", "CSMS")] is False


def test_subprotocols_are_derived_from_the_served_versions():
    assert catalog.SUBPROTOCOLS == {"ocpp2.1": "2.1", "ocpp2.0.1": "2.0.1", "ocpp1.6": "1.6"}


@pytest.mark.parametrize(("text", "code"), [
    ('[2, "u", "Heartbeat"]', "RpcFrameworkError"),
    ('[2, 17, "Heartbeat", {}]', "RpcFrameworkError"),
    ('[7, "u", "Heartbeat", {}]', "MessageTypeNotSupported"),
    ("not json", "FormatViolation"),
])
def test_frame_errors_are_spelled_for_the_connection(text, code):
    with pytest.raises(FrameError) as refused:
        parse_frame(text)
    assert refused.value.code == code
    assert ocppj.wire_error_code(code, "2.0.1") == code
    assert ocppj.wire_error_code(code, "1.6") == {"RpcFrameworkError": "ProtocolError",
                                                  "MessageTypeNotSupported": "ProtocolError",
                                                  "FormatViolation": "FormationViolation"}[code]


def test_a_callerror_frame_uses_the_2_0_1_spellings():
    frame = ocppj.call_error_frame("u", "OccurrenceConstraintViolation", "x", "2.0.1")
    assert '"OccurrenceConstraintViolation"' in frame
    frame = ocppj.call_error_frame("u", "OccurrenceConstraintViolation", "x", "1.6")
    assert '"OccurenceConstraintViolation"' in frame


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator("2.0.1")


BOOT = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}


def test_a_valid_2_0_1_boot_passes_and_a_1_6_boot_does_not(validator):
    validator.check_request("BootNotification", BOOT)
    with pytest.raises(PayloadError) as refused:
        validator.check_request("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    assert refused.value.code in {"OccurrenceConstraintViolation", "FormatViolation"}


@pytest.mark.parametrize(("payload", "code"), [
    ({"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
    ({"reason": "Sunrise", "chargingStation": {"model": "M", "vendorName": "V"}}, "PropertyConstraintViolation"),
    ({"reason": "PowerUp", "chargingStation": {"model": 5, "vendorName": "V"}}, "TypeConstraintViolation"),
    ({"reason": "PowerUp", "chargingStation": {"model": "M" * 21, "vendorName": "V"}},
     "PropertyConstraintViolation"),
    ({**BOOT, "surprise": 1}, "FormatViolation"),
])
def test_schema_violations_get_their_code(validator, payload, code):
    with pytest.raises(PayloadError) as refused:
        validator.check_request("BootNotification", payload)
    assert refused.value.code == code


@pytest.mark.parametrize("timestamp", ["2026-01-01T10:00:00Z", "2026-01-01T10:00:00+02:00",
                                       "2026-01-01T10:00:00.123Z", "2026-01-01T10:00:00"])
def test_timestamps_with_or_without_offset_are_accepted(validator, timestamp):
    # Without an offset is read as UTC by the database, as for 1.6: much firmware omits it.
    validator.check_request("StatusNotification", {"timestamp": timestamp, "connectorStatus": "Available",
                                                   "evseId": 1, "connectorId": 1})


@pytest.mark.parametrize("timestamp", ["yesterday", "2026-13-01T10:00:00Z", "2026-01-01"])
def test_what_is_no_timestamp_is_refused(validator, timestamp):
    with pytest.raises(PayloadError) as refused:
        validator.check_request("StatusNotification", {"timestamp": timestamp, "connectorStatus": "Available",
                                                       "evseId": 1, "connectorId": 1})
    assert refused.value.code == "TypeConstraintViolation"


def test_custom_data_is_allowed_where_the_schema_allows_it(validator):
    validator.check_request("Heartbeat", {"customData": {"vendorId": "acme", "anything": [1, 2]}})
    with pytest.raises(PayloadError):
        validator.check_request("Heartbeat", {"customData": {"anything": 1}})


def test_responses_are_checked_against_the_2_0_1_response_schemas(validator):
    validator.check_response("GetVariables", {"getVariableResult": [
        {"attributeStatus": "Accepted", "attributeValue": "60",
         "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]})
    with pytest.raises(PayloadError):
        validator.check_response("GetVariables", {"getVariableResult": [{"attributeStatus": "Maybe"}]})
