"""What ``peerscore crm replay`` runs: settings from the environment, the configured CRM, then :func:`replay`.

Kept out of the shared CLI module so the CLI imports crm-sync (and its CRM SDKs) only when this command runs.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry
from sqlmodel import Session

from peerscore.crm_sync.adapters.factory import CrmClients, build_adapter_factory
from peerscore.crm_sync.handler import SyncHandler
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.models import TABLES
from peerscore.crm_sync.replay import ReplayReport, read_dead_letters, replay
from peerscore.crm_sync.settings import CrmDatabaseSettings, CrmSyncSettings
from peerscore.db import create_tables, make_engine
from peerscore.settings import KafkaSettings, RuntimeSettings


def run_replay(
    *,
    idle_s: float,
    attempts: int,
    on_total: Callable[[int], None],
    on_progress: Callable[[int], None],
) -> ReplayReport:
    runtime = RuntimeSettings()
    clients = CrmClients()
    crm = CrmSyncSettings().check(
        runtime, hubspot=clients.hubspot, salesforce=clients.salesforce, webhook=clients.webhook
    )
    database = CrmDatabaseSettings()
    engine = make_engine(database.database_url)
    try:
        create_tables(engine, TABLES)
        factory = build_adapter_factory(crm, clients, CrmMetrics(CollectorRegistry()))
        with Session(engine) as session:
            name = factory(session).name
        letters, unreadable = read_dead_letters(KafkaSettings(), idle_s=idle_s)
        on_total(len(letters))
        handler = SyncHandler(engine, factory, CrmMetrics(CollectorRegistry()))
        report = replay(handler, name, letters, attempts=attempts, on_progress=on_progress)
        report.unreadable = unreadable
        return report
    finally:
        engine.dispose()
