"""Person keys: stable, opaque identifiers that are safe to use as Kafka keys and in logs.

A key is a keyed hash (HMAC-SHA256 with a deployment secret) of the strongest identifier available, so the same
person always lands on the same partition and no email can be read back from a key without the secret.
"""

from __future__ import annotations

import hashlib
import hmac

from peerscore.events import PersonIdentifiers

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
