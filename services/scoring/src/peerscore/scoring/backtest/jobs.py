"""Backtests as background jobs: a backtest of a quarter takes minutes, longer than an HTTP request should.

Jobs live in this process's memory (a restart forgets them; re-running is cheap and deterministic) and only the
most recent :data:`KEEP_JOBS` are kept, so the registry cannot grow without bound. A report lists changed leads
by email: people erased after a job started (by any replica: the erasure log says so) are dropped from its report
before it is shown again. The jobs ask for the engine when they use it (``engine`` is a provider): the app
builds them before its lifespan opens the engine.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import structlog
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from peerscore.events import utcnow
from peerscore.scoring.backtest.period import Period
from peerscore.scoring.backtest.range_fold import BacktestCancelled
from peerscore.scoring.backtest.report import BacktestReport
from peerscore.scoring.backtest.runner import run_backtest
from peerscore.scoring.domain import Ruleset
from peerscore.scoring.identity.models import ErasureLogRow

log = structlog.get_logger(__name__)

KEEP_JOBS = 20
Status = Literal["running", "done", "failed", "cancelled"]


class BacktestView(BaseModel):
    id: str
    status: Status
    started_at: datetime
    events_done: int
    events_total: int
    report: BacktestReport | None = None
    error: str | None = None


@dataclass
class _Job:
    id: str
    started_at: datetime
    status: Status = "running"
    done: int = 0
    total: int = 0
    report: BacktestReport | None = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def view(self) -> BacktestView:
        return BacktestView(
            id=self.id,
            status=self.status,
            started_at=self.started_at,
            events_done=self.done,
            events_total=self.total,
            report=self.report,
            error=self.error,
        )


class BacktestJobs:
    def __init__(self, engine: Callable[[], Engine], live: Callable[[], Ruleset], *, workers: int) -> None:
        self._engine = engine
        self._live = live
        self._workers = workers
        self._jobs: OrderedDict[str, _Job] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, candidate: Ruleset, period: Period) -> BacktestView:
        job = _Job(id=uuid.uuid4().hex, started_at=utcnow())
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP_JOBS:
                oldest = next(iter(self._jobs.values()))
                oldest.cancel.set()
                del self._jobs[oldest.id]
        live = self._live()  # the live ruleset as of the request, even if a new one is published meanwhile
        threading.Thread(
            target=self._run, args=(job, live, candidate, period), name=f"backtest-{job.id[:8]}", daemon=True
        ).start()
        return job.view()

    def _run(self, job: _Job, live: Ruleset, candidate: Ruleset, period: Period) -> None:
        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            job.report = run_backtest(
                self._engine(), live, candidate, period, workers=self._workers, progress=progress, cancel=job.cancel
            )
            job.status = "done"
        except BacktestCancelled:
            job.status = "cancelled"
        except Exception as exc:  # noqa: BLE001 - a failed job reports its error instead of dying silently
            log.exception("backtest_failed", job=job.id)
            job.status, job.error = "failed", f"{type(exc).__name__}: {str(exc)[:500]}"

    def get(self, job_id: str) -> BacktestView | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return self._view(job) if job is not None else None

    def cancel(self, job_id: str) -> BacktestView | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return None
        job.cancel.set()
        return self._view(job)

    def _view(self, job: _Job) -> BacktestView:
        self._drop_erased(job)
        return job.view()

    def _drop_erased(self, job: _Job) -> None:
        """Remove, for good, the report's lines about people erased since the job started (their history was
        read before the erasure). Erased earlier, a key can only name a new person, whose line stays."""
        report = job.report
        if report is None or not report.changes:
            return
        keys = sorted({c.person_key for c in report.changes})
        with Session(self._engine()) as session:
            erased = set(
                session.exec(
                    select(ErasureLogRow.person_key).where(
                        col(ErasureLogRow.person_key).in_(keys), col(ErasureLogRow.erased_at) >= job.started_at
                    )
                ).all()
            )
        if erased:
            kept = [c for c in report.changes if c.person_key not in erased]
            job.report = report.model_copy(update={"changes": kept})

    def cancel_all(self) -> None:
        """On shutdown: running jobs stop at their next check."""
        with self._lock:
            for job in self._jobs.values():
                job.cancel.set()
