"""The marketer's path through the console in a real browser: sign in, edit a rule, see the validation error
on that rule's field, fix it, preview it on history, publish it, watch lead scores change, and roll back.

Screenshots of every page land in ``var/screenshots/`` for reviewers.
"""

from __future__ import annotations

import re
from datetime import timedelta
from importlib.resources import files

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import insert

from peerscore.db import make_engine
from peerscore.scoring.history import EventHistoryRow, history_row
from tests.browser.conftest import ADMIN_TOKEN, PEOPLE, Service, shot
from tests.integration.scoring.support import END, journey_events
from tests.processes import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

FIT_RULE = "target-function"
"""A fit rule: fit is re-evaluated on every read, so publishing changes stored leads' scores at once."""
EVENT_RULE = "pricing-page"
"""An event rule: more points per pricing view qualifies more leads in the replayed history."""


def sign_in(page: Page, service: Service) -> None:
    page.goto(f"{service.base_url}/console/rules")
    expect(page).to_have_url(re.compile(r"/console/login"))
    shot(page, "01-login")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Rules", exact=True)).to_be_visible()


def fits(service: Service) -> dict[str, float]:
    leads = service.api("/v1/leads?limit=500").json()
    return {lead["person_key"]: lead["fit"] for lead in leads}


def set_points(page: Page, rule_id: str, value: str) -> None:
    rule = page.locator("details.rule", has=page.locator(f'input[value="{rule_id}"]'))
    if rule.get_attribute("open") is None:
        rule.locator("summary").click()
    rule.get_by_label("Points (negative allowed)").fill(value)


def test_edit_preview_publish_and_roll_back(page: Page, scoring_service: Service) -> None:
    service = scoring_service
    before = fits(service)
    assert len(before) >= 20, "the history was loaded"
    sign_in(page, service)
    shot(page, "02-rules")

    # Edit a rule with a wrong value: the error is on that rule's points field.
    page.get_by_role("link", name="Edit rules (form)").click()
    expect(page.get_by_role("heading", name="Edit rules")).to_be_visible()
    set_points(page, FIT_RULE, "40")
    set_points(page, EVENT_RULE, "lots")
    page.get_by_role("button", name="Save draft").click()
    problems = page.locator("#problems")
    expect(problems).to_contain_text("1 problem to fix")
    expect(problems).to_contain_text(f"Rule {EVENT_RULE}, points")
    rule = page.locator("details.rule.has-errors")
    expect(rule.locator("summary")).to_contain_text(EVENT_RULE)
    points = rule.get_by_label("Points (negative allowed)")
    expect(points).to_have_attribute("aria-invalid", "true")
    expect(rule.locator(".field-error")).to_contain_text("valid number")
    shot(page, "03-validation-error")

    # Fix it and save the draft.
    set_points(page, EVENT_RULE, "30")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("heading", name="Draft saved")).to_be_visible()
    version = page.locator("main p code").first.inner_text()
    changes = page.locator("ul.changes")
    expect(changes).to_contain_text(f"rule {EVENT_RULE}")
    expect(changes).to_contain_text("points: 10 → 30")
    expect(changes).to_contain_text(f"rule {FIT_RULE}")
    shot(page, "04-draft-saved")

    # Preview it on the stored history against the live ruleset.
    page.get_by_role("link", name="Preview it on history").click()
    expect(page.get_by_label("Version to preview")).to_have_value(version)
    page.get_by_label("Period", exact=True).select_option("365d")
    shot(page, "05-preview-form")
    page.get_by_role("button", name="Run preview").click()
    expect(page.get_by_role("heading", name=f"Preview of {version}")).to_be_visible(timeout=60_000)
    expect(page.locator("figcaption", has_text="MQLs per ISO week")).to_be_visible()
    expect(page.locator("figcaption", has_text="Score distribution")).to_be_visible()
    expect(page.locator("svg[role=img]")).to_have_count(2)
    cards = page.locator(".cards .big")
    mqls_live, mqls_candidate = int(cards.nth(0).inner_text()), int(cards.nth(1).inner_text())
    assert mqls_candidate > mqls_live, "more points for pricing views qualify more leads"
    changed = page.get_by_role("table", name=re.compile("Leads that would gain"))
    expect(changed).to_contain_text("Viewed pricing")
    expect(page.get_by_role("table", name=re.compile("Against known CRM outcomes"))).to_contain_text("precision")
    # The CRM's outcomes came by email; they count only once joined to the people keyed by user id.
    expect(
        page.get_by_text(re.compile(r"Against known CRM outcomes \([1-9]\d* leads with an outcome\)"))
    ).to_be_visible()
    shot(page, "06-preview-report")

    # Publish: the confirmation states the expected change in MQL volume from the preview.
    page.get_by_role("link", name=f"Publish {version}…").click()
    expect(page.get_by_text(f"{mqls_live} → {mqls_candidate} MQLs")).to_be_visible()
    shot(page, "07-publish-confirm")
    page.get_by_role("button", name=f"Publish {version} now").click()
    expect(page.get_by_role("status").filter(has_text=f"Published {version}")).to_be_visible()
    shot(page, "08-published")

    # Lead scores change: every lead working in a target function gains fit.
    wait_until(lambda: fits(service) != before, 10, "scores to change")
    after = fits(service)
    gained = {k for k in before if after[k] != before[k]}
    assert gained and all(0 < after[k] - before[k] <= 30 for k in gained), "only the edited rule's 30 points moved"
    key = max(gained, key=lambda k: after[k])
    lead = service.api(f"/v1/leads/{key}").json()
    page.get_by_role("link", name="Leads").click()
    page.get_by_label("for").fill(lead["email"])
    page.get_by_role("button", name="Search").click()
    shot(page, "09-leads-search")
    page.get_by_role("link", name=lead["email"]).click()
    expect(page.locator(".cards")).to_contain_text(f"{after[key]:,.1f}")
    expect(page.get_by_text("CRM sync status: unknown")).to_be_visible()
    expect(page.get_by_role("table", name=re.compile("Score ledger"))).to_contain_text("fit")
    shot(page, "10-lead")
    page.locator("main p a").first.click()
    expect(page.get_by_role("heading", level=1, name=re.compile("^Account "))).to_be_visible()
    shot(page, "11-account")

    # Roll back: the previous version is live again and the scores return.
    page.get_by_role("link", name="Rules").click()
    page.get_by_role("link", name="Roll back…").click()
    expect(page.get_by_role("heading", name=re.compile("Roll back to"))).to_be_visible()
    shot(page, "12-rollback-confirm")
    page.get_by_role("button", name=re.compile("Roll back to .* now")).click()
    expect(page.get_by_role("status").filter(has_text="Rolled back")).to_be_visible()
    assert fits(service) == before
    page.get_by_role("link", name="Compare versions").click()
    expect(page.locator("ul.changes")).to_contain_text("points: 10 → 30")
    page.get_by_text("Text diff of the YAML").click()
    expect(page.locator("pre.diff")).to_be_visible()
    shot(page, "13-diff")


