"""Product lines where marketers and sales look: the lead API, the console's lead page and the ruleset editor."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from peerscore.db import create_tables, make_engine
from peerscore.events import LeadScore
from peerscore.scoring import store
from peerscore.scoring.console.crm import CrmStatus
from peerscore.scoring.console.lead_html import lead_page
from peerscore.scoring.console.leads import LeadDetail
from peerscore.scoring.domain import PersonState, Ruleset, apply_event, new_person, parse_ruleset
from peerscore.scoring.lead_routes import lead_view
from peerscore.scoring.models import SCORING_TABLES, PersonRow
from tests.unit.scoring.builders import T0, days, event
from tests.unit.scoring.console.test_console_pages import DEFAULT, Console, console, save_draft
from tests.unit.scoring.test_product_lines import two_lines

__all__ = ["console"]  # the fixture, used by name below


def qualified_for_x(ruleset: Ruleset) -> tuple[PersonState, LeadScore]:
    """A VP who attended two webinars: an MQL for line x only."""
    person, score = new_person("p1"), None
    for evt in (
        event("identify", T0, traits={"seniority": "VP"}, email="vp@acme.com"),
        event("webinar.attended", T0 + days(1)),
        event("webinar.attended", T0 + days(1)),
    ):
        applied = apply_event(person, None, evt, ruleset)
        person, score = applied.person, applied.score
    assert score is not None
    return person, score


def test_the_lead_api_returns_each_line(tmp_path: Path) -> None:
    ruleset = parse_ruleset(two_lines())
    engine = make_engine(f"sqlite:///{tmp_path / 'api.db'}")
    create_tables(engine, SCORING_TABLES)
    with Session(engine) as session, session.begin():
        store.save_people(session, [qualified_for_x(ruleset)], T0 + days(1))
    with Session(engine) as session:
        row = session.get(PersonRow, "p1")
        assert row is not None
        view = lead_view(session, row, ruleset)
    engine.dispose()
    assert set(view.lines) == {"core", "x"} and not view.qualified
    assert view.lines["x"].qualified and not view.lines["core"].qualified
    assert view.model_dump(mode="json")["lines"]["x"]["grade"] == "B"


def test_the_lead_page_shows_a_table_per_line() -> None:
    person, score = qualified_for_x(parse_ruleset(two_lines()))
    detail = LeadDetail("p1", person.email, person.traits, person, score, [], {}, [], [])
    html = lead_page(detail, CrmStatus(known=False, detail="unknown"))
    section = html[html.index("Product lines") :]
    assert "<td>x</td>" in section and "<td>core</td>" in section and "MQL" in section
    plain = lead_page(
        LeadDetail("p1", person.email, person.traits, person, score.model_copy(update={"lines": {}}), [], {}, [], []),
        CrmStatus(known=False, detail="unknown"),
    )
    assert "Product lines" not in plain


def test_the_editor_saves_a_ruleset_with_lines_and_points_at_a_bad_one(console: Console) -> None:
    lines = "\nproduct_lines:\n  research:\n    groups: [fit, intent]\n"
    assert save_draft(console, DEFAULT + lines)
    refused = console.client.post(
        "/console/rules/yaml",
        data={
            "csrf": console.csrf(),
            "yaml": DEFAULT + lines.replace("intent]", "nope]"),
            "action": "save",
            "base": "",
        },
    )
    assert "product_lines.research.groups[1]" in refused.text and "unknown group" in refused.text
