"""TLS for OCPP security profiles 2 and 3.

Profile 2: the server presents its certificate (TLS 1.2 or newer) and the
charger authenticates with HTTP Basic. Profile 3: the charger also presents a
certificate that must chain to the configured CA; the database then checks
that its subject CN is the charger's identity.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Any

__all__ = ["TLS12_CIPHERS", "peer_common_name", "server_context"]


# OCPP 2.0.1 A00.FR.318/319: a CSMS supports these four suites (TLS 1.2),
# ECDSA and RSA certificates alike; the 1.6 Security Whitepaper adds plain
# RSA key exchange with AES-GCM for older chargers, offered last. TLS 1.3
# suites are OpenSSL's defaults.
TLS12_CIPHERS = ":".join([
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256", "AES256-GCM-SHA384",
])


def server_context(certificate: str, key: str, client_ca: str | None = None, *,
                   more_certificates: Sequence[tuple[str, str]] = ()) -> ssl.SSLContext:
    """A server context: TLS 1.2+, the suites OCPP requires, client certificates if a CA is given.

    ``more_certificates`` are further (certificate chain, key) pairs of other
    key types: with an ECDSA and an RSA certificate, each client gets the one
    its suites can use. Client certificates are optional at the TLS layer, so
    profile-2 chargers without one can connect; a certificate that is
    presented must verify.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    # TLS compression is off in OpenSSL builds by default; A00.FR.321 forbids it, so say so.
    context.options |= ssl.OP_NO_COMPRESSION
    for chain, private_key in ((certificate, key), *more_certificates):
        context.load_cert_chain(chain, private_key)
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
