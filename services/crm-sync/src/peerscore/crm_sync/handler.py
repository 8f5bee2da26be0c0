"""The batch handler the shared consumer loop drives: lead transitions in, CRM upserts and ledger rows out.

Per polled batch, each lead's versions are collapsed into one (a handoff followed by updates stays a handoff, with
the newest score). **Handoffs** (``qualified``/``recycled``) are sent at once, in one transaction with their ledger
rows. **Updates** are taken in: the newest version of each lead worth sending is written to ``crm_pending`` (one
transaction; :mod:`.domain.freshness` decides whether a salesperson would notice), so the loop can commit the
offset: the queue is durable. **Flush** then sends the due pending versions (no sooner than the coalescing delay
after the lead's last send) in CRM batches, each in one transaction with its ledger rows; ``on_idle`` flushes too,
so updates fall due while no record arrives.

Delivery is at least once (redelivery after a crash, replays from the start of the topic), so every send first
reads the sync ledger and drops every version not newer than the one already applied; the pending queue never
takes a version older than the one it holds. Re-reading records is harmless.

Leads the CRM takes or refuses for good are recorded at once; the ones it cannot take *now* (429, 5xx,
timeouts) stay pending and make the call raise :class:`RetryableError`, so the shared loop waits (order per lead
kept, already-recorded leads skipped on the retry) for the capped exponential back-off of the budget, or longer when
the CRM said so (``Retry-After``). Each failing version is charged to its time budget (throttling is not charged);
once it is spent the version goes to the CRM dead-letter topic and leaves the queue. A call that fails as a whole
opens the circuit breaker (:mod:`.breaker`): no call goes out until it lets a probe through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from kafka.structs import TopicPartition
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.consumer import InvalidMessage, Message, RetryableError
from peerscore.crm_sync import associations, breaker, budget, crm_records, privacy
from peerscore.crm_sync import pending as pending_store
from peerscore.crm_sync.adapters.base import AdapterFactory, CompanyAssociations, CrmAdapter, SyncResult
from peerscore.crm_sync.budget import RetryBudget
from peerscore.crm_sync.dead_letters import CrmDeadLetter
from peerscore.crm_sync.domain.freshness import UpdatePolicy, collapse, plan_intake
from peerscore.crm_sync.domain.mapping import CrmLeadRecord, UnmappableLead, to_crm_record
from peerscore.crm_sync.ledger import ledger_row, version_status
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import SyncLedger
from peerscore.db import upsert
from peerscore.events import LeadTransition, utcnow
from peerscore.failures import database_step
from peerscore.kafka_io import Publisher, record

log = structlog.get_logger(__name__)

_LEDGER_KEYS = ("crm", "person_key")


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch did to one CRM; ``failures`` maps person keys to the permanent error recorded."""

    crm: str
    synced: int
    skipped: int
    failures: dict[str, str]
    dead_lettered: int = 0


@dataclass(frozen=True)
class _Sent:
    """What one CRM call did: the versions offered, sent (``fresh``), settled (recorded or not newer) and waiting."""

    crm: str
    offered: int
    fresh: list[LeadTransition]
    settled: list[LeadTransition]
    failures: dict[str, str]
    retry: list[SyncResult]


@dataclass(frozen=True)
class DeadLetterSink:
    """Where leads go when their retry budget is spent: the CRM dead-letter topic, acknowledged before the
    ledger records them as dead-lettered (so a crash in between re-sends instead of losing them)."""

    publisher: Publisher
    topic: str
    budget: RetryBudget = RetryBudget()


def newest_per_person(transitions: Iterable[LeadTransition]) -> list[LeadTransition]:
    """Keep only the highest version of each lead, in the order leads first appear: older ones are moot."""
    newest: dict[str, LeadTransition] = {}
    for t in transitions:
        current = newest.get(t.person_key)
        if current is None or t.score.version > current.score.version:
            newest[t.person_key] = t
    return list(newest.values())


def is_due(version: int, applied: tuple[int, str] | None, *, replay: bool) -> bool:
    """The ledger decides: newer versions are sent; a dead-lettered version again only when replayed."""
    if applied is None or version > applied[0]:
        return True
    return replay and version == applied[0] and applied[1] == "dlq"


