"""confluent-kafka (librdkafka) behind the same producer and consumer interfaces as kafka-python (``KAFKA_CLIENT``).

kafka-python spends most of a consume→produce loop's time in its own per-record Python code; librdkafka does that
work in C. Nothing else changes: the loop, the handlers and the readers see kafka-python's shapes (``TopicPartition``
and ``OffsetAndMetadata`` from ``kafka.structs``, ``poll`` returning records grouped by partition, a rebalance
listener) and kafka-python's errors (``kafka.errors.KafkaError``, which :func:`peerscore.failures.is_transient`
already classifies), so the commit rules stay the loop's own: offsets are committed synchronously, only after the
handler's effects are durable. Three differences are absorbed here:

* Seeking inside the assignment callback is not possible in librdkafka (the partitions are not assigned yet): seeks
  made by the listener during ``on_partitions_assigned`` become the starting offsets of the assignment itself.
* Keys are partitioned with murmur2, like kafka-python and the Java client, so both clients put a key (a person) on
  the same partition and per-person order survives a deployment that mixes them.
* A group-less reader still needs a ``group.id`` in librdkafka: it gets a throwaway one and never joins or commits.

The consumer side is :mod:`peerscore.kafka_confluent_consumer`. Both are imported only when
``KAFKA_CLIENT=confluent`` (the ``confluent`` extra installs the client).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import confluent_kafka as ck
import structlog
from kafka.errors import KafkaError, KafkaTimeoutError

from peerscore.kafka_connect import require_tls_listener
from peerscore.kafka_io import KafkaPublisher, OutgoingRecord
from peerscore.settings import KafkaSettings

log = structlog.get_logger(__name__)


class ConfluentError(KafkaError):
    """A librdkafka error as the kafka-python error the callers already handle (transient unless fatal)."""

    def __init__(self, error: Any) -> None:
        super().__init__(str(error))
        self.retriable = not bool(getattr(error, "fatal", lambda: False)())


def translated(exc: ck.KafkaException) -> KafkaError:
    return ConfluentError(exc.args[0] if exc.args else exc)


def librdkafka_options(settings: KafkaSettings, client_suffix: str) -> dict[str, Any]:
    """The same cluster and security settings as ``settings.client_options()``, in librdkafka's names.

    TLS configurations are first checked to reach a TLS listener (:mod:`peerscore.kafka_connect`), as for
    kafka-python, so a misconfigured pod fails at start with the same clear error.
    """
    if settings.security_protocol.endswith("SSL"):
        require_tls_listener(settings.bootstrap_servers, settings.tls_handshake_timeout_ms / 1000)
    options: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": f"{settings.client_id}-{client_suffix}",
        "security.protocol": settings.security_protocol,
        "error_cb": _log_client_error,
    }
    if settings.security_protocol.startswith("SASL_"):
        options |= {
            "sasl.mechanism": settings.sasl_mechanism,
            "sasl.username": settings.sasl_username,
            "sasl.password": settings.sasl_password.get_secret_value(),
        }
    if settings.security_protocol.endswith("SSL"):
        options["ssl.endpoint.identification.algorithm"] = "https" if settings.ssl_check_hostname else "none"
        # No CA file: the system's CAs, as kafka-python does (librdkafka's wheel would otherwise use its own bundle).
        options["ssl.ca.location"] = str(settings.ssl_cafile) if settings.ssl_cafile else "probe"
        if settings.ssl_certfile:
            options["ssl.certificate.location"] = str(settings.ssl_certfile)
        if settings.ssl_keyfile:
            options["ssl.key.location"] = str(settings.ssl_keyfile)
        if settings.ssl_password.get_secret_value():
            options["ssl.key.password"] = settings.ssl_password.get_secret_value()
    return options


def _log_client_error(error: Any) -> None:
    """librdkafka reports broker trouble here (it retries on its own); fatal errors also surface on the next call."""
    level = log.error if error.fatal() else log.warning
    level("kafka_client_error", error=error.name(), detail=error.str()[:300])


# -- producer ---------------------------------------------------------------------------------------------------


@dataclass
class _Acks:
    outstanding: int = 0
    failed: Any = None

    def __call__(self, error: Any, _message: Any) -> None:
        self.outstanding -= 1
        if error is not None and self.failed is None:
            self.failed = error


class ConfluentPublisher(KafkaPublisher):
    """The :class:`peerscore.kafka_io.KafkaPublisher` contract on librdkafka: ``publish(wait=True)`` returns only
    once every record of the call is acknowledged (``acks=all``), and raises a ``KafkaError`` if any was not.
    A subclass (every method overridden) so that code owning a publisher keeps one type whatever the client."""

    def __init__(  # the base class is not initialised: its producer is kafka-python's
        self, producer: ck.Producer, *, ack_timeout_s: float = 30.0, max_block_s: float = 10.0
    ) -> None:
        self._producer = producer
        self._ack_timeout_s = ack_timeout_s
        self._max_block_s = max_block_s

    def publish(self, records: Sequence[OutgoingRecord], *, wait: bool = True) -> None:
        acks = _Acks()
        for r in records:
            self._produce(r, acks)
        if not wait:
            self._producer.poll(0)
            return
        deadline = time.monotonic() + self._ack_timeout_s
        while acks.outstanding > 0 and time.monotonic() < deadline:
            self._producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
        if acks.failed is not None:
            raise ConfluentError(acks.failed)
        if acks.outstanding > 0:
            raise KafkaTimeoutError(f"{acks.outstanding} record(s) not acknowledged in {self._ack_timeout_s:g}s")

    def _produce(self, r: OutgoingRecord, acks: _Acks) -> None:
        """Queue one record; a full local queue blocks up to ``max_block_s`` like kafka-python's ``send``."""
        deadline = time.monotonic() + self._max_block_s
        while True:
            try:
                self._producer.produce(
                    r.topic,
                    value=r.value,
                    key=r.key.encode() if r.key is not None else None,
                    headers=list(r.headers) or None,
                    on_delivery=acks,
                )
            except BufferError:
                if time.monotonic() >= deadline:
                    raise KafkaTimeoutError("the producer's queue stayed full") from None
                self._producer.poll(0.05)
                continue
            except ck.KafkaException as exc:
                raise translated(exc) from exc
            acks.outstanding += 1
            return

    def flush(self, timeout: float | None = None) -> None:
        self._producer.flush(-1 if timeout is None else timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Wait up to ``timeout`` for pending records, then drop what the broker never acknowledged (their
        ``publish`` callers were already told they failed)."""
        if self._producer.flush(timeout) > 0:
            self._producer.purge()
            self._producer.flush(0)
            log.warning("producer_closed_with_unacknowledged_records")
        self._producer.close()  # stops librdkafka's threads now, not at garbage collection


def make_confluent_publisher(settings: KafkaSettings, client_suffix: str = "producer") -> ConfluentPublisher:
    producer = ck.Producer(
        librdkafka_options(settings, client_suffix)
        | {
            "acks": "all",
            "enable.idempotence": settings.enable_idempotence,
            "max.in.flight.requests.per.connection": 5 if settings.enable_idempotence else 1,
            "linger.ms": settings.linger_ms,
            "batch.size": 256 * 1024,
            "message.max.bytes": 4 * 1024 * 1024,
            "request.timeout.ms": settings.request_timeout_ms,
            "message.timeout.ms": max(120_000, settings.request_timeout_ms + settings.linger_ms),
            "partitioner": "murmur2_random",
        }
    )
    return ConfluentPublisher(
        producer, ack_timeout_s=settings.ack_timeout_ms / 1000, max_block_s=settings.max_block_ms / 1000
    )
