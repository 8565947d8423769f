"""The moving parts of a benchmark run: database, servers under test, worker processes.

:class:`Run` owns everything a run starts (a temporary directory, the embedded
PostgreSQL, the servers, the load generator processes) and stops all of it in
:meth:`Run.close`, whatever happened.  The scenarios in :mod:`bench.scenarios`
only ask it for things.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench.common import Histogram
from bench.system import CpuSample, ProcessTree, free_port, machine_sample, wait_for_port

__all__ = [
    "BENCH_DIR",
    "REPO_ROOT",
    "Database",
    "Run",
    "Server",
    "TargetUnavailable",
    "WorkerPool",
    "merge_phase",
    "sleep_until",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
HOST = "127.0.0.1"

#: The four systems a scenario can measure.
TARGETS = ("pgcsms", "python_peer", "node_peer", "limit")


class TargetUnavailable(RuntimeError):
    """A system under test could not be started (not written yet, failed to build...)."""


async def sleep_until(epoch: float) -> None:
    """Sleep until the wall clock reads ``epoch``."""
    delay = epoch - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


def _tail(path: Path, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def pgcsms_command() -> list[str]:
    """How to run this checkout's pgcsms CLI (see :func:`checkout_package`)."""
    return [sys.executable, "-m", "pgcsms.proxy.cli"]


