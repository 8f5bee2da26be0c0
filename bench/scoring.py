"""Scoring throughput on the embedded broker, for each Kafka client (kafka-python, then confluent-kafka): a bare
consume→produce loop over the same pre-filled topic (run before and after the others; the ratios use their mean),
a floor loop that validates, stores and publishes each event without scoring it (the most any worker can reach),
then the real worker (rules + database writes + outputs). Prints a table and writes var/bench/scoring.json with
the ratios worker/bare and worker/floor per client, and confluent worker / kafka-python worker.

    make bench                                    # 30k events of ~5k people, SQLite: a few minutes on 2 cores
    BENCH_EVENTS=1000000 BENCH_PEOPLE=100000 …    # the issue's full size
    BENCH_CLIENTS=kafka-python …                  # one client only
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test make bench   # tables dropped per run
"""

from __future__ import annotations

import os
import resource
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from report import measured_where, publish_result  # noqa: E402 - bench/ is on sys.path when run as a script
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel

from peerscore.consumer import ConsumerLoop, InvalidMessage, Message
from peerscore.db import make_engine
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


def bare_confluent(settings: KafkaSettings, source: str, sink: str, count: int) -> float:
    """The same bare loop on librdkafka: consume a batch, produce it, wait for the acks, commit synchronously."""
    from confluent_kafka import Consumer, Producer

    from peerscore.kafka_confluent import librdkafka_options

    options = librdkafka_options(settings, "bare")
    consumer = Consumer(
        options
        | {
            "group.id": f"bare-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        }
    )
    producer = Producer(options | {"acks": "all", "linger.ms": 5, "batch.size": 256 * 1024})
    consumer.subscribe([source])
    seen, started = 0, None
    while seen < count:
        messages = [m for m in consumer.consume(num_messages=settings.max_poll_records, timeout=0.5) if not m.error()]
        if not messages:
            continue
        started = started or time.perf_counter()
        for m in messages:
            _produce_blocking(producer, sink, m.key(), m.value())
        seen += len(messages)
        producer.flush()
        consumer.commit(asynchronous=False)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    producer.close()
    return count / elapsed


def _produce_blocking(producer: Any, topic: str, key: Any, value: Any) -> None:
    while True:
        try:
            producer.produce(topic, key=key, value=value)
            return
        except BufferError:
            producer.poll(0.05)


def fresh_tables(engine: Engine, models: Sequence[type[SQLModel]]) -> None:
    """Empty tables for each run: every client's floor and worker start from the same nothing."""
    tables = [m.__table__ for m in models]  # type: ignore[attr-defined]
    SQLModel.metadata.drop_all(engine, tables=tables)
    SQLModel.metadata.create_all(engine, tables=tables)


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

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}  # the group's committed offsets

    def handle(self, batch: Sequence[Message[EngagementEvent]]) -> None:
        with Session(self._engine) as session, session.begin():
            append_history(session, batch)
        self._publisher.publish([record(self._sink, m.key, m.value) for m in batch], wait=True)


def timed_run(loop: ConsumerLoop[Any], count: int) -> float:
    """Seconds from the moment the loop holds its partitions to the last record, like the bare loops (which start
    their clock at the first records): the group join (seconds on Tansu) would dominate a small run otherwise."""
    started: list[float] = []
    clock = threading.Thread(target=lambda: loop.ready.wait(1800) and started.append(time.perf_counter()), daemon=True)
    clock.start()
    begun = time.perf_counter()
    loop.run(max_messages=count, timeout=1800)
    ended = time.perf_counter()
    clock.join(1)
    return ended - (started[0] if started else begun)


def floor_loop(settings: KafkaSettings, database_url: str, sink: str, count: int) -> float:
    engine = make_engine(database_url)
    fresh_tables(engine, HISTORY_TABLES)
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
    elapsed = timed_run(loop, count)
    publisher.close()
    engine.dispose()
    return loop.stats.handled / elapsed


