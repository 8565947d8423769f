"""The TLS 1.2 suites OCPP 2.0.1 requires of a CSMS, with an ECDSA and an RSA certificate served side by side."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pgcsms.proxy.server import CentralSystem
from pgcsms.proxy.tls import server_context

REQUIRED_SUITES = [  # OCPP 2.0.1 A00.FR.318/319, in OpenSSL's names
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A self-signed ECDSA and a self-signed RSA certificate for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("suites")
    now = datetime.datetime.now(datetime.UTC)
    paths = {}
    for kind, private in (("ecdsa", ec.generate_private_key(ec.SECP256R1())),
                          ("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048))):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"pgcsms {kind}")])
        certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                       .public_key(private.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now - datetime.timedelta(days=1))
                       .not_valid_after(now + datetime.timedelta(days=1))
                       .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                      critical=False)
                       .sign(private, hashes.SHA256()))
        (folder / f"{kind}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (folder / f"{kind}.key").write_bytes(private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        paths[kind] = (str(folder / f"{kind}.pem"), str(folder / f"{kind}.key"))
    return paths


@pytest.fixture
async def central_both(dsn, certificates):
    context = server_context(*certificates["ecdsa"], more_certificates=[certificates["rsa"]])
    server = CentralSystem(dsn, host="127.0.0.1", port=0, node_id="suites", pool_size=2, ssl=context)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.mark.parametrize("suite", REQUIRED_SUITES)
async def test_each_required_suite_is_served(central_both, certificates, suite):
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.maximum_version = ssl.TLSVersion.TLSv1_2  # the suites are TLS 1.2's; 1.3 negotiates its own
    client.set_ciphers(suite)
    kind = "ecdsa" if "ECDSA" in suite else "rsa"
    client.load_verify_locations(certificates[kind][0])
    _, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", central_both.port, ssl=client, server_hostname="127.0.0.1"), 10)
    try:
        assert writer.get_extra_info("cipher")[0] == suite
    finally:
        writer.close()
        await writer.wait_closed()
