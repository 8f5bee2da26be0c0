"""A ruleset's vocabulary: other wordings of the actions its rules score, and the events it leaves unscored on purpose.

Rules only score what they name, and sites name the same action many ways (``Requested a Demo``, ``Request
Demo``, ``Demo Requested``). A ruleset's ``aliases`` map each canonical event type to the wordings that mean
it; an aliased event is scored exactly as an event of the canonical type (same rules, same conditions), in the
live worker, in backtests and in training features alike, because the rewrite happens inside the engine's
per-ruleset scoring step. ``neutral`` lists events left unscored deliberately (``Email Delivered``), so the
unscored-signal report can tell a gap from a choice.

Wordings are compared by the type ingest gives them (:func:`peerscore.events.event_type_for`): a wording may
be written as a track name (``Request Demo``) or as a type (``request.demo``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from peerscore.events import event_type_for

Loc = tuple[int | str, ...]


def alias_table(aliases: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Event type of each wording → the canonical type it stands for (wordings without any word are skipped;
    :func:`vocabulary_problems` reports them)."""
    table: dict[str, str] = {}
    for canonical, wordings in aliases.items():
        target = event_type_for(canonical) or canonical
        for wording in wordings:
            spelled = event_type_for(wording)
            if spelled is not None and spelled != target:
                table.setdefault(spelled, target)
    return table


def neutral_types(neutral: Iterable[str]) -> frozenset[str]:
    """The event types of the wordings a ruleset leaves unscored on purpose."""
    return frozenset(t for t in (event_type_for(w) for w in neutral) if t is not None)


def vocabulary_problems(
    aliases: Mapping[str, list[str]], neutral: list[str], scored_types: frozenset[str]
) -> list[tuple[Loc, str]]:
    """Aliases that cannot work as written: a target no rule scores, a wording without words or spelled like
    its target, one wording for two targets, or a wording also listed as neutral."""
    problems: list[tuple[Loc, str]] = []
    owner: dict[str, str] = {}
    for canonical, wordings in aliases.items():
        target = event_type_for(canonical)
        if target is None or target not in scored_types:
            problems.append((("aliases", canonical), f"no rule scores events of type '{canonical}'"))
        for index, wording in enumerate(wordings):
            at: Loc = ("aliases", canonical, index)
            spelled = event_type_for(wording)
            if spelled is None:
                problems.append((at, "a wording needs at least one letter or digit"))
            elif spelled == target:
                problems.append((at, f"'{wording}' already is type '{target}'; no alias needed"))
            elif owner.setdefault(spelled, canonical) != canonical:
                problems.append((at, f"'{wording}' is already an alias of '{owner[spelled]}'"))
    aliased = set(owner)
    for index, wording in enumerate(neutral):
        spelled = event_type_for(wording)
        if spelled is None:
            problems.append((("neutral", index), "a wording needs at least one letter or digit"))
        elif spelled in aliased or spelled in scored_types:
            problems.append((("neutral", index), f"'{wording}' is scored (by a rule or an alias); it is not neutral"))
    return problems
