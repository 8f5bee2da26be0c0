"""Everything crm-sync is configured with, in one object: what ``create_app`` takes and ``__main__`` builds.

The settings classes read the environment when constructed, so only ``__main__`` constructs them for a real
process; tests and benches build a :class:`CrmSyncConfig` from explicit values. Groups left out fall back to their
class defaults (and the environment), as before; the app factory itself never reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from peerscore.crm_sync.adapters.factory import CrmClients
from peerscore.crm_sync.alert_settings import AlertSettings
from peerscore.crm_sync.settings import CrmSyncSettings, OutcomeSettings
from peerscore.settings import ApiAuthSettings, DatabaseSettings, IdentitySettings, KafkaSettings, RuntimeSettings


@dataclass(frozen=True)
class CrmSyncConfig:
    """crm-sync's settings, grouped by concern (see :mod:`peerscore.crm_sync.settings` for each variable)."""

    runtime: RuntimeSettings
    kafka: KafkaSettings
    database: DatabaseSettings
    auth: ApiAuthSettings
    crm: CrmSyncSettings = field(default_factory=CrmSyncSettings)
    clients: CrmClients = field(default_factory=CrmClients)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    outcomes: OutcomeSettings = field(default_factory=OutcomeSettings)
    alerts: AlertSettings = field(default_factory=lambda: AlertSettings(destinations=[]))
