"""Read ruleset YAML while remembering where every field was written.

pydantic reports errors as locations like ``("rules", 3, "when", "url_matches")``; the composed YAML node tree
turns such a location into the line a marketer should look at. Duplicate keys, which PyYAML would silently
resolve to the last one, are reported too: a doubled ``points:`` is almost always a mistake.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import RulesetError, RulesetProblem

Loc = Sequence[int | str]


def format_path(loc: Loc) -> str:
    """``("rules", 3, "when")`` → ``rules[3].when``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def load(text: str) -> tuple[Any, Node | None]:
    """Parse YAML into data plus its node tree; syntax errors and duplicate keys become a RulesetError."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise RulesetError([RulesetProblem(line=line, path="", message=f"YAML syntax: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise RulesetError([RulesetProblem(line=None, path="", message=f"YAML syntax: {exc}")]) from None
    duplicates = list(_duplicate_keys(root, ()))
    if duplicates:
        raise RulesetError(duplicates)
    return data, root


def _duplicate_keys(node: Node | None, loc: tuple[int | str, ...]) -> Iterator[RulesetProblem]:
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else str(key.start_mark)
            if name in seen:
                yield RulesetProblem(
                    line=key.start_mark.line + 1,
                    path=format_path((*loc, name)),
                    message=f"'{name}' is given twice; only one value can be kept",
                )
            seen.add(name)
            yield from _duplicate_keys(value, (*loc, name))
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*loc, index))


def locate(root: Node | None, loc: Loc, *, missing: bool = False) -> tuple[int | None, str]:
    """The line and path of ``loc`` in the YAML.

    The path stops at the deepest part actually written in the YAML (pydantic adds union or list-coercion
    parts the marketer never wrote); for a *missing* field the field's own name is kept so the message says
    what to add, and the line is that of the enclosing block.
    """
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    found: list[int | str] = []
    for part in loc:
        child: Node | None = None
        if isinstance(node, MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value == part:
                    child, line = value, key.start_mark.line + 1
                    break
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            if missing:
                found.append(part)
            break
        found.append(part)
        node = child
    return line, format_path(found)
