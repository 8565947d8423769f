"""Simulated charge points: a fleet of OCPP chargers that boot, heartbeat, charge and answer commands.

``pgcsms simulate --url ws://HOST:PORT/ocpp --count N`` runs N chargers named
PREFIX0001, PREFIX0002, ... against a central system, with the ``ocpp``
package's own client (``ocpp.v16.ChargePoint``, ``ocpp.v201.ChargePoint``: it
checks every message both ways against the version's schemas) over ``websockets``.

Two layers, so that another OCPP version is one more class:

- :class:`Charger` is the charger itself, the same in every version: two
  connectors with their own energy meters, a configuration, the cars that
  arrive and charge (sessions), the connection that drops and comes back.
- A protocol class per version (:class:`Ocpp16`, :class:`Ocpp201`, listed in
  :data:`PROTOCOLS`) is one open connection: it turns what the charger does
  into CALLs and the central system's CALLs into actions on the charger. In
  2.0.1 the two connectors are two EVSEs of one connector each, a session is a
  TransactionEvent story (Started, Updated, Ended, numbered by seqNo), and the
  configuration is read and written as a device model (:data:`DEVICE_MODEL`).

Time: ``speed`` simulated seconds pass per wall-clock second for what the car
and the meter do (when cars arrive, how long they charge, the energy of every
sample), so sessions of 5 to 20 simulated minutes take 5 to 20 seconds at the
default 60. The protocol's own timers stay in wall-clock seconds, as the central
system sets and sees them: HeartbeatInterval, MeterValueSampleInterval, boot
retries, reconnect backoff, response timeouts. Timestamps are the real time, so
a central system that derives energy from timestamped readings (2.0.1) sees
the power times the speed: pgcsms leaves out steps above its energy_step_max_kw
setting (1000 kW), i.e. above a speed of about 85 for these 7-11 kW cars.

Transaction messages wait for a connection and go in order (StartTransaction
and StopTransaction; in 2.0.1 every TransactionEvent, ``offline`` when what it
tells happened while the charger had no accepted connection); one that was sent
and not answered is sent again as it was, same uniqueId and payload. 1.6
MeterValues are sent only while connected.

Errors (the charger's side of a CALL)::

    ChargerError
    ├── Offline     the connection went away, or never got a BootNotification accepted
    └── BadAnswer   the central system answered with a CALLERROR, or with a payload
                    that breaks the schema
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import functools
import json
import logging
import random
import re
import signal
import sys
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from ocpp import v201
from ocpp.charge_point import ChargePoint as LibraryChargePoint
from ocpp.exceptions import OccurrenceConstraintViolationError, OCPPError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from ocpp.v201.enums import Action as Action201
from ocpp.v201.enums import MeasurandEnumType
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.headers import build_authorization_basic
from websockets.typing import Subprotocol

__all__ = [
    "DEVICE_MODEL",
    "PROFILES",
    "PROTOCOLS",
    "BadAnswer",
    "Charger",
    "ChargerError",
    "DeviceVariable",
    "Link",
    "Ocpp16",
    "Ocpp201",
    "Options",
    "Profile",
    "ProtocolClass",
    "Reading",
    "Stats",
    "Summary",
    "run_command",
    "simulate",
]

logger = logging.getLogger("pgcsms.simulate")

# The library logs every frame at INFO; frames carry AuthorizationKey values.
_FRAMES = logging.getLogger("pgcsms.simulate.frames")
_FRAMES.setLevel(logging.WARNING)

T = TypeVar("T")

CONNECTORS = (1, 2)
SESSION_MINUTES = (5.0, 20.0)         # simulated minutes a car charges
POWER_KW = (7.4, 11.0)                # what a car draws, before noise and taper
BATTERY_KWH = (40.0, 80.0)
REBOOT_SECONDS = (0.2, 0.5)           # wall seconds a reset takes before the charger connects again
BACKOFF_SECONDS = (1.0, 30.0)         # reconnect delay: first, at most (doubling, with jitter)
BOOT_RETRY_SECONDS = 30               # when the central system says interval 0
STOP_REASONS = ("Local", "EVDisconnected")  # how a driver ends a session
UID_BASE = 0xA0000000                 # card {uid} of charger n: the ISO 14443 UID UID_BASE + n, 8 hex digits


class ChargerError(Exception):
    """A CALL of the charger that got no usable answer."""


class Offline(ChargerError):
    """The connection went away, or the charger is not (yet) accepted."""


class BadAnswer(ChargerError):
    """The central system answered with a CALLERROR, or with a payload that breaks the schema."""


@dataclass(frozen=True)
class Profile:
    """What the chargers of a run do besides booting and heartbeating."""

    sessions: bool
    meter_interval: int                      # wall seconds, the initial MeterValueSampleInterval
    measurands: tuple[str, ...]              # the initial MeterValuesSampledData
    first_arrival_minutes: tuple[float, float] = (0.0, 2.0)
    arrival_minutes: tuple[float, float] = (1.0, 3.0)   # between cars at one charger


_BASIC_MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import", "SoC")
_EVERY_MEASURAND = ("Energy.Active.Import.Register", "Energy.Reactive.Import.Register", "Power.Active.Import",
                    "Power.Offered", "Power.Factor", "Current.Import", "Current.Offered", "Voltage",
                    "Frequency", "Temperature", "SoC")

PROFILES: dict[str, Profile] = {
    "session": Profile(sessions=True, meter_interval=5, measurands=_BASIC_MEASURANDS),
    "idle": Profile(sessions=False, meter_interval=5, measurands=_BASIC_MEASURANDS),
    "meter-heavy": Profile(sessions=True, meter_interval=1, measurands=_EVERY_MEASURAND,
                           first_arrival_minutes=(0.0, 0.5), arrival_minutes=(0.2, 0.5)),
}


@dataclass(frozen=True, kw_only=True)
class Options:
    """One run of the simulator."""

    url: str                                  # ws://HOST:PORT/ocpp: each charger appends /IDENTITY
    count: int = 1
    protocol: str = "1.6"
    profile: str = "session"
    # Who: identities PREFIX0001..., the cards drivers present ({n}: the charger's number, {uid}: a 4-byte
    # ISO 14443 UID made of it); None: the protocol's (1.6 SIM-TAG-{n}, 2.0.1 {uid}, as ISO14443 idTokens)
    prefix: str = "SIM-"
    id_tags: tuple[str, ...] | None = None
    password: str | None = None               # HTTP Basic auth, user = identity
    seed: int | None = None
    # Time
    duration: float | None = None             # wall seconds; None: until stopped
    speed: float = 60.0                       # simulated seconds per wall second
    meter_interval: int | None = None         # MeterValueSampleInterval; None: the profile's
    response_timeout: float = 30.0
    grace: float = 10.0                       # to end sessions and close, once stopped
    # Limits
    concurrency: int = 20                     # handshakes in flight at once

    def identities(self) -> list[str]:
        width = max(4, len(str(self.count)))
        return [f"{self.prefix}{n:0{width}d}" for n in range(1, self.count + 1)]

    @property
    def tags(self) -> tuple[str, ...]:
        """The card templates of the run: ``id_tags``, or the protocol's."""
        return self.id_tags if self.id_tags is not None else PROTOCOLS[self.protocol].default_id_tags

    def cards(self) -> dict[str, str | None]:
        """Every card of the run, and where it charges: a tag with {n} or {uid} is one card per charger, used
        only there (its number, or UID, in place of the placeholder); any other tag is one card used at any
        charger."""
        cards: dict[str, str | None] = {}
        for tag in self.tags:
            for card, home in self._expand(tag):
                cards.setdefault(card, home)
        return cards

    def _expand(self, tag: str) -> list[tuple[str, str | None]]:
        if not _is_template(tag):
            return [(tag, None)]
        width = max(4, len(str(self.count)))
        return [(tag.replace("{n}", f"{n:0{width}d}").replace("{uid}", f"{UID_BASE + n:08X}"), identity)
                for n, identity in enumerate(self.identities(), start=1)]

    def cards_sql(self) -> list[str]:
        """SQL that adds the run's cards to pgcsms (``ocpp.add_id_tag``), each with the idToken type the
        chargers present it with (2.0.1; 1.6 has none): one statement per card template."""
        token_type = PROTOCOLS[self.protocol].token_type
        statements = []
        for tag in self.tags:
            cards = self._expand(tag)
            types = {token_type(card) for card, _ in cards}
            if _is_template(tag) and len(types) == 1:
                width = max(4, len(str(self.count)))
                numbers = {"{n}": f"lpad(n::text, {width}, '0')", "{uid}": f"upper(to_hex({UID_BASE} + n))"}
                card = " || ".join(numbers.get(part) or _sql_text(part)
                                   for part in re.split(r"(\{n\}|\{uid\})", tag) if part)
                statements.append(f"SELECT ocpp.add_id_tag({card}{_type_argument(types.pop())}) "
                                  f"FROM generate_series(1, {self.count}) AS n;")
            else:
                statements.extend(f"SELECT ocpp.add_id_tag({_sql_text(card)}{_type_argument(token_type(card))});"
                                  for card, _ in cards)
        return statements

    def check(self) -> None:
        """Raise ValueError for options that cannot make a run."""
        if self.count < 1:
            raise ValueError("--count must be at least 1")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r} is not simulated; one of {', '.join(PROTOCOLS)}")
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is unknown; one of {', '.join(PROFILES)}")
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"--url must be ws:// or wss://, not {self.url!r}")
        if self.speed <= 0:
            raise ValueError("--speed must be positive")
        if self.concurrency < 1:
            raise ValueError("--concurrency must be at least 1")
        longest = self.identities()[-1]
        if len(longest) > 48:
            raise ValueError(f"identities are 1 to 48 characters, {longest!r} is longer")
        longest_card = PROTOCOLS[self.protocol].id_token_length
        for card in self.cards():
            if not 1 <= len(card) <= longest_card:
                raise ValueError(f"id tags are 1 to {longest_card} characters (OCPP {self.protocol} IdToken), "
                                 f"{card!r} is not")


def _is_template(tag: str) -> bool:
    return "{n}" in tag or "{uid}" in tag


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _type_argument(token_type: str | None) -> str:
    return "" if token_type is None else f", id_token_type => {_sql_text(token_type)}"


# -- statistics --------------------------------------------------------------------------------------------


