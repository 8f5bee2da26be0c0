"""Backtest throughput: generated buyer journeys written straight into ``event_history`` (as the worker stores
them), then replayed under the live default ruleset and a stricter candidate. Prints a table and writes
var/bench/backtest.json.

    make bench-backtest                          # 1,000,000 events, SQLite, 2 worker processes

Two drafts are replayed: one that changes every rule's points (every event is scored under both rulesets:
the general case, reported as ``backtest_s``) and one that only moves the qualification bar (its points are
the live ones, so only the decisions are recomputed: ``bar_draft_backtest_s``).
    BENCH_BACKTEST_EVENTS=100000 make bench-backtest
    BENCH_BACKTEST_WORKERS=1 …                   # in-process (what the cProfile runs measure)
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test make bench-backtest
    BENCH_BACKTEST_MERGES=0 …                    # history without identity merges (no links, no markers)
"""

from __future__ import annotations

import os
import tempfile
import time
import zlib
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from report import measured_where, publish_result  # noqa: E402 - bench/ is on sys.path when run as a script
from sqlalchemy import insert
from sqlmodel import Session

from peerscore.db import create_tables, make_engine
from peerscore.dev.journeys import JourneyGenerator
from peerscore.events import EngagementEvent
from peerscore.ingest.normalise import normalise_batch
from peerscore.scoring.backtest import Period, run_backtest
from peerscore.scoring.domain import load_default_ruleset, parse_ruleset
from peerscore.scoring.history import EventHistoryRow, history_row
from peerscore.scoring.identity.merge import MERGED_MARKER, MergeMarker, internal_event, merge_id, merges_for
from peerscore.scoring.identity.models import IdentityLinkRow
from peerscore.scoring.models import SCORING_TABLES

END = datetime(2026, 11, 1, tzinfo=UTC)
PARTITIONS = 12
CHUNK_PEOPLE = 5_000


LinkRows = list[dict[str, object]]


