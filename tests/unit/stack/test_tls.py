"""The secured stack's certificates, checked by real TLS handshakes (Python's ssl over a loopback socket): a server
certificate verifies for its own host only and only against its CA; a PKCS#12 keystore holds the key, the
certificate and the CA under its password."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from aladia_etl.stack import tls


@pytest.fixture(scope="module")
def ca():
    return tls.new_ca()


def handshake(tmp_path, server: tls.Issued, trusted: tls.Issued, server_hostname: str) -> None:
    """One TLS handshake: a server presenting `server`, a client trusting `trusted` and checking `server_hostname`.
    Raises the client's ssl error when it refuses."""
    (tmp_path / "s.pem").write_bytes(server.cert_pem)
    (tmp_path / "s.key").write_bytes(server.key_pem)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "s.pem", tmp_path / "s.key")
    client_ctx = ssl.create_default_context(cadata=trusted.cert_pem.decode())
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls_conn:
                tls_conn.sendall(b"ok")
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client_ctx.wrap_socket(raw, server_hostname=server_hostname) as conn,
        ):
            assert conn.recv(2) == b"ok"
    finally:
        thread.join(10)
        listener.close()


def test_a_server_certificate_verifies_for_its_ip_address(tmp_path, ca):
    handshake(tmp_path, tls.issue(ca, "127.0.0.1", "kafka"), ca, "127.0.0.1")


def test_a_server_certificate_verifies_for_its_dns_name(tmp_path, ca):
    handshake(tmp_path, tls.issue(ca, "localhost", "kafka"), ca, "localhost")


def test_another_name_for_the_same_host_is_refused(tmp_path, ca):
    with pytest.raises(ssl.SSLCertVerificationError, match=r"match|mismatch"):
        handshake(tmp_path, tls.issue(ca, "127.0.0.1", "kafka"), ca, "localhost")


def test_a_client_trusting_another_ca_refuses_it(tmp_path, ca):
    with pytest.raises(ssl.SSLCertVerificationError, match=r"unable to get local issuer|self.signed|verify failed"):
        handshake(tmp_path, tls.issue(ca, "127.0.0.1", "kafka"), tls.new_ca("someone else"), "127.0.0.1")


def test_an_expired_certificate_is_refused(tmp_path, ca):
    old = tls.issue(ca, "127.0.0.1", "kafka", not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=10), days=1)
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        handshake(tmp_path, old, ca, "127.0.0.1")


def test_a_client_certificate_names_its_client_and_no_host(ca):
    cert = x509.load_pem_x509_certificate(tls.issue(ca, "127.0.0.1", "aladia", client=True).cert_pem)
    assert cert.subject.rfc4514_string() == "CN=aladia"
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]


def test_the_pkcs12_keystore_holds_key_certificate_and_ca_under_its_password(ca):
    server = tls.issue(ca, "127.0.0.1", "kafka")
    blob = server.pkcs12("keystore-pass", ca)
    with pytest.raises(ValueError, match="Invalid password"):
        pkcs12.load_key_and_certificates(blob, b"wrong")
    key, cert, chain = pkcs12.load_key_and_certificates(blob, b"keystore-pass")
    assert key is not None and cert is not None
    assert cert.public_bytes(Encoding.PEM) == server.cert_pem
    assert [c.subject for c in chain] == [x509.load_pem_x509_certificate(ca.cert_pem).subject]
