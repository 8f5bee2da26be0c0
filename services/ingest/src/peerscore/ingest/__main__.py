"""``python -m peerscore.ingest``: read settings from the environment once, check secrets, serve."""

from __future__ import annotations

import uvicorn

from peerscore.ingest.app import create_app
from peerscore.ingest.settings import IngestSettings
from peerscore.observability import configure_logging
from peerscore.settings import HttpSettings, IdentitySettings, KafkaSettings, RuntimeSettings


def main() -> None:
    runtime = RuntimeSettings()
    configure_logging("ingest", runtime.log_level)
    identity = IdentitySettings().check(runtime)
    settings = IngestSettings().check(runtime)
    http = HttpSettings()
    app = create_app(settings, identity, runtime, KafkaSettings())
    uvicorn.run(app, host=http.host, port=http.port, log_config=None)


if __name__ == "__main__":
    main()
