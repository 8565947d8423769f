"""Charger authentication (security profiles 1-3) and hostile-input limits, over real sockets."""

import asyncio
import base64
import datetime
import json
import ssl
from pathlib import Path

import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pgcsms.proxy.server import CentralSystem, Limits
from pgcsms.proxy.tls import server_context
from websockets.exceptions import InvalidStatus

PASSWORD = "correct-horse-battery-staple"


def basic(identity: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{identity}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_profile_1_right_password_connects_wrong_gets_401(db, raw, central):
    await db.execute("SELECT ocpp.add_charge_point('CP-P1')")
    await db.execute("SELECT ocpp.set_password('CP-P1', $1)", PASSWORD)
    async with raw("CP-P1", additional_headers=basic("CP-P1", PASSWORD)) as ws:
        await ws.send('[2, "h", "Heartbeat", {}]')
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))[0] == 3
    for headers in (basic("CP-P1", "wrong-password-of-some-length"), {}, basic("CP-OTHER", PASSWORD),
                    {"Authorization": "Basic !!notbase64"}, {"Authorization": "Bearer abc"}):
        with pytest.raises(InvalidStatus) as refused:
            async with raw("CP-P1", additional_headers=headers):
                pass
        assert refused.value.response.status_code == 401
        assert refused.value.response.headers["WWW-Authenticate"].startswith("Basic")
    # The attempts are logged, never with the password.
    logged = await db.fetch("SELECT * FROM ocpp.auth_failures WHERE charge_point_id = 'CP-P1'")
    assert len(logged) == 5
    assert all(PASSWORD not in json.dumps(dict(r), default=str) for r in logged)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1, and client certificates for two identities."""
    folder = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def write(name: str, cert: x509.Certificate, private: ec.EllipticCurvePrivateKey) -> None:
        (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / f"{name}.key").write_bytes(private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pgcsms test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    write("ca", ca, ca_key)

    def issue(name: str, common_name: str, server: bool) -> None:
        private = key()
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                   .issuer_name(ca_name).public_key(private.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1)))
        if server:
            import ipaddress
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        write(name, builder.sign(ca_key, hashes.SHA256()), private)

    issue("server", "127.0.0.1", server=True)
    issue("cp-m", "CP-M", server=False)
    issue("cp-other", "CP-OTHER", server=False)
    return {name: folder / name for name in ("ca", "server", "cp-m", "cp-other")}


@pytest.fixture
async def central_tls(dsn, pki):
    context = server_context(str(pki["server"]) + ".pem", str(pki["server"]) + ".key", str(pki["ca"]) + ".pem")
    server = CentralSystem(dsn, host="127.0.0.1", port=0, node_id="tls-node", pool_size=2, ssl=context)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def client_context(pki, identity_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki["ca"]) + ".pem")
    if identity_file is not None:
        context.load_cert_chain(str(pki[identity_file]) + ".pem", str(pki[identity_file]) + ".key")
    return context


async def heartbeat(ws) -> list:
    await ws.send('[2, "h", "Heartbeat", {}]')
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def test_profile_2_tls_with_password(db, central_tls, pki, raw):
    await db.execute("SELECT ocpp.add_charge_point('CP-T')")
    await db.execute("SELECT ocpp.set_password('CP-T', $1)", PASSWORD)
    await db.execute("SELECT ocpp.set_security_profile('CP-T', 2)")
    url = f"wss://127.0.0.1:{central_tls.port}/ocpp/CP-T"
    async with websockets.connect(url, ssl=client_context(pki, None), subprotocols=["ocpp1.6"],
                                  additional_headers=basic("CP-T", PASSWORD), open_timeout=5) as ws:
        assert (await heartbeat(ws))[0] == 3
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(url, ssl=client_context(pki, None), subprotocols=["ocpp1.6"],
                                      additional_headers=basic("CP-T", "not-the-password-at-all"), open_timeout=5):
            pass
    assert refused.value.response.status_code == 401


async def test_profile_2_refused_on_plain_websocket(db, raw):
    await db.execute("SELECT ocpp.add_charge_point('CP-T2')")
    await db.execute("SELECT ocpp.set_password('CP-T2', $1)", PASSWORD)
    await db.execute("SELECT ocpp.set_security_profile('CP-T2', 2)")
    with pytest.raises(InvalidStatus) as refused:
        async with raw("CP-T2", additional_headers=basic("CP-T2", PASSWORD)):
            pass
    assert refused.value.response.status_code == 403


async def test_profile_3_client_certificate_must_name_the_charger(db, central_tls, pki):
    await db.execute("SELECT ocpp.add_charge_point('CP-M')")
    await db.execute("SELECT ocpp.set_security_profile('CP-M', 3)")
    url = f"wss://127.0.0.1:{central_tls.port}/ocpp/CP-M"
    async with websockets.connect(url, ssl=client_context(pki, "cp-m"), subprotocols=["ocpp1.6"],
                                  open_timeout=5) as ws:
        assert (await heartbeat(ws))[0] == 3
    for identity_file in ("cp-other", None):
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(url, ssl=client_context(pki, identity_file), subprotocols=["ocpp1.6"],
                                          open_timeout=5):
                pass
        assert refused.value.response.status_code == 403


@pytest.fixture
async def strict(dsn):
    limits = Limits(messages_per_second=1, message_burst=5, handshakes_per_second=0.1, handshake_burst=3,
                    max_nesting=6)
    server = CentralSystem(dsn, host="127.0.0.1", port=0, node_id="strict", pool_size=2, limits=limits)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


async def test_message_flood_closes_with_1008(db, strict):
    await db.execute("SELECT ocpp.add_charge_point('CP-FLOOD')")
    async with websockets.connect(f"ws://127.0.0.1:{strict.port}/ocpp/CP-FLOOD", subprotocols=["ocpp1.6"]) as ws:
        for n in range(20):
            try:
                await ws.send(f'[2, "f{n}", "Heartbeat", {{}}]')
            except websockets.ConnectionClosed:
                break
        await asyncio.wait_for(ws.wait_closed(), 5)
    assert ws.close_code == 1008


async def test_handshake_flood_gets_429(db, strict):
    await db.execute("SELECT ocpp.add_charge_point('CP-HS')")
    statuses = []
    for _ in range(6):
        try:
            async with websockets.connect(f"ws://127.0.0.1:{strict.port}/ocpp/CP-HS", subprotocols=["ocpp1.6"]):
                statuses.append(101)
        except InvalidStatus as refused:
            statuses.append(refused.value.response.status_code if hasattr(refused, "value")
                            else refused.response.status_code)
    assert statuses[:3] == [101, 101, 101]
    assert 429 in statuses[3:]


async def test_deep_nesting_is_a_formation_violation(db, strict):
    await db.execute("SELECT ocpp.add_charge_point('CP-DEEP')")
    async with websockets.connect(f"ws://127.0.0.1:{strict.port}/ocpp/CP-DEEP", subprotocols=["ocpp1.6"]) as ws:
        deep = "[" * 10 + "]" * 10
        await ws.send(f'[2, "d", "DataTransfer", {{"vendorId": "V", "data": {deep}}}]')
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert reply[:3] == [4, "d", "FormationViolation"]


async def test_authorization_key_rotation_keeps_the_key_out_of_sight(db, raw, events):
    """An AuthorizationKey the charger accepts becomes its password; no view or journal shows it."""
    new_key = "0123456789abcdef0123456789abcdef01234567"
    await db.execute("SELECT ocpp.add_charge_point('CP-KEY')")
    await db.execute("SELECT ocpp.set_password('CP-KEY', $1)", PASSWORD)
    async with raw("CP-KEY", additional_headers=basic("CP-KEY", PASSWORD)) as ws:
        command_id = await db.fetchval("SELECT ocpp.change_configuration('CP-KEY', 'AuthorizationKey', $1)", new_key)
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame[2:] == ["ChangeConfiguration", {"key": "AuthorizationKey", "value": new_key}]
        await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        await events.command(command_id)
    assert await db.fetchval("SELECT status FROM ocpp.commands WHERE id = $1", command_id) == "accepted"
    # The new key opens the door, the old one no longer does.
    async with raw("CP-KEY", additional_headers=basic("CP-KEY", new_key)) as ws:
        assert (await heartbeat(ws))[0] == 3
    with pytest.raises(InvalidStatus):
        async with raw("CP-KEY", additional_headers=basic("CP-KEY", PASSWORD)):
            pass
    everything = await db.fetchval(
        "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM ocpp.commands) AS t")
    everything += await db.fetchval(
        "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM ocpp.message_log) AS t")
    everything += await db.fetchval(
        "SELECT coalesce(string_agg(t::text, ' '), '') FROM (SELECT * FROM ocpp.charger_configuration) AS t")
    assert new_key not in everything and new_key.upper() not in everything
    assert await db.fetchval("SELECT secret_payload FROM pgcsms.commands WHERE id = $1", command_id) is None


async def test_an_authorization_key_we_could_not_store_is_refused_before_sending(db):
    await db.execute("SELECT ocpp.add_charge_point('CP-SHORT')")
    with pytest.raises(Exception, match="at least 16 characters"):
        await db.execute("SELECT ocpp.change_configuration('CP-SHORT', 'AuthorizationKey', 'short')")


async def test_a_handshake_that_never_comes_is_dropped(dsn):
    server = CentralSystem(dsn, port=0, node_id="slow", limits=Limits(handshake_timeout=0.5))
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            # Say nothing: the server must not hold the socket open for us.
            assert await asyncio.wait_for(reader.read(), 5) == b""
        finally:
            writer.close()
    finally:
        await server.close()
