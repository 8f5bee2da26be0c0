"""The CRM schema Peerscore writes: which properties/fields must exist, which are missing, and how to create them.

Pure: ``peerscore crm setup`` and ``peerscore crm check`` read the live schema through an adapter, then these
functions decide. A field is *Peerscore's* (created by setup) when it carries Peerscore data (scores, grade,
reasons, keys…); the standard contact fields (email, name, company…) and the CRM's native ones must already exist
and are only checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

from peerscore.crm_sync.domain.accounts import ACCOUNT_PROPERTIES
from peerscore.crm_sync.domain.outcomes import HUBSPOT_REASON_PROPERTY

FieldKind = Literal["number", "text", "long_text", "datetime", "key"]

PEERSCORE_KINDS: Mapping[str, FieldKind] = {
    "person_key": "key",
    "score": "number",
    "fit": "number",
    "engagement": "number",
    "intent": "number",
    "probability": "number",
    "model_version": "number",
    "level": "number",
    "version": "number",
    "grade": "text",
    "status": "text",
    "ruleset_version": "text",
    "reasons_text": "long_text",
    "groups_text": "long_text",
    "change": "text",
    "qualified_at": "datetime",
    "transitioned_at": "datetime",
}
"""Peerscore fields (of the field mapping) whose CRM property Peerscore creates, and their kind."""

SALESFORCE_MERGED_INTO = "Peerscore_Merged_Into__c"
SALESFORCE_REJECTION_REASON = "Peerscore_Rejection_Reason__c"


@dataclass(frozen=True)
class FieldSpec:
    """One property/field in one CRM object; ``custom`` ones are Peerscore's to create."""

    object_name: str
    name: str
    label: str
    kind: FieldKind
    custom: bool = True


def _label(name: str) -> str:
    words = name.removesuffix("__c").replace("_", " ").strip()
    return words[:1].upper() + words[1:].lower()


HUBSPOT_BUILT_IN = frozenset(
    {"email", "firstname", "lastname", "jobtitle", "company", "website", "country", "phone", "lifecyclestage"}
)


def required_fields(
    mapping: Mapping[str, str],
    object_name: str,
    is_custom: Callable[[str], bool],
    extra: Iterable[tuple[str, FieldKind]] = (),
) -> list[FieldSpec]:
    """Every property the mapping writes on ``object_name``, plus ``extra`` Peerscore properties (external id,
    merge mark, rejection reason), each once, Peerscore's first; ``is_custom(name)`` says which the CRM lets us
    create (a Peerscore field mapped onto a standard property is only checked)."""
    specs: dict[str, FieldSpec] = {}
    for field, prop in mapping.items():
        kind = PEERSCORE_KINDS.get(field)
        custom = kind is not None and is_custom(prop)
        specs.setdefault(prop, FieldSpec(object_name, prop, _label(prop), kind or "text", custom=custom))
    for prop, kind in extra:
        specs.setdefault(prop, FieldSpec(object_name, prop, _label(prop), kind))
    return sorted(specs.values(), key=lambda s: (not s.custom, s.name))


def hubspot_fields(mapping: Mapping[str, str]) -> list[FieldSpec]:
    """Contact properties (the mapping's, HubSpot's native ones Peerscore writes, the rejection reason) and the
    company properties of the account roll-up."""
    fields = required_fields(
        mapping,
        "contacts",
        lambda name: name not in HUBSPOT_BUILT_IN and not name.startswith("hs_"),
        [(HUBSPOT_REASON_PROPERTY, "text")],
    )
    native = [FieldSpec("contacts", n, n, "text", custom=False) for n in ("lifecyclestage", "hs_lead_status")]
    accounts = [
        FieldSpec("companies", name, _label(name), "number" if kind == "number" else "text")
        for name, kind in ACCOUNT_PROPERTIES.items()
    ]
    return fields + [n for n in native if n.name not in {f.name for f in fields}] + accounts


