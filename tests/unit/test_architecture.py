"""The import rules of ARCHITECTURE.md hold: the import-linter contracts in the root ``pyproject.toml`` (what
``make lint`` runs), checked here too so ``make test`` catches a service importing another."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
SERVICES = {"peerscore.ingest", "peerscore.scoring", "peerscore.crm_sync"}


def contract(contract_id: str) -> dict[str, list[str]]:
    return next(c for c in CONFIG["contracts"] if c["id"] == contract_id)


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(  # noqa: S603 - the workspace's own tool
        [str(lint_imports), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(CONFIG['contracts'])} kept, 0 broken" in result.stdout


def test_the_shared_contract_names_every_shared_module() -> None:
    """import-linter cannot say "peerscore except the services": the shared contract lists shared's modules, so a
    module added to shared must be added there too, or it would escape the rule."""
    package = ROOT / "shared" / "src" / "peerscore"
    modules = {
        f"peerscore.{path.stem}"
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()
    }
    assert set(contract("shared-imports-no-service")["source_modules"]) == modules


def test_the_service_contracts_name_every_service() -> None:
    services = {
        f"peerscore.{child.name}"
        for member in (ROOT / "services").iterdir()
        for child in (member / "src" / "peerscore").iterdir()
        if (child / "__init__.py").is_file()
    }
    assert services == SERVICES
    assert set(contract("services-independent")["modules"]) == services
    assert set(contract("services-import-no-dev-code")["source_modules"]) == services


def test_no_service_depends_on_the_dev_packages() -> None:
    """Production images install a service and shared only: neither may need the tooling or the test kit."""
    for pyproject in [ROOT / "shared" / "pyproject.toml", *(ROOT / "services").glob("*/pyproject.toml")]:
        dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
        assert not [d for d in dependencies if d.startswith(("peerscore-tools", "peerscore-testkit"))], pyproject
