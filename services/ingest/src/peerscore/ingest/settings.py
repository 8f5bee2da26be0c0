"""Settings of the tracking API (env prefix ``INGEST_``).

Write keys are the only credential a Segment/RudderStack SDK can send, so they are secrets: the development
key is refused outside dev, as are the shared placeholder values. Each key can be bound to a *source name*
(``website``, ``app``, ``partner-feed``…) that is recorded on every event sent with it, so one deployment can
tell its senders apart and a leaked key can be rotated without touching the others.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from peerscore.settings import IdentitySettings, KafkaSettings, RuntimeSettings, refuse_placeholder

DEV_WRITE_KEY = "peerscore-dev-write-key"
SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class WriteKeyBinding(BaseModel):
    """One accepted write key and the source name its events carry.

    ``source=None`` keeps the pre-binding behaviour: events are labelled by the sending SDK (``segment`` or
    ``rudderstack``, read from ``context.library``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: SecretStr
    source: str | None = Field(default=None, pattern=SOURCE_NAME.pattern)


def _binding(item: Any) -> Any:
    """``"k"`` / ``SecretStr("k")`` / ``"k:website"`` / ``{"key": …, "source": …}`` → a binding (or its dict)."""
    if isinstance(item, SecretStr):
        item = item.get_secret_value()
    if isinstance(item, str):
        # A key cannot contain ":" (HTTP Basic splits the user name there), so "key:source" is unambiguous.
        key, _, source = item.strip().partition(":")
        return {"key": key.strip(), "source": source.strip() or None}
    return item


def parse_write_keys(value: Any) -> Any:
    """``{"k1": "website"}``, ``["k1", "k2:app"]`` or ``k1:website,k2`` (from the environment or code)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "{")):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("INGEST_WRITE_KEYS is neither valid JSON nor a comma-separated list") from None
        else:
            value = [part for part in text.split(",") if part.strip()]
    if isinstance(value, dict):
        return [{"key": key, "source": source} for key, source in value.items()]
    if isinstance(value, list | tuple):
        return [_binding(item) for item in value]
    return value


class IngestSettings(BaseSettings):
    """Limits mirror Segment's HTTP Tracking API so SDK batching defaults fit unchanged."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    write_keys: Annotated[list[WriteKeyBinding], NoDecode] = Field(
        default_factory=lambda: [WriteKeyBinding(key=SecretStr(DEV_WRITE_KEY))],
        description=(
            "Accepted write keys, each optionally bound to a source name: a JSON object "
            '{"<key>": "<source>"}, a JSON list ["<key>", "<key>:<source>"], or "<key>:<source>,<key>"'
        ),
    )
    max_event_bytes: int = Field(default=32 * 1024, ge=1)
    max_batch_bytes: int = Field(default=500 * 1024, ge=1)
    max_batch_events: int = Field(default=2500, ge=1)
    max_import_bytes: int = Field(default=20 * 1024 * 1024, ge=1, description="Largest CSV upload accepted")
    import_chunk_rows: int = Field(default=500, ge=1, description="Rows published (and acknowledged) at a time")
    publish_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest wait for the broker's acknowledgement before a 503 (SDKs time out at ~15 s)",
    )
    retry_after_s: int = Field(default=5, ge=1, description="Retry-After sent with 503 answers")
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes (one per core is typical)")

    @field_validator("write_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: Any) -> Any:
        return parse_write_keys(value)

    @field_validator("write_keys")
    @classmethod
    def _distinct_keys(cls, value: list[WriteKeyBinding]) -> list[WriteKeyBinding]:
        keys = [b.key.get_secret_value() for b in value]
        if len(set(keys)) != len(keys):
            raise ValueError("a write key is listed twice (each key is bound to exactly one source)")
        if any(not k or ":" in k or k != k.strip() for k in keys):
            raise ValueError("write keys must be non-empty, without ':' or surrounding spaces")
        return value

    def check(self, runtime: RuntimeSettings) -> Self:
        """Refuse to run outside dev with no key, the dev key, or a placeholder key."""
        if runtime.is_dev:
            return self
        if not self.write_keys:
            raise ValueError("INGEST_WRITE_KEYS must hold at least one write key outside dev")
        for binding in self.write_keys:
            refuse_placeholder(runtime, "INGEST_WRITE_KEYS", binding.key)
            if binding.key.get_secret_value().strip() == DEV_WRITE_KEY:
                raise ValueError("INGEST_WRITE_KEYS holds the development key; set real keys outside dev")
        return self


class LinkedInSettings(BaseSettings):
    """LinkedIn webhooks (env prefix ``LINKEDIN_``). No client secret = the LinkedIn endpoints answer 404.

    The client secret signs every webhook call and answers LinkedIn's validation challenge; the access token
    (OAuth, ``r_marketing_leadgen_automation``) lets ingest fetch a lead's answers. Without a token, lead
    submissions must arrive ready-made on the Kafka source topic (see :class:`SourceTopicSettings`).
    """

    model_config = SettingsConfigDict(env_prefix="LINKEDIN_", extra="ignore")

    client_secret: SecretStr = SecretStr("")
    access_token: SecretStr = SecretStr("")
    api_base_url: str = Field(default="https://api.linkedin.com/rest", description="LinkedIn REST base URL")
    api_version: str = Field(default="202511", pattern=r"^\d{6}$", description="LinkedIn-Version header (YYYYMM)")
    fetch_timeout_s: float = Field(default=2.0, gt=0, description="Per call; LinkedIn expects a prompt 2xx")
    form_cache_size: int = Field(default=256, ge=1, description="Lead form definitions kept in memory")

    @property
    def enabled(self) -> bool:
        return bool(self.client_secret.get_secret_value())

    @property
    def fetches_leads(self) -> bool:
        return bool(self.access_token.get_secret_value())

    def check(self, runtime: RuntimeSettings) -> Self:
        if self.enabled:
            refuse_placeholder(runtime, "LINKEDIN_CLIENT_SECRET", self.client_secret)
        if self.fetches_leads:
            refuse_placeholder(runtime, "LINKEDIN_ACCESS_TOKEN", self.access_token)
        return self


class SourceTopicSettings(BaseSettings):
    """Raw Kafka source topics ingest consumes (env prefix ``INGEST_SOURCES_``); off unless ``ENABLED``.

    Each topic holds one source's native JSON and is normalised by the same code as its HTTP path; an empty
    topic name turns that one consumer off.
    """

    model_config = SettingsConfigDict(env_prefix="INGEST_SOURCES_", extra="ignore")

    enabled: bool = False
    linkedin_leads_topic: str = "peerscore.source.linkedin_leads.v1"
    linkedin_social_topic: str = "peerscore.source.linkedin_social.v1"
    content_topic: str = "peerscore.source.content_engagement.v1"
    group_id: str = Field(default="peerscore-ingest-sources", min_length=1)
    poll_timeout_ms: int = Field(default=500, ge=10)


@dataclass(frozen=True)
class IngestConfig:
    """Everything the ingest app is configured with, built once (from the environment only in ``__main__``).

    ``linkedin`` adds the LinkedIn webhooks, ``sources`` the Kafka source-topic consumers (both off when None).
    """

    ingest: IngestSettings
    identity: IdentitySettings
    runtime: RuntimeSettings
    kafka: KafkaSettings
    linkedin: LinkedInSettings | None = None
    sources: SourceTopicSettings | None = None

    def check(self) -> Self:
        """Refuse development or placeholder secrets outside dev, before anything is served."""
        self.ingest.check(self.runtime)
        self.identity.check(self.runtime)
        if self.linkedin is not None:
            self.linkedin.check(self.runtime)
        return self

    @property
    def person_key_secret(self) -> bytes:
        return self.identity.person_key_secret.get_secret_value().encode()
