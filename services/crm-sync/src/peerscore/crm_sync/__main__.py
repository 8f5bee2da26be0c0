"""``python -m peerscore.crm_sync``: read settings once, configure logging, serve the app with uvicorn.

uvicorn turns SIGTERM/SIGINT into lifespan shutdown, which drains the consumer loop and commits before exit.
"""

from __future__ import annotations

import uvicorn

from peerscore.crm_sync.app import create_app
from peerscore.crm_sync.settings import CrmDatabaseSettings, CrmHttpSettings, CrmSyncSettings
from peerscore.observability import configure_logging
from peerscore.settings import ApiAuthSettings, KafkaSettings, RuntimeSettings


def main() -> None:
    runtime = RuntimeSettings()
    configure_logging("crm-sync", runtime.log_level)
    http = CrmHttpSettings()
    app = create_app(
        runtime=runtime,
        kafka=KafkaSettings(),
        database=CrmDatabaseSettings(),
        auth=ApiAuthSettings().check(runtime),
        crm=CrmSyncSettings(),
    )
    uvicorn.run(app, host=http.host, port=http.port, log_config=None)


if __name__ == "__main__":
    main()
