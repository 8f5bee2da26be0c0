"""The scoring handler at live-shaped batches: one event per person per batch, at batches of 10, 100 and 500.

At live traffic a poll returns a few events of different people, so what a batch costs regardless of its size
(commits, sessions, one query per table) is paid by few events. This bench feeds the real ``ScoringHandler``
(decode + handle, as the consumer loop calls them; no broker: outputs go to a publisher that drops them) with
generated journeys cut into rounds — each person's n-th event in round n — and each round into batches of one
size, on a fresh SQLite file (or a throw-away schema in ``BENCH_DATABASE_URL``) per size and repeat. Only full
batches are measured. Reports p50/p99 batch time and the cost per event at each size, and the batch-10 to
batch-500 ratio (issue 17's target: ≤ 3), in wall time and in CPU time. Writes var/bench/scoring_live.json.

    .venv/bin/python bench/scoring_live.py                                   # 6,000 events per size, 3 repeats
    BENCH_LIVE_EVENTS=3000 BENCH_LIVE_REPEATS=2 .venv/bin/python bench/scoring_live.py
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from databases import bench_database  # noqa: E402 - bench/ is on sys.path when run as a script
from prometheus_client import CollectorRegistry
from report import publish_result  # noqa: E402 - bench/ is on sys.path when run as a script

from peerscore.consumer import Message
from peerscore.db import create_tables, make_engine
from peerscore.dev.journeys import JourneyGenerator
from peerscore.ingest.normalise import normalise_batch
from peerscore.kafka_io import OutgoingRecord
from peerscore.runtime import tune_gc_for_throughput
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.handler import ScoringHandler
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.models import SCORING_TABLES
from peerscore.topics import Topics

END = datetime(2026, 11, 1, tzinfo=UTC)
SIZES = (10, 100, 500)


class DropPublisher:
    """Acknowledges every record at once: the bench measures the handler, not the broker."""

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        return None

    def flush(self, timeout: float | None = None) -> None:
        return None


def live_stream(count: int, people: int) -> list[tuple[str, bytes]]:
    """``count`` (person key, event bytes) in rounds: round n holds every person's n-th event, so any run of
    consecutive records within a round names each person at most once."""
    calls = JourneyGenerator(seed=17).calls(people, end=END)
    events = normalise_batch({"batch": calls}, secret=b"bench-live", received_at=END)
    per_person: dict[str, list[bytes]] = defaultdict(list)
    for e in events:
        per_person[e.person_key].append(e.model_dump_json().encode())
    stream: list[tuple[str, bytes]] = []
    depth = max(len(v) for v in per_person.values())
    for n in range(depth):
        stream.extend((key, values[n]) for key, values in per_person.items() if len(values) > n)
    return stream[:count]


def batches(
    stream: Sequence[tuple[str, bytes]], size: int, round_of: dict[int, int]
) -> Iterator[tuple[bool, list[int]]]:
    """Indexes into ``stream`` per batch, never crossing a round; whether the batch is full (measured)."""
    current: list[int] = []
    for i in range(len(stream)):
        if current and (len(current) == size or round_of[i] != round_of[current[0]]):
            yield len(current) == size, current
            current = []
        current.append(i)
    if current:
        yield len(current) == size, current


def rounds(stream: Sequence[tuple[str, bytes]]) -> dict[int, int]:
    seen: set[str] = set()
    n, result = 0, {}
    for i, (key, _) in enumerate(stream):
        if key in seen:
            n, seen = n + 1, set()
        seen.add(key)
        result[i] = n
    return result


def run_size(
    url: str, stream: Sequence[tuple[str, bytes]], size: int, round_of: dict[int, int]
) -> tuple[list[float], float]:
    """Wall seconds per full batch of ``size`` (decode included) and their total CPU seconds (this process: the
    handler and SQLite; on a shared machine less noisy than wall time), through a fresh handler and database."""
    engine = make_engine(url)
    create_tables(engine, SCORING_TABLES)
    topics = Topics(prefix="bench-live", event_partitions=1)
    ruleset = load_default_ruleset()
    handler = ScoringHandler(
        engine=engine,
        ruleset=lambda: ruleset,
        topics=topics,
        publisher=DropPublisher(),
        group_id="bench-live",
        metrics=ScoringMetrics(CollectorRegistry()),
    )
    times: list[float] = []
    cpu = 0.0
    for full, indexes in batches(stream, size, round_of):
        started, cpu_started = time.perf_counter(), time.process_time()
        messages = []
        for i in indexes:
            key, value = stream[i]
            messages.append(Message(topics.events, 0, i, key, handler.decode(key.encode(), value), 0))
        handler.handle(messages)
        if full:
            times.append(time.perf_counter() - started)
            cpu += time.process_time() - cpu_started
    engine.dispose()
    return times, cpu


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    count = int(os.environ.get("BENCH_LIVE_EVENTS", "6000"))
    repeats = int(os.environ.get("BENCH_LIVE_REPEATS", "3"))
    tune_gc_for_throughput()  # as the services' entry points do
    stream = live_stream(count, people=max(SIZES) * 4)
    round_of = rounds(stream)
    times: dict[int, list[float]] = {size: [] for size in SIZES}
    per_event: dict[int, list[float]] = {size: [] for size in SIZES}
    cpu_per_event: dict[int, list[float]] = {size: [] for size in SIZES}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):  # sizes interleaved: the machine's speed drifts
            for size in SIZES:
                with bench_database(tmp, f"live-{size}-{repeat}") as url:
                    measured, cpu = run_size(url, stream, size, round_of)
                times[size].extend(measured)
                per_event[size].append(sum(measured) / (len(measured) * size))
                cpu_per_event[size].append(cpu / (len(measured) * size))
                print(
                    f"  repeat {repeat + 1}/{repeats}, batches of {size}: {per_event[size][-1] * 1e6:,.0f} µs/event, "
                    f"{cpu_per_event[size][-1] * 1e6:,.0f} µs CPU/event"
                )
    cost = {size: statistics.median(per_event[size]) for size in SIZES}
    cpu_cost = {size: statistics.median(cpu_per_event[size]) for size in SIZES}
    result: dict[str, object] = {
        "machine": f"{platform.node()} {os.cpu_count()} cores, {platform.python_version()}",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": (os.environ.get("BENCH_DATABASE_URL") or "sqlite").split(":", 1)[0],
        "events_per_size": len(stream),
        "repeats": repeats,
    }
    for size in SIZES:
        result[f"batch_{size}_p50_ms"] = round(percentile(times[size], 0.5) * 1e3, 2)
        result[f"batch_{size}_p99_ms"] = round(percentile(times[size], 0.99) * 1e3, 2)
        result[f"batch_{size}_us_per_event"] = round(cost[size] * 1e6, 1)
        result[f"batch_{size}_us_per_event_repeats"] = [round(c * 1e6, 1) for c in per_event[size]]
        result[f"batch_{size}_cpu_us_per_event"] = round(cpu_cost[size] * 1e6, 1)
    result["batch_10_to_500_cost_ratio"] = round(cost[10] / cost[500], 2)
    result["batch_10_to_500_cpu_cost_ratio"] = round(cpu_cost[10] / cpu_cost[500], 2)
    publish_result("scoring_live", result, title="Scoring handler at live-shaped batches (one event per person)")


if __name__ == "__main__":
    main()