class SyncHandler:
    """Implements :class:`peerscore.consumer.BatchHandler` for ``LeadTransition`` records.

    A batch is first *taken in*: the newest version of each lead worth sending is written to ``crm_pending`` (one
    transaction), so the loop can commit the offset; then every due pending version is *flushed* to the CRM in
    chunks of ``flush_batch``. ``on_idle`` flushes too, so coalesced updates go out when no record arrives.
    """

    def __init__(
        self,
        engine: Engine,
        adapter_factory: AdapterFactory,
        metrics: CrmMetrics,
        clock: Callable[[], datetime] = utcnow,
        dead_letters: DeadLetterSink | None = None,
        policy: UpdatePolicy = UpdatePolicy(),
        flush_batch: int = 100,
        max_flush_chunks: int = 20,
        breaker_policy: breaker.BreakerPolicy = breaker.BreakerPolicy(),
    ) -> None:
        self._engine = engine
        self._adapter_factory = adapter_factory
        self._metrics = metrics
        self._clock = clock
        self._dead_letters = dead_letters
        self._policy = policy
        self._flush_batch = flush_batch
        self._max_flush_chunks = max_flush_chunks
        self._breaker_policy = breaker_policy
        self._breaker = breaker.CLOSED
        self._crm = "crm"  # learnt from the adapter at the first call; labels the breaker's metric
        self._backoff_s = 0.0

    def decode(self, key: bytes | None, value: bytes | None) -> LeadTransition:
        if not value:
            raise InvalidMessage("empty record value")
        try:
            return LeadTransition.model_validate_json(value)
        except ValidationError as exc:
            raise InvalidMessage(f"not a LeadTransition: {_describe(exc)}") from exc

    def handle(self, batch: Sequence[Message[LeadTransition]]) -> None:
        # Transitions older than the person's erasure are never synced; an opt-out (withheld score) only reaches
        # the CRM of a person already handed off, and at once: sales must stop working the lead now.
        admitted = privacy.admit(self._engine, batch)
        leads = collapse(m.value for m in admitted)
        withheld = [m.value for m in batch if m.value.score.withheld is not None]
        updates = [t for t in leads if t.kind == "updated" and t.score.withheld is None]
        superseded = len(admitted) - len(leads)  # older versions of a lead in the same poll: moot
        with database_step():
            self.intake(updates, withheld=withheld, superseded=superseded)
        handoffs = [t for t in leads if t.kind != "updated" or t.score.withheld is not None]
        if handoffs:  # never held back: sent now, like before updates existed (a retry rewinds the batch)
            self.sync(handoffs)
        self.flush()

    def on_idle(self) -> None:
        """Called by the consumer loop when a poll returned nothing: coalesced updates fall due with time."""
        self.flush()

    def intake(
        self, transitions: Sequence[LeadTransition], *, withheld: Sequence[LeadTransition] = (), superseded: int = 0
    ) -> int:
        """Queue the newest version of each lead that is worth sending (see :func:`plan_intake`); returns how many.

        A ``withheld`` version (the person opted out) is never queued, and withdraws what was queued before it (the
        handler sends it at once to a person already handed off)."""
        newest = collapse(transitions)
        if not newest and not withheld and not superseded:
            return 0
        now = self._clock()
        keys = [t.person_key for t in newest]
        with Session(self._engine) as session, session.begin():
            crm = self._adapter_factory(session).name
            pending_store.clear(session, crm, {t.person_key: t.score.version for t in newest_per_person(withheld)})
            sent = pending_store.sent_snapshots(session, crm, keys)
            waiting = pending_store.load(session, crm, keys)
            queued = []
            for t in newest:
                snapshot = sent.get(t.person_key)
                if not is_due(t.score.version, version_status(snapshot), replay=False):
                    continue
                planned = plan_intake(t, snapshot, waiting.get(t.person_key), self._policy, now)
                if planned is not None:
                    queued.append(planned)
            pending_store.store(session, crm, queued, now)
        self._metrics.observe(crm, ok=0, failed=0, skipped=len(transitions) - len(queued) + superseded)
        return len(queued)

    def flush(self) -> list[BatchOutcome]:
        """Send every due pending version (at most ``max_flush_chunks`` chunks per call, so polls keep coming);
        raises :class:`RetryableError` while the CRM should be retried (the versions stay pending)."""
        self._retry_associations()
        outcomes = []
        for _ in range(self._max_flush_chunks):
            with database_step():
                outcome, retry, taken = self._flush_chunk()
            if taken == 0:
                break
            outcomes.append(self._report(outcome, retry))
            if taken < self._flush_batch:
                break
        return outcomes

    def _flush_chunk(self) -> tuple[BatchOutcome, list[SyncResult] | None, int]:
        with Session(self._engine) as session, session.begin():
            adapter = self._adapter_factory(session)
            due = pending_store.take_due(session, adapter.name, self._clock(), self._flush_batch)
            if not due:
                return BatchOutcome(adapter.name, 0, 0, {}), None, 0
            self._wait_for_breaker()  # only when something is due: an idle worker has nothing to pause
            sent = self._send(session, adapter, due, replay=False)
            pending_store.clear(session, adapter.name, {t.person_key: t.score.version for t in sent.settled})
        outcome, retry = self._charge_waiting(sent)
        return outcome, retry, len(due)

    def sync(self, transitions: Sequence[LeadTransition], *, replay: bool = False) -> BatchOutcome:
        """Send now, past the pending queue (``peerscore crm replay``, benches); metrics and logs as for a flush;
        raises :class:`RetryableError` while the CRM should be retried."""
        self._wait_for_breaker()
        with database_step():
            outcome, retry = self.apply(transitions, replay=replay)
        return self._report(outcome, retry)

    def _report(self, outcome: BatchOutcome, retry: list[SyncResult] | None) -> BatchOutcome:
        crm, failed = outcome.crm, len(outcome.failures)
        self._metrics.observe(crm, ok=outcome.synced, failed=failed, skipped=outcome.skipped)
        self._metrics.dead_lettered(crm, outcome.dead_lettered)
        for person_key, error in outcome.failures.items():
            log.warning("crm_sync_failed", crm=crm, person_key=person_key, error=error)
        log.info("crm_batch_synced", crm=crm, synced=outcome.synced, failed=failed, skipped=outcome.skipped)
        if retry is not None:
            self._metrics.retried(crm, len(retry))
            hints = [r.retry_after for r in retry if r.retry_after is not None]
            hints += [self._backoff_s, breaker.wait_s(self._breaker, self._clock())]
            raise RetryableError(f"{crm}: {len(retry)} lead(s) to retry: {retry[0].message}", max(hints))
        return outcome

    def _wait_for_breaker(self) -> None:
        """While the breaker is open no call goes out: the loop waits (and rewinds), nothing is charged."""
        wait = breaker.wait_s(self._breaker, self._clock())
        self._metrics.circuit(self._crm, open_s=wait)
        if wait > 0:
            raise RetryableError(f"{self._crm}: circuit open after {self._breaker.outages} failed call(s)", wait)

    def _retry_associations(self) -> None:
        """Company associations that failed after their contact was written are retried on their own."""
        if breaker.wait_s(self._breaker, self._clock()) > 0:
            return
        with database_step(), Session(self._engine) as session, session.begin():
            adapter = self._adapter_factory(session)
            if isinstance(adapter, CompanyAssociations):
                associations.retry(session, adapter.name, adapter)

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {}

    def apply(
        self, transitions: Sequence[LeadTransition], *, replay: bool = False
    ) -> tuple[BatchOutcome, list[SyncResult] | None]:
        """Sync what is due and record every settled lead in one transaction; the leads the CRM could not take
        now are charged to their retry budget afterwards and returned (dead-lettered once it is spent)."""
        with Session(self._engine) as session, session.begin():
            sent = self._send(session, self._adapter_factory(session), transitions, replay=replay)
            pending_store.clear(session, sent.crm, {t.person_key: t.score.version for t in sent.settled})
        return self._charge_waiting(sent)

    def _send(
        self, session: Session, adapter: CrmAdapter, transitions: Sequence[LeadTransition], *, replay: bool
    ) -> _Sent:
        """The CRM call and the ledger rows of every lead it settled, in the caller's transaction."""
        newest = newest_per_person(transitions)
        crm = adapter.name
        snapshots = pending_store.sent_snapshots(session, crm, [t.person_key for t in newest])
        fresh = [
            t for t in newest if is_due(t.score.version, version_status(snapshots.get(t.person_key)), replay=replay)
        ]
        failures: dict[str, str] = {}
        records = []
        for t in fresh:
            previous = snapshots.get(t.person_key)
            try:
                records.append(to_crm_record(t, previous.lead_status if previous is not None else None))
            except UnmappableLead as exc:
                failures[t.person_key] = exc.reason
        results = call_adapter(adapter, records)
        self._crm = crm
        self._breaker = breaker.after_call(self._breaker, results, self._breaker_policy, self._clock())
        crm_records.record_synced(session, adapter, results, records, self._clock())
        associations.record(session, crm, results, self._clock())
        failures.update({r.person_key: r.message or "rejected" for r in results if r.outcome == "permanent"})
        retry = [r for r in results if r.outcome == "retryable"]
        waiting = {r.person_key for r in retry}
        settled = [t for t in fresh if t.person_key not in waiting]
        status = {r.person_key: r.status for r in records}
        now = self._clock()
        rows = [ledger_row(crm, t, failures, now, lead_status=status.get(t.person_key)) for t in settled]
        upsert(session, SyncLedger, rows, keys=_LEDGER_KEYS)
        budget.settle(session, crm, [t.person_key for t in settled])
        fresh_keys = {t.person_key for t in fresh}
        skipped = [t for t in newest if t.person_key not in fresh_keys]
        return _Sent(crm, len(transitions), fresh, settled + skipped, failures, retry)

    def _charge_waiting(self, sent: _Sent) -> tuple[BatchOutcome, list[SyncResult] | None]:
        crm, failures, retry = sent.crm, sent.failures, sent.retry
        synced = len(sent.fresh) - len(sent.retry) - len(failures)
        skipped = sent.offered - len(sent.fresh)
        if not retry:
            return BatchOutcome(crm, synced, skipped, failures), None
        waiting = {r.person_key for r in retry}
        dead, still = self._charge(crm, [t for t in sent.fresh if t.person_key in waiting], retry)
        return BatchOutcome(crm, synced, skipped, failures, dead), (still or None)

    def _charge(self, crm: str, waiting: list[LeadTransition], retry: list[SyncResult]) -> tuple[int, list[SyncResult]]:
        now = self._clock()
        by_key = {t.person_key: t for t in waiting}
        with Session(self._engine) as session, session.begin():
            states = budget.charge(session, crm, retry, now)
            policy = self._dead_letters.budget if self._dead_letters is not None else RetryBudget()
            self._backoff_s = policy.backoff_s(max((s.attempts for s in states.values()), default=0))
            if self._dead_letters is None:
                return 0, retry
            spent = [
                r
                for r in retry
                if r.person_key in states and self._dead_letters.budget.exhausted(states[r.person_key], now)
            ]
            if not spent:
                return 0, retry
            letters = [
                CrmDeadLetter(
                    crm=crm,
                    transition=by_key[r.person_key],
                    error=(r.message or "retryable")[:2000],
                    attempts=states[r.person_key].attempts,
                    first_failed_at=states[r.person_key].first_failed_at,
                    failed_at=now,
                )
                for r in spent
            ]
            self._dead_letters.publisher.publish(
                [record(self._dead_letters.topic, d.transition.person_key, d) for d in letters], wait=True
            )
            errors = {r.person_key: r.message or "retryable" for r in spent}
            rows = [ledger_row(crm, by_key[k], errors, now, status="dlq") for k in errors]
            upsert(session, SyncLedger, rows, keys=_LEDGER_KEYS)
            budget.settle(session, crm, list(errors))
            pending_store.clear(session, crm, {k: by_key[k].score.version for k in errors})
        for r in spent:
            log.error("crm_lead_dead_lettered", crm=crm, person_key=r.person_key, error=(r.message or "")[:300])
        return len(spent), [r for r in retry if r.person_key not in errors]


def call_adapter(adapter: CrmAdapter, records: list[CrmLeadRecord]) -> list[SyncResult]:
    """A CRM that cannot be reached at all fails every lead of the call retryably (and charges their budget)."""
    if not records:
        return []
    try:
        return adapter.upsert(records)
    except (ConnectionError, TimeoutError) as exc:
        return [SyncResult.retryable(r, f"{adapter.name} unreachable: {exc}") for r in records]


def _describe(exc: ValidationError) -> str:
    """Field paths and messages only: the input may hold personal data and this text is logged and kept."""
    errors = exc.errors(include_input=False, include_url=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in errors[:5]]
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more
