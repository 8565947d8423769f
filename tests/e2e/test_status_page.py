"""The status page in a real browser: what a person sees, kept current without a reload.

Headless Chromium (Debian's ``chromium``) is driven over the DevTools protocol
by a small client below (JSON messages over a WebSocket). The charger is a
real OCPP-J client speaking to a running CentralSystem. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from pgcsms.proxy.health import start_health_server

pytestmark = pytest.mark.timeout(30)

CHROMIUM = next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)
HOSTILE = "<b id=injected>bold</b>"  # a charger id that is also markup


class DevTools:
    """A browser over the Chrome DevTools protocol: commands answered by id, events kept by name."""

    def __init__(self, process: asyncio.subprocess.Process, socket: Any) -> None:
        self.process = process
        self.socket = socket
        self.ids = itertools.count(1)
        self.answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, profile: Path) -> AsyncIterator[DevTools]:
        assert CHROMIUM is not None
        arguments = ["--headless=new", "--remote-debugging-port=0", f"--user-data-dir={profile}", "--no-first-run",
                     "--no-default-browser-check", "--disable-gpu", "--disable-extensions", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--mute-audio"]
        if os.geteuid() == 0:
            arguments.append("--no-sandbox")  # Chromium refuses to sandbox itself as root
        process = await asyncio.create_subprocess_exec(
            CHROMIUM, *arguments, "about:blank", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            assert process.stderr is not None
            async with asyncio.timeout(15):
                while True:
                    line = (await process.stderr.readline()).decode(errors="replace")
                    assert line, f"chromium exited ({await process.wait()}) before its DevTools listened"
                    if found := re.search(r"DevTools listening on (ws://\S+)", line):
                        break
            # Chromium keeps logging to stderr: drain it so it never blocks on a full pipe.
            drain = asyncio.create_task(process.stderr.read())
            async with websockets.connect(found.group(1), max_size=None, open_timeout=5) as socket:
                browser = cls(process, socket)
                try:
                    yield browser
                finally:
                    browser.reader.cancel()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(socket.send(json.dumps({"id": 0, "method": "Browser.close"})), 2)
            drain.cancel()
        finally:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.wait_for(process.wait(), 5)

    async def _read(self) -> None:
        async for text in self.socket:
            message = json.loads(text)
            if "id" in message and message["id"] in self.answers:
                self.answers.pop(message["id"]).set_result(message)
            elif "method" in message:
                self.events.setdefault(message["method"], asyncio.Queue()).put_nowait(message)

    async def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
                   timeout: float = 10) -> dict[str, Any]:
        ident = next(self.ids)
        answer = self.answers[ident] = asyncio.get_running_loop().create_future()
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        await self.socket.send(json.dumps(message))
        reply = await asyncio.wait_for(answer, timeout)
        assert "error" not in reply, (method, reply["error"])
        return reply["result"]

    async def event(self, method: str, timeout: float = 10) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.setdefault(method, asyncio.Queue()).get(), timeout)

    async def open(self, url: str) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        session = (await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}))[
            "sessionId"]
        page = Page(self, session)
        await self.send("Page.enable", session=session)
        await self.send("Page.navigate", {"url": url}, session=session)
        await self.event("Page.loadEventFired")
        return page


class Page:
    """One tab: JavaScript evaluated in it, and waits for what its DOM shows."""

    def __init__(self, browser: DevTools, session: str) -> None:
        self.browser = browser
        self.session = session

    async def evaluate(self, expression: str, timeout: float = 10) -> Any:
        result = await self.browser.send("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True}, self.session, timeout + 2)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def wait_for(self, predicate: str, timeout: float = 10) -> None:
        """Until ``predicate`` (a JavaScript expression) holds, watching the DOM change; bounded."""
        await self.evaluate(f"""new Promise((resolve, reject) => {{
            const holds = () => {{ try {{ return Boolean({predicate}); }} catch (error) {{ return false; }} }};
            if (holds()) return resolve(true);
            const timer = setTimeout(() => {{
                watcher.disconnect();
                reject(new Error("timed out: " + {json.dumps(predicate)}));
            }}, {int(timeout * 1000)});
            const watcher = new MutationObserver(() => {{
                if (holds()) {{ watcher.disconnect(); clearTimeout(timer); resolve(true); }}
            }});
            watcher.observe(document, {{subtree: true, childList: true, characterData: true, attributes: true}});
        }})""", timeout)

    async def row(self, charge_point_id: str) -> str:
        """The text a person reads on a charger's row."""
        return await self.evaluate(f"""[...document.querySelectorAll("#chargers tbody tr")]
            .find((tr) => tr.dataset.chargePoint === {json.dumps(charge_point_id)})?.innerText ?? null""")


