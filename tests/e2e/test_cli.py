"""The two commands a newcomer runs, as processes: ``pgcsms serve`` on the embedded default, ``pgcsms migrate``."""

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
import tempfile

import pytest
import websockets
from pgcsms.proxy import cli, embedded


@pytest.fixture
def data_dir():
    base = tempfile.mkdtemp(prefix="pgcsms-cli-")
    os.chmod(base, 0o755)  # PostgreSQL may run as another account when we are root
    try:
        yield os.path.join(base, "pgdata")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.timeout(120)
async def test_serve_on_the_embedded_default_and_stop_cleanly(data_dir):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pgcsms.proxy.cli", "serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0",
        stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(90):
            while not any("serving ws://" in line for line in lines):
                line = (await process.stderr.readline()).decode()
                assert line, f"pgcsms serve exited: {lines}"
                lines.append(line)
        text = "".join(lines)
        # The psql command is the last thing before "serving", not buried under a line per migration.
        assert re.fullmatch(r"  psql -h \S+ -U postgres pgcsms\n", lines[-2]), text
        assert "applying migration" not in text and len(lines) < 10, text
        port = int(re.search(r"serving ws://127\.0\.0\.1:(\d+)/ocpp/", text).group(1))
        async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-NEW", subprotocols=["ocpp1.6"]) as ws:
            await ws.send('[2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]')
            reply = await asyncio.wait_for(ws.recv(), 10)
            assert '"status":"Pending"' in reply.replace(" ", "")  # the default policy for unknown chargers
            # The log says how to accept it.
            async with asyncio.timeout(10):
                while not any("CP-NEW is Pending" in line for line in lines):
                    line = (await process.stderr.readline()).decode()
                    assert line, f"pgcsms serve exited: {lines}"
                    lines.append(line)
        pending = next(line for line in lines if "CP-NEW is Pending" in line)
        assert "SELECT ocpp.add_charge_point('CP-NEW'); accepts it" in pending
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(process.wait(), 60)
    assert returncode == 0
    assert not embedded.EmbeddedPostgres(data_dir).running()


def test_no_postgresql_binaries_is_one_clear_line(monkeypatch, capsys, data_dir):
    monkeypatch.setattr(embedded, "find_pg_bin", lambda: None)
    assert cli.main(["serve", "--data-dir", data_dir]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "apt-get install -y postgresql" in error


def test_migrate_against_an_unreachable_database_fails_in_words(capsys):
    assert cli.main(["migrate", "--dsn", "postgresql://nobody@/nowhere?host=/nonexistent"]) == 1
    assert "database error" in capsys.readouterr().err


def test_migrate_twice_on_a_real_database(dsn, capsys):
    assert cli.main(["migrate", "--dsn", dsn]) == 0
    assert cli.main(["migrate", "--dsn", dsn]) == 0


def test_bad_listen_address_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--listen", "nonsense"])
    assert exit_info.value.code == 2
    assert "HOST:PORT" in capsys.readouterr().err


def test_a_deep_data_directory_gets_the_same_socket_directory_in_every_process(tmp_path):
    deep = tmp_path / ("d" * 90) / "pgdata"
    here = embedded.EmbeddedPostgres(deep).socket_dir

    script = f"from pgcsms.proxy.embedded import EmbeddedPostgres; print(EmbeddedPostgres({str(deep)!r}).socket_dir)"
    there = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert str(here) == there
    assert len(str(here / ".s.PGSQL.5432")) < 107


def test_a_planted_link_is_never_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    link = tmp_path / "run"
    link.symlink_to(target)
    cluster = embedded.EmbeddedPostgres(tmp_path / "pgdata")
    with pytest.raises(embedded.EmbeddedPostgresError, match="symbolic link"):
        cluster._prepare_directory(link)


@pytest.mark.timeout(120)
async def test_json_logs_are_one_object_a_line_with_the_charge_point(dsn):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pgcsms.proxy.cli", "serve", "--dsn", dsn, "--no-migrate", "--listen", "127.0.0.1:0",
        "--log-format", "json", stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    lines: list[str] = []

    async def until(text: str) -> None:
        assert process.stderr is not None
        async with asyncio.timeout(30):
            while not any(text in line for line in lines):
                line = (await process.stderr.readline()).decode()
                assert line, f"pgcsms serve exited: {lines}"
                lines.append(line)

    try:
        await until("serving ws://")
        port = int(re.search(r"serving ws://127\.0\.0\.1:(\d+)/ocpp/", "".join(lines)).group(1))
        async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-J'SON", subprotocols=["ocpp1.6"]) as ws:
            await ws.send('[2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]')
            await asyncio.wait_for(ws.recv(), 10)
            await until("is Pending")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(process.wait(), 60)
    assert returncode == 0
    lines += (await process.stderr.read()).decode().splitlines(keepends=True)
    records = [json.loads(line) for line in lines if not line.startswith("pgcsms: ")]
    assert records and all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    connected = next(r for r in records if r["message"].startswith("CP-J'SON connected"))
    assert connected["charge_point_id"] == "CP-J'SON" and connected["level"] == "INFO"
    pending = next(r for r in records if "is Pending" in r["message"])
    assert pending["charge_point_id"] == "CP-J'SON" and pending["level"] == "WARNING"
    assert "SELECT ocpp.add_charge_point('CP-J''SON');" in pending["message"]  # quoted as SQL
    assert not any("charge_point_id" in r for r in records if r["message"].startswith("serving OCPP-J"))


def test_a_failure_while_serving_carries_no_uvloop_import_error(dsn, capsys):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        port = blocker.getsockname()[1]
        assert cli.main(["serve", "--dsn", dsn, "--no-migrate", "--listen", f"127.0.0.1:{port}"]) == 1
    finally:
        blocker.close()
    error = capsys.readouterr().err
    assert "address already in use" in error.lower() and "uvloop" not in error
