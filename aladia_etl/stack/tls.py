"""Certificates for the secured local stack: one CA, and server certificates it signs for the configured host (an
IP address or a DNS name, nothing else — so a client that connects by another name is refused, as it should be)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAYS = 825  # the longest validity clients accept for a server certificate


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key (PEM)."""

    cert_pem: bytes
    key_pem: bytes  # PKCS#8, unencrypted: written only to private files

    def pkcs12(self, password: str, ca: Issued) -> bytes:
        """The key, its certificate and the CA as a PKCS#12 keystore (what a Java server reads)."""
        key = _load_key(self.key_pem)
        cert = x509.load_pem_x509_certificate(self.cert_pem)
        chain = [x509.load_pem_x509_certificate(ca.cert_pem)]
        return pkcs12.serialize_key_and_certificates(
            b"server", key, cert, chain, serialization.BestAvailableEncryption(password.encode())
        )


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _load_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """A private key aladia wrote (_pem): always an elliptic-curve key."""
    key = serialization.load_pem_private_key(pem, None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"expected an elliptic-curve private key, got {type(key).__name__}")
    return key


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _subject_alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def new_ca(common_name: str = "aladia local CA", now: dt.datetime | None = None) -> Issued:
    now = now or dt.datetime.now(dt.UTC)
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _pem(key))


def issue(
    ca: Issued,
    host: str,
    common_name: str,
    *,
    client: bool = False,
    also_client: bool = False,
    not_before: dt.datetime | None = None,
    days: int = DAYS,
) -> Issued:
    """A certificate signed by `ca` for `host` (server) or for a client named `common_name`; `also_client`: a server
    certificate its server may also present as a client (a Kafka broker to its own controller listener)."""
    ca_key = _load_key(ca.key_pem)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH]
                if client
                else [ExtendedKeyUsageOID.SERVER_AUTH, *([ExtendedKeyUsageOID.CLIENT_AUTH] if also_client else [])]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),  # the CA certificate's key
            critical=False,
        )
    )
    if not client:
        builder = builder.add_extension(x509.SubjectAlternativeName([_subject_alt_name(host)]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _pem(key))
