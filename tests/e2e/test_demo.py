"""``pgcsms demo`` as a newcomer runs it: chargers charging within seconds, and Ctrl-C ends it with 0.

Run as a subprocess whose output is a pipe (plain periodic lines, not the
terminal view), on a fresh embedded cluster and on a given database.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator

import pytest
from pgcsms.proxy import embedded
from pgcsms.proxy.demo import Running, Snapshot, render_line, render_screen

ENERGY = re.compile(r"energy so far (\d+\.\d+) kWh")


@pytest.fixture
def data_dir() -> Iterator[str]:
    base = tempfile.mkdtemp(prefix="pgcsms-demo-")
    os.chmod(base, 0o755)  # PostgreSQL may run as another account when we are root
    try:
        yield os.path.join(base, "pgdata")
    finally:
        shutil.rmtree(base, ignore_errors=True)


class Demo:
    """A ``pgcsms demo`` process and its output, line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def until_charging(self, timeout: float) -> str:
        """The first view line with a charger Charging and energy above zero."""
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = (await self.process.stdout.readline()).decode()
                assert line, "pgcsms demo ended:\n" + "".join(self.lines)
                self.lines.append(line)
                energy = ENERGY.search(line)
                if energy and float(energy.group(1)) > 0 and re.search(r"DEMO-\d+ [^|]*\d:Charging", line):
                    return line

    async def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        assert self.process.stdout is not None
        rest = await asyncio.wait_for(self.process.stdout.read(), 60)
        self.lines.append(rest.decode())
        return await asyncio.wait_for(self.process.wait(), 30)

    @property
    def output(self) -> str:
        return "".join(self.lines)


async def demo(*args: str) -> Demo:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PGCSMS_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pgcsms.proxy.cli", "demo", "--listen", "127.0.0.1:0", *args, env=environ,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    return Demo(process)


@pytest.mark.timeout(180)
async def test_the_demo_charges_within_seconds_on_the_embedded_default_and_ctrl_c_ends_it(data_dir):
    # --duration bounds the run even if this test stopped reading; Ctrl-C comes well before it.
    run = await demo("--data-dir", data_dir, "--chargers", "3", "--duration", "120")
    try:
        line = await run.until_charging(timeout=120)
        assert line.startswith("pgcsms demo ") and "chargers online" in line
        text = run.output
        assert "accepts unknown chargers" in text  # said, since it changed that setting
        assert re.search(r"look inside +psql -h \S+ -U postgres pgcsms", text), text
        assert "CALL ocpp.call('DEMO-0001', 'GetConfiguration', '{}');" in text
        assert await run.stop(signal.SIGINT) == 0  # Ctrl-C
    finally:
        if run.process.returncode is None:
            run.process.kill()
            await run.process.wait()
    assert re.search(r"pgcsms demo: stopped: \d+ sessions, \d+\.\d+ kWh", run.output), run.output
    assert "Traceback" not in run.output
    assert not embedded.EmbeddedPostgres(data_dir).running()


@pytest.mark.timeout(180)
async def test_the_demo_on_a_given_database_changes_no_setting_and_registers_its_chargers(dsn, db):
    before = await db.fetchval("SELECT ocpp.setting('unknown_charge_points')")
    run = await demo("--dsn", dsn, "--chargers", "2", "--duration", "120")
    try:
        await run.until_charging(timeout=120)
        assert await run.stop(signal.SIGTERM) == 0
    finally:
        if run.process.returncode is None:
            run.process.kill()
            await run.process.wait()
    text = run.output
    assert "no setting changes" in text and "accepts unknown chargers" not in text
    assert "  SELECT ocpp.add_charge_point('DEMO-0001');\n  SELECT ocpp.add_charge_point('DEMO-0002');\n" in text
    assert await db.fetchval("SELECT ocpp.setting('unknown_charge_points')") == before
    assert await db.fetch("SELECT id, registration_status FROM ocpp.charge_points ORDER BY id") == [
        ("DEMO-0001", "Accepted"), ("DEMO-0002", "Accepted")]
    assert await db.fetchval("SELECT count(*) FROM ocpp.transactions WHERE stopped_at IS NULL") == 0  # all ended
    assert await db.fetchval("SELECT sum(energy_wh) FROM ocpp.transactions") > 0


def test_the_view_shows_states_sessions_energy_and_how_to_accept_a_pending_charger():
    now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    view = Snapshot(
        at=now, identities=("DEMO-0001", "DEMO-0002", "DEMO-0003"),
        registration={"DEMO-0001": "Accepted", "DEMO-0002": "Pending"},
        connected=frozenset({"DEMO-0001", "DEMO-0002"}),
        connectors={"DEMO-0001": [(1, "Charging"), (2, "Available")]},
        running=(Running(7, "DEMO-0001", 1, "DEMO-TAG-0001", now, 1234.0),), finished=2, finished_wh=1000.0)
    line = render_line(view)
    assert "2/3 chargers online" in line and "DEMO-0001 1:Charging 2:Available" in line
    assert "DEMO-0002 Pending: SELECT ocpp.add_charge_point('DEMO-0002');" in line
    assert "DEMO-0003 connecting" in line
    assert "sessions: 1 charging, 2 finished" in line and line.endswith("energy so far 2.234 kWh")
    screen = "\n".join(render_screen(view, "ws://127.0.0.1:9000/ocpp/{id}", "psql -h /run -U postgres pgcsms"))
    assert "#7 on 1, DEMO-TAG-0001, 1.234 kWh" in screen
    assert "SELECT ocpp.remote_stop_transaction('DEMO-0001', 7);" in screen  # a command that fits what runs
    assert "look inside     psql -h /run -U postgres pgcsms" in screen
