"""The influence report recomputed by brute force, straight from the stored rows, in the plainest code there is:
every person, every item, every metric, loops and nothing clever. The job's incremental summaries must agree."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from peerscore.scoring.domain.influence import DIMENSIONS, Touch, touch_of
from peerscore.scoring.history import EventHistoryRow
from peerscore.scoring.identity.models import IdentityLinkRow
from peerscore.scoring.insights.models import MqlMilestoneRow
from peerscore.scoring.outcomes.models import OutcomeRow

SPLIT = ("earned", "paid")


def _weights(n: int) -> list[float]:
    if n == 1:
        return [1.0]
    if n == 2:
        return [0.5, 0.5]
    return [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]


def load(engine: Engine) -> tuple[dict[str, list[Touch]], dict[str, dict[str, int]]]:
    with Session(engine) as session:
        events = session.execute(
            select(EventHistoryRow.person_key, EventHistoryRow.event).order_by(EventHistoryRow.id)
        ).all()  # type: ignore[arg-type]
        links = dict(session.execute(select(IdentityLinkRow.person_key, IdentityLinkRow.merged_into)).all())  # type: ignore[arg-type]
        outcomes = session.execute(select(OutcomeRow.person_key, OutcomeRow.kind, OutcomeRow.occurred_at)).all()  # type: ignore[arg-type]
        mqls = session.execute(select(MqlMilestoneRow.person_key, MqlMilestoneRow.qualified_at)).all()  # type: ignore[arg-type]

    def person(key: str) -> str:
        while key in links:
            key = links[key]
        return key

    touches: dict[str, list[Touch]] = {}
    for key, text in events:
        touch = touch_of(json.loads(text))
        if touch is not None:
            touches.setdefault(person(key), []).append(touch)
    conversions: dict[str, dict[str, int]] = {}
    found = [(k, "opportunity", at) for k, kind, at in outcomes if kind in ("opportunity_created", "won")]
    found += [(k, "won", at) for k, kind, at in outcomes if kind == "won"]
    found += [(k, "mql", at) for k, at in mqls]
    for key, metric, at in found:
        seconds = int(at.timestamp())
        mine = conversions.setdefault(person(key), {})
        if metric not in mine or seconds < mine[metric]:
            mine[metric] = seconds
    return touches, conversions


def brute_force(engine: Engine, days: int | None) -> dict[str, Any]:
    touches, conversions = load(engine)
    as_of = max(t.at for ts in touches.values() for t in ts)
    since = None if days is None else as_of - int(timedelta(days=days).total_seconds())
    people = {}
    for p, ts in touches.items():
        kept = sorted((t for t in ts if since is None or t.at >= since), key=lambda t: t.at)  # stable: id order
        if kept:
            people[p] = kept
    keys = {
        (d, t[1 + i], SPLIT[t.paid]) for ts in people.values() for t in ts for i, d in enumerate(DIMENSIONS) if t[1 + i]
    }
    rows = {}
    for key in keys:
        dimension, item, split = key
        i = DIMENSIONS.index(dimension)

        def matches(t: Touch, i: int = i, item: str = item, split: str = split) -> bool:
            return t[1 + i] == item and SPLIT[t.paid] == split

        touched = [p for p in people if any(matches(t) for t in people[p])]
        untouched = [p for p in people if p not in touched]
        row: dict[str, Any] = {"touched": len(touched)}
        for metric, name in (("mql", "mqls"), ("opportunity", "opportunities"), ("won", "wins")):
            converted = 0
            for p in touched:
                first = min(t.at for t in people[p] if matches(t))
                if metric in conversions.get(p, {}) and conversions[p][metric] > first:
                    converted += 1
            row[name] = converted
            others = sum(1 for p in untouched if conversions.get(p, {}).get(metric, -1) > people[p][0].at)
            if untouched and others:
                row[f"lift_{metric}"] = round((converted / len(touched)) / (others / len(untouched)), 6)
            else:
                row[f"lift_{metric}"] = None
        for metric in ("opportunity", "won"):
            first_credit = last_credit = position_credit = 0.0
            for p in people:
                if metric not in conversions.get(p, {}):
                    continue
                chain = [t for t in people[p] if t.at < conversions[p][metric] and t[1 + i]]
                if not chain:
                    continue
                first_credit += 1.0 if matches(chain[0]) else 0.0
                last_credit += 1.0 if matches(chain[-1]) else 0.0
                position_credit += sum(w for t, w in zip(chain, _weights(len(chain)), strict=True) if matches(t))
            row[f"first_{metric}"] = round(first_credit, 6)
            row[f"last_{metric}"] = round(last_credit, 6)
            row[f"position_{metric}"] = round(position_credit, 6)
        rows[key] = row
    return {"people": len(people), "rows": rows}
