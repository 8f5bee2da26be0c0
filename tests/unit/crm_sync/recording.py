"""A real in-memory :class:`peerscore.kafka_io.Publisher` (not a mock): keeps what was published, in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from peerscore.kafka_io import OutgoingRecord


@dataclass
class RecordingPublisher:
    records: list[OutgoingRecord] = field(default_factory=list)
    fail: bool = False

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        if self.fail:
            raise TimeoutError("broker did not acknowledge")
        self.records.extend(records)

    def flush(self, timeout: float | None = None) -> None:
        return None
