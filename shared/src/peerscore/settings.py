"""Settings, one class per concern, read from the environment by pydantic-settings.

Entry points build them once and pass them down; nothing reads the environment at import time. Secrets are
``SecretStr`` and placeholder values are refused unless ``PEERSCORE_ENV=dev``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from peerscore.topics import Retention, Topics

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


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(BaseSettings):
    """The cluster, how to reach it securely (``client_options``) and what the topics look like (``topics``)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    # The client library (``KAFKA_CLIENT``): kafka-python, or confluent-kafka (librdkafka, several times faster per
    # record; needs the ``confluent`` extra). Same settings, security and commit rules either way.
    client: Literal["kafka-python", "confluent"] = "kafka-python"
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
    # How long a publish waits for the broker's acks before it fails (the caller answers 503 or retries the batch).
    ack_timeout_ms: int = Field(default=30_000, ge=100)
    # With SSL/SASL_SSL, how long a bootstrap server may stay silent in the TLS handshake before the service refuses
    # to start (a plaintext listener never answers one; kafka-python alone would wait forever).
    tls_handshake_timeout_ms: int = Field(default=10_000, ge=100)
    # Tansu 0.6 with s3:// storage answers DuplicateSequenceNumber after a restart for batches it never stored, and
    # an idempotent producer counts those as written: set false there (retries may then duplicate records, which
    # consumers drop by event id; one request in flight keeps the order). Real Kafka: keep true.
    enable_idempotence: bool = True
    # Longest gap between polls (a batch plus its retry back-off, up to 30 s) before the group evicts the consumer;
    # Kafka also uses it as the rebalance timeout.
    max_poll_interval_ms: int = 300_000

    # Security of every producer, consumer and admin client. SASL_* protocols authenticate with the mechanism and
    # credentials below; SSL and SASL_SSL encrypt (CA file empty: the system's CAs; a client certificate for mTLS).
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: SecretStr = SecretStr("")
    ssl_check_hostname: bool = True

    # How long topics holding personal data keep records, by class of topic (Topics.specs lists which is which).
    retention_stream_days: float = Field(default=Retention.stream_days, gt=0)
    retention_dead_letter_days: float = Field(default=Retention.dead_letter_days, gt=0)
    retention_erasure_days: float = Field(default=Retention.erasure_days, gt=0)
    retention_scores_days: float = Field(default=Retention.scores_days, gt=0)

    @model_validator(mode="after")
    def _security_is_coherent(self) -> Self:
        """Refuse at start-up what kafka-python would otherwise ignore silently (credentials sent nowhere, a
        certificate never presented) or only report as a connection failure much later (a missing file)."""
        if self.client == "confluent" and importlib.util.find_spec("confluent_kafka") is None:
            raise ValueError("KAFKA_CLIENT=confluent needs confluent-kafka: install peerscore-shared[confluent]")
        sasl = self.security_protocol.startswith("SASL_")
        tls = self.security_protocol.endswith("SSL")
        has_credentials = bool(self.sasl_username or self.sasl_password.get_secret_value())
        if sasl and not (self.sasl_username and self.sasl_password.get_secret_value()):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        if not sasl and has_credentials:
            raise ValueError(
                f"KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD are set but KAFKA_SECURITY_PROTOCOL="
                f"{self.security_protocol} would not use them: choose SASL_SSL (or SASL_PLAINTEXT)"
            )
        files = {
            "KAFKA_SSL_CAFILE": self.ssl_cafile,
            "KAFKA_SSL_CERTFILE": self.ssl_certfile,
            "KAFKA_SSL_KEYFILE": self.ssl_keyfile,
        }
        given = {name: path for name, path in files.items() if path is not None}
        if given and not tls:
            raise ValueError(
                f"{', '.join(given)} set but KAFKA_SECURITY_PROTOCOL={self.security_protocol} "
                "does not use TLS: choose SSL or SASL_SSL"
            )
        for name, path in given.items():
            if not path.is_file():
                raise ValueError(f"{name}: no readable file at {path}")
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE (the client certificate it belongs to)")
        return self

    def client_options(self) -> dict[str, Any]:
        """kafka-python keyword arguments that say where the cluster is and how to connect to it securely.

        The one mapping from these settings to a client: every producer, consumer and admin client is built with
        ``**client_options()`` so none can connect in clear (or unauthenticated) while the others do not.
        """
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL_"):
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password.get_secret_value(),
            }
        if self.security_protocol.endswith("SSL"):
            options |= {
                "ssl_check_hostname": self.ssl_check_hostname,
                "ssl_cafile": str(self.ssl_cafile) if self.ssl_cafile else None,
                "ssl_certfile": str(self.ssl_certfile) if self.ssl_certfile else None,
                "ssl_keyfile": str(self.ssl_keyfile) if self.ssl_keyfile else None,
                "ssl_password": self.ssl_password.get_secret_value() or None,
            }
        return options

    def topics(self) -> Topics:
        return Topics(
            prefix=self.topic_prefix,
            event_partitions=self.event_partitions,
            replication_factor=self.replication_factor,
            retention=Retention(
                stream_days=self.retention_stream_days,
                dead_letter_days=self.retention_dead_letter_days,
                erasure_days=self.retention_erasure_days,
                scores_days=self.retention_scores_days,
            ),
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
