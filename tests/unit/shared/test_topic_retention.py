"""Every topic holding personal data carries an explicit retention, set per class of topic from KAFKA_RETENTION_*."""

from __future__ import annotations

import pytest

from peerscore.settings import KafkaSettings
from peerscore.topics import DAY_MS, Topics

PERSONAL = (
    "events",
    "events_dlq",
    "qualified",
    "qualified_dlq",
    "outcomes",
    "crm_dlq",
    "alerts_dlq",  # the rendered alert names the lead
    "erasure",
    "scores",
    "merges",  # person keys only, but a person's keys are personal data
)


def _configs(topics: Topics) -> dict[str, dict[str, str]]:
    return {spec.name: spec.configs for spec in topics.specs()}


def test_every_personal_data_topic_has_a_retention() -> None:
    topics = Topics()
    configs = _configs(topics)
    assert topics.personal_data == {getattr(topics, name) for name in PERSONAL}
    for name in topics.personal_data:
        assert int(configs[name]["retention.ms"]) > 0, name
    assert "retention.ms" not in configs[topics.rules]  # rulesets name nobody and are kept for good


def test_compacted_scores_also_expire() -> None:
    configs = _configs(Topics())["peerscore.scores.v1"]
    assert configs["cleanup.policy"] == "compact,delete"


def test_retention_days_per_class_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_RETENTION_STREAM_DAYS", "3")
    monkeypatch.setenv("KAFKA_RETENTION_DEAD_LETTER_DAYS", "10")
    monkeypatch.setenv("KAFKA_RETENTION_ERASURE_DAYS", "45")
    monkeypatch.setenv("KAFKA_RETENTION_SCORES_DAYS", "0.5")
    topics = KafkaSettings().topics()
    retention = {name: int(c["retention.ms"]) for name, c in _configs(topics).items() if "retention.ms" in c}
    assert retention == {
        topics.events: 3 * DAY_MS,
        topics.qualified: 3 * DAY_MS,
        topics.outcomes: 3 * DAY_MS,
        topics.merges: 3 * DAY_MS,
        topics.events_dlq: 10 * DAY_MS,
        topics.qualified_dlq: 10 * DAY_MS,
        topics.crm_dlq: 10 * DAY_MS,
        topics.alerts_dlq: 10 * DAY_MS,
        topics.erasure: 45 * DAY_MS,
        topics.scores: DAY_MS // 2,
    }


def test_a_retention_of_zero_days_is_refused() -> None:
    with pytest.raises(ValueError, match="retention_stream_days"):
        KafkaSettings(retention_stream_days=0)
