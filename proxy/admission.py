"""The WebSocket handshake: who is connecting, in which OCPP version, and may it.

Refusals are HTTP answers (400 identity, 401/403 credentials, 404 unknown
charger, 429 too many handshakes, 503 database down) before any socket opens;
``ocpp.connect`` decides authentication and admission in one round trip.
"""

from __future__ import annotations

import base64
import binascii
import http
import urllib.parse
from collections.abc import Sequence

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from . import catalog
from .limits import TokenBucket
from .state import DATABASE_ERRORS, DISCONNECT, ServerState, logger
from .tls import peer_common_name

__all__ = ["PATH_PREFIX", "SUBPROTOCOLS", "Admission", "basic_auth_password", "identity_from_path"]

# Served subprotocols (catalog.py); a station offering several gets the first
# of them in its own order of preference (RFC 6455 §4.2.2, OCPP-J 2.0.1 §3.1).
SUBPROTOCOLS = {Subprotocol(name): version for name, version in catalog.SUBPROTOCOLS.items()}
PATH_PREFIX = "/ocpp/"
MAX_IDENTITY_LENGTH = 48

_LOG_AUTH_FAILURE = "SELECT ocpp.log_auth_failure($1, $2, $3, $4, $5, $6)"
_CONNECT = ("SELECT accepted, http_status, reason, ping_interval, epoch, has_commands "
            "FROM ocpp.connect($1, $2, $3, $4, $5, $6, $7)")


def identity_from_path(path: str) -> str | None:
    """The charge point identity: the last segment of /ocpp/{id}, percent-decoded.

    None when the path is not under /ocpp/ or the identity is empty, too long
    or holds control characters.
    """
    path = path.split("?", 1)[0]
    if not path.startswith(PATH_PREFIX):
        return None
    identity = urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1], errors="strict")
    if (not identity or len(identity) > MAX_IDENTITY_LENGTH or path.rstrip("/") + "/" == PATH_PREFIX
            or any(ord(c) < 32 or ord(c) == 127 for c in identity)):
        return None
    return identity


def _is_websocket_upgrade(headers: Headers) -> bool:
    return ("websocket" in headers.get("Upgrade", "").lower() and "Sec-WebSocket-Key" in headers
            and headers.get("Sec-WebSocket-Version", "").strip() == "13")


def _offered_subprotocols(headers: Headers) -> list[str]:
    return [p.strip() for value in headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",") if p.strip()]


def _plain(status: http.HTTPStatus, text: str) -> Response:
    body = (text + "\n").encode()
    headers = Headers([("Content-Type", "text/plain; charset=utf-8"),
                       ("Content-Length", str(len(body))), ("Connection", "close")])
    return Response(status.value, status.phrase, headers, body)


def _unauthorized() -> Response:
    response = _plain(http.HTTPStatus.UNAUTHORIZED, "authentication required")
    response.headers["WWW-Authenticate"] = 'Basic realm="pgcsms", charset="UTF-8"'
    return response


def basic_auth_password(headers: Headers, identity: str) -> str | None:
    """The password of an HTTP Basic ``Authorization`` header, None without one.

    Raises ValueError when the header is malformed or names another user
    (OCPP security profiles 1 and 2: the username is the charger identity).
    """
    value = headers.get("Authorization")
    if value is None:
        return None
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic":
        raise ValueError("authorization scheme is not Basic")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("malformed Basic credentials") from None
    username, separator, secret = decoded.partition(b":")
    if not separator or username != identity.encode("utf-8"):
        raise ValueError("Basic username is not the charge point identity")
    # An AuthorizationKey may be raw octets; those that are not printable UTF-8 travel as hex.
    try:
        text = secret.decode("utf-8")
    except UnicodeDecodeError:
        return secret.hex()
    return text if text.isprintable() else secret.hex()


