"""What each OCPP version is made of, read from the ``ocpp`` package's schema files.

The schema files are the one source of which actions exist in a version and of
the shape of their payloads. They do not say who sends an action, so the one
fact kept here by hand is, per version, the actions a *charging station*
initiates (from the specifications' message lists); every other action of the
version is sent by the central system, and DataTransfer by both. An action
with a request schema and no response schema (OCPP 2.1's
``NotifyPeriodicEventStream.json``, named without the Request suffix) is an
unconfirmed message, sent as an OCPP-J SEND (message type 6) and never
answered. Everything else in pgcsms derives from this module: the proxy's
routing and validation, and the SQL catalog ``pgcsms.protocol_actions`` that
``pgcsms migrate`` fills from :func:`rows` (so SQL never keeps a list of its
own).
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
    "send_actions",
    "station_actions",
]

# Served versions, newest first, with the folder of their schemas in the ocpp package.
VERSIONS: dict[str, str] = {"2.1": "v21", "2.0.1": "v201", "1.6": "v16"}

# WebSocket subprotocol (OCPP-J) of each served version.
SUBPROTOCOLS: dict[str, str] = {f"ocpp{version}": version for version in VERSIONS}

# Sent by both sides.
BIDIRECTIONAL = frozenset({"DataTransfer"})

# OCPP-J message types (OCPP-J 1.6 §4.1.3, 2.1 Part 4 §4.1.3) that carry an action.
CALL, SEND = 2, 6

# The actions a charging station initiates, per version (OCPP 1.6 §4 and the
# Security Whitepaper; OCPP 2.0.1 Part 2 §"Messages"; OCPP 2.1: 2.0.1's and
# the station's messages of Part 0 §2's new blocks: battery swap (S), DER
# control (R), priority charging and dynamic schedules (K), payment
# settlement (C), periodic event streams (N), certificate chain status (M)).
# The one hand-kept fact.
_V201_STATION_INITIATED = frozenset({
    "Authorize", "BootNotification", "ClearedChargingLimit", "DataTransfer", "FirmwareStatusNotification",
    "Get15118EVCertificate", "GetCertificateStatus", "Heartbeat", "LogStatusNotification", "MeterValues",
    "NotifyChargingLimit", "NotifyCustomerInformation", "NotifyDisplayMessages", "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule", "NotifyEvent", "NotifyMonitoringReport", "NotifyReport",
    "PublishFirmwareStatusNotification", "ReportChargingProfiles", "ReservationStatusUpdate",
    "SecurityEventNotification", "SignCertificate", "StatusNotification", "TransactionEvent",
})
_STATION_INITIATED: dict[str, frozenset[str]] = {
    "1.6": frozenset({
        "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
        "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
        "StatusNotification", "StopTransaction", "SecurityEventNotification", "SignCertificate",
        "LogStatusNotification", "SignedFirmwareStatusNotification",
    }),
    "2.0.1": _V201_STATION_INITIATED,
    "2.1": _V201_STATION_INITIATED | {
        "BatterySwap", "ClosePeriodicEventStream", "GetCertificateChainStatus", "NotifyDERAlarm",
        "NotifyDERStartStop", "NotifyPeriodicEventStream", "NotifyPriorityCharging", "NotifySettlement",
        "OpenPeriodicEventStream", "PullDynamicScheduleUpdate", "ReportDERControl", "VatNumberValidation",
    },
}


@dataclass(frozen=True, slots=True)
class Action:
    """One action of one version, with its request and response schemas (no response: sent as a SEND)."""

    version: str
    name: str
    request: dict[str, Any]
    response: dict[str, Any] | None

    @property
    def sent_by_station(self) -> bool:
        return self.name in _STATION_INITIATED[self.version]

    @property
    def sent_by_central_system(self) -> bool:
        return not self.sent_by_station or self.name in BIDIRECTIONAL

    @property
    def sent_as_send(self) -> bool:
        """Unconfirmed (OCPP-J 2.1 SEND): it has no response schema, so it is never answered."""
        return self.response is None

    @property
    def message_type(self) -> int:
        """The OCPP-J message type it travels in: CALL (2), or SEND (6) when it is never answered."""
        return SEND if self.sent_as_send else CALL

    @property
    def answer_has_status(self) -> bool:
        """Whether the answer carries a top-level ``status`` (it decides accepted or rejected)."""
        return self.response is not None and "status" in self.response.get("properties", {})


def _schema_name(file_name: str, version: str) -> tuple[str, str] | None:
    """(action, "request" | "response" | "send") of a schema file name, None for other files.

    1.6 names a request after its action alone; 2.x names it XRequest, and
    names an unconfirmed message (a SEND, OCPP-J 2.1 §4.2.4) after its action
    alone.
    """
    if not file_name.endswith(".json"):
        return None
    stem = file_name[: -len(".json")]
    if stem.endswith("Response"):
        return stem[: -len("Response")], "response"
    if version == "1.6":
        return stem, "request"
    if stem.endswith("Request"):
        return stem[: -len("Request")], "request"
    return stem, "send"


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
    catalog = {}
    for name, pair in sorted(found.items()):
        if "request" in pair and "response" in pair:
            catalog[name] = Action(version, name, pair["request"], pair["response"])
        elif set(pair) == {"send"}:
            catalog[name] = Action(version, name, pair["send"], None)
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


def send_actions(version: str) -> frozenset[str]:
    """The actions a charging station of ``version`` sends unconfirmed, as a SEND (OCPP-J 2.1)."""
    return frozenset(name for name, action in actions(version).items()
                     if action.sent_by_station and action.sent_as_send)


def schemas(version: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """(action, request schema, response schema or None for a SEND) of every action of ``version``."""
    for name, action in actions(version).items():
        yield name, action.request, action.response


def rows() -> list[tuple[str, str, str, bool, int]]:
    """The SQL catalog's rows, one per direction:
    (ocpp_version, action, sent_by, answer_has_status, message_type: 2 CALL or 6 SEND)."""
    result = []
    for version in VERSIONS:
        for name, action in actions(version).items():
            if action.sent_by_station:
                result.append((version, name, "ChargingStation", action.answer_has_status, action.message_type))
            if action.sent_by_central_system:
                result.append((version, name, "CSMS", action.answer_has_status, action.message_type))
    return result
