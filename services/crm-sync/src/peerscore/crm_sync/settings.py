"""crm-sync's own settings; the shared ones (Kafka, runtime, auth) come from :mod:`peerscore.settings`.

One class per concern: the sync itself (``CRM_*``), then one per CRM (``HUBSPOT_*``, ``SALESFORCE_*``,
``CRM_WEBHOOK_*``) and the outcome webhooks (``OUTCOMES_*``). Secrets are ``SecretStr``; :meth:`CrmSyncSettings.check`
refuses placeholders for the CRM actually selected, outside dev.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

import structlog
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from peerscore.crm_sync.budget import DEFAULT_MAX_ELAPSED_S
from peerscore.crm_sync.domain.freshness import CrmLeadPolicy, UpdatePolicy
from peerscore.crm_sync.domain.mapping import DEFAULT_FIELD_MAPPING, validate_field_mapping
from peerscore.crm_sync.domain.matching import MatchRule
from peerscore.crm_sync.domain.outcomes import DealStages
from peerscore.crm_sync.domain.payloads import (
    HUBSPOT_FIELD_MAPPING,
    SALESFORCE_FIELD_MAPPING,
    salesforce_default_mapping,
    validate_salesforce_mapping,
)
from peerscore.settings import DatabaseSettings, HttpSettings, RuntimeSettings, refuse_placeholder

log = structlog.get_logger(__name__)
MIN_URL_TOKEN_CHARS = 24
"""A secret path segment is the only credential Salesforce can send: long enough not to be guessed."""

AdapterName = Literal["local", "hubspot", "salesforce", "webhook"]

_DEFAULT_MAPPINGS = {"hubspot": HUBSPOT_FIELD_MAPPING, "salesforce": SALESFORCE_FIELD_MAPPING}


StageIds = Annotated[list[str], NoDecode]
"""Read from the environment as comma-separated ids (``closedwon,1234567``), not JSON."""


class HubSpotSettings(BaseSettings):
    """``HUBSPOT_ACCESS_TOKEN`` (private app), ``HUBSPOT_HOST``, rate limit, ``HUBSPOT_CLIENT_SECRET`` (webhooks),
    ``HUBSPOT_DEAL_WON_STAGES`` / ``HUBSPOT_DEAL_LOST_STAGES`` (stage ids: portals customise their pipelines) and
    ``HUBSPOT_WEBHOOK_LOOKUP_TIMEOUT_S`` (per lookup while HubSpot waits for the webhook answer)."""

    model_config = SettingsConfigDict(env_prefix="HUBSPOT_", extra="ignore")

    access_token: SecretStr = SecretStr("")
    host: str = "https://api.hubapi.com"
    rate_limit_calls: int = Field(default=190, ge=1)
    rate_limit_period_s: float = Field(default=10.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    client_secret: SecretStr = SecretStr("")
    deal_won_stages: StageIds = Field(default_factory=lambda: ["closedwon"])
    deal_lost_stages: StageIds = Field(default_factory=lambda: ["closedlost"])
    webhook_lookup_timeout_s: float = Field(default=2.0, gt=0, le=10)

    @field_validator("deal_won_stages", "deal_lost_stages", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return [part.strip() for part in value.split(",")] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _stages_are_distinct(self) -> Self:
        """A stage that meant both won and lost would publish the wrong outcome: refuse it at start."""
        stages = self.deal_won_stages + self.deal_lost_stages
        if any(not s for s in stages):
            raise ValueError("HUBSPOT_DEAL_WON_STAGES / HUBSPOT_DEAL_LOST_STAGES: empty stage id")
        both = sorted(set(self.deal_won_stages) & set(self.deal_lost_stages))
        if both:
            raise ValueError(f"deal stage(s) {both} configured as both won and lost")
        return self

    @property
    def deal_stages(self) -> DealStages:
        return DealStages(won=frozenset(self.deal_won_stages), lost=frozenset(self.deal_lost_stages))


class SalesforceSettings(BaseSettings):
    """``SALESFORCE_INSTANCE_URL`` + ``SALESFORCE_SESSION_ID`` (an OAuth access token), object and external id,
    ``SALESFORCE_MATCH_RULE`` (``lead_then_contact``, ``contact_then_lead``, ``lead``, ``contact`` or
    ``external_id``): where the buyer's existing record is looked for by email before one is created."""

    model_config = SettingsConfigDict(env_prefix="SALESFORCE_", extra="ignore")

    instance_url: str = ""
    session_id: SecretStr = SecretStr("")
    api_version: str = "59.0"
    sobject: Literal["Lead", "Contact"] = "Lead"
    external_id_field: str = "Peerscore_Person_Key__c"
    ca_bundle: str | None = Field(default=None, description="CA file to trust (self-signed test servers)")
    timeout_s: float = Field(default=10.0, gt=0)
    usage_backoff_ratio: float = Field(default=0.9, gt=0, le=1)
    organization_id: str = Field(default="", description="Outbound messages from other orgs are refused")
    match_rule: MatchRule = Field(
        default="lead_then_contact",
        description="Which existing records a lead updates, found by email (see domain.matching.MATCH_OBJECTS)",
    )
    outbound_token: SecretStr = Field(
        default=SecretStr(""),
        description="Secret path segment of the outbound-message endpoint (/v1/crm/outcomes/salesforce/<token>): "
        "outbound messages cannot be signed and the org id is not secret, so this is what authenticates them",
    )

    def check_outcomes(self, runtime: RuntimeSettings) -> None:
        """Outside dev, Salesforce outcomes need the endpoint token: the org id alone let anyone post won/lost."""
        if not self.organization_id:
            return
        if not self.outbound_token.get_secret_value():
            if runtime.is_dev:
                log.warning("salesforce_outcomes_without_token", hint="dev only: set SALESFORCE_OUTBOUND_TOKEN")
                return
            raise ValueError(
                "SALESFORCE_ORGANIZATION_ID is set without SALESFORCE_OUTBOUND_TOKEN: the org id is no secret; set a "
                "random token and point the outbound message at /v1/crm/outcomes/salesforce/<token>"
            )
        refuse_placeholder(runtime, "SALESFORCE_OUTBOUND_TOKEN", self.outbound_token)
        if not runtime.is_dev and len(self.outbound_token.get_secret_value()) < MIN_URL_TOKEN_CHARS:
            raise ValueError(f"SALESFORCE_OUTBOUND_TOKEN must be at least {MIN_URL_TOKEN_CHARS} characters")


