"""Who the person is and which company they belong to, read from Segment traits.

Lenient on purpose: traits are free-form in every SDK, so a trait of the wrong shape is skipped rather than
failing the whole batch (SDKs drop batches answered with 400). Identifiers and timestamps are strict instead
(see :mod:`peerscore.ingest.normalise`). Free text longer than its column is cut here to the limits the event
contract checks (:mod:`peerscore.limits`, ending in "…"); a company domain is a key, so one too long is refused
by the contract (400 naming ``account.domain``).

The ``*_fields`` functions return plain dicts so the HTTP hot path validates each event with one pydantic call
(nested models included) instead of one per nested model; the model-returning functions wrap them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from peerscore.events import ACCOUNT_TEXT, TRAIT_TEXT, AccountHints, PersonTraits
from peerscore.identity import account_key, email_domain
from peerscore.identity import is_free_mail as shared_is_free_mail
from peerscore.limits import clip_fields
from peerscore.secrets_compare import ascii_digits


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)`` with a fast path for dicts (all parsed JSON objects): the ABC check is a
    measurable share of normalising a 500-event batch."""
    return type(value) is dict or (value is not None and isinstance(value, Mapping))


def is_free_mail(domain: str) -> bool:
    """Whether a mailbox domain says nothing about the employer: the one shared list (``peerscore.identity``)."""
    return shared_is_free_mail(account_key(domain))


def text(value: Any) -> str | None:
    """A non-empty stripped string, or None for anything else (numbers are not names)."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def domain_from(value: Any) -> str | None:
    """``"https://www.Acme.com/about"`` or ``"acme.com"`` → ``"acme.com"``; None when no host can be read."""
    raw = text(value)
    if raw is None:
        return None
    candidate = raw.lower()
    if "://" not in candidate:
        candidate = "//" + candidate
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    if not host or "." not in host:
        return None
    return account_key(host)


def count(value: Any) -> int | None:
    """Employee counts arrive as ints or numeric strings; ranges ("51-200") and bools are not counts."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and ascii_digits(value.strip()):
        return int(value.strip())
    return None


def person_trait_fields(traits: Mapping[str, Any]) -> dict[str, Any]:
    if not traits:  # most calls carry no traits at all
        return dict.fromkeys(PersonTraits.model_fields)
    address = traits.get("address")
    address_country = address.get("country") if is_mapping(address) else None
    fields = {
        "first_name": text(traits.get("first_name")) or text(traits.get("firstName")),
        "last_name": text(traits.get("last_name")) or text(traits.get("lastName")),
        "title": text(traits.get("title")),
        "seniority": text(traits.get("seniority")),
        "function": text(traits.get("function")) or text(traits.get("department")),
        "country": text(traits.get("country")) or text(address_country),
    }
    return clip_fields(fields, TRAIT_TEXT)


def person_traits(traits: Mapping[str, Any]) -> PersonTraits:
    return PersonTraits(**person_trait_fields(traits))


def person_account(traits: Mapping[str, Any], email: str | None) -> AccountHints:
    return AccountHints(**person_account_fields(traits, email))


def person_account_fields(traits: Mapping[str, Any], email: str | None) -> dict[str, Any]:
    """Company from ``traits.company`` (object or name), ``traits.website``, else a work email's domain."""
    if not traits and email is None:
        return {}
    company = traits.get("company")
    name: str | None = None
    domain: str | None = None
    employees: int | None = None
    industry: str | None = None
    if is_mapping(company):
        name = text(company.get("name"))
        domain = domain_from(company.get("domain")) or domain_from(company.get("website"))
        employees = count(company.get("employee_count"))
        if employees is None:
            employees = count(company.get("employees"))
        industry = text(company.get("industry"))
    else:
        name = text(company)
    domain = domain or domain_from(traits.get("website"))
    if domain is None and email is not None:
        mail_domain = email_domain(email)
        if mail_domain and "." in mail_domain and not is_free_mail(mail_domain):
            domain = account_key(mail_domain)
    return clip_fields({"domain": domain, "name": name, "employees": employees, "industry": industry}, ACCOUNT_TEXT)


def group_account(traits: Mapping[str, Any]) -> AccountHints:
    return AccountHints(**group_account_fields(traits))


def group_account_fields(traits: Mapping[str, Any]) -> dict[str, Any]:
    """A ``group`` call describes the account itself: its traits are company traits."""
    employees = count(traits.get("employees"))
    if employees is None:
        employees = count(traits.get("employee_count"))
    fields = {
        "domain": domain_from(traits.get("domain")) or domain_from(traits.get("website")),
        "name": text(traits.get("name")),
        "employees": employees,
        "industry": text(traits.get("industry")),
    }
    return clip_fields(fields, ACCOUNT_TEXT)
