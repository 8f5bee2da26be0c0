"""Builds the configured CRM adapter once per app: remote clients and their rate limiter are shared by every batch.

Only entry points call this (the app factory, the replay command, the bench); handlers see the Protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import requests
from sqlmodel import Session

from peerscore.crm_sync.adapters.base import AdapterFactory, CrmAdapter
from peerscore.crm_sync.adapters.hubspot import HubSpotAdapter, make_hubspot_client
from peerscore.crm_sync.adapters.limits import SlidingWindowLimiter
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.adapters.salesforce import SalesforceAdapter, make_salesforce_client
from peerscore.crm_sync.adapters.webhook import WebhookAdapter
from peerscore.crm_sync.domain.native import NativeFields
from peerscore.crm_sync.metrics import CrmMetrics
from peerscore.crm_sync.settings import CrmSyncSettings, HubSpotSettings, SalesforceSettings, WebhookSettings


@dataclass
class CrmClients:
    """The CRM settings an app was started with (each read from the environment unless given)."""

    hubspot: HubSpotSettings = field(default_factory=HubSpotSettings)
    salesforce: SalesforceSettings = field(default_factory=SalesforceSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    _hubspot_limiter: SlidingWindowLimiter | None = field(default=None, init=False, repr=False)

    def hubspot_limiter(self) -> SlidingWindowLimiter:
        """One limiter for every HubSpot call of the app (upserts, companies, associations, webhook lookups):
        HubSpot counts them all against the same private-app limit."""
        if self._hubspot_limiter is None:
            self._hubspot_limiter = SlidingWindowLimiter(
                self.hubspot.rate_limit_calls, self.hubspot.rate_limit_period_s
            )
        return self._hubspot_limiter


def build_adapter_factory(settings: CrmSyncSettings, clients: CrmClients, metrics: CrmMetrics) -> AdapterFactory:
    mapping = settings.field_mapping_for(clients.salesforce.sobject)
    native = NativeFields(enabled=settings.native_fields)
    if settings.adapter == "local":
        return LocalCrmAdapter
    remote: CrmAdapter
    if settings.adapter == "hubspot":
        hs = clients.hubspot
        client = make_hubspot_client(hs.access_token.get_secret_value(), hs.host)
        remote = HubSpotAdapter(client, mapping, clients.hubspot_limiter(), hs.timeout_s, native)
    elif settings.adapter == "salesforce":
        sf = clients.salesforce
        session = requests.Session()
        if sf.ca_bundle:
            session.verify = sf.ca_bundle
        remote = SalesforceAdapter(
            make_salesforce_client(sf.instance_url, sf.session_id.get_secret_value(), sf.api_version, session),
            mapping,
            sobject=sf.sobject,
            external_id_field=sf.external_id_field,
            match_rule=sf.match_rule,
            timeout_s=sf.timeout_s,
            backoff_ratio=sf.usage_backoff_ratio,
            on_usage=lambda used, total: metrics.usage("salesforce", used, total),
            native=native,
        )
    else:
        hook = clients.webhook
        remote = WebhookAdapter(
            httpx.Client(timeout=hook.timeout_s),
            hook.url,
            hook.secret.get_secret_value().encode(),
            mapping,
            attempts=hook.attempts,
        )

    def shared(_session: Session) -> CrmAdapter:
        return remote

    return shared