def anonymous_until_identified(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The journeys as a Segment site sends them: a visitor browses anonymously (calls with only the anonymous
    id) for the first half of their journey, then logs in (``identify`` with the user id and the anonymous id)
    and is known from then on. The generator identifies everyone first, with the user id on every call."""
    times: dict[str, list[str]] = {}
    for call in calls:
        if call["type"] != "identify":
            times.setdefault(call["anonymousId"], []).append(call["timestamp"])
    login = {anon: sorted(ts)[len(ts) // 2] for anon, ts in times.items()}
    out = []
    for call in calls:
        at = login.get(call["anonymousId"])
        if at is not None and call["type"] == "identify":
            call = {**call, "timestamp": at}
        elif at is not None and call["timestamp"] < at:
            call = {k: v for k, v in call.items() if k != "userId"}
        out.append(call)
    return sorted(out, key=lambda c: (c["timestamp"], c["type"] != "identify"))


def as_the_worker_stores(events: list[EngagementEvent], secret: bytes) -> tuple[list[EngagementEvent], LinkRows]:
    """History as the worker would store it with identity on: an ``identify`` that names a key with history
    merges it (a link, and a marker in the target's stream right after the identify), and that key's later
    events are forwarded to the target. Returns the rows to store and the ``identity_link`` rows."""
    links: dict[str, str] = {}
    seen: set[str] = set()
    stored: list[EngagementEvent] = []
    for event in events:
        key = event.person_key
        while key in links:
            key = links[key]
        if key != event.person_key:
            event = event.model_copy(update={"person_key": key})
        stored.append(event)
        seen.add(key)
        for merge in merges_for(event, secret):
            if merge.source_key in links:
                continue
            links[merge.source_key] = merge.target_key
            if merge.source_key in seen:
                marker = MergeMarker(merge_id=merge.merge_id, source_key=merge.source_key)
                at = event.occurred_at
                stored.append(internal_event(MERGED_MARKER, key, f"transfer:{merge.merge_id}", at, marker))
    rows = [
        {"person_key": k, "merged_into": v, "target_rank": 3, "merge_id": merge_id(k, v), "merged_at": END}
        for k, v in links.items()
    ]
    return stored, rows


def fill_history(database_url: str, count: int, merges: bool) -> int:
    """Write ``count`` events in chunks (a million pydantic events at once would not fit comfortably in memory).

    Each chunk gets its own person-key secret, so people of different chunks never collide. With ``merges``,
    what identity resolution stores too (see :func:`as_the_worker_stores`).
    """
    engine = make_engine(database_url)
    create_tables(engine, SCORING_TABLES)
    offsets = [0] * PARTITIONS
    written, chunk = 0, 0
    while written < count:
        calls = JourneyGenerator(seed=1000 + chunk).calls(CHUNK_PEOPLE, end=END, days=90)
        if merges:
            calls = anonymous_until_identified(calls)
        secret = f"bench-{chunk}".encode()
        events = normalise_batch({"batch": calls}, secret=secret, received_at=END)
        links: LinkRows = []
        if merges:
            events, links = as_the_worker_stores(events, secret)
        rows = []
        for e in events[: count - written]:
            partition = zlib.crc32(e.person_key.encode()) % PARTITIONS
            rows.append(history_row("bench.events.v1", partition, offsets[partition], e))
            offsets[partition] += 1
        with Session(engine) as session, session.begin():
            session.execute(insert(EventHistoryRow.__table__), rows)  # type: ignore[attr-defined]
            if links:
                session.execute(insert(IdentityLinkRow.__table__), links)  # type: ignore[attr-defined]
        written += len(rows)
        chunk += 1
        print(f"  {written:,} events written", end="\r", flush=True)
    print()
    engine.dispose()
    return written


def reweigh(text: str) -> str:
    """The default ruleset with every rule's points × 1.5 and a higher bar: a draft that changes points, so
    every event is scored under both rulesets (no shared scoring: the general, slower case)."""
    lines = []
    for line in text.splitlines():
        head, sep, value = line.partition("points:")
        lines.append(f"{head}points: {float(value) * 1.5:g}" if sep and not head.strip() else line)
    return "\n".join(lines).replace(
        "qualify: {min_grade: B, min_activity: 50}", "qualify: {min_grade: B, min_activity: 70}"
    )


def main() -> None:
    count = int(os.environ.get("BENCH_BACKTEST_EVENTS", "1000000"))
    workers = int(os.environ.get("BENCH_BACKTEST_WORKERS", str(os.cpu_count() or 1)))
    merges = os.environ.get("BENCH_BACKTEST_MERGES", "1") == "1"
    with tempfile.TemporaryDirectory() as tmp:
        database_url = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{tmp}/backtest.db")
        print(f"writing {count:,} events of history …", flush=True)
        started = time.perf_counter()
        written = fill_history(database_url, count, merges)
        fill_s = time.perf_counter() - started
        live = load_default_ruleset()
        text = files("peerscore.scoring.domain").joinpath("default_ruleset.yaml").read_text(encoding="utf-8")
        stricter = "qualify: {min_grade: A, min_activity: 80}"  # a candidate that changes many leads' status
        candidate = parse_ruleset(text.replace("qualify: {min_grade: B, min_activity: 50}", stricter))
        assert candidate.version != live.version, "the default ruleset's qualify line changed: update the bench"
        reweighed = parse_ruleset(reweigh(text))
        engine = make_engine(database_url)
        runs = {}
        for name, draft in (("bar", candidate), ("reweighed", reweighed)):
            print(f"backtesting the {name} draft on {workers} worker(s) …", flush=True)
            started = time.perf_counter()
            report = run_backtest(engine, live, draft, Period(), workers=workers)
            runs[name] = (time.perf_counter() - started, report)
        engine.dispose()
    elapsed, report = runs["reweighed"]
    bar_elapsed, bar = runs["bar"]
    result = {
        **measured_where(),
        "database": database_url.split(":", 1)[0],
        "events": written,
        "people": report.people,
        "workers": workers,
        "merges": merges,
        "history_write_s": round(fill_s, 1),
        "backtest_s": round(elapsed, 1),
        "backtest_events_per_s": round(written / elapsed),
        "target_s_for_1m": 60,
        "projected_s_for_1m": round(1_000_000 / (written / elapsed), 1),
        "mqls_live": report.mqls_before,
        "mqls_candidate": report.mqls_after,
        "changed_leads": report.changes_total,
        "bar_draft_backtest_s": round(bar_elapsed, 1),
        "bar_draft_projected_s_for_1m": round(1_000_000 / (written / bar_elapsed), 1),
        "bar_draft_mqls": bar.mqls_after,
        "bar_draft_changed_leads": bar.changes_total,
    }
    publish_result("backtest", result)


if __name__ == "__main__":
    main()
