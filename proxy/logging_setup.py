"""Log lines: text for a terminal, or JSON, one object a line, for journald and Loki.

A JSON line has ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
``charge_point_id`` when the line is about one charger, and ``exception`` (the
traceback as one string) when there is one. The charge point comes from
``extra={"charge_point_id": ...}`` or from :data:`CHARGE_POINT`, which
:class:`LoggedCentralSystem` sets for the task that serves a charger's socket.

Migration steps are DEBUG detail below DEBUG: at INFO, a first run shows one
summary line rather than a screenful that would bury the psql command.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import sys
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from .server import CentralSystem, identity_from_path
from .state import logger as server_logger

__all__ = ["CHARGE_POINT", "JsonFormatter", "LoggedCentralSystem", "accept_sql", "configure", "set_level"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The charger whose socket the current task serves (inherited by the tasks it starts).
CHARGE_POINT: contextvars.ContextVar[str | None] = contextvars.ContextVar("charge_point_id", default=None)

# Loggers whose INFO lines are step-by-step detail of a migration.
_MIGRATION_LOGGERS = ("pgcsms.proxy.migrate", "proxy.migrate", "yoyo")
# Group commit runs many chargers' CALLs in one task: its lines are about no single charger.
_NO_CHARGE_POINT = ("pgcsms.batch",)


class _ChargePoint(logging.Filter):
    """Sets ``record.charge_point_id`` (None when the line is about no charger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "charge_point_id", None) is None:
            record.charge_point_id = None if record.name in _NO_CHARGE_POINT else CHARGE_POINT.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        charge_point_id = getattr(record, "charge_point_id", None)
        if charge_point_id is not None:
            line["charge_point_id"] = charge_point_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str, log_format: str = "text", stream: Any = None) -> None:
    """Send every log line to stderr (or ``stream``) as text or JSON, from ``level`` up."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(_ChargePoint())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level)


def set_level(level: str) -> None:
    """Change the level of every line from now on (SIGHUP)."""
    root = logging.getLogger()
    root.setLevel(level)
    numeric = logging.getLevelName(level)
    # websockets' debug log shows headers and frames: Authorization, AuthorizationKey.
    logging.getLogger("websockets").setLevel(max(numeric, logging.INFO))
    for name in _MIGRATION_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if numeric <= logging.DEBUG else logging.WARNING)


def accept_sql(charge_point_id: str) -> str:
    """The SQL that accepts a Pending charge point (ocpp.add_charge_point registers it as Accepted)."""
    return "SELECT ocpp.add_charge_point('{}');".format(charge_point_id.replace("'", "''"))


class LoggedCentralSystem(CentralSystem):
    """The central system of ``pgcsms serve``: log lines carry the charge point, and a Pending one says how
    to accept it.

    The database tells every listener of each BootNotification (``ocpp_event``,
    ``{"event": "boot", "status": ...}``); for a charger whose socket is ours
    and that stays Pending, the line gives the SQL that accepts it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._told_pending: set[str] = set()

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        # The same task then serves the socket: its lines, and its tasks', name the charger.
        try:
            CHARGE_POINT.set(identity_from_path(request.path))
        except UnicodeDecodeError:
            CHARGE_POINT.set(None)
        return await super()._process_request(connection, request)

    def _on_notification(self, connection: object, pid: int, channel: str, payload: str) -> None:
        super()._on_notification(connection, pid, channel, payload)
        if '"boot"' not in payload:
            return
        try:
            event = json.loads(payload)
        except ValueError:
            return
        identity = event.get("charge_point_id")
        if event.get("event") != "boot" or not isinstance(identity, str) or identity not in self.sessions:
            return
        told = self._told_pending
        if event.get("status") != "Pending":
            told.discard(identity)
            return
        # Said once loudly; a Pending charger boots again every pending_retry_interval.
        level = logging.INFO if identity in told else logging.WARNING
        told.add(identity)
        server_logger.log(level, "%s is Pending: %s accepts it", identity, accept_sql(identity),
                          extra={"charge_point_id": identity})
