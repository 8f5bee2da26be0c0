"""A draft rule for an unscored kind of event, written into the live ruleset's YAML for the rules editor.

The console's signals page offers one click per unscored signal; it opens the YAML editor with this text, so
the marketer adjusts points and group, saves a draft, previews and publishes as for any other change. The
rule goes first under ``rules:`` (where the editor's reader looks first), indented like its neighbours;
comments and layout of the rest of the ruleset stay as they were.
"""

from __future__ import annotations

import re

from peerscore.events import event_type_for
from peerscore.scoring.domain.ruleset import FIT, Ruleset

DRAFT_POINTS = 5
PAGE_PATTERNS = {
    "pricing": "/(pricing|plans)",
    "demo": "/(demo|book-a-demo|contact-sales)",
    "comparison": "(/compare|-vs-|/alternatives?)",
    "customers": "/(customers|case-stud)",
    "docs": "/docs",
    "careers": "/careers",
    "blog": "/blog",
}
"""A ``url_matches`` for each page class of :mod:`peerscore.scoring.domain.signals` (``other`` gets none)."""
_RULES = re.compile(r"^rules:[ \t]*(#.*)?$", re.MULTILINE)
_ITEM = re.compile(r"^(\s*)- ", re.MULTILINE)
_SLUG = re.compile(r"[^a-z0-9]+")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def draft_rule(ruleset: Ruleset, *, type_: str, name: str, page: str, indent: str = "  ") -> str:
    """The YAML of one list item: a rule scoring events of this type (on this page class, if any)."""
    ids = {rule.id for rule in ruleset.rules}
    base = (_SLUG.sub("-", type_.lower()).strip("-") or "signal")[:50]
    if page in PAGE_PATTERNS:
        base = f"{base}-{page}"
    rule_id, n = base, 2
    while rule_id in ids:
        rule_id, n = f"{base}-{n}", n + 1
    groups = [g for g in ruleset.groups if g != FIT]
    group = "engagement" if "engagement" in ruleset.groups else (groups[0] if groups else "engagement")
    when = f"{{type: {_quoted(type_)}"
    if page in PAGE_PATTERNS:
        when += f", url_matches: {_quoted(PAGE_PATTERNS[page])}"
    elif name and event_type_for(name) != type_:  # a page's name, say: the type alone would score every page
        when += f", name: {_quoted(name)}"
    when += "}"
    reason = name or (f"Viewed a {page} page" if page in PAGE_PATTERNS else type_)
    reason = reason.replace("{", "(").replace("}", ")")  # reasons are templates: no stray placeholders
    pad = indent + "  "
    return (
        f"{indent}- id: {rule_id}  # draft from an unscored signal: set points and group, then preview\n"
        f"{pad}group: {group}\n"
        f"{pad}points: {DRAFT_POINTS}\n"
        f"{pad}when: {when}\n"
        f"{pad}reason: {_quoted(reason[:80])}\n"
    )


def with_draft_rule(text: str, ruleset: Ruleset, *, type_: str, name: str, page: str) -> str:
    """``text`` with a draft rule first under its top-level ``rules:``; appended at the end when the list is
    not written in block style (the editor then reports where, and the marketer moves it)."""
    found = _RULES.search(text)
    if found is None:
        return text.rstrip("\n") + "\n" + draft_rule(ruleset, type_=type_, name=name, page=page)
    item = _ITEM.search(text, found.end())
    indent = item.group(1) if item is not None else "  "
    rule = draft_rule(ruleset, type_=type_, name=name, page=page, indent=indent)
    at = found.end() + 1  # the line after ``rules:``, above any section comment of the first rule
    return text[:at] + rule + text[at:]