@dataclass
class Stats:
    """Counters of a run, shared by its chargers (one event loop, no locks)."""

    ever_connected: set[str] = field(default_factory=set)
    connections: int = 0
    reconnects: int = 0
    resets: int = 0
    handshake_refusals: Counter[str] = field(default_factory=Counter)
    boots: Counter[str] = field(default_factory=Counter)
    sessions_started: int = 0
    sessions_completed: int = 0
    sessions_refused: int = 0                # Authorize or StartTransaction not Accepted
    sessions_unsent: int = 0                 # ended while offline at the end of the run
    sessions_by_charger: Counter[str] = field(default_factory=Counter)
    energy_wh: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)
    commands_unsupported: Counter[str] = field(default_factory=Counter)
    call_errors: Counter[str] = field(default_factory=Counter)      # "Action: ErrorCode"
    schema_violations: Counter[str] = field(default_factory=Counter)  # "Action: error", ours or an answer
    timeouts: Counter[str] = field(default_factory=Counter)
    simulator_errors: int = 0
    unclean_exits: int = 0


@dataclass(frozen=True)
class Summary:
    """What a run did, and whether it went well (``ok``)."""

    options: Options
    seed: int
    elapsed: float
    chargers: int
    connected: int
    chargers_with_sessions: int
    stats: Stats

    @property
    def never_connected(self) -> int:
        return self.chargers - self.connected

    @property
    def protocol_errors(self) -> int:
        """CALLERRORs and bad answers received, timeouts, chargers that never connected, crashes."""
        stats = self.stats
        return (sum(stats.call_errors.values()) + sum(stats.schema_violations.values())
                + sum(stats.timeouts.values()) + self.never_connected + stats.simulator_errors)

    @property
    def ok(self) -> bool:
        return self.protocol_errors == 0

    def format(self) -> str:
        stats, options = self.stats, self.options

        def counts(counter: Counter[str]) -> str:
            return ", ".join(f"{key} {value}" for key, value in sorted(counter.items())) or "0"

        def total(counter: Counter[str]) -> str:
            return f"{sum(counter.values())} ({counts(counter)})" if counter else "0"

        lines = [
            f"pgcsms simulate: {self.chargers} chargers, OCPP {options.protocol}, profile {options.profile}, "
            f"{self.elapsed:.1f} s, speed {options.speed:g}x, seed {self.seed}",
            f"  connected            {self.connected}/{self.chargers} (never {self.never_connected}), "
            f"reconnects {stats.reconnects}, resets {stats.resets}",
            f"  handshakes failed    {counts(stats.handshake_refusals)}",
            f"  boots                {counts(stats.boots)}",
            f"  sessions completed   {stats.sessions_completed} on {self.chargers_with_sessions}/{self.chargers} "
            f"chargers, {stats.energy_wh / 1000:.3f} kWh; started {stats.sessions_started}, "
            f"refused {stats.sessions_refused}, left open offline {stats.sessions_unsent}",
            f"  messages sent        {total(stats.sent)}",
            f"  commands answered    {total(stats.commands)}",
            f"  not implemented      {counts(stats.commands_unsupported)}",
            f"  CALLERRORs received  {total(stats.call_errors)}",
            f"  schema violations    {counts(stats.schema_violations)}",
            f"  response timeouts    {counts(stats.timeouts)}",
        ]
        if stats.simulator_errors or stats.unclean_exits:
            lines.append(f"  simulator errors     {stats.simulator_errors}, chargers cut off at the end "
                         f"{stats.unclean_exits}")
        if self.ok:
            lines.append("  result               OK")
        else:
            lines.append(f"  result               FAILED: {self.protocol_errors} protocol errors")
        return "\n".join(lines)


# -- the charger, the same in every version --------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One sampled value, before a protocol writes it in its own words."""

    measurand: str
    value: float
    unit: str | None = None
    phase: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Reading:
    """What the meter of a connector read at one moment: sent at once, or for a session, maybe later."""

    connector: int
    samples: tuple[Sample, ...]
    context: str                                # Sample.Periodic, Trigger, ...
    at: str                                     # when it was read
    offline: bool                               # read while the charger had no accepted connection
    unique_id: str = field(default_factory=lambda: _unique_id())


class Session:
    """A car on a connector, from plug-in to unplug."""

    __slots__ = ("accrued_at", "battery_wh", "connector", "energy_wh", "id_tag", "id_token_type", "messages",
                 "meter_start", "meter_stop", "owns_tag", "power_w", "rated_w", "remote", "remote_start_id",
                 "seq_no", "soc", "started_at", "started_offline", "stop_reason", "stop_requested", "stopped_at",
                 "stopped_offline", "task", "transaction_id", "updates")

    def __init__(self, connector: Connector, id_tag: str, rng: random.Random, *, remote: bool,
                 owns_tag: bool, id_token_type: str | None = None, remote_start_id: int | None = None) -> None:
        self.connector = connector
        self.id_tag = id_tag
        self.id_token_type = id_token_type        # 2.0.1: how the card is presented (ISO14443, Central...)
        self.remote = remote
        self.remote_start_id = remote_start_id    # 2.0.1: of the RequestStartTransaction that began it
        self.owns_tag = owns_tag
        self.rated_w = rng.uniform(*POWER_KW) * 1000
        self.power_w = 0.0
        self.battery_wh = rng.uniform(*BATTERY_KWH) * 1000
        self.soc = rng.uniform(10, 60)
        self.energy_wh = 0.0
        self.meter_start = 0
        self.meter_stop = 0
        self.started_at = ""
        self.stopped_at = ""
        self.started_offline = False              # began, or ended, while the charger was offline
        self.stopped_offline = False
        self.transaction_id: int | str | None = None
        self.stop_reason: str | None = None
        self.stop_requested = asyncio.Event()
        self.accrued_at = 0.0
        self.task: asyncio.Task[None] | None = None
        self.updates: asyncio.Task[None] | None = None   # the last reading queued to be sent, in order
        # A protocol that numbers a transaction's messages (2.0.1 seqNo) keeps each one as first built,
        # by uniqueId, until it is answered: a resend is the same message.
        self.seq_no = 0
        self.messages: dict[str, Any] = {}

    def request_stop(self, reason: str) -> None:
        if not self.stop_requested.is_set():
            self.stop_reason = reason
            self.stop_requested.set()


class Connector:
    """One outlet with its own energy meter."""

    __slots__ = ("id", "operative", "register_wh", "scheduled_operative", "session", "status")

    def __init__(self, connector_id: int, register_wh: float) -> None:
        self.id = connector_id
        self.status = "Available"
        self.operative = True
        self.scheduled_operative: bool | None = None   # ChangeAvailability waiting for the session to end
        self.register_wh = register_wh
        self.session: Session | None = None

    @property
    def free(self) -> bool:
        return self.operative and self.session is None and self.status == "Available"


class Configuration:
    """The charger's configuration keys (OCPP 1.6 names; another version maps its own onto them)."""

    __slots__ = ("_keys",)

    # key: (kind, read-only); kinds: int (seconds, counts), bool, measurands, text, secret (write-only)
    KINDS: ClassVar[dict[str, tuple[str, bool]]] = {
        "AuthorizeRemoteTxRequests": ("bool", False),
        "AuthorizationKey": ("secret", False),
        "ClockAlignedDataInterval": ("int", False),
        "ConnectionTimeOut": ("int", False),
        "GetConfigurationMaxKeys": ("int", True),
        "HeartbeatInterval": ("int", False),
        "LocalAuthorizeOffline": ("bool", False),
        "LocalPreAuthorize": ("bool", False),
        "MeterValueSampleInterval": ("int", False),
        "MeterValuesAlignedData": ("measurands", False),
        "MeterValuesSampledData": ("measurands", False),
        "NumberOfConnectors": ("int", True),
        "ResetRetries": ("int", False),
        "StopTransactionOnEVSideDisconnect": ("bool", False),
        "StopTransactionOnInvalidId": ("bool", False),
        "StopTxnAlignedData": ("measurands", False),
        "StopTxnSampledData": ("measurands", False),
        "SupportedFeatureProfiles": ("text", True),
        "TransactionMessageAttempts": ("int", False),
        "TransactionMessageRetryInterval": ("int", False),
        "UnlockConnectorOnEVSideDisconnect": ("bool", False),
        "WebSocketPingInterval": ("int", False),
    }
    MEASURANDS = frozenset(_EVERY_MEASURAND)

    def __init__(self, profile: Profile, meter_interval: int | None) -> None:
        self._keys: dict[str, str] = {
            "AuthorizeRemoteTxRequests": "false",
            "ClockAlignedDataInterval": "0",
            "ConnectionTimeOut": "60",
            "GetConfigurationMaxKeys": "50",
            "HeartbeatInterval": "300",
            "LocalAuthorizeOffline": "false",
            "LocalPreAuthorize": "false",
            "MeterValueSampleInterval": str(profile.meter_interval if meter_interval is None else meter_interval),
            "MeterValuesAlignedData": "",
            "MeterValuesSampledData": ",".join(profile.measurands),
            "NumberOfConnectors": str(len(CONNECTORS)),
            "ResetRetries": "1",
            "StopTransactionOnEVSideDisconnect": "true",
            "StopTransactionOnInvalidId": "true",
            "StopTxnAlignedData": "",
            "StopTxnSampledData": "Energy.Active.Import.Register",
            "SupportedFeatureProfiles": "Core,RemoteTrigger",
            "TransactionMessageAttempts": "3",
            "TransactionMessageRetryInterval": "60",
            "UnlockConnectorOnEVSideDisconnect": "true",
            "WebSocketPingInterval": "20",
        }

    def integer(self, key: str) -> int:
        return int(self._keys[key])

    def flag(self, key: str) -> bool:
        return self._keys[key].lower() == "true"

    def measurands(self, key: str) -> list[str]:
        return [item for item in self._keys[key].split(",") if item]

    def get(self, keys: Iterable[str] | None) -> tuple[list[tuple[str, bool, str | None]], list[str]]:
        """(key, read-only, value) of the known keys asked for (all when None), and the unknown ones.

        A secret is listed without its value."""
        wanted = list(self.KINDS) if keys is None else list(keys)
        known: list[tuple[str, bool, str | None]] = []
        unknown: list[str] = []
        for key in wanted:
            if key not in self.KINDS:
                unknown.append(key)
            elif self.KINDS[key][0] == "secret":
                known.append((key, False, None))
            else:
                known.append((key, self.KINDS[key][1], self._keys[key]))
        return known, unknown

    def change(self, key: str, value: str) -> str:
        """Accepted, Rejected (read-only or a bad value) or NotSupported (unknown key)."""
        if key not in self.KINDS:
            return "NotSupported"
        kind, readonly = self.KINDS[key]
        if readonly:
            return "Rejected"
        if kind == "int" and not (value.isdigit() and len(value) <= 9):
            return "Rejected"
        if kind == "bool" and value.lower() not in ("true", "false"):
            return "Rejected"
        if kind == "measurands" and not set(filter(None, value.split(","))) <= self.MEASURANDS:
            return "Rejected"
        if kind == "secret" and not 8 <= len(value) <= 72:
            return "Rejected"
        self._keys[key] = value
        return "Accepted"

    def secret(self, key: str) -> str | None:
        return self._keys.get(key)

    def value(self, key: str) -> str:
        """The value of a key ('' for a write-only one never set)."""
        return self._keys.get(key, "")


