"""Scoring throughput on the embedded broker: the real worker (rules + database writes + outputs) against a
bare consume→produce loop over the same pre-filled topic (run before and after the worker; the ratio uses their
mean), and against a floor loop that validates, stores and publishes each event without scoring it (the most
any worker can reach). Prints a table and writes var/bench/scoring.json.

    make bench                                   # 1M events of ~100k people, SQLite (the embedded default)
    BENCH_EVENTS=100000 BENCH_PEOPLE=15000 …     # smaller
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test make bench
"""

from __future__ import annotations

import os
import platform
import resource
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

from kafka import KafkaConsumer, KafkaProducer
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from report import publish_result  # noqa: E402 - bench/ is on sys.path when run as a script
from sqlalchemy import Engine, text
from sqlmodel import Session

from peerscore.consumer import ConsumerLoop, InvalidMessage, Message
from peerscore.db import create_tables, make_engine
from peerscore.dev.broker import EmbeddedBroker, free_port
from peerscore.dev.journeys import JourneyGenerator
from peerscore.events import EngagementEvent
from peerscore.ingest.normalise import normalise_batch
from peerscore.kafka_io import Publisher, make_consumer, make_publisher, record
from peerscore.observability import ConsumerMetrics
from peerscore.runtime import tune_gc_for_throughput
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.events_loop import scoring_loop
from peerscore.scoring.history import HISTORY_TABLES, append_history
from peerscore.scoring.models import SCORING_TABLES
from peerscore.settings import KafkaSettings
from peerscore.topics import ensure_topics

END = datetime(2026, 11, 1, tzinfo=UTC)
CHUNK_PEOPLE = 5_000


