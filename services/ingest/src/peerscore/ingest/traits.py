"""Who the person is and which company they belong to, read from Segment traits.

Lenient on purpose: traits are free-form in every SDK, so a trait of the wrong shape is skipped rather than
failing the whole batch (SDKs drop batches answered with 400). Identifiers and timestamps are strict instead
(see :mod:`peerscore.ingest.normalise`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from peerscore.events import AccountHints, PersonTraits
from peerscore.identity import account_key, email_domain

# fmt: off
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "hotmail.com", "outlook.com", "live.com",
    "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "pm.me",
    "gmx.com", "gmx.net", "gmx.de", "web.de", "mail.com", "mail.ru", "yandex.ru", "yandex.com",
    "zoho.com", "fastmail.com", "hey.com", "qq.com", "163.com", "126.com", "tutanota.com",
})
# fmt: on
"""Mailbox providers: their domain says nothing about the person's employer."""

_FREE_MAIL_BRANDS = frozenset({"gmx", "yahoo", "hotmail", "outlook", "live", "yandex"})
"""Brands with many country domains (gmx.at, yahoo.co.uk, hotmail.fr…), matched as ``brand.<suffix>``."""


def is_free_mail(domain: str) -> bool:
    domain = account_key(domain)
    if domain in FREE_MAIL_DOMAINS:
        return True
    brand, _, suffix = domain.partition(".")
    # A short public-suffix-looking tail ("de", "co.uk") rather than a company's own name ("live.acme.com").
    return brand in _FREE_MAIL_BRANDS and 0 < len(suffix) <= 6 and all(len(p) <= 3 for p in suffix.split("."))


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
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def person_traits(traits: Mapping[str, Any]) -> PersonTraits:
    address = traits.get("address")
    address_country = address.get("country") if isinstance(address, Mapping) else None
    return PersonTraits(
        first_name=text(traits.get("first_name")) or text(traits.get("firstName")),
        last_name=text(traits.get("last_name")) or text(traits.get("lastName")),
        title=text(traits.get("title")),
        seniority=text(traits.get("seniority")),
        function=text(traits.get("function")) or text(traits.get("department")),
        country=text(traits.get("country")) or text(address_country),
    )


def person_account(traits: Mapping[str, Any], email: str | None) -> AccountHints:
    """Company from ``traits.company`` (object or name), ``traits.website``, else a work email's domain."""
    company = traits.get("company")
    name: str | None = None
    domain: str | None = None
    employees: int | None = None
    industry: str | None = None
    if isinstance(company, Mapping):
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
    return AccountHints(domain=domain, name=name, employees=employees, industry=industry)


def group_account(traits: Mapping[str, Any]) -> AccountHints:
    """A ``group`` call describes the account itself: its traits are company traits."""
    employees = count(traits.get("employees"))
    if employees is None:
        employees = count(traits.get("employee_count"))
    return AccountHints(
        domain=domain_from(traits.get("domain")) or domain_from(traits.get("website")),
        name=text(traits.get("name")),
        employees=employees,
        industry=text(traits.get("industry")),
    )