def scoring_worker(settings: KafkaSettings, database_url: str, count: int) -> tuple[float, int]:
    engine = make_engine(database_url)
    fresh_tables(engine, SCORING_TABLES)
    registry = CollectorRegistry()
    group = f"bench-{uuid.uuid4().hex[:6]}"
    publisher = make_publisher(settings)
    ruleset = load_default_ruleset()
    loop = scoring_loop(
        settings, engine=engine, ruleset=lambda: ruleset, publisher=publisher, group_id=group, registry=registry
    )
    elapsed = timed_run(loop, count)
    with engine.connect() as conn:
        people = conn.execute(text("SELECT count(*) FROM person_state")).scalar_one()
    publisher.close()
    engine.dispose()
    return loop.stats.handled / elapsed, int(people)


def measure_client(settings: KafkaSettings, tmp: str, count: int) -> dict[str, Any]:
    """Bare, floor, worker, bare again — all on ``settings.client`` — over the pre-filled events topic."""
    client = settings.client
    bare_loop = bare_confluent if client == "confluent" else bare_consume_produce
    source = settings.topics().events
    print(f"[{client}] bare consume→produce …", flush=True)
    bare_before = bare_loop(settings, source, f"bench.sink.{client}", count)
    print(f"[{client}] floor (validate + store + publish, no scoring) …", flush=True)
    floor = floor_loop(
        settings, os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{tmp}/{client}-floor.db"), "bench.floor", count
    )
    print(f"[{client}] scoring worker …", flush=True)
    database_url = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{tmp}/{client}-bench.db")
    scoring, people = scoring_worker(settings, database_url, count)
    print(f"[{client}] bare consume→produce again …", flush=True)
    bare_after = bare_loop(settings, source, f"bench.sink.{client}", count)
    bare = (bare_before + bare_after) / 2
    return {
        "people": people,
        "bare_consume_produce_events_per_s": round(bare),
        "bare_before_and_after_events_per_s": [round(bare_before), round(bare_after)],
        "floor_events_per_s": round(floor),
        "floor_to_bare_ratio": round(floor / bare, 3),
        "scoring_events_per_s": round(scoring),
        "scoring_to_bare_ratio": round(scoring / bare, 3),
        "scoring_to_floor_ratio": round(scoring / floor, 3),
    }


def main() -> None:
    count = int(os.environ.get("BENCH_EVENTS", "30000"))
    people = int(os.environ.get("BENCH_PEOPLE", "5000"))
    clients = [c.strip() for c in os.environ.get("BENCH_CLIENTS", "kafka-python,confluent").split(",") if c.strip()]
    tune_gc_for_throughput()  # as the services' entry points do; process-wide, so every loop below runs with it
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(port=free_port()) as broker:
        settings = KafkaSettings(
            bootstrap_servers=broker.bootstrap_servers,
            topic_prefix="bench",
            event_partitions=12,
            max_poll_records=5000,
        )
        ensure_topics(settings)
        print(f"generating and producing {count:,} events of about {people:,} people …", flush=True)
        count, produce_rate = produce(settings, settings.topics().events, generate(count, people))
        # This machine's speed drifts: each client's ratios use its own bare loop, run before and after.
        by_client = {c: measure_client(settings.model_copy(update={"client": c}), tmp, count) for c in clients}
    result: dict[str, Any] = {
        **measured_where(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "events": count,
        "database": os.environ.get("BENCH_DATABASE_URL", "sqlite").split(":", 1)[0],
        "produce_events_per_s": round(produce_rate),
    }
    for client, figures in by_client.items():
        result |= {f"{client}.{name}": value for name, value in figures.items()}
    if {"kafka-python", "confluent"} <= by_client.keys():
        python, confluent = by_client["kafka-python"], by_client["confluent"]
        result["confluent_to_kafka_python_scoring_ratio"] = round(
            confluent["scoring_events_per_s"] / python["scoring_events_per_s"], 3
        )
        result["confluent_to_kafka_python_bare_ratio"] = round(
            confluent["bare_consume_produce_events_per_s"] / python["bare_consume_produce_events_per_s"], 3
        )
    publish_result("scoring", result)


if __name__ == "__main__":
    main()
