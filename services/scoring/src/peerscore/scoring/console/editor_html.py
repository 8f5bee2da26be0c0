"""Bodies of the two rule editors: the form (rules and policies as fields, each problem placed on its field)
and the YAML text (problems listed with links to their lines). Pure rendering."""

from __future__ import annotations

from collections.abc import Sequence

from peerscore.scoring.domain.errors import RulesetProblem

from .html import esc, hidden, url
from .rules_form import POLICY_FIELDS, PlacedProblems, RuleFields, RulesForm
from .rules_html import numbered_yaml


def problem_list(problems: Sequence[RulesetProblem | str], *, link_lines: bool = False) -> str:
    if not problems:
        return ""
    items = []
    for p in problems:
        if isinstance(p, RulesetProblem):
            where = f"line {p.line}" if p.line is not None else "ruleset"
            if link_lines and p.line is not None:
                where = f'<a href="#L{p.line}">line {p.line}</a>'
            items.append(f"<li>{where}: <code>{esc(p.path or '(top level)')}</code>: {esc(p.message)}</li>")
        else:
            items.append(f"<li>{esc(p)}</li>")
    count = len(problems)
    return (
        f'<div class="problems" role="alert" id="problems" tabindex="-1"><h2>{count} problem'
        f"{'s' if count != 1 else ''} to fix</h2><ul>{''.join(items)}</ul></div>"
    )


def _field_errors(messages: list[str] | None, field_id: str) -> tuple[str, str]:
    """The error text under a field and the attributes that tie it to the input."""
    if not messages:
        return "", ""
    text = "; ".join(messages)
    return (
        f'<p class="field-error" id="{field_id}-err">⚠ {esc(text)}</p>',
        f' aria-invalid="true" aria-describedby="{field_id}-err"',
    )


def _input(field_id: str, label: str, value: str, messages: list[str] | None, *, kind: str = "text") -> str:
    err, attrs = _field_errors(messages, field_id)
    extra = ' inputmode="decimal"' if kind == "number" else ""
    return (
        f'<div class="field"><label for="{field_id}">{esc(label)}</label>'
        f'<input id="{field_id}" name="{field_id}" value="{esc(value)}"{extra}{attrs}>{err}</div>'
    )


def _rule_fieldset(prefix: str, rule: RuleFields, groups: Sequence[str], errors: dict[str, list[str]]) -> str:
    group_err, group_attrs = _field_errors(errors.get("group"), f"{prefix}-group")
    options = "".join(
        f'<option value="{esc(g)}"{" selected" if g == rule.group else ""}>{esc(g)}</option>'
        for g in dict.fromkeys([*groups, rule.group] if rule.group else groups)
    )
    when_err, when_attrs = _field_errors(errors.get("when"), f"{prefix}-when")
    rep_err, rep_attrs = _field_errors(errors.get("repeatable"), f"{prefix}-repeatable")
    checked = " checked" if rule.repeatable else ""
    title = rule.id or "new rule"
    summary = f"{title} · {rule.group or '?'} · {rule.points or '?'} points" + (" · ⚠ has problems" if errors else "")
    delete = (
        f'<div class="field check"><input type="checkbox" id="{prefix}-delete" name="{prefix}-delete"'
        f'{" checked" if rule.delete else ""}><label for="{prefix}-delete">Delete this rule</label></div>'
        if prefix != "rule-new"
        else ""
    )
    return (
        f'<details class="rule{" has-errors" if errors else ""}"{" open" if errors or prefix == "rule-new" else ""}>'
        f"<summary>{esc(summary)}</summary><fieldset><legend>Rule {esc(title)}</legend>"
        + _input(f"{prefix}-id", "Rule id", rule.id, errors.get("id"))
        + f'<div class="field"><label for="{prefix}-group">Group</label>'
        f'<select id="{prefix}-group" name="{prefix}-group"{group_attrs}>{options}</select>{group_err}</div>'
        + _input(f"{prefix}-points", "Points (negative allowed)", rule.points, errors.get("points"), kind="number")
        + _input(
            f"{prefix}-cap",
            "Cap (most points this rule can hold; empty: none)",
            rule.cap,
            errors.get("cap"),
            kind="number",
        )
        + _input(f"{prefix}-reason", "Reason shown to sales", rule.reason, errors.get("reason"))
        + _input(f"{prefix}-description", "Description (internal)", rule.description, errors.get("description"))
        + f'<div class="field wide"><label for="{prefix}-when">Conditions (<code>when</code>, YAML)</label>'
        f'<textarea id="{prefix}-when" name="{prefix}-when" rows="4" spellcheck="false"{when_attrs}>'
        f"{esc(rule.when)}</textarea>{when_err}</div>"
        f'<div class="field check"><input type="checkbox" id="{prefix}-repeatable" name="{prefix}-repeatable"'
        f'{checked}{rep_attrs}><label for="{prefix}-repeatable">Repeatable (counts every matching event)</label>'
        f"{rep_err}</div>{delete}</fieldset></details>"
    )


