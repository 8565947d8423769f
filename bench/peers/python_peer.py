"""In-memory OCPP 1.6J / 2.0.1 central system on the ``ocpp`` library: a baseline peer.

It is what a plain Python CSMS looks like without a database: the ``ocpp``
library's :class:`ocpp.v16.ChargePoint` with ``@on`` handlers for
BootNotification, Heartbeat, StatusNotification and MeterValues (the library
validates every request and response against the OCPP 1.6 JSON schemas), behind
a ``websockets`` server, answering from memory.  A charger that asks for the
subprotocol ``ocpp2.0.1`` gets :class:`ocpp.v201.ChargePoint` instead, with
handlers for BootNotification, Heartbeat, StatusNotification and TransactionEvent
(validated against the 2.0.1 schemas).

Run: ``python -m bench.peers.python_peer [--host 127.0.0.1] [--port 0]``. It prints
one line ``LISTENING <host>:<port>`` on stdout once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, RegistrationStatus
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as call_result201
from ocpp.v201.enums import Action as Action201
from ocpp.v201.enums import AuthorizationStatusEnumType, RegistrationStatusEnumType
from websockets.asyncio.server import ServerConnection, serve

from bench.common import install_fast_loop, raise_nofile_limit

__all__ = ["MemoryChargePoint", "MemoryChargePoint201", "main", "serve_peer"]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class MemoryChargePoint(ChargePoint):
    """One connected charger, as the central system sees it; state kept in memory."""

    interval = 300

    def __init__(self, charge_point_id: str, connection: ServerConnection) -> None:
        super().__init__(charge_point_id, connection)
        self.booted = False
        self.messages = 0
        self.status: str | None = None
        self.last_meter: list[dict[str, Any]] = []

    @on(Action.boot_notification)
    def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **_: Any
    ) -> call_result.BootNotification:
        self.booted = True
        self.messages += 1
        return call_result.BootNotification(
            current_time=_now(), interval=self.interval, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        self.messages += 1
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **_: Any
    ) -> call_result.StatusNotification:
        self.messages += 1
        self.status = status
        return call_result.StatusNotification()

    @on(Action.meter_values)
    def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **_: Any
    ) -> call_result.MeterValues:
        self.messages += 1
        self.last_meter = meter_value
        return call_result.MeterValues()


class MemoryChargePoint201(ChargePoint201):
    """One connected OCPP 2.0.1 charger, as the central system sees it; state in memory."""

    interval = 300

    def __init__(self, charge_point_id: str, connection: ServerConnection) -> None:
        super().__init__(charge_point_id, connection)
        self.booted = False
        self.messages = 0
        self.status: str | None = None
        self.transactions: dict[str, int] = {}  # transactionId -> last seqNo
        self.last_meter: list[dict[str, Any]] = []

    @on(Action201.boot_notification)
    def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **_: Any
    ) -> call_result201.BootNotification:
        self.booted = True
        self.messages += 1
        return call_result201.BootNotification(
            current_time=_now(), interval=self.interval, status=RegistrationStatusEnumType.accepted
        )

    @on(Action201.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result201.Heartbeat:
        self.messages += 1
        return call_result201.Heartbeat(current_time=_now())

    @on(Action201.status_notification)
    def on_status_notification(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **_: Any
    ) -> call_result201.StatusNotification:
        self.messages += 1
        self.status = connector_status
        return call_result201.StatusNotification()

    @on(Action201.transaction_event)
    def on_transaction_event(
        self, event_type: str, timestamp: str, trigger_reason: str, seq_no: int,
        transaction_info: dict[str, Any], **kwargs: Any
    ) -> call_result201.TransactionEvent:
        self.messages += 1
        self.transactions[transaction_info["transaction_id"]] = seq_no
        if event_type == "Ended":
            self.transactions.pop(transaction_info["transaction_id"], None)
        self.last_meter = kwargs.get("meter_value") or self.last_meter
        if kwargs.get("id_token") is not None:
            return call_result201.TransactionEvent(
                id_token_info={"status": AuthorizationStatusEnumType.accepted}
            )
        return call_result201.TransactionEvent()


async def _handler(connection: ServerConnection) -> None:
    path = connection.request.path if connection.request is not None else "/"
    charge_point_id = path.rstrip("/").rsplit("/", 1)[-1] or "unknown"
    charge_point: ChargePoint | ChargePoint201
    if connection.subprotocol == "ocpp2.0.1":
        charge_point = MemoryChargePoint201(charge_point_id, connection)
    else:
        charge_point = MemoryChargePoint(charge_point_id, connection)
    with contextlib.suppress(Exception):
        await charge_point.start()


async def serve_peer(host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT; print the LISTENING line once bound."""
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    async with serve(
        _handler,
        host,
        port,
        subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
        compression=None,
        backlog=4096,
    ) as server:
        bound = next(iter(server.sockets)).getsockname()
        print(f"LISTENING {bound[0]}:{bound[1]}", flush=True)
        await stop


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--loop", choices=("uvloop", "asyncio"), default="uvloop",
        help="event loop (uvloop when installed, as pgcsms uses it)",
    )
    args = parser.parse_args(argv)
    raise_nofile_limit()
    if args.loop == "uvloop":
        install_fast_loop()
    asyncio.run(serve_peer(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