class Cards:
    """The cards of the drivers: a card is at one charger at a time, so the central system never sees it
    in two sessions at once (it would answer ConcurrentTx)."""

    __slots__ = ("_free", "_home")

    def __init__(self, cards: dict[str, str | None]) -> None:
        self._home = cards                              # card -> the only charger it is used at, or None
        self._free: dict[str | None, list[str]] = {}    # charger (None: any) -> its free cards
        for card, home in cards.items():
            self._free.setdefault(home, []).append(card)

    def take(self, rng: random.Random, identity: str) -> str | None:
        """A free card for this charger: one of its own first, else one used anywhere."""
        for cards in (self._free.get(identity), self._free.get(None)):
            if cards:
                return cards.pop(rng.randrange(len(cards)))
        return None

    def claim(self, card: str) -> bool:
        """Mark a card the central system named (RemoteStart) as in use; False if it is not a free card."""
        cards = self._free.get(self._home.get(card, ""), [])
        if card in cards:
            cards.remove(card)
            return True
        return False

    def give_back(self, card: str) -> None:
        self._free.setdefault(self._home[card], []).append(card)


class Link(Protocol):
    """One open connection speaking one OCPP version, as the charger uses it."""

    version: ClassVar[str]
    subprotocol: ClassVar[str]

    async def serve(self) -> None:
        """Read and answer frames until the connection closes."""

    async def close(self) -> None: ...

    def after_answer(self, action: Callable[[], Awaitable[Any]]) -> None:
        """Run this once the answer to the CALL being handled has been sent."""

    async def boot(self) -> tuple[str, int]:
        """BootNotification (for the charger's boot_reason): (registration status, interval)."""

    async def heartbeat(self) -> None: ...

    async def status(self, connector: int, status: str) -> None:
        """StatusNotification of a connector (0: the charger) in OCPP 1.6 words; another version words it."""

    async def authorize(self, session: Session) -> str:
        """The authorization status of the session's card."""

    async def start_transaction(self, session: Session, unique_id: str) -> tuple[int | str, str]:
        """(transaction id, authorization status)."""

    async def meter_values(self, reading: Reading, session: Session | None) -> None:
        """MeterValues of a connector (triggered, or 1.6 during a session)."""

    async def update_transaction(self, session: Session, reading: Reading) -> None:
        """A periodic or triggered reading of a session (1.6 MeterValues, 2.0.1 TransactionEvent Updated)."""

    async def stop_transaction(self, session: Session, unique_id: str) -> None: ...


class ProtocolClass(Protocol):
    """A protocol version as the simulator uses it: names, cards, and a Link for each connection."""

    version: str
    subprotocol: str
    default_id_tags: tuple[str, ...]
    id_token_length: int                     # the longest card the version's IdToken carries
    queues_updates: bool                     # whether a session's readings wait for a connection

    def token_type(self, card: str) -> str | None:
        """How a card is presented (2.0.1 idToken type; None: the version has no types)."""

    def __call__(self, charger: Charger, websocket: ClientConnection) -> Link: ...


class Fleet:
    """What the chargers of a run share."""

    __slots__ = ("cards", "handshakes", "options", "profile", "protocol", "stats", "stopping")

    def __init__(self, options: Options) -> None:
        self.options = options
        self.profile = PROFILES[options.profile]
        self.protocol = PROTOCOLS[options.protocol]
        self.stats = Stats()
        self.cards = Cards(options.cards())
        self.handshakes = asyncio.Semaphore(options.concurrency)
        self.stopping = asyncio.Event()


