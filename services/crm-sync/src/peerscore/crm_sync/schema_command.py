"""What ``peerscore crm setup`` and ``peerscore crm check`` run: the configured CRM's schema against the mapping.

Kept out of the shared CLI module (like ``replay_command``) so the CLI imports the CRM SDKs only when needed.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import requests

from peerscore.crm_sync.adapters.crm_schema import CrmSchema, HubSpotSchema, SalesforceSchema, SchemaPermissionDenied
from peerscore.crm_sync.adapters.factory import CrmClients
from peerscore.crm_sync.adapters.hubspot import make_hubspot_client
from peerscore.crm_sync.adapters.salesforce import make_salesforce_client
from peerscore.crm_sync.domain.schema import FieldSpec, missing, salesforce_package
from peerscore.crm_sync.settings import CrmSyncSettings


@dataclass
class SchemaReport:
    """``missing``: fields the CRM lacks after the command; ``created``: what setup added; ``package``: where a
    Salesforce deploy package was written when the token could not create fields."""

    crm: str
    missing: list[FieldSpec] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    package: Path | None = None
    note: str | None = None


def build_schema(settings: CrmSyncSettings, clients: CrmClients) -> CrmSchema | None:
    """The schema port of the configured CRM; ``None`` for the local CRM (migrations own it) and the webhook."""
    if settings.adapter == "hubspot":
        hs = clients.hubspot
        client = make_hubspot_client(hs.access_token.get_secret_value(), hs.host)
        return HubSpotSchema(client, settings.field_mapping_for("Lead"), hs.timeout_s)
    if settings.adapter == "salesforce":
        sf = clients.salesforce
        session = requests.Session()
        if sf.ca_bundle:
            session.verify = sf.ca_bundle
        client = make_salesforce_client(sf.instance_url, sf.session_id.get_secret_value(), sf.api_version, session)
        mapping = settings.field_mapping_for(sf.sobject)
        return SalesforceSchema(client, mapping, sf.sobject, sf.external_id_field, sf.timeout_s)
    return None


def check(schema: CrmSchema) -> SchemaReport:
    return SchemaReport(schema.crm, missing(schema.required(), schema.existing()))


def setup(schema: CrmSchema, package_dir: Path, api_version: str = "59.0") -> SchemaReport:
    """Create every missing Peerscore field (idempotent); standard fields that are missing are only reported.

    When the token may not change the schema, Salesforce gets a deployable package (folder and zip) of the fields
    still missing; HubSpot reports the scope the token needs.
    """
    report = SchemaReport(schema.crm)
    todo = missing(schema.required(), schema.existing())
    pending = [spec for spec in todo if spec.custom]
    for i, spec in enumerate(pending):
        try:
            if schema.create(spec) == "created":
                report.created.append(spec.name)
        except SchemaPermissionDenied as exc:
            report.note = str(exc)
            if schema.crm == "salesforce":
                report.package = write_package(pending[i:], package_dir, api_version)
            break
    report.missing = missing(schema.required(), schema.existing())
    return report


def write_package(specs: list[FieldSpec], package_dir: Path, api_version: str) -> Path:
    """``package_dir`` holding ``package.xml`` and ``objects/*.object``, and ``<package_dir>.zip`` next to it."""
    files = salesforce_package(specs, api_version)
    for name, text in files.items():
        path = package_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    archive = package_dir.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in sorted(files.items()):
            zf.writestr(f"{package_dir.name}/{name}", text)
    return archive


def run(command: str, package_dir: Path) -> SchemaReport:
    """Settings from the environment (``CRM_ADAPTER``, ``HUBSPOT_*``, ``SALESFORCE_*``), then check or setup."""
    clients = CrmClients()
    settings = CrmSyncSettings()
    schema = build_schema(settings, clients)
    if schema is None:
        return SchemaReport(settings.adapter, note=f"nothing to {command}: the {settings.adapter} CRM has no schema")
    if command == "setup":
        return setup(schema, package_dir, clients.salesforce.api_version)
    return check(schema)
