"""``python -m peerscore.crm_sync``: read settings once, configure logging, serve the app with uvicorn.

This is the one place crm-sync's settings are read from the environment (:func:`load_config`). uvicorn turns
SIGTERM/SIGINT into lifespan shutdown, which drains the consumer loops and commits before exit.
"""

from __future__ import annotations

import uvicorn

from peerscore.crm_sync.adapters.factory import CrmClients
from peerscore.crm_sync.alert_settings import AlertSettings
from peerscore.crm_sync.app import create_app
from peerscore.crm_sync.config import CrmSyncConfig
from peerscore.crm_sync.settings import CrmDatabaseSettings, CrmHttpSettings, CrmSyncSettings, OutcomeSettings
from peerscore.observability import configure_logging
from peerscore.runtime import tune_gc_for_throughput
from peerscore.settings import ApiAuthSettings, IdentitySettings, KafkaSettings, RuntimeSettings, refuse_placeholder


def load_config(runtime: RuntimeSettings) -> CrmSyncConfig:
    """Every settings group from the environment, checked for placeholders outside dev."""
    clients = CrmClients()
    outcomes = OutcomeSettings()
    # Outcome endpoints are off until their secret is set; a set secret must be a real one outside dev.
    if outcomes.webhook_secret.get_secret_value():
        refuse_placeholder(runtime, "OUTCOMES_WEBHOOK_SECRET", outcomes.webhook_secret)
    if clients.hubspot.client_secret.get_secret_value():
        refuse_placeholder(runtime, "HUBSPOT_CLIENT_SECRET", clients.hubspot.client_secret)
    return CrmSyncConfig(
        runtime=runtime,
        kafka=KafkaSettings(),
        database=CrmDatabaseSettings(),
        auth=ApiAuthSettings().check(runtime),
        crm=CrmSyncSettings().check(
            runtime, hubspot=clients.hubspot, salesforce=clients.salesforce, webhook=clients.webhook
        ),
        clients=clients,
        identity=IdentitySettings().check(runtime),
        outcomes=outcomes,
        alerts=AlertSettings().check(runtime),
    )


def main() -> None:
    runtime = RuntimeSettings()
    configure_logging("crm-sync", runtime.log_level)
    http = CrmHttpSettings()
    app = create_app(load_config(runtime))
    tune_gc_for_throughput()
    uvicorn.run(app, host=http.host, port=http.port, log_config=None)


if __name__ == "__main__":
    main()
