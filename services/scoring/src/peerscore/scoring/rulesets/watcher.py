"""The live ruleset of one scoring worker, hot-reloaded from the ``rules`` topic without a restart.

Every worker reads the whole topic itself (no consumer group: each must see every announcement, and a group
join would cost seconds on Tansu). Tansu never compacts, so the reader keeps the newest valid value for its
ruleset name; a record that cannot be used is logged and skipped, never allowed to stop scoring. Until the
topic has been read to its end the worker serves the database's live version, else the configured default.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition
from pydantic import ValidationError

from peerscore.kafka_io import Reader, make_reader
from peerscore.scoring.domain.errors import RulesetError
from peerscore.scoring.domain.ruleset import Ruleset, parse_ruleset
from peerscore.settings import KafkaSettings

from .messages import RulesetPublished

log = structlog.get_logger(__name__)

RawRecord = tuple[str | None, bytes | None]


@dataclass(frozen=True)
class Accepted:
    message: RulesetPublished
    ruleset: Ruleset


def latest_valid(records: Sequence[RawRecord], name: str) -> tuple[Accepted | None, list[str]]:
    """The newest usable announcement for ``name`` among ``records`` (in log order), and why newer ones were not.

    Walks backwards so only the records that matter are parsed; a broken newest record leaves the previous
    good one in force rather than leaving the worker without rules.
    """
    rejected: list[str] = []
    for key, value in reversed(records):
        if key != name:
            continue
        if value is None:
            rejected.append("empty value")
            continue
        try:
            message = RulesetPublished.model_validate_json(value)
        except ValidationError as exc:
            rejected.append(f"not a RulesetPublished: {exc.error_count()} error(s)")
            continue
        if message.name != name:
            rejected.append(f"keyed {name!r} but announces {message.name!r}")
            continue
        try:
            ruleset = parse_ruleset(message.yaml)
        except RulesetError as exc:
            rejected.append(f"version {message.version}: invalid ruleset ({len(exc.errors)} problem(s))")
            continue
        if ruleset.version != message.version or ruleset.name != message.name:
            found = f"{ruleset.name}@{ruleset.version}"
            rejected.append(f"announced {message.name}@{message.version} but the YAML is {found}")
            continue
        return Accepted(message, ruleset), rejected
    return None, rejected


def make_rules_consumer(settings: KafkaSettings) -> Reader:
    """A group-less consumer: partitions are assigned by the watcher, nothing is ever committed."""
    return make_reader(settings, "rules-watcher")


def _records(polled: Mapping[TopicPartition, Sequence[Any]]) -> list[RawRecord]:
    ordered = sorted(((tp.partition, r.offset, r) for tp, rs in polled.items() for r in rs), key=lambda t: t[:2])
    return [(r.key.decode("utf-8", "replace") if r.key is not None else None, r.value) for _, _, r in ordered]


class LiveRuleset:
    """Holds the ruleset scoring uses now; ``current`` is the provider handed to the handler and the APIs."""

    def __init__(
        self,
        *,
        name: str,
        topic: str,
        fallback: Callable[[], Ruleset],
        consumer_factory: Callable[[], KafkaConsumer] | None = None,
        poll_timeout_ms: int = 500,
        retry_s: float = 2.0,
    ) -> None:
        self._name = name
        self._topic = topic
        self._fallback = fallback
        self._factory = consumer_factory
        self._poll_ms = poll_timeout_ms
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._ruleset: Ruleset | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def current(self) -> Ruleset:
        """The live ruleset; before any announcement, the fallback (computed once, retried if it failed)."""
        with self._lock:
            if self._ruleset is None:
                self._ruleset = self._fallback()
            return self._ruleset

    def install(self, ruleset: Ruleset, *, source: str) -> bool:
        """Swap in ``ruleset`` (the next batch scores with it); ``False`` when that version is already live."""
        with self._lock:
            previous = self._ruleset
            if previous is not None and previous.version == ruleset.version and previous == ruleset:
                return False
            self._ruleset = ruleset
        log.info(
            "ruleset_installed",
            name=ruleset.name,
            version=ruleset.version,
            previous=previous.version if previous else None,
            source=source,
        )
        return True

    def start(self) -> None:
        if self._factory is None:
            raise RuntimeError("LiveRuleset has no consumer factory: it can only serve its fallback")
        self._thread = threading.Thread(target=self._run, name="ruleset-watcher", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        """Block until the topic was read to its end (or ``timeout``); scoring should not start before."""
        return self._ready.wait(timeout)

    def check(self) -> None:
        """Readiness: the watcher (when started) is running and has read the topic once."""
        if self._thread is None:
            return
        if not self._thread.is_alive() and not self._stop.is_set():
            raise RuntimeError("ruleset watcher is not running") from self._error
        if not self._ready.is_set():
            raise RuntimeError("ruleset topic not read yet")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            consumer = self._connect()
            if consumer is None:
                return
            try:
                partitions = self._assign(consumer)
                if partitions:
                    self._catch_up(consumer, partitions)
                    self._ready.set()
                    while not self._stop.is_set():
                        self._apply(self._poll(consumer))
            finally:
                consumer.close()
        except BaseException as exc:  # surfaced through readiness; scoring keeps the ruleset it has
            self._error = exc
            log.exception("ruleset_watcher_crashed")

    def _connect(self) -> KafkaConsumer | None:
        assert self._factory is not None
        while not self._stop.is_set():
            try:
                return self._factory()
            except KafkaError as exc:
                log.warning("ruleset_watcher_connect_failed", error=type(exc).__name__)
                self._stop.wait(self._retry_s)
        return None

    def _assign(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        while not self._stop.is_set():
            try:
                partitions = consumer.partitions_for_topic(self._topic)
            except KafkaError as exc:
                log.warning("ruleset_topic_metadata_failed", error=type(exc).__name__)
                partitions = set()
            if partitions:
                assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
                consumer.assign(assigned)
                consumer.seek_to_beginning()
                return assigned
            log.warning("ruleset_topic_missing", topic=self._topic)
            self._stop.wait(self._retry_s)
        return []

    def _catch_up(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> None:
        """Read to the end before declaring readiness. ``end_offsets`` is only a lower bound on Tansu (the last
        batch's base offset + 1), so the end is an empty poll at or past it."""
        try:
            floor: dict[TopicPartition, int] = consumer.end_offsets(partitions)
        except KafkaError:
            floor = {}
        records: list[RawRecord] = []
        while not self._stop.is_set():
            batch = self._poll(consumer)
            records.extend(batch)
            if not batch and all(consumer.position(tp) >= floor.get(tp, 0) for tp in partitions):
                break
        version = self._apply(records)
        log.info("ruleset_topic_read", records=len(records), announced=version)

    def _poll(self, consumer: KafkaConsumer) -> list[RawRecord]:
        try:
            return _records(consumer.poll(timeout_ms=self._poll_ms))
        except KafkaError as exc:
            log.warning("ruleset_watcher_poll_failed", error=type(exc).__name__)
            self._stop.wait(self._retry_s)
            return []

    def _apply(self, records: list[RawRecord]) -> str | None:
        accepted, rejected = latest_valid(records, self._name)
        for reason in rejected:
            log.warning("ruleset_record_ignored", name=self._name, reason=reason)
        if accepted is None:
            return None
        self.install(accepted.ruleset, source=f"topic:{accepted.message.published_at.isoformat()}")
        return accepted.ruleset.version
