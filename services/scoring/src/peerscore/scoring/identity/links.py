"""Where a merged key's chain of identity links ends: the canonical person a replay groups its history under.

Pure apart from :func:`load_links`. Links always go from the weaker to the stronger ``(rank, key)``, so chains
end; a stored loop (which the worker cannot write) is still resolved deterministically, to its greatest key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, select

from peerscore.scoring.identity.models import IdentityLinkRow

_links = IdentityLinkRow.__table__  # type: ignore[attr-defined]


def canonical_keys(keys: Iterable[str], links: Mapping[str, str]) -> dict[str, str]:
    """``key → canonical key`` (a key that was never merged is its own), each chain walked once."""
    resolved: dict[str, str] = {}
    for key in keys:
        path: list[str] = []
        on_path: set[str] = set()
        current: str | None = key
        while current is not None and current not in resolved and current not in on_path:
            path.append(current)
            on_path.add(current)
            current = links.get(current)
        if current is None:
            end = path[-1]
        elif current in resolved:
            end = resolved[current]
        else:  # a loop: its greatest member, whichever key led into it
            end = max(path[path.index(current) :])
        for step in path:
            resolved[step] = end
    return resolved


def load_links(conn: Connection) -> dict[str, str]:
    """Every stored link, ``merged key → key it was merged into`` (two short columns per merged key)."""
    rows = conn.execute(select(_links.c.person_key, _links.c.merged_into)).all()
    return {merged: into for merged, into in rows}
