"""KAFKA_* security settings and their one mapping to kafka-python, for every client the code builds (no broker)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from pydantic import SecretStr, ValidationError

import peerscore.crm_sync.replay as crm_replay
import peerscore.kafka_connect as kafka_connect
import peerscore.kafka_io as kafka_io
import peerscore.scoring.rulesets.watcher as watcher
import peerscore.topics as topics_module
from peerscore.settings import KafkaSettings
from peerscore.topics import ensure_topics


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for path in files.values():
        path.write_text("-----BEGIN CERTIFICATE-----\n")
    return files


@pytest.fixture
def sasl_ssl(tls_files: dict[str, Path]) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers="kafka-0.example:9093,kafka-1.example:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="peerscore",
        sasl_password=SecretStr("s3cret-pw"),
        ssl_cafile=tls_files["ca"],
        ssl_certfile=tls_files["cert"],
        ssl_keyfile=tls_files["key"],
        ssl_password=SecretStr("key-pw"),
    )


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    assert KafkaSettings(bootstrap_servers="b:9092").client_options() == {
        "bootstrap_servers": "b:9092",
        "security_protocol": "PLAINTEXT",
    }


def test_sasl_ssl_maps_to_kafka_python_arguments(sasl_ssl: KafkaSettings, tls_files: dict[str, Path]) -> None:
    assert sasl_ssl.client_options() == {
        "bootstrap_servers": "kafka-0.example:9093,kafka-1.example:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "peerscore",
        "sasl_plain_password": "s3cret-pw",
        "ssl_check_hostname": True,
        "ssl_cafile": str(tls_files["ca"]),
        "ssl_certfile": str(tls_files["cert"]),
        "ssl_keyfile": str(tls_files["key"]),
        "ssl_password": "key-pw",
    }
    assert "s3cret-pw" not in repr(sasl_ssl) and "key-pw" not in repr(sasl_ssl)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext_sends_no_tls_options(mechanism: str) -> None:
    options = KafkaSettings(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism, sasl_username="u", sasl_password=SecretStr("p")
    ).client_options()
    assert options["sasl_mechanism"] == mechanism
    assert not any(key.startswith("ssl_") for key in options)


def test_ssl_without_files_uses_system_cas_and_checks_hostnames() -> None:
    options = KafkaSettings(security_protocol="SSL").client_options()
    assert options["security_protocol"] == "SSL" and options["ssl_check_hostname"] is True
    assert options["ssl_cafile"] is None and options["ssl_certfile"] is None
    assert not any(key.startswith("sasl_") for key in options)


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tls_files: dict[str, Path]) -> None:
    env = {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "KAFKA_SASL_USERNAME": "svc",
        "KAFKA_SASL_PASSWORD": "from-env",
        "KAFKA_SSL_CAFILE": str(tls_files["ca"]),
        "KAFKA_SSL_CHECK_HOSTNAME": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    options = KafkaSettings().client_options()
    assert options["sasl_mechanism"] == "SCRAM-SHA-256" and options["sasl_plain_password"] == "from-env"
    assert options["ssl_cafile"] == str(tls_files["ca"]) and options["ssl_check_hostname"] is False


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"security_protocol": "SASL_SSL", "sasl_username": "u"}, "needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
        ({"security_protocol": "SASL_PLAINTEXT", "sasl_password": SecretStr("p")}, "needs KAFKA_SASL_USERNAME"),
        ({"sasl_username": "u", "sasl_password": SecretStr("p")}, "PLAINTEXT would not use them"),
        ({"security_protocol": "SSL", "sasl_username": "u", "sasl_password": SecretStr("p")}, "would not use them"),
        ({"security_protocol": "SSL", "ssl_cafile": Path("/nonexistent/ca.pem")}, "KAFKA_SSL_CAFILE: no readable"),
        ({"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u", "sasl_password": SecretStr("p"),
          "ssl_cafile": Path(__file__)}, "does not use TLS"),
        ({"security_protocol": "SSL", "ssl_keyfile": Path(__file__)}, "needs KAFKA_SSL_CERTFILE"),
        ({"security_protocol": "TLS"}, "security_protocol"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI", "sasl_username": "u",
          "sasl_password": SecretStr("p")}, "sasl_mechanism"),
    ],
)  # fmt: skip
def test_incoherent_security_is_refused_at_start(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KafkaSettings(**fields)


def test_every_mapped_option_is_a_kafka_python_argument_of_every_client(sasl_ssl: KafkaSettings) -> None:
    for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
        unknown = set(sasl_ssl.client_options()) - set(client.DEFAULT_CONFIG)
        assert not unknown, f"{client.__name__} has no {unknown}"


class _Recorder:
    """Stands in for a kafka-python client class: remembers the keyword arguments of each construction."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> _Recorder:
        self.calls.append(kwargs)
        return self

    def list_topics(self) -> list[str]:
        return []

    def create_topics(self, new_topics: list[Any]) -> None: ...

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set()

    def assign(self, partitions: list[Any]) -> None: ...

    def seek_to_beginning(self) -> None: ...

    def poll(self, timeout_ms: int) -> dict[Any, Any]:
        return {}

    def close(self, *args: Any, **kwargs: Any) -> None: ...


