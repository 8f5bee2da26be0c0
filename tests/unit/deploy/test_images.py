"""The Dockerfile cannot be built here (no Docker engine): it is linted with hadolint and kept in step with the
workspace — members, Python version, entry points and ports — by reading both."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from .support import CHART, DEPLOY, ROOT, SERVICES, Service, container, rendered

DOCKERFILE = DEPLOY / "Dockerfile"
HADOLINT = ROOT / ".venv" / "bin" / "hadolint"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], dict[str, Stage]]:
    """Global ARG defaults and the stages, with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _, rest = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            base, _, name = rest.partition(" AS ")
            current = stages[name.strip()] = Stage(name.strip(), base.strip())
        elif current is None and keyword == "ARG":
            key, _, default = rest.partition("=")
            args[key.strip()] = default.strip()
        elif current is not None:
            current.instructions.append((keyword, rest.strip()))
    return args, stages


ARGS, STAGES = parse(DOCKERFILE.read_text())


def workspace_members() -> dict[str, Path]:
    """Package name -> directory, for every uv workspace member."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = {}
    for member in root["tool"]["uv"]["workspace"]["members"]:
        project = tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]
        members[project["name"]] = ROOT / member
    return members


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--format", "json", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\n")
    result = subprocess.run([str(HADOLINT), "--format", "json", str(bad)], capture_output=True, text=True, check=False)
    assert {finding["code"] for finding in json.loads(result.stdout)} >= {"DL3007", "DL3008"}


def test_python_version_satisfies_every_member() -> None:
    version = ARGS["PYTHON_VERSION"]
    runtime_bases = {s.base for s in STAGES.values() if s.base.startswith("python:")}
    assert runtime_bases == {"python:${PYTHON_VERSION}-slim-bookworm"}
    projects = [ROOT / "pyproject.toml", *(path / "pyproject.toml" for path in workspace_members().values())]
    for pyproject in projects:
        requires = tomllib.loads(pyproject.read_text())["project"]["requires-python"]
        assert f"{version}.0" in SpecifierSet(requires), f"{pyproject}: {requires} excludes Python {version}"


def test_every_member_manifest_is_copied_before_the_dependency_layer() -> None:
    copies = [shlex.split(arg) for arg in STAGES["build-base"].all("COPY") if not arg.startswith("--from")]
    assert copies[0] == ["pyproject.toml", "uv.lock", "./"]
    copied = {parts[-1] for parts in copies}
    for path in workspace_members().values():
        assert str((path / "pyproject.toml").relative_to(ROOT)) in copied


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.component)
def test_service_image_matches_its_entry_point(service: Service) -> None:
    members = workspace_members()
    assert service.package in members
    build = STAGES[f"build-{service.component}"]
    syncs = build.all("RUN")
    assert len(syncs) == 2
    for sync in syncs:  # dependencies, then the project itself: always from the lock, never dev tools
        assert f"--package {service.package}" in sync
        assert "uv sync --frozen --no-dev" in sync
    assert "--no-editable" in syncs[-1]
    copied = {shlex.split(arg)[-1] for arg in build.all("COPY")}
    assert {"shared", str(members[service.package].relative_to(ROOT))} <= copied

    image = STAGES[service.component]
    assert image.base == "runtime"
    assert any(f"--from=build-{service.component}" in arg for arg in image.all("COPY"))
    assert json.loads(image.all("CMD")[0]) == ["python", "-m", service.module]
    spec = importlib.util.find_spec(f"{service.module}.__main__")
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).is_relative_to(members[service.package])

    port = service.port
    assert image.all("EXPOSE") == [str(port)]
    assert image.all("ENV") == [f"HTTP_PORT={port}"]
    assert container(rendered("minimal"), service)["ports"][0]["containerPort"] == port
    (healthcheck,) = image.all("HEALTHCHECK")
    assert "/healthz" in healthcheck and "HTTP_PORT" in healthcheck
    assert image.all("USER") == ["10001:10001"]


def test_runtime_is_unprivileged_and_writes_only_to_tmp() -> None:
    runtime = STAGES["runtime"]
    env = " ".join(runtime.all("ENV"))
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "HOME=/tmp", "TMPDIR=/tmp", "MPLCONFIGDIR=/tmp/", "HTTP_HOST=0.0.0.0"):
        assert setting in env
    assert any("useradd" in run and "10001" in run for run in runtime.all("RUN"))
    values = (CHART / "values.yaml").read_text()
    assert "runAsUser: 10001" in values and "readOnlyRootFilesystem: true" in values


def test_migration_job_image_has_the_cli() -> None:
    """The Job runs `peerscore db upgrade` in the scoring image: the shared package (and its script) is in it."""
    shared = tomllib.loads((ROOT / "shared" / "pyproject.toml").read_text())["project"]
    assert shared["scripts"]["peerscore"] == "peerscore.cli:main"
    scoring = tomllib.loads((ROOT / "services" / "scoring" / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith(shared["name"]) for dep in scoring["dependencies"])
