"""Settings of the tracking API (env prefix ``INGEST_``).

Write keys are the only credential a Segment/RudderStack SDK can send, so they are secrets: the development
key is refused outside dev, as are the shared placeholder values.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Self

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from peerscore.settings import RuntimeSettings, refuse_placeholder

DEV_WRITE_KEY = "peerscore-dev-write-key"


class IngestSettings(BaseSettings):
    """Limits mirror Segment's HTTP Tracking API so SDK batching defaults fit unchanged."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    write_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=lambda: [SecretStr(DEV_WRITE_KEY)],
        description="Accepted write keys: a JSON list or a comma-separated string in INGEST_WRITE_KEYS",
    )
    max_event_bytes: int = Field(default=32 * 1024, ge=1)
    max_batch_bytes: int = Field(default=500 * 1024, ge=1)
    max_batch_events: int = Field(default=2500, ge=1)
    publish_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest wait for the broker's acknowledgement before a 503 (SDKs time out at ~15 s)",
    )
    retry_after_s: int = Field(default=5, ge=1, description="Retry-After sent with 503 answers")

    @field_validator("write_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """Accept ``["k1","k2"]`` or ``k1,k2`` from the environment (rotation needs two keys at once)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    def check(self, runtime: RuntimeSettings) -> Self:
        """Refuse to run outside dev with no key, the dev key, or a placeholder key."""
        if runtime.is_dev:
            return self
        if not self.write_keys:
            raise ValueError("INGEST_WRITE_KEYS must hold at least one write key outside dev")
        for key in self.write_keys:
            refuse_placeholder(runtime, "INGEST_WRITE_KEYS", key)
            if key.get_secret_value().strip() == DEV_WRITE_KEY:
                raise ValueError("INGEST_WRITE_KEYS holds the development key; set real keys outside dev")
        return self
