"""The bounded TLS check before any TLS client is built: a plaintext listener that never answers the handshake
(as the embedded broker does; kafka-python would wait forever) fails fast and clearly; a TLS listener passes."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from peerscore.kafka_connect import TlsListenerError, connect_options
from peerscore.settings import KafkaSettings


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _serve(listener: socket.socket, answer: bool, context: ssl.SSLContext | None) -> None:
    """Accept one connection; with ``answer`` complete the TLS handshake, else say nothing until closed."""
    with listener:
        conn, _ = listener.accept()
    with conn:
        if answer and context is not None:
            with context.wrap_socket(conn, server_side=True):
                return
        conn.settimeout(10)
        try:
            conn.recv(65536)
            conn.recv(65536)  # a plaintext Kafka listener waits for the rest of the "request"
        except OSError:
            pass


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(10)
    yield sock
    sock.close()


def _settings(sock: socket.socket) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=f"127.0.0.1:{sock.getsockname()[1]}", security_protocol="SSL")


def test_a_silent_plaintext_listener_fails_fast_with_the_reason(listener: socket.socket) -> None:
    settings = _settings(listener)
    threading.Thread(target=_serve, args=(listener, False, None), daemon=True).start()
    started = time.monotonic()
    with pytest.raises(TlsListenerError, match="plaintext listener"):
        connect_options(settings, handshake_timeout_s=1)
    assert time.monotonic() - started < 5


def test_a_tls_listener_passes(listener: socket.socket, tmp_path: Path) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_self_signed(tmp_path))
    settings = _settings(listener)
    threading.Thread(target=_serve, args=(listener, True, context), daemon=True).start()
    assert connect_options(settings, handshake_timeout_s=5) == settings.client_options()


def test_unreachable_brokers_and_plaintext_settings_are_left_to_the_client() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    closed = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}", security_protocol="SASL_SSL",
                           sasl_username="u", sasl_password="p")  # fmt: skip
    assert connect_options(closed, handshake_timeout_s=1)["security_protocol"] == "SASL_SSL"
    plain = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")
    assert connect_options(plain) == {"bootstrap_servers": f"127.0.0.1:{port}", "security_protocol": "PLAINTEXT"}
