"""Every adapter wrapped the same way, so one contract suite can run over all of them.

A harness knows how to read back what its CRM holds and, for CRMs behind a (fake) server, how to make that
server refuse one lead or misbehave for every call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import requests
import trustme
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.crm_sync.adapters.base import CrmAdapter
from peerscore.crm_sync.adapters.fake import FakeCrmAdapter
from peerscore.crm_sync.adapters.hubspot import HubSpotAdapter, make_hubspot_client
from peerscore.crm_sync.adapters.limits import SlidingWindowLimiter
from peerscore.crm_sync.adapters.local import LocalCrmAdapter
from peerscore.crm_sync.adapters.salesforce import SalesforceAdapter, make_salesforce_client
from peerscore.crm_sync.adapters.webhook import WebhookAdapter
from peerscore.crm_sync.domain.mapping import (
    DEFAULT_FIELD_MAPPING,
    LINE_FIELDS,
    LINE_PROPERTY,
    SALESFORCE_LINE_PROPERTY,
)
from peerscore.crm_sync.domain.payloads import HUBSPOT_FIELD_MAPPING, salesforce_default_mapping
from peerscore.crm_sync.models import CrmLead
from peerscore_testkit.fake_hubspot import hubspot_server
from peerscore_testkit.fake_salesforce import salesforce_server
from peerscore_testkit.fake_servers import (
    HUBSPOT_TOKEN,
    SALESFORCE_SESSION,
    WEBHOOK_SECRET,
    FakeServer,
    Fault,
)
from peerscore_testkit.fake_webhook import webhook_server

ADAPTERS = ["local", "fake", "hubspot", "salesforce", "salesforce_contact", "webhook"]
CONTACT_EXTERNAL_ID = "Peerscore_Key__c"
"""Contact is exercised with its own external-id field, as an org that already keys Contacts differently would."""
TIMEOUT_S = 1.5
"""Per CRM call. Generous: a 200-record composite call over TLS takes ~0.4 s here and much longer on a loaded CI
machine (0.5 s once turned a whole split batch retryable); the timeout faults wait a second longer than this."""


@dataclass
class Harness:
    adapter: CrmAdapter
    read: Callable[[str], dict[str, Any] | None]
    """Reads back ``{"email", "version", "status"}`` for a person key."""
    batch_limit: int | None = None
    server: FakeServer | None = None
    fake: FakeCrmAdapter | None = None
    sees_retry_after: bool = False
    has_objects: bool = True
    """The CRM has records with ids of its own (a webhook receiver's are unknown to Peerscore)."""
    props: Callable[[str], dict[str, Any]] = lambda key: {}
    """Every property the CRM holds for a person key (the local CRM: its row's columns)."""
    line_property: str = LINE_PROPERTY

    def lines(self, key: str, names: Sequence[str]) -> dict[str, dict[str, str]]:
        """Each product line's ``score``/``grade``/``status`` as the CRM shows them (as text, like HubSpot)."""
        props = self.props(key)
        if "lines" in props:  # the local CRM keeps them in one JSON column
            return {n: {f: str(v) for f, v in line.items()} for n, line in props["lines"].items()}
        found: dict[str, dict[str, str]] = {}
        for name in names:
            for field in LINE_FIELDS:
                prop = self.line_property.format(line=name, field=field, Line=name.title(), Field=field.title())
                if prop in props:
                    found.setdefault(name, {})[field] = str(props[prop])
        return found

    def reject(self, email: str, message: str) -> None:
        if self.server is not None:
            self.server.state.rejected[email] = message
        elif self.fake is not None:
            self.fake.permanent_failures[email.split("@")[0]] = message

    def refuse_all(self, fault: Fault | None) -> None:
        """Every call fails like ``fault`` until called with None."""
        if self.server is not None:
            self.server.state.refuse = (lambda: fault) if fault is not None else None
        elif self.fake is not None:
            self.fake.unavailable = fault is not None

    def batch_sizes(self) -> list[int]:
        if self.server is not None:
            return list(self.server.state.batch_sizes)
        return [len(call) for call in self.fake.calls] if self.fake is not None else []


@contextmanager
def harness(name: str, engine: Engine, tmp_path: Path) -> Iterator[Harness]:
    if name == "local":
        with Session(engine) as session:

            def read_local(key: str) -> dict[str, Any] | None:
                row = session.get(CrmLead, key, populate_existing=True)
                return None if row is None else {"email": row.email, "version": row.version, "status": row.status}

            def local_props(key: str) -> dict[str, Any]:
                row = session.get(CrmLead, key, populate_existing=True)
                return {} if row is None else row.model_dump()

            yield Harness(LocalCrmAdapter(session), read_local, props=local_props)
        return
    if name == "fake":
        fake = FakeCrmAdapter()

        def read_fake(key: str) -> dict[str, Any] | None:
            p = fake.contacts.get(key)
            return (
                None
                if p is None
                else {"email": p["email"], "version": p["peerscore_version"], "status": p["lead_status"]}
            )

        yield Harness(fake, read_fake, fake=fake, props=lambda key: fake.contacts.get(key, {}))
        return
    if name == "hubspot":
        with hubspot_server() as server:
            yield Harness(
                hubspot_adapter(server.url),
                _reader(server, "peerscore_person_key", "email", "peerscore_version", "peerscore_status"),
                100,
                server,
                sees_retry_after=True,
                props=_props(server, "peerscore_person_key"),
            )
        return
    if name in ("salesforce", "salesforce_contact"):
        ca = trustme.CA()
        sobject, external_id = ("Contact", CONTACT_EXTERNAL_ID) if name == "salesforce_contact" else ("Lead", None)
        with salesforce_server(ca) as server:
            adapter = salesforce_adapter(server.url, ca, tmp_path, sobject=sobject, external_id_field=external_id)
            yield Harness(
                adapter,
                _reader(server, adapter.external_id_field, "Email", "Peerscore_Version__c", "Peerscore_Status__c"),
                200,
                server,
                props=_props(server, adapter.external_id_field),
                line_property=SALESFORCE_LINE_PROPERTY,
            )
        return
    with webhook_server() as server, httpx.Client(timeout=TIMEOUT_S) as client:
        adapter = WebhookAdapter(
            client, server.url + "/hook", WEBHOOK_SECRET, DEFAULT_FIELD_MAPPING, attempts=2, backoff_s=0.01
        )

        def read_hook(key: str) -> dict[str, Any] | None:
            body = server.state.records.get(key)
            if body is None:
                return None
            lead = body["lead"]
            return {"email": lead["email"], "version": lead["peerscore_version"], "status": lead["lead_status"]}

        def hook_props(key: str) -> dict[str, Any]:
            body = server.state.records.get(key)
            return {} if body is None else dict(body["lead"])

        yield Harness(adapter, read_hook, None, server, sees_retry_after=True, has_objects=False, props=hook_props)


def hubspot_adapter(url: str, calls: int = 1000, period_s: float = 1.0) -> HubSpotAdapter:
    client = make_hubspot_client(HUBSPOT_TOKEN, url)
    return HubSpotAdapter(client, HUBSPOT_FIELD_MAPPING, SlidingWindowLimiter(calls, period_s), TIMEOUT_S)


def salesforce_adapter(
    url: str,
    ca: trustme.CA,
    tmp_path: Path,
    session_id: str = SALESFORCE_SESSION,
    *,
    sobject: str = "Lead",
    external_id_field: str | None = None,
    mapping: dict[str, str] | None = None,
) -> SalesforceAdapter:
    """The documented route around simple-salesforce's hard-coded https: a Session that trusts the test CA."""
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    session = requests.Session()
    session.verify = str(ca_path)
    client = make_salesforce_client(url, session_id, "59.0", session)
    return SalesforceAdapter(
        client,
        salesforce_default_mapping(sobject) if mapping is None else mapping,
        sobject=sobject,
        external_id_field=external_id_field or "Peerscore_Person_Key__c",
        timeout_s=TIMEOUT_S,
    )


def _reader(
    server: FakeServer, key_field: str, email: str, version: str, status: str
) -> Callable[[str], dict[str, Any] | None]:
    def read(key: str) -> dict[str, Any] | None:
        for record in server.state.records.values():
            if record.get(key_field) == key:
                return {"email": record[email], "version": int(record[version]), "status": record[status]}
        return None

    return read


def _props(server: FakeServer, key_field: str) -> Callable[[str], dict[str, Any]]:
    def props(key: str) -> dict[str, Any]:
        return next((dict(r) for r in server.state.records.values() if r.get(key_field) == key), {})

    return props
