"""The conversion probability the README promises is visible: the lead API's JSON and the console's lead page show
the champion's probability and model version as stored with the lead's score (none when opted out or unscored).
Both databases; the stored state is what the worker writes (``store.save_people``)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.db import create_tables
from peerscore.events import LeadScore
from peerscore.scoring import store
from peerscore.scoring.api import leads_router
from peerscore.scoring.console.crm import CrmStatus
from peerscore.scoring.console.lead_html import lead_page
from peerscore.scoring.console.leads import lead_detail
from peerscore.scoring.domain import PersonState, apply_event, new_person
from peerscore.scoring.models import SCORING_TABLES
from tests.unit.scoring.builders import T0, event, small_ruleset

RULES = small_ruleset()


def scored(
    key: str, email: str, probability: float | None, *, opted_out: bool = False
) -> tuple[PersonState, LeadScore]:
    """A person after two events, with the champion's probability added as the worker's predictor does."""
    person = new_person(key)
    score = None
    for evt in (
        event("identify", T0, person=key, email=email, traits={"seniority": "vp"}),
        event("demo.requested", T0, person=key),
    ):
        applied = apply_event(person, None, evt, RULES)
        person, score = applied.person, applied.score or score
    assert score is not None
    if probability is not None:
        score = score.model_copy(update={"conversion_probability": probability, "model_version": 3})
    return person.model_copy(update={"opted_out": opted_out}), score


def test_the_lead_api_and_console_page_show_the_probability(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    people = [
        scored("p_hot", "hot@acme.com", 0.4271),
        scored("p_rules", "rules@acme.com", None),
        scored("p_out", "out@acme.com", 0.9, opted_out=True),
    ]
    with Session(engine) as session, session.begin():
        store.save_people(session, people, T0)

    app = FastAPI()
    app.include_router(leads_router(engine, lambda: RULES, lambda: None))
    with TestClient(app) as api:
        hot = api.get("/v1/leads/p_hot").json()
        assert (hot["conversion_probability"], hot["model_version"]) == (0.4271, 3)
        rules_only = api.get("/v1/leads/p_rules").json()
        assert (rules_only["conversion_probability"], rules_only["model_version"]) == (None, None)
        opted_out = api.get("/v1/leads/p_out").json()
        assert opted_out["conversion_probability"] is None  # withheld like the score
        listed = {lead["person_key"]: lead["conversion_probability"] for lead in api.get("/v1/leads").json()}
        assert listed["p_hot"] == 0.4271

    detail = lead_detail(engine, "p_hot", RULES)
    assert detail is not None and (detail.probability, detail.model_version) == (0.4271, 3)
    page = lead_page(detail, CrmStatus(known=False, detail="unknown"))
    assert "43%</span> conversion probability" in page and "model v3" in page
    unscored = lead_detail(engine, "p_rules", RULES)
    assert unscored is not None and "no model yet" in lead_page(unscored, CrmStatus(known=False, detail="unknown"))
