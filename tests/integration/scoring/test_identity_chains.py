"""Merge chains and repeated merges converge, whatever order the partitions are processed in.

The real scoring handler on SQLite, with an in-memory event log standing in for the broker: every record the
worker publishes to the events topic is fed back, partition by partition, until nothing more is produced.
Two runs process the partitions in opposite orders (both legal interleavings) and must end identically.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlmodel import Session, select

from peerscore.consumer import Message
from peerscore.db import create_tables, make_engine
from peerscore.dev.generated import identity_links
from peerscore.events import EngagementEvent, PersonIdentifiers, utcnow
from peerscore.identity import identifier_keys
from peerscore.kafka_io import OutgoingRecord
from peerscore.scoring.domain import PersonState, load_default_ruleset
from peerscore.scoring.handler import ScoringHandler
from peerscore.scoring.identity.batch import PrivacyConfig
from peerscore.scoring.identity.canonical import canonical_keys
from peerscore.scoring.identity.erasure import ErasureOrder, erasure_event
from peerscore.scoring.identity.models import ErasureLogRow, IdentityLinkRow
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.models import SCORING_TABLES, LedgerRow, PersonRow
from peerscore.topics import Topics

pytestmark = pytest.mark.integration

SECRET = b"chain-secret"
PARTITIONS = 4
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


class Log:
    """The events topic: per partition, records in publish order; the handler's publisher appends to it."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.partitions: dict[int, list[bytes | None]] = defaultdict(list)
        self.keys: dict[int, list[str | None]] = defaultdict(list)
        self.read: dict[int, int] = defaultdict(int)
        self.published: list[OutgoingRecord] = []

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        self.published.extend(records)
        for r in records:
            if r.topic == self.topic:
                self.append(r.key, r.value)

    def flush(self, timeout: float | None = None) -> None:
        return None

    def append(self, key: str | None, value: bytes) -> None:
        partition = zlib.crc32((key or "").encode()) % PARTITIONS
        self.partitions[partition].append(value)
        self.keys[partition].append(key)

    def pending(self, partition: int) -> Iterator[tuple[int, str | None, bytes | None]]:
        start = self.read[partition]
        for offset in range(start, len(self.partitions[partition])):
            yield offset, self.keys[partition][offset], self.partitions[partition][offset]


def key_of(**ids: str) -> str:
    return identifier_keys(PersonIdentifiers(**ids), SECRET)[0][1]


def evt(event_id: str, type_: str, minutes: int, path: str | None = None, **ids: str) -> EngagementEvent:
    at = T0 + timedelta(minutes=minutes)
    return EngagementEvent(
        event_id=event_id,
        type=type_,
        source="test",
        person_key=key_of(**ids),
        occurred_at=at,
        received_at=utcnow(),
        person=PersonIdentifiers(**ids),
        properties={"path": path} if path else {},
    )


SCRIPT = [
    evt("a1", "page.viewed", 0, "/pricing", anonymous_id="anon"),
    evt("a2", "page.viewed", 1, "/pricing", anonymous_id="anon"),
    evt("i1", "identify", 2, anonymous_id="anon", email="ada@acme.example"),  # anon → email
    evt("d1", "demo.requested", 3, email="ada@acme.example"),
    evt("i2", "identify", 4, email="ada@acme.example", user_id="u-1"),  # email (holding anon) → user
    evt("i1", "identify", 2, anonymous_id="anon", email="ada@acme.example"),  # redelivered: a repeated merge
    evt("a3", "page.viewed", 5, "/pricing", anonymous_id="anon"),  # arrives after: forwarded anon → email → user
    evt("i3", "identify", 6, email="ada@acme.example", user_id="u-2"),  # a second user id on the same email
    evt("a1", "page.viewed", 0, "/pricing", anonymous_id="anon"),  # a late duplicate of a pre-merge page
]


