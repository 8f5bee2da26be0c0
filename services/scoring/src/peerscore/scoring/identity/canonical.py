"""Canonical person keys: where a person's chain of identity links ends.

One buyer shows up under several keys (an anonymous id, a LinkedIn lead's email, the website's user id), and the
worker links each weaker key to the stronger one it was merged into (``identity_link``). Anything stored under a
key that was merged away later — above all CRM outcomes, which CRMs name by email while a Segment site keys events
by user id — must be read under the key the person ends at. Resolving on read (rather than rewriting rows) keeps
the stored key as the audit trail, and attaches an outcome that arrived before its identity was known as soon as
the link appears.

The pure part (:func:`canonical_key`, :func:`canonical_keys`, :func:`settle_links`) needs no database;
:func:`load_links` is the one query that feeds it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from sqlalchemy import Connection
from sqlmodel import Session, select

from peerscore.scoring.identity.merge import MergeInstruction, instruction
from peerscore.scoring.identity.models import IdentityLinkRow


def canonical_key(key: str, links: Mapping[str, str]) -> str:
    """The key ``key`` ends at when following ``links`` (merged key → key it was merged into).

    Links always go from a weaker to a stronger key, so chains end; should stored links ever loop anyway, the
    greatest key of the loop is chosen, so every key that leads into that loop still agrees on one person.
    """
    path = [key]
    position = {key: 0}
    while (onward := links.get(path[-1])) is not None:
        if onward in position:
            return max(path[position[onward] :])
        position[onward] = len(path)
        path.append(onward)
    return path[-1]


def canonical_keys(keys: Iterable[str], links: Mapping[str, str]) -> dict[str, str]:
    """``key → canonical key`` for many keys, each chain walked once (results along a walk are reused)."""
    resolved: dict[str, str] = {}
    for key in keys:
        if key in resolved:
            continue
        path: list[str] = []
        current: str | None = key
        while current is not None and current not in resolved and current not in path:
            path.append(current)
            current = links.get(current)
        if current is None:
            end = path[-1]  # the chain ended
        elif current in resolved:
            end = resolved[current]  # joined a chain walked before
        else:
            end = canonical_key(key, links)  # a loop: let the single-key walk pick its member
        for step in path:
            resolved[step] = end
    return resolved


def load_links(db: Session | Connection) -> dict[str, str]:
    """Every stored link as ``merged key → merged_into`` (one query: two short columns per merged key); from a
    session (outcome reads) or a connection (history replays)."""
    rows = db.execute(select(IdentityLinkRow.person_key, IdentityLinkRow.merged_into)).all()
    return {merged: into for merged, into in rows}


def settle_links(merges: Iterable[MergeInstruction]) -> dict[str, MergeInstruction]:
    """The links the worker ends up writing for these merge instructions, applied in order.

    Mirrors the worker's rule (:meth:`IdentityBatch._merge`): the first merge of a key links it; a later merge
    of the same key into another target merges the two targets instead (the weaker into the stronger). Used
    where history is written without the worker (``peerscore generate-history``) so its links follow that rule.
    """
    links: dict[str, MergeInstruction] = {}
    done: set[str] = set()
    queue = deque(merges)
    while queue:
        merge = queue.popleft()
        if merge.merge_id in done:
            continue
        done.add(merge.merge_id)
        current = links.get(merge.source_key)
        if current is None:
            links[merge.source_key] = merge
        elif current.target_key != merge.target_key:
            queue.append(instruction((current.target_rank, current.target_key), (merge.target_rank, merge.target_key)))
    return links