async def call(ws: Any, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    unique_id = uuid.uuid4().hex[:12]
    await ws.send(json.dumps([2, unique_id, action, payload]))
    async with asyncio.timeout(5):
        reply = json.loads(await ws.recv())
    assert reply[:2] == [3, unique_id], reply
    return reply[2]


@pytest.fixture
def browser_profile(tmp_path: Path) -> Path:
    if CHROMIUM is None:
        pytest.skip("no chromium to drive: install Debian's chromium package (apt-get install -y chromium)")
    return tmp_path / "chromium-profile"


async def test_the_page_lists_the_chargers_and_follows_a_charge_without_reloading(
        db, central, raw, browser_profile):
    for identity in ("CP-A", "CP-B", HOSTILE):
        await db.execute("SELECT ocpp.add_charge_point($1)", identity)
    await db.execute("SELECT ocpp.add_id_tag('TAG-A')")
    await db.execute("SELECT ocpp.add_site('depot', 'Depot North'), ocpp.set_site('CP-A', 'depot')")
    # Refreshing the whole fleet rarely: what follows must come from LISTEN, not from the timer.
    runner = await start_health_server(central, "127.0.0.1", 0, max_status_clients=2, status_refresh=120)
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with raw("CP-A") as ws:
            await call(ws, "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "Volt"})
            await call(ws, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})

            async with DevTools.launch(browser_profile) as browser:
                page = await browser.open(base + "/")
                await page.wait_for('document.body.dataset.live === "yes" '
                                    '&& document.querySelectorAll("#chargers tbody tr").length === 3')
                text = await page.evaluate("document.body.innerText")
                for shown in ("CP-A", "CP-B", HOSTILE, "Depot North", "3 chargers · 1 connected"):
                    assert shown in text
                assert await page.evaluate("document.getElementById('injected')") is None  # text, not markup
                row = await page.row("CP-A")
                assert all(word in row for word in ("connected", "Accepted", "1.6", "connector 1: Available"))
                assert "offline" in await page.row("CP-B")

                # One LISTEN connection, however many pages; and no more pages than allowed.
                async with aiohttp.ClientSession() as http, http.get(base + "/events") as second:
                    assert second.status == 200
                    async with http.get(base + "/events") as third:
                        assert third.status == 503
                    listeners = await db.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                        f"pgcsms {central.node_id} status page")
                    assert listeners == 1

                # A charge starts after the page loaded: the page shows it, not reloaded.
                await page.evaluate("window.loadedOnce = true")
                start = await call(ws, "StartTransaction", {"connectorId": 1, "idTag": "TAG-A", "meterStart": 1000,
                                                            "timestamp": "2026-03-10T10:00:00Z"})
                await call(ws, "MeterValues", {
                    "connectorId": 1, "transactionId": start["transactionId"],
                    "meterValue": [{"timestamp": "2026-03-10T10:05:00Z", "sampledValue": [{"value": "1500"}]}]})
                await call(ws, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"})
                await page.wait_for("""[...document.querySelectorAll("#chargers tbody tr")]
                    .some((tr) => tr.dataset.chargePoint === "CP-A" && tr.innerText.includes("Charging"))""")
                row = await page.row("CP-A")
                assert "connector 1: Charging" in row and "0.50 kWh" in row
                assert await page.evaluate("window.loadedOnce === true "
                                           "&& performance.getEntriesByType('navigation').length === 1")
                assert "1 running session" in await page.evaluate("document.getElementById('summary').innerText")
    finally:
        await runner.cleanup()


async def test_the_snapshot_and_the_files(db, central):
    await db.execute("SELECT ocpp.add_charge_point('CP-J')")
    runner = await start_health_server(central, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/status.json") as response:
                assert response.status == 200
                snapshot = await response.json()
            assert [c["id"] for c in snapshot["chargers"]] == ["CP-J"]
            for path, kind in (("/", "text/html"), ("/status.css", "text/css"), ("/status.js", "text/javascript")):
                async with http.get(base + path) as response:
                    assert response.status == 200 and response.content_type == kind
                    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
            async with http.get(base + "/events") as events:
                assert events.headers["Content-Type"] == "text/event-stream"
                async with asyncio.timeout(10):
                    while not (line := await events.content.readline()).startswith(b"event: snapshot"):
                        assert line
                    data = json.loads((await events.content.readline()).decode().removeprefix("data: "))
                assert [c["id"] for c in data["chargers"]] == ["CP-J"]
    finally:
        async with asyncio.timeout(10):  # open event streams end with the server
            await runner.cleanup()