def run_script(engine: Engine, order: Sequence[int], extra: Sequence[EngagementEvent] = ()) -> None:
    create_tables(engine, SCORING_TABLES)
    topics = Topics(prefix="chain", event_partitions=PARTITIONS)
    log = Log(topics.events)
    ruleset = load_default_ruleset()
    handler = ScoringHandler(
        engine=engine,
        ruleset=lambda: ruleset,
        topics=topics,
        publisher=log,
        group_id="chain",
        metrics=ScoringMetrics(CollectorRegistry()),
        privacy=PrivacyConfig(secret=SECRET),
    )
    for step in [*SCRIPT, *extra]:  # one script event at a time, then everything it causes, until the log is quiet
        log.append(step.person_key, step.model_dump_json().encode())
        for _ in range(50):
            progressed = False
            for partition in order:
                batch = [
                    Message(topics.events, partition, offset, key, handler.decode(None, value), 0)
                    for offset, key, value in log.pending(partition)
                ]
                if batch:
                    log.read[partition] += len(batch)
                    handler.handle(batch)
                    progressed = True
            if not progressed:
                break


def final_state(engine: Engine) -> tuple[set[str], dict[str, str], list[tuple[str, str, float]], PersonState]:
    with Session(engine) as session:
        rows = session.exec(select(PersonRow)).all()
        links = {r.person_key: r.merged_into for r in session.exec(select(IdentityLinkRow)).all()}
        ledger = sorted((r.rule_id, r.event_id, round(r.points, 6)) for r in session.exec(select(LedgerRow)).all())
    survivors = {r.person_key for r in rows if PersonState.model_validate(r.state).version > 0}
    person = PersonState.model_validate(next(r.state for r in rows if r.person_key in survivors))
    return survivors, links, ledger, person


@pytest.fixture
def two_engines(tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    a, b = make_engine(f"sqlite:///{tmp_path / 'a.db'}"), make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    yield a, b
    a.dispose()
    b.dispose()


def test_merge_chains_converge_on_one_person_in_any_partition_order(two_engines: tuple[Engine, Engine]) -> None:
    forward, backward = two_engines
    run_script(forward, range(PARTITIONS))
    run_script(backward, list(reversed(range(PARTITIONS))))

    survivors, links, ledger, person = final_state(forward)
    assert final_state(backward)[:3] == (survivors, links, ledger)

    strongest = max((3, key_of(user_id="u-1")), (3, key_of(user_id="u-2")))[1]
    assert survivors == {strongest}, "every key ends in the strongest (rank, key)"
    everyone = {key_of(anonymous_id="anon"), key_of(email="ada@acme.example"), key_of(user_id="u-1")}
    everyone |= {key_of(user_id="u-2")}
    assert set(links) == everyone - {strongest}
    for key in links:  # every redirect chain ends at the survivor, without loops
        seen = {key}
        while key in links:
            key = links[key]
            assert key not in seen
            seen.add(key)
        assert key == strongest
    awarded = [event_id for _, event_id, _ in ledger]
    assert awarded.count("a1") == 1, "the late duplicate of a pre-merge page is not counted again"
    assert {"a1", "a2", "a3", "d1"} <= set(awarded)
    assert set(person.recent_event_ids) >= {"a1", "a2", "a3", "d1", "i1", "i2", "i3"}


def test_erasing_any_key_of_a_merged_person_follows_the_merges(two_engines: tuple[Engine, Engine]) -> None:
    engine, _ = two_engines
    anon = key_of(anonymous_id="anon")
    order = ErasureOrder(request_id="r-1", requested_at=utcnow(), keys=[anon])
    run_script(engine, range(PARTITIONS), extra=[erasure_event(anon, order)])

    with Session(engine) as session:
        assert session.exec(select(PersonRow)).all() == []
        assert session.exec(select(LedgerRow)).all() == []
        assert session.exec(select(IdentityLinkRow)).all() == []
        erased = {r.person_key for r in session.exec(select(ErasureLogRow)).all()}
    assert anon in erased and len(erased) >= 2, "forwarded along the redirects to where the data went"


def test_links_settled_without_the_worker_are_the_links_the_worker_writes(tmp_path: Path) -> None:
    """``generate-history`` writes history without the worker, so it writes the links with ``settle_links``:
    on this script (chains, a repeated merge, two user ids sharing an email) both give the same links."""
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    run_script(engine, range(PARTITIONS))
    _, worker_links, _, _ = final_state(engine)
    engine.dispose()
    settled = {row["person_key"]: row["merged_into"] for row in identity_links(SCRIPT, SECRET)}
    assert settled == worker_links
    assert set(canonical_keys(settled, settled).values()) == {key_of(user_id="u-1"), key_of(user_id="u-2")} - set(
        settled
    )
