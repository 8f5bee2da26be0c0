"""Bodies of the preview pages: choose a version and a period, watch the backtest run (or cancel it), then
read the comparison with the live ruleset: MQLs per week, score distribution, precision/recall, changed leads."""

from __future__ import annotations

from collections.abc import Sequence

from peerscore.scoring.backtest.jobs import BacktestView
from peerscore.scoring.backtest.report import BacktestReport, Classification
from peerscore.scoring.rulesets.models import RulesetVersionRow

from .charts import Series, grouped_bars, lines
from .html import esc, hidden, notice, num, pct, post_form, signed, table, url

PERIODS = (("30d", "Last 30 days"), ("90d", "Last 90 days"), ("180d", "Last 180 days"), ("365d", "Last year"))


def start_form(versions: Sequence[RulesetVersionRow], chosen: str, live: str | None, csrf: str) -> str:
    options = "".join(
        f'<option value="{esc(v.version)}"{" selected" if v.version == chosen else ""}>{esc(v.version)} '
        f"({esc(v.status)}{', live' if v.version == live else ''})</option>"
        for v in versions
    )
    if not options:
        return notice("No stored versions to preview: save a draft from the rules editor first.")
    periods = "".join(
        f'<option value="{value}"{" selected" if value == "90d" else ""}>{esc(label)}</option>'
        for value, label in PERIODS
    )
    return (
        "<p>A preview replays the stored event history under the chosen version and under the live ruleset, "
        "with the same scoring code the workers run, and compares them.</p>"
        f'<form method="post" action="{url("/preview")}" class="stack">{hidden("csrf", csrf)}'
        f'<div class="field"><label for="version">Version to preview</label>'
        f'<select id="version" name="version">{options}</select></div>'
        f'<div class="field"><label for="period">Period</label><select id="period" name="period">{periods}</select>'
        "</div><fieldset><legend>Or a custom period (UTC dates; overrides the choice above)</legend>"
        '<div class="field"><label for="since">From</label><input type="date" id="since" name="since"></div>'
        '<div class="field"><label for="until">Until (exclusive, empty: now)</label>'
        '<input type="date" id="until" name="until"></div></fieldset>'
        '<p class="actions"><button type="submit" class="primary">Run preview</button></p></form>'
    )


def running(job: BacktestView, version: str, period: str, csrf: str) -> str:
    total = max(job.events_total, 1)
    share = job.events_done / total
    button = '<button type="submit">Cancel preview</button>'
    return (
        f"<p>Previewing <code>{esc(version)}</code> over {esc(period)} against the live ruleset.</p>"
        f'<div id="job" data-progress-url="{url(f"/preview/{job.id}/progress")}" data-done-url="'
        f'{url(f"/preview/{job.id}")}"><label for="bar">Progress</label> '
        f'<progress id="bar" max="{total}" value="{job.events_done}">{share:.0%}</progress> '
        f'<span id="bar-text" role="status" aria-live="polite">{job.events_done:,} of {job.events_total:,} '
        f"events replayed</span></div>"
        f'<noscript><p>This page does not refresh itself without JavaScript: <a href="{url(f"/preview/{job.id}")}">'
        "reload it</a> to see progress.</p></noscript>"
        f'<p class="actions">{post_form(url(f"/preview/{job.id}/cancel"), csrf, button)}</p>'
    )


def _quality_rows(before: Classification, after: Classification) -> list[list[str]]:
    def row(label: str, b: object, a: object) -> list[str]:
        return [esc(label), esc(b), esc(a)]

    return [
        row("precision (qualified leads that converted)", pct(before.precision), pct(after.precision)),
        row("recall (converted leads that were qualified first)", pct(before.recall), pct(after.recall)),
        row("true positives", before.true_positives, after.true_positives),
        row("false positives", before.false_positives, after.false_positives),
        row("false negatives", before.false_negatives, after.false_negatives),
        row("true negatives", before.true_negatives, after.true_negatives),
    ]