class WebhookSettings(BaseSettings):
    """``CRM_WEBHOOK_URL`` and ``CRM_WEBHOOK_SECRET`` for the signed lead webhook."""

    model_config = SettingsConfigDict(env_prefix="CRM_WEBHOOK_", extra="ignore")

    url: str = ""
    secret: SecretStr = SecretStr("")
    timeout_s: float = Field(default=10.0, gt=0)
    attempts: int = Field(default=3, ge=1)


class OutcomeSettings(BaseSettings):
    """``OUTCOMES_WEBHOOK_SECRET`` signs generic outcome webhooks (same scheme as the outgoing webhook)."""

    model_config = SettingsConfigDict(env_prefix="OUTCOMES_", extra="ignore")

    webhook_secret: SecretStr = SecretStr("")
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    """Largest webhook body read (413 beyond it, before authentication or parsing): HubSpot sends at most 100
    events per request and Salesforce at most 100 notifications, both far below 1 MiB."""
    public_base_url: str = ""
    """The scheme and host CRMs call (``https://crm-sync.example.com``). HubSpot signs the full URL it called; behind
    a TLS-terminating proxy the service sees ``http://<pod>``, so without this every v3 signature fails."""

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("OUTCOMES_PUBLIC_BASE_URL must start with https:// (or http://)")
        return value


