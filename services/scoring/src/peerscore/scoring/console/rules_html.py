"""Bodies of the rules pages: the live ruleset and its history, a version, diffs, and the
publish / roll back confirmations (the editors are in :mod:`.editor_html`). Pure rendering: the routes
fetch, these functions only format."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from peerscore.scoring.rulesets.models import RulesetPublicationRow, RulesetVersionRow

from .changes import Change
from .html import esc, notice, post_form, signed, table, url, when


@dataclass(frozen=True)
class ExpectedChange:
    """What a preview said about a version, to state the expected MQL volume change before it goes live."""

    job_id: str
    period: str
    live_version: str
    mqls_live: int
    mqls_candidate: int
    stale: bool
    """The live ruleset changed since the preview ran: the comparison was against another version."""

    def sentence(self) -> str:
        delta = self.mqls_candidate - self.mqls_live
        share = f" ({delta / self.mqls_live:+.0%})" if self.mqls_live else ""
        text = (
            f"Expected change in MQL volume: {self.mqls_live} → {self.mqls_candidate} MQLs "
            f"({signed(delta)}{share}) over {self.period}, from the preview against live version {self.live_version}."
        )
        return text + (" The live version has changed since: run the preview again." if self.stale else "")


def policy_sentence(summary: dict[str, object]) -> str:
    """The qualification policy in words: "MQL at grade B and activity 50; recycled below 20 or under C"."""
    policy = summary.get("qualification")
    if not isinstance(policy, dict):
        return ""
    qualify, recycle = policy.get("qualify") or {}, policy.get("recycle") or {}
    text = f"Qualifies (MQL) at activity {qualify.get('min_activity', '?'):g}"
    if qualify.get("min_grade"):
        text += f" and grade {qualify['min_grade']} or better"
    text += f"; recycled below activity {recycle.get('below_activity', '?'):g}"
    if recycle.get("below_grade"):
        text += f" or under grade {recycle['below_grade']}"
    return text + "."


def version_actions(version: str, live: str | None, csrf: str) -> str:
    links = [
        f'<a href="{url(f"/rules/v/{version}")}">view</a>',
        f'<a href="{url("/rules/edit", base=version)}">edit a copy</a>',
        f'<a href="{url("/preview", version=version)}">preview</a>',
    ]
    if live and live != version:
        links.append(f'<a href="{url("/rules/diff", a=live, b=version)}">diff vs live</a>')
        links.append(f'<a href="{url(f"/rules/v/{version}/publish")}">publish…</a>')
    return " · ".join(links)


def overview(
    *,
    name: str,
    live: RulesetVersionRow | None,
    serving: str,
    summary: dict[str, object],
    versions: Sequence[RulesetVersionRow],
    publications: Sequence[RulesetPublicationRow],
    can_roll_back: bool,
    csrf: str,
) -> str:
    live_version = live.version if live else None
    if live is None:
        head = (
            f"<p>Nothing has been published for ruleset <strong>{esc(name)}</strong> yet: workers score with the "
            f"configured default, version <code>{esc(serving)}</code>.</p>"
        )
    else:
        head = (
            f"<p>Live: <strong>{esc(name)}</strong> version <code>{esc(live.version)}</code>, published "
            f"{when(live.published_at)}. This worker is serving <code>{esc(serving)}</code>.</p>"
        )
    groups = summary.get("groups")
    group_rows = []
    if isinstance(groups, dict):
        for group, spec in groups.items():
            rules = spec.get("rules", []) if isinstance(spec, dict) else []
            cap = spec.get("cap") if isinstance(spec, dict) else None
            half = spec.get("half_life_days") if isinstance(spec, dict) else None
            group_rows.append([esc(group), str(len(rules)), esc(cap if cap is not None else "none"), esc(half or "—")])
    policy = f"<p>{esc(policy_sentence(summary))}</p>"
    actions = (
        f'<p class="actions"><a class="button" href="{url("/rules/edit")}">Edit rules (form)</a> '
        f'<a class="button" href="{url("/rules/yaml")}">Edit YAML</a> '
        f'<a class="button" href="{url("/rules/diff")}">Compare versions</a>'
        + (f' <a class="button" href="{url("/rules/rollback")}">Roll back…</a>' if can_roll_back else "")
        + "</p>"
    )
    version_rows = [
        [
            f"<code>{esc(v.version)}</code>",
            esc(v.status) + (" (live)" if v.version == live_version else ""),
            when(v.created_at),
            when(v.published_at),
            version_actions(v.version, live_version, csrf),
        ]
        for v in versions
    ]
    log_rows = [[when(p.at), esc(p.action), f"<code>{esc(p.version)}</code>"] for p in reversed(publications)]
    return (
        f'<section aria-labelledby="live-h"><h2 id="live-h">Live ruleset</h2>{head}{policy}'
        + table(["group", "rules", "cap", "half-life (days)"], group_rows, caption="Groups of the live ruleset")
        + actions
        + '</section><section aria-labelledby="versions-h"><h2 id="versions-h">Versions</h2>'
        + table(
            ["version", "status", "created", "published", "actions"],
            version_rows,
            caption="Every stored version, newest first",
            empty="No versions stored yet: save a draft from an editor.",
        )
        + '</section><section aria-labelledby="log-h"><h2 id="log-h">Publication history</h2>'
        + table(["when", "action", "version"], log_rows, caption="Publishes and rollbacks, newest first")
        + "</section>"
    )


def numbered_yaml(text: str, bad_lines: set[int] | None = None, *, context: int | None = None) -> str:
    """The YAML with line numbers; lines with problems are marked (not by colour alone: a ⚠ and a label).
    With ``context``, only the problem lines and that many lines around each are shown."""
    bad = bad_lines or set()
    lines = text.splitlines()
    shown = set(range(1, len(lines) + 1))
    if context is not None:
        shown = {n for b in bad for n in range(b - context, b + context + 1) if 1 <= n <= len(lines)}
    rows, previous = [], 0
    for number, line in enumerate(lines, start=1):
        if number not in shown:
            continue
        if previous and number != previous + 1:
            rows.append('<li class="gap" aria-hidden="true">…</li>')
        previous = number
        flag = ' class="bad"' if number in bad else ""
        marker = '<span class="sr-flag">⚠ problem on this line</span>' if number in bad else ""
        rows.append(f'<li id="L{number}" value="{number}"{flag}><code>{esc(line) or " "}</code>{marker}</li>')
    return f'<ol class="yaml">{"".join(rows)}</ol>'


def version_page(row: RulesetVersionRow, live: str | None, problems: list[str], csrf: str) -> str:
    status = esc(row.status) + (" — live" if row.version == live else "")
    warn = "".join(notice(p, "error") for p in problems)
    return (
        f"<p>Ruleset <strong>{esc(row.name)}</strong>, status {status}, created {when(row.created_at)}.</p>"
        f'<p class="actions">{version_actions(row.version, live, csrf)}</p>{warn}'
        f"<h2>YAML</h2>{numbered_yaml(row.yaml)}"
    )


def saved_page(row: RulesetVersionRow, created: bool, diff_html: str, live: str | None) -> str:
    state = "Saved as a new draft" if created else "This exact ruleset was already stored"
    return (
        f"<p>{esc(state)}: version <code>{esc(row.version)}</code> ({esc(row.status)}).</p>"
        f'<p class="actions"><a class="button primary" href="{url("/preview", version=row.version)}">'
        f"Preview it on history</a> "
        + (
            f'<a class="button" href="{url(f"/rules/v/{row.version}/publish")}">Publish…</a> '
            if live != row.version
            else ""
        )
        + f'<a class="button" href="{url("/rules/edit", base=row.version)}">Keep editing</a></p>'
        f"<h2>Changes against the live version</h2>{diff_html}"
    )


def changes_html(changes: Sequence[Change]) -> str:
    """The meaning of a change, rule by rule (see :mod:`.changes`)."""
    if not changes:
        return "<p>No change in scoring: the two versions score the same way.</p>"
    items = "".join(
        f'<li><strong>{esc(c.where)}</strong> <span class="tag">{esc(c.kind)}</span>'
        + (f"<ul>{''.join(f'<li>{esc(d)}</li>' for d in c.details)}</ul>" if c.details else "")
        + "</li>"
        for c in changes
    )
    return f'<ul class="changes">{items}</ul>'


def diff_html(diff_text: str) -> str:
    """A unified diff with added/removed lines marked by sign and class (not colour alone)."""
    if not diff_text.strip():
        return "<p>No differences.</p>"
    rows = []
    for line in diff_text.splitlines():
        cls = "ctx"
        if line.startswith(("+++", "---")):
            cls = "file"
        elif line.startswith("@@"):
            cls = "hunk"
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        rows.append(f'<span class="{cls}">{esc(line) or " "}</span>')
    return f'<pre class="diff" aria-label="Unified diff">{chr(10).join(rows)}</pre>'


def diff_page(versions: Sequence[RulesetVersionRow], a: str, b: str, body: str) -> str:
    def select(name: str, label: str, chosen: str) -> str:
        options = "".join(
            f'<option value="{esc(v.version)}"{" selected" if v.version == chosen else ""}>'
            f"{esc(v.version)} ({esc(v.status)})</option>"
            for v in versions
        )
        return f'<label for="{name}">{label}</label><select id="{name}" name="{name}">{options}</select>'

    return (
        f'<form method="get" action="{url("/rules/diff")}" class="row">{select("a", "From", a)} '
        f'{select("b", "To", b)} <button type="submit">Compare</button></form>{body}'
    )


def publish_confirm(
    version: str, live: str | None, change: ExpectedChange | None, csrf: str, *, first: bool = False
) -> str:
    if change is None:
        expected = notice(
            "Expected change in MQL volume: unknown, no preview of this version has been run. "
            "Run a preview first to see how many more or fewer leads would reach sales.",
            "warn",
        )
    else:
        expected = notice(change.sentence(), "warn" if change.stale else "info")
    preview = f'<a href="{url("/preview", version=version)}">Run a preview</a>'
    button = f'<button type="submit" class="primary">Publish {esc(version)} now</button>'
    return (
        f"<p>Publishing makes version <code>{esc(version)}</code> live in every scoring worker within seconds, "
        f"replacing <code>{esc(live or 'the configured default')}</code>. New events are scored with it; "
        "stored scores change as leads are read or act again.</p>"
        + expected
        + (
            notice(
                f"Nothing has been published yet: the configured default ({live}) is published first as the "
                "baseline, so that you can roll back to it."
            )
            if first
            else ""
        )
        + f'<p class="actions">{post_form(url(f"/rules/v/{version}/publish"), csrf, button)} {preview} · '
        f'<a href="{url("/rules")}">Cancel</a></p>'
    )


def rollback_confirm(current: str, target: str, change: ExpectedChange | None, csrf: str) -> str:
    if change is None:
        expected = notice(
            f"Expected change in MQL volume: unknown, no preview of {target} has been run against the live version.",
            "warn",
        )
        preview = f'<a href="{url("/preview", version=target)}">Preview {esc(target)} first</a> · '
    else:
        expected, preview = notice(change.sentence(), "warn" if change.stale else "info"), ""
    button = f'<button type="submit" class="primary">Roll back to {esc(target)} now</button>'
    return (
        f"<p>Rolling back replaces the live version <code>{esc(current)}</code> with the one live before it, "
        f"<code>{esc(target)}</code>, in every scoring worker.</p>"
        + expected
        + f'<p class="actions">{post_form(url("/rules/rollback"), csrf, button)} {preview}'
        f'<a href="{url("/rules")}">Cancel</a></p>'
    )
