"""Person keys: stable, opaque identifiers that are safe to use as Kafka keys and in logs.

A key is a keyed hash (HMAC-SHA256 with a deployment secret) of the strongest identifier available, so the same
person always lands on the same partition and no email can be read back from a key without the secret.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from peerscore.events import PersonIdentifiers
from peerscore.limits import GROUP_PREFIX

_KEY_HEX_CHARS = 32


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_domain(email: str) -> str | None:
    _, at, domain = normalise_email(email).rpartition("@")
    if not at or not domain:
        return None
    return domain


def _digest(secret: bytes, material: str) -> str:
    return hmac.new(secret, material.encode(), hashlib.sha256).hexdigest()[:_KEY_HEX_CHARS]


def person_key(ids: PersonIdentifiers, secret: bytes) -> str | None:
    """The key of the strongest identifier present: user id > email > LinkedIn member > anonymous id.

    The user id comes first because Segment-style clients send it on every call while the email usually
    travels only on ``identify``; merging keys across sources is identity resolution's job, not this hash's.
    Returns None when the event identifies nobody; callers reject such input.
    """
    if ids.user_id:
        return "p_" + _digest(secret, "uid:" + ids.user_id)
    if ids.email:
        return "p_" + _digest(secret, "email:" + normalise_email(ids.email))
    if ids.linkedin_member_urn:
        return "p_" + _digest(secret, "li:" + ids.linkedin_member_urn)
    if ids.anonymous_id:
        return "p_" + _digest(secret, "anon:" + ids.anonymous_id)
    return None


def account_key(domain: str) -> str:
    """Accounts are keyed by their normalised web domain: company data, not personal data."""
    return domain.strip().lower().removeprefix("www.")


# -- identity resolution: which keys belong to one person ---------------------------------------------------

IDENTIFIER_RANKS = {"user_id": 3, "email": 2, "linkedin_member_urn": 1, "anonymous_id": 0}
"""How strong each identifier is; a person's canonical key is the key of their strongest one. Merges always go
from a weaker to a stronger ``(rank, key)``, a total order, so merge chains end and never form cycles."""


def identifier_keys(ids: PersonIdentifiers, secret: bytes) -> list[tuple[int, str]]:
    """``(rank, key)`` of every identifier present, strongest first (the first is :func:`person_key`).

    An event carrying several identifiers (a Segment ``identify`` with ``anonymousId`` and ``userId``, a LinkedIn
    lead with an email and a member URN) says that all these keys are one person.
    """
    found: list[tuple[int, str]] = []
    if ids.user_id:
        found.append((IDENTIFIER_RANKS["user_id"], "p_" + _digest(secret, "uid:" + ids.user_id)))
    if ids.email:
        found.append((IDENTIFIER_RANKS["email"], "p_" + _digest(secret, "email:" + normalise_email(ids.email))))
    if ids.linkedin_member_urn:
        found.append((IDENTIFIER_RANKS["linkedin_member_urn"], "p_" + _digest(secret, "li:" + ids.linkedin_member_urn)))
    if ids.anonymous_id:
        found.append((IDENTIFIER_RANKS["anonymous_id"], "p_" + _digest(secret, "anon:" + ids.anonymous_id)))
    return found


def email_person_key(email: str, secret: bytes) -> str:
    """The key of a person known only by their email (erasure requests, CRM outcomes)."""
    return "p_" + _digest(secret, "email:" + normalise_email(email))


def outcome_person_key(email: str | None, secret: bytes) -> str | None:
    """The key a CRM outcome is stored under: its email's key (None without an email).

    CRMs name a lead by email (or their own object id), never by Peerscore's key. Scoring reads outcomes under
    the canonical person the email key was merged into, so this only has to be the same rule everywhere an
    outcome is keyed (crm-sync's webhooks, ``generate-history``).
    """
    if email is None or not normalise_email(email):
        return None
    return email_person_key(email, secret)


# -- accounts ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreeMailDomains:
    """Mailbox providers (``data/free_mail_domains.txt``): their domains never make an account."""

    domains: frozenset[str]
    brands: frozenset[str]

    def __contains__(self, domain: object) -> bool:
        if not isinstance(domain, str):
            return False
        domain = account_key(domain)
        if domain in self.domains:
            return True
        brand, _, suffix = domain.partition(".")
        # A short public-suffix-looking tail ("de", "co.uk") rather than a company's own name ("live.acme.com").
        return brand in self.brands and 0 < len(suffix) <= 6 and all(len(p) <= 3 for p in suffix.split("."))


def parse_free_mail_domains(text: str) -> FreeMailDomains:
    domains: set[str] = set()
    brands: set[str] = set()
    target = domains
    for raw in text.splitlines():
        line = raw.strip().lower()
        if not line or line.startswith("#"):
            continue
        if line == "[brands]":
            target = brands
            continue
        target.add(line)
    return FreeMailDomains(frozenset(domains), frozenset(brands))


@cache
def free_mail_domains() -> FreeMailDomains:
    """The maintained list shipped with Peerscore, read once on first use (never at import)."""
    # ``peerscore`` is a namespace package spread over the workspace: locate the file next to this module.
    return parse_free_mail_domains((Path(__file__).parent / "data" / "free_mail_domains.txt").read_text())


def is_free_mail(domain: str) -> bool:
    return domain in free_mail_domains()


LINKEDIN_ORG_PREFIX = "urn:li:organization:"


def account_key_from(
    *, domain: str | None, linkedin_org_urn: str | None = None, group_id: str | None = None, email: str | None = None
) -> str | None:
    """The account an event belongs to, from the strongest company hint it carries.

    A web domain (``group`` traits, ``company.domain``, a LinkedIn company page) is the key everyone shares, so it
    wins; then the domain of a work email; then the LinkedIn organisation URN (``urn:li:organization:123``)
    and finally a Segment ``groupId`` (``group:<id>``) when nothing better names the company. Free-mail domains
    (gmail.com…) never make an account: they say nothing about the employer.
    """
    if domain is not None:
        key = account_key(domain)
        if key and not is_free_mail(key):
            return key
    mail_domain = email_domain(email) if email else None
    if mail_domain is not None:
        key = account_key(mail_domain)
        if "." in key and not is_free_mail(key):
            return key
    if linkedin_org_urn and linkedin_org_urn.strip():
        return linkedin_org_urn.strip()
    if group_id and group_id.strip():
        return GROUP_PREFIX + group_id.strip()
    return None
