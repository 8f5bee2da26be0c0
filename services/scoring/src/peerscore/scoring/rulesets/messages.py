"""The announcement every scoring worker follows: which ruleset version is live now.

Keyed by ruleset name on the ``rules`` topic. The YAML travels in the message so a worker needs no database
round trip (and no shared database) to switch; Tansu never compacts, so readers keep the last value per key.
"""

from __future__ import annotations

from typing import Literal

from peerscore.events import AwareDatetime, Contract
from peerscore.kafka_io import OutgoingRecord, record


class RulesetPublished(Contract):
    schema_version: Literal[1] = 1
    name: str
    version: str
    yaml: str
    published_at: AwareDatetime


def announcement(topic: str, message: RulesetPublished) -> OutgoingRecord:
    return record(topic, message.name, message)
