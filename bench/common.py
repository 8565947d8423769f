"""Pieces shared by the benchmark's processes: limits, event loop, OCPP frames, histograms.

Everything here is cheap by design: the load generator calls the frame builders
once per message, and :class:`Histogram` records a latency in a few hundred
nanoseconds, so the generator stays far from being the bottleneck.
"""

from __future__ import annotations

import asyncio
import json
import math
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "ACTIONS",
    "ACTIONS_201",
    "BOOT_PAYLOAD",
    "BOOT_PAYLOAD_201",
    "MIXES",
    "MIXES_201",
    "PROTOCOLS",
    "SUBPROTOCOLS",
    "Histogram",
    "MessageFactory",
    "install_fast_loop",
    "mixes",
    "raise_nofile_limit",
    "serve_json_commands",
    "transaction_id",
]

#: Every charger's BootNotification payload.
BOOT_PAYLOAD = b'{"chargePointVendor":"Bench","chargePointModel":"B1"}'

#: The actions a charger sends during load, and the mixes of them.
ACTIONS = ("MeterValues", "Heartbeat", "StatusNotification")

#: A mix is a cycle of actions each charger walks through, one CALL at a time.
MIXES: dict[str, tuple[str, ...]] = {
    "meter": ("MeterValues",),
    # 80% MeterValues, 10% Heartbeat, 10% StatusNotification.
    "mix": ("MeterValues",) * 4 + ("Heartbeat",) + ("MeterValues",) * 4 + ("StatusNotification",),
    "heartbeat": ("Heartbeat",),
    "status": ("StatusNotification",),
}

_METER_TEMPLATE = (
    '{"connectorId":1,"meterValue":[{"timestamp":"%s","sampledValue":['
    '{"value":"%d.5","measurand":"Energy.Active.Import.Register","unit":"Wh"},'
    '{"value":"7200","measurand":"Power.Active.Import","unit":"W"},'
    '{"value":"32","measurand":"Current.Import","unit":"A","phase":"L1"},'
    '{"value":"230","measurand":"Voltage","unit":"V","phase":"L1-N"}]}]}'
)
_STATUS_TEMPLATE = (
    '{"connectorId":1,"errorCode":"NoError","status":"%s","timestamp":"%s"}'
)
_STATUSES = ("Available", "Preparing")

# -- OCPP 2.0.1 ---------------------------------------------------------------
#: The OCPP versions the load can speak, and the WebSocket subprotocol of each.
PROTOCOLS = ("1.6", "2.0.1")
SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}

#: Every charger's 2.0.1 BootNotification payload.
BOOT_PAYLOAD_201 = b'{"reason":"PowerUp","chargingStation":{"model":"B1","vendorName":"Bench"}}'

#: The actions a 2.0.1 charger sends during load, and the mixes of them: 2.0.1
#: sends its periodic readings as TransactionEvent Updated of an open transaction.
ACTIONS_201 = ("TransactionEvent", "Heartbeat", "StatusNotification")
MIXES_201: dict[str, tuple[str, ...]] = {
    "meter": ("TransactionEvent",),
    # 80% TransactionEvent Updated, 10% Heartbeat, 10% StatusNotification.
    "mix": ("TransactionEvent",) * 4 + ("Heartbeat",) + ("TransactionEvent",) * 4
    + ("StatusNotification",),
    "heartbeat": ("Heartbeat",),
    "status": ("StatusNotification",),
}

