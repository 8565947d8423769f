"""Hypothesis strategies for the fuzz tests: OCPP 1.6 payloads from the official schemas.

A small generator reads the JSON schemas the proxy validates against (those of
the ``ocpp`` package) and draws payloads that satisfy them: the keywords those
schemas use are type, properties, required, additionalProperties, enum,
maxLength, format date-time, items, minItems and $ref. Strings are arbitrary
text, mixed with strings that look like SQL.

How many examples: ``PGCSMS_FUZZ_EXAMPLES`` frames at the framing layer per
run (default 10,000, split over its tests), and 15 % of that through
``ocpp.parse`` (1,500 by default), which needs a database round trip each.
A release check runs ``PGCSMS_FUZZ_EXAMPLES=100000``.
"""

from __future__ import annotations

import json
import os
import string
from importlib import resources
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pgcsms.proxy import ocppj

__all__ = [
    "FRAMING_EXAMPLES", "PARSE_EXAMPLES", "SQL_STRINGS", "STORABLE", "calls", "fuzz_settings", "json_values",
    "payloads", "schema", "texts",
]

FRAMING_EXAMPLES = int(os.environ.get("PGCSMS_FUZZ_EXAMPLES", "10000"))
PARSE_EXAMPLES = max(100, FRAMING_EXAMPLES * 15 // 100)


def fuzz_settings(examples: int) -> settings:
    """Reproducible in CI: no example database, a seed derived from the test."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# Inputs a careless central system would paste into SQL.
SQL_STRINGS = [
    "'); DROP TABLE x; --",
    "x'); DROP TABLE pgcsms.charge_points; --",
    "' OR '1'='1",
    "'; SELECT pg_sleep(10); --",
    "1; DELETE FROM pgcsms.journal",
    "$$; DROP SCHEMA ocpp CASCADE; $$",
    "\\'; COMMIT; DROP TABLE pgcsms.transactions; --",
    "%s%s%s%n",
    "{}", "[]", "null", "\"", "\\", "' || (SELECT current_user) || '",
    "E'\\\\x41'", "\\u0041", "\U0001d54f \u00fcn\u00efc\u00f6d\u00e9 \u2713", "\u202e\u200b\ufeff",
]

# Text PostgreSQL can store: no U+0000 (text and jsonb refuse it) and no lone
# surrogates (not UTF-8). The proxy must refuse those before any SQL runs;
# they are fuzzed at the framing layer, not through ocpp.parse.
STORABLE = st.characters(codec="utf-8", exclude_characters="\x00")


def texts(max_size: int | None = None) -> st.SearchStrategy[str]:
    """Arbitrary storable text, or SQL-looking strings, at most ``max_size`` characters."""
    cap = 60 if max_size is None else max_size
    arbitrary = st.text(STORABLE, max_size=cap)
    sql = st.sampled_from(SQL_STRINGS).map(lambda s: s[:cap])
    return st.one_of(arbitrary, sql, st.text(string.printable, max_size=cap))


def _date_times() -> st.SearchStrategy[str]:
    """date-time strings the proxy accepts (RFC 3339, or without an offset)."""
    offsets = st.one_of(
        st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+05:30", "-03:00", "+14:00", "-12:00"]),
        st.builds(lambda sign, hours, minutes, colon: f"{sign}{hours:02d}{colon}{minutes:02d}",
                  st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59), st.sampled_from(["", ":"])),
        st.builds(lambda sign, hours: f"{sign}{hours:02d}", st.sampled_from("+-"), st.integers(0, 23)),
    )
    fractions = st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=12).map(lambda d: "." + d))
    return st.builds(
        lambda moment, separator, seconds, fraction, offset: (
            moment.strftime("%Y-%m-%d") + separator + moment.strftime("%H:%M")
            + (moment.strftime(":%S") + fraction if seconds else "") + offset),
        st.datetimes(), st.sampled_from("TTTt "), st.booleans(), fractions, offsets,
    ).filter(ocppj._is_date_time)


def _integers() -> st.SearchStrategy[int]:
    """Mostly plausible numbers, and the edges of 32- and 64-bit integers and beyond."""
    edges = [0, -1, 1, 2**31 - 1, -(2**31), 2**31, 2**63 - 1, -(2**63), 2**63, 10**30, -(10**30)]
    return st.one_of(st.integers(-5, 100), st.sampled_from(edges), st.integers())


def schema(action: str, kind: str = "") -> dict[str, Any]:
    """The official OCPP 1.6 JSON schema of an action (kind "" for the CALL, "Response")."""
    folder = resources.files("ocpp") / "v16" / "schemas"
    return json.loads((folder / f"{action}{kind}.json").read_text(encoding="utf-8"))


def from_schema(node: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid against one schema node."""
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/definitions/")
        return from_schema(root["definitions"][name], root)
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object":
        properties = node.get("properties", {})
        required = set(node.get("required", []))
        optional = [name for name in properties if name not in required]
        return st.fixed_dictionaries(
            {name: from_schema(properties[name], root) for name in properties if name in required},
            optional={name: from_schema(properties[name], root) for name in optional},
        )
    if kind == "array":
        return st.lists(from_schema(node["items"], root), min_size=node.get("minItems", 0), max_size=4)
    if kind == "string":
        if node.get("format") == "date-time":
            return _date_times()
        return texts(node.get("maxLength"))
    if kind == "integer":
        return _integers()
    if kind == "number":
        return st.one_of(_integers(), st.floats(allow_nan=False, allow_infinity=False))
    if kind == "boolean":
        return st.booleans()
    raise NotImplementedError(f"schema keyword set not handled: {node}")


def payloads(action: str) -> st.SearchStrategy[dict[str, Any]]:
    """Schema-valid CALL payloads for a charge point action."""
    root = schema(action)
    return from_schema(root, root)


def calls() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """(action, schema-valid payload) for every action a 1.6 charge point sends."""
    actions = sorted(ocppj.CHARGE_POINT_ACTIONS["1.6"])
    return st.one_of([payloads(action).map(lambda p, a=action: (a, p)) for action in actions])


def json_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    """Arbitrary JSON values, any text (U+0000 and lone surrogates too)."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=40), st.sampled_from(SQL_STRINGS))
    return st.recursive(
        scalars,
        lambda children: st.one_of(st.lists(children, max_size=5),
                                   st.dictionaries(st.text(max_size=12), children, max_size=5)),
        max_leaves=max_leaves,
    )
