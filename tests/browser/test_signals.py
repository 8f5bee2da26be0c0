"""The unscored-signal report in a real browser: the console's Signals page lists a kind of event no rule
scores (the generated journeys' "About us" page views), and one click opens a draft rule for it in the YAML
editor, which saves as a draft ready for preview."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Service, shot
from tests.browser.test_console import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_the_signals_page_lists_an_unscored_event_and_starts_a_draft_rule(page: Page, scoring_service: Service) -> None:
    report = scoring_service.api("/v1/signals/unscored?days=365").json()
    about = [s for s in report["signals"] if s["name"] == "About us"]
    assert about and about[0]["type"] == "page.viewed" and about[0]["events"] > 0
    sign_in(page, scoring_service)
    page.get_by_role("link", name="Signals").click()
    expect(page.get_by_role("heading", name="Unscored signals")).to_be_visible()
    page.get_by_label("Window").select_option("365")
    page.get_by_role("button", name="Show").click()
    listing = page.get_by_role("table", name=re.compile("Unscored signals"))
    row = listing.get_by_role("row").filter(has_text="About us")
    expect(row).to_contain_text(f"{about[0]['events']:,}")
    expect(row).to_contain_text("path /about")
    shot(page, "20-unscored-signals")
    row.get_by_role("link", name=re.compile("Draft a rule for page.viewed")).click()
    expect(page.get_by_role("heading", name="Draft a rule")).to_be_visible()
    yaml = page.get_by_label("Ruleset YAML")
    expect(yaml).to_have_value(re.compile(r"when: \{type: 'page\.viewed', name: 'About us'\}"))
    shot(page, "21-draft-rule")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("heading", name="Draft saved")).to_be_visible()
    expect(page.get_by_role("link", name="Preview it on history")).to_be_visible()
