"""pgcsms as users install it: a built wheel, not the editable checkout.

The wheel is built from this checkout and installed with ``--target`` into a
folder of its own; the CLI then runs with ``python -S`` and that folder first on
``PYTHONPATH``, beside the directories that hold its dependencies but without
processing their ``.pth`` files, so the editable install cannot shadow it.
``.ci/run`` also installs the wheel into a fresh virtual environment.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import psycopg
import pytest
import websockets

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment variables under which ``python -S -m pgcsms.proxy.cli`` runs the installed wheel."""
    wheels = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "-w", str(wheels), str(ROOT)], check=True, timeout=240, cwd=wheels)
    wheel = next(wheels.glob("pgcsms-*.whl"))
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "--target", str(target), str(wheel)], check=True, timeout=120)
    dependencies = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), *sorted(dependencies)]))
    environment["PGCSMS_WHEEL"] = str(wheel)
    environment["PGCSMS_TARGET"] = str(target)
    return environment


def _pgcsms(installed: dict[str, str], *args: str) -> list[str]:
    return [sys.executable, "-S", "-m", "pgcsms.proxy.cli", *args]


@pytest.mark.timeout(300)
def test_the_wheel_installs_under_one_pgcsms_name_with_its_sql(installed):
    names = zipfile.ZipFile(installed["PGCSMS_WHEEL"]).namelist()
    top_level = {name.split("/", 1)[0] for name in names if not name.startswith("pgcsms-")}
    assert top_level == {"pgcsms"}, top_level
    packaged = {name for name in names if name.startswith("pgcsms/sql/") and name.endswith(".sql")}
    in_checkout = {"pgcsms/sql/" + str(path.relative_to(ROOT / "sql")) for path in (ROOT / "sql").rglob("*.sql")}
    assert packaged == in_checkout
    located = subprocess.run(
        [sys.executable, "-S", "-c", "import pgcsms.proxy.migrate as m; print(m.sql_dir())"],
        env=installed, capture_output=True, text=True, check=True, timeout=60, cwd="/").stdout.strip()
    assert Path(located).is_relative_to(installed["PGCSMS_TARGET"])


@pytest.mark.timeout(300)
def test_the_installed_cli_prints_its_version(installed):
    done = subprocess.run(_pgcsms(installed, "--version"), env=installed, capture_output=True, text=True,
                          timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"pgcsms \d+\.\d+\.\d+\S*\n", done.stdout), done.stdout


@pytest.mark.timeout(300)
async def test_the_installed_wheel_migrates_and_serves(installed, postgresql, dsn):
    # A database with nothing of ours in it yet: the template is migrated, so start from an empty one.
    empty = "pgcsms_install_test"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {empty}")
        connection.execute(f"CREATE DATABASE {empty} TEMPLATE template0")
    fresh = re.sub(r"/[^/?]+\?", f"/{empty}?", dsn, count=1)
    done = subprocess.run(_pgcsms(installed, "migrate", "--dsn", fresh), env=installed, capture_output=True,
                          text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr
    with psycopg.connect(fresh) as connection:
        assert connection.execute("SELECT count(*) FROM pg_proc WHERE proname = 'parse' "
                                  "AND pronamespace = 'ocpp'::regnamespace").fetchone() == (1,)

    process = await asyncio.create_subprocess_exec(
        *_pgcsms(installed, "serve", "--dsn", fresh, "--listen", "127.0.0.1:0"), env=installed, cwd="/",
        stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("serving ws://" in line for line in lines):
                line = (await process.stderr.readline()).decode()
                assert line, f"pgcsms serve exited: {lines}"
                lines.append(line)
        port = int(re.search(r"serving ws://127\.0\.0\.1:(\d+)/ocpp/", "".join(lines)).group(1))
        async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-WHEEL", subprotocols=["ocpp1.6"]) as ws:
            await ws.send('[2,"b","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
            reply = await asyncio.wait_for(ws.recv(), 10)
        assert reply.startswith('[3,"b",'), reply
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(process.wait(), 60)
    assert returncode == 0
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {empty} WITH (FORCE)")
