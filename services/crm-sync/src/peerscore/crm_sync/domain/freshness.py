"""When a handed-off lead's CRM record is worth updating, and when the update is due: pure decisions.

Scoring publishes an ``updated`` transition every time a handed-off lead's score changes, which at a busy site is
many times a minute per lead. A salesperson notices only some of those changes (a new grade or level, a new top
reason, the score or the probability moving by a real amount), and a CRM's API budget is small (HubSpot: 190
requests per 10 s for the whole portal). So crm-sync keeps the newest *pending* version per lead and sends it no
sooner than ``coalesce_s`` after the lead's last send: a lead costs at most one upsert per ``coalesce_s`` however
fast its score moves, and the CRM still shows the newest version within about ``coalesce_s``.

Qualification changes (``qualified``/``recycled``) are never held back: they are the handoff itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from peerscore.events import LeadScore, LeadTransition

CrmLeadPolicy = Literal["mql", "known"]
"""Which leads crm-sync creates in the CRM: only handed-off leads (MQLs, the default) or every known lead with an
email (``updated`` transitions of leads never sent create their record)."""

LeadStatus = Literal["MQL", "Recycled", "Open", "Opted out"]
"""Sales teams know "MQL" and "Recycled", not our transition kinds; "Open" is a known lead never qualified;
"Opted out" a handed-off person who withdrew consent (every score withheld)."""


@dataclass(frozen=True)
class UpdatePolicy:
    """What makes an update worth a CRM call, and how long updates of one lead are coalesced."""

    coalesce_s: float = 60.0
    min_score_delta: float = 10.0
    min_probability_delta: float = 0.05
    leads: CrmLeadPolicy = "mql"


@dataclass(frozen=True)
class SentSnapshot:
    """What the CRM was last sent for a lead (kept in the sync ledger), compared with each new version."""

    version: int
    status: str
    """The ledger's ``ok`` / ``failed`` / ``dlq``: anything but ``ok`` means the CRM may not have the last version."""
    sent_at: datetime
    score: float | None = None
    grade: str | None = None
    level: int | None = None
    top_reason: str | None = None
    probability: float | None = None
    lead_status: str | None = None

    @classmethod
    def of(cls, score: LeadScore, status: str, lead_status: str, sent_at: datetime) -> SentSnapshot:
        return cls(
            version=score.version,
            status=status,
            sent_at=sent_at,
            score=score.total,
            grade=score.grade,
            level=score.level,
            top_reason=top_reason(score),
            probability=score.conversion_probability,
            lead_status=lead_status,
        )


@dataclass(frozen=True)
class Pending:
    """The newest version waiting to be sent for one lead, and when it may be."""

    transition: LeadTransition
    due_at: datetime

    @property
    def version(self) -> int:
        return self.transition.score.version


def top_reason(score: LeadScore) -> str | None:
    return score.reasons[0] if score.reasons else None


def is_noticeable(sent: SentSnapshot | None, score: LeadScore, policy: UpdatePolicy) -> bool:
    """Would a salesperson looking at the CRM record notice the difference between what was sent and ``score``?"""
    if sent is None or sent.status != "ok" or sent.score is None:
        return True  # the CRM may hold nothing, or an older version than the ledger's: any newer one is worth it
    if (score.grade, score.level, top_reason(score)) != (sent.grade, sent.level, sent.top_reason):
        return True
    if _moved(score.total, sent.score, policy.min_score_delta):
        return True
    old, new = sent.probability, score.conversion_probability
    if (old is None) != (new is None):
        return True
    return old is not None and new is not None and _moved(new, old, policy.min_probability_delta)


def _moved(new: float, old: float, by: float) -> bool:
    """``|new - old| >= by``, with a tolerance so 0.35 - 0.30 counts as the 0.05 it is written as."""
    return abs(new - old) >= by - 1e-9


def merge(pending: LeadTransition | None, incoming: LeadTransition) -> LeadTransition:
    """The one version to send for a lead when ``incoming`` arrives while ``pending`` waits.

    The newest state wins, but an ``updated`` never hides a qualification change still waiting: the merged version
    keeps that kind and when it happened (the CRM's status and qualified date), with the newest score.
    """
    if pending is None or incoming.kind != "updated" or pending.kind == "updated":
        return incoming
    kept = {"kind": pending.kind, "transitioned_at": pending.transitioned_at, "product_line": pending.product_line}
    return incoming.model_copy(update=kept)


def collapse(transitions: Iterable[LeadTransition]) -> list[LeadTransition]:
    """One version per lead (in the order leads first appear): the newest, merged with any handoff before it.

    Scoring publishes a handoff and then an update of the same lead in one batch (qualified at v2, scored again
    at v3): the CRM must get v3 *as the handoff*, not as a bare update of a lead it has never seen.
    """
    kept: dict[str, LeadTransition] = {}
    for t in transitions:
        current = kept.get(t.person_key)
        if current is None:
            kept[t.person_key] = t
        elif t.score.version > current.score.version:
            kept[t.person_key] = merge(current, t)
        elif t.score.version == current.score.version and t.kind != "updated" and _says_more(t, current):
            kept[t.person_key] = t  # the same version told twice: the handoff says more
    return list(kept.values())


def _says_more(t: LeadTransition, current: LeadTransition) -> bool:
    """Of two transitions of one version: a handoff over an update, the lead's own over one product line's."""
    return current.kind == "updated" or (current.product_line is not None and t.product_line is None)


def plan_intake(
    incoming: LeadTransition,
    sent: SentSnapshot | None,
    pending: Pending | None,
    policy: UpdatePolicy,
    now: datetime,
) -> Pending | None:
    """The pending version to store for this lead, or ``None`` when ``incoming`` changes nothing to send.

    ``incoming`` must be newer than the ledger's version (the caller checks it, as for every sync).
    """
    if pending is not None and incoming.score.version <= pending.version:
        return None  # redelivered or reordered: the pending one is newer
    merged = merge(pending.transition if pending is not None else None, incoming)
    if merged.kind != "updated":
        return Pending(merged, now)  # the handoff itself: at once
    if sent is None and policy.leads == "mql":
        return None  # never handed off: not this CRM's lead (yet)
    if pending is None and not is_noticeable(sent, merged.score, policy):
        return None
    due = update_due_at(sent, now, policy)
    return Pending(merged, min(due, pending.due_at) if pending is not None else due)


def update_due_at(sent: SentSnapshot | None, now: datetime, policy: UpdatePolicy) -> datetime:
    """An update goes out no sooner than ``coalesce_s`` after the lead's last send (a new record at once)."""
    if sent is None:
        return now
    return max(now, sent.sent_at + timedelta(seconds=policy.coalesce_s))


def lead_status(kind: str, qualified: bool, previous: str | None) -> LeadStatus:
    """The status the CRM shows: transitions say it; an update keeps MQL while qualified, else what it was."""
    if kind == "qualified":
        return "MQL"
    if kind == "recycled":
        return "Recycled"
    if qualified:
        return "MQL"
    return "Recycled" if previous in ("MQL", "Recycled") else "Open"
