"""MQL alert settings (``ALERTS_*``): where alerts go, how they are routed, and how long a destination may fail.

``ALERTS_DESTINATIONS`` is a JSON list, one object per incoming webhook::

    [{"name": "sales-emea", "kind": "slack", "url": "https://hooks.slack.com/services/…",
      "product_lines": ["core"], "domains": [], "territory_field": "country", "territories": ["DE", "FR"]}]

A webhook URL is its own credential (anyone holding it can post to the channel), so it is a ``SecretStr``, never
logged; :meth:`AlertSettings.check` refuses placeholders and plain ``http://`` outside dev. No destination: no
alerts consumer runs.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from peerscore.crm_sync.domain.alerts import Destination, DestinationKind, TerritoryField, route
from peerscore.settings import RuntimeSettings, refuse_placeholder


class AlertDestination(BaseModel):
    """One incoming webhook and its route filters (empty: every lead)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,47}$", description="Stable id: keys the alert ledger")
    kind: DestinationKind
    url: SecretStr
    product_lines: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    territory_field: TerritoryField = "country"
    territories: list[str] = Field(default_factory=list)

    @property
    def destination(self) -> Destination:
        filters = route(self.product_lines, self.domains, self.territory_field, self.territories)
        return Destination(self.name, self.kind, filters)


class AlertSettings(BaseSettings):
    """``ALERTS_DESTINATIONS`` (JSON list, see the module), ``ALERTS_CONSOLE_BASE_URL`` (where the console's lead
    pages are: the alert's button), ``ALERTS_DEFAULT_PRODUCT_LINE`` (routes transitions that name none),
    ``ALERTS_GROUP_ID`` (default ``<CRM_GROUP_ID>-alerts``), ``ALERTS_TIMEOUT_S``, ``ALERTS_RETRY_MAX_ELAPSED_S``
    (how long an alert may keep failing before the alert dead-letter topic: an MQL alert hours late is noise),
    ``ALERTS_RETRY_BACKOFF_MAX_S`` and ``ALERTS_FLUSH_BATCH`` (alerts sent per flush before the next poll)."""

    model_config = SettingsConfigDict(env_prefix="ALERTS_", extra="ignore")

    destinations: list[AlertDestination] = Field(default_factory=list)
    console_base_url: str = "http://127.0.0.1:8001"
    default_product_line: str | None = None
    group_id: str | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    retry_max_elapsed_s: float = Field(default=3600.0, gt=0)
    retry_backoff_max_s: float = Field(default=120.0, gt=0)
    flush_batch: int = Field(default=50, ge=1, le=1000)

    @model_validator(mode="after")
    def _names_are_unique(self) -> Self:
        names = [d.name for d in self.destinations]
        if len(names) != len(set(names)):
            raise ValueError("ALERTS_DESTINATIONS: two destinations share a name (the name keys the alert ledger)")
        if not self.console_base_url.startswith(("https://", "http://")):
            raise ValueError("ALERTS_CONSOLE_BASE_URL must start with https:// (or http://)")
        return self

    def check(self, runtime: RuntimeSettings) -> Self:
        """Outside dev every webhook URL must be a real ``https://`` one."""
        for d in self.destinations:
            refuse_placeholder(runtime, f"ALERTS_DESTINATIONS[{d.name}].url", d.url)
            if not runtime.is_dev and not d.url.get_secret_value().startswith("https://"):
                raise ValueError(f"ALERTS_DESTINATIONS[{d.name}].url must be https:// outside dev")
        return self

    def group(self, crm_group_id: str) -> str:
        return self.group_id or f"{crm_group_id}-alerts"

    @property
    def routes(self) -> list[Destination]:
        return [d.destination for d in self.destinations]

    def url(self, name: str) -> str:
        return next(d.url.get_secret_value() for d in self.destinations if d.name == name)
