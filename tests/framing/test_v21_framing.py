"""OCPP-J 2.1 framing and validation, no sockets: SEND, CALLRESULTERROR, ignored message types, 2.1 schemas."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from pgcsms.proxy import ocppj
from pgcsms.proxy.ocppj import CallResultError, FrameError, PayloadError, Send, Validator, parse_frame

STREAM = {"id": 1, "pending": 0, "basetime": "2025-03-01T10:00:00Z", "data": [{"t": 0, "v": "230.4"}]}


def test_a_send_is_read_on_a_2_1_connection():
    message = parse_frame(json.dumps([6, "s-1", "NotifyPeriodicEventStream", STREAM]), version="2.1")
    assert message == Send("s-1", "NotifyPeriodicEventStream", STREAM)


def test_a_callresulterror_is_read_on_a_2_1_connection_in_either_spelling():
    message = parse_frame('[5, "c-1", "FormationViolation", "bad answer", {"at": "x"}]', version="2.1")
    assert message == CallResultError("c-1", "FormatViolation", "bad answer", {"at": "x"})


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("text", ['[6, "s", "NotifyPeriodicEventStream", {}]', '[5, "c", "GenericError", "", {}]'])
def test_before_2_1_send_and_callresulterror_are_unknown_types_and_answered(version, text):
    with pytest.raises(FrameError) as refused:
        parse_frame(text, version=version)
    assert refused.value.code == "MessageTypeNotSupported"
    assert refused.value.answerable
    assert ocppj.wire_error_code(refused.value.code, version) == ("ProtocolError" if version == "1.6" else
                                                                  "MessageTypeNotSupported")


@pytest.mark.parametrize("text", ['[7, "u", "Heartbeat", {}]', '[99, "u"]', '[0, "u", {}]', '[7, 17]'])
def test_a_2_1_connection_ignores_message_types_it_does_not_know(text):
    with pytest.raises(FrameError) as refused:
        parse_frame(text, version="2.1")
    assert not refused.value.answerable
    # Before 2.1 the same frame is answered.
    with pytest.raises(FrameError) as answered:
        parse_frame(text, version="2.0.1")
    assert answered.value.answerable


@pytest.mark.parametrize(("text", "code"), [
    ('[6, "s", "NotifyPeriodicEventStream"]', "RpcFrameworkError"),
    ('[6, "s", "NotifyPeriodicEventStream", []]', "FormatViolation"),
    ('[6, "s", "", {}]', "RpcFrameworkError"),
    ('[6, 12, "NotifyPeriodicEventStream", {}]', "RpcFrameworkError"),
    ('[6, "s", "NotifyPeriodicEventStream", {', "FormatViolation"),
    ('[5, "c", "GenericError", {}]', "FormatViolation"),
    ('[5, "c", 1, "", {}]', "FormatViolation"),
])
def test_a_broken_send_or_callresulterror_is_never_answered(text, code):
    with pytest.raises(FrameError) as refused:
        parse_frame(text, version="2.1")
    assert refused.value.code == code
    assert not refused.value.answerable


def test_calls_and_answers_read_as_before_on_2_1():
    assert isinstance(parse_frame('[2, "u", "Heartbeat", {}]', version="2.1"), ocppj.Call)
    assert isinstance(parse_frame('[3, "u", {}]', version="2.1"), ocppj.CallResult)
    assert isinstance(parse_frame('[4, "u", "GenericError", "", {}]', version="2.1"), ocppj.CallError)
    with pytest.raises(FrameError) as refused:
        parse_frame('[2, "u", "Heartbeat"]', version="2.1")
    assert refused.value.answerable  # a broken CALL is answered in 2.1 too


def test_a_callresulterror_frame():
    frame = ocppj.call_result_error_frame("c-1", "FormatViolation", "x" * 300)
    decoded = json.loads(frame)
    assert decoded[:3] == [5, "c-1", "FormatViolation"] and len(decoded[3]) == 255 and decoded[4] == {}
    assert parse_frame(frame, version="2.1") == CallResultError("c-1", "FormatViolation", "x" * 255, {})


def test_each_version_has_its_message_types():
    assert ocppj.MESSAGE_TYPES_OF["1.6"] == ocppj.MESSAGE_TYPES_OF["2.0.1"] == {2, 3, 4}
    assert ocppj.MESSAGE_TYPES_OF["2.1"] == ocppj.MESSAGE_TYPES == {2, 3, 4, 5, 6}
    assert ocppj.SEND_ACTIONS["2.1"] == {"NotifyPeriodicEventStream"}
    assert "NotifyPeriodicEventStream" in ocppj.CHARGE_POINT_ACTIONS["2.1"]


# -- 2.1 schemas ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def v21() -> Validator:
    return Validator("2.1")


def test_the_2_1_schemas_are_draft_06_and_read_as_such(v21):
    schema = json.loads((resources.files("ocpp") / "v21" / "schemas" / "BootNotificationRequest.json")
                        .read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-06/schema#"
    v21.check_request("BootNotification", {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}})


def test_a_send_has_a_request_schema_and_no_response(v21):
    v21.check_request("NotifyPeriodicEventStream", STREAM)
    with pytest.raises(PayloadError) as refused:
        v21.check_request("NotifyPeriodicEventStream", {**STREAM, "data": [{"t": "now", "v": "1"}]})
    assert refused.value.code == "TypeConstraintViolation"
    with pytest.raises(KeyError):
        v21.check_response("NotifyPeriodicEventStream", {})


def test_validation_is_strictly_per_version(v21):
    v201 = Validator("2.0.1")
    token = {"idToken": {"idToken": "T" * 40, "type": "DirectPayment"}}
    v21.check_request("Authorize", token)  # 2.1: 255 characters, any type name
    with pytest.raises(PayloadError):
        v201.check_request("Authorize", token)
    report = {"requestId": 1, "seqNo": 0, "generatedAt": "2025-03-01T10:00:00Z", "monitor": [{
        "component": {"name": "EVSE"}, "variable": {"name": "Power"},
        "variableMonitoring": [{"id": 1, "transaction": False, "value": 1, "type": "Delta", "severity": 5}]}]}
    v201.check_request("NotifyMonitoringReport", report)
    with pytest.raises(PayloadError) as refused:  # 2.1 requires eventNotificationType
        v21.check_request("NotifyMonitoringReport", report)
    assert refused.value.code == "OccurrenceConstraintViolation"
    with pytest.raises(KeyError):
        v201.check_request("BatterySwap", {})


def test_the_1_6_security_extension_schemas_keep_their_own_draft():
    v16 = Validator("1.6")
    v16.check_request("SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"})
    with pytest.raises(PayloadError):
        v16.check_request("SignCertificate", {"csr": "x" * 5501})
