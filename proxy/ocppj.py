"""OCPP-J framing and payload validation, with no I/O.

Text frames go in; messages or :class:`FrameError` come out; frames to send
are built here too. Everything is a pure function of its input, so it is
tested by feeding it strings (``tests/framing``).

OCPP-J 1.6 spells two error codes the historic way on the wire
(``FormationViolation``, ``OccurenceConstraintViolation``); 2.0.1 renamed them.
Codes are written in their 2.0.1 spelling inside pgcsms and translated by
:func:`wire_error_code` for the connection's version; codes received from
chargers are read in either spelling (:func:`canonical_error_code`).

OCPP-J 2.1 (Part 4 §4.1.3) adds two message types: SEND (6), an unconfirmed
message that is never answered, and CALLRESULTERROR (5), the reply to a
CALLRESULT that cannot be processed; and a 2.1 peer ignores message types it
does not know instead of answering them. What a frame is therefore depends on
the connection's version: :func:`parse_frame` takes it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jsonschema_rs

from . import catalog

__all__ = [
    "CALL",
    "CALLERROR",
    "CALLRESULT",
    "CALLRESULTERROR",
    "CENTRAL_SYSTEM_ACTIONS",
    "CHARGE_POINT_ACTIONS",
    "MESSAGE_TYPES",
    "MESSAGE_TYPES_OF",
    "SEND",
    "SEND_ACTIONS",
    "Call",
    "CallError",
    "CallResult",
    "CallResultError",
    "FrameError",
    "PayloadError",
    "Send",
    "Validator",
    "call_error_frame",
    "call_frame",
    "call_result_error_frame",
    "call_result_frame",
    "canonical_error_code",
    "nesting_depth",
    "parse_frame",
    "wire_error_code",
]

CALL, CALLRESULT, CALLERROR, CALLRESULTERROR, SEND = 2, 3, 4, 5, 6

# The message types of each served version's OCPP-J (1.6 and 2.0.1 §4.1.3;
# 2.1 Part 4 §4.1.3 adds CALLRESULTERROR and SEND).
_RPC = frozenset({CALL, CALLRESULT, CALLERROR})
MESSAGE_TYPES_OF: dict[str, frozenset[int]] = {"1.6": _RPC, "2.0.1": _RPC, "2.1": _RPC | {CALLRESULTERROR, SEND}}
# Every message type of any served version (what the journal records).
MESSAGE_TYPES = frozenset().union(*MESSAGE_TYPES_OF.values())
# Versions whose peers ignore a message type they do not know (2.1 §4.1.3,
# §4.4); before 2.1 it is answered with a CALLERROR.
_IGNORES_UNKNOWN_TYPES = frozenset({"2.1"})

# OCPP-J 1.6 §4.1.3: a uniqueId is a string of at most 36 characters.
MAX_UNIQUE_ID_LENGTH = 36

# Which actions each side sends, per served version (derived from the schema files: catalog.py).
CHARGE_POINT_ACTIONS: dict[str, frozenset[str]] = {version: catalog.station_actions(version)
                                                   for version in catalog.VERSIONS}
CENTRAL_SYSTEM_ACTIONS: dict[str, frozenset[str]] = {version: catalog.central_system_actions(version)
                                                     for version in catalog.VERSIONS}
# Which of a station's actions come as a SEND, never answered (schemas without a response).
SEND_ACTIONS: dict[str, frozenset[str]] = {version: catalog.send_actions(version) for version in catalog.VERSIONS}

# 2.0.1 spelling -> 1.6 spelling. 2.0.1 also split 1.6's ProtocolError: a frame
# that is no valid RPC message is RpcFrameworkError, an unknown message type
# MessageTypeNotSupported; a 1.6 charger hears ProtocolError for both.
_RENAMED_IN_2_0_1 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    "RpcFrameworkError": "ProtocolError",
    "MessageTypeNotSupported": "ProtocolError",
}
_CANONICAL = {old: new for new, old in _RENAMED_IN_2_0_1.items() if old != "ProtocolError"}


def wire_error_code(code: str, version: str) -> str:
    """The spelling of an error code on a connection of this OCPP version."""
    if version == "1.6":
        return _RENAMED_IN_2_0_1.get(code, code)
    return code


def canonical_error_code(code: str) -> str:
    """Read an error code in either spelling; return the 2.0.1 one."""
    return _CANONICAL.get(code, code)


@dataclass(frozen=True, slots=True)
class _Request:
    """What a CALL and a SEND carry: an action and its payload."""

    unique_id: str
    action: str
    payload: dict[str, Any]
    #: The payload's JSON text as it came (empty when unknown): passed on to
    #: the database as it is rather than encoded again.
    payload_json: str = field(default="", compare=False, repr=False)

    def payload_text(self) -> str:
        return self.payload_json or json.dumps(self.payload, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Call(_Request):
    """A CALL: answered with a CALLRESULT or a CALLERROR."""


@dataclass(frozen=True, slots=True)
class CallResult:
    unique_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    unique_id: str
    error_code: str
    error_description: str
    error_details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResultError:
    """OCPP-J 2.1: the peer could not process the CALLRESULT with this messageId."""

    unique_id: str
    error_code: str
    error_description: str
    error_details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Send(_Request):
    """OCPP-J 2.1: an unconfirmed message; it is never answered."""


class FrameError(Exception):
    """A frame that is not a well-formed OCPP-J message of the connection's ``version``.

    ``message_type`` and ``unique_id`` are what could be read of it (``None``
    when nothing could); only a CALL, or a frame whose type is unknown before
    2.1, is answered with a CALLERROR (see :attr:`answerable`). ``code`` is
    in canonical spelling.
    """

    def __init__(self, code: str, description: str, *, unique_id: str | None = None,
                 message_type: int | None = None, action: str | None = None, version: str = "1.6") -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.unique_id = unique_id
        self.message_type = message_type
        self.action = action
        self.version = version

    @property
    def answerable(self) -> bool:
        """A CALLERROR may only answer a CALL (or what may have been one).

        Answers and SENDs are never answered; a message type the version does
        not know is answered (MessageTypeNotSupported) before 2.1 and
        ignored from 2.1 on.
        """
        if self.message_type is None or self.message_type == CALL:
            return True
        if self.message_type in MESSAGE_TYPES_OF[self.version]:
            return False
        return self.version not in _IGNORES_UNKNOWN_TYPES


class PayloadError(Exception):
    """A payload that breaks its JSON schema; ``code`` is the OCPP-J error code."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