def form_editor(form: RulesForm, placed: PlacedProblems, groups: Sequence[str], csrf: str, *, base_label: str) -> str:
    policy_fields = "".join(
        _input(path, label, form.policy.get(path, ""), placed.by_policy.get(path)) for path, label in POLICY_FIELDS
    )
    rules = "".join(
        _rule_fieldset(f"rule-{i}", rule, groups, placed.by_rule.get(i, {})) for i, rule in enumerate(form.rules)
    )
    new_rule = _rule_fieldset("rule-new", RuleFields(group=groups[-1] if groups else ""), groups, {})
    located = [
        f'<li><a href="#rule-{i}-{name}">Rule {esc(form.rules[i].id or i + 1)}, {esc(name)}</a>: '
        f"{esc('; '.join(messages))}</li>"
        for i, fields in sorted(placed.by_rule.items())
        for name, messages in fields.items()
    ] + [
        f'<li><a href="#{esc(path)}">{esc(path)}</a>: {esc("; ".join(messages))}</li>'
        for path, messages in placed.by_policy.items()
    ]
    problems = (f"<ul>{''.join(located)}</ul>" if located else "") + (
        problem_list(placed.general) if placed.general else ""
    )
    count = (
        f'<div class="problems" role="alert" id="problems" tabindex="-1"><h2>{placed.count} problem'
        f"{'s' if placed.count != 1 else ''} to fix</h2><p>Fields with problems are marked ⚠ below "
        f"(their rules are opened).</p>{problems}</div>"
        if placed.count
        else ""
    )
    return (
        f"<p>Editing a copy of <strong>{esc(base_label)}</strong>. Saving stores a <em>draft</em>: nothing goes "
        "live until you publish it. The form rewrites the YAML without its comments; "
        f'<a href="{url("/rules/yaml", base=form.base)}">the YAML editor</a> keeps them.</p>{count}'
        f'<form method="post" action="{url("/rules/edit")}" class="editor">{hidden("csrf", csrf)}'
        f'{hidden("base", form.base)}<fieldset class="policy"><legend>Grades and qualification</legend>'
        f"{policy_fields}</fieldset><h2>Rules ({len(form.rules)})</h2>{rules}<h2>Add a rule</h2>{new_rule}"
        '<p class="actions"><button type="submit" name="action" value="validate">Check</button> '
        '<button type="submit" name="action" value="save" class="primary">Save draft</button></p></form>'
    )


def yaml_editor(text: str, base: str, problems: list[RulesetProblem], csrf: str) -> str:
    bad = {p.line for p in problems if p.line is not None}
    preview = f'<h2 id="where">Where the problems are</h2>{numbered_yaml(text, bad, context=3)}' if bad else ""
    return (
        "<p>The ruleset as YAML, comments included. Saving stores a <em>draft</em>.</p>"
        + problem_list(problems, link_lines=True)
        + preview
        + f'<form method="post" action="{url("/rules/yaml")}" class="editor">{hidden("csrf", csrf)}'
        f'{hidden("base", base)}<div class="field wide"><label for="yaml">Ruleset YAML</label>'
        f'<textarea id="yaml" name="yaml" rows="30" spellcheck="false"'
        f"{' aria-invalid=true aria-describedby=problems' if problems else ''}>{esc(text)}</textarea></div>"
        '<p class="actions"><button type="submit" name="action" value="validate">Check</button> '
        '<button type="submit" name="action" value="save" class="primary">Save draft</button></p></form>'
    )
