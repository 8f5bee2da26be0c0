"""KAFKA_* security settings mapped to librdkafka's names for the confluent client (no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

import peerscore.kafka_confluent as kafka_confluent
from peerscore.settings import KafkaSettings


def _without_callbacks(options: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in options.items() if not callable(v)}


def test_plaintext_maps_to_the_cluster_and_client_id_only() -> None:
    options = kafka_confluent.librdkafka_options(KafkaSettings(bootstrap_servers="b:9092", client_id="ps"), "worker")
    assert _without_callbacks(options) == {
        "bootstrap.servers": "b:9092",
        "client.id": "ps-worker",
        "security.protocol": "PLAINTEXT",
    }


def test_sasl_ssl_maps_every_setting_and_checks_the_listener_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for path in files.values():
        path.write_text("-----BEGIN CERTIFICATE-----\n")
    probed: list[str] = []
    monkeypatch.setattr(kafka_confluent, "require_tls_listener", lambda servers, timeout: probed.append(servers))
    settings = KafkaSettings(
        bootstrap_servers="kafka-0.example:9093",
        client_id="ps",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="peerscore",
        sasl_password=SecretStr("s3cret-pw"),
        ssl_cafile=files["ca"],
        ssl_certfile=files["cert"],
        ssl_keyfile=files["key"],
        ssl_password=SecretStr("key-pw"),
    )
    assert _without_callbacks(kafka_confluent.librdkafka_options(settings, "worker")) == {
        "bootstrap.servers": "kafka-0.example:9093",
        "client.id": "ps-worker",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "peerscore",
        "sasl.password": "s3cret-pw",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": str(files["ca"]),
        "ssl.certificate.location": str(files["cert"]),
        "ssl.key.location": str(files["key"]),
        "ssl.key.password": "key-pw",
    }
    assert probed == ["kafka-0.example:9093"]


def test_tls_without_a_ca_file_uses_the_system_cas_and_hostname_checks_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kafka_confluent, "require_tls_listener", lambda servers, timeout: None)
    options = kafka_confluent.librdkafka_options(KafkaSettings(security_protocol="SSL", ssl_check_hostname=False), "x")
    assert options["ssl.ca.location"] == "probe"
    assert options["ssl.endpoint.identification.algorithm"] == "none"


def test_the_client_is_chosen_by_kafka_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_CLIENT", "confluent")
    assert KafkaSettings().client == "confluent"
    assert KafkaSettings(client="kafka-python").client == "kafka-python"


def test_confluent_without_the_extra_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "confluent_kafka" else real(name))
    with pytest.raises(ValueError, match=r"peerscore-shared\[confluent\]"):
        KafkaSettings(client="confluent")
    assert KafkaSettings().client == "kafka-python"
