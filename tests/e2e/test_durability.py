"""Never acknowledge what is not committed."""

import asyncio
import json

import asyncpg


async def test_callresult_waits_for_the_commit(db, dsn, raw):
    await db.execute("SELECT ocpp.add_charge_point('CP-C')")
    blocker = await asyncpg.connect(dsn)
    try:
        async with raw("CP-C") as ws:
            # Hold a lock that ocpp.parse's journal insert needs: its transaction cannot commit.
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE pgcsms.journal IN EXCLUSIVE MODE")
            await ws.send('[2, "held", "Heartbeat", {}]')
            reply = asyncio.ensure_future(ws.recv())
            done, _ = await asyncio.wait({reply}, timeout=0.5)
            assert not done, "a CALLRESULT left before its transaction could commit"
            await transaction.rollback()
            answer = json.loads(await asyncio.wait_for(reply, 5))
            assert answer[:2] == [3, "held"]
            # By the time the charger has the answer, anyone can read its effects.
            assert await blocker.fetchval(
                "SELECT count(*) FROM ocpp.message_log WHERE unique_id = 'held'") == 2
    finally:
        await blocker.close()


async def test_every_answer_is_visible_when_it_arrives(db, dsn, raw):
    await db.execute("SELECT ocpp.add_charge_point('CP-V')")
    async with raw("CP-V") as ws:
        for n in range(50):
            await ws.send(json.dumps([2, f"m{n}", "StatusNotification", {
                "connectorId": 1, "errorCode": "NoError", "status": "Charging" if n % 2 else "Available"}]))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert answer[:2] == [3, f"m{n}"]
            assert await db.fetchval("SELECT count(*) FROM ocpp.status_history WHERE charge_point_id = 'CP-V'") == n + 1


async def test_concurrent_chargers_are_batched_and_all_answered(dsn, db):
    """With one connection for parsing, concurrent CALLs share a commit; each still gets its own answer."""
    import websockets
    from pgcsms.proxy.server import CentralSystem

    await db.execute("SELECT ocpp.add_charge_point('B' || n) FROM generate_series(1, 30) AS n")
    server = CentralSystem(dsn, port=0, node_id="batching", pool_size=3)
    await server.start()
    try:
        async def charger(n: int) -> list[list]:
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/ocpp/B{n}", subprotocols=["ocpp1.6"]) as ws:
                answers = []
                for m in range(10):
                    await ws.send(json.dumps([2, f"{n}-{m}", "StatusNotification", {
                        "connectorId": 1, "errorCode": "NoError", "status": "Available"}]))
                    answers.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
                return answers

        results = await asyncio.gather(*(charger(n) for n in range(1, 31)))
        assert server.batcher is not None
        assert server.batcher.calls == 300
        assert server.batcher.batches < 300, "no CALLs shared a round trip"
    finally:
        await server.close()
    for n, answers in enumerate(results, start=1):
        assert [a[:2] for a in answers] == [[3, f"{n}-{m}"] for m in range(10)]
    assert await db.fetchval("SELECT count(*) FROM ocpp.status_history") == 300
    assert await db.fetchval("SELECT count(*) FROM ocpp.message_log WHERE action = 'StatusNotification'") == 600
