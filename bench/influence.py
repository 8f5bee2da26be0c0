"""Influence report cost: generated, third-party-shaped history (Segment pages with referrers and UTM queries,
downloads, webinars, LinkedIn social actions, identity links, outcomes, MQL times) written straight into
``event_history``, then ``peerscore insights build`` from scratch (every event folded and the report counted),
then an incremental build after 1 % more history. Each build runs in a forked child process, so its peak memory
is that process's max RSS (and the RSS it started with, the interpreter and imports). Writes
var/bench/influence.json.

    make bench-influence                                  # 1,000,000 events, SQLite
    BENCH_INFLUENCE_EVENTS=200000 make bench-influence
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test make bench-influence   # own schema
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import tempfile
import time
from multiprocessing import Queue

from databases import bench_database  # noqa: E402 - bench/ is on sys.path when run as a script
from report import measured_where, publish_result  # noqa: E402
from sqlalchemy import Engine

from peerscore.db import create_tables, make_engine
from peerscore.dev.influence_history import history_chunks, store_history
from peerscore.scoring.insights.job import build
from peerscore.scoring.models import SCORING_TABLES


def fill(engine: Engine, count: int, seed: int, offset: int = 0) -> tuple[int, int]:
    written = 0
    for part in history_chunks(count, seed=seed):
        offset = store_history(engine, part, offset)
        written += len(part.events)
        print(f"  {written:,} events written", end="\r", flush=True)
    print()
    return written, offset


def _child(database_url: str, results: Queue) -> None:  # type: ignore[type-arg]
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    engine = make_engine(database_url)
    started = time.perf_counter()
    result = build(engine)
    elapsed = time.perf_counter() - started
    engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results.put((elapsed, peak, start_rss, result.events_read, result.people))


def measured_build(database_url: str) -> tuple[float, float, float, int, int]:
    """(seconds, peak RSS MB, RSS at start MB, events read, people) of one build in a forked process."""
    context = multiprocessing.get_context("fork")
    results: Queue = context.Queue()  # type: ignore[type-arg]
    process = context.Process(target=_child, args=(database_url, results))
    process.start()
    measured = results.get()
    process.join()
    return measured  # type: ignore[no-any-return]


def main() -> None:
    count = int(os.environ.get("BENCH_INFLUENCE_EVENTS", "1000000"))
    with tempfile.TemporaryDirectory() as tmp, bench_database(tmp, "influence") as database_url:
        engine = make_engine(database_url)
        create_tables(engine, SCORING_TABLES)
        print(f"writing {count:,} events of history …", flush=True)
        started = time.perf_counter()
        written, offset = fill(engine, count, seed=1)
        fill_s = time.perf_counter() - started
        engine.dispose()
        print("building the influence report from scratch …", flush=True)
        full_s, full_mb, base_mb, read, people = measured_build(database_url)
        engine = make_engine(database_url)
        extra, _ = fill(engine, max(1, count // 100), seed=2, offset=offset)
        engine.dispose()
        print("building again after 1 % more history …", flush=True)
        incremental_s, incremental_mb, _, extra_read, _ = measured_build(database_url)
        assert read == written and extra_read == extra, (read, written, extra_read, extra)
    result = {
        **measured_where(),
        "database": database_url.split(":", 1)[0],
        "events": written,
        "people": people,
        "history_write_s": round(fill_s, 1),
        "full_build_s": round(full_s, 2),
        "full_build_events_per_s": round(written / full_s),
        "full_build_peak_rss_mb": round(full_mb, 1),
        "build_process_start_rss_mb": round(base_mb, 1),
        "incremental_events": extra,
        "incremental_build_s": round(incremental_s, 2),
        "incremental_build_peak_rss_mb": round(incremental_mb, 1),
        "target_s_for_1m": 10,
    }
    publish_result("influence", result, "Influence report (peerscore insights build)")


if __name__ == "__main__":
    main()
