"""The scoring worker's batch handler: apply events to person/account state exactly once.

Per polled batch, in ONE database transaction: skip records at or below the offsets already stored (a crash
between the database commit and the Kafka commit re-delivers them), load the states the batch needs, apply every
event in partition order through the pure domain, write states, ledger rows, the outputs (outbox) and the next
offsets; the same transaction deletes the outputs the previous batch published (:mod:`.outbox`). After the
commit the outbox is published (acks=all). State effects therefore happen exactly once even under SIGKILL;
outputs are at-least-once and carry the lead version as their idempotency key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import structlog
from kafka.structs import TopicPartition
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session

from peerscore.consumer import InvalidMessage, Message
from peerscore.events import EngagementEvent, LeadScore, LeadTransition, parse_event, utcnow
from peerscore.failures import database_failure
from peerscore.kafka_io import OutgoingRecord, Publisher, record
from peerscore.scoring import store
from peerscore.scoring.domain import with_account_context
from peerscore.scoring.domain.engine import Applied, LedgerEntry, merge_event
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.domain.state import (
    AccountState,
    PersonState,
    account_key_for,
    event_account_key,
    lead_contact,
    new_account,
    new_person,
)
from peerscore.scoring.domain.transitions import lead_transitions
from peerscore.scoring.domain.working import Folded, WorkingPerson
from peerscore.scoring.history import ReceivedBytes, append_history
from peerscore.scoring.identity.batch import IdentityBatch, PrivacyConfig, validate_internal
from peerscore.scoring.identity.step import TRANSFER_TYPES
from peerscore.scoring.insights.milestones import record_mqls
from peerscore.scoring.metrics import ScoringMetrics
from peerscore.scoring.outbox import OUTBOX_CHUNK, Outbox, add_outbox
from peerscore.scoring.predictive.online import BatchPredictor, BatchView
from peerscore.scoring.rows import load_offsets, save_offsets
from peerscore.scoring.signals import record_unscored
from peerscore.topics import Topics

log = structlog.get_logger(__name__)

CrmLeads = Literal["mql", "known"]
"""Whose score changes follow them into the CRM: qualified leads (the handoff), or every lead with an email."""


def describe_validation_error(exc: ValidationError) -> str:
    first = exc.errors()[:3]
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in first)


def _score_changed(old: LeadScore | None, new: LeadScore) -> bool:
    if old is None:
        return True
    # Equal but for version and time: compare field dicts (cheaper than two dumps; one score per person per batch).
    return old.model_copy(update={"version": new.version, "as_of": new.as_of}) != new


@dataclass
class _BatchWork:
    """What one batch reads and changes: the working state its events fold into, and what it will write."""

    ruleset: Ruleset
    people: dict[str, PersonState]
    last_scores: dict[str, LeadScore | None]
    accounts_before: dict[str, AccountState]
    accounts: dict[str, AccountState]
    stored_probability: dict[str, float | None] = field(default_factory=dict)
    """Person → the model's probability in their stored score before this batch (the predictor's hysteresis)."""
    awards: list[tuple[str, LedgerEntry]] = field(default_factory=list)
    outputs: list[OutgoingRecord] = field(default_factory=list)
    touched_people: set[str] = field(default_factory=set)
    touched_accounts: set[str] = field(default_factory=set)
    applied_messages: list[Message[EngagementEvent]] = field(default_factory=list)
    newest: dict[str, Applied] = field(default_factory=dict)
    transitioned: dict[str, int] = field(default_factory=dict)
    """Person → version of the transition published in this batch."""
    mqls: dict[str, datetime] = field(default_factory=dict)
    """Person → when they qualified in this batch (the influence report's MQL times)."""
    working: dict[str, WorkingPerson] = field(default_factory=dict)
    """People folded in place this batch (:mod:`~peerscore.scoring.domain.working`); ``people`` once settled."""
    folded: dict[str, tuple[Folded, AccountState | None]] = field(default_factory=dict)
    """A working person's newest fold and the account as it merged: their ``newest`` once settled."""

    def settle(self, key: str) -> None:
        """A working person back to a stored state (and their newest result), once per batch or before an event
        that needs the full state (identity transfers, consent)."""
        working = self.working.pop(key, None)
        if working is None:
            return
        person = self.people[key] = working.state()
        newest = self.folded.pop(key, None)
        if newest is not None:
            self.newest[key] = _applied(person, newest, self.ruleset)


def _applied(person: PersonState, newest: tuple[Folded, AccountState | None], ruleset: Ruleset) -> Applied:
    folded, account = newest
    return Applied(
        person=person,
        account=account,
        awards=[],
        transition=folded.transition,
        duplicate=False,
        card=folded.card,
        as_of=folded.at,
        ruleset=ruleset,
        line_transitions=folded.line_transitions,
    )


def _load_work(session: Session, identity: IdentityBatch, ruleset: Ruleset) -> _BatchWork:
    """The states the batch needs, one query per table: its people, and every account it can touch (the
    events' domains, the accounts transfers bring, and the accounts its people already belong to)."""
    loaded = store.load_people(session, (m.value.person_key for m in identity.events))
    people: dict[str, PersonState] = {k: state for k, (state, _) in loaded.items()}
    last_scores: dict[str, LeadScore | None] = {k: score for k, (_, score) in loaded.items()}
    event_domains = {event_account_key(m.value) for m in identity.events} | identity.account_keys()
    person_accounts = {p.account_key for p in people.values()}
    accounts_before = store.load_accounts(session, {k for k in event_domains | person_accounts if k})
    stored = {k: score.conversion_probability if score is not None else None for k, score in last_scores.items()}
    return _BatchWork(ruleset, people, last_scores, accounts_before, dict(accounts_before), stored)


class ScoringHandler:
    def __init__(
        self,
        *,
        engine: Engine,
        ruleset: Callable[[], Ruleset],
        topics: Topics,
        publisher: Publisher,
        group_id: str,
        metrics: ScoringMetrics,
        keep_history: bool = True,
        predictor: BatchPredictor | None = None,
        privacy: PrivacyConfig | None = None,
        crm_leads: CrmLeads = "mql",
    ) -> None:
        self._crm_leads = crm_leads
        self._predictor = predictor
        self._privacy = privacy or PrivacyConfig()
        self._identity_metrics = metrics.identity
        self._next_prune = utcnow()
        self._engine = engine
        self._keep_history = keep_history
        self._ruleset = ruleset
        self._topics = topics
        self._publisher = publisher
        self._group = group_id
        self._metrics = metrics
        self._outbox = Outbox(engine, publisher)
        self._received = ReceivedBytes()

    def decode(self, key: bytes | None, value: bytes | None) -> EngagementEvent:
        if value is None:
            raise InvalidMessage("empty record value")
        try:
            event = EngagementEvent.model_validate_json(value)
        except ValidationError:
            try:  # free text written before peerscore.limits is cut (then history stores the cut event), keys refused
                event = parse_event(value)
            except ValidationError as exc:
                raise InvalidMessage(f"not an EngagementEvent: {describe_validation_error(exc)}") from None
        else:
            self._received.decoded(event, value)
        validate_internal(event)
        return event

    keeps_offsets = True
    """Offsets are stored with the state in one transaction: the loop's Kafka commit is only a mirror."""

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        with Session(self._engine) as session:
            stored = load_offsets(session, self._group, [(tp.topic, tp.partition) for tp in partitions])
        return {TopicPartition(t, p): o for (t, p), o in stored.items()}

    def handle(self, batch: Sequence[Message[EngagementEvent]]) -> None:
        """One transaction: the previous batch's published outputs deleted, this batch applied, and every pending
        output read back in order; they are published once it commits."""
        self._received.handling()
        try:
            with Session(self._engine) as session, session.begin():
                self._outbox.settle(session)
                erased = self._apply_batch(session, batch)
                pending = self._outbox.pending(session)
            self._outbox.publish(pending)
            # More than a chunk waiting: the rest in sessions of their own. After an erasure the published rows
            # (tombstones keyed by the erased person) go at once: nothing of theirs stays behind.
            if erased or len(pending) == OUTBOX_CHUNK:
                self._outbox.flush()
        except (DBAPIError, StatementError, PoolTimeoutError) as exc:
            raise database_failure(exc) from exc

    def on_idle(self) -> None:
        """Nothing polled: delete what the last batch published and publish anything still pending."""
        try:
            self._outbox.flush()
        except (DBAPIError, StatementError, PoolTimeoutError) as exc:
            raise database_failure(exc) from exc

    def _apply_batch(self, session: Session, batch: Sequence[Message[EngagementEvent]]) -> bool:
        """Apply the batch's fresh records; whether it erased anyone."""
        fresh = self._fresh(session, batch)
        if not fresh:
            return False
        # Erasures, redirects of merged keys and seen event ids: one query each for the whole batch.
        identity = IdentityBatch.begin(
            session, fresh, config=self._privacy, topics=self._topics, metrics=self._identity_metrics, now=utcnow()
        )
        work = _load_work(session, identity, self._ruleset())
        for m in identity.events:
            self._fold_event(identity, work, m)
        for key in list(work.working):
            work.settle(key)
        self._publish_scores(work)
        if self._predictor is not None:  # the conversion model: one predict call over the batch's leads
            work.outputs = self._predictor.after_batch(
                session,
                BatchView(
                    work.ruleset,
                    work.people,
                    work.accounts,
                    work.touched_people,
                    work.last_scores,
                    work.outputs,
                    self._topics,
                    transitions=lambda kind: self._metrics.transitions.labels(kind=kind).inc(),
                    stored_probability=work.stored_probability,
                ),
            )
        self._write(session, identity, work, fresh)
        return bool(identity.early)

    def _fresh(self, session: Session, batch: Sequence[Message[EngagementEvent]]) -> list[Message[EngagementEvent]]:
        """The records above the stored offsets: a crash between database and Kafka commits re-delivers the rest."""
        stored = load_offsets(session, self._group, {(m.topic, m.partition) for m in batch})
        fresh = [m for m in batch if m.offset >= stored.get((m.topic, m.partition), 0)]
        if len(fresh) < len(batch):
            self._metrics.replayed_skipped.inc(len(batch) - len(fresh))
        return fresh

    def _fold_event(self, identity: IdentityBatch, work: _BatchWork, m: Message[EngagementEvent]) -> None:
        """One event through identity (diverted, consent) and the fold, into the batch's working state."""
        diverted = identity.divert(m)  # forwarded to a merged key's target, a merge, or a duplicate id
        if diverted is not None:
            if diverted == "duplicate":
                self._metrics.duplicates.inc()
            return
        event = m.value
        key = event.person_key
        working = work.working.get(key)
        plain = event.type not in TRANSFER_TYPES and not event.consent  # nothing for transfers or consent to do
        if working is None and plain:
            person = work.people.get(key) or new_person(key)
            if not person.opted_out:
                working = work.working[key] = WorkingPerson(person)
        if working is None or not plain:
            self._fold_step(identity, work, m)
            return
        if working.is_duplicate(event):
            self._metrics.duplicates.inc()
            return
        acct_key = working.account_key_for(event)
        account = (work.accounts.get(acct_key) or new_account(acct_key)) if acct_key else None
        account = merge_event(account, acct_key, key, event)
        folded = working.fold(event, work.ruleset)
        self._applied(identity, work, m, account)
        work.awards.extend((key, row) for row in folded.awards)
        work.folded[key] = (folded, account)
        if folded.transition is not None or folded.line_transitions:
            self._transition(work, key, _applied(working.state(), (folded, account), work.ruleset))

    def _fold_step(self, identity: IdentityBatch, work: _BatchWork, m: Message[EngagementEvent]) -> None:
        """An event that needs the whole stored state (a transfer, consent): the identity step on a settled person."""
        event = m.value
        key = event.person_key
        work.settle(key)
        person = work.people.get(key) or new_person(key)
        acct_key = account_key_for(person, event)
        account = (work.accounts.get(acct_key) or new_account(acct_key)) if acct_key else None
        applied = identity.apply(person, account, event, work.ruleset)  # apply_event + transfers and consent
        if applied is None:  # opted out: not applied
            return
        if applied.duplicate:
            self._metrics.duplicates.inc()
            return
        self._applied(identity, work, m, applied.account)
        work.people[key] = applied.person
        work.awards.extend((key, a) for a in applied.awards)
        work.newest[key] = applied
        if applied.transition is not None or applied.line_transitions:
            self._transition(work, key, applied)

    @staticmethod
    def _applied(
        identity: IdentityBatch, work: _BatchWork, m: Message[EngagementEvent], account: AccountState | None
    ) -> None:
        """What every applied event records: its id, its message (history), who and which account it touched."""
        identity.record(m.value)
        work.applied_messages.append(m)
        work.touched_people.add(m.value.person_key)
        if account is not None:
            work.accounts[account.account_key] = account
            work.touched_accounts.add(account.account_key)

    def _transition(self, work: _BatchWork, key: str, applied: Applied) -> None:
        score = applied.score
        assert score is not None
        # The stored score is a fold of the person's own events (reproducible from the partition);
        # colleagues' activity (breadth) only enriches what is published.
        published = with_account_context(score, applied.person, applied.account, work.ruleset)
        for transition in lead_transitions(key, applied, published, work.ruleset):
            work.outputs.append(record(self._topics.qualified, key, transition))
            self._metrics.transitions.labels(kind=transition.kind).inc()
        work.transitioned[key] = score.version
        if applied.transition == "qualified":
            work.mqls.setdefault(key, score.as_of)

    def _publish_scores(self, work: _BatchWork) -> None:
        """One score per person per batch (the batch is applied atomically, so in-between scores were never
        state anyone could read); its reasons in words are rendered only here."""
        for key, applied in work.newest.items():
            score = applied.score
            if score is None:
                continue
            if _score_changed(work.last_scores.get(key), score):
                published = with_account_context(score, applied.person, applied.account, work.ruleset)
                work.outputs.append(record(self._topics.scores, key, published))
                if score.version > work.transitioned.get(key, 0):
                    work.outputs.extend(self._crm_update(key, applied, published))
            work.last_scores[key] = score

    def _write(
        self,
        session: Session,
        identity: IdentityBatch,
        work: _BatchWork,
        fresh: Sequence[Message[EngagementEvent]],
    ) -> None:
        """States, ledger, history, identity's rows, the outbox and the next offsets: all in the batch's transaction."""
        now = utcnow()
        store.save_people(
            session, [(work.people[k], work.last_scores.get(k)) for k in sorted(work.touched_people)], now
        )
        store.save_accounts(session, [work.accounts[k] for k in sorted(work.touched_accounts)], work.accounts_before)
        store.add_ledger(session, work.awards)
        record_mqls(session, work.mqls)
        if self._keep_history:  # what backtests replay, committed with the state it produced
            append_history(session, identity.history(work.applied_messages), self._received)
        # The unscored-signal report: applied events no rule scored, counted in this transaction.
        self._metrics.unscored(*record_unscored(session, work.ruleset, (m.value for m in work.applied_messages)))
        work.outputs.extend(identity.finish(session))  # seen ids stored; merged keys moved out (transfers)
        if now >= self._next_prune:
            identity.prune(session)
            self._next_prune = now + self._privacy.prune_every
        add_outbox(session, work.outputs)
        next_offsets: dict[tuple[str, int], int] = {}
        for m in fresh:
            tp = (m.topic, m.partition)
            next_offsets[tp] = max(next_offsets.get(tp, 0), m.offset + 1)
        save_offsets(session, self._group, next_offsets)
        self._metrics.events_applied.inc(len(fresh))
        self._metrics.points_awarded.inc(len(work.awards))

    def _crm_update(self, key: str, applied: Applied, published: LeadScore) -> list[OutgoingRecord]:
        """An ``updated`` transition when the lead's CRM record should follow its new score (crm-sync decides
        whether a salesperson would notice, and coalesces); the handoff itself stays a ``qualified`` transition."""
        if self._crm_leads == "mql" and not (applied.person.qualified or applied.person.qualified_lines):
            return []
        contact = lead_contact(applied.person, applied.account)
        if not contact.email:
            return []  # no CRM can find the person: the handoff already recorded that once, updates would repeat it
        update = LeadTransition(
            kind="updated", person_key=key, contact=contact, score=published, transitioned_at=published.as_of
        )
        self._metrics.transitions.labels(kind="updated").inc()
        return [record(self._topics.qualified, key, update)]
