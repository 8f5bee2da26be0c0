"""Honest model selection: the card sets the rules and a logistic-regression baseline beside the model on the
same held-out rows, and a champion that does not beat the rules is refused unless forced (registry, API, CLI)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from rich.console import Console
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from peerscore.api import api_access
from peerscore.db import create_tables
from peerscore.errors import install_error_handlers
from peerscore.scoring.deps import ApiContext, bind
from peerscore.scoring.models import SCORING_TABLES
from peerscore.scoring.predictive import evaluation, model_registry
from peerscore.scoring.predictive.card import markdown, write_card
from peerscore.scoring.predictive.dataset import TrainingSet
from peerscore.scoring.predictive.model_routes import router as models_router
from peerscore.scoring.predictive.pipeline import TrainRun
from peerscore.scoring.predictive.selection import verdict
from peerscore.scoring.predictive.training import TrainResult, time_split, train_model
from peerscore.settings import ApiAuthSettings, RuntimeSettings

from .support import TINY, register_result, ruleset, trained, training_set

AUTH = {"Authorization": "Bearer s3cret-token"}


@cache
def loser() -> TrainResult:
    """A model trained on shuffled labels: it learns nothing, so the rules rank the (true) test period better."""
    data = training_set()
    shuffled = np.random.default_rng(11).permutation(data.labels[: len(data) - len(_test())])
    labels = np.concatenate([shuffled, data.labels[len(shuffled) :]])
    noise = TrainingSet(data.spec, data.features, labels, data.as_of, data.rules_score, data.person_keys)
    return train_model(noise, TINY)


def _test() -> TrainingSet:
    return time_split(training_set(), TINY.fractions)["test"]


@pytest.fixture
def tables(engine: Engine) -> Engine:
    create_tables(engine, SCORING_TABLES)
    return engine


def _promotions(engine: Engine) -> list[model_registry.ModelPromotionRow]:
    with Session(engine) as session:
        return list(
            session.exec(select(model_registry.ModelPromotionRow).order_by(col(model_registry.ModelPromotionRow.id)))
        )


def test_the_card_holds_model_rules_and_baseline_on_identical_rows(tmp_path: Path) -> None:
    result, test = trained(), _test()
    held_out = result.card["test"]
    assert {"model", "rules", "baseline"} <= set(held_out)
    rows = {side: (held_out[side]["rows"], held_out[side]["positives"]) for side in ("model", "rules", "baseline")}
    assert set(rows.values()) == {(len(test), test.positives)}
    assert result.baseline_probabilities is not None and len(result.baseline_probabilities) == len(test)
    assert held_out["rules"] == evaluation.summary(test.labels, test.rules_score)
    assert held_out["baseline"] == evaluation.summary(test.labels, result.baseline_probabilities, probabilities=True)
    for side in ("model", "baseline"):
        assert 0 < held_out[side]["brier"] < 0.25 and held_out[side]["roc_auc"] > 0.7
    assert held_out["rules"]["brier"] is None  # a rule total is a ranking, not a probability
    selection = result.card["selection"]
    assert selection["roc_auc_margin"] == pytest.approx(held_out["model"]["roc_auc"] - held_out["rules"]["roc_auc"])
    print({side: {k: held_out[side][k] for k in ("roc_auc", "pr_auc", "top_decile_lift", "brier")} for side in rows})
    assert result.test_probabilities is not None
    write_card(
        result.card,
        tmp_path,
        test.labels,
        model=result.test_probabilities,
        rules=test.rules_score,
        baseline=result.baseline_probabilities,
    )
    text = (tmp_path / "card.md").read_text()
    assert "| brier |" in text and "baseline (logistic)" in text and "Promotion: the model" in text


def test_older_cards_without_the_new_fields_still_render_and_are_judged() -> None:
    old = {k: v for k, v in trained().card.items() if k not in ("selection", "baseline")}
    old["test"] = {k: v for k, v in old["test"].items() if k != "baseline"}
    for side in ("model", "rules"):
        old["test"][side] = {k: v for k, v in old["test"][side].items() if k != "brier"}
    assert "| roc_auc |" in markdown(old)
    check = verdict(old)
    assert check.baseline_roc_auc is None and check.margin is not None
    assert not verdict({}).beats_rules and "no held-out ROC-AUC" in verdict({}).reason()


def test_a_model_that_loses_to_the_rules_is_refused_unless_forced(tables: Engine) -> None:
    card = loser().card
    model_auc, rules_auc = card["test"]["model"]["roc_auc"], card["test"]["rules"]["roc_auc"]
    print({"shuffled-label model": model_auc, "rules": rules_auc, "baseline": card["test"]["baseline"]["roc_auc"]})
    assert model_auc < rules_auc and card["selection"]["beats_rules"] is False
    good, bad = register_result(tables, trained(8, 4, rule_features_only=True)), register_result(tables, loser())
    with Session(tables) as session, session.begin():
        assert model_registry.promote(session, good).champion == good  # beats the rules: no force needed
    with Session(tables) as session, session.begin(), pytest.raises(model_registry.RulesNotBeaten) as refused:
        model_registry.promote(session, bad)
    assert f"{model_auc:.3f}" in str(refused.value) and f"{rules_auc:.3f}" in str(refused.value)
    assert refused.value.verdict.margin == pytest.approx(model_auc - rules_auc)
    with Session(tables) as session:
        assert model_registry.current_roles(session).champion == good
    with Session(tables) as session, session.begin():
        assert model_registry.promote(session, bad, "challenger").challenger == bad  # shadowing is not gated
        assert model_registry.promote(session, bad, note="cli", force=True).champion == bad
    note = _promotions(tables)[-1].note or ""
    assert note.startswith("cli; forced:") and f"{model_auc:.3f}" in note and f"{rules_auc:.3f}" in note


def test_api_refuses_with_409_naming_the_numbers_and_force_promotes(tables: Engine) -> None:
    app = FastAPI()
    install_error_handlers(app)
    access = api_access(ApiAuthSettings(api_token=SecretStr("s3cret-token")), RuntimeSettings(env="dev"))
    bind(app, tables, ApiContext(ruleset, access))
    app.include_router(models_router)
    version = register_result(tables, loser())
    card = loser().card["test"]
    with TestClient(app) as client:
        response = client.post(f"/v1/models/{version}/promote", headers=AUTH)
        assert response.status_code == 409
        detail = response.json()["detail"]
        assert (
            detail["model_roc_auc"] == card["model"]["roc_auc"] and detail["rules_roc_auc"] == card["rules"]["roc_auc"]
        )
        assert detail["roc_auc_margin"] < 0 and detail["beats_rules"] is False and detail["version"] == version
        assert f"{card['model']['roc_auc']:.3f}" in detail["message"] and "force" in detail["message"]
        assert client.get("/v1/models/roles", headers=AUTH).json()["champion"] is None
        forced = client.post(f"/v1/models/{version}/promote", headers=AUTH, json={"force": True})
        assert forced.json() == {"champion": version, "challenger": None}
    assert "forced" in (_promotions(tables)[-1].note or "")


def test_peerscore_train_keeps_the_version_but_refuses_the_promotion(tables: Engine) -> None:
    from peerscore.scoring.predictive import commands

    run = TrainRun(result=loser(), data=training_set(), card_path=None)
    console = Console(record=True, width=140)
    code = commands.finish_run(tables, run, "champion", console, force=False)
    assert code == 4 and run.version is not None
    printed = console.export_text()
    assert "not promoted" in printed and "--force" in printed and "baseline (logistic)" in printed
    with Session(tables) as session:
        assert model_registry.current_roles(session).champion is None
        assert model_registry.get_version(session, run.version) is not None
    forced = TrainRun(result=loser(), data=training_set(), card_path=None)
    assert commands.finish_run(tables, forced, "champion", Console(record=True), force=True) == 0
    with Session(tables) as session:
        assert model_registry.current_roles(session).champion == forced.version
