"""``python -m peerscore.scoring``: the scoring worker and its lead API (default port 8001)."""

from __future__ import annotations

import os

import uvicorn

from peerscore.observability import configure_logging
from peerscore.runtime import tune_gc_for_throughput
from peerscore.scoring.app import ScoringConfig, create_app
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import (
    ApiAuthSettings,
    DatabaseSettings,
    HttpSettings,
    IdentitySettings,
    KafkaSettings,
    RuntimeSettings,
)


def main() -> None:
    runtime = RuntimeSettings()
    configure_logging("scoring", runtime.log_level)
    config = ScoringConfig(
        runtime=runtime,
        kafka=KafkaSettings(),
        database=DatabaseSettings(database_url=os.environ.get("DATABASE_URL", "sqlite:///var/scoring.db")),
        scoring=ScoringSettings(),
        auth=ApiAuthSettings().check(runtime),
        identity=IdentitySettings().check(runtime),
    )
    http = HttpSettings(port=int(os.environ.get("HTTP_PORT", "8001")))
    app = create_app(config)
    tune_gc_for_throughput()
    uvicorn.run(app, host=http.host, port=http.port, log_config=None, timeout_graceful_shutdown=30)


if __name__ == "__main__":
    main()