class Admission(ServerState):
    """Handshake decisions, held weakly per connection until the connection handler takes them."""

    _handshake_buckets: dict[str, TokenBucket]

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        remote = connection.remote_address[0] if connection.remote_address else None
        if not self._handshake_allowed(remote):
            return _plain(http.HTTPStatus.TOO_MANY_REQUESTS, "too many connection attempts, retry later")
        try:
            identity = identity_from_path(request.path)
        except UnicodeDecodeError:
            identity = None
        if identity is None:
            if not request.path.startswith(PATH_PREFIX):
                return _plain(http.HTTPStatus.NOT_FOUND, f"OCPP endpoint is {PATH_PREFIX}{{chargePointId}}")
            return _plain(http.HTTPStatus.BAD_REQUEST,
                          "invalid charge point identity: 1 to 48 characters, no control characters")
        if not _is_websocket_upgrade(request.headers):
            # websockets refuses it (426 or 400); the database must not hear of it.
            return None
        offered = _offered_subprotocols(request.headers)
        served = [Subprotocol(p) for p in offered if p in SUBPROTOCOLS]
        if offered and not served:
            return _plain(http.HTTPStatus.BAD_REQUEST,
                          f"unsupported OCPP version; this server speaks {', '.join(SUBPROTOCOLS)}")
        # No subprotocol at all: some firmware (e.g. Grizzl-E) sends none; serve it as 1.6.
        version = SUBPROTOCOLS[served[0]] if served else "1.6"
        assert self.pool is not None
        try:
            password = basic_auth_password(request.headers, identity)
        except ValueError as error:
            logger.info("refused %s from %s: %s", identity, remote, error)
            try:
                await self.pool.execute(_LOG_AUTH_FAILURE, identity, self.scheme, remote,
                                        peer_common_name(connection.transport), 401, str(error))
            except DATABASE_ERRORS:
                logger.exception("could not record the refused handshake of %s", identity)
            return _unauthorized()
        try:
            row = await self.pool.fetchrow(_CONNECT, identity, self.node_id, remote, version, password, self.scheme,
                                           peer_common_name(connection.transport))
        except DATABASE_ERRORS:
            logger.exception("database unavailable during handshake of %s", identity)
            return _plain(http.HTTPStatus.SERVICE_UNAVAILABLE, "central system unavailable, retry later")
        if not row["accepted"]:
            # The reason is for our log; the charger only learns the status.
            logger.info("refused %s from %s: %s", identity, remote, row["reason"])
            if row["http_status"] == http.HTTPStatus.UNAUTHORIZED:
                return _unauthorized()
            status = http.HTTPStatus(row["http_status"])
            return _plain(status, status.phrase)
        self._admitted[connection] = (identity, version, row["epoch"], row["ping_interval"], row["has_commands"])
        return None

    async def _process_response(self, connection: ServerConnection, request: Request,
                                response: Response) -> None:
        """A handshake admitted by ocpp.connect that still fails: record that the charger is not here."""
        if response.status_code == http.HTTPStatus.SWITCHING_PROTOCOLS:
            return
        admitted = self._admitted.pop(connection, None)
        if admitted is not None:
            identity, _, epoch, _, _ = admitted
            assert self.pool is not None
            try:
                await self.pool.execute(DISCONNECT, identity, epoch)
            except DATABASE_ERRORS:
                logger.exception("could not undo the admission of %s", identity)

    def _handshake_allowed(self, remote: str | None) -> bool:
        key = remote or ""
        bucket = self._handshake_buckets.get(key)
        if bucket is None:
            if len(self._handshake_buckets) > 100_000:  # bound the memory an address scan can take
                self._handshake_buckets.clear()
            bucket = self._handshake_buckets[key] = TokenBucket(self.limits.handshakes_per_second,
                                                                self.limits.handshake_burst)
        return bucket.take()

    @staticmethod
    def _select_subprotocol(connection: ServerConnection,
                            subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        for offered in subprotocols:
            if offered in SUBPROTOCOLS:
                return offered
        return None
