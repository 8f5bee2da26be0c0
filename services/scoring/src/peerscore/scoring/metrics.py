"""Scoring metrics, registered in the service's own registry (no import-time globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from peerscore.scoring.identity.batch import IdentityMetrics


class ScoringMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events_applied = Counter(
            "peerscore_scoring_events_applied_total", "Events applied to person state", registry=registry
        )
        self.points_awarded = Counter(
            "peerscore_scoring_ledger_rows_total", "Ledger rows (point awards) written", registry=registry
        )
        self.duplicates = Counter(
            "peerscore_scoring_duplicate_events_total",
            "Events ignored as duplicates (same event id)",
            registry=registry,
        )
        self.replayed_skipped = Counter(
            "peerscore_scoring_replayed_records_skipped_total",
            "Re-delivered records skipped because their effects were already stored",
            registry=registry,
        )
        self.identity = IdentityMetrics(registry)
        self.transitions = Counter(
            "peerscore_scoring_transitions_total",
            "Qualification transitions emitted",
            ["kind"],
            registry=registry,
        )
        self.unscored_share = Gauge(
            "peerscore_scoring_unscored_share",
            "Share of the events this worker applied (system and profile events aside) that no rule scored",
            registry=registry,
        )
        self._counted = 0
        self._unscored = 0

    def unscored(self, counted: int, unscored: int) -> None:
        """Add a batch's countable and unscored events to the share (since this worker started)."""
        self._counted += counted
        self._unscored += unscored
        if self._counted:
            self.unscored_share.set(self._unscored / self._counted)
