"""Report maths on hand-made results: every number can be checked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from peerscore.scoring.backtest.person_replay import PersonResult, Side
from peerscore.scoring.backtest.report import changes, classify, histogram, iso_week, labels, summarise, weekly_mqls

MON = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # ISO 2026-W10


def person(key: str, before: Side, after: Side) -> PersonResult:
    return PersonResult(key, f"{key}@acme.example", 3, before, after)


def test_iso_week_uses_iso_years() -> None:
    assert iso_week(MON) == "2026-W10"
    assert iso_week(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"


def test_weekly_mqls_count_each_transition_in_its_week() -> None:
    people = [
        person("a", Side(qualified_at=[MON, MON + timedelta(days=8)]), Side(qualified_at=[MON])),
        person("b", Side(qualified_at=[MON + timedelta(days=1)]), Side()),
    ]
    rows = {(r.week, r.before, r.after) for r in weekly_mqls(people)}
    assert rows == {("2026-W10", 2, 1), ("2026-W11", 1, 0)}


def test_histogram_bins_final_totals_by_ten_points() -> None:
    people = [
        person("a", Side(total=0.0), Side(total=9.99)),
        person("b", Side(total=10.0), Side(total=55.0)),
        person("c", Side(total=19.5), Side(total=-3.0)),
    ]
    bins = {(b.low, b.high): (b.before, b.after) for b in histogram(people)}
    assert bins == {(-10.0, 0.0): (0, 1), (0.0, 10.0): (1, 1), (10.0, 20.0): (2, 0), (50.0, 60.0): (0, 1)}


def test_precision_and_recall_only_count_qualifications_before_the_outcome() -> None:
    day = timedelta(days=1)
    outcomes = [
        ("won_early", "opportunity_created", MON + 5 * day),  # qualified day 1: true positive
        ("won_early", "won", MON + 20 * day),
        ("won_late", "won", MON + 2 * day),  # qualified day 3, after the deal: false negative
        ("rejected", "rejected", MON + 4 * day),  # qualified day 1: false positive
        ("lost_unseen", "lost", MON + 4 * day),  # never qualified: true negative
    ]
    sides = {
        "won_early": Side(qualified_at=[MON + day]),
        "won_late": Side(qualified_at=[MON + 3 * day]),
        "rejected": Side(qualified_at=[MON + day]),
        "lost_unseen": Side(),
    }
    known = labels(outcomes)
    assert known["won_early"] == (True, MON + 5 * day)
    result = classify((sides[k], known[k]) for k in sides)
    assert (result.true_positives, result.false_positives, result.false_negatives, result.true_negatives) == (
        1,
        1,
        1,
        1,
    )
    assert result.precision == 0.5 and result.recall == 0.5


def test_precision_is_undefined_without_predicted_positives() -> None:
    result = classify([(Side(), (True, MON))])
    assert result.precision is None and result.recall == 0.0


def test_changes_list_only_leads_whose_status_differs_best_candidate_first() -> None:
    same = person("same", Side(qualified=True, qualified_at=[MON], total=80), Side(qualified=True, qualified_at=[MON]))
    lost = person("lost", Side(qualified=True, qualified_at=[MON], total=70), Side(total=40))
    won = person("won", Side(total=30), Side(qualified=True, qualified_at=[MON], total=95))
    recycled = person("recycled", Side(qualified_at=[MON], total=10), Side(total=12))
    listed = changes([same, lost, won, recycled], {"won": ["Viewed pricing 3× in the last 7 days"]})
    assert [(c.person_key, c.before, c.after) for c in listed] == [
        ("won", "not qualified", "qualified"),
        ("lost", "qualified", "not qualified"),
        ("recycled", "recycled", "not qualified"),
    ]
    assert listed[0].reasons == ["Viewed pricing 3× in the last 7 days"] and listed[1].reasons == []


def test_summary_ignores_outcomes_of_people_outside_the_backtest() -> None:
    people = [person("a", Side(qualified_at=[MON]), Side())]
    summary = summarise(people, [("a", "won", MON + timedelta(days=1)), ("elsewhere", "won", MON)], {}, max_changes=0)
    assert summary["labelled_people"] == 1
    assert summary["mqls_before"] == 1 and summary["mqls_after"] == 0
    assert summary["changes_total"] == 1 and summary["changes"] == []
