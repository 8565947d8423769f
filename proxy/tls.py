"""TLS for OCPP security profiles 2 and 3.

Profile 2: the server presents its certificate (TLS 1.2 or newer) and the
charger authenticates with HTTP Basic. Profile 3: the charger also presents a
certificate that must chain to the configured CA; the database then checks
that its subject CN is the charger's identity.
"""

from __future__ import annotations

import ssl
from typing import Any

__all__ = ["peer_common_name", "server_context"]


def server_context(certificate: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    """A server context: TLS 1.2+, the default (modern) ciphers, client certificates if a CA is given.

    Client certificates are optional at the TLS layer, so profile-2 chargers
    without one can connect; a certificate that is presented must verify.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, key)
    if client_ca is not None:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def peer_common_name(transport: Any) -> str | None:
    """The subject CN of the verified client certificate on this transport, if any."""
    if transport is None:
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    certificate = ssl_object.getpeercert()
    if not certificate:
        return None
    for relative_name in certificate.get("subject", ()):
        for key, value in relative_name:
            if key == "commonName":
                return str(value)
    return None