def salesforce_fields(mapping: Mapping[str, str], sobject: str, external_id_field: str) -> list[FieldSpec]:
    """The mapped object's fields, its external id (unique), the merge mark and the rejection reason."""
    extra: list[tuple[str, FieldKind]] = [(external_id_field, "key"), (SALESFORCE_MERGED_INTO, "text")]
    fields = required_fields(
        mapping, sobject, lambda name: name.endswith("__c"), [*extra, (SALESFORCE_REJECTION_REASON, "text")]
    )
    native = [FieldSpec(sobject, n, n, "text", custom=False) for n in ("Status", "Rating")] if sobject == "Lead" else []
    return fields + [n for n in native if n.name not in {f.name for f in fields}]


def missing(required: Sequence[FieldSpec], existing: Iterable[tuple[str, str]]) -> list[FieldSpec]:
    """The required fields the CRM does not have; ``existing`` is (object, field name) pairs, names compared
    case-insensitively as both CRMs do."""
    have = {(obj, name.lower()) for obj, name in existing}
    return [spec for spec in required if (spec.object_name, spec.name.lower()) not in have]


_HUBSPOT_TYPES: Mapping[FieldKind, tuple[str, str]] = {
    "number": ("number", "number"),
    "text": ("string", "text"),
    "key": ("string", "text"),
    "long_text": ("string", "textarea"),
    "datetime": ("datetime", "date"),
}


def hubspot_property(spec: FieldSpec, group: str = "contactinformation") -> dict[str, object]:
    """The body of ``POST /crm/v3/properties/{objectType}``."""
    kind, field_type = _HUBSPOT_TYPES[spec.kind]
    return {
        "name": spec.name,
        "label": spec.label,
        "type": kind,
        "fieldType": field_type,
        "groupName": group,
        "hasUniqueValue": spec.kind == "key",
        "description": "Written by Peerscore",
    }


def salesforce_metadata(spec: FieldSpec) -> dict[str, object]:
    """A CustomField's metadata (Tooling API ``Metadata`` and the deployable ``.object`` file alike)."""
    base: dict[str, object] = {"label": spec.label[:40], "description": "Written by Peerscore"}
    if spec.kind == "number":
        return base | {"type": "Number", "precision": 18, "scale": 4}
    if spec.kind == "datetime":
        return base | {"type": "DateTime"}
    if spec.kind == "long_text":
        return base | {"type": "LongTextArea", "length": 32768, "visibleLines": 5}
    if spec.kind == "key":
        return base | {"type": "Text", "length": 64, "externalId": True, "unique": True, "caseSensitive": True}
    return base | {"type": "Text", "length": 255}


def salesforce_package(specs: Sequence[FieldSpec], api_version: str) -> dict[str, str]:
    """A Metadata API deploy package (``package.xml`` and ``objects/<Object>.object``) creating ``specs``, for an
    admin to deploy when the token may not use the Tooling API (``sf project deploy start`` or Workbench)."""
    by_object: dict[str, list[FieldSpec]] = {}
    for spec in specs:
        by_object.setdefault(spec.object_name, []).append(spec)
    ns = "http://soap.sforce.com/2006/04/metadata"
    members = "".join(f"<members>{escape(s.object_name)}.{escape(s.name)}</members>" for s in specs)
    files = {
        "package.xml": f'<?xml version="1.0" encoding="UTF-8"?>\n<Package xmlns="{ns}"><types>{members}'
        f"<name>CustomField</name></types><version>{escape(api_version)}</version></Package>\n"
    }
    for object_name, object_specs in by_object.items():
        fields = ""
        for spec in object_specs:
            meta = salesforce_metadata(spec)
            inner = "".join(f"<{k}>{escape(_xml_value(v))}</{k}>" for k, v in meta.items())
            fields += f"<fields><fullName>{escape(spec.name)}</fullName>{inner}</fields>"
        files[f"objects/{object_name}.object"] = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomObject xmlns="{ns}">{fields}</CustomObject>\n'
        )
    return files


def _xml_value(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