class Charger:
    """One simulated charge point: connection loop, boot, heartbeats, cars and sessions."""

    def __init__(self, fleet: Fleet, identity: str, rng: random.Random) -> None:
        self.fleet = fleet
        self.options = fleet.options
        self.stats = fleet.stats
        self.identity = identity
        self.rng = rng
        self.config = Configuration(fleet.profile, self.options.meter_interval)
        self.password = self.options.password
        self.connectors = {n: Connector(n, rng.uniform(0.5e6, 30e6)) for n in CONNECTORS}
        self.unavailable = False                 # connector 0: the whole charger
        self.link: Link | None = None
        self.offline = asyncio.Event()           # no connection
        self.offline.set()
        self.accepted = asyncio.Event()          # booted and accepted on the current connection
        self.boot_now = asyncio.Event()          # TriggerMessage(BootNotification) while Pending
        self.heartbeat_changed = asyncio.Event()
        self.connections = 0
        self.rebooting = False                   # closing to boot again, sessions ended
        self.reset_scheduled: str | None = None  # a reset once the sessions end (2.0.1 OnIdle): their stop reason
        self.boot_reason = "PowerUp"             # what the next BootNotification says (2.0.1)
        self._tasks: asyncio.TaskGroup | None = None
        self._session_tasks: set[asyncio.Task[None]] = set()   # until the connector is said to be free again

    # -- lifetime

    async def run(self) -> None:
        """Until the fleet stops: connect, boot, charge; then end the sessions and close."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            tasks.create_task(self._connection_loop())
            if self.fleet.profile.sessions:
                tasks.create_task(self._arrivals())
            await self.fleet.stopping.wait()
            await self._end_sessions("Local")
            if self.link is not None:
                await self.link.close()

    def spawn(self, action: Awaitable[Any]) -> None:
        """Run an action of this charger on its own; a lost connection or refusal just ends it."""
        async def guarded() -> None:
            with contextlib.suppress(ChargerError):
                await action

        assert self._tasks is not None
        self._tasks.create_task(guarded())

    async def _connection_loop(self) -> None:
        failures = 0
        while not self.fleet.stopping.is_set():
            websocket = await self._open()
            if websocket is None:
                failures += 1
                await self._pause(self._backoff(failures))
                continue
            failures = 0
            self.stats.ever_connected.add(self.identity)
            self.stats.connections += 1
            if self.connections:
                self.stats.reconnects += 1
            self.connections += 1
            await self._serve(websocket)
            if self.rebooting:
                self.rebooting = False
                await self._pause(self.rng.uniform(*REBOOT_SECONDS))
            else:
                failures = 1
                await self._pause(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        first, most = BACKOFF_SECONDS
        return min(most, first * 2 ** (failures - 1)) * self.rng.uniform(0.5, 1.0)

    async def _pause(self, seconds: float) -> None:
        await _wait_any(seconds, self.fleet.stopping)

    async def _open(self) -> ClientConnection | None:
        url = f"{self.options.url.rstrip('/')}/{urllib.parse.quote(self.identity, safe='')}"
        headers = {}
        if self.password:
            headers["Authorization"] = build_authorization_basic(self.identity, self.password)
        try:
            async with self.fleet.handshakes:
                if self.fleet.stopping.is_set():
                    return None
                return await connect(url, subprotocols=[Subprotocol(self.fleet.protocol.subprotocol)],
                                     additional_headers=headers, open_timeout=self.options.response_timeout,
                                     close_timeout=5, compression=None)
        except InvalidStatus as error:
            self.stats.handshake_refusals[f"HTTP {error.response.status_code}"] += 1
            logger.debug("%s: handshake refused: HTTP %d", self.identity, error.response.status_code)
        except (OSError, TimeoutError, InvalidHandshake) as error:
            self.stats.handshake_refusals[type(error).__name__] += 1
            logger.debug("%s: cannot connect: %s", self.identity, error)
        return None

    async def _serve(self, websocket: ClientConnection) -> None:
        link = self.fleet.protocol(self, websocket)
        self.link = link
        self.offline.clear()
        reader = asyncio.create_task(link.serve())
        online = asyncio.create_task(self._online(link))
        try:
            await asyncio.wait({reader, online}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.link = None
            self.accepted.clear()
            self.offline.set()
            online.cancel()
            await link.close()
            await asyncio.gather(reader, online, return_exceptions=True)
        for task in (reader, online):
            if not task.cancelled() and (error := task.exception()) and not isinstance(error, ChargerError):
                raise error

    async def _online(self, link: Link) -> None:
        """Boot until accepted, say how every connector is, then heartbeat; Offline ends it."""
        if self.fleet.stopping.is_set():
            return
        while True:
            self.boot_now.clear()
            try:
                status, interval = await link.boot()
            except BadAnswer:
                status, interval = "CallError", BOOT_RETRY_SECONDS
            self.stats.boots[status] += 1
            if status == "Accepted":
                break
            # Pending or Rejected: ask again after the interval, as real chargers do.
            await _wait_any(interval or BOOT_RETRY_SECONDS, self.boot_now)
        if interval > 0:
            self.config.change("HeartbeatInterval", str(interval))
        self.boot_reason = "PowerUp"
        self.accepted.set()
        await self.send_statuses(None, link)
        while True:
            self.heartbeat_changed.clear()
            interval = self.config.integer("HeartbeatInterval")
            if await _wait_any(interval if interval > 0 else None, self.heartbeat_changed):
                continue
            with contextlib.suppress(BadAnswer):
                await link.heartbeat()

    # -- sending, for what the charger does on its own

    async def deliver(self, send: Callable[[Link], Awaitable[T]], *, queue: bool = False) -> T:
        """Send on the current connection once accepted; ``queue``: wait for one (transaction messages).

        Raises Offline when there is none and the message is not queued, or the run is ending without one."""
        while True:
            link = self.link
            if link is not None and self.accepted.is_set():
                try:
                    return await send(link)
                except Offline:
                    if not queue:
                        raise
                if self.link is link:   # closing: wait until it is gone, then for the next one
                    await self.offline.wait()
                continue
            elif not queue or (self.fleet.stopping.is_set() and self.link is None):
                raise Offline(self.identity)
            # Once the run is ending, only a connection that is still booting is worth waiting for.
            await _wait_any(None, self.accepted, self.offline if self.fleet.stopping.is_set() else self.fleet.stopping)

    async def set_status(self, connector: Connector, status: str) -> None:
        connector.status = status
        with contextlib.suppress(ChargerError):
            await self.deliver(lambda link: link.status(connector.id, status))

    async def send_statuses(self, connector_id: int | None, link: Link | None = None) -> None:
        """StatusNotification of one connector (0: the charger), or of all of them when None."""
        ids = [0, *CONNECTORS] if connector_id is None else [connector_id]
        for n in ids:
            status = ("Unavailable" if self.unavailable else "Available") if n == 0 else self.connectors[n].status
            with contextlib.suppress(BadAnswer):
                if link is not None:
                    await link.status(n, status)
                else:
                    await self.deliver(functools.partial(_send_status, connector=n, status=status))

    async def send_meter_values(self, connector_id: int | None, context: str) -> None:
        for n in CONNECTORS if connector_id in (None, 0) else [connector_id]:
            connector = self.connectors[n]
            await self.deliver(functools.partial(_send_meter_values, reading=self.reading(connector, context),
                                                 session=connector.session))

    def reading(self, connector: Connector, context: str) -> Reading:
        """What the connector's meter reads now."""
        if connector.session is not None:
            self._accrue(connector.session)
        return Reading(connector.id, tuple(self.samples(connector)), context, _now(),
                       offline=not self.accepted.is_set())

    async def update(self, session: Session, reading: Reading) -> None:
        """Send a reading of a session: now if connected, the caller waiting (1.6); or, when the protocol queues
        them (2.0.1), behind the session's earlier readings once connected, the caller going on."""
        send = functools.partial(_send_update, session=session, reading=reading)
        if not self.fleet.protocol.queues_updates:
            with contextlib.suppress(ChargerError):
                await self.deliver(send)
            return
        previous = session.updates

        async def after_previous() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            with contextlib.suppress(ChargerError):
                await self.deliver(send, queue=True)

        assert self._tasks is not None
        session.updates = self._tasks.create_task(after_previous())

    # -- cars and sessions

    async def _arrivals(self) -> None:
        """Cars arrive now and then and charge on a free connector, with a free card."""
        profile = self.fleet.profile
        stopping = self.fleet.stopping
        if await _wait_any(None, self.accepted, stopping) and stopping.is_set():
            return
        delay = self.rng.uniform(*profile.first_arrival_minutes) * 60
        while not await _wait_any(delay / self.options.speed, stopping):
            delay = self.rng.uniform(*profile.arrival_minutes) * 60
            free = [c for c in self.connectors.values() if c.free]
            if not self.accepted.is_set() or self.resetting or self.unavailable or not free:
                continue
            card = self.fleet.cards.take(self.rng, self.identity)
            if card is None:
                continue
            self._begin(self.rng.choice(free), card, remote=False, owns_tag=True)

    @property
    def resetting(self) -> bool:
        """Rebooting, or about to once the sessions end: no new session."""
        return self.rebooting or self.reset_scheduled is not None

    def _begin(self, connector: Connector, id_tag: str, *, remote: bool, owns_tag: bool,
               id_token_type: str | None = None, remote_start_id: int | None = None) -> Session:
        session = Session(connector, id_tag, self.rng, remote=remote, owns_tag=owns_tag,
                          id_token_type=id_token_type or self.fleet.protocol.token_type(id_tag),
                          remote_start_id=remote_start_id)
        connector.session = session
        assert self._tasks is not None
        session.task = self._tasks.create_task(self._session(session))
        self._session_tasks.add(session.task)
        session.task.add_done_callback(self._session_tasks.discard)
        return session

    @property
    def sessions(self) -> list[Session]:
        return [c.session for c in self.connectors.values() if c.session is not None]

    async def _end_sessions(self, reason: str) -> None:
        """Stop the sessions; return once they and those just over have said their connector is free."""
        for session in self.sessions:
            session.request_stop(reason)
        await asyncio.gather(*(self._session_tasks - {asyncio.current_task()}), return_exceptions=True)

    async def _session(self, session: Session) -> None:
        connector = session.connector
        try:
            await self._charge_session(session)
        finally:
            connector.session = None
            if session.owns_tag:
                self.fleet.cards.give_back(session.id_tag)
            if connector.scheduled_operative is not None:
                connector.operative, connector.scheduled_operative = connector.scheduled_operative, None
        await self.set_status(connector, "Available" if connector.operative else "Unavailable")
        if self.reset_scheduled is not None and not self.sessions and not self.rebooting:
            self.rebooting = True
            await self._reboot(self.reset_scheduled)

    async def _charge_session(self, session: Session) -> None:
        """Preparing, Authorize, StartTransaction, Charging with MeterValues, StopTransaction, Finishing."""
        connector = session.connector
        stats = self.stats
        await self.set_status(connector, "Preparing")
        if not session.remote or self.config.flag("AuthorizeRemoteTxRequests"):
            try:
                status = await self.deliver(lambda link: link.authorize(session))
            except ChargerError:
                return
            if status != "Accepted":
                stats.sessions_refused += 1
                return
        if session.stop_requested.is_set():
            return
        loop = asyncio.get_running_loop()
        session.meter_start = int(connector.register_wh)
        session.started_at = _now()
        session.started_offline = not self.accepted.is_set()
        session.accrued_at = loop.time()
        start_id = _unique_id()
        try:
            session.transaction_id, status = await self.deliver(
                lambda link: link.start_transaction(session, start_id), queue=True)
        except ChargerError:
            return
        stats.sessions_started += 1
        if status == "Accepted":
            await self.set_status(connector, "Charging")
            await self._charge(session)
        else:
            stats.sessions_refused += 1
            session.request_stop("DeAuthorized")
        session.meter_stop = int(connector.register_wh)
        session.stopped_at = _now()
        session.stopped_offline = not self.accepted.is_set()
        await self.set_status(connector, "Finishing")
        if session.updates is not None:   # the readings before the end go first
            await asyncio.wait([session.updates])
        stop_id = _unique_id()
        try:
            await self.deliver(lambda link: link.stop_transaction(session, stop_id), queue=True)
        except Offline:
            stats.sessions_unsent += 1
            return
        except BadAnswer:
            return
        if status == "Accepted":
            stats.sessions_completed += 1
            stats.sessions_by_charger[self.identity] += 1
            stats.energy_wh += session.meter_stop - session.meter_start

    async def _charge(self, session: Session) -> None:
        """Draw energy until the driver leaves or a stop is asked; MeterValues on the way."""
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + self.rng.uniform(*SESSION_MINUTES) * 60 / self.options.speed
        sampled_at = loop.time()
        while True:
            interval = self.config.integer("MeterValueSampleInterval")
            next_sample = sampled_at + interval if interval > 0 else ends_at
            stopped = await _wait_any(max(0.0, min(ends_at, next_sample) - loop.time()), session.stop_requested)
            self._accrue(session)
            now = loop.time()
            if stopped:
                return
            if now >= ends_at:
                session.request_stop(self.rng.choice(STOP_REASONS))
                return
            if now >= next_sample:
                sampled_at = now
                await self.update(session, self.reading(session.connector, "Sample.Periodic"))

    def _accrue(self, session: Session) -> None:
        """Energy since the last call: the car's power, tapering above 80 % SoC, with some noise."""
        now = asyncio.get_running_loop().time()
        seconds = (now - session.accrued_at) * self.options.speed
        session.accrued_at = now
        if seconds <= 0:
            return
        taper = 1.0 if session.soc < 80 else max(0.05, (100 - session.soc) / 20)
        session.power_w = max(0.0, session.rated_w * taper * self.rng.gauss(1.0, 0.02))
        energy = session.power_w * seconds / 3600
        session.connector.register_wh += energy
        session.energy_wh += energy
        session.soc = min(100.0, session.soc + energy / session.battery_wh * 100)

    def samples(self, connector: Connector) -> list[Sample]:
        """What the meter of a connector reads now, for MeterValuesSampledData."""
        session = connector.session
        charging = session is not None and connector.status == "Charging"
        power = session.power_w if session is not None and charging else 0.0
        rated = session.rated_w if session is not None else POWER_KW[1] * 1000
        gauss = self.rng.gauss
        samples: list[Sample] = []
        for measurand in self.config.measurands("MeterValuesSampledData"):
            if measurand == "Energy.Active.Import.Register":
                samples.append(Sample(measurand, int(connector.register_wh), "Wh", location="Outlet"))
            elif measurand == "Energy.Reactive.Import.Register":
                samples.append(Sample(measurand, int(connector.register_wh * 0.02), "varh", location="Outlet"))
            elif measurand == "Power.Active.Import":
                samples.append(Sample(measurand, round(power, 1), "W", location="Outlet"))
            elif measurand == "Power.Offered":
                samples.append(Sample(measurand, round(rated), "W"))
            elif measurand == "Power.Factor":
                samples.append(Sample(measurand, round(min(1.0, gauss(0.98, 0.005)), 3)))
            elif measurand == "Current.Import":
                samples.extend(Sample(measurand, round(power / 3 / 230 * gauss(1.0, 0.01), 2), "A", phase)
                               for phase in ("L1", "L2", "L3"))
            elif measurand == "Current.Offered":
                samples.append(Sample(measurand, round(rated / 3 / 230, 1), "A"))
            elif measurand == "Voltage":
                samples.extend(Sample(measurand, round(gauss(230, 2), 1), "V", phase)
                               for phase in ("L1-N", "L2-N", "L3-N"))
            elif measurand == "Frequency":
                samples.append(Sample(measurand, round(gauss(50, 0.02), 2)))
            elif measurand == "Temperature":
                samples.append(Sample(measurand, round(25 + power / 1000 + gauss(0, 0.5), 1), "Celsius",
                                      location="Body"))
            elif measurand == "SoC" and session is not None:
                samples.append(Sample(measurand, int(session.soc), "Percent", location="EV"))
        return samples

    # -- what the central system asks (called by a protocol class while it answers)

    def remote_start(self, id_tag: str, connector_id: int | None, *, id_token_type: str | None = None,
                     remote_start_id: int | None = None) -> bool:
        """Start a session for this card (on this connector): False if none is free."""
        if not self.accepted.is_set() or self.resetting or self.unavailable or self.fleet.stopping.is_set():
            return False
        if connector_id is None:
            free = [c for c in self.connectors.values() if c.free]
        else:
            connector = self.connectors.get(connector_id)
            free = [connector] if connector is not None and connector.free else []
        if not free:
            return False
        self._begin(free[0], id_tag, remote=True, owns_tag=self.fleet.cards.claim(id_tag),
                    id_token_type=id_token_type, remote_start_id=remote_start_id)
        return True

    def remote_stop(self, transaction_id: int | str) -> bool:
        for session in self.sessions:
            if session.transaction_id == transaction_id:
                session.request_stop("Remote")
                return True
        return False

    def reset(self, reason: str, *, when_idle: bool = False) -> str:
        """Accepted: once answered, end the sessions (stop reason ``reason``), close, and boot again (reason
        RemoteReset). Scheduled (``when_idle`` while sessions run): the same once the last one ends, and no
        new one meanwhile. Rejected: resetting already, or offline."""
        if self.rebooting or self.link is None:
            return "Rejected"
        if when_idle and self.sessions:
            self.reset_scheduled = reason
            return "Scheduled"
        self.rebooting = True
        self.link.after_answer(lambda: self._reboot(reason))
        return "Accepted"

    async def _reboot(self, reason: str) -> None:
        await self._end_sessions(reason)
        self.stats.resets += 1
        self.reset_scheduled = None
        self.boot_reason = "RemoteReset"
        if self.link is not None:
            await self.link.close()
        else:   # the connection is gone already: the next one is the one after the reboot
            self.rebooting = False

    def unlock(self, connector_id: int) -> str:
        connector = self.connectors.get(connector_id)
        if connector is None:
            return "NotSupported"
        if connector.session is not None:
            connector.session.request_stop("UnlockCommand")
        return "Unlocked"

    def change_availability(self, connector_id: int, operative: bool) -> str:
        """Accepted, Scheduled (after the sessions on it) or Rejected (no such connector)."""
        if connector_id == 0:
            targets = list(self.connectors.values())
            self.unavailable = not operative
        elif connector_id in self.connectors:
            targets = [self.connectors[connector_id]]
        else:
            return "Rejected"
        scheduled = False
        changed = [0] if connector_id == 0 else []
        for connector in targets:
            if connector.session is not None and not operative:
                connector.scheduled_operative = False
                scheduled = True
            elif connector.session is not None:
                connector.scheduled_operative = None
                connector.operative = True
            else:
                connector.scheduled_operative = None
                connector.operative = operative
                status = "Available" if operative else "Unavailable"
                if connector.status != status:
                    connector.status = status
                    changed.append(connector.id)
        if changed and self.link is not None:
            self.link.after_answer(lambda: self._send_each_status(changed))
        return "Scheduled" if scheduled else "Accepted"

    async def _send_each_status(self, connector_ids: list[int]) -> None:
        for n in connector_ids:
            await self.send_statuses(n)

    def change_configuration(self, key: str, value: str) -> str:
        status = self.config.change(key, value)
        if status == "Accepted" and key == "HeartbeatInterval":
            self.heartbeat_changed.set()
        elif status == "Accepted" and key == "AuthorizationKey":
            self.password = value   # from the next connection on, as the security whitepaper says
        return status

    def trigger_boot(self) -> None:
        """A triggered BootNotification: at once while Pending, else one more after the answer."""
        self.boot_reason = "Triggered"
        if not self.accepted.is_set():
            self.boot_now.set()
        elif self.link is not None:
            link = self.link
            self.link.after_answer(lambda: self._boot_again(link))

    async def _boot_again(self, link: Link) -> None:
        status, _ = await link.boot()
        self.stats.boots[status] += 1
        if status == "Accepted":
            self.boot_reason = "PowerUp"

    def trigger_update(self, connector_id: int | None) -> bool:
        """A reading of each running transaction (on this connector) after the answer; False if there is none."""
        sessions = [s for s in self.sessions
                    if s.transaction_id is not None and not s.stopped_at and connector_id in (None, 0, s.connector.id)]
        if not sessions or self.link is None:
            return False
        self.link.after_answer(lambda: self._update_each(sessions, "Trigger"))
        return True

    async def _update_each(self, sessions: list[Session], context: str) -> None:
        for session in sessions:
            if not session.stopped_at:   # once ended, the Ended message says the last word
                await self.update(session, self.reading(session.connector, context))


