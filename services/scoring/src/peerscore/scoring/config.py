"""The scoring service's configuration: one object, built from the environment only in ``__main__``.

``create_app`` takes it as given and reads no environment itself; tests build one with the settings they need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from peerscore.scoring.console import ConsoleSettings
from peerscore.scoring.predictive.settings import PredictiveSettings
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import ApiAuthSettings, DatabaseSettings, IdentitySettings, KafkaSettings, RuntimeSettings


@dataclass(frozen=True)
class ScoringConfig:
    runtime: RuntimeSettings
    kafka: KafkaSettings
    database: DatabaseSettings
    scoring: ScoringSettings
    auth: ApiAuthSettings
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    predictive: PredictiveSettings = field(default_factory=PredictiveSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)

    def person_key_secret(self) -> bytes:
        """The key emails and ids are hashed with, exactly as ingest hashes them."""
        return self.identity.person_key_secret.get_secret_value().encode()
