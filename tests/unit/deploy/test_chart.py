"""The Helm chart, rendered offline for every ``ci/`` scenario: lint (strict), schema, Kubernetes validity and
the properties an operator relies on."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from peerscore.topics import Topics

from .support import (
    CHART,
    KUBE_VERSION,
    SCENARIOS,
    SERVICES,
    Service,
    container,
    container_env,
    find,
    one,
    render,
    rendered,
    scenario_values,
    service_env_names,
)

CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "ExternalSecret"}
"""CRDs (KEDA, Prometheus Operator, External Secrets): no bundled schema; their fields are asserted below."""
SELECTOR_KEYS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}


def test_the_expected_scenarios_exist() -> None:
    assert set(SCENARIOS) >= {"minimal", "hubspot", "salesforce", "external-secrets", "autoscaling", "kafka-sasl-ssl"}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lint_strict_has_no_findings(scenario: str) -> None:
    report = helm_python.lint(CHART, scenario_values(scenario), strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.fixture
def cached_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    """kubernetes-validate re-reads its (large) schema files for every document; reading them once is the same."""
    monkeypatch.setattr(kubernetes_validate.utils, "schema_contents", cache(kubernetes_validate.utils.schema_contents))


@pytest.mark.usefixtures("cached_schemas")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_manifests_are_valid_kubernetes(scenario: str) -> None:
    docs = rendered(scenario)
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "Job"}


@pytest.mark.usefixtures("cached_schemas")
def test_validation_would_catch_a_broken_manifest() -> None:
    deployment = one(rendered("minimal"), "Deployment", "ps-peerscore-ingest")
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


def test_schema_refuses_wrong_values() -> None:
    helm_python.Chart.load(CHART).validate_schema(scenario_values("minimal"))
    for wrong in (
        {"ingest": {"replicaCount": "two"}},
        {"crmSync": {"settings": {"adapter": "pipedrive"}}},
        {"runtime": {"env": "staging"}},
        {"runtime": {"env": "test"}},  # used to mean "open like dev" in the services
        {"kafka": {"securityProtocol": "TLS"}},
        {"kafka": {"saslMechanism": "GSSAPI"}},
        {"kafka": {"retentionStreamDays": 0}},
        {"kafka": {"tls": {"caFile": "/etc/ssl/ca.pem"}}},
        {"unknownTopLevel": True},
        {"secrets": {"values": {"lower_case": "x"}}},
    ):
        with pytest.raises(helm_python.HelmValuesError):
            helm_python.Chart.load(CHART).validate_schema(wrong)


def test_missing_required_values_fail_with_a_clear_message() -> None:
    values = scenario_values("minimal")
    del values["kafka"]["bootstrapServers"]
    with pytest.raises(helm_python.HelmError, match="kafka.bootstrapServers is required"):
        render(values)
    values = scenario_values("minimal")
    del values["secrets"]["values"]["PEERSCORE_PERSON_KEY_SECRET"]
    with pytest.raises(helm_python.HelmError, match="PEERSCORE_PERSON_KEY_SECRET is required"):
        render(values)


# ------------------------------------------------------------------------------------------ labels, selectors


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_selectors_hold_only_stable_labels(scenario: str) -> None:
    docs = rendered(scenario)
    selectors: list[dict[str, str]] = []
    for doc in docs:
        spec = doc.get("spec", {})
        if doc["kind"] in ("Deployment", "PodDisruptionBudget", "ServiceMonitor"):
            selectors.append(spec["selector"]["matchLabels"])
        elif doc["kind"] == "Service":
            selectors.append(spec["selector"])
        elif doc["kind"] == "NetworkPolicy":
            selectors.append(spec["podSelector"]["matchLabels"])
    assert selectors
    for selector in selectors:
        assert set(selector) == SELECTOR_KEYS


def _selectors(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"].get("selector")
        for d in docs
        if "selector" in d.get("spec", {})
    }


def test_selectors_survive_an_upgrade_to_a_new_chart_and_app_version(tmp_path: Path) -> None:
    """Deployment selectors are immutable: a label that changes per release would make `helm upgrade` fail."""
    copy = Path(shutil.copytree(CHART, tmp_path / "peerscore"))
    meta = yaml.safe_load((copy / "Chart.yaml").read_text())
    meta["version"], meta["appVersion"] = "9.9.9", "9.9.9"
    (copy / "Chart.yaml").write_text(yaml.safe_dump(meta))
    values = scenario_values("minimal")
    newer = helm_python.Chart.load(copy).render(values, name="ps", namespace="peerscore", is_upgrade=True)
    newer_docs = [d for n, t in newer.items() if n.endswith(".yaml") for d in yaml.safe_load_all(t) if d]
    older_docs = rendered("minimal")
    assert _selectors(newer_docs) == _selectors(older_docs)
    assert container(newer_docs, SERVICES[0])["image"].endswith(":9.9.9")
    for doc in find(newer_docs, "Deployment"):
        assert doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "9.9.9"


def test_each_service_selects_only_its_own_pods() -> None:
    docs = rendered("minimal")
    components = {d["spec"]["selector"]["app.kubernetes.io/component"] for d in find(docs, "Service")}
    assert components == {s.component for s in SERVICES}
    for service in SERVICES:
        deployment = one(docs, "Deployment", service.deployment)
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        svc = one(docs, "Service", service.deployment)
        assert svc["spec"]["selector"].items() <= pod_labels.items()
        assert svc["spec"]["ports"][0]["targetPort"] == "http"
        assert container(docs, service)["ports"] == [{"name": "http", "containerPort": service.port, "protocol": "TCP"}]


# ------------------------------------------------------------------------------------------ security


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_pods_run_unprivileged_on_a_read_only_root(scenario: str) -> None:
    docs = rendered(scenario)
    pods = [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")]
    pods += [d["spec"] for d in docs if d["kind"] == "Pod"]
    assert len(pods) == 5
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        for spec in pod["containers"]:
            context = spec["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            tmp = next(m for m in spec["volumeMounts"] if m["mountPath"] == "/tmp")
            volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
            assert "emptyDir" in volume


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_secrets_never_sit_in_config_maps(scenario: str) -> None:
    docs = rendered(scenario)
    values = scenario_values(scenario)
    secret_values = [v for v in (values.get("secrets", {}).get("values") or {}).values() if v]
    secret_values += [values["database"]["url"]] if values.get("database", {}).get("url") else []
    secret_names = {name for s in SERVICES for name, secret in service_env_names(s).items() if secret}
    for config_map in find(docs, "ConfigMap"):
        data = config_map.get("data") or {}
        assert not secret_names & set(data), config_map["metadata"]["name"]
        for value in data.values():
            for secret in secret_values:
                for part in str(secret).strip("[]").replace('"', "").split(","):
                    assert part.strip() not in value, f"a secret value is inline in {config_map['metadata']['name']}"
    for service in SERVICES:
        for entry in container(docs, service).get("env", []):
            if service_env_names(service).get(entry["name"]):
                assert "secretKeyRef" in entry["valueFrom"], entry["name"]


def test_an_existing_secret_replaces_the_chart_secret() -> None:
    docs = rendered("external-secrets")
    assert [d["metadata"]["name"] for d in find(docs, "Secret")] == []
    external = one(docs, "ExternalSecret", "peerscore-secrets")
    assert external["spec"]["target"]["name"] == "peerscore-secrets"
    assert external["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    for service in SERVICES:
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container(docs, service)["env"]}
        assert refs["PEERSCORE_PERSON_KEY_SECRET"]["name"] == "peerscore-secrets"
        if "DATABASE_URL" in refs:
            assert (refs["DATABASE_URL"]["name"], refs["DATABASE_URL"]["key"]) == ("peerscore-db-app", "uri")


# ------------------------------------------------------------------------------------------ migrations hook


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_migrations_run_in_a_pre_install_and_pre_upgrade_hook(scenario: str) -> None:
    docs = rendered(scenario)
    job = one(docs, "Job", "ps-peerscore-migrations")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    (migrate,) = spec["containers"]
    assert migrate["command"] == ["peerscore", "db", "upgrade"]
    url_ref = next(e for e in migrate["env"] if e["name"] == "DATABASE_URL")["valueFrom"]["secretKeyRef"]
    # The ordinary objects do not exist yet when a pre-install hook runs: the Secret it reads must be a hook
    # with a lower weight, or one the operator made.
    hook_secrets = {
        d["metadata"]["name"]: d for d in find(docs, "Secret") if "helm.sh/hook" in d["metadata"].get("annotations", {})
    }
    if url_ref["name"] in hook_secrets:
        weight = int(hook_secrets[url_ref["name"]]["metadata"]["annotations"]["helm.sh/hook-weight"])
        assert weight < int(annotations["helm.sh/hook-weight"])
    else:
        assert url_ref["name"] not in {d["metadata"]["name"] for d in find(docs, "Secret")}
    assert "serviceAccountName" not in spec or spec["serviceAccountName"] != "ps-peerscore"


# ------------------------------------------------------------------------------------------ scaling


def test_autoscaling_targets_the_topics_and_groups_the_services_use() -> None:
    docs = rendered("autoscaling")
    values = scenario_values("autoscaling")
    topics = Topics(prefix=values["kafka"]["topicPrefix"])
    expected = {
        "ps-peerscore-scoring": (topics.events, values["scoring"]["settings"]["groupId"], "SCORING_GROUP_ID"),
        "ps-peerscore-crm-sync": (topics.qualified, values["crmSync"]["settings"]["groupId"], "CRM_GROUP_ID"),
    }
    for name, (topic, group, group_env) in expected.items():
        scaled = one(docs, "ScaledObject", name)
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["topic"] == topic
        assert trigger["metadata"]["consumerGroup"] == group
        assert trigger["metadata"]["bootstrapServers"] == values["kafka"]["bootstrapServers"]
        assert one(docs, "ConfigMap", name)["data"][group_env] == group
        assert scaled["spec"]["scaleTargetRef"]["name"] == name
        assert "replicas" not in one(docs, "Deployment", name)["spec"]  # KEDA owns the count
    hpa = one(docs, "HorizontalPodAutoscaler", "ps-peerscore-ingest")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "ps-peerscore-ingest",
    }
    assert "replicas" not in one(docs, "Deployment", "ps-peerscore-ingest")["spec"]
    assert one(docs, "PodDisruptionBudget", "ps-peerscore-crm-sync")["spec"] == {
        "minAvailable": 1,
        "selector": one(docs, "Deployment", "ps-peerscore-crm-sync")["spec"]["selector"],
    }


def test_default_consumer_groups_match_the_services() -> None:
    from peerscore.crm_sync.settings import CrmSyncSettings
    from peerscore.scoring.settings import ScoringSettings

    values = helm_python.Chart.load(CHART).values
    assert values["scoring"]["settings"]["groupId"] == ScoringSettings.model_fields["group_id"].default
    assert values["crmSync"]["settings"]["groupId"] == CrmSyncSettings.model_fields["group_id"].default
    assert values["kafka"]["topicPrefix"] == Topics().prefix


def test_resources_are_left_to_the_user() -> None:
    docs = rendered("minimal")
    for service in SERVICES:
        assert container(docs, service)["resources"] == {}
    assert container(rendered("autoscaling"), SERVICES[0])["resources"]["requests"]["cpu"] == "500m"


def test_optional_objects_follow_their_switches() -> None:
    minimal = {d["kind"] for d in rendered("minimal")}
    assert not minimal & {"Ingress", "HorizontalPodAutoscaler", "ScaledObject", "ServiceMonitor", "ExternalSecret"}
    assert "NetworkPolicy" in minimal
    hubspot = rendered("hubspot")
    assert {d["metadata"]["name"] for d in find(hubspot, "Ingress")} == {
        "ps-peerscore-ingest",
        "ps-peerscore-scoring",
        "ps-peerscore-crm-sync",
    }
    console = one(hubspot, "Ingress", "ps-peerscore-scoring")["spec"]["rules"][0]["http"]["paths"]
    assert {p["path"] for p in console} >= {"/console"}
    assert all(p["backend"]["service"]["name"] == "ps-peerscore-scoring" for p in console)
    monitors = find(hubspot, "ServiceMonitor")
    assert len(monitors) == 3
    assert all(m["spec"]["endpoints"][0]["path"] == "/metrics" for m in monitors)


def test_services_read_the_mounted_ruleset_and_field_mapping() -> None:
    docs = rendered("hubspot")
    scoring = container(docs, SERVICES[1])
    path = one(docs, "ConfigMap", "ps-peerscore-scoring")["data"]["SCORING_RULESET_PATH"]
    mount = next(m for m in scoring["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
    assert "ruleset.yaml" in one(docs, "ConfigMap", "ps-peerscore-ruleset")["data"]
    assert mount["readOnly"] is True
    console_to_crm = one(docs, "ConfigMap", "ps-peerscore-scoring")["data"]["CONSOLE_CRM_SYNC_URL"]
    assert (
        console_to_crm
        == f"http://ps-peerscore-crm-sync:{one(docs, 'Service', 'ps-peerscore-crm-sync')['spec']['ports'][0]['port']}"
    )
    crm = container(docs, SERVICES[2])
    mapping = next(e for e in crm["env"] if e["name"] == "CRM_FIELD_MAPPING")
    assert mapping["valueFrom"]["configMapKeyRef"]["name"] == "ps-peerscore-crm-field-mapping"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.component)
def test_probes_use_the_health_endpoints(service: Service) -> None:
    spec = container(rendered("minimal"), service)
    assert spec["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert spec["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_helm_test_checks_every_service() -> None:
    docs = rendered("hubspot")
    (pod,) = find(docs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    services = {f"http://{d['metadata']['name']}:{d['spec']['ports'][0]['port']}" for d in find(docs, "Service")}
    (spec,) = pod["spec"]["containers"]
    assert set(spec["args"][1:]) == services
    assert '"/healthz"' in spec["args"][0] and '"/readyz"' in spec["args"][0]
    compile(spec["args"][0], "helm-test", "exec")


def test_the_console_cookie_is_secure_by_default() -> None:
    """The service default is off for ``make run`` (plain http on localhost); a deployed console is HTTPS."""
    env = container_env(rendered("minimal"), next(s for s in SERVICES if s.component == "scoring"))
    assert env["CONSOLE_SECURE_COOKIE"] == "true"
