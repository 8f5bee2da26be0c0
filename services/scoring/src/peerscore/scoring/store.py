"""Bulk reads and writes of scoring state inside the caller's transaction: one query per table per batch.

Statements run on the session's connection (same transaction): they are Core statements, and the ORM's
execution layer would only add its per-statement cost, paid about fifteen times per batch."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import BindParameter, Text, bindparam, cast
from sqlalchemy import select as sa_select
from sqlmodel import Session

from peerscore.db import RawJson
from peerscore.events import LeadScore, with_free_text_fitted
from peerscore.scoring.domain.engine import LedgerEntry
from peerscore.scoring.domain.state import AccountState, PersonState
from peerscore.scoring.models import AccountActivityRow, AccountRow, LedgerRow, PersonRow
from peerscore.scoring.rows import insert_tuples, upsert_rows

# Statements built once, keys bound as an expanding list: building a select and its cache key costs more than
# running it for the few keys of a live batch.
_PEOPLE = PersonRow.__table__  # type: ignore[attr-defined]
_ACCOUNTS = AccountRow.__table__  # type: ignore[attr-defined]
_ACTIVITY = AccountActivityRow.__table__  # type: ignore[attr-defined]
_KEYS: BindParameter[list[str]] = bindparam("keys", expanding=True)
# The documents as text: pydantic parses JSON text faster than it validates parsed dicts.
_LOAD_PEOPLE = sa_select(
    _PEOPLE.c.person_key, cast(_PEOPLE.c.state, Text).label("state"), cast(_PEOPLE.c.score, Text).label("score")
).where(_PEOPLE.c.person_key.in_(_KEYS))
_LOAD_ATTRIBUTES = sa_select(_ACCOUNTS.c.account_key, _ACCOUNTS.c.attributes).where(_ACCOUNTS.c.account_key.in_(_KEYS))
_LOAD_ACTIVITY = sa_select(_ACTIVITY.c.account_key, _ACTIVITY.c.person_key, _ACTIVITY.c.last_active_at).where(
    _ACTIVITY.c.account_key.in_(_KEYS)
)
_LOCK_ATTRIBUTES = _LOAD_ATTRIBUTES.order_by(_ACCOUNTS.c.account_key).with_for_update()


def load_people(session: Session, keys: Iterable[str]) -> dict[str, tuple[PersonState, LeadScore | None]]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = session.connection().execute(_LOAD_PEOPLE, {"keys": wanted}).all()
    return {
        r.person_key: (
            _person_state(r.state),
            LeadScore.model_validate_json(r.score) if r.score is not None else None,
        )
        for r in rows
    }


def _person_state(document: str) -> PersonState:
    try:
        return PersonState.model_validate_json(document)
    except ValidationError:  # stored before peerscore.limits: read as today's ingest would have accepted it
        return PersonState.model_validate(with_free_text_fitted(json.loads(document)))


def load_accounts(session: Session, keys: Iterable[str]) -> dict[str, AccountState]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    # Plain rows, as for people: ORM objects would only be read once and dropped.
    connection = session.connection()
    attributes = {r.account_key: r.attributes for r in connection.execute(_LOAD_ATTRIBUTES, {"keys": wanted})}
    activity: dict[str, dict[str, datetime]] = {}
    for a in connection.execute(_LOAD_ACTIVITY, {"keys": wanted}):
        activity.setdefault(a.account_key, {})[a.person_key] = a.last_active_at
    return {
        key: AccountState.model_validate(
            {**attributes.get(key, {}), "account_key": key, "active_people": activity.get(key, {})}
        )
        for key in wanted
        if key in attributes or key in activity
    }


def save_people(session: Session, people: Sequence[tuple[PersonState, LeadScore | None]], now: datetime) -> None:
    upsert_rows(
        session,
        PersonRow.__table__,  # type: ignore[attr-defined]
        [
            {
                "person_key": p.person_key,
                "email": p.email.lower() if p.email else None,
                "account_key": p.account_key,
                "version": p.version,
                "qualified": p.qualified,
                "total": score.total if score is not None else 0.0,
                "state": RawJson(p.model_dump_json()),
                "score": RawJson(score.model_dump_json()) if score is not None else None,
                "updated_at": now,
            }
            for p, score in people
        ],
        keys=("person_key",),
    )


def save_accounts(session: Session, accounts: Sequence[AccountState], before: dict[str, AccountState]) -> None:
    """Write attributes, and only the activity rows that moved; activity keeps the latest time on conflict.

    Two workers can share an account: its people hash to partitions that different workers own. So attributes
    are joined with what is stored at write time, under the row lock, instead of overwriting it. Missing rows
    are created first (waiting for a concurrent creator to commit), every row is read ``FOR UPDATE`` in key
    order, and an account someone else changed since the batch loaded it is joined with the stored one
    (:meth:`AccountState.merge`: per attribute, the latest event wins). SQLite has one writer at a time, and the
    batch has already written, so there the read is just as current.
    """
    if not accounts:
        return
    table = AccountRow.__table__  # type: ignore[attr-defined]
    keys = sorted({a.account_key for a in accounts})
    upsert_rows(session, table, [{"account_key": k, "attributes": {}} for k in keys], keys=("account_key",), update=())
    stored = {r.account_key: r.attributes for r in session.connection().execute(_LOCK_ATTRIBUTES, {"keys": keys})}
    joined = [_joined_with_stored(a, stored.get(a.account_key) or {}, before.get(a.account_key)) for a in accounts]
    upsert_rows(
        session,
        table,
        [
            {"account_key": a.account_key, "attributes": RawJson(a.model_dump_json(exclude={"active_people"}))}
            for a in joined
        ],
        keys=("account_key",),
    )
    moved = []
    for a in accounts:
        old = before[a.account_key].active_people if a.account_key in before else {}
        for person_key, at in a.active_people.items():
            if old.get(person_key) != at:
                moved.append({"account_key": a.account_key, "person_key": person_key, "last_active_at": at})
    activity = AccountActivityRow.__table__  # type: ignore[attr-defined]
    upsert_rows(session, activity, moved, keys=("account_key", "person_key"), keep_greatest=("last_active_at",))


def _joined_with_stored(account: AccountState, stored: dict[str, Any], loaded: AccountState | None) -> AccountState:
    """``account`` joined with the attributes stored now, unless they are still what the batch loaded."""
    if not stored:
        return account
    held = AccountState.model_validate({**stored, "account_key": account.account_key})
    if loaded is not None and held.stamps == loaded.stamps:
        return account  # nobody else wrote it: every stamped attribute is already in ``account``
    return account.merge(held)


LEDGER_COLUMNS = ("person_key", "rule_id", "group", "ruleset_version", "event_id", "occurred_at", "points")


def add_ledger(session: Session, awards: Sequence[tuple[str, LedgerEntry]]) -> None:
    """One executemany of tuples (:mod:`.rows`): a batch awards several rows per event."""
    insert_tuples(
        session,
        LedgerRow.__table__,  # type: ignore[attr-defined]
        LEDGER_COLUMNS,
        [(k, a.rule_id, a.group, a.ruleset_version, a.event_id, a.occurred_at, a.points) for k, a in awards],
    )
