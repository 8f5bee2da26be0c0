"""Rendering the Helm chart offline (helm-python-sdk) and reading what the services expect from their code.

Everything here is derived from the sources of truth: the chart's ``ci/`` scenarios, the services' entry points
and their pydantic-settings classes. Nothing is listed by hand that the code can tell.
"""

from __future__ import annotations

import base64
import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, get_args

import helm_python
import yaml
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "peerscore"
SCENARIOS = sorted(p.stem.removesuffix("-values") for p in (CHART / "ci").glob("*-values.yaml"))
KUBE_VERSION = "1.34.0"
"""A recent Kubernetes release kubernetes-validate bundles schemas for (the chart's floor is 1.27)."""
RELEASE = "ps"
NAMESPACE = "peerscore"

EXTERNAL_SECRET_VALUES = {
    "PEERSCORE_PERSON_KEY_SECRET": "external-person-key-0a9b8c7d",
    "PEERSCORE_API_TOKEN": "external-api-token-1b2c3d4e",
    "INGEST_WRITE_KEYS": "external-write-key-2c3d4e5f",
    "CRM_WEBHOOK_SECRET": "external-webhook-signing-3d4e5f6a",
    "uri": "postgresql+psycopg://peerscore:operator-made@db-rw:5432/peerscore",
}
"""What an operator's Secret holds in the scenarios that bring their own Secret (the chart renders none)."""


@dataclass(frozen=True)
class Service:
    component: str
    module: str
    port: int
    package: str

    @property
    def deployment(self) -> str:
        return f"{RELEASE}-peerscore-{self.component}"


SERVICES = (
    Service("ingest", "peerscore.ingest", 8000, "peerscore-ingest"),
    Service("scoring", "peerscore.scoring", 8001, "peerscore-scoring"),
    Service("crm-sync", "peerscore.crm_sync", 8002, "peerscore-crm-sync"),
)


def scenario_values(scenario: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / "ci" / f"{scenario}-values.yaml").read_text()) or {}


@cache
def chart() -> helm_python.Chart:
    return helm_python.Chart.load(CHART)


def render(values: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    """Rendered manifests (NOTES.txt left out), as parsed documents."""
    files = chart().render(values, name=RELEASE, namespace=NAMESPACE, is_install=True, **kwargs)
    return [
        doc for name, text in sorted(files.items()) if name.endswith(".yaml") for doc in yaml.safe_load_all(text) if doc
    ]


@cache
def _rendered(scenario: str) -> str:
    return yaml.safe_dump_all(render(scenario_values(scenario)))


def rendered(scenario: str) -> list[dict[str, Any]]:
    """The scenario's manifests (a fresh copy: tests may not change each other's inputs)."""
    return list(yaml.safe_load_all(_rendered(scenario)))


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def container(docs: list[dict[str, Any]], service: Service) -> dict[str, Any]:
    pod = one(docs, "Deployment", service.deployment)["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == service.component)


def secret_data(docs: list[dict[str, Any]], name: str) -> dict[str, str] | None:
    """The decoded data of a Secret the chart renders, or None for a Secret it does not own."""
    found = [d for d in find(docs, "Secret", name) if "helm.sh/hook" not in d["metadata"].get("annotations", {})]
    if not found:
        return None
    return {k: base64.b64decode(v).decode() for k, v in (found[0].get("data") or {}).items()}


def container_env(docs: list[dict[str, Any]], service: Service) -> dict[str, str]:
    """The environment the container starts with, resolved like the kubelet does (envFrom first, env wins)."""
    spec = container(docs, service)
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        env.update(one(docs, "ConfigMap", source["configMapRef"]["name"]).get("data") or {})
    for entry in spec.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
            continue
        ref = entry["valueFrom"]
        if "configMapKeyRef" in ref:
            key = ref["configMapKeyRef"]
            env[entry["name"]] = one(docs, "ConfigMap", key["name"])["data"][key["key"]]
            continue
        key = ref["secretKeyRef"]
        data = secret_data(docs, key["name"])
        value = (data if data is not None else EXTERNAL_SECRET_VALUES).get(key["key"])
        if value is None:
            assert key.get("optional"), f"{entry['name']}: required key {key['key']} missing from {key['name']}"
            continue
        env[entry["name"]] = value
    return env


# ------------------------------------------------------------------------------------------ the services' side


def settings_classes(service: Service) -> list[type[BaseSettings]]:
    """Every settings class the service reads: those its entry point knows and those of every ``settings``
    module in its package (the console's, the predictive scorer's…)."""
    package = importlib.import_module(service.module)
    names = [f"{service.module}.__main__"] + [
        info.name
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{service.module}.")
        if info.name.rsplit(".", 1)[-1] == "settings"
    ]
    found: dict[str, type[BaseSettings]] = {}
    for name in names:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseSettings) and value is not BaseSettings:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return sorted(found.values(), key=lambda c: c.__qualname__)


def env_names(cls: type[BaseSettings]) -> dict[str, bool]:
    """Environment variable -> whether it holds a secret, for every field of a settings class."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: dict[str, bool] = {}
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
        env = (alias or f"{prefix}{field_name}").upper()
        names[env] = _holds_secret(field.annotation) or env == "DATABASE_URL"  # a URL carries the password
    return names


def _holds_secret(annotation: Any) -> bool:
    """``SecretStr`` anywhere in the type, also inside models (write keys are ``list[WriteKeyBinding]``)."""
    if annotation is SecretStr:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(_holds_secret(f.annotation) for f in annotation.model_fields.values())
    return any(_holds_secret(arg) for arg in get_args(annotation))


def service_env_names(service: Service) -> dict[str, bool]:
    names: dict[str, bool] = {}
    for cls in settings_classes(service):
        names.update(env_names(cls))
    return names