def generate(count: int, people: int) -> Iterator[list[tuple[bytes, bytes]]]:
    """``count`` keyed event records from about ``people`` generated buyers, in chunks (a million pydantic events
    at once would not fit comfortably in memory). Each chunk has its own person-key secret, so chunks never share
    people; the journey generator gives the realistic mix (page views, content, review sites, LinkedIn, forms).
    """
    chunk_people = min(CHUNK_PEOPLE, max(10, people))
    per_chunk = max(1, count * chunk_people // max(people, 1))
    written, chunk = 0, 0
    while written < count:
        calls = JourneyGenerator(seed=99 + chunk).calls(chunk_people, end=END)
        events = normalise_batch({"batch": calls[:per_chunk]}, secret=f"bench-{chunk}".encode(), received_at=END)
        records = [(e.person_key.encode(), e.model_dump_json().encode()) for e in events[: count - written]]
        written += len(records)
        chunk += 1
        yield records


def produce(settings: KafkaSettings, topic: str, chunks: Iterable[list[tuple[bytes, bytes]]]) -> tuple[int, float]:
    producer = KafkaProducer(**settings.client_options(), acks="all", linger_ms=20, batch_size=256 * 1024)
    sent, busy = 0, 0.0
    for records in chunks:
        started = time.perf_counter()
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush()
        busy += time.perf_counter() - started
        sent += len(records)
        print(f"  {sent:,} events produced", end="\r", flush=True)
    print()
    producer.close()
    return sent, sent / busy


def bare_consume_produce(settings: KafkaSettings, source: str, sink: str, count: int) -> float:
    consumer = KafkaConsumer(
        source,
        **settings.client_options(),
        group_id=f"bare-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.max_poll_records,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    producer = KafkaProducer(**settings.client_options(), acks="all", linger_ms=5, batch_size=256 * 1024)
    seen, started = 0, None
    while seen < count:
        for records in consumer.poll(timeout_ms=500).values():
            started = started or time.perf_counter()
            for r in records:
                producer.send(sink, key=r.key, value=r.value)
            seen += len(records)
        producer.flush()
        consumer.commit()
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    producer.close()
    return count / elapsed


class FloorHandler:
    """The least any correct scoring worker must do per event, with no scoring at all: validate the record against
    the event contract, store it durably (one history row; one transaction per batch) and publish one JSON output.
    Its rate bounds what the worker can reach, whatever the rules cost."""

    def __init__(self, engine: Engine, publisher: Publisher, sink: str) -> None:
        self._engine, self._publisher, self._sink = engine, publisher, sink

    def decode(self, key: bytes | None, value: bytes | None) -> EngagementEvent:
        try:
            return EngagementEvent.model_validate_json(value or b"")
        except ValidationError as exc:
            raise InvalidMessage(str(exc)) from None

    def handle(self, batch: Sequence[Message[EngagementEvent]]) -> None:
        with Session(self._engine) as session, session.begin():
            append_history(session, batch)
        self._publisher.publish([record(self._sink, m.key, m.value) for m in batch], wait=True)


def floor_loop(settings: KafkaSettings, database_url: str, sink: str, count: int) -> float:
    engine = make_engine(database_url)
    create_tables(engine, HISTORY_TABLES)
    publisher = make_publisher(settings)
    group = f"floor-{uuid.uuid4().hex[:6]}"
    loop = ConsumerLoop(
        consumer=make_consumer(settings, group),
        topics=[settings.topics().events],
        handler=FloorHandler(engine, publisher, sink),
        dlq_topic=settings.topics().events_dlq,
        publisher=publisher,
        metrics=ConsumerMetrics(CollectorRegistry(), group),
    )
    started = time.perf_counter()
    loop.run(max_messages=count, timeout=1800)
    elapsed = time.perf_counter() - started
    publisher.close()
    engine.dispose()
    return loop.stats.handled / elapsed


def scoring_worker(settings: KafkaSettings, database_url: str, count: int) -> tuple[float, int]:
    engine = make_engine(database_url)
    create_tables(engine, SCORING_TABLES)
    registry = CollectorRegistry()
    group = f"bench-{uuid.uuid4().hex[:6]}"
    publisher = make_publisher(settings)
    ruleset = load_default_ruleset()
    loop = scoring_loop(
        settings, engine=engine, ruleset=lambda: ruleset, publisher=publisher, group_id=group, registry=registry
    )
    started = time.perf_counter()
    loop.run(max_messages=count, timeout=1800)
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        people = conn.execute(text("SELECT count(*) FROM person_state")).scalar_one()
    publisher.close()
    engine.dispose()
    return loop.stats.handled / elapsed, int(people)


def main() -> None:
    count = int(os.environ.get("BENCH_EVENTS", "1000000"))
    people = int(os.environ.get("BENCH_PEOPLE", "100000"))
    tune_gc_for_throughput()  # as the services' entry points do; process-wide, so every loop below runs with it
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(port=free_port()) as broker:
        database_url = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{tmp}/bench.db")
        settings = KafkaSettings(
            bootstrap_servers=broker.bootstrap_servers,
            topic_prefix="bench",
            event_partitions=12,
            max_poll_records=5000,
        )
        ensure_topics(settings)
        print(f"generating and producing {count:,} events of about {people:,} people …", flush=True)
        count, produce_rate = produce(settings, settings.topics().events, generate(count, people))
        print("bare consume→produce …", flush=True)
        # Bare loop before and after: this machine's speed drifts, and the ratio uses their mean.
        bare_before = bare_consume_produce(settings, settings.topics().events, "bench.sink", count)
        print("floor (validate + store + publish, no scoring) …", flush=True)
        floor_url = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{tmp}/floor.db")
        floor = floor_loop(settings, floor_url, "bench.floor", count)
        print("scoring worker …", flush=True)
        scoring, people = scoring_worker(settings, database_url, count)
        print("bare consume→produce again …", flush=True)
        bare_after = bare_consume_produce(settings, settings.topics().events, "bench.sink", count)
    bare = (bare_before + bare_after) / 2
    backend = database_url.split(":", 1)[0]
    result = {
        "machine": f"{platform.node()} {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "events": count,
        "people": people,
        "database": backend,
        "produce_events_per_s": round(produce_rate),
        "bare_consume_produce_events_per_s": round(bare),
        "bare_before_and_after_events_per_s": [round(bare_before), round(bare_after)],
        "floor_events_per_s": round(floor),
        "floor_to_bare_ratio": round(floor / bare, 3),
        "scoring_events_per_s": round(scoring),
        "scoring_to_bare_ratio": round(scoring / bare, 3),
        "scoring_to_floor_ratio": round(scoring / floor, 3),
    }
    publish_result("scoring", result)


if __name__ == "__main__":
    main()
