"""The load generator: simulated OCPP 1.6J (or 2.0.1) chargers over raw WebSocket connections.

One process of it drives a slice of the chargers; ``python -m bench`` starts one
or several and steers them with JSON commands, one a line, on their standard
input; each command's result is one JSON line on standard output (logs go to
standard error).  The first line printed is ``{"ready": true}``.

It is built not to be the bottleneck: an :class:`asyncio.Protocol` per charger
on uvloop, the WebSocket handshake and framing done by hand (no per-message
futures, tasks or stream objects, no compression), CALL frames filled in from
pre-built templates, masking by ``websockets``' C ``apply_mask``.  Each result
carries the process's own CPU seconds so a report can show the generator's load.

Commands (all times are epoch seconds; every phase is bounded in time):

``{"cmd": "connect", "concurrency": 100, "boot": true, "timeout": 60, "protocol": "1.6"}``
    Open every charger's connection (at most ``concurrency`` handshakes at once),
    then BootNotification each.  ``protocol`` (default: the process's ``--protocol``)
    sets the OCPP version of the chargers from then on: subprotocol ``ocpp1.6`` or
    ``ocpp2.0.1``; with 2.0.1 each booted charger then opens its transaction (a
    TransactionEvent Started) that the load's TransactionEvent Updated belong to,
    unless ``"transactions": false`` (idle).
``{"cmd": "closed", "start_at": T, "warmup": 1, "duration": 10, "mix": "meter"}``
    Closed loop: each charger sends a CALL, awaits its CALLRESULT, sends the next.
``{"cmd": "open", "start_at": T, "warmup": 1, "duration": 10, "rate": 1000, "mix": "meter"}``
    Open loop at ``rate`` CALLs/s for this process, evenly spread over its chargers;
    a CALL due while the charger's previous one is outstanding waits for it (OCPP
    allows one outstanding CALL), and its latency counts from when it was due.
``{"cmd": "idle", "start_at": T, "duration": 20, "interval": 10}``
    Each charger sends a Heartbeat every ``interval`` seconds, at a random phase.
``{"cmd": "storm", "start_at": T, "timeout": 120, "protocol": "1.6"}``
    Every charger connects and sends BootNotification at once; failures retry
    after a short random back-off until ``timeout``.
``{"cmd": "listen", "duration": 60, "expect": 1000}``
    Answer the server's CALLs (``[3, id, {"status": "Accepted"}]``) until ``expect``
    of them have arrived or ``duration`` has passed.
``{"cmd": "stats"}`` / ``{"cmd": "close"}``
    Connection counts / close every connection and exit.

Run ``python -m bench.loadgen --help`` for the process options.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import sys
import time
import urllib.parse
import zlib
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, cast

from bench.common import (
    PROTOCOLS,
    SUBPROTOCOLS,
    Histogram,
    MessageFactory,
    install_fast_loop,
    mixes,
    raise_nofile_limit,
    serve_json_commands,
    transaction_id,
)

_c_apply_mask: Callable[[bytes, bytes], bytes] | None
try:
    from websockets.speedups import apply_mask as _c_apply_mask
except ImportError:  # pragma: no cover - websockets without its C extension
    _c_apply_mask = None

__all__ = ["Charger", "Generator", "Phase", "charger_address", "main"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _apply_mask(data: bytes, mask: bytes) -> bytes:
    if _c_apply_mask is not None:
        return bytes(_c_apply_mask(data, mask))
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, HandshakeError):
        return f"handshake:{exc.args[0]}"
    if isinstance(exc, OSError):
        return f"oserror:{exc.errno}"
    return type(exc).__name__


def charger_address(number: int) -> str:
    """A loopback address of charger ``number``'s own: 127.1.0.1, 127.1.0.2, ...

    Chargers in the field each have their own address; giving each simulated one
    its own keeps per-address limits (handshake rate) and ephemeral ports as they
    would be.  Linux routes all of 127.0.0.0/8 to the loopback interface.
    """
    return f"127.{1 + number // 62500}.{(number // 250) % 250}.{number % 250 + 1}"


def _backoff(failures: int) -> float:
    """Seconds before the next attempt: 1 s doubling to 30 s, each with ±50% jitter.

    Like charger firmware's reconnect back-off (OCPP 2.0.1's RetryBackOff*), so a
    storm's retries spread out instead of coming back together.
    """
    return min(30.0, 2.0**failures) * (0.5 + random.random())


class HandshakeError(Exception):
    """The server refused or garbled the WebSocket upgrade."""


class Phase:
    """What the generator is doing now; receives every CALLRESULT/CALLERROR.

    The base class only records latencies and counts: it serves the connect and
    listen phases and the follow-up Heartbeats of the fanout scenario.
    """

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.hist: dict[str, Histogram] = {}
        self.results = 0
        self.errors = 0
        self.error_codes: Counter[str] = Counter()
        self.measure_from = 0.0
        self.end = float("inf")
        self.window_results = 0

    def record(self, charger: Charger, msg: list[Any], now: float) -> None:
        action = charger.pending_action
        if msg[0] == 3:
            self.results += 1
            if charger.t_base >= self.measure_from:
                hist = self.hist.get(action)
                if hist is None:
                    hist = self.hist[action] = Histogram()
                hist.add(now - charger.t_base)
            if self.measure_from <= now <= self.end:
                self.window_results += 1
        else:
            self.errors += 1
            self.error_codes[f"{action}:{msg[2] if len(msg) > 2 else '?'}"] += 1

    def on_reply(self, charger: Charger, msg: list[Any], now: float) -> None:
        self.record(charger, msg, now)

    def on_lost(self, charger: Charger) -> None:
        """A charger's connection dropped with a CALL outstanding."""
        self.error_codes["disconnected"] += 1
        self.errors += 1

    def report(self) -> dict[str, Any]:
        return {
            "results": self.results,
            "window_results": self.window_results,
            "errors": self.errors,
            "error_codes": dict(self.error_codes.most_common(20)),
            "hist": {action: h.to_json() for action, h in self.hist.items()},
        }


