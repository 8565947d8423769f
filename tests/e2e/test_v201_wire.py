"""OCPP-J 2.0.1 on the wire: subprotocol choice, permessage-deflate, 2.0.1 CALLERROR codes."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import asyncpg
import pytest
from pgcsms.proxy.server import CentralSystem


async def exchange(ws, frame: str) -> list:
    await ws.send(frame)
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def handshake(port: int, identity: str, protocol_header: str | None, extensions: str | None = None) -> dict:
    """A hand-written upgrade request, for headers no client library sends; returns the response headers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET /ocpp/{identity} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
             "Sec-WebSocket-Version: 13"]
    if protocol_header is not None:
        lines.append(f"Sec-WebSocket-Protocol: {protocol_header}")
    if extensions is not None:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    status, *header_lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in
               (line.partition(":") for line in header_lines if line)}
    return {"status": int(status.split()[1]), **headers}


@pytest.fixture
async def known(db):
    await db.execute("SELECT ocpp.add_charge_point('CP-W')")


@pytest.mark.parametrize(("offered", "chosen"), [
    (["ocpp2.0.1", "ocpp1.6"], "ocpp2.0.1"),
    (["ocpp1.6", "ocpp2.0.1"], "ocpp1.6"),
    (["ocpp2.0", "ocpp2.0.1"], "ocpp2.0.1"),
    (["ocpp2.0.1"], "ocpp2.0.1"),
])
async def test_the_station_s_order_of_preference_decides(known, raw, offered, chosen):
    async with raw("CP-W", subprotocols=offered) as ws:
        assert ws.subprotocol == chosen


@pytest.mark.parametrize("header", [",ocpp2.0.1", "ocpp2.0.1 , ocpp1.6", " ocpp2.0.1,", "ocpp2.0, ocpp2.0.1"])
async def test_untidy_protocol_headers_are_read(known, central, header):
    response = await handshake(central.port, "CP-W", header)
    assert response["status"] == 101
    assert response["sec-websocket-protocol"] == "ocpp2.0.1"


async def test_permessage_deflate_is_negotiated_when_offered(known, raw):
    async with raw("CP-W", subprotocols=["ocpp2.0.1"], compression="deflate") as ws:
        assert [type(extension).__name__ for extension in ws.protocol.extensions] == ["PerMessageDeflate"]
        reply = await exchange(ws, '[2, "h", "Heartbeat", {}]')
        assert reply[:2] == [3, "h"]
    async with raw("CP-W", subprotocols=["ocpp2.0.1"], compression=None) as ws:
        assert ws.protocol.extensions == []


async def test_compression_can_be_refused(dsn, db):
    await db.execute("SELECT ocpp.add_charge_point('CP-W')")
    async with CentralSystem(dsn, host="127.0.0.1", port=0, node_id="plain", pool_size=2,
                             compression=False) as server:
        response = await handshake(server.port, "CP-W", "ocpp2.0.1", "permessage-deflate; client_max_window_bits")
        assert response["status"] == 101
        assert "sec-websocket-extensions" not in response


@pytest.mark.parametrize(("frame", "code", "unique_id"), [
    ('[2, "u1", "Heartbeat"]', "RpcFrameworkError", "u1"),
    ('[2, 17, "Heartbeat", {}]', "RpcFrameworkError", "-1"),
    ('[7, "u2", "Heartbeat", {}]', "MessageTypeNotSupported", "u2"),
    ('[2, "u3", "Heartbeat", {"x": 1}]', "FormatViolation", "u3"),
    ('[2, "u4", "StatusNotification", {"connectorStatus": "Available"}]', "OccurrenceConstraintViolation", "u4"),
    ('[2, "u5", "StartTransaction", {}]', "NotImplemented", "u5"),
    ('[2, "u6", "Reset", {"type": "Immediate"}]', "NotSupported", "u6"),
    ("[2, \"u7\", \"Heartbeat\", {}", "FormatViolation", "u7"),
])
async def test_2_0_1_callerror_codes(known, raw, db, frame, code, unique_id):
    async with raw("CP-W", subprotocols=["ocpp2.0.1"]) as ws:
        reply = await exchange(ws, frame)
    assert reply[0] == 4
    assert reply[1] == unique_id
    assert reply[2] == code
    logged = await db.fetchval("SELECT error_code FROM ocpp.message_log WHERE charge_point_id = 'CP-W' "
                               "AND direction = 'out' ORDER BY id DESC LIMIT 1")
    assert logged == code


