"""Kafka SASL/TLS and retention through the chart: every pod gets credentials from a Secret and TLS files mounted
from a Secret, KEDA authenticates the same way, and plaintext installs render none of it."""

from __future__ import annotations

from typing import Any

import helm_python
import pytest

from peerscore.settings import KafkaSettings
from peerscore.topics import DAY_MS

from .support import SERVICES, container, container_env, find, one, render, rendered, scenario_values, secret_data

SECURED = "kafka-sasl-ssl"
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}


def _mounted_files(docs: list[dict[str, Any]], service_index: int) -> dict[str, str]:
    """Absolute path in the container -> content, for every file mounted from a chart-made Secret."""
    spec = one(docs, "Deployment", SERVICES[service_index].deployment)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    files: dict[str, str] = {}
    for mount in container(docs, SERVICES[service_index])["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        data = secret_data(docs, secret["secretName"]) or {}
        for item in secret["items"]:
            files[f"{mount['mountPath']}/{item['path']}"] = data[item["key"]]
    return files


@pytest.mark.parametrize("index", range(len(SERVICES)), ids=[s.component for s in SERVICES])
def test_every_service_connects_with_sasl_over_tls_from_secrets(index: int) -> None:
    docs = rendered(SECURED)
    values = scenario_values(SECURED)
    env = container_env(docs, SERVICES[index])
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    for name in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_PASSWORD"):
        assert env[name] == values["secrets"]["values"][name]
    files = _mounted_files(docs, index)
    tls = values["kafka"]["tls"]
    assert files[env["KAFKA_SSL_CAFILE"]] == tls["ca"]
    assert files[env["KAFKA_SSL_CERTFILE"]] == tls["cert"]
    assert files[env["KAFKA_SSL_KEYFILE"]] == tls["key"]


def test_keda_authenticates_like_the_services() -> None:
    docs = rendered(SECURED)
    values = scenario_values(SECURED)
    (auth,) = find(docs, "TriggerAuthentication")
    for scaled in find(docs, "ScaledObject"):
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
        assert trigger["metadata"]["sasl"] == KEDA_SASL[values["kafka"]["saslMechanism"]]
        assert trigger["metadata"]["tls"] == "enable"
    resolved = {}
    for ref in auth["spec"]["secretTargetRef"]:
        data = secret_data(docs, ref["name"])
        assert data is not None and ref["key"] in data, ref
        resolved[ref["parameter"]] = data[ref["key"]]
    secrets, tls = values["secrets"]["values"], values["kafka"]["tls"]
    assert resolved == {
        "username": secrets["KAFKA_SASL_USERNAME"],
        "password": secrets["KAFKA_SASL_PASSWORD"],
        "ca": tls["ca"],
        "cert": tls["cert"],
        "key": tls["key"],
        "keyPassword": secrets["KAFKA_SSL_PASSWORD"],
    }


@pytest.mark.parametrize("mechanism", sorted(KEDA_SASL))
def test_sasl_without_tls_sends_no_tls_anywhere(mechanism: str) -> None:
    values = scenario_values("autoscaling")
    values["kafka"] |= {"securityProtocol": "SASL_PLAINTEXT", "saslMechanism": mechanism}
    values["secrets"]["values"] |= {"KAFKA_SASL_USERNAME": "svc-a", "KAFKA_SASL_PASSWORD": "pw-b"}
    docs = render(values)
    (auth,) = find(docs, "TriggerAuthentication")
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {"username", "password"}
    for scaled in find(docs, "ScaledObject"):
        metadata = scaled["spec"]["triggers"][0]["metadata"]
        assert metadata["sasl"] == KEDA_SASL[mechanism] and "tls" not in metadata
    for service in SERVICES:
        assert not any(name.startswith("KAFKA_SSL_") and name != "KAFKA_SSL_CHECK_HOSTNAME"
                       for name in container_env(docs, service))  # fmt: skip
        assert all(m["name"] != "kafka-tls" for m in container(docs, service)["volumeMounts"])


def test_plaintext_renders_no_kafka_credentials_or_files() -> None:
    for scenario in ("minimal", "autoscaling"):
        docs = rendered(scenario)
        assert find(docs, "TriggerAuthentication") == []
        assert all("authenticationRef" not in s["spec"]["triggers"][0] for s in find(docs, "ScaledObject"))
        for service in SERVICES:
            env = container_env(docs, service)
            assert env["KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
            assert not {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE"} & set(env)


def test_your_own_tls_secret_is_mounted_under_the_file_names_the_services_read() -> None:
    values = scenario_values(SECURED)
    values["kafka"]["tls"] = {"existingSecret": "kafka-client-tls", "caKey": "ca.pem", "clientCert": True}
    docs = render(values)
    assert find(docs, "Secret", "ps-peerscore-kafka-tls") == []
    spec = one(docs, "Deployment", SERVICES[0].deployment)["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "kafka-tls"]
    assert volume["secret"]["secretName"] == "kafka-client-tls"
    assert {i["key"]: i["path"] for i in volume["secret"]["items"]} == {
        "ca.pem": "ca.crt",
        "tls.crt": "tls.crt",
        "tls.key": "tls.key",
    }
    env = container_env(docs, SERVICES[0])
    assert env["KAFKA_SSL_CAFILE"] == "/etc/peerscore/kafka-tls/ca.crt"
    assert "KAFKA_SSL_PASSWORD" not in env  # encryptedKey is off


def test_sasl_without_credentials_fails_with_a_clear_message() -> None:
    values = scenario_values(SECURED)
    del values["secrets"]["values"]["KAFKA_SASL_PASSWORD"]
    with pytest.raises(helm_python.HelmError, match="KAFKA_SASL_PASSWORD is required with kafka.securityProtocol"):
        render(values)
    values = scenario_values(SECURED)
    del values["kafka"]["tls"]["key"]
    with pytest.raises(helm_python.HelmError, match="kafka.tls.cert and kafka.tls.key go together"):
        render(values)


def test_retention_values_reach_the_topic_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    env = container_env(rendered(SECURED), SERVICES[1])
    for name, value in env.items():
        if name.startswith("KAFKA_RETENTION_"):
            monkeypatch.setenv(name, value)
    topics = KafkaSettings().topics()
    retention = {s.name: int(s.configs["retention.ms"]) for s in topics.specs() if "retention.ms" in s.configs}
    assert retention[topics.events] == 7 * DAY_MS
    assert retention[topics.crm_dlq] == 14 * DAY_MS
    assert retention[topics.erasure] == 21 * DAY_MS
    assert retention[topics.scores] == 180 * DAY_MS