def test_yaml_editor_points_at_the_line_and_other_pages_render(page: Page, scoring_service: Service) -> None:
    sign_in(page, scoring_service)
    page.get_by_role("link", name="Edit YAML").click()
    text = page.get_by_label("Ruleset YAML").input_value()
    page.get_by_label("Ruleset YAML").fill(text.replace("cap: 40", "cap: -5", 1))
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#problems")).to_contain_text(re.compile(r"line \d+: rules\[\d+\]\.cap"))
    expect(page.locator("ol.yaml li.bad")).to_have_count(1)
    shot(page, "14-yaml-error")
    page.get_by_role("link", name="Model").click()
    expect(page.get_by_text("No model is registered")).to_be_visible()
    shot(page, "15-model")


def old_bulk_history(service: Service, copies: int = 150) -> None:
    """Many people's journeys a year and a half back (outside "last year"): a preview of that period is long."""
    events = journey_events(people=PEOPLE, seed=5)
    rows = [
        history_row(
            "bulk",
            0,
            offset,
            e.model_copy(
                update={
                    "person_key": f"{e.person_key[:50]}-{n}",
                    "event_id": f"{e.event_id}-{n}",
                    "occurred_at": e.occurred_at - timedelta(days=540),
                }
            ),
        )
        for n in range(copies)
        for offset, e in enumerate(events)
    ]
    engine = make_engine(service.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(EventHistoryRow.__table__), rows)  # type: ignore[attr-defined]
    finally:
        engine.dispose()


def test_a_long_preview_shows_progress_and_can_be_cancelled(page: Page, scoring_service: Service) -> None:
    old_bulk_history(scoring_service)
    default = files("peerscore.scoring.domain").joinpath("default_ruleset.yaml").read_text(encoding="utf-8")
    stored = httpx.post(
        f"{scoring_service.base_url}/v1/rulesets",
        content=default,
        headers={**scoring_service.api_headers, "Content-Type": "application/yaml"},
        timeout=10,
    )
    assert stored.status_code in (200, 201), stored.text
    sign_in(page, scoring_service)
    page.goto(f"{scoring_service.base_url}/console/preview?version={stored.json()['version']}")
    since = (END - timedelta(days=600)).date().isoformat()
    page.get_by_label("From").fill(since)
    page.get_by_label("Until (exclusive, empty: now)").fill((END - timedelta(days=400)).date().isoformat())
    page.get_by_role("button", name="Run preview").click()
    expect(page.get_by_role("heading", name=re.compile("^Previewing"))).to_be_visible()
    expect(page.locator("#bar-text")).to_have_text(re.compile(r"^[1-9][\d,]* of [1-9][\d,]* events replayed"))
    shot(page, "16-preview-running")
    page.get_by_role("button", name="Cancel preview").click()
    expect(page.get_by_text("was cancelled")).to_be_visible(timeout=30_000)
    shot(page, "17-preview-cancelled")


def test_the_console_needs_the_admin_token_and_refuses_cross_site_posts(scoring_service: Service) -> None:
    base = scoring_service.base_url
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/console/rules").status_code == 303
        assert http.get("/console/rules", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = http.get("/console/rules", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert ok.status_code == 200 and "default-src 'self'" in ok.headers["content-security-policy"]
        assert http.post("/console/login", data={"token": "nope"}).status_code == 401
        signed = http.post("/console/login", data={"token": ADMIN_TOKEN, "next": "/console/rules"})
        assert signed.status_code == 303 and "samesite=strict" in signed.headers["set-cookie"].lower()
        assert "httponly" in signed.headers["set-cookie"].lower()
        cross = http.post("/console/rules/rollback", data={"csrf": "x"}, headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403
        no_token = http.post("/console/rules/rollback", data={})
        assert no_token.status_code == 403