async def test_a_2_0_1_station_is_recorded_with_its_version(known, raw, db):
    async with raw("CP-W", subprotocols=["ocpp2.0.1"]):
        pass
    assert await db.fetchval("SELECT ocpp_version FROM ocpp.charge_points WHERE id = 'CP-W'") == "2.0.1"


async def test_a_command_of_the_other_version_is_refused_when_queued(known, raw, db):
    async with raw("CP-W", subprotocols=["ocpp2.0.1"]):
        pass
    with pytest.raises(asyncpg.InvalidParameterValueError, match=r"sends to an OCPP 2\.0\.1 charge point"):
        await db.execute("SELECT ocpp.send('CP-W', 'GetConfiguration', '{}')")
    assert await db.fetchval("SELECT ocpp.send('CP-W', 'GetVariables', $1::jsonb)", json.dumps(
        {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}))


async def test_a_2_0_1_command_is_validated_against_the_2_0_1_schema_before_sending(known, raw, db, events):
    async with raw("CP-W", subprotocols=["ocpp2.0.1"]) as ws:
        command_id = await db.fetchval("SELECT ocpp.send('CP-W', 'ClearCache', '{}')")
        call = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert call[:3] == [2, str(command_id), "ClearCache"]
        await ws.send(json.dumps([3, call[1], {"status": "Accepted"}]))
        assert (await events.command(command_id))["status"] == "accepted"
        bad = await db.fetchval("SELECT ocpp.send('CP-W', 'Reset', '{\"type\": \"Soft\"}')")
        failed = await events.command(bad)
    assert failed["status"] == "failed"
    row = await db.fetchrow("SELECT error_code, error_description FROM ocpp.commands WHERE id = $1", bad)
    assert row["error_code"] == "PropertyConstraintViolation"
    assert "Soft" in row["error_description"]


async def test_a_2_0_1_answer_that_breaks_its_schema_fails_the_command(known, raw, db, events):
    async with raw("CP-W", subprotocols=["ocpp2.0.1"]) as ws:
        command_id = await db.fetchval("SELECT ocpp.send('CP-W', 'ClearCache', '{}')")
        call = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(json.dumps([3, call[1], {"status": "Done"}]))
        completed = await events.command(command_id)
    assert completed["status"] == "failed"


async def test_websockets_client_without_subprotocol_is_still_1_6(known, raw):
    async with raw("CP-W", subprotocols=[]) as ws:
        assert ws.subprotocol is None
        reply = await exchange(ws, '[2, "h", "Heartbeat", {}]')
    assert reply[0] == 3


async def test_a_1_6_only_station_beside_a_2_0_1_one(db, raw):
    await db.execute("SELECT ocpp.add_charge_point('CP-A'); SELECT ocpp.add_charge_point('CP-B')")
    async with raw("CP-A", subprotocols=["ocpp1.6"]) as old, raw("CP-B", subprotocols=["ocpp2.0.1"]) as new:
        assert old.subprotocol == "ocpp1.6"
        assert new.subprotocol == "ocpp2.0.1"
        assert (await exchange(old, '[2, "x", "StartTransaction", {}]'))[2] == "OccurenceConstraintViolation"
        assert (await exchange(new, '[2, "x", "StartTransaction", {}]'))[2] == "NotImplemented"
    versions = dict(await db.fetch("SELECT id, ocpp_version FROM ocpp.charge_points WHERE id IN ('CP-A', 'CP-B')"))
    assert versions == {"CP-A": "1.6", "CP-B": "2.0.1"}
