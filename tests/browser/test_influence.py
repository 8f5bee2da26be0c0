"""The influence report in a real browser: after ``peerscore insights build`` has folded the scored history, the
console's Influence page draws its bar charts (inline SVG) and table, and its CSV link downloads the rows."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Service, shot
from tests.browser.test_console import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _build(service: Service) -> None:
    """The job as an operator runs it: the command, against the service's database."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "peerscore"), "insights", "build", "--database-url", service.database_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "influence report built" in done.stdout


def test_the_influence_page_draws_its_charts_and_exports_csv(page: Page, scoring_service: Service) -> None:
    _build(scoring_service)
    report = scoring_service.api("/v1/insights/content").json()
    assert report["people"] > 0 and report["rows"]
    sign_in(page, scoring_service)
    page.get_by_role("link", name="Influence").click()
    expect(page.get_by_role("heading", name="Content and channel influence")).to_be_visible()
    charts = page.locator("figure.chart svg[role=img]")
    expect(charts).to_have_count(3)
    expect(page.locator("figure.chart svg rect.bar").first).to_be_visible()
    assert page.locator("figure.chart svg rect.bar").count() > 3
    expect(page.get_by_role("img", name=re.compile("People touched per item"))).to_be_visible()
    listing = page.get_by_role("table", name=re.compile("Influence by content item"))
    expect(listing.get_by_role("row").filter(has_text="page:pricing").first).to_be_visible()
    page.get_by_label("Group by").select_option("referrer")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("table", name=re.compile("Influence by referrer class"))).to_be_visible()
    shot(page, "30-influence")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("peerscore-influence-all-")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows and {r["dimension"] for r in rows} == {"referrer"}
    assert {"touched", "wins", "lift_won", "first_won", "last_won", "position_won"} <= set(rows[0])
