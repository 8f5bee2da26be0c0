"""Backtest reports kept in memory lose the lines of people erased after the job started (emails included)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.events import utcnow
from peerscore.scoring.backtest import Period
from peerscore.scoring.backtest.jobs import BacktestJobs, BacktestView
from peerscore.scoring.domain import load_default_ruleset
from peerscore.scoring.identity.models import ErasureLogRow
from tests.unit.scoring.backtest.support import journey_events, stricter, write_history

LIVE = load_default_ruleset()


def _finished(jobs: BacktestJobs, job_id: str) -> BacktestView:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        view = jobs.get(job_id)
        assert view is not None
        if view.status != "running":
            return view
        time.sleep(0.05)
    raise AssertionError("backtest did not finish")


def _log_erasure(engine: Engine, person_key: str, erased_at_offset: timedelta) -> None:
    at = utcnow() + erased_at_offset
    with Session(engine) as session, session.begin():
        session.add(
            ErasureLogRow(request_id=uuid.uuid4().hex, person_key=person_key, requested_at=at, erased_at=at, deleted={})
        )


def test_people_erased_after_the_job_started_leave_its_report(engine: Engine) -> None:
    write_history(engine, journey_events(people=80))
    jobs = BacktestJobs(lambda: engine, lambda: LIVE, workers=1)
    view = _finished(jobs, jobs.start(stricter(), Period()).id)
    assert view.status == "done" and view.report is not None
    changes = view.report.changes
    assert len(changes) >= 3 and all(c.email for c in changes)
    erased, earlier, kept = changes[0], changes[1], changes[2:]
    assert erased.email is not None
    _log_erasure(engine, erased.person_key, timedelta(0))
    _log_erasure(engine, earlier.person_key, -timedelta(days=1))  # before the job: the key names a new person

    again = jobs.get(view.id)
    assert again is not None and again.report is not None
    assert erased.person_key not in {c.person_key for c in again.report.changes}
    assert erased.email not in again.model_dump_json()
    assert [c.person_key for c in again.report.changes] == [earlier.person_key, *(c.person_key for c in kept)]
    held = jobs._jobs[view.id].report  # noqa: SLF001 - the copy in memory is scrubbed, not only the answer
    assert held is not None and erased.email not in held.model_dump_json()