class CrmSyncSettings(BaseSettings):
    """``CRM_ADAPTER``, ``CRM_GROUP_ID``, ``CRM_FIELD_MAPPING`` (JSON object: Peerscore field → CRM property),
    ``CRM_RETRY_MAX_ELAPSED_S`` (how long a lead version may keep failing before the CRM dead-letter topic; 6 h),
    ``CRM_RETRY_MAX_ATTEMPTS`` (optional extra limit, unset by default), ``CRM_RETRY_BACKOFF_MAX_S`` (cap of the
    exponential back-off between attempts), ``CRM_BREAKER_OPEN_MAX_S`` (cap of the pause after whole calls fail),
    ``CRM_NATIVE_FIELDS`` (write HubSpot lifecycle stage / lead status, Salesforce Lead Status / Rating), and
    how the CRM record follows a handed-off lead: ``CRM_LEADS`` (``mql``: only handed-off leads are created;
    ``known``: every lead scoring publishes, see ``SCORING_CRM_LEADS``), ``CRM_UPDATE_COALESCE_S`` (an update waits
    at least this long after the lead's last send), ``CRM_UPDATE_MIN_SCORE_DELTA`` /
    ``CRM_UPDATE_MIN_PROBABILITY_DELTA`` (how far the score or probability must move to be worth an update when
    grade, level and top reason are unchanged) and ``CRM_FLUSH_BATCH`` (pending leads per CRM call and transaction).

    The mapping is validated here so a typo stops the service at start instead of failing every lead later.
    """

    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore")

    adapter: AdapterName = "local"
    group_id: str = Field(default="peerscore-crm-sync", min_length=1)
    field_mapping: dict[str, str] | None = None
    retry_max_attempts: int | None = Field(default=None, ge=1)
    retry_max_elapsed_s: float = Field(default=DEFAULT_MAX_ELAPSED_S, gt=0)
    retry_backoff_max_s: float = Field(default=300.0, gt=0)
    breaker_open_max_s: float = Field(default=300.0, gt=0)
    native_fields: bool = Field(
        default=True, description="Write the CRM's own lifecycle/status/rating fields (see domain.native)"
    )
    leads: CrmLeadPolicy = "mql"
    update_coalesce_s: float = Field(default=60.0, ge=0)
    update_min_score_delta: float = Field(default=10.0, ge=0)
    update_min_probability_delta: float = Field(default=0.05, ge=0, le=1)
    flush_batch: int = Field(default=100, ge=1, le=1000)

    @property
    def update_policy(self) -> UpdatePolicy:
        return UpdatePolicy(
            coalesce_s=self.update_coalesce_s,
            min_score_delta=self.update_min_score_delta,
            min_probability_delta=self.update_min_probability_delta,
            leads=self.leads,
        )

    @field_validator("field_mapping")
    @classmethod
    def _known_fields(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else validate_field_mapping(value)

    @property
    def effective_field_mapping(self) -> dict[str, str]:
        """The mapping in use; for Salesforce, the Lead one (see :meth:`field_mapping_for`)."""
        return self.field_mapping_for("Lead")

    def field_mapping_for(self, sobject: str) -> dict[str, str]:
        """The configured mapping, else the adapter's default (for Salesforce, the target object's default)."""
        if self.field_mapping is not None:
            return dict(self.field_mapping)
        if self.adapter == "salesforce":
            return dict(salesforce_default_mapping(sobject))
        return dict(_DEFAULT_MAPPINGS.get(self.adapter, DEFAULT_FIELD_MAPPING))

    def check(
        self,
        runtime: RuntimeSettings,
        *,
        hubspot: HubSpotSettings | None = None,
        salesforce: SalesforceSettings | None = None,
        webhook: WebhookSettings | None = None,
    ) -> Self:
        """Refuse placeholder secrets of the selected CRM outside dev, and a CRM without an address."""
        if self.adapter == "hubspot":
            refuse_placeholder(runtime, "HUBSPOT_ACCESS_TOKEN", (hubspot or HubSpotSettings()).access_token)
        elif self.adapter == "salesforce":
            sf = salesforce or SalesforceSettings()
            refuse_placeholder(runtime, "SALESFORCE_SESSION_ID", sf.session_id)
            if not sf.instance_url:
                raise ValueError("SALESFORCE_INSTANCE_URL is required with CRM_ADAPTER=salesforce")
            validate_salesforce_mapping(self.field_mapping_for(sf.sobject), sf.sobject)
        elif self.adapter == "webhook":
            hook = webhook or WebhookSettings()
            refuse_placeholder(runtime, "CRM_WEBHOOK_SECRET", hook.secret)
            if not hook.url:
                raise ValueError("CRM_WEBHOOK_URL is required with CRM_ADAPTER=webhook")
        return self


class CrmDatabaseSettings(DatabaseSettings):
    """In dev the local CRM has its own SQLite file, so each service owns its data; ``DATABASE_URL`` wins."""

    database_url: str = Field(default="sqlite:///var/crm.db", validation_alias="DATABASE_URL")


class CrmHttpSettings(HttpSettings):
    """crm-sync listens on 8002 by default (ingest 8000, scoring 8001) so all three run side by side."""

    port: int = 8002