def test_every_client_the_code_builds_uses_the_mapping(
    monkeypatch: pytest.MonkeyPatch, sasl_ssl: KafkaSettings
) -> None:
    probed: list[str] = []
    monkeypatch.setattr(kafka_connect, "require_tls_listener", lambda servers, timeout: probed.append(servers))
    recorder = _Recorder()
    for module, name in [
        (kafka_io, "KafkaProducer"),
        (kafka_io, "KafkaConsumer"),  # the group consumer, the rules watcher and the DLQ replay (make_reader)
        (topics_module, "KafkaAdminClient"),
    ]:
        monkeypatch.setattr(module, name, recorder)
    kafka_io.make_producer(sasl_ssl)
    kafka_io.make_consumer(sasl_ssl, "group")
    watcher.make_rules_consumer(sasl_ssl)
    crm_replay.read_dead_letters(sasl_ssl, idle_s=0, timeout_s=0)
    ensure_topics(sasl_ssl)
    assert len(recorder.calls) == 5
    assert probed == [sasl_ssl.bootstrap_servers] * 5, "each TLS client first checks the listener speaks TLS"
    expected = sasl_ssl.client_options()
    for kwargs in recorder.calls:
        assert {k: kwargs.get(k) for k in expected} == expected


def _first_bytes_sent(settings: KafkaSettings) -> bytes:
    """What a real kafka-python client sends first to a listener that reads, hangs up and goes away (so the
    client's retries are refused and its bootstrap deadline ends the attempt)."""
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]

    def accept_once() -> None:
        with listener:
            conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            received.append(conn.recv(4096))

    thread = threading.Thread(target=accept_once, daemon=True)
    thread.start()
    options = settings.model_copy(update={"bootstrap_servers": f"127.0.0.1:{port}"}).client_options()
    with pytest.raises(KafkaError):  # nobody there speaks Kafka
        KafkaProducer(**options, client_id="wire-probe-client", bootstrap_timeout_ms=1500).close(0)
    thread.join(10)
    return received[0]


def test_tls_settings_never_put_a_kafka_request_on_the_wire_in_clear(sasl_ssl: KafkaSettings) -> None:
    in_clear = _first_bytes_sent(KafkaSettings())
    assert b"wire-probe-client" in in_clear  # plaintext: the request header (client id) is readable on the wire
    for settings in (sasl_ssl.model_copy(update={"ssl_cafile": None, "ssl_certfile": None, "ssl_keyfile": None}),
                     KafkaSettings(security_protocol="SSL")):  # fmt: skip
        first = _first_bytes_sent(settings)
        assert first[:2] == b"\x16\x03", "the first bytes are not a TLS handshake record"
        assert b"wire-probe-client" not in first
