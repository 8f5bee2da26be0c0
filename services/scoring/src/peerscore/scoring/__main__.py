"""``python -m peerscore.scoring``: the scoring worker and its lead API (default port 8001).

The only place the scoring service reads its environment: every settings object is built here, once, and handed
to :func:`create_app` inside one :class:`ScoringConfig`.
"""

from __future__ import annotations

import os

import uvicorn

from peerscore.observability import configure_logging
from peerscore.runtime import tune_gc_for_throughput
from peerscore.scoring.app import create_app
from peerscore.scoring.config import ScoringConfig
from peerscore.scoring.console import ConsoleSettings
from peerscore.scoring.predictive.settings import PredictiveSettings
from peerscore.scoring.settings import ScoringSettings
from peerscore.settings import (
    ApiAuthSettings,
    DatabaseSettings,
    HttpSettings,
    IdentitySettings,
    KafkaSettings,
    RuntimeSettings,
)


def config_from_environment(runtime: RuntimeSettings) -> ScoringConfig:
    """Every setting the service has, checked for this environment (secrets are required outside dev)."""
    return ScoringConfig(
        runtime=runtime,
        kafka=KafkaSettings(),
        database=DatabaseSettings(database_url=os.environ.get("DATABASE_URL", "sqlite:///var/scoring.db")),
        scoring=ScoringSettings(),
        auth=ApiAuthSettings().check(runtime),
        identity=IdentitySettings().check(runtime),
        predictive=PredictiveSettings(),
        console=ConsoleSettings(),
    )


def main() -> None:
    runtime = RuntimeSettings()
    configure_logging("scoring", runtime.log_level)
    app = create_app(config_from_environment(runtime))
    http = HttpSettings(port=int(os.environ.get("HTTP_PORT", "8001")))
    tune_gc_for_throughput()
    uvicorn.run(app, host=http.host, port=http.port, log_config=None, timeout_graceful_shutdown=30)


if __name__ == "__main__":
    main()
