"""Scoring worker settings (env prefix ``SCORING_``)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from peerscore.scoring.domain.ruleset import Ruleset, load_default_ruleset, parse_ruleset


class ScoringSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore")

    group_id: str = "peerscore-scoring"
    ruleset_path: Path | None = None
    """A YAML ruleset to use until one is published through ``/v1/rulesets`` (instead of the packaged default)."""
    ruleset_name: str = "default"
    """The ruleset this worker follows on the rules topic (announcements for other names are ignored)."""
    ruleset_poll_ms: int = 500
    """How long the ruleset watcher waits per poll: a published ruleset is live within about this long."""
    ruleset_startup_timeout_s: float = 30.0
    """How long startup waits for the rules topic to be read before scoring with the registry/default ruleset."""
    decay_sweep_interval_s: float = 300.0
    """How often qualified leads are checked for having gone cold (0 turns the sweep off)."""
    insights_interval_s: float = 900.0
    """How often the service rebuilds the content and channel influence report (0 turns it off: run
    ``peerscore insights build`` from a CronJob instead)."""
    keep_history: bool = True
    """Store every applied event in ``event_history`` (what backtests replay); off saves space and a write."""
    backtest_workers: int = 2
    """Processes a backtest folds in (scoring is pure Python: one per core)."""
    dedup_window_days: float = Field(default=7.0, gt=0)
    """How long an event id is remembered per person: a copy arriving within it is applied once."""
    crm_leads: Literal["mql", "known"] = "mql"
    """Which leads' score changes are published as ``updated`` transitions so their CRM record follows them:
    handed-off (qualified) leads only, or every known lead with an email (pair with ``CRM_LEADS=known``)."""

    def load_ruleset(self) -> Ruleset:
        if self.ruleset_path is None:
            return load_default_ruleset()
        return parse_ruleset(self.ruleset_path.read_text())

    def ruleset_text(self) -> str:
        """The YAML of the configured default ruleset, as written (what the console's editors start from)."""
        if self.ruleset_path is None:
            return files("peerscore.scoring.domain").joinpath("default_ruleset.yaml").read_text(encoding="utf-8")
        return self.ruleset_path.read_text()
