"""What a service plugs into :class:`peerscore.consumer.ConsumerLoop`, and what the loop hands it.

Kept apart from the loop so handlers (and their tests) depend on the contract — the messages, the decode error,
the handler protocol — and not on the loop's Kafka mechanics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from kafka.structs import TopicPartition
from pydantic import BaseModel, ValidationError

T = TypeVar("T")
C = TypeVar("C", bound=BaseModel)


class InvalidMessage(Exception):
    """The record is malformed or breaks the contract; retrying cannot help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_contract(contract: type[C], value: bytes | None) -> C:
    """A record's value as ``contract``, or :class:`InvalidMessage` naming the first field at fault and why.

    The reason never quotes the input: it is logged and kept in the dead-letter topic, and values hold emails.
    """
    if not value:
        raise InvalidMessage("empty record value")
    try:
        return contract.model_validate_json(value)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        article = "an" if contract.__name__[0] in "AEIOU" else "a"
        raise InvalidMessage(f"not {article} {contract.__name__}: {where}: {first['msg']}") from None


@dataclass(frozen=True)
class Message(Generic[T]):
    topic: str
    partition: int
    offset: int
    key: str | None
    value: T
    timestamp_ms: int

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


class BatchHandler(Protocol[T]):
    """What a service plugs into the loop."""

    def decode(self, key: bytes | None, value: bytes | None) -> T:
        """Parse one record; raise :class:`InvalidMessage` for records that must go to the dead-letter topic."""
        ...

    def handle(self, batch: Sequence[Message[T]]) -> None:
        """Apply a batch (in partition order). Effects must be durable when this returns."""
        ...

    def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """Next offsets to read, as kept by the handler itself; empty to use the group's committed offsets."""
        ...

    # Optional: ``keeps_offsets = True`` says ``stored_offsets`` is the truth (stored with the effects, in one
    # transaction), so the loop may commit to Kafka asynchronously.
    # Optional: ``on_idle()`` is called after a poll that returned nothing (time-based work, e.g. crm-sync's
    # coalesced updates); it may raise like ``handle``, and the loop then waits before polling again.


@dataclass
class LoopStats:
    polled: int = 0
    handled: int = 0
    dead_lettered: int = 0
    batches: int = 0
    retries: int = 0
    commit_failures: int = 0
    poll_errors: int = 0
    isolated: int = 0
    """Records dead-lettered because their effects failed deterministically (found by bisecting a batch)."""


@dataclass
class Backoff:
    initial_s: float = 0.2
    maximum_s: float = 30.0
    _current: float = field(default=0.0, init=False)

    def next_delay(self, hint: float | None) -> float:
        self._current = self.initial_s if self._current == 0 else min(self._current * 2, self.maximum_s)
        return min(max(hint or 0.0, self._current), self.maximum_s)

    def reset(self) -> None:
        self._current = 0.0
