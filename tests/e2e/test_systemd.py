"""``pgcsms serve`` under systemd: the units verify, and the notify protocol over a real datagram socket.

The service manager's side is a Unix datagram socket the test binds and names
in ``NOTIFY_SOCKET``; each notification is awaited as it arrives. SIGTERM drains
CALLs under way before chargers are closed with 1001; SIGHUP reloads.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
import websockets
from pgcsms.proxy.systemd import Notifier
from service_manager import served_port, serving

ROOT = Path(__file__).resolve().parents[2]
UNITS = ("pgcsms.service", "pgcsms-rfid@.service")


# -- the units -----------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze (Debian: systemd) not installed")
@pytest.mark.parametrize("unit", UNITS)
def test_units_verify(tmp_path, unit):
    # The units name /usr/local/bin/pgcsms; verify checks that ExecStart= exists, so point it at ours.
    executable = shutil.which("pgcsms") or str(Path(sys.executable).with_name("pgcsms"))
    if not os.access(executable, os.X_OK):
        executable = sys.executable
    text = (ROOT / "conf" / unit).read_text(encoding="utf-8")
    assert "/usr/local/bin/pgcsms " in text
    (tmp_path / unit).write_text(text.replace("/usr/local/bin/pgcsms", executable), encoding="utf-8")
    name = unit.replace("@.", "@ttyUSB0.")  # a template verifies as an instance of itself
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / name)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    # verify warns about unknown keys and bad values but still exits 0: any line about our unit fails.
    complaints = [line for line in (done.stdout + done.stderr).splitlines() if unit.split("@")[0] in line]
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr


def test_the_serve_unit_is_hardened():
    text = (ROOT / "conf" / "pgcsms.service").read_text(encoding="utf-8")
    for line in ("Type=notify", "NoNewPrivileges=true", "ProtectSystem=strict", "ProtectHome=true",
                 "PrivateTmp=true", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "CapabilityBoundingSet=",
                 "LockPersonality=true", "SystemCallFilter=@system-service", "StateDirectory=pgcsms",
                 "EnvironmentFile=-/etc/pgcsms/pgcsms.env", "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec="):
        assert re.search(rf"^{re.escape(line)}", text, re.MULTILINE), line
    rfid = (ROOT / "conf" / "pgcsms-rfid@.service").read_text(encoding="utf-8")
    assert re.search(r"^ExecStart=/usr/local/bin/pgcsms rfid --no-migrate --port /dev/%I$", rfid, re.MULTILINE)
    env = (ROOT / "conf" / "pgcsms.env").read_text(encoding="utf-8")
    assert re.search(r"^PGCSMS_MIGRATE=false$", env, re.MULTILINE)  # its DSN names a role that may not migrate


# -- the protocol, in process ----------------------------------------------------------------------------


def test_notifier_speaks_to_an_abstract_socket_and_hides_it_from_children():
    name = f"pgcsms-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind("\0" + name)
        manager.settimeout(5)
        environ = {"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "3000000", "OTHER": "kept"}
        notifier = Notifier(environ)
        assert environ == {"OTHER": "kept"}  # the embedded PostgreSQL speaks sd_notify too: not in our name
        assert notifier.enabled and notifier.watchdog_interval == 1.5
        assert notifier.ready("serving\nws://x")
        assert manager.recv(4096) == b"READY=1\nSTATUS=serving ws://x"
        assert notifier.watchdog()
        assert manager.recv(4096) == b"WATCHDOG=1"
        notifier.close()


def test_notifier_without_a_manager_does_nothing():
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog_interval is None
    assert not notifier.ready("x") and not notifier.stopping("x")
    # A watchdog meant for another process (WATCHDOG_PID) is not ours to feed.
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, unset=False).watchdog_interval is None


# -- the protocol, from a real pgcsms serve -----------------------------------------------------------


async def _boot(ws: websockets.ClientConnection, unique_id: str = "boot") -> list[object]:
    await ws.send(json.dumps([2, unique_id, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


@pytest.mark.timeout(120)
async def test_serve_notifies_ready_status_watchdog_and_stopping(dsn, tmp_path):
    async with serving(tmp_path, "--dsn", dsn, watchdog_usec=400_000) as (manager, serve):
        ready = await manager.next("READY=1", timeout=90)
        await serve.line("schema ready")  # migrated: logged before READY=1 was sent
        # Ready means the port already accepts connections: connect at once, no retry.
        port = served_port(ready)
        assert "STATUS=serving ws://127.0.0.1:" in ready and "0 chargers connected" in ready
        async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-NOTIFY", subprotocols=["ocpp1.6"]) as ws:
            assert (await _boot(ws))[0] == 3
            status = await manager.next("STATUS=serving", timeout=10)
            assert "1 charger connected" in status
            assert await manager.next("WATCHDOG=1", timeout=10) == "WATCHDOG=1"
            serve.process.send_signal(signal.SIGTERM)
            stopping = await manager.next("STOPPING=1", timeout=10)
            assert "1001" in stopping
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 30)
            assert ws.close_code == 1001  # going away
        assert await serve.wait() == 0


@pytest.mark.timeout(120)
async def test_without_a_watchdog_there_is_no_watchdog_ping(dsn, tmp_path):
    async with serving(tmp_path, "--dsn", dsn, "--no-migrate") as (manager, serve):
        await manager.next("READY=1")
        serve.process.send_signal(signal.SIGTERM)
        await manager.next("STOPPING=1", timeout=10)
        assert await serve.wait() == 0
    assert not any("WATCHDOG=1" in message for message in manager.received)


@pytest.mark.timeout(120)
async def test_sigterm_lets_a_call_under_way_finish_then_closes_with_1001(dsn, db, tmp_path):
    await db.execute("SELECT ocpp.add_charge_point('CP-DRAIN')")
    async with serving(tmp_path, "--dsn", dsn, "--no-migrate", "--shutdown-timeout", "20") as (manager, serve):
        port = served_port(await manager.next("READY=1"))
        async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-DRAIN", subprotocols=["ocpp1.6"]) as ws:
            assert (await _boot(ws))[2]["status"] == "Accepted"
            # Hold the journal: the next CALL waits inside ocpp.parse until we let go.
            blocker = await asyncpg.connect(dsn)
            try:
                transaction = blocker.transaction()
                await transaction.start()
                await blocker.execute("LOCK TABLE pgcsms.journal IN EXCLUSIVE MODE")
                await ws.send(json.dumps([2, "hb-under-way", "Heartbeat", {}]))
                # A lock wait has no event to await: look at the server until the CALL waits (bounded).
                async with asyncio.timeout(10):
                    while not await db.fetchval(
                            "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND application_name LIKE 'pgcsms %' AND query LIKE '%ocpp.parse%'"):
                        await asyncio.sleep(0.02)
                serve.process.send_signal(signal.SIGTERM)
                await manager.next("STOPPING=1", timeout=10)
                await transaction.rollback()
            finally:
                await blocker.close()
            answer = json.loads(await asyncio.wait_for(ws.recv(), 20))
            assert answer[:2] == [3, "hb-under-way"], answer  # answered after its commit, before the close
            with pytest.raises(OSError):  # no new connection is accepted any more
                await asyncio.open_connection("127.0.0.1", port)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 30)
            assert ws.close_code == 1001
        assert await serve.wait() == 0
    assert await db.fetchval("SELECT count(*) FROM ocpp.message_log WHERE unique_id = 'hb-under-way' "
                             "AND message_type = 3") == 1


@pytest.mark.timeout(120)
async def test_sighup_reloads_log_level_and_limits_without_dropping_anyone(dsn, tmp_path):
    settings = tmp_path / "pgcsms.toml"
    settings.write_text('log_level = "INFO"\n[limits]\nmessage_burst = 200\n')
    async with serving(tmp_path, "--dsn", dsn, "--no-migrate", "--config", str(settings)) as (manager, serve):
        port = served_port(await manager.next("READY=1"))
        async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-HUP", subprotocols=["ocpp1.6"]) as ws:
            await _boot(ws)
            settings.write_text('log_level = "DEBUG"\n[serve]\npool_size = 7\n[limits]\nmessage_burst = 3\n')
            serve.process.send_signal(signal.SIGHUP)
            assert "RELOADING=1" in await manager.next("RELOADING=1", timeout=10)
            assert "1 charger connected" in await manager.next("READY=1", timeout=10)
            await serve.line(r"reloaded .*pgcsms\.toml: log_level \"INFO\" -> \"DEBUG\", "
                             r"limits\.message_burst 200 -> 3")
            await serve.line(r"serve\.pool_size changed \(10 -> 7\) but takes effect at the next start")
            # Nobody was dropped: the same connection is still served.
            for n in range(3):
                await ws.send(json.dumps([2, f"hb{n}", "Heartbeat", {}]))
            for _ in range(3):
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))[0] == 3
            # A broken file is refused and the running configuration stays.
            settings.write_text("[limits]\nmessage_burst = -1\n")
            serve.process.send_signal(signal.SIGHUP)
            await manager.next("READY=1", timeout=10)
            await serve.line(r"reload refused, the running configuration stays: .*limits\.message_burst")
            serve.process.send_signal(signal.SIGTERM)
        assert await serve.wait() == 0
