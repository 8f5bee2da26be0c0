"""How the scoring app assembles the ruleset pieces, kept here so ``app.py`` only gains a few lines."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

import structlog
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.kafka_io import KafkaPublisher, OutgoingRecord
from peerscore.scoring.domain.errors import RulesetError
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import KafkaSettings

from . import ruleset_registry
from .watcher import LiveRuleset, make_rules_consumer

log = structlog.get_logger(__name__)


class LazyPublisher:
    """Opens its producer on the first publish: most workers never publish a ruleset, and an app built with
    ``start_consumer=False`` must not need a broker to start."""

    def __init__(self, factory: Callable[[], KafkaPublisher]) -> None:
        self._factory = factory
        self._publisher: KafkaPublisher | None = None
        self._lock = threading.Lock()

    def _get(self) -> KafkaPublisher:
        with self._lock:
            if self._publisher is None:
                self._publisher = self._factory()
            return self._publisher

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        self._get().publish(records, wait=wait)

    def flush(self, timeout: float | None = None) -> None:
        if self._publisher is not None:
            self._publisher.flush(timeout)

    def close(self) -> None:
        with self._lock:
            if self._publisher is not None:
                self._publisher.close()
                self._publisher = None


def build_live_ruleset(
    *, engine: Callable[[], Engine], kafka: KafkaSettings, scoring: ScoringSettings, default: Ruleset
) -> LiveRuleset:
    """The provider for scoring: topic announcements, else the registry's live version, else ``default``.

    ``engine`` is asked when the fallback is first needed (the app opens its engine in the lifespan, after this
    is built); if that fails, the fallback is retried on the next ask."""

    def fallback() -> Ruleset:
        with Session(engine()) as session:
            try:
                return ruleset_registry.live_ruleset(session, scoring.ruleset_name) or default
            except RulesetError as exc:  # validation tightened since it was published: never stop scoring
                log.error("registry_live_ruleset_invalid", name=scoring.ruleset_name, problems=len(exc.errors))
                return default

    return LiveRuleset(
        name=scoring.ruleset_name,
        topic=kafka.topics().rules,
        fallback=fallback,
        consumer_factory=lambda: make_rules_consumer(kafka),
        poll_timeout_ms=scoring.ruleset_poll_ms,
    )


async def start_watching(live: LiveRuleset, timeout_s: float) -> None:
    """Start the watcher and wait (off the event loop) until the rules topic is read, so the first batch is
    scored with the published ruleset; past the timeout scoring starts with the registry/default ruleset."""
    live.start()
    if not await asyncio.to_thread(live.wait_ready, timeout_s):
        log.warning("ruleset_topic_not_read_in_time", timeout_s=timeout_s, serving="registry or default ruleset")
