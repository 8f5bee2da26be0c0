"""The one registry of Kafka topics: names, partitions and configs, and their creation.

Names are built from a prefix so tests can run isolated topic sets on one broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError


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

    @property
    def events(self) -> str:
        return f"{self.prefix}.events.v1"

    @property
    def events_dlq(self) -> str:
        return f"{self.prefix}.events.dlq.v1"

    @property
    def scores(self) -> str:
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
        compacted = {"cleanup.policy": "compact"}
        return [
            TopicSpec(self.events, keyed),
            TopicSpec(self.events_dlq, 3),
            TopicSpec(self.scores, keyed, compacted),
            TopicSpec(self.qualified, keyed),
            TopicSpec(self.qualified_dlq, 3),
            TopicSpec(self.outcomes, keyed),
            TopicSpec(self.rules, 1, compacted),
            TopicSpec(self.crm_dlq, 3),
            TopicSpec(self.erasure, keyed),
            TopicSpec(self.merges, keyed),
        ]


def ensure_topics(bootstrap_servers: str, topics: Topics) -> list[str]:
    """Create every missing topic; returns the names created. Existing topics are left as they are."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="peerscore-admin")
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
