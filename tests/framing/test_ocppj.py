"""OCPP-J framing: frames in, messages or FrameError out, frames built; no I/O."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp import messages
from pgcsms.proxy import ocppj
from pgcsms.proxy.ocppj import Call, CallError, CallResult, FrameError, parse_frame


def refused(text: str) -> FrameError:
    with pytest.raises(FrameError) as caught:
        parse_frame(text)
    return caught.value


# -- well-formed frames -------------------------------------------------------

def test_call_built_by_the_ocpp_library():
    text = messages.Call("u-1", "BootNotification",
                         {"chargePointVendor": "V", "chargePointModel": "M"}).to_json()
    assert parse_frame(text) == Call("u-1", "BootNotification",
                                     {"chargePointVendor": "V", "chargePointModel": "M"})


def test_call_result():
    text = messages.CallResult("u-2", {"status": "Accepted"}).to_json()
    assert parse_frame(text) == CallResult("u-2", {"status": "Accepted"})


@pytest.mark.parametrize(("wire", "canonical"), [
    ("FormationViolation", "FormatViolation"),
    ("FormatViolation", "FormatViolation"),
    ("OccurenceConstraintViolation", "OccurrenceConstraintViolation"),
    ("OccurrenceConstraintViolation", "OccurrenceConstraintViolation"),
    ("NotSupported", "NotSupported"),
])
def test_call_error_code_is_read_in_either_spelling(wire, canonical):
    text = messages.CallError("u-3", wire, "no", {"why": 1}).to_json()
    assert parse_frame(text) == CallError("u-3", canonical, "no", {"why": 1})


def test_whitespace_and_a_36_character_unique_id_are_fine():
    unique_id = "x" * 36
    assert parse_frame(f' [ 2 , "{unique_id}" , "Heartbeat" , {{ }} ] ') == Call(unique_id, "Heartbeat", {})


def test_escapes_that_postgresql_can_store_are_fine():
    text = '[2,"a","DataTransfer",{"vendorId":"v","data":"\\u00e9 \\ud83d\\ude00 \\n"}]'
    assert parse_frame(text).payload == {"vendorId": "v", "data": "é 😀 \n"}


# -- frames that are not JSON -------------------------------------------------

@pytest.mark.parametrize(("text", "message_type", "unique_id"), [
    ('[2, "abc", "Heartbeat", {', 2, "abc"),
    ('[2,"abc","Heartbeat",{]', 2, "abc"),
    ('  [ 2 ,  "a\\"b", ', 2, 'a"b'),
    ('[2, "ab\\u0041", "Heartbeat", {,}]', 2, "abA"),
    ('[3, "r-1", {"status": ', 3, "r-1"),
    ('[4, "e-1", "GenericError"', 4, "e-1"),
    ('[7, "z", ', 7, "z"),
])
def test_invalid_json_with_a_salvageable_unique_id(text, message_type, unique_id):
    error = refused(text)
    assert (error.code, error.message_type, error.unique_id) == ("FormatViolation", message_type, unique_id)
    assert error.description == "frame is not valid JSON"
    assert error.answerable is (message_type not in (3, 4))


@pytest.mark.parametrize("text", [
    "", "   ", "{{{", "not json", "[", '["2", "abc"', "[2, abc, ", '[2, "' + "x" * 37 + '", ',
    '{"a": 1', "[2,\n'single', ", "\x00",
])
def test_invalid_json_without_a_unique_id(text):
    error = refused(text)
    assert (error.code, error.unique_id, error.message_type) == ("FormatViolation", None, None)
    assert error.answerable


@pytest.mark.parametrize("text", [
    '[2, "", "Heartbeat", {',      # empty: answered with "-1"
    '[2, "a\\x", "Heartbeat", {',  # bad escape
    '[2, "a\\u0000", {',           # PostgreSQL text cannot hold it
    '[2, "\\ud800", {',            # a lone surrogate cannot even be sent back
])
def test_invalid_json_with_an_unusable_unique_id_keeps_the_message_type(text):
    error = refused(text)
    assert (error.code, error.unique_id, error.message_type) == ("FormatViolation", None, 2)


def test_a_message_type_of_thousands_of_digits_is_a_frame_error():
    error = refused("[" + "9" * 5000 + ', "abc", ')
    assert error.code == "FormatViolation"
    assert error.message_type is None
    assert error.answerable


def test_deep_nesting_is_a_frame_error():
    error = refused("[" * 100_000 + "]" * 100_000)
    assert error.code == "FormatViolation"


# -- frames that are JSON but not OCPP-J ----------------------------------------

@pytest.mark.parametrize("text", ['{"a": 1}', '"text"', "2", "null", "true", "[]"])
def test_not_a_non_empty_array(text):
    error = refused(text)
    assert (error.code, error.unique_id, error.message_type) == ("FormatViolation", None, None)
    assert error.answerable


@pytest.mark.parametrize("first", ['"2"', "2.0", "true", "null", "[2]", "{}"])
def test_message_type_not_an_integer(first):
    error = refused(f'[{first}, "u", "Heartbeat", {{}}]')
    assert (error.code, error.unique_id, error.message_type) == ("FormatViolation", None, None)
    assert error.description == "message type is not an integer"


@pytest.mark.parametrize("unique_id", ["5", '""', "null", '["u"]', '"' + "x" * 37 + '"',
                                       '"a\\u0000"', '"\\udc00"'])
def test_bad_unique_id(unique_id):
    error = refused(f'[2, {unique_id}, "Heartbeat", {{}}]')
    assert (error.code, error.unique_id, error.message_type) == ("RpcFrameworkError", None, 2)
    assert error.answerable


def test_missing_unique_id():
    error = refused("[2]")
    assert (error.code, error.unique_id, error.message_type) == ("RpcFrameworkError", None, 2)


@pytest.mark.parametrize("text", ['[2, "u", "Heartbeat"]', '[2, "u", "Heartbeat", {}, {}]', '[2, "u"]'])
def test_call_with_wrong_arity(text):
    error = refused(text)
    assert (error.code, error.unique_id, error.message_type) == ("RpcFrameworkError", "u", 2)
    assert error.answerable


@pytest.mark.parametrize("action", ["5", '""', "null", '["Heartbeat"]', "{}"])
def test_call_with_an_action_that_is_not_a_non_empty_string(action):
    error = refused(f'[2, "u", {action}, {{}}]')
    assert (error.code, error.unique_id, error.message_type, error.action) == ("RpcFrameworkError", "u", 2, None)


@pytest.mark.parametrize("payload", ["[]", '"x"', "null", "1", "[{}]"])
def test_call_with_a_payload_that_is_not_an_object(payload):
    error = refused(f'[2, "u", "Heartbeat", {payload}]')
    assert (error.code, error.unique_id, error.message_type) == ("FormatViolation", "u", 2)
    assert error.action == "Heartbeat"
    assert error.answerable


@pytest.mark.parametrize("text", ['[3, "u"]', '[3, "u", []]', '[3, "u", {}, {}]', '[3, "u", null]'])
def test_malformed_call_result_is_not_answerable(text):
    error = refused(text)
    assert (error.code, error.unique_id, error.message_type) == ("FormatViolation", "u", 3)
    assert not error.answerable


@pytest.mark.parametrize("text", [
    '[4, "u", "GenericError", "d"]',
    '[4, "u", 1, "d", {}]',
    '[4, "u", "GenericError", 2, {}]',
    '[4, "u", "GenericError", "d", []]',
    '[4, "u", "GenericError", "d", {}, {}]',
])
def test_malformed_call_error_is_not_answerable(text):
    error = refused(text)
    assert (error.code, error.unique_id, error.message_type) == ("FormatViolation", "u", 4)
    assert not error.answerable


@pytest.mark.parametrize("message_type", [0, 1, 5, 6, -1, 99999])
def test_unknown_message_type(message_type):
    error = refused(f'[{message_type}, "u", "Heartbeat", {{}}]')
    assert (error.code, error.unique_id, error.message_type) == ("MessageTypeNotSupported", "u", message_type)
    assert error.answerable


@pytest.mark.parametrize(("text", "message_type"), [
    ('[2, "u", "DataTransfer", {"vendorId": "v", "data": "a\\u0000b"}]', 2),
    ('[2, "u", "DataTransfer", {"vendorId": "v", "data": "\\ud800"}]', 2),
    ('[2, "u", "DataTransfer", {"vendorId": "v", "k\\u0000": "x"}]', 2),
    ('[2, "u", "Heart\\u0000beat", {}]', 2),
    ('[3, "u", {"configurationKey": [{"key": "K", "value": "\\udfff"}]}]', 3),
    ('[4, "u", "GenericError", "\\u0000", {}]', 4),
])
def test_strings_postgresql_cannot_store_are_refused(text, message_type):
    error = refused(text)
    assert (error.code, error.unique_id, error.message_type) == ("FormatViolation", "u", message_type)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.text(alphabet='[]{}",:0123456789\\u ', max_size=60))
def test_any_text_is_a_message_or_a_frame_error(text):
    try:
        message = parse_frame(text)
    except FrameError as error:
        assert error.unique_id is None or 1 <= len(error.unique_id) <= 36
        assert error.code in {"FormatViolation", "RpcFrameworkError"}
    else:
        assert isinstance(message, Call | CallResult | CallError)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10)


@settings(max_examples=100, deadline=None)
@given(st.lists(_json, max_size=6))
def test_any_json_array_is_a_message_or_a_frame_error(frame):
    try:
        parse_frame(json.dumps(frame))
    except FrameError as error:
        if error.message_type in (ocppj.CALLRESULT, ocppj.CALLERROR):
            assert not error.answerable


# -- answerable -----------------------------------------------------------------

@pytest.mark.parametrize(("message_type", "answerable"), [
    (None, True), (2, True), (5, True), (3, False), (4, False),
])
def test_answerable(message_type, answerable):
    assert FrameError("ProtocolError", "x", message_type=message_type).answerable is answerable


# -- frames we build ------------------------------------------------------------

def test_call_frame():
    text = ocppj.call_frame("c-1", "Reset", '{"type":"Soft"}')
    assert text == '[2,"c-1","Reset",{"type":"Soft"}]'
    assert messages.unpack(text).payload == {"type": "Soft"}


def test_call_result_frame_keeps_the_payload_text():
    assert ocppj.call_result_frame("r-1", '{"currentTime": "x"}') == '[3,"r-1",{"currentTime": "x"}]'


def test_frames_escape_unique_ids():
    assert json.loads(ocppj.call_result_frame('a"b\\', "{}")) == [3, 'a"b\\', {}]


@pytest.mark.parametrize(("code", "on_16", "on_201"), [
    ("FormatViolation", "FormationViolation", "FormatViolation"),
    ("OccurrenceConstraintViolation", "OccurenceConstraintViolation", "OccurrenceConstraintViolation"),
    ("TypeConstraintViolation", "TypeConstraintViolation", "TypeConstraintViolation"),
    ("PropertyConstraintViolation", "PropertyConstraintViolation", "PropertyConstraintViolation"),
    ("NotImplemented", "NotImplemented", "NotImplemented"),
    ("InternalError", "InternalError", "InternalError"),
])
def test_call_error_frame_spells_the_code_for_the_version(code, on_16, on_201):
    assert json.loads(ocppj.call_error_frame("u", code, "d", "1.6")) == [4, "u", on_16, "d", {}]
    assert json.loads(ocppj.call_error_frame("u", code, "d", "2.0.1")) == [4, "u", on_201, "d", {}]
    assert ocppj.wire_error_code(code, "1.6") == on_16
    assert ocppj.wire_error_code(code, "2.0.1") == on_201


def test_call_error_frame_read_back_by_the_ocpp_library():
    frame = messages.unpack(ocppj.call_error_frame("u", "OccurrenceConstraintViolation", "d", "1.6"))
    assert isinstance(frame, messages.CallError)
    assert frame.error_code == "OccurenceConstraintViolation"


def test_call_error_frame_without_unique_id_uses_minus_one():
    assert json.loads(ocppj.call_error_frame(None, "FormatViolation", "d", "1.6"))[1] == "-1"


def test_call_error_frame_truncates_the_description_and_keeps_details():
    frame = json.loads(ocppj.call_error_frame("u", "GenericError", "é" * 300, "1.6", {"a": [1]}))
    assert frame[3] == "é" * 255
    assert frame[4] == {"a": [1]}


def test_call_error_frame_round_trips():
    for version in ("1.6", "2.0.1"):
        text = ocppj.call_error_frame("u", "FormatViolation", "bad", version)
        assert parse_frame(text) == CallError("u", "FormatViolation", "bad", {})


@pytest.mark.parametrize(("code", "canonical"), [
    ("FormationViolation", "FormatViolation"),
    ("FormatViolation", "FormatViolation"),
    ("OccurenceConstraintViolation", "OccurrenceConstraintViolation"),
    ("OccurrenceConstraintViolation", "OccurrenceConstraintViolation"),
    ("GenericError", "GenericError"),
    ("SomethingElse", "SomethingElse"),
])
def test_canonical_error_code(code, canonical):
    assert ocppj.canonical_error_code(code) == canonical


def test_action_sets_do_not_overlap_except_data_transfer():
    charge_point, central = ocppj.CHARGE_POINT_ACTIONS["1.6"], ocppj.CENTRAL_SYSTEM_ACTIONS["1.6"]
    assert len(charge_point) == 14
    assert charge_point & central == {"DataTransfer"}


@pytest.mark.parametrize("text, payload_json", [
    ('[2,"u-1","Heartbeat",{}]', "{}"),
    (' [ 2 , "a,]\\"" , "DataTransfer" , { "vendorId" : "v", "data": "[1, \\"]\\"]" } ]\n',
     '{ "vendorId" : "v", "data": "[1, \\"]\\"]" }'),
    ('[2,"u-2","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"t","sampledValue":[{"value":"1.50"}]}],'
     '"x":1.50}]', '{"connectorId":1,"meterValue":[{"timestamp":"t","sampledValue":[{"value":"1.50"}]}],"x":1.50}'),
])
def test_a_call_keeps_its_payload_text_as_sent(text: str, payload_json: str) -> None:
    """The database gets the payload as the charger wrote it, not encoded again (and equal to it as JSON)."""
    call = parse_frame(text)
    assert isinstance(call, Call)
    assert call.payload_json == payload_json
    assert json.loads(call.payload_json) == call.payload