# The first TransactionEvent of a charger opens its transaction (seqNo 0, with the
# meter's start reading); every later one is an Updated with the periodic sample.
_TX_STARTED_TEMPLATE = (
    '{"eventType":"Started","timestamp":"%s","triggerReason":"Authorized","seqNo":0,'
    '"transactionInfo":{"transactionId":"%s","chargingState":"Charging"},'
    '"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"BENCH","type":"ISO14443"},'
    '"meterValue":[{"timestamp":"%s","sampledValue":['
    '{"value":%d,"context":"Transaction.Begin","measurand":"Energy.Active.Import.Register",'
    '"unitOfMeasure":{"unit":"Wh"}}]}]}'
)
_TX_UPDATED_TEMPLATE = (
    '{"eventType":"Updated","timestamp":"%s","triggerReason":"MeterValuePeriodic","seqNo":%d,'
    '"transactionInfo":{"transactionId":"%s"},"meterValue":[{"timestamp":"%s","sampledValue":['
    '{"value":%d.5,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}},'
    '{"value":7200,"measurand":"Power.Active.Import","unitOfMeasure":{"unit":"W"}},'
    '{"value":32,"measurand":"Current.Import","phase":"L1","unitOfMeasure":{"unit":"A"}},'
    '{"value":230,"measurand":"Voltage","phase":"L1-N","unitOfMeasure":{"unit":"V"}}]}]}'
)
_STATUS_201_TEMPLATE = (
    '{"timestamp":"%s","connectorStatus":"%s","evseId":1,"connectorId":1}'
)
_STATUSES_201 = ("Occupied", "Available")


def mixes(protocol: str) -> dict[str, tuple[str, ...]]:
    """The mixes of ``protocol`` ("1.6" or "2.0.1"), by name."""
    if protocol not in SUBPROTOCOLS:
        raise ValueError(f"unknown OCPP version {protocol!r}")
    return MIXES_201 if protocol == "2.0.1" else MIXES


def transaction_id(charge_point_id: str, base_epoch: float) -> str:
    """A 2.0.1 transactionId of the charger's own for this run (at most 36 characters).

    The run's start second is part of it, so a second run on the same database
    (``--dsn``) opens new transactions instead of resending old ones.
    """
    return f"{charge_point_id}-{int(base_epoch)}"[-36:]


def raise_nofile_limit(wanted: int = 65536) -> int:
    """Raise this process's open-file soft limit towards ``wanted`` (capped by the hard limit).

    Children started afterwards inherit it.  Returns the soft limit now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


def install_fast_loop() -> bool:
    """Use uvloop's event loop policy when uvloop is installed; say whether it is."""
    try:
        import uvloop
    except ImportError:
        return False
    uvloop.install()
    return True


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class MessageFactory:
    """Builds one charger's CALL frames (as JSON text bytes) from pre-built templates.

    Unique ids are the charger's own counter; meter timestamps step one second per
    message from ``base_epoch`` so no two readings of one charger share a timestamp,
    and the energy register grows.

    With ``protocol`` "2.0.1" the payloads are 2.0.1's: BootNotification's, and
    TransactionEvent of the transaction ``tx_id``: Started (seqNo 0) the first
    time, then Updated with the periodic sample, seqNo one more each time.
    """

    __slots__ = ("base_epoch", "protocol", "seq", "tx_id", "tx_seq")

    def __init__(self, base_epoch: float, protocol: str = "1.6", tx_id: str = "") -> None:
        if protocol not in SUBPROTOCOLS:
            raise ValueError(f"unknown OCPP version {protocol!r}")
        self.base_epoch = int(base_epoch)
        self.seq = 0
        self.protocol = protocol
        self.tx_id = tx_id
        self.tx_seq = -1  # the seqNo of the last TransactionEvent sent; -1: none yet

    def next_uid(self) -> str:
        self.seq += 1
        return str(self.seq)

    def call(self, action: str) -> tuple[str, bytes]:
        """Return ``(unique_id, frame_text)`` for the next CALL of ``action``."""
        uid = self.next_uid()
        if self.protocol == "2.0.1":
            return uid, f'[2,"{uid}","{action}",{self._payload_201(action)}]'.encode()
        if action == "MeterValues":
            seq = self.seq
            payload = _METER_TEMPLATE % (_iso(self.base_epoch + seq), 1000 + seq)
        elif action == "Heartbeat":
            payload = "{}"
        elif action == "StatusNotification":
            payload = _STATUS_TEMPLATE % (
                _STATUSES[self.seq % len(_STATUSES)], _iso(self.base_epoch + self.seq)
            )
        elif action == "BootNotification":
            payload = BOOT_PAYLOAD.decode()
        else:
            raise ValueError(f"no template for {action}")
        return uid, f'[2,"{uid}","{action}",{payload}]'.encode()

    def _payload_201(self, action: str) -> str:
        seq = self.seq
        when = _iso(self.base_epoch + seq)
        if action == "TransactionEvent":
            self.tx_seq += 1
            if self.tx_seq == 0:
                return _TX_STARTED_TEMPLATE % (when, self.tx_id, when, 1000)
            return _TX_UPDATED_TEMPLATE % (when, self.tx_seq, self.tx_id, when, 1000 + seq)
        if action == "Heartbeat":
            return "{}"
        if action == "StatusNotification":
            return _STATUS_201_TEMPLATE % (when, _STATUSES_201[seq % len(_STATUSES_201)])
        if action == "BootNotification":
            return BOOT_PAYLOAD_201.decode()
        raise ValueError(f"no 2.0.1 template for {action}")

    @staticmethod
    def result(unique_id: str, payload: Mapping[str, Any]) -> bytes:
        """A CALLRESULT frame text answering a CALL from the server."""
        return json.dumps([3, unique_id, payload], separators=(",", ":")).encode()


