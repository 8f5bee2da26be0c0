"""Consent: which statements in an event mean "stop scoring me" or "you may score me again".

Sources say it in many ways; ingest carries what they said in ``EngagementEvent.consent`` (category → allowed)
and this module is the one reading of it, used by scoring (not scored while opted out) and, through the
withheld scores scoring publishes, by crm-sync (not synced).

Accepted forms (keys are compared case-insensitively, with ``-``, spaces and camelCase folded to ``_``):

* ``opted_out`` (the canonical key ingest sets, e.g. from LinkedIn ``consentResponses``: True when a consent box
  was declined), ``opt_out``, ``unsubscribed``, ``do_not_track``, ``do_not_contact``, ``do_not_email``:
  ``True`` = opted out, ``False`` = opted (back) in.
* ``consent``, ``marketing``, ``marketing_consent``, ``gdpr_consent``, ``lead_scoring``, ``scoring``,
  ``tracking``, ``all`` (Segment consent categories, traits): ``False`` = opted out, ``True`` = opted in.
* Segment ``identify`` traits with the same names and boolean-like values (``true``/``false``, ``yes``/``no``,
  ``1``/``0``), read by :func:`consent_from_traits` so ingest can add them to ``consent``.

An opt-out anywhere in an event wins over an opt-in in the same event (the cautious reading).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

OPTED_OUT = "opted_out"
"""The canonical consent key: ``consent["opted_out"] = True`` means the person opted out."""

OPT_OUT_KEYS = frozenset(
    {"opted_out", "opt_out", "optout", "unsubscribed", "do_not_track", "do_not_contact", "do_not_email"}
)
"""Keys whose ``True`` means the person does not want to be tracked or contacted."""

CONSENT_KEYS = frozenset(
    {"consent", "marketing", "marketing_consent", "gdpr_consent", "lead_scoring", "scoring", "tracking", "all"}
)
"""Keys whose ``False`` means the person withdrew consent (and ``True`` that they gave it)."""

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})


def normalise_key(key: str) -> str:
    """``"doNotTrack"``, ``"Do-Not-Track"`` and ``"do not track"`` → ``"do_not_track"``."""
    return _SEPARATORS.sub("_", _CAMEL.sub("_", key.strip()).lower()).strip("_")


def as_bool(value: Any) -> bool | None:
    """A boolean from a trait value; None for anything that is not clearly yes or no."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def opted_out(consent: Mapping[str, bool]) -> bool | None:
    """True when the event says the person opted out, False when it says they opted (back) in, else None."""
    said_in = False
    for raw_key, allowed in consent.items():
        key = normalise_key(raw_key)
        if key in OPT_OUT_KEYS:
            if allowed:
                return True
            said_in = True
        elif key in CONSENT_KEYS:
            if not allowed:
                return True
            said_in = True
    return False if said_in else None


def consent_from_traits(traits: Mapping[str, Any]) -> dict[str, bool]:
    """The consent statements in free-form traits (``unsubscribed: true``, ``consent: "no"``…), for ingest to
    merge into ``EngagementEvent.consent``; unknown keys and non-boolean values are ignored."""
    found: dict[str, bool] = {}
    for raw_key, value in traits.items():
        if not isinstance(raw_key, str):
            continue
        key = normalise_key(raw_key)
        if key in OPT_OUT_KEYS or key in CONSENT_KEYS:
            flag = as_bool(value)
            if flag is not None:
                found[key] = flag
    return found
