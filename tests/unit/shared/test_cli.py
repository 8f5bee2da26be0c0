"""The ``peerscore`` command: shared's own commands plus those each installed package registers by entry point."""

from __future__ import annotations

import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from peerscore import cli

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = {
    "services/ingest": ("ingest", "peerscore.ingest.cli:app"),
    "services/scoring": ("scoring", "peerscore.scoring.cli:app"),
    "services/crm-sync": ("crm-sync", "peerscore.crm_sync.cli:app"),
    "tools": ("dev", "peerscore.dev.cli:app"),
}

extra = typer.Typer()
extra_group = typer.Typer(help="An extra group.")
extra.add_typer(extra_group, name="extra")


@extra.command("hello")
def hello() -> None:
    typer.echo("hello from a plug-in")


@extra_group.command("ping")
def ping() -> None:
    typer.echo("pong")


def test_registered_commands_and_groups_join_the_shared_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    plug_in = EntryPoint(name="extra", value=f"{__name__}:extra", group=cli.COMMANDS_GROUP)
    monkeypatch.setattr(cli, "entry_points", lambda group: [plug_in] if group == cli.COMMANDS_GROUP else [])
    app = typer.Typer(no_args_is_help=True)
    app.command()(cli.topics)

    assert cli.register_commands(app) == ["extra"]
    runner = CliRunner()
    assert runner.invoke(app, ["hello"]).output == "hello from a plug-in\n"
    assert runner.invoke(app, ["extra", "ping"]).output == "pong\n"
    assert "topics" in runner.invoke(app, ["--help"]).output


def test_the_workspace_offers_every_command() -> None:
    """With every package installed (the development environment) the command set is what it always was."""
    output = CliRunner().invoke(cli.app, ["--help"], terminal_width=200).output
    commands = {"db", "topics", "import", "crm", "backtest", "train", "drift", "dev", "replay", "generate-history"}
    listed = {line.split()[1] for line in output.splitlines() if line.startswith("│ ") and len(line.split()) > 2}
    assert commands <= listed, output


@pytest.mark.parametrize("member", sorted(PACKAGES))
def test_each_package_declares_its_commands(member: str) -> None:
    name, target = PACKAGES[member]
    project = tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]
    assert project["entry-points"][cli.COMMANDS_GROUP] == {name: target}
    assert isinstance(EntryPoint(name=name, value=target, group=cli.COMMANDS_GROUP).load(), typer.Typer)
