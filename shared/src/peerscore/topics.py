"""The one registry of Kafka topics: names, partitions and configs, and their creation.

Names are built from a prefix so tests can run isolated topic sets on one broker. Every topic that holds personal
data (emails, person keys, scores) gets an explicit ``retention.ms``: nothing about a person stays on the cluster
longer than its class allows, whatever the broker's default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from peerscore.kafka_connect import connect_options

if TYPE_CHECKING:
    from peerscore.settings import KafkaSettings

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class Retention:
    """Days records are kept, by class of topic holding personal data.

    ``stream``: events, qualified leads and outcomes, consumed within minutes (the database keeps the history).
    ``dead_letter``: dead-letter topics, kept long enough to notice, fix and replay. ``erasure``: requests every
    service must see, even one down for a while. ``scores``: the compacted latest score per person (erased people
    get a tombstone at once; this bounds how long anyone else's last score stays).
    """

    stream_days: float = 14
    dead_letter_days: float = 30
    erasure_days: float = 30
    scores_days: float = 365

    @staticmethod
    def ms(days: float) -> str:
        return str(round(days * DAY_MS))


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Topics:
    """Topic names for one deployment (``prefix`` defaults to ``peerscore``)."""

    prefix: str = "peerscore"
    event_partitions: int = 12
    replication_factor: int = 1
    retention: Retention = field(default_factory=Retention)

    @property
    def events(self) -> str:
        return f"{self.prefix}.events.v1"

    @property
    def events_dlq(self) -> str:
        return f"{self.prefix}.events.dlq.v1"

    @property
    def scores(self) -> str:
        """Compacted: the latest score per person key. A record with no value (a tombstone) means the person was
        erased: readers must treat it as "no score" (and compaction removes the key)."""
        return f"{self.prefix}.scores.v1"

    @property
    def qualified(self) -> str:
        return f"{self.prefix}.qualified.v1"

    @property
    def qualified_dlq(self) -> str:
        return f"{self.prefix}.qualified.dlq.v1"

    @property
    def outcomes(self) -> str:
        return f"{self.prefix}.outcomes.v1"

    @property
    def rules(self) -> str:
        return f"{self.prefix}.rules.v1"

    @property
    def crm_dlq(self) -> str:
        return f"{self.prefix}.crm.dlq.v1"

    @property
    def alerts_dlq(self) -> str:
        """MQL alerts a destination (Slack, Teams) refused for good or for longer than the retry budget."""
        return f"{self.prefix}.alerts.dlq.v1"

    @property
    def erasure(self) -> str:
        """Erasure requests, keyed by person key: every service deletes its own data about the person."""
        return f"{self.prefix}.erasure.v1"

    @property
    def merges(self) -> str:
        """Merge notices (:class:`peerscore.events.PersonMerged`), keyed by the target person key.

        A topic of their own rather than the qualified topic: that one carries ``LeadTransition`` only, and its
        consumer decodes one contract per record (a notice there would be dead-lettered). Keyed by the target so
        every merge into one person is seen in order."""
        return f"{self.prefix}.merges.v1"

    def specs(self) -> list[TopicSpec]:
        keyed = self.event_partitions
        r = self.retention
        stream = {"retention.ms": r.ms(r.stream_days)}
        dead_letters = {"retention.ms": r.ms(r.dead_letter_days)}
        # compact,delete: compaction keeps the latest score per person, deletion drops those older than retention.
        scores = {"cleanup.policy": "compact,delete", "retention.ms": r.ms(r.scores_days)}
        return [
            TopicSpec(self.events, keyed, stream),
            TopicSpec(self.events_dlq, 3, dead_letters),
            TopicSpec(self.scores, keyed, scores),
            TopicSpec(self.qualified, keyed, stream),
            TopicSpec(self.qualified_dlq, 3, dead_letters),
            TopicSpec(self.outcomes, keyed, stream),
            TopicSpec(self.rules, 1, {"cleanup.policy": "compact"}),  # rulesets: no personal data, kept for good
            TopicSpec(self.crm_dlq, 3, dead_letters),
            TopicSpec(self.alerts_dlq, 3, dead_letters),
            TopicSpec(self.erasure, keyed, {"retention.ms": r.ms(r.erasure_days)}),
            TopicSpec(self.merges, keyed, stream),
        ]

    @property
    def personal_data(self) -> frozenset[str]:
        """Topics whose records name or describe a person (all but the rulesets)."""
        return frozenset(spec.name for spec in self.specs()) - {self.rules}


def ensure_topics(kafka: KafkaSettings, topics: Topics | None = None) -> list[str]:
    """Create every missing topic (``kafka.topics()`` unless given); returns the names created. Existing topics
    are left as they are: changing a live topic's configs is an operator's decision (kafka-configs)."""
    topics = topics if topics is not None else kafka.topics()
    admin = KafkaAdminClient(**connect_options(kafka), client_id=f"{kafka.client_id}-admin")
    try:
        existing = set(admin.list_topics())
        created: list[str] = []
        for spec in topics.specs():
            if spec.name in existing:
                continue
            new = NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=topics.replication_factor,
                topic_configs=spec.configs,
            )
            try:
                admin.create_topics([new])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
