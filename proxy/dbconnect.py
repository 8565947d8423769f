"""Connecting to PostgreSQL when the DSN names several hosts (failover).

asyncpg spends one timeout across all the hosts of a multi-host DSN, so a
first host that accepts TCP but never answers (a frozen primary) keeps us
from the second for as long as the whole timeout. Here each host gets its own
bounded attempt, in the DSN's order; the DSN's ``target_session_attrs`` is
applied by asyncpg to each. The same rule for the pool, the LISTEN
connection and (through libpq's per-host ``connect_timeout``) migrate.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import asyncpg

__all__ = ["PER_HOST_TIMEOUT", "connect", "libpq_dsn", "split_hosts"]

# Seconds one host may take to accept a connection before the next is tried.
PER_HOST_TIMEOUT = 5.0

# DSN -> the single-host DSN that last accepted a connection.
_last_good: dict[str, str] = {}


def _hosts_of(netloc_hosts: str) -> list[tuple[str, str]]:
    """(host, port) pairs of a URI's host list ``h1:p1,[::1]:p2,h3``."""
    pairs = []
    for part in netloc_hosts.split(","):
        if part.startswith("["):
            host, _, rest = part[1:].partition("]")
            pairs.append((f"[{host}]", rest.removeprefix(":")))
        else:
            host, _, port = part.partition(":")
            pairs.append((host, port))
    return pairs


def split_hosts(dsn: str) -> list[str]:
    """One single-host DSN per host of ``dsn``, in order; ``[dsn]`` when it names one host or is no URI."""
    parts = urllib.parse.urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        return [dsn]
    userinfo, at, hosts = parts.netloc.rpartition("@")
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query_hosts = [value for key, value in query if key == "host"]
    query_ports = [value for key, value in query if key == "port"]
    if query_hosts:  # ?host=a,b&port=1,2 (Unix sockets, or hosts given as parameters)
        names = query_hosts[-1].split(",")
        ports = query_ports[-1].split(",") if query_ports else [""]
        if len(names) == 1:
            return [dsn]
        ports = ports * len(names) if len(ports) == 1 else ports
        if len(ports) != len(names):
            return [dsn]  # not ours to judge: asyncpg will say what is wrong
        rest = [(key, value) for key, value in query if key not in ("host", "port")]
        return [urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(
            [*rest, ("host", name), *([("port", port)] if port else [])], safe="/")))
            for name, port in zip(names, ports, strict=True)]
    pairs = _hosts_of(hosts)
    if len(pairs) <= 1:
        return [dsn]
    return [urllib.parse.urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}{':' + port if port else ''}"))
            for host, port in pairs]


async def connect(dsn: str, *, per_host_timeout: float = PER_HOST_TIMEOUT, **kwargs: Any) -> asyncpg.Connection:
    """An asyncpg connection to the first host of ``dsn`` that answers (and suits target_session_attrs)."""
    candidates = split_hosts(dsn)
    # The host that answered last goes first: after a failover, only the first
    # new connection pays for the frozen host (a host that no longer suits
    # target_session_attrs is refused by asyncpg and the others are tried).
    last = _last_good.get(dsn)
    if last in candidates:
        candidates = [last, *(candidate for candidate in candidates if candidate != last)]
    failure: BaseException | None = None
    for candidate in candidates:
        try:
            connection = await asyncpg.connect(candidate, timeout=per_host_timeout, **kwargs)
        # TargetServerAttributeNotMatched (a standby where read-write is wanted) is an InternalClientError.
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError,
                asyncpg.InternalClientError) as error:
            if len(candidates) == 1:
                raise
            failure = error
            continue
        _last_good[dsn] = candidate
        return connection
    assert failure is not None
    raise failure


def libpq_dsn(dsn: str) -> str:
    """``dsn`` with a per-host ``connect_timeout`` for libpq (psycopg), unless it sets one."""
    parts = urllib.parse.urlsplit(dsn)
    if parts.scheme in ("postgres", "postgresql"):
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if any(key == "connect_timeout" for key, _ in query):
            return dsn
        query.append(("connect_timeout", str(int(PER_HOST_TIMEOUT))))
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, safe="/,")))
    if "connect_timeout" in dsn:
        return dsn
    return f"{dsn} connect_timeout={int(PER_HOST_TIMEOUT)}"
