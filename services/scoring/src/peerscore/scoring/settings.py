"""Scoring worker settings (env prefix ``SCORING_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from peerscore.scoring.domain.ruleset import Ruleset, load_default_ruleset, parse_ruleset


class ScoringSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore")

    group_id: str = "peerscore-scoring"
    ruleset_path: Path | None = None
    """A YAML ruleset to use instead of the packaged default (publishing through the API comes later)."""

    def load_ruleset(self) -> Ruleset:
        if self.ruleset_path is None:
            return load_default_ruleset()
        return parse_ruleset(self.ruleset_path.read_text())