_UNIQUE_ID_PREFIX = re.compile(r'\s*\[\s*(\d+)\s*,\s*"((?:[^"\\]|\\.){0,36})"')

# PostgreSQL text holds neither U+0000 nor a lone surrogate, and a lone surrogate
# cannot even be encoded to answer. Only JSON escapes bring them into a decoded frame.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, list):
        return any(_unstorable(item) for item in value)
    if isinstance(value, dict):
        return any(_unstorable(key) or _unstorable(item) for key, item in value.items())
    return False


def _salvage(text: str) -> tuple[int | None, str | None]:
    """The message type and uniqueId of a frame that is not valid JSON, if readable."""
    match = _UNIQUE_ID_PREFIX.match(text)
    if match is None:
        return None, None
    # Thousands of digits are no message type, and more than int() will read.
    digits = match.group(1)
    message_type = int(digits) if len(digits) <= 9 else None
    try:
        unique_id = json.loads(f'"{match.group(2)}"')
    except ValueError:
        return message_type, None
    return message_type, None if not unique_id or _unstorable(unique_id) else unique_id


def nesting_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar is 0)."""
    depth = 0
    level: list[Any] = [value]
    while level:
        containers = [item for item in level if isinstance(item, (dict, list))]
        if not containers:
            break
        depth += 1
        level = [child for item in containers for child in (item.values() if isinstance(item, dict) else item)]
    return depth


def parse_frame(text: str, *, max_nesting: int = 32,
                version: str = "1.6") -> Call | CallResult | CallError | CallResultError | Send:
    """Read one OCPP-J frame of a ``version`` connection; raise :class:`FrameError` for anything else.

    The frame array itself counts as one level of ``max_nesting``. SEND and
    CALLRESULTERROR exist from 2.1 on; before, they are unknown message types.
    """
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        message_type, unique_id = _salvage(text)
        raise FrameError("FormatViolation", "frame is not valid JSON",
                         unique_id=unique_id, message_type=message_type, version=version) from None
    # Brackets bound the depth: most frames need no walk (text.count runs in C).
    if text.count("[") + text.count("{") > max_nesting and nesting_depth(frame) > max_nesting:
        message_type, unique_id = _salvage(text)
        raise FrameError("FormatViolation", f"JSON nested deeper than {max_nesting} levels",
                         unique_id=unique_id, message_type=message_type, version=version)
    if not isinstance(frame, list) or not frame:
        raise FrameError("FormatViolation", "frame is not a JSON array", version=version)
    message_type = frame[0]
    if not isinstance(message_type, int) or isinstance(message_type, bool):
        raise FrameError("FormatViolation", "message type is not an integer", version=version)
    unique_id = frame[1] if len(frame) > 1 else None
    if (not isinstance(unique_id, str) or not unique_id or len(unique_id) > MAX_UNIQUE_ID_LENGTH
            or _unstorable(unique_id)):
        raise FrameError("RpcFrameworkError", "uniqueId must be a string of 1 to 36 characters",
                         message_type=message_type, version=version)
    try:
        unstorable = "\\u" in text and _unstorable(frame)
    except RecursionError:
        unstorable = True
    if unstorable:
        raise FrameError("FormatViolation", "frame holds \\u0000 or an unpaired surrogate",
                         unique_id=unique_id, message_type=message_type, version=version)
    if message_type not in MESSAGE_TYPES_OF[version]:
        raise FrameError("MessageTypeNotSupported", f"unknown message type {message_type}", unique_id=unique_id,
                         message_type=message_type, version=version)
    if message_type in (CALL, SEND):
        name = "CALL" if message_type == CALL else "SEND"
        if len(frame) != 4:
            raise FrameError("RpcFrameworkError", f"a {name} is [{message_type}, uniqueId, action, payload]",
                             unique_id=unique_id, message_type=message_type, version=version)
        action, payload = frame[2], frame[3]
        if not isinstance(action, str) or not action:
            raise FrameError("RpcFrameworkError", "action must be a non-empty string",
                             unique_id=unique_id, message_type=message_type, version=version)
        if not isinstance(payload, dict):
            raise FrameError("FormatViolation", "payload must be a JSON object",
                             unique_id=unique_id, message_type=message_type, action=action, version=version)
        payload_json = _last_element_text(text)
        return (Call(unique_id, action, payload, payload_json) if message_type == CALL
                else Send(unique_id, action, payload, payload_json))
    if message_type == CALLRESULT:
        if len(frame) != 3 or not isinstance(frame[2], dict):
            raise FrameError("FormatViolation", "a CALLRESULT is [3, uniqueId, payload]",
                             unique_id=unique_id, message_type=CALLRESULT, version=version)
        return CallResult(unique_id, frame[2])
    name = "CALLERROR" if message_type == CALLERROR else "CALLRESULTERROR"
    if (len(frame) != 5 or not isinstance(frame[2], str) or not isinstance(frame[3], str)
            or not isinstance(frame[4], dict)):
        raise FrameError("FormatViolation",
                         f"a {name} is [{message_type}, uniqueId, errorCode, errorDescription, errorDetails]",
                         unique_id=unique_id, message_type=message_type, version=version)
    if message_type == CALLERROR:
        return CallError(unique_id, canonical_error_code(frame[2]), frame[3], frame[4])
    return CallResultError(unique_id, canonical_error_code(frame[2]), frame[3], frame[4])


_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


def _last_element_text(text: str) -> str:
    """The JSON text of the last element of a frame known to be ``[number, string, string, value]``.

    Steps over the first three elements (short) with the standard decoder's
    scanner; what follows the third comma up to the closing bracket is the
    last element, as the sender wrote it.
    """
    index = text.index("[") + 1
    for _ in range(3):
        while text[index] in _WHITESPACE:
            index += 1
        _, index = _DECODER.raw_decode(text, index)
        index = text.index(",", index) + 1
    return text[index:text.rindex("]")].strip(_WHITESPACE)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def call_frame(unique_id: str, action: str, payload_json: str) -> str:
    """A CALL; the payload is JSON text already."""
    return f"[{CALL},{_dumps(unique_id)},{_dumps(action)},{payload_json}]"


def call_result_frame(unique_id: str, payload_json: str) -> str:
    """A CALLRESULT; the payload is JSON text, as the database returns it."""
    return f"[{CALLRESULT},{_dumps(unique_id)},{payload_json}]"


def call_error_frame(unique_id: str | None, code: str, description: str, version: str,
                     details: dict[str, Any] | None = None) -> str:
    """A CALLERROR, its code spelled for ``version``.

    A uniqueId that could not be read is sent as "-1", as OCPP 2.0.1 §4.2.3
    prescribes and 1.6 chargers tolerate.
    """
    return _dumps([CALLERROR, unique_id if unique_id is not None else "-1",
                   wire_error_code(code, version), description[:255], details or {}])


def call_result_error_frame(unique_id: str, code: str, description: str,
                            details: dict[str, Any] | None = None) -> str:
    """A CALLRESULTERROR (OCPP-J 2.1 only): the CALLRESULT with this messageId could not be processed."""
    return _dumps([CALLRESULTERROR, unique_id, code, description[:255], details or {}])


# -- payload validation -------------------------------------------------------

# Which CALLERROR a broken schema keyword earns (OCPP-J 1.6 §4.2.3).
_ERROR_FOR_KEYWORD = {
    "Type": "TypeConstraintViolation",
    "Format": "TypeConstraintViolation",
    "Required": "OccurrenceConstraintViolation",
    "MinItems": "OccurrenceConstraintViolation",
    "MaxItems": "OccurrenceConstraintViolation",
    "UniqueItems": "OccurrenceConstraintViolation",
    "Enum": "PropertyConstraintViolation",
    "Constant": "PropertyConstraintViolation",
    "MaxLength": "PropertyConstraintViolation",
    "MinLength": "PropertyConstraintViolation",
    "Minimum": "PropertyConstraintViolation",
    "Maximum": "PropertyConstraintViolation",
    "ExclusiveMinimum": "PropertyConstraintViolation",
    "ExclusiveMaximum": "PropertyConstraintViolation",
    "MultipleOf": "PropertyConstraintViolation",
    "Pattern": "PropertyConstraintViolation",
    "AdditionalProperties": "FormatViolation",
}

_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?([Zz]|[+-]\d\d(:?\d\d)?)?")


def _is_date_time(value: str) -> bool:
    # RFC 3339, and also without an offset: much firmware omits it (read as UTC).
    if not _DATE_TIME.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value[:-1] + "+00:00" if value[-1] in "Zz" else value)
    except ValueError:
        return False
    return True


# The JSON Schema drafts the schema files declare in "$schema": 1.6's are
# draft-04 (its Security Whitepaper's draft-06), 2.0.1's and 2.1's draft-06.
_DRAFTS: dict[str, Any] = {
    "http://json-schema.org/draft-04/schema#": jsonschema_rs.Draft4Validator,
    "http://json-schema.org/draft-06/schema#": jsonschema_rs.Draft6Validator,
    "http://json-schema.org/draft-07/schema#": jsonschema_rs.Draft7Validator,
}


class Validator:
    """The official JSON schemas of one OCPP version, compiled once, each with the draft it declares."""

    __slots__ = ("_requests", "_responses", "version")

    def __init__(self, version: str = "1.6") -> None:
        if version not in catalog.VERSIONS:
            raise ValueError(f"OCPP {version} is not served")
        self.version = version
        schemas = list(catalog.schemas(version))
        declared = Counter(schema["$schema"] for _, request, response in schemas for schema in (request, response)
                           if schema is not None and "$schema" in schema)
        unknown = declared.keys() - _DRAFTS.keys()
        if unknown or not declared:
            raise RuntimeError(f"OCPP {version}: schemas of unknown JSON Schema drafts {sorted(unknown)}")
        # A file that declares none is taken to be of its version's usual draft.
        usual = declared.most_common(1)[0][0]

        def compiled(schema: dict[str, Any]) -> Any:
            draft = _DRAFTS[schema.get("$schema", usual)]
            return draft(schema, validate_formats=True, formats={"date-time": _is_date_time})

        self._requests: dict[str, Any] = {}
        self._responses: dict[str, Any] = {}
        for action, request, response in schemas:
            self._requests[action] = compiled(request)
            if response is not None:
                self._responses[action] = compiled(response)

    def check_request(self, action: str, payload: dict[str, Any]) -> None:
        """Raise :class:`PayloadError` if the CALL (or SEND) payload breaks its schema."""
        self._check(self._requests[action], payload, action)

    def check_response(self, action: str, payload: dict[str, Any]) -> None:
        """Raise :class:`PayloadError` if the CALLRESULT payload breaks its schema (KeyError: a SEND has none)."""
        self._check(self._responses[action], payload, action + "Response")

    @staticmethod
    def _check(validator: Any, payload: dict[str, Any], name: str) -> None:
        if validator.is_valid(payload):
            return
        error = next(iter(validator.iter_errors(payload)))
        keyword = type(error.kind).__name__
        where = "/".join(str(part) for part in error.instance_path) or "(payload)"
        raise PayloadError(_ERROR_FOR_KEYWORD.get(keyword, "FormatViolation"),
                           f"{name} {where}: {error.message}"[:255])
