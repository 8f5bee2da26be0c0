"""The options every Kafka client is built with, after a bounded check that a TLS listener really speaks TLS.

kafka-python 3.0.12 waits forever for the TLS handshake of a listener that never answers it — a plaintext port
reads the ClientHello as the start of a huge request and waits for the rest — and its bootstrap timeout does not
cover that wait. A pod configured for TLS against a plaintext port would hang at start without a word. One
handshake, bounded by a socket timeout, turns that into a clear error. Anything else (unreachable brokers, refused
certificates) is left to the client, which reports it within its own timeouts.
"""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peerscore.settings import KafkaSettings


class TlsListenerError(RuntimeError):
    """Every bootstrap server that accepted a connection left the TLS handshake unanswered."""


def connect_options(settings: KafkaSettings, *, handshake_timeout_s: float | None = None) -> dict[str, Any]:
    """``settings.client_options()``, once a TLS configuration was seen to reach a TLS listener (waiting up to
    ``KAFKA_TLS_HANDSHAKE_TIMEOUT_MS`` unless told otherwise)."""
    if settings.security_protocol.endswith("SSL"):
        timeout_s = settings.tls_handshake_timeout_ms / 1000 if handshake_timeout_s is None else handshake_timeout_s
        require_tls_listener(settings.bootstrap_servers, timeout_s)
    return settings.client_options()


def require_tls_listener(bootstrap_servers: str, timeout_s: float) -> None:
    """Raise if no bootstrap server completes a TLS handshake and at least one accepted the connection and then
    stayed silent. Closed connections, refusals and certificate errors end quickly in the client too."""
    silent: list[str] = []
    for server in (s.strip() for s in bootstrap_servers.split(",") if s.strip()):
        verdict = _handshake(server, timeout_s)
        if verdict == "tls":
            return
        if verdict == "silent":
            silent.append(server)
    if silent:
        raise TlsListenerError(
            f"no TLS handshake from {', '.join(silent)} within {timeout_s:g}s: is KAFKA_SECURITY_PROTOCOL (SSL or "
            "SASL_SSL) pointed at a plaintext listener? Use the brokers' TLS port or a protocol without TLS."
        )


def _handshake(server: str, timeout_s: float) -> str:
    """``tls`` (handshake done), ``silent`` (connected, then no answer in time) or ``other`` (unreachable,
    closed, refused: for the client to report)."""
    host, _, port = server.rpartition(":")
    host = host.strip("[]")
    context = ssl.create_default_context()
    context.check_hostname = False  # only "does it speak TLS": verification stays with the client's own settings
    context.verify_mode = ssl.CERT_NONE
    try:
        raw = socket.create_connection((host, int(port)), timeout=timeout_s)
    except (OSError, ValueError):
        return "other"
    try:
        with context.wrap_socket(raw, server_hostname=host or None):
            return "tls"
    except TimeoutError:
        return "silent"
    except OSError:  # ssl.SSLError included
        return "other"
    finally:
        raw.close()
