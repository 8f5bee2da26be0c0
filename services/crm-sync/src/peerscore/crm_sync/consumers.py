"""The consumer loops crm-sync runs, wired to their handlers: lead transitions, erasures, merges and MQL alerts.

The handlers (:mod:`.handler`, :mod:`.privacy`, :mod:`.merges`) know nothing of Kafka clients or threads; this
module is the one place that builds the shared :class:`~peerscore.consumer.ConsumerLoop` around each of them, and
the app's lifespan starts and stops them together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import structlog
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from peerscore.consumer import BatchHandler, ConsumerLoop
from peerscore.crm_sync.adapters.base import AdapterFactory
from peerscore.crm_sync.adapters.chat import ChatWebhooks
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.alert_settings import AlertSettings
from peerscore.crm_sync.alerts import AlertDeadLetters, AlertHandler, AlertPolicy
from peerscore.crm_sync.breaker import BreakerPolicy
from peerscore.crm_sync.budget import RetryBudget
from peerscore.crm_sync.handler import DeadLetterSink, SyncHandler
from peerscore.crm_sync.merges import MergeHandler
from peerscore.crm_sync.metrics import AlertMetrics, CrmMetrics
from peerscore.crm_sync.privacy import ErasureHandler
from peerscore.crm_sync.settings import CrmSyncSettings
from peerscore.events import ErasureRequest, LeadTransition, PersonMerged
from peerscore.kafka_io import KafkaPublisher, Publisher, make_consumer, make_publisher
from peerscore.observability import ConsumerMetrics
from peerscore.runtime import BackgroundLoop
from peerscore.settings import KafkaSettings

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass
class Consumers:
    """The running loops and the producer they share, stopped in reverse order of creation."""

    transitions: BackgroundLoop
    publisher: KafkaPublisher
    erasures: BackgroundLoop | None = None
    merges: BackgroundLoop | None = None
    alerts: BackgroundLoop | None = None
    alert_client: httpx.Client | None = None

    def check(self) -> None:
        """Readiness: every loop is alive and holds its share of partitions; erasures and merges are obligations
        (privacy, one record per buyer), not extras, and so are alerts once destinations are configured."""
        self.transitions.check()
        for loop in (self.erasures, self.merges, self.alerts):
            if loop is not None:
                loop.check()

    def stop(self) -> None:
        self.transitions.stop()  # drains the current batch, commits and closes the consumer
        if self.transitions.alive:
            log.error("consumer_loop_did_not_stop")
        for loop in (self.erasures, self.merges, self.alerts):
            if loop is not None:
                loop.stop()
        if self.alert_client is not None:
            self.alert_client.close()
        self.publisher.close()


def transition_loop(
    *,
    kafka: KafkaSettings,
    crm: CrmSyncSettings,
    engine: Engine,
    publisher: Publisher,
    adapter_factory: AdapterFactory,
    consumer_metrics: ConsumerMetrics,
    crm_metrics: CrmMetrics,
) -> ConsumerLoop[LeadTransition]:
    """The consumer of qualified lead transitions, with the CRM retry budget and circuit breaker configured."""
    topics = kafka.topics()
    budget = RetryBudget(crm.retry_max_attempts, crm.retry_max_elapsed_s, backoff_max_s=crm.retry_backoff_max_s)
    handler = SyncHandler(
        engine,
        adapter_factory,
        crm_metrics,
        dead_letters=DeadLetterSink(publisher, topics.crm_dlq, budget),
        policy=crm.update_policy,
        flush_batch=crm.flush_batch,
        breaker_policy=BreakerPolicy(open_max_s=crm.breaker_open_max_s),
    )
    return ConsumerLoop(
        consumer=make_consumer(kafka, crm.group_id),
        topics=[topics.qualified],
        handler=handler,
        dlq_topic=topics.qualified_dlq,
        publisher=publisher,
        metrics=consumer_metrics,
    )


def erasure_loop(
    *,
    kafka: KafkaSettings,
    group_id: str,
    engine: Engine,
    publisher: Publisher,
    adapter_factory: AdapterFactory = LocalCrmAdapter,
) -> ConsumerLoop[ErasureRequest]:
    """The consumer of the erasure topic."""
    handler = ErasureHandler(engine, adapter_factory)
    return _side_loop(kafka, group_id, kafka.topics().erasure, handler, publisher)


def merge_loop(
    *,
    kafka: KafkaSettings,
    group_id: str,
    engine: Engine,
    publisher: Publisher,
    adapter_factory: AdapterFactory,
) -> ConsumerLoop[PersonMerged]:
    """The consumer of the merges topic."""
    return _side_loop(kafka, group_id, kafka.topics().merges, MergeHandler(engine, adapter_factory), publisher)


def alert_loop(
    *,
    kafka: KafkaSettings,
    group_id: str,
    engine: Engine,
    publisher: Publisher,
    alerts: AlertSettings,
    metrics: AlertMetrics,
    client: httpx.Client,
) -> ConsumerLoop[LeadTransition]:
    """The MQL alerts' consumer of the transitions topic: a group of its own, so the CRM and the alerts each read
    every transition at their own pace and one never waits for the other."""
    policy = AlertPolicy(
        destinations=alerts.routes,
        console_base_url=alerts.console_base_url,
        default_product_line=alerts.default_product_line,
        budget=RetryBudget(max_elapsed_s=alerts.retry_max_elapsed_s, backoff_max_s=alerts.retry_backoff_max_s),
        flush_batch=alerts.flush_batch,
    )
    sink = AlertDeadLetters(publisher, kafka.topics().alerts_dlq)
    handler = AlertHandler(engine, ChatWebhooks(client, alerts.url), metrics, policy, sink)
    return _side_loop(kafka, group_id, kafka.topics().qualified, handler, publisher)


def _side_loop(
    kafka: KafkaSettings, group_id: str, topic: str, handler: BatchHandler[T], publisher: Publisher
) -> ConsumerLoop[T]:
    """A loop beside the transitions' one: its own group, records it cannot read go to the shared dead-letter
    topic, and its metrics to a registry of their own (the metric names are fixed, so they cannot share the app's)."""
    return ConsumerLoop(
        consumer=make_consumer(kafka, group_id),
        topics=[topic],
        handler=handler,
        dlq_topic=kafka.topics().qualified_dlq,
        publisher=publisher,
        metrics=ConsumerMetrics(CollectorRegistry(), group_id),
    )


def start_consumers(
    engine: Engine,
    kafka: KafkaSettings,
    crm: CrmSyncSettings,
    adapter_factory: AdapterFactory,
    consumer_metrics: ConsumerMetrics,
    crm_metrics: CrmMetrics,
    alerts: AlertSettings | None = None,
    alert_metrics: AlertMetrics | None = None,
) -> Consumers:
    """Open the shared producer and start the loops on background threads (the alerts' one only when destinations
    are configured); the producer is closed again if the first loop cannot be built."""
    publisher = make_publisher(kafka, "crm-sync-dlq")
    try:
        loop = transition_loop(
            kafka=kafka,
            crm=crm,
            engine=engine,
            publisher=publisher,
            adapter_factory=adapter_factory,
            consumer_metrics=consumer_metrics,
            crm_metrics=crm_metrics,
        )
    except BaseException:
        publisher.close()
        raise
    transitions = _started(loop, "crm-sync-consumer")
    side: tuple[tuple[Callable[..., ConsumerLoop[Any]], str], ...] = ((erasure_loop, "erasure"), (merge_loop, "merges"))
    erasures, merges = (
        _started(
            build(
                kafka=kafka,
                group_id=f"{crm.group_id}-{suffix}",
                engine=engine,
                publisher=publisher,
                adapter_factory=adapter_factory,
            ),
            f"crm-sync-{suffix}",
        )
        for build, suffix in side
    )
    consumers = Consumers(transitions, publisher, erasures, merges)
    if alerts is not None and alerts.destinations:
        consumers.alert_client = httpx.Client(timeout=alerts.timeout_s)
        built = alert_loop(
            kafka=kafka,
            group_id=alerts.group(crm.group_id),
            engine=engine,
            publisher=publisher,
            alerts=alerts,
            metrics=alert_metrics or AlertMetrics(CollectorRegistry()),
            client=consumers.alert_client,
        )
        consumers.alerts = _started(built, "crm-sync-alerts")
    return consumers


def _started(loop: ConsumerLoop[Any], name: str) -> BackgroundLoop:
    background = BackgroundLoop(loop, name=name)
    background.start()
    return background
