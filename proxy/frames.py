"""A charger's frames: CALLs to ``ocpp.parse``, answers to ``ocpp.complete_command``, refusals journaled."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from websockets.exceptions import ConnectionClosed

from . import ocppj
from .delivery import Delivery
from .state import DATABASE_ERRORS, Session, logger

__all__ = ["Frames"]

_LOG_REJECTED = "SELECT ocpp.log_rejected($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)"
_LOG_FRAME = "SELECT ocpp.log_frame($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)"
_COMPLETE_COMMAND = "SELECT ocpp.complete_command($1, $2, $3::jsonb, $4, $5, $6, $7)"


def _storable(raw: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: keep such frames with the NUL escaped."""
    return raw.replace("\x00", "\\u0000") if raw is not None and "\x00" in raw else raw


class Frames(Delivery):
    """Reads each frame of a session in order and answers CALLs only after their commit."""

    async def _handle_frame(self, session: Session, text: str) -> None:
        try:
            message = ocppj.parse_frame(text, max_nesting=self.limits.max_nesting)
        except ocppj.FrameError as error:
            self.stats.counters["in_malformed"] += 1
            await self._refuse_frame(session, text, error)
            return
        self.stats.counters[f"in_{type(message).__name__.lower()}"] += 1
        if isinstance(message, ocppj.Call):
            await self._handle_call(session, message)
        else:
            await self._handle_answer(session, message)

    async def _handle_call(self, session: Session, call: ocppj.Call) -> None:
        version = session.version
        if call.action not in ocppj.CHARGE_POINT_ACTIONS[version]:
            if call.action in ocppj.CENTRAL_SYSTEM_ACTIONS[version]:
                code, text = "NotSupported", f"{call.action} is sent by the central system, not to it"
            else:
                code, text = "NotImplemented", f"unknown action {call.action[:64]!r}"
            await self._refuse_call(session, call, code, text)
            return
        try:
            self.validators[version].check_request(call.action, call.payload)
        except ocppj.PayloadError as error:
            await self._refuse_call(session, call, error.code, error.description)
            return
        assert self.pool is not None
        payload_json = json.dumps(call.payload, ensure_ascii=False)
        started = time.perf_counter()
        try:
            assert self.batcher is not None
            row = await self.batcher.parse(session.charge_point_id, call.unique_id, call.action, payload_json,
                                           version)
        except Exception as error:
            # Nothing was committed: say so, without internal detail, and keep
            # the frame in the journal if the database still takes a write.
            logger.error("ocpp.parse failed for %s %s %s: %s", session.charge_point_id, call.action,
                         call.unique_id, error)
            await self._refuse_call(session, call, "InternalError", "Internal error")
            return
        finally:
            self.stats.parse_calls += 1
            self.stats.parse_seconds += time.perf_counter() - started
        if row["error_code"] is not None:
            self.stats.callerrors_sent[row["error_code"]] += 1
            frame = ocppj.call_error_frame(call.unique_id, row["error_code"], row["error_description"], version)
        else:
            frame = ocppj.call_result_frame(call.unique_id, row["result"])
        await self._send(session, frame)

    async def _handle_answer(self, session: Session, message: ocppj.CallResult | ocppj.CallError) -> None:
        """A CALLRESULT or CALLERROR from the charger, for a command we sent.

        The database journals it and applies its effect; an answer nobody waits
        for (late, or unknown) is journaled all the same.
        """
        in_flight = session.in_flight
        if in_flight is not None and in_flight.unique_id == message.unique_id:
            in_flight.timer.cancel()
            session.in_flight = None
            self.stats.commands["answered"] += 1
        error_code = error_description = None
        if isinstance(message, ocppj.CallResult):
            payload = message.payload
            if in_flight is not None and in_flight.unique_id == message.unique_id:
                try:
                    self.validators[session.version].check_response(in_flight.action, payload)
                except ocppj.PayloadError as error:
                    error_code, error_description = error.code, f"invalid answer: {error.description}"
        else:
            payload = message.error_details
            error_code = ocppj.wire_error_code(message.error_code, session.version)
            error_description = message.error_description
        assert self.pool is not None
        try:
            message_type = ocppj.CALLRESULT if isinstance(message, ocppj.CallResult) else ocppj.CALLERROR
            await self.pool.execute(_COMPLETE_COMMAND, session.charge_point_id, message.unique_id,
                                    json.dumps(payload, ensure_ascii=False), error_code, error_description,
                                    self.node_id, message_type)
        except DATABASE_ERRORS:
            logger.exception("could not record the answer of %s to %s", session.charge_point_id, message.unique_id)
        self._wake(session)

    async def _refuse_frame(self, session: Session, text: str, error: ocppj.FrameError) -> None:
        version = session.version
        # The journal knows message types 2, 3 and 4; the raw text keeps any other.
        message_type = error.message_type if error.message_type in ocppj.MESSAGE_TYPES else None
        if error.answerable:
            self.stats.callerrors_sent[ocppj.wire_error_code(error.code, version)] += 1
            await self._journal_refusal(session, error.unique_id, error.action, None, text,
                                        error.code, error.description, message_type)
            await self._send(session, ocppj.call_error_frame(error.unique_id, error.code,
                                                             error.description, version))
        else:
            await self._log_frame(session, "in", message_type, error.unique_id, None, None, text,
                                  ocppj.wire_error_code(error.code, version), error.description)

    async def _refuse_call(self, session: Session, call: ocppj.Call, code: str, text: str) -> None:
        self.stats.callerrors_sent[ocppj.wire_error_code(code, session.version)] += 1
        await self._journal_refusal(session, call.unique_id, call.action, call.payload, None, code, text,
                                    ocppj.CALL)
        await self._send(session, ocppj.call_error_frame(call.unique_id, code, text, session.version))

    async def _journal_refusal(self, session: Session, unique_id: str | None, action: str | None,
                               payload: dict[str, Any] | None, raw: str | None, code: str,
                               description: str, message_type: int | None) -> None:
        assert self.pool is not None
        try:
            await self.pool.execute(
                _LOG_REJECTED, session.charge_point_id, unique_id, action,
                None if payload is None else json.dumps(payload, ensure_ascii=False),
                _storable(raw), ocppj.wire_error_code(code, session.version), description, self.node_id,
                message_type)
        except DATABASE_ERRORS:
            logger.exception("could not journal a refused frame from %s", session.charge_point_id)

    async def _log_frame(self, session: Session, direction: str, message_type: int | None,
                         unique_id: str | None, action: str | None, payload: dict[str, Any] | None,
                         raw: str | None, error_code: str | None, error_description: str | None) -> None:
        assert self.pool is not None
        try:
            await self.pool.execute(
                _LOG_FRAME, session.charge_point_id, direction, message_type, unique_id, action,
                None if payload is None else json.dumps(payload, ensure_ascii=False), _storable(raw),
                error_code, error_description, self.node_id)
        except DATABASE_ERRORS:
            logger.exception("could not journal a frame from %s", session.charge_point_id)

    @staticmethod
    async def _send(session: Session, frame: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await session.websocket.send(frame)
