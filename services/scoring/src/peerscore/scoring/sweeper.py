"""The periodic decay sweep: leads that went cold are recycled without waiting for their next event.

The sweep never changes state itself. It publishes a ``system.decay_check`` event per lead that would now be
recycled, keyed by person, to the events topic; the worker applies it in partition order like any event, so the
transition is part of the folded state and is emitted exactly once. The event id is derived from the lead's
version, so sweeping again before the worker caught up publishes the same id, which the worker deduplicates.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy import ColumnElement, Engine, Text, cast, or_
from sqlmodel import Session, col, select

from peerscore.events import DECAY_CHECK, EngagementEvent, utcnow
from peerscore.kafka_io import Publisher, record
from peerscore.scoring.domain.recycling import needs_recycling
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.domain.state import PersonState
from peerscore.scoring.models import PersonRow

log = structlog.get_logger(__name__)
CHUNK = 1000


class DecaySweeper:
    def __init__(
        self,
        *,
        engine: Engine,
        ruleset: Callable[[], Ruleset],
        publisher: Publisher,
        events_topic: str,
        interval_s: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._ruleset = ruleset
        self._publisher = publisher
        self._topic = events_topic
        self._interval_s = interval_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="decay-sweeper", daemon=True)

    def sweep_once(self) -> int:
        """Publish a decay check for every qualified lead that would be recycled now; returns how many."""
        now = self._clock()
        ruleset = self._ruleset()
        sent, after = 0, ""
        qualified: ColumnElement[bool] = col(PersonRow.qualified).is_(True)
        if ruleset.product_lines:  # MQLs of a line only: their stored state names the lines (a scan, with lines)
            qualified = or_(qualified, cast(col(PersonRow.state), Text).like('%"qualified_lines"%'))
        while True:
            with Session(self._engine) as session:
                rows = session.exec(
                    select(PersonRow.person_key, PersonRow.state)
                    .where(qualified, col(PersonRow.person_key) > after)
                    .order_by(col(PersonRow.person_key))
                    .limit(CHUNK)
                ).all()
            if not rows:
                return sent
            after = rows[-1][0]
            people = (PersonState.model_validate(state) for _, state in rows)
            due = [p for p in people if needs_recycling(p, ruleset, now)]
            checks = [
                EngagementEvent(
                    event_id=f"decay:{p.person_key}:{p.version}",
                    type=DECAY_CHECK,
                    source="peerscore",
                    person_key=p.person_key,
                    occurred_at=now,
                    received_at=now,
                )
                for p in due
            ]
            if checks:
                self._publisher.publish([record(self._topic, c.person_key, c) for c in checks], wait=True)
                sent += len(checks)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                sent = self.sweep_once()
                if sent:
                    log.info("decay_checks_published", leads=sent)
            except Exception as exc:  # noqa: BLE001 - a failed sweep is retried at the next interval
                log.warning("decay_sweep_failed", error=type(exc).__name__)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