class Histogram:
    """Latency histogram with log-spaced buckets (1% wide) from 1 microsecond up.

    Mergeable across processes through :meth:`to_json` / :meth:`from_json`.
    Percentiles are within 1% of the exact value.
    """

    __slots__ = ("buckets", "count", "max", "min", "total")

    _BASE = 1e-6
    _LOG_STEP = math.log(1.01)

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0

    def add(self, seconds: float) -> None:
        """Record one latency, in seconds."""
        index = int(math.log(seconds / self._BASE) / self._LOG_STEP) if seconds > self._BASE else 0
        buckets = self.buckets
        buckets[index] = buckets.get(index, 0) + 1
        self.count += 1
        self.total += seconds
        if seconds < self.min:
            self.min = seconds
        if seconds > self.max:
            self.max = seconds

    def merge(self, other: Histogram) -> None:
        """Add another histogram's counts to this one."""
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100) in seconds, or None when empty."""
        if not self.count:
            return None
        rank = max(1, math.ceil(self.count * q / 100.0))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                # Geometric middle of the bucket, clamped to what was observed.
                value = self._BASE * math.exp((index + 0.5) * self._LOG_STEP)
                return min(max(value, self.min), self.max)
        return self.max

    def summary_ms(self) -> dict[str, float | int | None]:
        """Count, mean, p50/p95/p99/p99.9 and max, in milliseconds."""

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000.0, 3)

        return {
            "count": self.count,
            "mean_ms": ms(self.total / self.count) if self.count else None,
            "p50_ms": ms(self.percentile(50)),
            "p95_ms": ms(self.percentile(95)),
            "p99_ms": ms(self.percentile(99)),
            "p999_ms": ms(self.percentile(99.9)),
            "max_ms": ms(self.max) if self.count else None,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "buckets": {str(k): v for k, v in self.buckets.items()},
            "count": self.count,
            "total": self.total,
            "min": self.min if self.count else None,
            "max": self.max,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Histogram:
        hist = cls()
        hist.buckets = {int(k): int(v) for k, v in data.get("buckets", {}).items()}
        hist.count = int(data.get("count", 0))
        hist.total = float(data.get("total", 0.0))
        hist.min = math.inf if data.get("min") is None else float(data["min"])
        hist.max = float(data.get("max", 0.0))
        return hist

    @classmethod
    def merged(cls, parts: Iterable[Mapping[str, Any]]) -> Histogram:
        hist = cls()
        for part in parts:
            hist.merge(cls.from_json(part))
        return hist


async def serve_json_commands(
    dispatch: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
    close: Callable[[], Awaitable[None]],
) -> None:
    """A worker process's main loop: JSON commands in on stdin, one JSON result line out.

    Prints ``{"ready": true}`` first.  ``{"cmd": "close"}`` (or end of input) calls
    ``close`` and ends the loop; a failing command answers ``{"ok": false, "error": ...}``.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    while True:
        line = (await reader.readline()).strip()
        if not line:
            if reader.at_eof():
                break
            continue
        try:
            cmd = json.loads(line)
            if cmd.get("cmd") == "close":
                break
            result = await dispatch(cmd)
            result["ok"] = True
        except Exception as exc:
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(result), flush=True)
    await close()
    print(json.dumps({"closed": True, "ok": True}), flush=True)
