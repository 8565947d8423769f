"""The health and metrics endpoints an operator points a load balancer and Prometheus at."""

import asyncio

import aiohttp
from pgcsms.proxy.health import start_health_server


async def test_health_and_metrics(db, central, raw):
    await db.execute("SELECT ocpp.add_charge_point('CP-H')")
    runner = await start_health_server(central, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    await asyncio.wait_for(central.wait_listening(), 5)
    try:
        async with raw("CP-H") as ws:
            await ws.send('[2, "h", "Heartbeat", {}]')
            await ws.recv()
            await ws.send('not json')
            await ws.recv()
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/health") as response:
                    body = await response.json()
                    assert response.status == 200 and body["status"] == "ok"
                    assert body["database"] is True and body["chargers"] == 1
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    text = await response.text()
        assert "pgcsms_connected_chargers 1" in text
        assert 'pgcsms_frames_total{kind="in_call"} 1' in text
        assert 'pgcsms_callerrors_sent_total{code="FormationViolation"} 1' in text
        assert "pgcsms_parse_seconds_count 1" in text
    finally:
        await runner.cleanup()
