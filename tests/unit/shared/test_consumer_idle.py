"""Handlers with time-based work (crm-sync's coalesced CRM updates) get ``on_idle`` after an empty poll; a failure
there waits like a failed batch and never kills the loop."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from peerscore.consumer import ConsumerLoop, RetryableError
from peerscore.observability import ConsumerMetrics
from tests.unit.shared.test_consumer_poll_errors import FlakyConsumer, NoPublisher, Recorder


class IdleRecorder(Recorder):
    def __init__(self, failures: Sequence[Exception | None]) -> None:
        super().__init__()
        self.failures = list(failures)
        self.idle_calls = 0

    def on_idle(self) -> None:
        self.idle_calls += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure


def run(handler: Recorder, polls: int) -> list[float]:
    consumer, waits = FlakyConsumer(failures=0), []

    def sleep(seconds: float) -> bool:
        waits.append(seconds)
        return False

    loop: ConsumerLoop[str] = ConsumerLoop(
        consumer=consumer,
        topics=["events"],
        handler=handler,
        dlq_topic="events.dlq",
        publisher=NoPublisher(),  # type: ignore[arg-type]
        metrics=ConsumerMetrics(CollectorRegistry(), "g"),
        sleep=sleep,
    )
    for _ in range(polls):  # the first poll serves the record, the others come back empty
        loop._run_once()
    return waits


def test_on_idle_runs_after_each_empty_poll_only() -> None:
    handler = IdleRecorder([])
    assert run(handler, polls=4) == []
    assert handler.handled == ["hello"] and handler.idle_calls == 3


def test_a_failing_on_idle_waits_with_the_hint_and_the_loop_goes_on() -> None:
    handler = IdleRecorder([RetryableError("crm: 429", retry_after=7.0), ValueError("bug"), None])
    waits = run(handler, polls=4)
    assert handler.idle_calls == 3 and len(waits) == 2 and waits[0] == 7.0


def test_handlers_without_on_idle_are_left_alone() -> None:
    handler = Recorder()
    assert run(handler, polls=3) == [] and handler.handled == ["hello"]
