"""The influence report on both databases: the job's figures on generated, third-party-shaped history equal a
brute-force recount from the raw rows, whether built at once, in two increments, or after late outcomes; the
read API needs the token and exports CSV; an erasure takes the person's summaries with it."""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.db import create_tables
from peerscore.dev.influence_history import END, InfluenceHistory, influence_history, store_history
from peerscore.scoring.identity.erasure import erase_keys
from peerscore.scoring.insights.job import WINDOWS, ConcurrentBuild, Folder, build, commit_chunk, latest
from peerscore.scoring.insights.models import InfluencePersonRow, InfluenceSnapshotRow
from peerscore.scoring.insights.timer import InsightsTimer
from peerscore.scoring.models import SCORING_TABLES
from peerscore.settings import KafkaSettings
from tests.integration.scoring.influence_brute import brute_force
from tests.integration.scoring.test_api import TOKEN, client

pytestmark = pytest.mark.integration
FIELDS = ("touched", "mqls", "opportunities", "wins", "lift_mql", "lift_opportunity", "lift_won")
CREDITS = tuple(f"{m}_{k}" for m in ("first", "last", "position") for k in ("opportunity", "won"))


def _report(engine: Engine) -> dict[str, object]:
    with Session(engine) as session:
        row = session.get(InfluenceSnapshotRow, "content")
        assert row is not None
        return dict(row.report)


def assert_matches_brute_force(engine: Engine) -> None:
    report = _report(engine)
    for window, days in WINDOWS.items():
        part = report["windows"][window]  # type: ignore[index]
        expected = brute_force(engine, days)
        assert part["people"] == expected["people"], window
        got = {(r["dimension"], r["item"], r["split"]): r for r in part["rows"]}
        assert set(got) == set(expected["rows"]), window
        for key, row in expected["rows"].items():
            for name in FIELDS + CREDITS:
                want, have = row[name], got[key][name]
                if want is None or have is None:
                    assert want == have, (window, key, name)
                else:
                    assert have == pytest.approx(want, abs=1e-6), (window, key, name)


def _split(history: InfluenceHistory, at: int) -> tuple[InfluenceHistory, InfluenceHistory]:
    first = InfluenceHistory(history.events[:at], history.links, [], {})
    return first, InfluenceHistory(history.events[at:], {}, history.outcomes, history.mqls)


def test_figures_match_a_brute_force_recount(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    history = influence_history(160, seed=3)
    assert history.outcomes and history.mqls and history.links
    store_history(engine, history)
    result = build(engine, chunk=500)
    assert result.events_read == len(history.events)
    assert_matches_brute_force(engine)
    rows = _report(engine)["windows"]["all"]["rows"]  # type: ignore[index]
    dimensions = {r["dimension"] for r in rows}
    assert dimensions == {"content", "source", "medium", "campaign", "referrer", "linkedin"}
    assert {r["split"] for r in rows} == {"earned", "paid"}
    assert any(r["item"] == "review_site" for r in rows) and any(r["item"].startswith("linkedin_post:") for r in rows)
    assert any(r["wins"] > 0 for r in rows) and any(r["position_won"] > 0 for r in rows)


def test_incremental_builds_and_late_outcomes_agree_with_the_recount(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    history = influence_history(120, seed=9)
    first, second = _split(history, len(history.events) // 2)
    offset = store_history(engine, first)
    assert build(engine, chunk=300).events_read == len(first.events)
    assert_matches_brute_force(engine)
    store_history(engine, second, offset)
    assert build(engine, chunk=300).events_read == len(second.events)  # only what is new
    assert_matches_brute_force(engine)
    late = influence_history(30, seed=10)  # outcomes and MQL times only: no new history
    store_history(engine, InfluenceHistory([], {}, late.outcomes, late.mqls))
    assert build(engine).events_read == 0
    assert_matches_brute_force(engine)
    rebuilt = build(engine, rebuild=True)
    assert rebuilt.events_read == len(history.events)
    assert_matches_brute_force(engine)


def test_an_overlapping_build_stops_without_writing(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    history = influence_history(20, seed=8)
    store_history(engine, history)
    folder = Folder([])
    commit_chunk(engine, folder, {}, 0, 5)  # a first build claimed ids up to 5
    with pytest.raises(ConcurrentBuild):
        commit_chunk(engine, folder, {"someone": b"\0" * 72}, 0, 7)  # a second one started from 0 too
    with Session(engine) as session:
        assert session.get(InfluencePersonRow, "someone") is None
    build(engine, rebuild=True)
    assert_matches_brute_force(engine)


def test_the_services_timer_builds_the_report(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    store_history(engine, influence_history(10, seed=2))
    timer = InsightsTimer(engine, 0.05)
    timer.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _built(engine):
            time.sleep(0.05)
    finally:
        timer.stop()
    assert _built(engine)
    assert_matches_brute_force(engine)


def _built(engine: Engine) -> bool:
    with Session(engine) as session:
        return latest(session) is not None


def test_an_erasure_takes_the_persons_touch_summary(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    history = influence_history(5, seed=4)
    store_history(engine, history)
    build(engine)
    key = history.events[0].person_key
    with Session(engine) as session:
        deleted = erase_keys(session, key, [])
        session.commit()
        assert deleted["influence_person"] == 1
        assert session.exec(select(InfluencePersonRow).where(InfluencePersonRow.person_key == key)).first() is None


def test_the_api_reads_the_snapshot_needs_the_token_and_exports_csv(
    kafka_settings: KafkaSettings, engine: Engine
) -> None:
    create_tables(engine, SCORING_TABLES)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with client(kafka_settings, engine) as api:
        assert api.get("/v1/insights/content").status_code == 401
        assert api.get("/v1/insights/content", headers=auth).status_code == 404  # nothing built yet
        store_history(engine, influence_history(40, seed=6))
        build(engine)
        answer = api.get("/v1/insights/content", params={"window": "90d", "dimension": "referrer"}, headers=auth)
        assert answer.status_code == 200
        body = answer.json()
        assert body["window"] == "90d" and body["built_at"] and body["people"] > 0
        assert body["since"].startswith(str((END - timedelta(days=90)).date())[:4])
        assert body["rows"] and {r["dimension"] for r in body["rows"]} == {"referrer"}
        paid = api.get("/v1/insights/content", params={"split": "paid"}, headers=auth).json()
        assert paid["rows"] and {r["split"] for r in paid["rows"]} == {"paid"}
        for path, params in (("/v1/insights/content", {"format": "csv"}), ("/v1/insights/content.csv", {})):
            exported = api.get(path, params=params, headers=auth)
            assert exported.status_code == 200
            assert exported.headers["content-type"].startswith("text/csv")
            assert "attachment" in exported.headers["content-disposition"]
            table = list(csv.DictReader(io.StringIO(exported.text)))
            assert len(table) == len(api.get("/v1/insights/content", headers=auth).json()["rows"])
            assert {"item", "split", "touched", "lift_won", "position_won"} <= set(table[0])
        assert api.get("/v1/insights/content.csv").status_code == 401
        assert api.get("/v1/insights/content", params={"window": "7y"}, headers=auth).status_code == 422
