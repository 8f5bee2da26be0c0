"""Influence report cost: generated, third-party-shaped history (Segment pages with referrers and UTM queries,
downloads, webinars, LinkedIn social actions, identity links, outcomes, MQL times) written straight into
``event_history``, then ``peerscore insights build`` from scratch (every event folded and the report counted),
then an incremental build after 1 % more history. Reports time and peak memory (tracemalloc of the build, and
the process's max RSS) to var/bench/influence.json.

    make bench-influence                                  # 1,000,000 events, SQLite
    BENCH_INFLUENCE_EVENTS=200000 make bench-influence
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test make bench-influence
"""

from __future__ import annotations

import os
import platform
import resource
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime

from report import publish_result  # noqa: E402 - bench/ is on sys.path when run as a script
from sqlalchemy import Engine, text

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


def measured_build(engine: Engine) -> tuple[float, float, int, int]:
    """(seconds, peak traced MB, events read, people) of one build."""
    tracemalloc.start()
    started = time.perf_counter()
    result = build(engine)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**20, result.events_read, result.people


def _reset(engine: Engine) -> None:
    """A PostgreSQL bench database starts empty (SQLite runs in a fresh temporary file)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in reversed(sorted(t.__tablename__ for t in SCORING_TABLES)):  # type: ignore[attr-defined]
                conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))


def main() -> None:
    count = int(os.environ.get("BENCH_INFLUENCE_EVENTS", "1000000"))
    with tempfile.TemporaryDirectory() as tmp:
        database_url = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{tmp}/influence.db")
        engine = make_engine(database_url)
        _reset(engine)
        create_tables(engine, SCORING_TABLES)
        print(f"writing {count:,} events of history …", flush=True)
        started = time.perf_counter()
        written, offset = fill(engine, count, seed=1)
        fill_s = time.perf_counter() - started
        print("building the influence report from scratch …", flush=True)
        full_s, full_mb, read, people = measured_build(engine)
        extra, _ = fill(engine, max(1, count // 100), seed=2, offset=offset)
        print("building again after 1 % more history …", flush=True)
        incremental_s, incremental_mb, extra_read, _ = measured_build(engine)
        assert read == written and extra_read == extra, (read, written, extra_read, extra)
        engine.dispose()
    result = {
        "machine": f"{platform.node()} {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": database_url.split(":", 1)[0],
        "events": written,
        "people": people,
        "history_write_s": round(fill_s, 1),
        "full_build_s": round(full_s, 2),
        "full_build_events_per_s": round(written / full_s),
        "full_build_peak_traced_mb": round(full_mb, 1),
        "incremental_events": extra,
        "incremental_build_s": round(incremental_s, 2),
        "incremental_build_peak_traced_mb": round(incremental_mb, 1),
        "process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "target_s_for_1m": 10,
    }
    publish_result("influence", result, "Influence report (peerscore insights build)")


if __name__ == "__main__":
    main()