def report_page(job: BacktestView, report: BacktestReport, period: str, live_now: str | None, csrf: str) -> str:
    live_label, cand_label = f"live {report.live_version}", f"candidate {report.candidate_version}"
    delta = report.mqls_after - report.mqls_before
    share = f" ({delta / report.mqls_before:+.0%})" if report.mqls_before else ""
    headline = (
        f'<div class="cards"><p class="card"><span class="big">{report.mqls_before}</span> MQLs live</p>'
        f'<p class="card"><span class="big">{report.mqls_after}</span> MQLs with {esc(report.candidate_version)}</p>'
        f'<p class="card"><span class="big">{esc(signed(delta))}</span> change{esc(share)}</p>'
        f'<p class="card"><span class="big">{report.changes_total}</span> leads change status</p></div>'
    )
    meta = (
        f"<p>{report.events:,} events of {report.people:,} people over {esc(period)}, replayed in "
        f"{report.seconds:.1f} s. Live ruleset at the time: <code>{esc(report.live_version)}</code>.</p>"
    )
    stale = ""
    if live_now is not None and live_now != report.live_version:
        stale = notice(f"The live ruleset is now {live_now}: this comparison is against an older one.", "warn")
    weeks = [w.week for w in report.weeks]
    mql_chart = lines(
        "MQLs per ISO week",
        weeks,
        [Series(live_label, [w.before for w in report.weeks]), Series(cand_label, [w.after for w in report.weeks])],
        summary=f"MQLs per week: {report.mqls_before} in total live, {report.mqls_after} with the candidate",
    )
    bins = [f"{b.low:g}–{b.high:g}" for b in report.histogram]
    histogram = grouped_bars(
        "Score distribution (final totals)",
        bins,
        [
            Series(live_label, [b.before for b in report.histogram]),
            Series(cand_label, [b.after for b in report.histogram]),
        ],
        summary="Number of leads per 10-point score bin, live and candidate",
    )
    quality = table(
        ["", live_label, cand_label],
        _quality_rows(report.precision_before, report.precision_after),
        caption=f"Against known CRM outcomes ({report.labelled_people} leads with an outcome)",
    ) + _lines_section(report, live_label, cand_label)
    change_rows = [
        [
            f'<a href="{url(f"/leads/{c.person_key}")}">{esc(c.email or c.person_key[:12])}</a>',
            esc(c.before),
            esc(c.after),
            f"{num(c.total_before, 0)} → {num(c.total_after, 0)}",
            "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in c.reasons) + "</ul>" if c.reasons else "",
        ]
        for c in report.changes
    ]
    gained = sum(1 for c in report.changes if c.after == "qualified")
    changes = table(
        ["lead", "live", "candidate", "total", "reasons (candidate)"],
        change_rows,
        caption=f"Leads that would gain ({gained}) or lose ({len(report.changes) - gained}) qualification "
        + (
            f"(first {len(report.changes)} of {report.changes_total})"
            if report.changes_total > len(report.changes)
            else ""
        ),
        empty="No lead changes status.",
    )
    actions = (
        f'<p class="actions"><a class="button primary" href="{url(f"/rules/v/{report.candidate_version}/publish")}">'
        f'Publish {esc(report.candidate_version)}…</a> <a class="button" href="'
        f'{url("/rules/diff", a=report.live_version, b=report.candidate_version)}">See the rule changes</a></p>'
    )
    return (
        headline
        + meta
        + stale
        + actions
        + '<section aria-labelledby="charts-h"><h2 id="charts-h">Volume and distribution</h2>'
        + mql_chart
        + histogram
        + '</section><section aria-labelledby="q-h"><h2 id="q-h">Precision and recall</h2>'
        + quality
        + '</section><section aria-labelledby="c-h"><h2 id="c-h">Leads that change</h2>'
        + changes
        + "</section>"
    )


def _lines_section(report: BacktestReport, live_label: str, cand_label: str) -> str:
    """Per product line: MQLs, leads qualified at the end, precision and recall (nothing without lines)."""
    if not report.lines:
        return ""
    rows = [
        [
            esc(line.line),
            f"{line.mqls_before} → {line.mqls_after}",
            f"{line.qualified_before} → {line.qualified_after}",
            f"{pct(line.precision_before.precision)} / {pct(line.precision_before.recall)}",
            f"{pct(line.precision_after.precision)} / {pct(line.precision_after.recall)}",
        ]
        for line in report.lines
    ]
    headers = ["line", "MQLs", "qualified at the end", f"precision / recall {live_label}", cand_label]
    body = table(headers, rows, caption="Each product line's MQLs and precision / recall, live → candidate")
    return '<h3 id="pl-h">Per product line</h3>' + body


def finished(job: BacktestView, version: str) -> str:
    if job.status == "cancelled":
        return notice(f"The preview of {version} was cancelled; nothing was reported.", "warn") + (
            f'<p><a href="{url("/preview", version=version)}">Start it again</a></p>'
        )
    return notice(f"The preview of {version} failed: {job.error or 'unknown error'}", "error")


def jobs_list(recent: Sequence[tuple[str, str, str, BacktestView | None]]) -> str:
    rows = [
        [
            f'<a href="{url(f"/preview/{job_id}")}">{esc(job_id[:8])}</a>',
            f"<code>{esc(version)}</code>",
            esc(period),
            esc(view.status if view else "forgotten"),
        ]
        for job_id, version, period, view in recent
    ]
    return table(["preview", "version", "period", "status"], rows, caption="Recent previews", empty="None yet.")
