"""The README's coverage table is generated from the catalog, the database and the tests, never written by hand.

Each row: an action of a version, who sends it, the SQL that handles it (the
handler of a station's CALL, or the helper that queues a command and the
effect its answer has) and the test files that exercise it. A stale table
fails this test; ``PGCSMS_WRITE_COVERAGE=1 python -m pytest tests/sql/v201/test_coverage_table.py``
rewrites it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pgcsms.proxy import catalog

pytestmark = pytest.mark.rollback

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
BEGIN, END = "<!-- coverage:begin -->", "<!-- coverage:end -->"
_WHEN = re.compile(r"WHEN\s+((?:'\w+'(?:\s*,\s*)?)+)\s+THEN\s+(?:PERFORM\s+)?(ocpp\.\w+)")

# Which test files speak which version: 2.0.1 tests live in v201 folders or files, 2.1 tests in v21 ones.
_TESTS = sorted(path for path in (ROOT / "tests").rglob("test_*.py") if path.name != Path(__file__).name)


def _version_of(path: Path) -> str:
    return "2.1" if "v21" in path.as_posix() else "2.0.1" if "v201" in path.as_posix() else "1.6"


async def _routes(db, function: str) -> dict[str, str]:
    definition = await db.fetchval("SELECT pg_get_functiondef($1::regprocedure)", function)
    return {action: handler for actions, handler in _WHEN.findall(definition)
            for action in re.findall(r"'(\w+)'", actions)}


def _tests_of(action: str, version: str, helper: str | None = None) -> list[str]:
    """Test files of the version that name the action (quoted) or call its helper."""
    quoted = re.compile(rf"""["']{action}["']""" + (rf"|{re.escape(helper)}\(" if helper else ""))
    return [path.relative_to(ROOT).as_posix() for path in _TESTS
            if _version_of(path) == version and quoted.search(path.read_text(encoding="utf-8"))]


async def _table(db) -> str:
    station = {"1.6": await _routes(db, "ocpp._dispatch(text, text, text, jsonb, text)"),
               "2.0.1": await _routes(db, "ocpp._dispatch_v201(text, text, text, jsonb, text)")}
    effects = {"1.6": await _routes(db, "ocpp._command_effect(pgcsms.commands)"),
               "2.0.1": await _routes(db, "ocpp._command_effect_v201(pgcsms.commands)")}
    # 2.1 routes what it adds, and passes the rest to 2.0.1's routing.
    station["2.1"] = {**station["2.0.1"], **await _routes(db, "ocpp._dispatch_v21(text, text, text, jsonb)")}
    effects["2.1"] = {**effects["2.0.1"], **await _routes(db, "ocpp._command_effect_v21(pgcsms.commands)")}
    helpers = {(row["ocpp_version"], row["action"]): row["helper"]
               for row in await db.fetch("SELECT ocpp_version, action, helper FROM ocpp.command_actions")}
    lines = ["| version | action | sent by | handled in SQL by | tested in |", "|---|---|---|---|---|"]
    for version in sorted(catalog.VERSIONS):
        for action in sorted(catalog.actions(version)):
            entry = catalog.actions(version)[action]
            found = _tests_of(action, version, helpers.get((version, action)))
            # The SQL and end-to-end tests first, the rest counted.
            found.sort(key=lambda name: (not name.startswith(("tests/sql", "tests/e2e")), name))
            tests = ", ".join(f"`{name.removeprefix('tests/')}`" for name in found[:3]) or "—"
            if len(found) > 3:
                tests += f" (+{len(found) - 3})"
            if entry.sent_by_station:
                handler = station[version].get(action)
                lines.append(f"| {version} | {action} | station | `{handler}` | {tests} |" if handler else
                             f"| {version} | {action} | station | — | {tests} |")
            if entry.sent_by_central_system:
                parts = [f"`ocpp.send`{f', `{helpers[(version, action)]}`' if helpers.get((version, action)) else ''}"]
                if effects[version].get(action):
                    parts.append(f"effect `{effects[version][action]}`")
                lines.append(f"| {version} | {action} | CSMS | {'; '.join(parts)} | {tests} |")
    return "\n".join(lines)


async def test_the_readme_table_is_current(db):
    table = await _table(db)
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"README.md needs {BEGIN} … {END}"
    before, rest = text.split(BEGIN, 1)
    current, after = rest.split(END, 1)
    if os.environ.get("PGCSMS_WRITE_COVERAGE"):
        README.write_text(f"{before}{BEGIN}\n{table}\n{END}{after}", encoding="utf-8")
        return
    assert current.strip() == table.strip(), ("README coverage table is stale: "
                                              f"PGCSMS_WRITE_COVERAGE=1 python -m pytest {Path(__file__).name}")


async def test_every_station_action_is_handled_and_tested(db):
    table = await _table(db)
    uncovered = [line for line in table.splitlines()[2:] if "| station | — |" in line or line.endswith("| — |")]
    assert uncovered == []
