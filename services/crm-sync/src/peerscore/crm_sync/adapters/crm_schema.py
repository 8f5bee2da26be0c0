"""Read and extend a CRM's schema for ``peerscore crm setup`` / ``check``: HubSpot's properties API through the
official SDK, Salesforce's describe and Tooling API through simple-salesforce.

Both answer "already exists" for a field that is there (HubSpot 409, Salesforce ``DUPLICATE_DEVELOPER_NAME``):
setup is idempotent. A token that may not change the schema raises :class:`SchemaPermissionDenied`, so the
command can fall back (Salesforce: a deployable package) instead of failing half-way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from hubspot import HubSpot  # type: ignore[import-untyped]
from hubspot.crm import properties  # type: ignore[import-untyped]
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from peerscore.crm_sync.domain.schema import (
    FieldSpec,
    hubspot_fields,
    hubspot_property,
    salesforce_fields,
    salesforce_metadata,
)

Created = Literal["created", "exists"]
_SF_DENIED = frozenset({"INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY", "API_DISABLED_FOR_ORG"})


class SchemaPermissionDenied(Exception):
    """The token may read but not change the CRM's schema."""


class CrmSchema(Protocol):
    crm: str

    def required(self) -> list[FieldSpec]: ...

    def existing(self) -> set[tuple[str, str]]:
        """(object, field name) of every field the live CRM has on the objects Peerscore writes."""
        ...

    def create(self, spec: FieldSpec) -> Created: ...


class HubSpotSchema:
    crm = "hubspot"

    def __init__(self, client: HubSpot, mapping: Mapping[str, str], timeout_s: float = 10.0) -> None:
        self._api = client.crm.properties.core_api
        self._mapping = dict(mapping)
        self._timeout = timeout_s

    def required(self) -> list[FieldSpec]:
        return hubspot_fields(self._mapping)

    def existing(self) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for object_type in sorted({spec.object_name for spec in self.required()}):
            response = self._api.get_all_with_http_info(
                object_type, _request_timeout=self._timeout, _preload_content=False
            )
            found |= {(object_type, str(p["name"])) for p in json.loads(response.data).get("results", [])}
        return found

    def create(self, spec: FieldSpec) -> Created:
        try:
            group = "companyinformation" if spec.object_name == "companies" else "contactinformation"
            self._api.create_with_http_info(
                spec.object_name, hubspot_property(spec, group), _request_timeout=self._timeout, _preload_content=False
            )
        except properties.ApiException as exc:
            if exc.status == 409:
                return "exists"
            if exc.status == 403:
                message = "HubSpot 403: the token needs the crm.schema.contacts.write scope"
                raise SchemaPermissionDenied(message) from exc
            raise
        return "created"


class SalesforceSchema:
    crm = "salesforce"

    def __init__(
        self, client: Salesforce, mapping: Mapping[str, str], sobject: str, external_id_field: str, timeout_s: float
    ) -> None:
        self._client = client
        self._mapping = dict(mapping)
        self._sobject = sobject
        self._external_id_field = external_id_field
        self._timeout = timeout_s

    def _options(self) -> dict[str, Any]:
        return {"timeout": self._timeout, "verify": self._client.session.verify}

    def required(self) -> list[FieldSpec]:
        return salesforce_fields(self._mapping, self._sobject, self._external_id_field)

    def existing(self) -> set[tuple[str, str]]:
        answer = self._client.restful(f"sobjects/{self._sobject}/describe", **self._options())
        return {(self._sobject, str(f["name"])) for f in (answer or {}).get("fields", [])}

    def create(self, spec: FieldSpec) -> Created:
        body = {"FullName": f"{spec.object_name}.{spec.name}", "Metadata": salesforce_metadata(spec)}
        try:
            self._client.restful("tooling/sobjects/CustomField", method="POST", json=body, **self._options())
        except SalesforceError as exc:
            content: list[Any] = exc.content if isinstance(exc.content, list) else [exc.content]
            codes = {str(e.get("errorCode")) for e in content if isinstance(e, dict)}
            if "DUPLICATE_DEVELOPER_NAME" in codes:
                return "exists"
            if exc.status == 403 or codes & _SF_DENIED:
                raise SchemaPermissionDenied(f"Salesforce {exc.status}: {sorted(codes)}") from exc
            raise
        return "created"
