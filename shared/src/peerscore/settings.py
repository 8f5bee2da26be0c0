"""Settings, one class per concern, read from the environment by pydantic-settings.

Entry points build them once and pass them down; nothing reads the environment at import time. Secrets are
``SecretStr`` and placeholder values are refused unless ``PEERSCORE_ENV=dev``.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from peerscore.topics import Topics

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "dev", "dev-secret", "secret", "peerscore-dev", "peerscore-dev-write-key"}
)


class RuntimeSettings(BaseSettings):
    """Where we run: ``dev`` allows placeholder secrets and open admin APIs (and says so loudly); ``prod`` is
    everything else. There is deliberately no third value: ``test`` used to behave as dev, so a "test" or staging
    deployment was as open as a laptop. An unknown value (``test``, ``staging``) stops start-up."""

    model_config = SettingsConfigDict(env_prefix="PEERSCORE_", extra="ignore")

    env: Literal["dev", "prod"] = "prod"
    log_level: str = "INFO"

    @property
    def is_dev(self) -> bool:
        """Only ``dev`` is open: the one place the environment name is interpreted."""
        return self.env == "dev"


def refuse_placeholder(runtime: RuntimeSettings, name: str, value: SecretStr) -> None:
    if not runtime.is_dev and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
        raise ValueError(f"{name} is a placeholder secret; set a real value outside dev (PEERSCORE_ENV=dev)")


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "peerscore"
    event_partitions: int = Field(default=12, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    client_id: str = "peerscore"
    # Tansu holds a group join for about half the session timeout: keep it short in dev (kafka-notes.md).
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 500
    max_poll_records: int = 2000
    linger_ms: int = 5
    request_timeout_ms: int = 30000
    # How long send() may block when the broker is unreachable; HTTP callers answer 503 before SDKs time out.
    max_block_ms: int = 10000
    # Tansu 0.6 with s3:// storage answers DuplicateSequenceNumber after a restart for batches it never stored, and
    # an idempotent producer counts those as written: set false there (retries may then duplicate records, which
    # consumers drop by event id; one request in flight keeps the order). Real Kafka: keep true.
    enable_idempotence: bool = True
    # Longest gap between polls (a batch plus its retry back-off, up to 30 s) before the group evicts the consumer;
    # Kafka also uses it as the rebalance timeout.
    max_poll_interval_ms: int = 300_000

    def topics(self) -> Topics:
        return Topics(
            prefix=self.topic_prefix,
            event_partitions=self.event_partitions,
            replication_factor=self.replication_factor,
        )


class DatabaseSettings(BaseSettings):
    """``DATABASE_URL`` (SQLAlchemy URL): ``sqlite:///path`` or ``postgresql+psycopg://user@host/db``."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    database_url: str = Field(default="sqlite:///var/peerscore.db", validation_alias="DATABASE_URL")
    database_echo: bool = Field(default=False, validation_alias="DATABASE_ECHO")


class IdentitySettings(BaseSettings):
    """The secret that keys person hashes; every service that derives keys must share it."""

    model_config = SettingsConfigDict(env_prefix="PEERSCORE_", extra="ignore")

    person_key_secret: SecretStr = SecretStr("peerscore-dev")

    def check(self, runtime: RuntimeSettings) -> Self:
        refuse_placeholder(runtime, "PEERSCORE_PERSON_KEY_SECRET", self.person_key_secret)
        return self


class HttpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HTTP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000


class ApiAuthSettings(BaseSettings):
    """Bearer tokens of the HTTP APIs, least privilege: ``PEERSCORE_READ_TOKEN`` reads leads, accounts, models,
    rulesets, backtests and CRM sync state; ``PEERSCORE_ADMIN_TOKEN`` also publishes rules, promotes models,
    records outcomes and erases people. ``PEERSCORE_API_TOKEN`` is the old single token: for one release it still
    works, as the admin token, with a deprecation warning at start. Not required in dev."""

    model_config = SettingsConfigDict(env_prefix="PEERSCORE_", extra="ignore")

    read_token: SecretStr = SecretStr("")
    admin_token: SecretStr = SecretStr("")
    api_token: SecretStr = SecretStr("")
    """Deprecated (one release): acts as ``PEERSCORE_ADMIN_TOKEN``."""

    def admin(self) -> str:
        """The admin token: ``PEERSCORE_ADMIN_TOKEN``, else the deprecated ``PEERSCORE_API_TOKEN``."""
        return self.admin_token.get_secret_value() or self.api_token.get_secret_value()

    def reader(self) -> str:
        """What a service calling another's read API sends: the read token, else the admin token."""
        return self.read_token.get_secret_value() or self.admin()

    def check(self, runtime: RuntimeSettings) -> Self:
        for name, value in (
            ("PEERSCORE_READ_TOKEN", self.read_token),
            ("PEERSCORE_ADMIN_TOKEN", self.admin_token),
            ("PEERSCORE_API_TOKEN", self.api_token),
        ):
            if value.get_secret_value():
                refuse_placeholder(runtime, name, value)
        admin, legacy = self.admin_token.get_secret_value(), self.api_token.get_secret_value()
        if admin and legacy and admin != legacy:
            raise ValueError(
                "PEERSCORE_API_TOKEN (deprecated) and PEERSCORE_ADMIN_TOKEN differ: keep only the admin one"
            )
        if self.read_token.get_secret_value() and self.read_token.get_secret_value() == self.admin():
            raise ValueError("PEERSCORE_READ_TOKEN equals the admin token: reads would administer; use two tokens")
        return self
