"""The influence job on a timer inside the scoring service (``SCORING_INSIGHTS_INTERVAL_S``; 0 turns it off, for
deployments that run ``peerscore insights build`` from a CronJob instead)."""

from __future__ import annotations

import threading

import structlog
from sqlalchemy import Engine

from peerscore.scoring.insights.job import ConcurrentBuild, build

log = structlog.get_logger(__name__)


class InsightsTimer:
    """Builds the influence report every ``interval_s`` on a daemon thread. Replicas may all run it: the job's
    compare-and-set watermark lets one fold each chunk, and any of them may store the (same) recount."""

    def __init__(self, engine: Engine, interval_s: float) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="influence-report", daemon=True)

    def build_once(self) -> None:
        try:
            result = build(self._engine)
        except ConcurrentBuild:
            log.info("influence_build_skipped", reason="another build is running")
            return
        log.info("influence_report_built", events=result.events_read, people=result.people, seconds=result.seconds)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.build_once()
            except Exception as exc:  # noqa: BLE001 - a failed build is retried at the next interval
                log.warning("influence_build_failed", error=type(exc).__name__)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
