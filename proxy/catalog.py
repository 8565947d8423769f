"""What each OCPP version is made of, read from the ``ocpp`` package's schema files.

The schema files are the one source of which actions exist in a version and of
the shape of their payloads. They do not say who sends an action, so the one
fact kept here by hand is, per version, the actions a *charging station*
initiates (from the specifications' message lists); every other action of the
version is sent by the central system, and DataTransfer by both. Everything
else in pgcsms derives from this module: the proxy's routing and validation,
and the SQL catalog ``pgcsms.protocol_actions`` that ``pgcsms migrate`` fills
from :func:`rows` (so SQL never keeps a list of its own).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "SUBPROTOCOLS",
    "VERSIONS",
    "Action",
    "actions",
    "central_system_actions",
    "rows",
    "schemas",
    "station_actions",
]

# Served versions, newest first, with the folder of their schemas in the ocpp package.
VERSIONS: dict[str, str] = {"2.0.1": "v201", "1.6": "v16"}

# WebSocket subprotocol (OCPP-J) of each served version.
SUBPROTOCOLS: dict[str, str] = {f"ocpp{version}": version for version in VERSIONS}

# Sent by both sides.
BIDIRECTIONAL = frozenset({"DataTransfer"})

# The actions a charging station initiates, per version (OCPP 1.6 §4 and the
# Security Whitepaper; OCPP 2.0.1 Part 2 §"Messages"). The one hand-kept fact.
_STATION_INITIATED: dict[str, frozenset[str]] = {
    "1.6": frozenset({
        "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
        "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
        "StatusNotification", "StopTransaction", "SecurityEventNotification", "SignCertificate",
        "LogStatusNotification", "SignedFirmwareStatusNotification",
    }),
    "2.0.1": frozenset({
        "Authorize", "BootNotification", "ClearedChargingLimit", "DataTransfer", "FirmwareStatusNotification",
        "Get15118EVCertificate", "GetCertificateStatus", "Heartbeat", "LogStatusNotification", "MeterValues",
        "NotifyChargingLimit", "NotifyCustomerInformation", "NotifyDisplayMessages", "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule", "NotifyEvent", "NotifyMonitoringReport", "NotifyReport",
        "PublishFirmwareStatusNotification", "ReportChargingProfiles", "ReservationStatusUpdate",
        "SecurityEventNotification", "SignCertificate", "StatusNotification", "TransactionEvent",
    }),
}


@dataclass(frozen=True, slots=True)
class Action:
    """One action of one version, with its request and response schemas."""

    version: str
    name: str
    request: dict[str, Any]
    response: dict[str, Any]

    @property
    def sent_by_station(self) -> bool:
        return self.name in _STATION_INITIATED[self.version]

    @property
    def sent_by_central_system(self) -> bool:
        return not self.sent_by_station or self.name in BIDIRECTIONAL

    @property
    def answer_has_status(self) -> bool:
        """Whether the answer carries a top-level ``status`` (it decides accepted or rejected)."""
        return "status" in self.response.get("properties", {})


def _schema_name(file_name: str, version: str) -> tuple[str, str] | None:
    """(action, "request" | "response") of a schema file name, None for other files."""
    if not file_name.endswith(".json"):
        return None
    stem = file_name[: -len(".json")]
    if stem.endswith("Response"):
        return stem[: -len("Response")], "response"
    if version == "1.6":  # 1.6 names a request after its action alone
        return stem, "request"
    if stem.endswith("Request"):
        return stem[: -len("Request")], "request"
    return None


@cache
def actions(version: str) -> dict[str, Action]:
    """Every action of ``version``, by name, read from the ``ocpp`` package's schema files."""
    folder = resources.files("ocpp") / VERSIONS[version] / "schemas"
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in folder.iterdir():
        named = _schema_name(entry.name, version)
        if named is None:
            continue
        name, kind = named
        found.setdefault(name, {})[kind] = json.loads(entry.read_text(encoding="utf-8"))
    catalog = {name: Action(version, name, pair["request"], pair["response"])
               for name, pair in sorted(found.items()) if "request" in pair and "response" in pair}
    unknown = _STATION_INITIATED[version] - catalog.keys()
    if unknown:
        raise RuntimeError(f"OCPP {version}: no schemas for {sorted(unknown)}; is the ocpp package too old?")
    return catalog


def station_actions(version: str) -> frozenset[str]:
    """The actions a charging station of ``version`` may send to us."""
    return frozenset(name for name, action in actions(version).items() if action.sent_by_station)


def central_system_actions(version: str) -> frozenset[str]:
    """The actions we may send to a charging station of ``version``."""
    return frozenset(name for name, action in actions(version).items() if action.sent_by_central_system)


def schemas(version: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(action, request schema, response schema) of every action of ``version``."""
    for name, action in actions(version).items():
        yield name, action.request, action.response


def rows() -> list[tuple[str, str, str, bool]]:
    """The SQL catalog's rows: (ocpp_version, action, sent_by, answer_has_status), one per direction."""
    result = []
    for version in VERSIONS:
        for name, action in actions(version).items():
            if action.sent_by_station:
                result.append((version, name, "ChargingStation", action.answer_has_status))
            if action.sent_by_central_system:
                result.append((version, name, "CSMS", action.answer_has_status))
    return result
