"""What identity resolution, durable dedup and consent cost the scoring worker per event.

The real scoring handler over generated journeys (no broker: outputs are discarded), batches of 2,000 like the
consumer polls, on SQLite (or ``BENCH_DATABASE_URL``). The time spent in the identity steps (``IdentityBatch``:
erasure scan, redirect and seen-id loads, divert, record, seen-id writes and merges) is measured by wrapping them,
and reported next to the whole handler's time. Writes var/bench/identity.json.

    .venv/bin/python bench/identity.py                   # 20k events
    BENCH_IDENTITY_EVENTS=100000 .venv/bin/python bench/identity.py
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from databases import bench_database  # noqa: E402 - bench/ is on sys.path when run as a script
from prometheus_client import CollectorRegistry
from report import publish_result  # noqa: E402 - bench/ is on sys.path when run as a script

from peerscore.consumer import Message
from peerscore.db import create_tables, make_engine
from peerscore.dev.journeys import JourneyGenerator
from peerscore.events import EngagementEvent, utcnow
from peerscore.ingest.normalise import normalise_batch
from peerscore.kafka_io import OutgoingRecord
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.handler import ScoringHandler
from peerscore.scoring.identity.batch import IdentityBatch, PrivacyConfig
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.models import SCORING_TABLES
from peerscore.topics import Topics

SECRET = b"bench-identity"
BATCH = 2000


class Loopback:
    """Stands in for Kafka: records for the events topic (merge instructions, transfers, forwarded events) are
    queued back as input, like the worker would read them; everything else is dropped."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.queued: list[bytes] = []

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        self.queued.extend(r.value for r in records if r.topic == self.topic)

    def flush(self, timeout: float | None = None) -> None:
        return None


def timed(spent: list[float], method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    return wrapper


def main() -> None:
    count = int(os.environ.get("BENCH_IDENTITY_EVENTS", "20000"))
    calls = JourneyGenerator(seed=7).calls(max(50, count // 12), end=utcnow())
    events: list[EngagementEvent] = normalise_batch({"batch": calls[:count]}, secret=SECRET, received_at=utcnow())
    spent = [0.0]
    for name in ("divert", "record", "finish", "prune"):  # apply() is the fold itself: not counted
        setattr(IdentityBatch, name, timed(spent, getattr(IdentityBatch, name)))
    IdentityBatch.begin = classmethod(timed(spent, IdentityBatch.begin.__func__))  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp, bench_database(tmp, "identity") as url:
        engine = make_engine(url)
        create_tables(engine, SCORING_TABLES)
        topics = Topics(prefix="bench-identity", event_partitions=1)
        ruleset = load_default_ruleset()
        registry = CollectorRegistry()
        loopback = Loopback(topics.events)
        handler = ScoringHandler(
            engine=engine,
            ruleset=lambda: ruleset,
            topics=topics,
            publisher=loopback,
            group_id="bench-identity",
            metrics=ScoringMetrics(registry),
            privacy=PrivacyConfig(secret=SECRET),
        )
        pending: list[EngagementEvent] = list(events)
        offset, handled = 0, 0
        started = time.perf_counter()
        while pending:
            chunk, pending = pending[:BATCH], pending[BATCH:]
            handler.handle([Message(topics.events, 0, offset + i, e.person_key, e, 0) for i, e in enumerate(chunk)])
            offset += len(chunk)
            handled += len(chunk)
            pending += [handler.decode(None, value) for value in loopback.queued]
            loopback.queued.clear()
        total = time.perf_counter() - started
        engine.dispose()
    merges = registry.get_sample_value("peerscore_scoring_identity_merges_total", {"step": "instruction"}) or 0
    publish_result(
        "identity",
        {
            "events": len(events),
            "records_handled_incl_internal": handled,
            "database": url.split(":", 1)[0],
            "handler_events_per_s": round(len(events) / total),
            "handler_s": round(total, 3),
            "identity_steps_s": round(spent[0], 3),
            "identity_share_of_handler": f"{spent[0] / total:.1%}",
            "identity_us_per_event": round(spent[0] / len(events) * 1e6, 1),
            "merge_instructions": int(merges),
        },
        title="Identity, dedup and consent inside the scoring handler",
    )


if __name__ == "__main__":
    main()