@functools.cache
def checkout_package() -> Path:
    """A directory whose ``pgcsms`` package is this checkout, to put first on PYTHONPATH.

    The repository keeps ``proxy/``, ``sql/`` and ``hardware/`` at its top
    while they install as ``pgcsms.proxy``...: links to them under a
    ``pgcsms`` directory make the bench measure the code beside it, never
    whichever pgcsms happens to be installed or first on PATH.
    """
    root = Path(tempfile.mkdtemp(prefix="pgcsms-checkout-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "pgcsms").mkdir()
    for part in ("proxy", "sql", "hardware"):
        (root / "pgcsms" / part).symlink_to(REPO_ROOT / part, target_is_directory=True)
    return root


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(checkout_package()), str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class Server:
    """A server process under test, its log, and its process tree."""

    def __init__(self, name: str, argv: Sequence[str], port: int, log: Path,
                 cwd: Path = REPO_ROOT, path: str = "/ocpp/", ready_line: bytes | None = None) -> None:
        self.name = name
        # Printed once it serves: with --workers the port accepts as soon as the
        # first worker listens, before the others share it.
        self.ready_line = ready_line
        self.argv = list(argv)
        self.port = port
        self.log = log
        self.cwd = cwd
        self.url = f"ws://{HOST}:{port}{path}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.tree: ProcessTree | None = None

    async def start(self, timeout: float = 60.0) -> None:
        """Start it and wait until its port accepts TCP (or it dies, or ``timeout``)."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=self.cwd, env=_child_env(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        proc = self.proc
        ok = await asyncio.to_thread(
            wait_for_port, HOST, self.port, timeout, lambda: proc.poll() is None
        )
        if ok and self.ready_line is not None:
            ok = await asyncio.to_thread(self._wait_for_line, self.ready_line, timeout)
        if not ok:
            code = proc.poll()
            self.stop()
            state = f"exited with {code}" if code is not None else f"not listening after {timeout}s"
            raise TargetUnavailable(
                f"{self.name} {state}: {' '.join(self.argv)}\n{_tail(self.log)}"
            )
        self.tree = ProcessTree(proc.pid, self.name)

    def _wait_for_line(self, line: bytes, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc is not None and self.proc.poll() is None:
            if line in self.log.read_bytes():
                return True
            time.sleep(0.05)  # a file has no event to await
        return False

    def sample(self) -> CpuSample | None:
        return self.tree.sample() if self.tree is not None else None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s (only this server's own process group)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@dataclass
class Database:
    """The PostgreSQL pgcsms runs on: embedded (default) or given by ``--dsn``."""

    dsn: str
    embedded: Any = None
    version: str | None = None
    postmaster: ProcessTree | None = None
    monitor: asyncpg.Connection | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    async def start(cls, dsn: str | None, workdir: Path) -> Database:
        if dsn is None:
            try:
                from pgcsms.proxy.embedded import EmbeddedPostgres
            except ImportError as exc:
                raise TargetUnavailable(f"pgcsms.proxy.embedded not importable: {exc}") from exc
            pg = EmbeddedPostgres(workdir / "pg" / "pgdata")
            dsn = await asyncio.to_thread(pg.start)
            db = cls(dsn=dsn, embedded=pg)
        else:
            db = cls(dsn=dsn)
        db.monitor = await asyncpg.connect(db.dsn)
        db.version = str(await db.monitor.fetchval("SHOW server_version"))
        db.postmaster = await db._find_postmaster()
        if db.postmaster is None:
            db.notes.append("PostgreSQL processes not visible here: no PostgreSQL CPU figures")
        return db

    async def _find_postmaster(self) -> ProcessTree | None:
        assert self.monitor is not None
        backend = int(await self.monitor.fetchval("SELECT pg_backend_pid()"))
        try:
            parent = psutil.Process(backend).parent()
        except psutil.Error:
            return None
        return ProcessTree(parent.pid, "postgres") if parent is not None else None

    def sample(self) -> CpuSample | None:
        return self.postmaster.sample() if self.postmaster is not None else None

    async def migrate(self, log: Path) -> None:
        """``pgcsms migrate --dsn DSN``; raises :class:`TargetUnavailable` on failure."""
        argv = [*pgcsms_command(), "migrate", "--dsn", self.dsn]
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=REPO_ROOT, env=_child_env(), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 300)
        except TimeoutError:
            proc.kill()
            raise TargetUnavailable("pgcsms migrate took over 300 s") from None
        log.write_bytes(out or b"")
        if proc.returncode != 0:
            raise TargetUnavailable(
                f"pgcsms migrate failed ({proc.returncode}): {' '.join(argv)}\n{_tail(log)}"
            )

    async def has_function(self, schema: str, name: str) -> bool:
        assert self.monitor is not None
        found = await self.monitor.fetchval(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = $1 AND p.proname = $2", schema, name,
        )
        return bool(found)

    async def activity(self) -> dict[str, Any]:
        """Client connections to this database (not counting our monitor), by state."""
        assert self.monitor is not None
        rows = await self.monitor.fetch(
            "SELECT coalesce(state, '?') AS state, coalesce(application_name, '') AS app,"
            " count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1, 2"
        )
        by_state: dict[str, int] = {}
        by_app: dict[str, int] = {}
        for row in rows:
            by_state[row["state"]] = by_state.get(row["state"], 0) + row["n"]
            by_app[row["app"] or "(none)"] = by_app.get(row["app"] or "(none)", 0) + row["n"]
        return {"total": sum(by_state.values()), "by_state": by_state, "by_application": by_app}

    async def stop(self) -> None:
        if self.monitor is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.monitor.close(), 5)
            self.monitor = None
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
            self.embedded = None


class WorkerPool:
    """Load generator (or limit) processes steered by JSON lines."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.procs: list[asyncio.subprocess.Process] = []
        self.sizes: list[int] = []
        self.logs: list[Path] = []

    async def start(self, argvs: Sequence[Sequence[str]], sizes: Sequence[int],
                    logdir: Path, timeout: float = 30.0) -> None:
        for index, argv in enumerate(argvs):
            log = logdir / f"{self.name}-{index}.log"
            self.logs.append(log)
            with open(log, "ab") as err:
                proc = await asyncio.create_subprocess_exec(
                    *argv, cwd=REPO_ROOT, env=_child_env(), stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE, stderr=err, limit=1 << 26,
                )
            self.procs.append(proc)
        self.sizes = list(sizes)
        for proc, log in zip(self.procs, self.logs, strict=True):
            line = await self._readline(proc, timeout, log)
            if not line.get("ready"):
                raise RuntimeError(f"{self.name} worker did not start: {line}\n{_tail(log)}")

    async def _readline(self, proc: asyncio.subprocess.Process, timeout: float,
                        log: Path) -> dict[str, Any]:
        assert proc.stdout is not None
        try:
            raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
        except TimeoutError:
            raise RuntimeError(f"{self.name} worker gave no answer in {timeout:.0f} s") from None
        if not raw:
            raise RuntimeError(f"{self.name} worker exited:\n{_tail(log)}")
        result: dict[str, Any] = json.loads(raw)
        return result

    async def ask(self, commands: Sequence[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
        """Send each process its command, then collect one answer from each."""
        for proc, cmd in zip(self.procs, commands, strict=True):
            assert proc.stdin is not None
            proc.stdin.write((json.dumps(cmd) + "\n").encode())
            await proc.stdin.drain()
        answers = await asyncio.gather(
            *(self._readline(p, timeout, log) for p, log in zip(self.procs, self.logs, strict=True))
        )
        for answer, log in zip(answers, self.logs, strict=True):
            if not answer.get("ok", False):
                raise RuntimeError(
                    f"{self.name} worker failed: {answer.get('error')}\n{_tail(log)}"
                )
        return list(answers)

    async def ask_all(self, cmd: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        return await self.ask([cmd] * len(self.procs), timeout)

    async def close(self) -> None:
        for proc in self.procs:
            if proc.returncode is None and proc.stdin is not None:
                with contextlib.suppress(Exception):
                    proc.stdin.write(b'{"cmd": "close"}\n')
                    await proc.stdin.drain()
                    proc.stdin.close()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self.procs.clear()


def merge_phase(answers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Add up the workers' answers to one phase: counts, errors, histograms."""
    hists: dict[str, Histogram] = {}
    errors: dict[str, int] = {}
    totals: dict[str, float] = {}
    for answer in answers:
        for action, data in answer.get("hist", {}).items():
            hists.setdefault(action, Histogram()).merge(Histogram.from_json(data))
        for code, n in answer.get("error_codes", {}).items():
            errors[code] = errors.get(code, 0) + n
        for key in ("results", "window_results", "errors", "offered", "dropped_at_end",
                    "queued_behind_outstanding", "unanswered_at_end", "loadgen_cpu_s", "chargers"):
            if key in answer:
                totals[key] = totals.get(key, 0) + answer[key]
    overall = Histogram()
    for hist in hists.values():
        overall.merge(hist)
    lag = [a["timer_lag"] for a in answers if a.get("timer_lag")]
    return {
        **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in totals.items()},
        "error_codes": errors,
        "latency": overall.summary_ms(),
        "latency_by_action": {a: h.summary_ms() for a, h in sorted(hists.items())},
        "timer_lag_p99_ms": max((x.get("p99_ms") or 0.0) for x in lag) if lag else None,
    }


class Run:
    """Everything one ``python -m bench`` invocation starts, and its clean-up."""

    def __init__(self, dsn: str | None, pool_size: int | None, keep: bool,
                 serve_args: Sequence[str] = (), source_ip: str | None = "per-charger",
                 offer_compression: bool = False) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="pgcsms-bench-"))
        # The embedded cluster runs as an unprivileged user when we are root: it must
        # be able to reach its data directory under ours.
        os.chmod(self.workdir, 0o755)
        self.logdir = self.workdir / "logs"
        self.logdir.mkdir()
        self.dsn = dsn
        self.pool_size = pool_size
        self.serve_args = list(serve_args)
        self.source_ip = source_ip
        self.offer_compression = offer_compression
        self.keep = keep
        self.db: Database | None = None
        self.db_error: str | None = None
        self.migrated = False
        self.servers: list[Server] = []
        self.pools: list[WorkerPool] = []
        self.notes: list[str] = []

    # -- database ---------------------------------------------------------
    async def database(self) -> Database:
        """The run's database, started and migrated on first use."""
        if self.db_error is not None:
            raise TargetUnavailable(self.db_error)
        if self.db is None:
            try:
                self.db = await Database.start(self.dsn, self.workdir)
                self.notes.extend(self.db.notes)
            except TargetUnavailable as exc:
                self.db_error = str(exc)
                raise
            except Exception as exc:
                self.db_error = f"database did not start: {type(exc).__name__}: {exc}"
                raise TargetUnavailable(self.db_error) from exc
        if not self.migrated:
            try:
                await self.db.migrate(self.logdir / "migrate.log")
            except TargetUnavailable as exc:
                self.db_error = str(exc)
                raise
            self.migrated = True
        return self.db

    async def postgres_version(self) -> str | None:
        if self.db is not None:
            return self.db.version
        try:
            from pgcsms.proxy.embedded import find_pg_bin
        except ImportError:
            return None
        bin_dir = find_pg_bin()
        if bin_dir is None:
            return None
        out = await asyncio.to_thread(
            subprocess.run, [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True
        )
        return out.stdout.strip().rsplit(" ", 1)[-1] if out.returncode == 0 else None

    # -- servers under test -----------------------------------------------
    async def start_pgcsms(self) -> tuple[Server, Database]:
        """Database + migrations + settings, then ``pgcsms serve`` on a free port."""
        db = await self.database()
        assert db.monitor is not None
        try:
            await db.monitor.execute("SELECT ocpp.set_setting('unknown_charge_points', 'accept')")
        except asyncpg.PostgresError as exc:
            self.notes.append(f"ocpp.set_setting failed ({exc}); unknown chargers may be refused")
        port = free_port()
        argv = [*pgcsms_command(), "serve", "--dsn", db.dsn, "--listen", f"{HOST}:{port}"]
        if self.pool_size:
            argv += ["--pool-size", str(self.pool_size)]
        argv += self.serve_args
        server = Server("pgcsms", argv, port, self.logdir / "pgcsms.log", ready_line=b"pgcsms: serving ")
        self.servers.append(server)
        await server.start()
        return server, db

    async def start_python_peer(self) -> Server:
        port = free_port()
        argv = [sys.executable, "-m", "bench.peers.python_peer",
                "--host", HOST, "--port", str(port)]
        server = Server("python_peer", argv, port, self.logdir / "python_peer.log")
        self.servers.append(server)
        await server.start()
        return server

    async def start_node_peer(self) -> Server:
        node_dir = BENCH_DIR / "node_peer"
        node = shutil.which("node")
        if node is None:
            raise TargetUnavailable("node is not installed")
        if not (node_dir / "node_modules" / "ocpp-rpc").is_dir():
            npm = shutil.which("npm")
            if npm is None:
                raise TargetUnavailable("npm is not installed (needed once for bench/node_peer)")
            install = "ci" if (node_dir / "package-lock.json").is_file() else "install"
            proc = await asyncio.create_subprocess_exec(
                npm, install, "--no-audit", "--no-fund", cwd=node_dir,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )
            try:
                out, _ = await asyncio.wait_for(proc.communicate(), 300)
            except TimeoutError:
                proc.kill()
                raise TargetUnavailable("npm install in bench/node_peer took over 300 s") from None
            if proc.returncode != 0:
                raise TargetUnavailable(f"npm {install} failed:\n{out.decode(errors='replace')}")
        port = free_port()
        argv = [node, "server.js", "--host", HOST, "--port", str(port)]
        server = Server("node_peer", argv, port, self.logdir / "node_peer.log", cwd=node_dir)
        self.servers.append(server)
        await server.start()
        return server

    async def start_target(self, name: str) -> tuple[Server, Database | None]:
        if name == "pgcsms":
            return await self.start_pgcsms()
        if name == "python_peer":
            return await self.start_python_peer(), None
        if name == "node_peer":
            return await self.start_node_peer(), None
        raise ValueError(name)

    def stop_server(self, server: Server) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    # -- load generators --------------------------------------------------
    async def start_loadgen(self, url: str, chargers: int, procs: int | None,
                            prefix: str, password_prefix: str | None = None) -> WorkerPool:
        """Start the generator processes, ``chargers`` split evenly among them.

        Each charger connects from its own loopback address unless the run says
        otherwise (``source_ip`` None: one address per process, 127.0.0.2, .3, ...).
        """
        count = procs or max(1, math.ceil(chargers / 2500))
        count = max(1, min(count, chargers))
        sizes = [chargers // count + (1 if i < chargers % count else 0) for i in range(count)]
        argvs = []
        first = 0
        for index, size in enumerate(sizes):
            argvs.append([
                sys.executable, "-m", "bench.loadgen", "--url", url, "--prefix", prefix,
                "--first", str(first), "--count", str(size),
                "--source-ip", self.source_ip or f"127.0.0.{2 + index}", "--seed", str(index),
                *(["--offer-compression"] if self.offer_compression else []),
                *(["--password-prefix", password_prefix] if password_prefix else []),
            ])
            first += size
        pool = WorkerPool("loadgen")
        self.pools.append(pool)
        await pool.start(argvs, sizes, self.logdir)
        return pool

    @contextlib.asynccontextmanager
    async def loadgen(self, url: str, chargers: int, procs: int | None,
                      prefix: str, password_prefix: str | None = None) -> AsyncIterator[WorkerPool]:
        """:meth:`start_loadgen` as a context: the processes are closed on the way out."""
        pool = await self.start_loadgen(url, chargers, procs, prefix, password_prefix)
        try:
            yield pool
        finally:
            await self.close_pool(pool)

    async def start_limit(self, dsn: str, chargers: int, prefix: str) -> WorkerPool:
        pool = WorkerPool("limit")
        self.pools.append(pool)
        argv = [sys.executable, "-m", "bench.limit", "--dsn", dsn, "--prefix", prefix,
                "--count", str(chargers)]
        await pool.start([argv], [chargers], self.logdir)
        return pool

    async def close_pool(self, pool: WorkerPool) -> None:
        await pool.close()
        if pool in self.pools:
            self.pools.remove(pool)

    # -- measuring --------------------------------------------------------
    def samplers(self, server: Server | None, db: Database | None) -> dict[str, Callable[[], Any]]:
        out: dict[str, Callable[[], Any]] = {}
        if server is not None:
            out[server.name] = server.sample
        if db is not None and db.postmaster is not None:
            out["postgres"] = db.sample
        out["machine"] = machine_sample
        return out

    @staticmethod
    def cpu_between(before: dict[str, CpuSample | None], after: dict[str, CpuSample | None],
                    messages: int, loadgen_cpu_s: float | None = None) -> dict[str, Any]:
        """CPU seconds, cores busy, and CPU seconds per 1,000 messages, per process tree.

        ``machine`` is every core's busy time; ``other`` what is left of it after the
        trees measured and the load generator: anything else running on the machine,
        which should be near zero for a clean measurement.
        """
        out: dict[str, Any] = {}
        for name, first in before.items():
            last = after.get(name)
            if first is None or last is None:
                continue
            cpu = max(0.0, last.cpu_s - first.cpu_s)
            wall = max(1e-9, last.at - first.at)
            out[name] = {
                "cpu_s": round(cpu, 3),
                "cores": round(cpu / wall, 3),
                "cpu_s_per_1000_msgs": round(cpu * 1000.0 / messages, 4) if messages else None,
            }
            if name != "machine":
                out[name]["rss_mib"] = round(last.rss_bytes / 2**20, 1)
                out[name]["processes"] = last.processes
        if "machine" in out and loadgen_cpu_s is not None:
            known = sum(v["cpu_s"] for k, v in out.items() if k != "machine") + loadgen_cpu_s
            other = max(0.0, out["machine"]["cpu_s"] - known)
            wall = max(1e-9, after["machine"].at - before["machine"].at)  # type: ignore[union-attr]
            out["other"] = {"cpu_s": round(other, 3), "cores": round(other / wall, 3)}
        return out

    async def close(self) -> None:
        """Stop everything this run started; remove the work directory unless ``keep``."""
        for pool in list(self.pools):
            with contextlib.suppress(Exception):
                await pool.close()
        self.pools.clear()
        for server in list(self.servers):
            with contextlib.suppress(Exception):
                await asyncio.to_thread(server.stop)
        self.servers.clear()
        if self.db is not None:
            with contextlib.suppress(Exception):
                await self.db.stop()
            self.db = None
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
