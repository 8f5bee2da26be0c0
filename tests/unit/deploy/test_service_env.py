"""The environment the chart gives each container is complete for the service's settings classes, and the
service really starts with it: each entry point runs with the rendered environment (PEERSCORE_ENV=prod, so
placeholder secrets would be refused) up to the point where it would start serving."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from .support import (
    SCENARIOS,
    SERVICES,
    Service,
    container,
    container_env,
    find,
    one,
    rendered,
    secret_data,
    service_env_names,
    settings_classes,
)

CHART_OVERRIDES = {
    "HTTP_HOST": "listen on the pod IP, not loopback",
    "HTTP_PORT": "one fixed port per service, the same as the image and the probes",
    "KAFKA_BOOTSTRAP_SERVERS": "required: the user's brokers",
    "KAFKA_REPLICATION_FACTOR": "production topics are replicated (3)",
    "KAFKA_SESSION_TIMEOUT_MS": "the service default is tuned for the embedded dev broker",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "the service default is tuned for the embedded dev broker",
    "CONSOLE_CRM_SYNC_URL": "the release's crm-sync Service, not localhost",
    "PREDICTIVE_MODEL_DIR": "the root filesystem is read-only: under /tmp",
    "CONSOLE_SECURE_COOKIE": "a deployed console is served over HTTPS; make run serves plain http://127.0.0.1",
}
"""Where the chart's defaults deliberately differ from the services' own defaults (and why)."""


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.component)
def test_every_setting_is_settable_through_the_chart(service: Service) -> None:
    """Each variable a settings class reads is rendered by at least one ci scenario (so it is wired, not only
    documented); a new setting without chart support fails here."""
    expected = set(service_env_names(service))
    wired: set[str] = set()
    for scenario in SCENARIOS:
        wired |= set(container_env(rendered(scenario), service))
    assert expected - wired == set()


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.component)
def test_chart_defaults_are_the_service_defaults(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    env = container_env(rendered("minimal"), service)
    for cls in settings_classes(service):
        for name in service_env_names(service):
            monkeypatch.delenv(name, raising=False)
        defaults = cls()
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        configured = cls()
        for field in type(defaults).model_fields:
            if getattr(configured, field) != getattr(defaults, field):
                prefix = str(cls.model_config.get("env_prefix", ""))
                alias = type(defaults).model_fields[field].validation_alias
                env_name = (alias if isinstance(alias, str) else f"{prefix}{field}").upper()
                assert env_name in CHART_OVERRIDES or service_env_names(service)[env_name], (
                    f"{cls.__name__}.{field}: chart default {getattr(configured, field)!r} differs from the "
                    f"service default {getattr(defaults, field)!r}"
                )


def _start(service: Service, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[FastAPI, dict[str, Any]]:
    """Run the entry point with exactly ``env`` and capture what it hands to uvicorn instead of serving."""
    for name in service_env_names(service):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    module = importlib.import_module(f"{service.module}.__main__")
    captured: dict[str, Any] = {}

    def run(app: FastAPI, **kwargs: Any) -> None:
        captured.update(kwargs, app=app)

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setattr(module, "configure_logging", lambda *_args, **_kwargs: None)
    tuned: list[bool] = []  # process-wide collector settings: recorded, never applied to the test process
    monkeypatch.setattr(module, "tune_gc_for_throughput", lambda: tuned.append(True))
    assert env.get("INGEST_WORKERS", "1") == "1", "several workers fork real processes: not started here"
    module.main()
    assert tuned == [True], f"{service.module} must tune the garbage collector once, after start-up"
    return captured.pop("app"), captured


def _volume_files(docs: list[dict[str, Any]], volume: dict[str, Any]) -> dict[str, str] | None:
    """File name -> content of a ConfigMap or chart-made Secret volume (items renamed as the kubelet does)."""
    if "configMap" in volume:
        return dict(one(docs, "ConfigMap", volume["configMap"]["name"])["data"])
    if "secret" not in volume:
        return None
    data = secret_data(docs, volume["secret"]["secretName"])
    assert data is not None, f"{volume['secret']['secretName']}: a Secret the chart does not render"
    items = volume["secret"].get("items")
    return {item["path"]: data[item["key"]] for item in items} if items else data


def _local_files(docs: list[dict[str, Any]], service: Service, env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Write the ConfigMaps the pod mounts under tmp_path and point the environment at them; the database URL
    goes to a local SQLite file (the entry points touch the database, the chart's URL names a cluster host)."""
    pod = one(docs, "Deployment", service.deployment)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    local = dict(env)
    for mount in container(docs, service).get("volumeMounts", []):
        files = _volume_files(docs, volumes[mount["name"]])
        if files is None:
            continue
        folder = tmp_path / mount["name"]
        folder.mkdir()
        for file, content in files.items():
            (folder / file).write_text(content)
        local = {k: v.replace(mount["mountPath"], str(folder)) for k, v in local.items()}
    if "DATABASE_URL" in local:
        assert local["DATABASE_URL"].startswith("postgresql+psycopg://")
        local["DATABASE_URL"] = f"sqlite:///{tmp_path / 'service.db'}"
    return local


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.component)
def test_service_starts_with_the_rendered_environment(
    service: Service, scenario: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docs = rendered(scenario)
    env = _local_files(docs, service, container_env(docs, service), tmp_path)
    assert env["PEERSCORE_ENV"] == "prod"
    app, served = _start(service, env, monkeypatch)
    assert served["host"] == "0.0.0.0"  # noqa: S104 - in a pod the service must listen on the pod IP
    assert served["port"] == container(docs, service)["ports"][0]["containerPort"] == service.port
    # Ask the app itself (no lifespan: nothing is started): liveness answers, readiness exists and answers
    # 200 or 503 with its checks, and the ServiceMonitor's /metrics is there.
    client = TestClient(app)
    spec = container(docs, service)
    assert client.get(spec["livenessProbe"]["httpGet"]["path"]).status_code == 200
    assert client.get(spec["startupProbe"]["httpGet"]["path"]).status_code == 200
    readiness = client.get(spec["readinessProbe"]["httpGet"]["path"])
    assert readiness.status_code in (200, 503)
    assert "checks" in readiness.json()
    assert client.get("/metrics").status_code == 200
    # Every path an Ingress sends to this service leads somewhere the app serves.
    documented = set(app.openapi()["paths"])
    for ingress in find(docs, "Ingress", service.deployment):
        for rule in ingress["spec"]["rules"]:
            for path in (p["path"] for p in rule["http"]["paths"]):
                served = path == "/" or any(route.startswith(path) for route in documented)
                assert served or client.get(path, follow_redirects=False).status_code != 404, path
