"""crm-sync's own settings; the shared ones (Kafka, runtime, auth) come from :mod:`peerscore.settings`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from peerscore.crm_sync.domain.mapping import DEFAULT_FIELD_MAPPING, validate_field_mapping
from peerscore.settings import DatabaseSettings, HttpSettings


class CrmSyncSettings(BaseSettings):
    """``CRM_ADAPTER``, ``CRM_GROUP_ID``, ``CRM_FIELD_MAPPING`` (JSON object: Peerscore field → CRM property).

    The mapping is validated here so a typo stops the service at start instead of failing every lead later.
    """

    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore")

    adapter: Literal["local"] = "local"
    group_id: str = Field(default="peerscore-crm-sync", min_length=1)
    field_mapping: dict[str, str] | None = None

    @field_validator("field_mapping")
    @classmethod
    def _known_fields(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else validate_field_mapping(value)

    @property
    def effective_field_mapping(self) -> dict[str, str]:
        return dict(self.field_mapping if self.field_mapping is not None else DEFAULT_FIELD_MAPPING)


class CrmDatabaseSettings(DatabaseSettings):
    """In dev the local CRM has its own SQLite file, so each service owns its data; ``DATABASE_URL`` wins."""

    database_url: str = Field(default="sqlite:///var/crm.db", validation_alias="DATABASE_URL")


class CrmHttpSettings(HttpSettings):
    """crm-sync listens on 8002 by default (ingest 8000, scoring 8001) so all three run side by side."""

    port: int = 8002
