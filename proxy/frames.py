"""A charger's frames: CALLs and SENDs to ``ocpp.parse``, answers to ``ocpp.complete_command``, refusals journaled."""

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
_PARSE_SEND = "SELECT error_code, error_description FROM ocpp.parse($1, $2, $3, $4::jsonb, $5, $6, 6::smallint)"
_LOG_FRAME = "SELECT ocpp.log_frame($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)"
_COMPLETE_COMMAND = "SELECT ocpp.complete_command($1, $2, $3::jsonb, $4, $5, $6, $7)"


def _storable(raw: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: keep such frames with the NUL escaped."""
    return raw.replace("\x00", "\\u0000") if raw is not None and "\x00" in raw else raw


class Frames(Delivery):
    """Reads each frame of a session in order and answers CALLs only after their commit."""

    async def _handle_frame(self, session: Session, text: str) -> None:
        try:
            message = ocppj.parse_frame(text, max_nesting=self.limits.max_nesting, version=session.version)
        except ocppj.FrameError as error:
            self.stats.counters["in_malformed"] += 1
            await self._refuse_frame(session, text, error)
            return
        self.stats.counters[f"in_{type(message).__name__.lower()}"] += 1
        if isinstance(message, ocppj.Call):
            await self._handle_call(session, message)
        elif isinstance(message, ocppj.Send):
            await self._handle_send(session, message)
        else:
            await self._handle_answer(session, message)

    @staticmethod
    def _unknown_action(version: str, action: str, message_type: int) -> tuple[str, str] | None:
        """The CALLERROR code and text for an action a station may not send this way, None if it may."""
        sends = ocppj.SEND_ACTIONS[version]
        if action in ocppj.CHARGE_POINT_ACTIONS[version] and (action in sends) == (message_type == ocppj.SEND):
            return None
        if action in sends:
            return "NotSupported", f"{action} is unconfirmed: a SEND (message type 6), not a CALL"
        if action in ocppj.CHARGE_POINT_ACTIONS[version]:
            return "NotSupported", f"{action} is a CALL (message type 2), not a SEND"
        if action in ocppj.CENTRAL_SYSTEM_ACTIONS[version]:
            return "NotSupported", f"{action} is sent by the central system, not to it"
        return "NotImplemented", f"unknown action {action[:64]!r}"

    async def _handle_call(self, session: Session, call: ocppj.Call) -> None:
        version = session.version
        refused = self._unknown_action(version, call.action, ocppj.CALL)
        if refused is not None:
            await self._refuse_call(session, call, *refused)
            return
        try:
            self.validators[version].check_request(call.action, call.payload)
        except ocppj.PayloadError as error:
            await self._refuse_call(session, call, error.code, error.description)
            return
        assert self.pool is not None
        payload_json = call.payload_text()
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

    async def _handle_send(self, session: Session, send: ocppj.Send) -> None:
        """An OCPP 2.1 SEND: handled in the database like a CALL, and never answered.

        A SEND it may not send or whose payload breaks its schema is journaled
        with the reason and dropped, as is one whose handler fails: the station
        hears nothing either way (OCPP-J 2.1 §4.2.4).
        """
        version = session.version
        refused = self._unknown_action(version, send.action, ocppj.SEND)
        if refused is None:
            try:
                self.validators[version].check_request(send.action, send.payload)
            except ocppj.PayloadError as error:
                refused = error.code, error.description
        if refused is not None:
            code, text = refused
            await self._log_frame(session, "in", ocppj.SEND, send.unique_id, send.action, send.payload, None,
                                  ocppj.wire_error_code(code, version), text)
            return
        assert self.pool is not None
        started = time.perf_counter()
        try:
            row = await self.pool.fetchrow(_PARSE_SEND, session.charge_point_id, send.unique_id, send.action,
                                           send.payload_text(), version, self.node_id)
        except DATABASE_ERRORS as error:
            logger.error("ocpp.parse failed for the SEND %s %s of %s: %s", send.action, send.unique_id,
                         session.charge_point_id, error)
            await self._log_frame(session, "in", ocppj.SEND, send.unique_id, send.action, send.payload, None,
                                  "InternalError", "Internal error")
            return
        finally:
            self.stats.parse_calls += 1
            self.stats.parse_seconds += time.perf_counter() - started
        if row["error_code"] is not None:
            self.stats.counters["send_failed"] += 1

    async def _handle_answer(self, session: Session,
                             message: ocppj.CallResult | ocppj.CallError | ocppj.CallResultError) -> None:
        """A CALLRESULT or CALLERROR from the charger, for a command we sent, or a 2.1 CALLRESULTERROR.

        The database journals it and applies its effect; an answer nobody waits
        for (late, or unknown) is journaled all the same. A CALLRESULTERROR
        answers one of our CALLRESULTs; one that names the command in flight
        (a station answering our CALL with it rather than with a CALLERROR)
        fails the command with its error. On a 2.1 connection, a CALLRESULT
        we cannot process gets a CALLRESULTERROR back.
        """
        in_flight = session.in_flight
        if in_flight is not None and in_flight.unique_id == message.unique_id:
            in_flight.timer.cancel()
            session.in_flight = None
            self.stats.commands["answered"] += 1
        else:
            in_flight = None
        error_code = error_description = None
        if isinstance(message, ocppj.CallResult):
            payload = message.payload
            if in_flight is not None:
                try:
                    self.validators[session.version].check_response(in_flight.action, payload)
                except ocppj.PayloadError as error:
                    error_code, error_description = error.code, f"invalid answer: {error.description}"
        else:
            payload = message.error_details
            error_code = ocppj.wire_error_code(message.error_code, session.version)
            error_description = message.error_description
        message_type = (ocppj.CALLRESULT if isinstance(message, ocppj.CallResult) else
                        ocppj.CALLERROR if isinstance(message, ocppj.CallError) else ocppj.CALLRESULTERROR)
        assert self.pool is not None
        try:
            await self.pool.execute(_COMPLETE_COMMAND, session.charge_point_id, message.unique_id,
                                    json.dumps(payload, ensure_ascii=False), error_code, error_description,
                                    self.node_id, message_type)
        except DATABASE_ERRORS:
            logger.exception("could not record the answer of %s to %s", session.charge_point_id, message.unique_id)
        if (message_type == ocppj.CALLRESULT and error_code is not None and in_flight is not None
                and ocppj.CALLRESULTERROR in ocppj.MESSAGE_TYPES_OF[session.version]):
            await self._refuse_result(session, message.unique_id, in_flight.action, error_code,
                                      error_description or "")
        self._wake(session)

    async def _refuse_result(self, session: Session, unique_id: str, action: str | None, code: str,
                             description: str) -> None:
        """OCPP-J 2.1: a CALLRESULTERROR back for a CALLRESULT we cannot process, journaled."""
        await self._log_frame(session, "out", ocppj.CALLRESULTERROR, unique_id, action, None, None, code, description)
        await self._send(session, ocppj.call_result_error_frame(unique_id, code, description))

    async def _refuse_frame(self, session: Session, text: str, error: ocppj.FrameError) -> None:
        version = session.version
        # The journal knows the message types of the version; the raw text keeps any other.
        message_type = error.message_type if error.message_type in ocppj.MESSAGE_TYPES_OF[version] else None
        if error.answerable:
            self.stats.callerrors_sent[ocppj.wire_error_code(error.code, version)] += 1
            await self._journal_refusal(session, error.unique_id, error.action, None, text,
                                        error.code, error.description, message_type)
            await self._send(session, ocppj.call_error_frame(error.unique_id, error.code,
                                                             error.description, version))
            return
        # Never answered: an answer, a SEND, or (2.1) a message type it ignores.
        await self._log_frame(session, "in", message_type, error.unique_id, None, None, text,
                              ocppj.wire_error_code(error.code, version), error.description)
        if (message_type == ocppj.CALLRESULT and error.unique_id is not None
                and ocppj.CALLRESULTERROR in ocppj.MESSAGE_TYPES_OF[version]):
            await self._refuse_result(session, error.unique_id, None, error.code, error.description)

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
