"""The charge point identity read from the WebSocket request path."""

from __future__ import annotations

import pytest
from pgcsms.proxy.server import identity_from_path


@pytest.mark.parametrize(("path", "identity"), [
    ("/ocpp/CP-1", "CP-1"),
    ("/ocpp/CP-1/", "CP-1"),
    ("/ocpp/CP-1?token=x", "CP-1"),
    ("/ocpp/CP%201", "CP 1"),
    ("/ocpp/%C3%A9t%C3%A9", "été"),
    ("/ocpp/site-a/CP-1", "CP-1"),
    ("/ocpp/" + "x" * 48, "x" * 48),
    ("/ocpp/" + "%41" * 48, "A" * 48),
])
def test_identity(path, identity):
    assert identity_from_path(path) == identity


@pytest.mark.parametrize("path", [
    "/", "/ocpp", "/ocpp/", "/ocpp//", "/ocpp/?x=1", "/other/CP-1", "/OCPP/CP-1", "CP-1",
    "/ocpp/" + "x" * 49, "/ocpp/CP%0A1", "/ocpp/CP%001", "/ocpp/CP%7F", "/ocpp/%09",
])
def test_no_identity(path):
    assert identity_from_path(path) is None


def test_undecodable_percent_escapes_are_refused():
    # The server treats UnicodeDecodeError like None: 400 Bad Request.
    try:
        identity = identity_from_path("/ocpp/CP%FF")
    except UnicodeDecodeError:
        identity = None
    assert identity is None
