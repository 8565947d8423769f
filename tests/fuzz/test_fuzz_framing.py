"""Fuzz the framing layer: ``ocppj.parse_frame`` then ``Validator.check_request``.

Whatever text arrives, the outcome is a message, or a FrameError/PayloadError
carrying a known OCPP-J error code, from which a well-formed CALLERROR is built;
never any other exception. Three sources of frames: arbitrary text, arbitrary
JSON, and valid OCPP 1.6 CALLs mutated. ``PGCSMS_FUZZ_EXAMPLES`` frames in all
(default 10,000; see ocpp_strategies.py).

Drawing an example costs hypothesis about a millisecond, reading a frame a few
microseconds, so each example is read as several frames: the text itself and
variants of it (spliced into a valid frame, or mutated by a random.Random
seeded from the example, so a failure replays from what hypothesis reports).
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp_strategies import FRAMING_EXAMPLES, SQL_STRINGS, STORABLE, calls, fuzz_settings, json_values
from pgcsms.proxy import ocppj

KNOWN_CODES = {
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError", "FormatViolation",
    "PropertyConstraintViolation", "OccurrenceConstraintViolation", "TypeConstraintViolation", "GenericError",
    "RpcFrameworkError", "MessageTypeNotSupported",
}
WIRE_CODES_1_6 = {ocppj.wire_error_code(code, "1.6") for code in KNOWN_CODES}
VALIDATOR = ocppj.Validator("1.6")
ACTIONS = ocppj.CHARGE_POINT_ACTIONS["1.6"]

# Frames per test, and frames read per hypothesis example.
TEXT_FRAMES = FRAMING_EXAMPLES * 3 // 10
JSON_FRAMES = FRAMING_EXAMPLES * 3 // 10
MUTATED_FRAMES = FRAMING_EXAMPLES - TEXT_FRAMES - JSON_FRAMES
TEXT_VARIANTS, JSON_VARIANTS, MUTATIONS = 4, 4, 8

seen = {"frames": 0}


def check_call_error(frame: str, unique_id: str | None, code: str) -> None:
    """A CALLERROR as OCPP-J 1.6 spells it: [4, uniqueId, errorCode, errorDescription, errorDetails]."""
    message = json.loads(frame)
    assert isinstance(message, list) and len(message) == 5
    assert message[0] == ocppj.CALLERROR
    assert message[1] == (unique_id if unique_id is not None else "-1")
    assert message[2] == ocppj.wire_error_code(code, "1.6") and message[2] in WIRE_CODES_1_6
    assert isinstance(message[3], str) and len(message[3]) <= 255
    assert message[4] == {}


def read(text: str) -> str:
    """What the proxy makes of one text frame: the kind of outcome, after checking it."""
    seen["frames"] += 1
    # A WebSocket text frame is UTF-8: a lone surrogate can only arrive as a JSON escape.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        return _read(text)
    except Exception as error:
        raise AssertionError(f"frame {text[:2000]!r} -> {type(error).__name__}: {error}") from error


def _read(text: str) -> str:
    try:
        message = ocppj.parse_frame(text)
    except ocppj.FrameError as error:
        assert error.code in KNOWN_CODES, error.code
        assert error.unique_id is None or (isinstance(error.unique_id, str) and len(error.unique_id) <= 36)
        if error.answerable:
            check_call_error(ocppj.call_error_frame(error.unique_id, error.code, error.description, "1.6"),
                             error.unique_id, error.code)
        return "frame error"
    assert isinstance(message, (ocppj.Call, ocppj.CallResult, ocppj.CallError))
    assert isinstance(message.unique_id, str) and 1 <= len(message.unique_id) <= 36
    if not isinstance(message, ocppj.Call):
        return type(message).__name__
    assert isinstance(message.action, str) and message.action
    assert isinstance(message.payload, dict)
    if message.action not in ACTIONS:
        return "unknown action"  # answered NotImplemented or NotSupported by the proxy
    try:
        VALIDATOR.check_request(message.action, message.payload)
    except ocppj.PayloadError as error:
        assert error.code in KNOWN_CODES, error.code
        assert len(error.description) <= 255
        check_call_error(ocppj.call_error_frame(message.unique_id, error.code, error.description, "1.6"),
                         message.unique_id, error.code)
        return "payload error"
    return "valid call"


# -- arbitrary text -------------------------------------------------------------------

HEARTBEAT = '[2,"u-1","Heartbeat",{}]'

frame_like_text = st.one_of(
    st.text(max_size=200),
    st.text("[]{}\",:0123456789.-+eE truefalsn\\u", max_size=120),
    st.builds(lambda head, tail: head + tail,
              st.sampled_from(['[2,"', '[3,"', '[4,"', "[2,", '[2,"1","Heartbeat",', '[2,"1","BootNotification",{']),
              st.text(max_size=80)),
)


@fuzz_settings(TEXT_FRAMES // TEXT_VARIANTS)
@given(frame_like_text, st.integers(0, len(HEARTBEAT)))
def test_arbitrary_text(text: str, at: int) -> None:
    read(text)
    read(HEARTBEAT[:at] + text + HEARTBEAT[at:])  # spliced into a valid frame
    read(HEARTBEAT[:at] + text)  # cut short
    read(text + HEARTBEAT[at:])


# -- arbitrary JSON -------------------------------------------------------------------

def frame_shaped() -> st.SearchStrategy[list[Any]]:
    """Arrays that look like OCPP-J frames, with any JSON in any slot."""
    message_types = st.one_of(st.sampled_from([2, 3, 4]), st.integers(), json_values(3))
    unique_ids = st.one_of(st.text(min_size=1, max_size=36), st.text(max_size=60), json_values(3))
    actions = st.one_of(st.sampled_from(sorted(ACTIONS | ocppj.CENTRAL_SYSTEM_ACTIONS["1.6"])), st.text(max_size=30),
                        json_values(3))
    return st.builds(lambda t, u, rest: [t, u, *rest], message_types, unique_ids,
                     st.lists(st.one_of(actions, json_values()), max_size=4))


@fuzz_settings(JSON_FRAMES // JSON_VARIANTS)
@given(st.one_of(json_values(), frame_shaped()), st.sampled_from(sorted(ACTIONS)))
def test_arbitrary_json(value: Any, action: str) -> None:
    read(json.dumps(value))
    read(json.dumps(value, ensure_ascii=False))
    read(json.dumps([ocppj.CALL, "u-1", action, value], ensure_ascii=False))  # as a payload
    read(json.dumps([ocppj.CALL, "u-1", action, {"idTag": value, "connectorId": value, "status": value}]))


# -- valid OCPP CALLs, mutated --------------------------------------------------------

def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


SPLICES = [
    "\\u0000", "\\ud800", "\\udc00x", "NaN", "Infinity", "-Infinity", "1e999", "-0", "1.0", "1e2",
    "99999999999999999999999999999", "null", "true", '""', "{}", "[]", '"' + "x" * 300 + '"',
    nested(50), nested(900), nested(5000), '{"a":' * 200 + "1" + "}" * 200, ",", "]", "}", '"', "\\",
    "\x00", "\u2028", "\ufeff", *(json.dumps(s) for s in SQL_STRINGS),
]
ODD_VALUES: list[Any] = [
    None, True, 0, -1, 2**31, 2**63, 10**30, -(10**30), 1.5, 1e308, "", "x" * 1000, [], {}, [[[]]],
    "\x00", "\ud800", *SQL_STRINGS,
]


def mutate(rng: random.Random, action: str, payload: dict[str, Any], unique_id: str) -> str:
    """One mutation of a valid CALL: of the frame structure, of the payload, or of the text."""
    frame: list[Any] = [ocppj.CALL, unique_id, action, copy.deepcopy(payload)]
    how = rng.choice(["text", "text", "text", "frame", "payload", "payload"])
    if how == "frame":
        slot = rng.randrange(5)
        replacement = rng.choice([*ODD_VALUES, 2, 3, 4, 5, 2.0, "2", "u" * 37, rng.choice(sorted(ACTIONS))])
        if slot == 4:
            frame.append(replacement)
        elif rng.random() < 0.5:
            frame[slot] = replacement
        else:
            del frame[slot]
    elif how == "payload":
        body = frame[3]
        if body and rng.random() < 0.5:
            del body[rng.choice(sorted(body))]
        key = rng.choice([*sorted(body), "x", "", "idTag", "connectorId", "timestamp", "status"])
        body[key] = rng.choice(ODD_VALUES)
    text = json.dumps(frame, ensure_ascii=rng.random() < 0.5)
    if how == "text":
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(text))
            end = rng.randint(at, min(len(text), at + 8))
            insert = rng.choice([*SPLICES, "", text[rng.randrange(len(text)):][:6], chr(rng.randrange(0x110000))])
            text = text[:at] + insert + text[end:]
    return text


@fuzz_settings(MUTATED_FRAMES // MUTATIONS)
@given(calls(), st.text(STORABLE, min_size=1, max_size=36), st.integers(0, 2**32))
def test_mutated_valid_calls(call: tuple[str, dict[str, Any]], unique_id: str, seed: int) -> None:
    action, payload = call
    assert read(json.dumps([ocppj.CALL, unique_id, action, payload])) == "valid call"
    rng = random.Random(seed)
    for _ in range(MUTATIONS - 1):
        read(mutate(rng, action, payload, unique_id))


def test_deep_nesting_and_huge_frames() -> None:
    """The frames a fuzzer finds only by luck, every run."""
    for frame in [nested(100_000), "[2," * 50_000, '[2,"1","Heartbeat",' + '{"a":' * 10_000,
                  '[2,"1","DataTransfer",{"vendorId":"v","data":' + nested(2000) + "}]",
                  '[2,"1","DataTransfer",{"vendorId":"v","data":"' + "x" * 1_000_000 + '"}]',
                  '[2,"' + "x" * 10_000 + '","Heartbeat",{}]', "\x00", '[2,"\x00","Heartbeat",{}]']:
        read(frame)


def test_every_generated_frame_was_read() -> None:
    """At least the promised number of frames went through (when the whole file runs)."""
    if seen["frames"] < FRAMING_EXAMPLES:
        pytest.skip(f"only {seen['frames']} frames read in this session: run the whole file")
    assert seen["frames"] >= FRAMING_EXAMPLES