async def _send_status(link: Link, *, connector: int, status: str) -> None:
    await link.status(connector, status)


async def _send_meter_values(link: Link, *, reading: Reading, session: Session | None) -> None:
    await link.meter_values(reading, session)


async def _send_update(link: Link, *, session: Session, reading: Reading) -> None:
    await link.update_transaction(session, reading)


async def _wait_any(timeout: float | None, *events: asyncio.Event) -> bool:
    """Wait until one of the events is set or the timeout passes: True if an event was set."""
    if any(event.is_set() for event in events):
        return True
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    # An event set as the timeout expires may not have woken its waiter yet: the event says.
    return bool(done) or any(event.is_set() for event in events)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _unique_id() -> str:
    return str(uuid.uuid4())


# -- one connection, whatever the version ------------------------------------------------------------------


class _Connection(LibraryChargePoint):
    """What a protocol class does with its connection, on the ``ocpp`` library's ChargePoint: serve until it
    closes, count commands and CALLERRORs, run follow-ups once an answer is sent, and make CALLs that end in
    an answer, Offline or BadAnswer. A protocol class puts it before the library's class of its version."""

    def __init__(self, charger: Charger, websocket: ClientConnection) -> None:
        super().__init__(charger.identity, websocket, response_timeout=charger.options.response_timeout,
                         logger=_FRAMES)
        self.charger = charger
        self.stats = charger.stats
        self.closed = asyncio.Event()
        self._after: list[Callable[[], Awaitable[Any]]] = []
        self._errors_received: dict[str, str] = {}   # uniqueId -> CALLERROR code

    async def serve(self) -> None:
        try:
            await self.start()
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def close(self) -> None:
        await self._connection.close()

    def after_answer(self, action: Callable[[], Awaitable[Any]]) -> None:
        self._after.append(action)

    async def route_message(self, raw_msg: str) -> None:
        """Route as the library does; count commands and CALLERRORs; then run what waits for the answer."""
        frame = _peek(raw_msg)
        if frame is not None and frame[0] == 2:
            action = frame[2]
            self.stats.commands[action] += 1
            if action not in self.route_map:
                self.stats.commands_unsupported[action] += 1
        elif frame is not None and frame[0] == 4:
            self._errors_received[frame[1]] = frame[2]
        self._after = []
        await super().route_message(raw_msg)
        for follow_up in self._after:
            self.charger.spawn(follow_up())
        self._after = []

    async def _call(self, request: Any, unique_id: str | None = None) -> Any:
        """One CALL, answered; Offline when the connection goes first or the answer never comes."""
        unique_id = unique_id or _unique_id()
        action = type(request).__name__
        attempt = asyncio.ensure_future(self.call(request, suppress=False, unique_id=unique_id))
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            done, _ = await asyncio.wait({attempt, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not attempt.done():
                attempt.cancel()
        if attempt not in done:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await attempt
            raise Offline(f"{self.id}: connection closed during {action}")
        self.stats.sent[action] += 1
        try:
            return attempt.result()
        except ConnectionClosed as error:
            raise Offline(f"{self.id}: connection closed during {action}") from error
        except TimeoutError as error:
            self.stats.timeouts[action] += 1
            logger.warning("%s: no answer to %s in %g s; reconnecting", self.id, action, self._response_timeout)
            await self.close()
            raise Offline(f"{self.id}: no answer to {action}") from error
        except OCPPError as error:
            code = self._errors_received.pop(unique_id, None)
            if code is not None:
                self.stats.call_errors[f"{action}: {code}"] += 1
                logger.warning("%s: CALLERROR %s for %s: %s", self.id, code, action, error.description)
            else:
                self.stats.schema_violations[f"{action}: {type(error).__name__}"] += 1
                logger.warning("%s: %s or its answer breaks the schema: %s", self.id, action, error)
            raise BadAnswer(f"{self.id}: {action}: {error}") from error


def _peek(raw: str) -> tuple[int, str, str] | None:
    """(message type, uniqueId, action of a CALL or code of a CALLERROR) of a frame, None if unreadable."""
    try:
        frame = json.loads(raw)
        kind, unique_id = frame[0], frame[1]
        if kind in (2, 4) and isinstance(frame[2], str):
            return kind, unique_id, frame[2]
        return kind, unique_id, ""
    except (ValueError, TypeError, IndexError, KeyError):
        return None


# -- OCPP 1.6 ------------------------------------------------------------------------------------------


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class Ocpp16(_Connection, ChargePoint):
    """OCPP 1.6 (OCPP-J) on one connection, with the ``ocpp`` library's ChargePoint."""

    version: ClassVar[str] = "1.6"
    subprotocol: ClassVar[str] = "ocpp1.6"
    default_id_tags: ClassVar[tuple[str, ...]] = ("SIM-TAG-{n}",)
    id_token_length: ClassVar[int] = 20
    queues_updates: ClassVar[bool] = False

    @staticmethod
    def token_type(card: str) -> str | None:
        return None

    # -- what the charger sends

    async def boot(self) -> tuple[str, int]:
        identity = self.id
        answer = await self._call(call.BootNotification(
            charge_point_vendor="pgcsms", charge_point_model="Simulator AC22-2",
            charge_point_serial_number=identity[-25:], firmware_version="sim-1.0",
            meter_type="SimMeter 3P", meter_serial_number=f"M{identity[-24:]}"))
        return str(answer.status), int(answer.interval)

    async def heartbeat(self) -> None:
        await self._call(call.Heartbeat())

    async def status(self, connector: int, status: str) -> None:
        await self._call(call.StatusNotification(connector_id=connector, error_code="NoError", status=status,
                                                 timestamp=_now()))

    async def authorize(self, session: Session) -> str:
        answer = await self._call(call.Authorize(id_tag=session.id_tag))
        return str(answer.id_tag_info["status"])

    async def start_transaction(self, session: Session, unique_id: str) -> tuple[int | str, str]:
        answer = await self._call(call.StartTransaction(
            connector_id=session.connector.id, id_tag=session.id_tag, meter_start=session.meter_start,
            timestamp=session.started_at), unique_id)
        return int(answer.transaction_id), str(answer.id_tag_info["status"])

    async def meter_values(self, reading: Reading, session: Session | None) -> None:
        transaction_id = session.transaction_id if session is not None else None
        await self._call(call.MeterValues(
            connector_id=reading.connector,
            transaction_id=transaction_id if isinstance(transaction_id, int) else None,
            meter_value=[{"timestamp": reading.at,
                          "sampledValue": [_sampled_value(s, reading.context) for s in reading.samples]}]),
            reading.unique_id)

    async def update_transaction(self, session: Session, reading: Reading) -> None:
        await self.meter_values(reading, session)

    async def stop_transaction(self, session: Session, unique_id: str) -> None:
        assert isinstance(session.transaction_id, int)
        end = [_sampled_value(Sample(measurand, session.meter_stop, "Wh", location="Outlet"), "Transaction.End")
               for measurand in self.charger.config.measurands("StopTxnSampledData")
               if measurand == "Energy.Active.Import.Register"]
        await self._call(call.StopTransaction(
            meter_stop=session.meter_stop, timestamp=session.stopped_at, transaction_id=session.transaction_id,
            reason=session.stop_reason or "Local", id_tag=session.id_tag,
            transaction_data=[{"timestamp": session.stopped_at, "sampledValue": end}] if end else None), unique_id)

    # -- what the central system asks: answered at once; anything more waits for after_answer

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, id_tag: str, connector_id: int | None = None, **_: Any) -> Any:
        accepted = self.charger.remote_start(id_tag, connector_id)
        return call_result.RemoteStartTransaction(status="Accepted" if accepted else "Rejected")

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id: int, **_: Any) -> Any:
        accepted = self.charger.remote_stop(transaction_id)
        return call_result.RemoteStopTransaction(status="Accepted" if accepted else "Rejected")

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> Any:
        return call_result.Reset(status=self.charger.reset("HardReset" if type == "Hard" else "SoftReset"))

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> Any:
        return call_result.UnlockConnector(status=self.charger.unlock(connector_id))

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        return call_result.ChangeAvailability(
            status=self.charger.change_availability(connector_id, operative=type == "Operative"))

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        known, unknown = self.charger.config.get(key)
        return call_result.GetConfiguration(
            configuration_key=[{"key": k, "readonly": readonly, **({"value": value} if value is not None else {})}
                               for k, readonly, value in known] or None,
            unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        return call_result.ChangeConfiguration(status=self.charger.change_configuration(key, value))

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        return call_result.ClearCache(status="Accepted")

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None, **_: Any) -> Any:
        return call_result.TriggerMessage(status=self._trigger(requested_message, connector_id))

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(self, requested_message: str, connector_id: int | None = None,
                                    **_: Any) -> Any:
        return call_result.ExtendedTriggerMessage(status=self._trigger(requested_message, connector_id))

    def _trigger(self, requested: str, connector_id: int | None) -> str:
        charger = self.charger
        if connector_id is not None and connector_id != 0 and connector_id not in charger.connectors:
            return "Rejected"
        if requested == "BootNotification":
            charger.trigger_boot()
            return "Accepted"
        if not charger.accepted.is_set():
            return "Rejected"
        sends: dict[str, Callable[[], Awaitable[Any]]] = {
            "Heartbeat": self.heartbeat,
            "StatusNotification": lambda: charger.send_statuses(connector_id),
            "MeterValues": lambda: charger.send_meter_values(connector_id, "Trigger"),
            "DiagnosticsStatusNotification": lambda: self._call(call.DiagnosticsStatusNotification(status="Idle")),
            "FirmwareStatusNotification": lambda: self._call(call.FirmwareStatusNotification(status="Idle")),
        }
        send = sends.get(requested)
        if send is None:
            return "Rejected"   # LogStatusNotification, SignChargePointCertificate: no security extension here
        self.after_answer(send)
        return "Accepted"

    # The optional feature profiles this charger does not have (SupportedFeatureProfiles: Core,RemoteTrigger)
    # answer as the specification says a charger without them does. FirmwareManagement and the security
    # extension have no such answer: the library's NotImplemented CALLERROR.

    @on(Action.reserve_now)
    def on_reserve_now(self, **_: Any) -> Any:
        return call_result.ReserveNow(status="Rejected")

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, **_: Any) -> Any:
        return call_result.CancelReservation(status="Rejected")

    @on(Action.send_local_list)
    def on_send_local_list(self, **_: Any) -> Any:
        return call_result.SendLocalList(status="NotSupported")

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(list_version=-1)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, **_: Any) -> Any:
        return call_result.SetChargingProfile(status="NotSupported")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **_: Any) -> Any:
        return call_result.ClearChargingProfile(status="Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, **_: Any) -> Any:
        return call_result.GetCompositeSchedule(status="Rejected")


def _sampled_value(sample: Sample, context: str) -> dict[str, str]:
    value = {"value": _number(sample.value), "context": context, "measurand": sample.measurand}
    for name in ("unit", "phase", "location"):
        if getattr(sample, name) is not None:
            value[name] = getattr(sample, name)
    return value


# -- OCPP 2.0.1 ----------------------------------------------------------------------------------------

MEASURANDS_201 = frozenset(m.value for m in MeasurandEnumType)   # 2.0.1 has no Temperature, no RPM
REPORT_PAGE = 8                                                   # items per NotifyReport

# How a session ends, in the charger's words (1.6's), as the TransactionEvent Ended says it:
# (triggerReason, stoppedReason).
ENDINGS_201: dict[str, tuple[str, str]] = {
    "Local": ("StopAuthorized", "Local"),                        # the driver presents the card again
    "EVDisconnected": ("EVCommunicationLost", "EVDisconnected"),  # or unplugs the car
    "Remote": ("RemoteStop", "Remote"),
    "ImmediateReset": ("ResetCommand", "ImmediateReset"),
    "DeAuthorized": ("Deauthorized", "DeAuthorized"),
}


def _connector_status(status: str) -> str:
    """A 1.6 connector status in 2.0.1 words (ConnectorStatusEnumType): with a car plugged in, Occupied."""
    return status if status in ("Available", "Reserved", "Unavailable", "Faulted") else "Occupied"


@dataclass(frozen=True)
class DeviceVariable:
    """A variable of the 2.0.1 device model: its characteristics, and where its value lives."""

    mutability: str                                   # ReadOnly | ReadWrite | WriteOnly
    data_type: str                                    # integer, boolean, string, OptionList, MemberList...
    key: str | None = None                            # the configuration key it is: value, checks, effects
    value: Callable[[Charger], str] | None = None     # else what it reads
    unit: str | None = None
    values_list: str | None = None                    # OptionList, MemberList: the values allowed

    def read(self, charger: Charger) -> str:
        if self.key is None:
            assert self.value is not None
            return self.value(charger)
        value = charger.config.value(self.key)
        if self.data_type == "MemberList" and self.values_list is not None:
            allowed = self.values_list.split(",")
            value = ",".join(member for member in value.split(",") if member in allowed)
        return value

    def allows(self, value: str) -> bool:
        """Whether a value set is one of the list's (the configuration checks the rest)."""
        if self.data_type == "MemberList" and self.values_list is not None:
            return set(filter(None, value.split(","))) <= set(self.values_list.split(","))
        return True


def _constant(value: str) -> Callable[[Charger], str]:
    return lambda _: value


def _evse_state(evse_id: int) -> Callable[[Charger], str]:
    return lambda charger: _connector_status(charger.connectors[evse_id].status)


_STATES = "Available,Occupied,Reserved,Unavailable,Faulted"
_MEASURAND_LIST = ",".join(m for m in _EVERY_MEASURAND if m in MEASURANDS_201)

# The device model of a simulated 2.0.1 station: (component, EVSE, variable, variable instance) -> variable.
# Most are configuration keys under their standardized 2.0.1 names, so both versions share the values.
DEVICE_MODEL: dict[tuple[str, int | None, str, str | None], DeviceVariable] = {
    ("AuthCtrlr", None, "AuthorizeRemoteStart", None): DeviceVariable("ReadWrite", "boolean",
                                                                      "AuthorizeRemoteTxRequests"),
    ("AuthCtrlr", None, "LocalAuthorizeOffline", None): DeviceVariable("ReadWrite", "boolean",
                                                                       "LocalAuthorizeOffline"),
    ("AuthCtrlr", None, "LocalPreAuthorize", None): DeviceVariable("ReadWrite", "boolean", "LocalPreAuthorize"),
    ("ChargingStation", None, "AvailabilityState", None): DeviceVariable(
        "ReadOnly", "OptionList", value=lambda charger: "Unavailable" if charger.unavailable else "Available",
        values_list=_STATES),
    ("DeviceDataCtrlr", None, "ItemsPerMessage", "GetReport"): DeviceVariable("ReadOnly", "integer",
                                                                             value=_constant("16")),
    ("DeviceDataCtrlr", None, "ItemsPerMessage", "GetVariables"): DeviceVariable("ReadOnly", "integer",
                                                                                value=_constant("16")),
    ("DeviceDataCtrlr", None, "ItemsPerMessage", "SetVariables"): DeviceVariable("ReadOnly", "integer",
                                                                                value=_constant("16")),
    **{("EVSE", n, "AvailabilityState", None): DeviceVariable("ReadOnly", "OptionList", value=_evse_state(n),
                                                             values_list=_STATES) for n in CONNECTORS},
    ("OCPPCommCtrlr", None, "HeartbeatInterval", None): DeviceVariable("ReadWrite", "integer", "HeartbeatInterval",
                                                                       unit="s"),
    ("OCPPCommCtrlr", None, "MessageAttemptInterval", "TransactionEvent"): DeviceVariable(
        "ReadWrite", "integer", "TransactionMessageRetryInterval", unit="s"),
    ("OCPPCommCtrlr", None, "MessageAttempts", "TransactionEvent"): DeviceVariable(
        "ReadWrite", "integer", "TransactionMessageAttempts"),
    ("OCPPCommCtrlr", None, "ResetRetries", None): DeviceVariable("ReadWrite", "integer", "ResetRetries"),
    ("OCPPCommCtrlr", None, "WebSocketPingInterval", None): DeviceVariable("ReadWrite", "integer",
                                                                           "WebSocketPingInterval", unit="s"),
    ("SampledDataCtrlr", None, "TxEndedMeasurands", None): DeviceVariable(
        "ReadWrite", "MemberList", "StopTxnSampledData", values_list=_MEASURAND_LIST),
    ("SampledDataCtrlr", None, "TxUpdatedInterval", None): DeviceVariable(
        "ReadWrite", "integer", "MeterValueSampleInterval", unit="s"),
    ("SampledDataCtrlr", None, "TxUpdatedMeasurands", None): DeviceVariable(
        "ReadWrite", "MemberList", "MeterValuesSampledData", values_list=_MEASURAND_LIST),
    # Write-only: never read back; from the next connection on, the Basic auth password (A01).
    ("SecurityCtrlr", None, "BasicAuthPassword", None): DeviceVariable("WriteOnly", "string", "AuthorizationKey"),
    ("TxCtrlr", None, "EVConnectionTimeOut", None): DeviceVariable("ReadWrite", "integer", "ConnectionTimeOut",
                                                                   unit="s"),
    ("TxCtrlr", None, "StopTxOnEVSideDisconnect", None): DeviceVariable(
        "ReadWrite", "boolean", "StopTransactionOnEVSideDisconnect"),
    ("TxCtrlr", None, "StopTxOnInvalidId", None): DeviceVariable("ReadWrite", "boolean",
                                                                 "StopTransactionOnInvalidId"),
    ("TxCtrlr", None, "TxStartPoint", None): DeviceVariable("ReadOnly", "MemberList", value=_constant("Authorized"),
                                                            values_list="Authorized"),
}


def _index_device_model() -> dict[tuple[str, int | None], dict[tuple[str, str], DeviceVariable]]:
    """(COMPONENT, EVSE) -> (VARIABLE, INSTANCE) -> variable: names compare case-insensitively."""
    components: dict[tuple[str, int | None], dict[tuple[str, str], DeviceVariable]] = {}
    for (component, evse, name, instance), variable in DEVICE_MODEL.items():
        components.setdefault((component.upper(), evse), {})[(name.upper(), (instance or "").upper())] = variable
    return components


_COMPONENTS = _index_device_model()


def _find_variable(component: dict[str, Any], variable: dict[str, Any]) -> DeviceVariable | str:
    """The variable a GetVariables or SetVariables item names, or why not: UnknownComponent, UnknownVariable."""
    evse = component.get("evse") or {}
    variables = _COMPONENTS.get((component["name"].upper(), evse.get("id")))
    if variables is None or component.get("instance") is not None or evse.get("connector_id") is not None:
        return "UnknownComponent"
    found = variables.get((variable["name"].upper(), (variable.get("instance") or "").upper()))
    return found if found is not None else "UnknownVariable"


def _in_report(report_base: str, name: str, variable: DeviceVariable) -> bool:
    if report_base == "ConfigurationInventory":
        return variable.mutability != "ReadOnly"
    if report_base == "SummaryInventory":
        return name == "AvailabilityState"
    return True


def _report_item(key: tuple[str, int | None, str, str | None], variable: DeviceVariable,
                 charger: Charger) -> dict[str, Any]:
    component_name, evse, name, instance = key
    attribute = {"type": "Actual", "mutability": variable.mutability}
    if variable.mutability != "WriteOnly":
        attribute["value"] = variable.read(charger)
    characteristics: dict[str, Any] = {"data_type": variable.data_type, "supports_monitoring": False}
    if variable.unit is not None:
        characteristics["unit"] = variable.unit
    if variable.values_list is not None:
        characteristics["values_list"] = variable.values_list
    return {"component": {"name": component_name, **({"evse": {"id": evse}} if evse is not None else {})},
            "variable": {"name": name, **({"instance": instance} if instance is not None else {})},
            "variable_attribute": [attribute], "variable_characteristics": characteristics}


def _sampled_values_201(samples: Iterable[Sample], context: str) -> list[dict[str, Any]]:
    values = []
    for sample in samples:
        if sample.measurand not in MEASURANDS_201:
            continue
        value: dict[str, Any] = {"value": sample.value, "context": context, "measurand": sample.measurand}
        if sample.unit is not None:
            value["unit_of_measure"] = {"unit": sample.unit}
        if sample.phase is not None:
            value["phase"] = sample.phase
        if sample.location is not None:
            value["location"] = sample.location
        values.append(value)
    return values


_ECHOED = ("component", "variable", "attribute_type")   # what a variable result repeats of its request


def _id_token(session: Session) -> dict[str, str]:
    return {"id_token": session.id_tag, "type": session.id_token_type or "Local"}


def _next_seq_no(session: Session) -> int:
    seq_no = session.seq_no
    session.seq_no += 1
    return seq_no


class Ocpp201(_Connection, v201.ChargePoint):
    """OCPP 2.0.1 on one connection, with the ``ocpp`` library's ChargePoint: two EVSEs of one connector each;
    sessions told as TransactionEvents; the configuration as a device model (:data:`DEVICE_MODEL`)."""

    version: ClassVar[str] = "2.0.1"
    subprotocol: ClassVar[str] = "ocpp2.0.1"
    default_id_tags: ClassVar[tuple[str, ...]] = ("{uid}",)
    id_token_length: ClassVar[int] = 36
    queues_updates: ClassVar[bool] = True

    @staticmethod
    def token_type(card: str) -> str | None:
        """ISO14443 for a 4- or 7-byte UID in hex, ISO15693 for an 8-byte one, otherwise Local."""
        if re.fullmatch(r"[0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}", card):
            return "ISO14443"
        if re.fullmatch(r"[0-9A-Fa-f]{16}", card):
            return "ISO15693"
        return "Local"

    def __init__(self, charger: Charger, websocket: ClientConnection) -> None:
        super().__init__(charger, websocket)
        self._statuses: dict[int, str] = {}   # EVSE -> the connectorStatus last sent on this connection

    # -- what the charger sends

    async def boot(self) -> tuple[str, int]:
        answer = await self._call(v201.call.BootNotification(
            charging_station={"model": "Simulator AC22-2", "vendor_name": "pgcsms",
                              "serial_number": self.id[-25:], "firmware_version": "sim-1.0"},
            reason=self.charger.boot_reason))
        return str(answer.status), int(answer.interval)

    async def heartbeat(self) -> None:
        await self._call(v201.call.Heartbeat())

    async def status(self, connector: int, status: str) -> None:
        """StatusNotification of the EVSE's connector when its connectorStatus changes; the station as a whole
        (connector 0) has none in 2.0.1."""
        connector_status = _connector_status(status)
        if connector != 0 and self._statuses.get(connector) != connector_status:
            await self._send_status(connector, connector_status)

    async def _send_status(self, evse_id: int, connector_status: str) -> None:
        await self._call(v201.call.StatusNotification(timestamp=_now(), connector_status=connector_status,
                                                      evse_id=evse_id, connector_id=1))
        self._statuses[evse_id] = connector_status

    async def authorize(self, session: Session) -> str:
        answer = await self._call(v201.call.Authorize(id_token=_id_token(session)))
        return str(answer.id_token_info["status"])

    async def _transaction_event(self, session: Session, unique_id: str, build: Callable[[], Any]) -> Any:
        """A TransactionEvent of the session, built once (its seqNo the next one) and sent the same until
        answered."""
        request = session.messages.get(unique_id)
        if request is None:
            request = session.messages[unique_id] = build()
        answer = await self._call(request, unique_id)
        session.messages.pop(unique_id, None)
        return answer

    async def start_transaction(self, session: Session, unique_id: str) -> tuple[int | str, str]:
        if session.transaction_id is None:
            session.transaction_id = _unique_id()   # the station names its transactions
        transaction_id = session.transaction_id

        def started() -> Any:
            info: dict[str, Any] = {"transaction_id": transaction_id, "charging_state": "Charging"}
            if session.remote_start_id is not None:
                info["remote_start_id"] = session.remote_start_id
            begin = Sample("Energy.Active.Import.Register", session.meter_start, "Wh", location="Outlet")
            return v201.call.TransactionEvent(
                event_type="Started", timestamp=session.started_at,
                trigger_reason="RemoteStart" if session.remote else "Authorized", seq_no=_next_seq_no(session),
                transaction_info=info, id_token=_id_token(session),
                evse={"id": session.connector.id, "connector_id": 1},
                meter_value=[{"timestamp": session.started_at,
                              "sampled_value": _sampled_values_201([begin], "Transaction.Begin")}],
                offline=session.started_offline or None)

        answer = await self._transaction_event(session, unique_id, started)
        token = answer.id_token_info
        return transaction_id, str(token["status"]) if token else "Accepted"

    async def meter_values(self, reading: Reading, session: Session | None) -> None:
        values = _sampled_values_201(reading.samples, reading.context)
        if values:
            await self._call(v201.call.MeterValues(
                evse_id=reading.connector, meter_value=[{"timestamp": reading.at, "sampled_value": values}]),
                reading.unique_id)

    async def update_transaction(self, session: Session, reading: Reading) -> None:
        def updated() -> Any:
            values = _sampled_values_201(reading.samples, reading.context)
            return v201.call.TransactionEvent(
                event_type="Updated", timestamp=reading.at,
                trigger_reason="Trigger" if reading.context == "Trigger" else "MeterValuePeriodic",
                seq_no=_next_seq_no(session),
                transaction_info={"transaction_id": session.transaction_id, "charging_state": "Charging"},
                meter_value=[{"timestamp": reading.at, "sampled_value": values}] if values else None,
                offline=reading.offline or None)

        await self._transaction_event(session, reading.unique_id, updated)

    async def stop_transaction(self, session: Session, unique_id: str) -> None:
        def ended() -> Any:
            trigger, reason = ENDINGS_201.get(session.stop_reason or "Local", ("AbnormalCondition", "Other"))
            end = _sampled_values_201(
                [Sample(measurand, session.meter_stop, "Wh", location="Outlet")
                 for measurand in self.charger.config.measurands("StopTxnSampledData")
                 if measurand == "Energy.Active.Import.Register"], "Transaction.End")
            return v201.call.TransactionEvent(
                event_type="Ended", timestamp=session.stopped_at, trigger_reason=trigger,
                seq_no=_next_seq_no(session),
                transaction_info={"transaction_id": session.transaction_id, "stopped_reason": reason,
                                  "charging_state": "Idle" if reason == "EVDisconnected" else "EVConnected"},
                id_token=_id_token(session) if trigger == "StopAuthorized" else None,
                meter_value=[{"timestamp": session.stopped_at, "sampled_value": end}] if end else None,
                offline=session.stopped_offline or None)

        await self._transaction_event(session, unique_id, ended)

    # -- what the central system asks: answered at once; anything more waits for after_answer. Actions
    # without a handler get the library's NotImplemented CALLERROR.

    @on(Action201.request_start_transaction)
    def on_request_start_transaction(self, id_token: dict[str, Any], remote_start_id: int,
                                     evse_id: int | None = None, **_: Any) -> Any:
        accepted = self.charger.remote_start(id_token["id_token"], evse_id, id_token_type=id_token["type"],
                                             remote_start_id=remote_start_id)
        return v201.call_result.RequestStartTransaction(status="Accepted" if accepted else "Rejected")

    @on(Action201.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id: str, **_: Any) -> Any:
        accepted = self.charger.remote_stop(transaction_id)
        return v201.call_result.RequestStopTransaction(status="Accepted" if accepted else "Rejected")

    @on(Action201.get_transaction_status)
    def on_get_transaction_status(self, transaction_id: str | None = None, **_: Any) -> Any:
        sessions = [s for s in self.charger.sessions if transaction_id is None or s.transaction_id == transaction_id]
        queued = any(s.messages or (s.updates is not None and not s.updates.done()) for s in sessions)
        ongoing = None if transaction_id is None else any(not s.stopped_at for s in sessions)
        return v201.call_result.GetTransactionStatus(messages_in_queue=queued, ongoing_indicator=ongoing)

    @on(Action201.reset)
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        if evse_id is not None:
            return v201.call_result.Reset(status="Rejected")   # it resets as a whole only
        return v201.call_result.Reset(status=self.charger.reset("ImmediateReset", when_idle=type == "OnIdle"))

    @on(Action201.change_availability)
    def on_change_availability(self, operational_status: str, evse: dict[str, Any] | None = None,
                               **_: Any) -> Any:
        evse = evse or {}
        if evse.get("connector_id") not in (None, 1):
            status = "Rejected"
        else:
            status = self.charger.change_availability(evse.get("id") or 0,
                                                      operative=operational_status == "Operative")
        return v201.call_result.ChangeAvailability(status=status)

    @on(Action201.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        connector = self.charger.connectors.get(evse_id)
        if connector is None or connector_id != 1:
            status = "UnknownConnector"
        elif connector.session is not None:
            status = "OngoingAuthorizedTransaction"
        else:
            status = self.charger.unlock(evse_id)
        return v201.call_result.UnlockConnector(status=status)

    @on(Action201.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        return v201.call_result.ClearCache(status="Accepted")

    @on(Action201.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return v201.call_result.DataTransfer(status="UnknownVendorId")

    @on(Action201.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self._check_items(get_variable_data, "GetVariables")
        results = []
        for item in get_variable_data:
            result: dict[str, Any] = {key: item[key] for key in _ECHOED if key in item}
            found = _find_variable(item["component"], item["variable"])
            if isinstance(found, str):
                result["attribute_status"] = found
            elif item.get("attribute_type", "Actual") != "Actual":
                result["attribute_status"] = "NotSupportedAttributeType"
            elif found.mutability == "WriteOnly":
                result["attribute_status"] = "Rejected"
            else:
                result.update(attribute_status="Accepted", attribute_value=found.read(self.charger))
            results.append(result)
        return v201.call_result.GetVariables(get_variable_result=results)

    @on(Action201.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self._check_items(set_variable_data, "SetVariables")
        results = []
        for item in set_variable_data:
            found = _find_variable(item["component"], item["variable"])
            if isinstance(found, str):
                status = found
            elif item.get("attribute_type", "Actual") != "Actual":
                status = "NotSupportedAttributeType"
            elif found.key is None or found.mutability == "ReadOnly" or not found.allows(item["attribute_value"]):
                status = "Rejected"
            else:   # HeartbeatInterval at once, BasicAuthPassword from the next connection on
                accepted = self.charger.change_configuration(found.key, item["attribute_value"]) == "Accepted"
                status = "Accepted" if accepted else "Rejected"
            results.append({"attribute_status": status, **{key: item[key] for key in _ECHOED if key in item}})
        return v201.call_result.SetVariables(set_variable_result=results)

    def _check_items(self, items: list[Any], message: str) -> None:
        """More items than DeviceDataCtrlr.ItemsPerMessage of the message: CALLERROR OccurrenceConstraintViolation."""
        most = int(DEVICE_MODEL[("DeviceDataCtrlr", None, "ItemsPerMessage", message)].read(self.charger))
        if len(items) > most:
            raise OccurrenceConstraintViolationError(
                description=f"{len(items)} items, more than ItemsPerMessage {message} ({most})")

    @on(Action201.get_base_report)
    def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        if report_base not in ("ConfigurationInventory", "FullInventory", "SummaryInventory"):
            return v201.call_result.GetBaseReport(status="NotSupported")
        items = [(key, variable) for key, variable in DEVICE_MODEL.items() if _in_report(report_base, key[2], variable)]
        if not items:
            return v201.call_result.GetBaseReport(status="EmptyResultSet")
        self.after_answer(lambda: self._report(request_id, items))
        return v201.call_result.GetBaseReport(status="Accepted")

    async def _report(self, request_id: int, items: list[tuple[Any, DeviceVariable]]) -> None:
        """NotifyReport pages, each but the last to be continued (tbc); sent even while Pending (B02)."""
        pages = [items[n:n + REPORT_PAGE] for n in range(0, len(items), REPORT_PAGE)]
        generated_at = _now()
        for seq_no, page in enumerate(pages):
            await self._call(v201.call.NotifyReport(
                request_id=request_id, generated_at=generated_at, seq_no=seq_no, tbc=seq_no < len(pages) - 1,
                report_data=[_report_item(key, variable, self.charger) for key, variable in page]))

    @on(Action201.trigger_message)
    def on_trigger_message(self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any) -> Any:
        return v201.call_result.TriggerMessage(status=self._trigger(requested_message, evse or {}))

    def _trigger(self, requested: str, evse: dict[str, Any]) -> str:
        charger = self.charger
        evse_id = evse.get("id") or None
        if evse_id is not None and (evse_id not in charger.connectors or evse.get("connector_id") not in (None, 1)):
            return "Rejected"
        if requested == "BootNotification":
            if charger.accepted.is_set():
                return "Rejected"   # F06.FR.17: only a station not (yet) accepted boots again when asked
            charger.trigger_boot()
            return "Accepted"
        if not charger.accepted.is_set():
            return "Rejected"
        if requested == "TransactionEvent":   # Updated, triggerReason Trigger, of each running transaction
            return "Accepted" if charger.trigger_update(evse_id) else "Rejected"
        if requested == "StatusNotification":   # of one connector, named (F06.FR.13), changed or not
            if evse_id is None or evse.get("connector_id") is None:
                return "Rejected"
            connector = charger.connectors[evse_id]
            self.after_answer(lambda: self._send_status(connector.id, _connector_status(connector.status)))
            return "Accepted"
        sends: dict[str, Callable[[], Awaitable[Any]]] = {
            "Heartbeat": self.heartbeat,
            "MeterValues": lambda: charger.send_meter_values(evse_id, "Trigger"),
            "LogStatusNotification": lambda: self._call(v201.call.LogStatusNotification(status="Idle")),
            "FirmwareStatusNotification": lambda: self._call(v201.call.FirmwareStatusNotification(status="Idle")),
        }
        send = sends.get(requested)
        if send is None:
            return "NotImplemented"   # certificates: no ISO 15118, no security profile 3 here
        self.after_answer(send)
        return "Accepted"


# Protocol versions the simulator speaks.
PROTOCOLS: dict[str, ProtocolClass] = {Ocpp16.version: Ocpp16, Ocpp201.version: Ocpp201}


# -- the run -------------------------------------------------------------------------------------------


async def simulate(options: Options, stop: asyncio.Event | None = None,
                   progress: Callable[[str], None] | None = None) -> Summary:
    """Run the chargers until ``duration`` passes or ``stop`` is set; end their sessions; sum it up."""
    options.check()
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    fleet = Fleet(options)
    chargers = [Charger(fleet, identity, random.Random(f"{seed}:{identity}")) for identity in options.identities()]
    loop = asyncio.get_running_loop()
    started = loop.time()
    tasks = [asyncio.create_task(charger.run(), name=f"charger {charger.identity}") for charger in chargers]
    reporter = asyncio.create_task(_report_ramp_up(chargers, progress)) if progress is not None else None
    try:
        waiters = [asyncio.ensure_future(stop.wait())] if stop is not None else []
        try:
            await asyncio.wait([*tasks, *waiters], timeout=options.duration, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        fleet.stopping.set()
        if progress is not None:
            progress(f"stopping: ending {sum(len(c.sessions) for c in chargers)} sessions")
        _, pending = await asyncio.wait(tasks, timeout=options.grace)
    finally:
        fleet.stopping.set()
        if reporter is not None:
            reporter.cancel()
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    fleet.stats.unclean_exits = len(pending)
    for charger, result in zip(chargers, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            fleet.stats.simulator_errors += 1
            logger.error("%s failed", charger.identity, exc_info=result)
    return Summary(options=options, seed=seed, elapsed=loop.time() - started, chargers=len(chargers),
                   connected=len(fleet.stats.ever_connected),
                   chargers_with_sessions=len(fleet.stats.sessions_by_charger), stats=fleet.stats)


async def _report_ramp_up(chargers: list[Charger], progress: Callable[[str], None]) -> None:
    """A line whenever the numbers change (at most twice a second), until every charger is accepted."""
    total = len(chargers)
    stats = chargers[0].stats
    last = ""
    while True:
        connected = len(stats.ever_connected)
        accepted = sum(1 for charger in chargers if charger.accepted.is_set())
        refused = sum(stats.handshake_refusals.values())
        line = f"connected {connected}/{total}, accepted {accepted}/{total}"
        if refused:
            line += f", handshakes refused {refused}"
        if line != last:
            progress(line)
            last = line
        if accepted == total:
            return
        await asyncio.sleep(0.5)   # a display refresh, not synchronisation


def run_command(args: argparse.Namespace) -> int:
    """``pgcsms simulate``: 0 when every charger came up and nothing went wrong on the wire, else 1."""
    options = Options(
        url=args.url, count=args.count, protocol=args.protocol, profile=args.profile, prefix=args.prefix,
        id_tags=tuple(args.id_tag) if args.id_tag else None, password=args.password, seed=args.seed,
        duration=args.duration, speed=args.speed, meter_interval=args.meter_interval,
        concurrency=args.concurrency)
    try:
        options.check()
    except ValueError as error:
        print(f"pgcsms simulate: {error}", file=sys.stderr)
        return 2

    def progress(line: str) -> None:
        print(f"pgcsms simulate: {line}", file=sys.stderr, flush=True)

    if PROFILES[options.profile].sessions:
        progress("the drivers' cards, for a central system that does not know them: "
                 + " ".join(options.cards_sql()))

    async def run() -> Summary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        return await simulate(options, stop, progress)

    summary = asyncio.run(run())
    print(summary.format(), flush=True)
    return 0 if summary.ok else 1
