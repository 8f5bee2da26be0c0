"""Two scoring workers that share an account (its people hash to partitions different workers own) keep each
other's attribute updates, whichever commits last, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.db import create_tables
from peerscore.events import AccountHints
from peerscore.scoring import store
from peerscore.scoring.domain.state import AccountState, new_account
from peerscore.scoring.models import SCORING_TABLES

pytestmark = pytest.mark.integration

KEY = "acme.example"
T0, T1, T2 = (datetime(2026, 11, day, tzinfo=UTC) for day in (1, 2, 3))


def _save(engine: Engine, account: AccountState, loaded: dict[str, AccountState]) -> None:
    with Session(engine) as session, session.begin():
        store.save_accounts(session, [account], loaded)


def _load(engine: Engine) -> dict[str, AccountState]:
    with Session(engine) as session:
        return store.load_accounts(session, [KEY])


def test_the_last_writer_keeps_what_the_first_wrote(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    _save(engine, new_account(KEY).with_hints(AccountHints(name="Acme"), T0, "e0"), {})
    first_loaded, second_loaded = _load(engine), _load(engine)  # both workers read the account, then …
    first = first_loaded[KEY].with_hints(AccountHints(industry="software"), T1, "e1").with_activity("p1", T1)
    second = second_loaded[KEY].with_hints(AccountHints(employees=250, name="Acme Inc"), T2, "e2")
    _save(engine, second, second_loaded)
    _save(engine, first, first_loaded)  # … the one that loaded first commits last

    final = _load(engine)[KEY]
    assert (final.name, final.industry, final.employees) == ("Acme Inc", "software", 250)
    assert final.model_dump(exclude={"active_people"}) == first.merge(second).model_dump(exclude={"active_people"})
    assert final.active_people == {"p1": T1}


def test_an_older_event_written_last_does_not_undo_a_newer_one(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    _save(engine, new_account(KEY), {})
    early_loaded, late_loaded = _load(engine), _load(engine)
    _save(engine, late_loaded[KEY].with_hints(AccountHints(industry="fintech"), T2, "e2"), late_loaded)
    _save(engine, early_loaded[KEY].with_hints(AccountHints(industry="software"), T1, "e1"), early_loaded)
    assert _load(engine)[KEY].industry == "fintech"


def test_two_workers_creating_one_account_at_once_keep_both_attributes(engine: Engine) -> None:
    create_tables(engine, SCORING_TABLES)
    first = new_account(KEY).with_hints(AccountHints(industry="software"), T1, "e1")
    second = new_account(KEY).with_hints(AccountHints(employees=250), T2, "e2")
    errors: list[BaseException] = []

    def second_worker() -> None:
        try:
            _save(engine, second, {})
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    with Session(engine) as session, session.begin():
        store.save_accounts(session, [first], {})  # created, not yet committed
        writer = threading.Thread(target=second_worker)
        writer.start()
        time.sleep(0.5)
        assert writer.is_alive(), "the second creator must wait for the first to commit"
    writer.join(timeout=30)
    assert not writer.is_alive() and not errors
    final = _load(engine)[KEY]
    assert (final.industry, final.employees) == ("software", 250)