class Charger(asyncio.Protocol):
    """One simulated charger: a hand-rolled WebSocket client speaking OCPP-J."""

    def __init__(self, gen: Generator, charge_point_id: str, source_ip: str | None) -> None:
        self.gen = gen
        self.cp_id = charge_point_id
        self.source_ip = source_ip
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.alive = False
        self.handshake: asyncio.Future[None] | None = None
        self.key = base64.b64encode(os.urandom(16))
        self.mask = os.urandom(4)
        self.factory = MessageFactory(gen.base_epoch)
        self.tx_open = False  # 2.0.1: its TransactionEvent Started was answered
        self.pending_uid: str | None = None
        self.pending_action = ""
        self.t_base = 0.0
        self.waiter: asyncio.Future[list[Any]] | None = None
        self.fragments: bytearray | None = None
        # permessage-deflate (RFC 7692) when offered and accepted: the server's
        # messages are inflated; ours go uncompressed (the RFC lets a sender choose).
        self.inflater: Any = None
        self.compressed = False
        self.booted = False
        # Closed/open loop state.
        self.mix_pos = random.randrange(10)
        self.next_due = 0.0
        self.backlog: deque[float] = deque()
        self.done = True

    # -- asyncio.Protocol -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        gen = self.gen
        request = (
            f"GET {gen.path}{urllib.parse.quote(self.cp_id)} HTTP/1.1\r\n"
            f"Host: {gen.host_header}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self.key.decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {gen.subprotocol}\r\n"
            + ("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
               if gen.offer_compression else "")
            + (f"Authorization: Basic {self._basic()}\r\n" if gen.password_prefix else "")
            + "\r\n"
        )
        self.transport.write(request.encode())

    def connection_lost(self, exc: Exception | None) -> None:
        was_alive = self.alive
        self.alive = False
        self.transport = None
        if self.handshake is not None and not self.handshake.done():
            self.handshake.set_exception(exc or ConnectionResetError("closed during handshake"))
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionResetError("closed awaiting a reply"))
        if was_alive:
            self.gen.disconnects += 1
            if self.pending_uid is not None:
                self.pending_uid = None
                self.gen.phase.on_lost(self)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > 16384:
                    self._fail_handshake("oversized")
                return
            head = bytes(buf[:end]).decode("latin-1")
            del buf[: end + 4]
            self._check_handshake(head)
            if not self.upgraded:
                return
        self._read_frames(buf)

    # -- WebSocket --------------------------------------------------------
    def _fail_handshake(self, reason: str) -> None:
        if self.handshake is not None and not self.handshake.done():
            self.handshake.set_exception(HandshakeError(reason))
        if self.transport is not None:
            self.transport.abort()

    def _check_handshake(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or parts[1] != "101":
            self._fail_handshake(f"status {parts[1] if len(parts) > 1 else '?'}")
            return
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(self.key + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            self._fail_handshake("bad accept")
            return
        if headers.get("sec-websocket-protocol") != self.gen.subprotocol:
            self._fail_handshake(f"no {self.gen.subprotocol} subprotocol")
            return
        if "permessage-deflate" in headers.get("sec-websocket-extensions", ""):
            self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            self.gen.deflate_negotiated += 1
        self.upgraded = True
        self.alive = True
        if self.handshake is not None and not self.handshake.done():
            self.handshake.set_result(None)

    def _read_frames(self, buf: bytearray) -> None:
        while True:
            n = len(buf)
            if n < 2:
                return
            b0 = buf[0]
            b1 = buf[1]
            length = b1 & 0x7F
            pos = 2
            if length == 126:
                if n < 4:
                    return
                length = int.from_bytes(buf[2:4], "big")
                pos = 4
            elif length == 127:
                if n < 10:
                    return
                length = int.from_bytes(buf[2:10], "big")
                pos = 10
            mask = b""
            if b1 & 0x80:
                if n < pos + 4:
                    return
                mask = bytes(buf[pos : pos + 4])
                pos += 4
            if n < pos + length:
                return
            payload = bytes(buf[pos : pos + length])
            del buf[: pos + length]
            if mask:
                payload = _apply_mask(payload, mask)
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode == 1:
                self.compressed = bool(b0 & 0x40)  # RSV1 on a message's first frame
                if fin:
                    self._on_text(self._inflate(payload))
                else:
                    self.fragments = bytearray(payload)
            elif opcode == 0 and self.fragments is not None:
                self.fragments += payload
                if fin:
                    whole = bytes(self.fragments)
                    self.fragments = None
                    self._on_text(self._inflate(whole))
            elif opcode == 9:
                self._send_frame(0x8A, payload)
            elif opcode == 8:
                self.gen.server_closes += 1
                self._send_frame(0x88, payload[:2])
                if self.transport is not None:
                    self.transport.close()
                return

    def _basic(self) -> str:
        """HTTP Basic credentials: the identity and the password the bench registered for it."""
        password = f"{self.gen.password_prefix}{self.cp_id}"
        return base64.b64encode(f"{self.cp_id}:{password}".encode()).decode()

    def _inflate(self, payload: bytes) -> bytes:
        if not self.compressed or self.inflater is None:
            return payload
        return self.inflater.decompress(payload + b"\x00\x00\xff\xff")

    def _send_frame(self, first_byte: int, payload: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        n = len(payload)
        if n < 126:
            header = bytes((first_byte, 0x80 | n))
        elif n < 65536:
            header = bytes((first_byte, 0xFE)) + n.to_bytes(2, "big")
        else:
            header = bytes((first_byte, 0xFF)) + n.to_bytes(8, "big")
        transport.write(header + self.mask + _apply_mask(payload, self.mask))

    # -- OCPP-J -----------------------------------------------------------
    def send_call(self, action: str, t_base: float | None = None) -> None:
        """Send the next CALL of ``action``; latency counts from ``t_base`` (default: now)."""
        uid, text = self.factory.call(action)
        self.pending_uid = uid
        self.pending_action = action
        now = time.perf_counter()
        self.t_base = now if t_base is None else t_base
        self.gen.sent += 1
        self._send_frame(0x81, text)

    async def call(self, action: str, timeout: float) -> list[Any]:
        """Send a CALL and await its reply (for BootNotification and the like)."""
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.send_call(action)
        try:
            return await asyncio.wait_for(self.waiter, timeout)
        finally:
            self.waiter = None
            self.pending_uid = None

    def _on_text(self, payload: bytes) -> None:
        now = time.perf_counter()
        gen = self.gen
        try:
            msg = json.loads(payload)
            kind = msg[0]
        except (ValueError, IndexError, TypeError, KeyError):
            gen.bad_frames += 1
            return
        if kind == 2:
            self._on_server_call(msg)
            return
        if kind not in (3, 4) or msg[1] != self.pending_uid:
            gen.unexpected += 1
            return
        if self.waiter is not None:
            if not self.waiter.done():
                self.waiter.set_result(msg)
            return
        self.pending_uid = None
        gen.phase.on_reply(self, msg, now)

    def _on_server_call(self, msg: list[Any]) -> None:
        gen = self.gen
        gen.incoming_calls += 1
        gen.incoming_actions[str(msg[2]) if len(msg) > 2 else "?"] += 1
        gen.last_incoming = time.time()
        if gen.first_incoming is None:
            gen.first_incoming = gen.last_incoming
        self._send_frame(0x81, MessageFactory.result(str(msg[1]), {"status": "Accepted"}))
        # A real charger does what TriggerMessage asked for; we do it for Heartbeat.
        if (
            gen.follow_triggers
            and len(msg) > 3
            and msg[2] == "TriggerMessage"
            and isinstance(msg[3], dict)
            and msg[3].get("requestedMessage") == "Heartbeat"
            and self.pending_uid is None
        ):
            gen.followups += 1
            self.send_call("Heartbeat")
        if gen.listen_expect and gen.incoming_calls >= gen.listen_expect:
            gen.listen_done.set()


class _LoopPhase(Phase):
    """Shared by the closed and open loops: walks each charger through a mix."""

    def __init__(self, gen: Generator, mix: str) -> None:
        super().__init__(gen)
        self.actions = mixes(gen.protocol)[mix]
        self.active = 0
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def next_action(self, charger: Charger) -> str:
        actions = self.actions
        charger.mix_pos = (charger.mix_pos + 1) % len(actions)
        return actions[charger.mix_pos]

    def retire(self, charger: Charger) -> None:
        if not charger.done:
            charger.done = True
            self.active -= 1
            if self.active <= 0 and not self.finished.done():
                self.finished.set_result(None)

    def on_lost(self, charger: Charger) -> None:
        super().on_lost(charger)
        self.retire(charger)


class ClosedPhase(_LoopPhase):
    """Back-to-back CALLs, one outstanding per charger."""

    def start(self, chargers: list[Charger]) -> None:
        for charger in chargers:
            charger.done = False
            self.active += 1
            charger.send_call(self.next_action(charger))
        if not self.active and not self.finished.done():
            self.finished.set_result(None)

    def on_reply(self, charger: Charger, msg: list[Any], now: float) -> None:
        self.record(charger, msg, now)
        if now < self.end and charger.alive:
            charger.send_call(self.next_action(charger))
        else:
            self.retire(charger)


class OpenPhase(_LoopPhase):
    """CALLs at fixed due times; late ones queue behind the outstanding CALL."""

    def __init__(self, gen: Generator, mix: str, interval: float) -> None:
        super().__init__(gen, mix)
        self.interval = interval
        self.offered = 0
        self.dropped = 0
        self.lag = Histogram()
        self.queued = 0
        self.loop = asyncio.get_running_loop()
        self.loop_offset = 0.0

    def start(self, chargers: list[Charger], first_due: float, spread: str) -> None:
        self.loop_offset = self.loop.time() - time.perf_counter()
        n = len(chargers)
        for i, charger in enumerate(chargers):
            charger.done = False
            charger.backlog.clear()
            self.active += 1
            even = self.interval * i / max(n, 1)
            charger.next_due = first_due + (
                random.random() * self.interval if spread == "random" else even
            )
            self.loop.call_at(charger.next_due + self.loop_offset, self.tick, charger)
        if not self.active and not self.finished.done():
            self.finished.set_result(None)

    def tick(self, charger: Charger) -> None:
        if charger.done:
            return
        due = charger.next_due
        if due >= self.end:  # its first CALL would fall after the window (long intervals)
            charger.next_due = float("inf")
            if charger.pending_uid is None:
                self.retire(charger)
            return
        charger.next_due = due + self.interval
        if due >= self.measure_from:
            self.offered += 1
        if not charger.alive:
            self.retire(charger)
            return
        if charger.pending_uid is None:
            now = time.perf_counter()
            self.lag.add(max(now - due, 1e-7))
            charger.send_call(self.next_action(charger))
        else:
            self.queued += 1
            charger.backlog.append(due)
        if charger.next_due < self.end:
            self.loop.call_at(charger.next_due + self.loop_offset, self.tick, charger)
        else:
            charger.next_due = float("inf")
            if charger.pending_uid is None:
                self.retire(charger)

    def on_reply(self, charger: Charger, msg: list[Any], now: float) -> None:
        self.record(charger, msg, now)
        if charger.backlog:
            if now < self.end and charger.alive:
                charger.send_call(self.next_action(charger), t_base=charger.backlog.popleft())
                return
            self.dropped += len(charger.backlog)
            charger.backlog.clear()
        if charger.next_due == float("inf") or not charger.alive:
            self.retire(charger)

    def report(self) -> dict[str, Any]:
        out = super().report()
        out.update(
            offered=self.offered,
            queued_behind_outstanding=self.queued,
            dropped_at_end=self.dropped,
            timer_lag=self.lag.summary_ms(),
        )
        return out


class Generator:
    """A slice of chargers, their connections, and the phase they are in."""

    def __init__(
        self,
        url: str,
        ids: list[str],
        source_ips: list[str | None],
        follow_triggers: bool = True,
        offer_compression: bool = False,
        password_prefix: str | None = None,
        protocol: str = "1.6",
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "ws" or not parsed.hostname:
            raise ValueError(f"need a ws:// URL, got {url!r}")
        self.host = parsed.hostname
        self.port = parsed.port or 80
        self.host_header = f"{self.host}:{self.port}"
        self.path = parsed.path if parsed.path.endswith("/") else parsed.path + "/"
        self.base_epoch = time.time()
        self.offer_compression = offer_compression
        self.password_prefix = password_prefix
        self.deflate_negotiated = 0
        self.protocol = "1.6"
        self.subprotocol = SUBPROTOCOLS["1.6"]
        self.chargers = [
            Charger(self, cp_id, ip) for cp_id, ip in zip(ids, source_ips, strict=True)
        ]
        self.set_protocol(protocol)
        self.phase: Phase = Phase(self)
        self.follow_triggers = follow_triggers
        self.sent = 0
        self.bad_frames = 0
        self.unexpected = 0
        self.disconnects = 0
        self.server_closes = 0
        self.incoming_calls = 0
        self.incoming_actions: Counter[str] = Counter()
        self.first_incoming: float | None = None
        self.last_incoming: float | None = None
        self.followups = 0
        self.listen_expect = 0
        self.listen_done = asyncio.Event()

    def set_protocol(self, protocol: str) -> None:
        """Speak OCPP ``protocol`` ("1.6" or "2.0.1") on connections opened from now on."""
        if protocol not in SUBPROTOCOLS:
            raise ValueError(f"unknown OCPP version {protocol!r}")
        if protocol == self.protocol and all(c.factory.protocol == protocol for c in self.chargers):
            return
        self.protocol = protocol
        self.subprotocol = SUBPROTOCOLS[protocol]
        for charger in self.chargers:
            charger.factory = MessageFactory(
                self.base_epoch, protocol, transaction_id(charger.cp_id, self.base_epoch)
            )
            charger.tx_open = False

    # -- connections ------------------------------------------------------
    async def open(self, charger: Charger, timeout: float) -> None:
        """Connect and upgrade one charger (raises on failure)."""
        loop = asyncio.get_running_loop()
        charger.buf.clear()
        charger.upgraded = False
        charger.handshake = loop.create_future()
        local = (charger.source_ip, 0) if charger.source_ip else None
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(
                    lambda: charger, self.host, self.port, local_addr=local
                )
                try:
                    await charger.handshake
                except BaseException:
                    transport.abort()
                    raise
        finally:
            charger.handshake = None

    async def boot(self, charger: Charger, timeout: float) -> str:
        """BootNotification; returns the status, or 'CALLERROR:<code>'."""
        reply = await charger.call("BootNotification", timeout)
        if reply[0] == 4:
            return f"CALLERROR:{reply[2] if len(reply) > 2 else '?'}"
        payload = reply[2] if len(reply) > 2 and isinstance(reply[2], dict) else {}
        status = str(payload.get("status", "?"))
        charger.booted = status == "Accepted"
        return status

    async def start_transaction(self, charger: Charger, timeout: float) -> str:
        """2.0.1: TransactionEvent Started; returns its idTokenInfo status, or 'CALLERROR:<code>'.

        Whatever the token's status, the transaction is open: the CSMS only tells
        the charger whether to go on charging (the bench's chargers do).
        """
        charger.factory.tx_seq = -1  # a retry is a Started again
        reply = await charger.call("TransactionEvent", timeout)
        if reply[0] == 4:
            return f"CALLERROR:{reply[2] if len(reply) > 2 else '?'}"
        payload = reply[2] if len(reply) > 2 and isinstance(reply[2], dict) else {}
        charger.tx_open = True
        info = payload.get("idTokenInfo")
        return str(info.get("status", "?")) if isinstance(info, dict) else "no idTokenInfo"

    async def connect(self, concurrency: int, boot: bool, timeout: float,
                      attempts: int = 3, open_transactions: bool = True) -> dict[str, Any]:
        """Connect (and boot) every charger not yet connected, ``concurrency`` at a time.

        A charger that fails tries again after a second or so, ``attempts`` times in
        all; every failure is counted in ``errors``.
        """
        started = time.perf_counter()
        cpu0 = time.process_time()
        deadline = started + timeout
        errors: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        tx_statuses: Counter[str] = Counter()
        sem = asyncio.Semaphore(max(1, concurrency))
        opens_tx = boot and open_transactions and self.protocol == "2.0.1"

        async def one(charger: Charger) -> None:
            for attempt in range(attempts):
                if attempt:
                    await asyncio.sleep(0.5 + random.random())
                async with sem:
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        errors["deadline"] += 1
                        return
                    try:
                        if not charger.alive:
                            await self.open(charger, min(30.0, remaining))
                        if boot and not charger.booted:
                            statuses[await self.boot(charger, min(30.0, remaining))] += 1
                        if opens_tx and charger.booted and not charger.tx_open:
                            status = await self.start_transaction(charger, min(30.0, remaining))
                            tx_statuses[status] += 1
                            if not charger.tx_open:
                                errors[f"TransactionEvent:{status}"] += 1
                        if charger.alive and (charger.booted or not boot) and (
                            charger.tx_open or not opens_tx
                        ):
                            return
                    except Exception as exc:
                        errors[_error_kind(exc)] += 1
                        if charger.transport is not None:
                            charger.transport.abort()

        await asyncio.gather(*(one(c) for c in self.chargers))
        out: dict[str, Any] = {
            "connected": sum(c.alive for c in self.chargers),
            "booted": sum(c.booted and c.alive for c in self.chargers),
            "boot_statuses": dict(statuses),
            "errors": dict(errors),
            "seconds": round(time.perf_counter() - started, 3),
            "loadgen_cpu_s": round(time.process_time() - cpu0, 3),
        }
        if opens_tx:
            out["protocol"] = self.protocol
            out["transactions_open"] = sum(c.tx_open and c.alive for c in self.chargers)
            out["transaction_statuses"] = dict(tx_statuses)
        return out

    async def storm(self, start_at: float, timeout: float) -> dict[str, Any]:
        """All chargers connect and boot at ``start_at``; retry failures until ``timeout``.

        A failed charger waits :func:`_backoff` before its next attempt.
        """
        await _sleep_until(start_at)
        cpu0 = time.process_time()
        deadline = time.time() + timeout
        errors: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        attempts = 0
        accepted_at: list[float] = []

        async def one(charger: Charger) -> None:
            nonlocal attempts
            failures = 0
            while True:
                remaining = deadline - time.time()
                if remaining <= 0:
                    return
                attempts += 1
                try:
                    if not charger.alive:
                        await self.open(charger, remaining)
                    status = await self.boot(charger, max(0.001, deadline - time.time()))
                    statuses[status] += 1
                    if status == "Accepted":
                        accepted_at.append(time.time())
                        return
                    errors[f"boot:{status}"] += 1
                except Exception as exc:
                    errors[_error_kind(exc)] += 1
                    if charger.transport is not None:
                        charger.transport.abort()
                await asyncio.sleep(_backoff(failures))
                failures += 1

        await asyncio.gather(*(one(c) for c in self.chargers))
        return {
            "chargers": len(self.chargers),
            "accepted": len(accepted_at),
            "first_accepted_at": min(accepted_at) if accepted_at else None,
            "last_accepted_at": max(accepted_at) if accepted_at else None,
            "attempts": attempts,
            "boot_statuses": dict(statuses),
            "errors": dict(errors),
            "loadgen_cpu_s": round(time.process_time() - cpu0, 3),
        }

    # -- load phases ------------------------------------------------------
    def _ready(self) -> list[Charger]:
        # 2.0.1: a charger whose transaction could not be opened sends no load.
        return [c for c in self.chargers if c.alive and c.pending_uid is None
                and (c.tx_open or self.protocol != "2.0.1" or not c.booted)]

    async def _run_phase(
        self, phase: _LoopPhase, begin: Callable[[], None], end_epoch: float, drain: float
    ) -> dict[str, Any]:
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        self.phase = phase
        begin()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.shield(phase.finished), max(0.0, end_epoch - time.time()) + drain
            )
        stuck = 0
        for charger in self.chargers:
            if not charger.done:
                charger.done = True
                if charger.pending_uid is not None:
                    stuck += 1
                    charger.pending_uid = None  # a late reply is then counted as unexpected
                charger.backlog.clear()
        self.phase = Phase(self)
        out = phase.report()
        out.update(
            unanswered_at_end=stuck,
            loadgen_cpu_s=round(time.process_time() - cpu0, 3),
            loadgen_wall_s=round(time.perf_counter() - wall0, 3),
        )
        return out

    async def closed(self, start_at: float, warmup: float, duration: float, mix: str,
                     drain: float = 10.0) -> dict[str, Any]:
        """Closed loop; see the module docstring."""
        await _sleep_until(start_at)
        phase = ClosedPhase(self, mix)
        offset = time.perf_counter() - time.time()
        phase.measure_from = start_at + warmup + offset
        phase.end = start_at + warmup + duration + offset
        chargers = self._ready()
        out = await self._run_phase(
            phase, lambda: phase.start(chargers), start_at + warmup + duration, drain
        )
        out.update(chargers=len(chargers), duration=duration)
        return out

    async def open_loop(self, start_at: float, warmup: float, duration: float, rate: float,
                        mix: str, spread: str = "even", drain: float = 10.0) -> dict[str, Any]:
        """Open loop at ``rate`` CALLs/s for this process; see the module docstring."""
        chargers = self._ready()
        if not chargers or rate <= 0:
            return {"chargers": len(chargers), "error": "no chargers or no rate", "hist": {}}
        phase = OpenPhase(self, mix, interval=len(chargers) / rate)
        offset = time.perf_counter() - time.time()
        phase.measure_from = start_at + warmup + offset
        phase.end = start_at + warmup + duration + offset
        out = await self._run_phase(
            phase,
            lambda: phase.start(chargers, start_at + offset, spread),
            start_at + warmup + duration,
            drain,
        )
        out.update(chargers=len(chargers), duration=duration, rate=rate)
        return out

    async def listen(self, duration: float, expect: int) -> dict[str, Any]:
        """Answer the server's CALLs until ``expect`` arrived or ``duration`` passed."""
        cpu0 = time.process_time()
        self.listen_expect = self.incoming_calls + expect if expect else 0
        self.listen_done.clear()
        if self.listen_expect and self.incoming_calls >= self.listen_expect:
            self.listen_done.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listen_done.wait(), duration)
        # Let follow-up Heartbeats be answered.
        for _ in range(100):
            if all(c.pending_uid is None for c in self.chargers if c.alive):
                break
            await asyncio.sleep(0.05)
        self.listen_expect = 0
        out = self.stats()
        out.update(followup=self.phase.report(), loadgen_cpu_s=round(time.process_time() - cpu0, 3))
        return out

    def stats(self) -> dict[str, Any]:
        return {
            "chargers": len(self.chargers),
            "connected": sum(c.alive for c in self.chargers),
            "booted": sum(c.booted and c.alive for c in self.chargers),
            "sent": self.sent,
            "incoming_calls": self.incoming_calls,
            "incoming_actions": dict(self.incoming_actions),
            "first_incoming_at": self.first_incoming,
            "last_incoming_at": self.last_incoming,
            "followups": self.followups,
            "bad_frames": self.bad_frames,
            "unexpected_replies": self.unexpected,
            "disconnects": self.disconnects,
            "server_closes": self.server_closes,
            "deflate_negotiated": self.deflate_negotiated,
        }

    async def close(self) -> None:
        for charger in self.chargers:
            if charger.transport is not None and charger.alive:
                charger.alive = False
                charger._send_frame(0x88, (1000).to_bytes(2, "big"))
                charger.transport.close()
        await asyncio.sleep(0.2)
        for charger in self.chargers:
            if charger.transport is not None:
                charger.transport.abort()


async def _sleep_until(epoch: float) -> None:
    delay = epoch - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _dispatch(gen: Generator, cmd: dict[str, Any]) -> dict[str, Any]:
    name = cmd.get("cmd")
    if "protocol" in cmd and name in ("connect", "storm"):
        gen.set_protocol(str(cmd["protocol"]))
    if name == "connect":
        return await gen.connect(int(cmd.get("concurrency", 100)), bool(cmd.get("boot", True)),
                                 float(cmd.get("timeout", 60)), int(cmd.get("attempts", 3)),
                                 bool(cmd.get("transactions", True)))
    if name == "closed":
        return await gen.closed(float(cmd["start_at"]), float(cmd.get("warmup", 1.0)),
                                float(cmd["duration"]), str(cmd.get("mix", "meter")),
                                float(cmd.get("drain", 10.0)))
    if name == "open":
        return await gen.open_loop(float(cmd["start_at"]), float(cmd.get("warmup", 1.0)),
                                   float(cmd["duration"]), float(cmd["rate"]),
                                   str(cmd.get("mix", "meter")), str(cmd.get("spread", "even")),
                                   float(cmd.get("drain", 10.0)))
    if name == "idle":
        interval = float(cmd.get("interval", 10.0))
        chargers = max(1, len(gen._ready()))
        return await gen.open_loop(float(cmd["start_at"]), 0.0, float(cmd["duration"]),
                                   chargers / interval, "heartbeat", "random",
                                   float(cmd.get("drain", 10.0)))
    if name == "storm":
        return await gen.storm(float(cmd["start_at"]), float(cmd.get("timeout", 120)))
    if name == "listen":
        return await gen.listen(float(cmd.get("duration", 60)), int(cmd.get("expect", 0)))
    if name == "stats":
        return gen.stats()
    raise ValueError(f"unknown command {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (one generator process)."""
    parser = argparse.ArgumentParser(description="pgcsms benchmark load generator process")
    parser.add_argument("--url", required=True,
                        help="endpoint base, e.g. ws://127.0.0.1:9000/ocpp/ (charger id appended)")
    parser.add_argument("--prefix", default="bench-", help="charger id prefix")
    parser.add_argument("--first", type=int, default=0, help="number of the first charger")
    parser.add_argument("--count", type=int, required=True, help="chargers in this process")
    parser.add_argument("--source-ip", default="per-charger",
                        help="local address to connect from, or 'per-charger' (the default):"
                             " each charger its own 127.x.y.z, or 'any'")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--offer-compression", action="store_true",
                        help="offer permessage-deflate in the handshake")
    parser.add_argument("--password-prefix",
                        help="HTTP Basic auth: each charger's password is this prefix and its identity")
    parser.add_argument("--no-follow-triggers", action="store_true",
                        help="do not send the Heartbeat a TriggerMessage asks for")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="1.6",
                        help="OCPP version the chargers speak (a connect command may change it)")
    args = parser.parse_args(argv)
    limit = raise_nofile_limit()
    if limit < args.count + 64:
        print(f"loadgen: open-file limit {limit} is too low for {args.count} chargers",
              file=sys.stderr)
        return 2
    if args.seed is not None:
        random.seed(args.seed)
    install_fast_loop()
    ids = [f"{args.prefix}{n:06d}" for n in range(args.first, args.first + args.count)]

    async def run() -> None:
        numbers = range(args.first, args.first + args.count)
        ips: list[str | None]
        if args.source_ip == "per-charger":
            ips = [charger_address(n) for n in numbers]
        else:
            ips = [None if args.source_ip == "any" else args.source_ip] * args.count
        gen = Generator(args.url, ids, ips, not args.no_follow_triggers, args.offer_compression,
                        args.password_prefix, args.protocol)
        await serve_json_commands(lambda cmd: _dispatch(gen, cmd), gen.close)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
