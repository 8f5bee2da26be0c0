"""HTML of ``/console/signals``: the kinds of event no rule scores, by volume, each with a draft-rule link."""

from __future__ import annotations

from peerscore.scoring.signals import UnscoredReport, UnscoredSignal

from .html import esc, notice, pct, table, url

DAY_CHOICES = (7, 30, 90, 365)


def _event_cell(signal: UnscoredSignal) -> str:
    name = f"<br><small>{esc(signal.name)}</small>" if signal.name and signal.name != signal.type else ""
    return f"<code>{esc(signal.type)}</code>{name}"


def _examples_cell(signal: UnscoredSignal) -> str:
    if not signal.examples:
        return "—"
    return "<ul class='examples'>" + "".join(f"<li><code>{esc(e)}</code></li>" for e in signal.examples) + "</ul>"


def _draft_link(signal: UnscoredSignal) -> str:
    href = url("/signals/draft", type=signal.type, name=signal.name, page=signal.page)
    label = f"Draft a rule for {signal.type}" + (f" on {signal.page} pages" if signal.page else "")
    return f'<a class="button" href="{esc(href)}" aria-label="{esc(label)}">Draft a rule</a>'


def _days_form(days: int) -> str:
    options = "".join(
        f'<option value="{d}"{" selected" if d == days else ""}>last {d} days</option>' for d in DAY_CHOICES
    )
    if days not in DAY_CHOICES:
        options += f'<option value="{days}" selected>last {days} days</option>'
    return (
        f'<form method="get" action="{url("/signals")}" class="inline"><label for="days">Window</label> '
        f'<select id="days" name="days">{options}</select> <button type="submit">Show</button></form>'
    )


def signals_body(report: UnscoredReport, days: int) -> str:
    intro = (
        "<p>Events that no rule of the live ruleset scores (after its aliases; events it lists as neutral, "
        "system and profile events are left out), grouped by type, source and page class. Draft a rule for "
        "one, then preview and publish it as usual.</p>"
    )
    summary = notice(
        f"{report.unscored_events:,} of {report.events:,} events from {report.since} to {report.until} "
        f"were unscored ({pct(report.share)})."
    )
    rows = [
        [
            _event_cell(s),
            esc(s.source),
            esc(s.page or "—"),
            f"{s.events:,}",
            f"{s.people:,}",
            pct(s.share),
            _examples_cell(s),
            _draft_link(s),
        ]
        for s in report.signals
    ]
    listing = table(
        ["Event", "Source", "Page", "Events", "People", "Share", "Examples", ""],
        rows,
        caption="Unscored signals, most frequent first",
        empty="Every event in this window was scored by a rule (or is neutral).",
    )
    return intro + _days_form(days) + summary + listing


def draft_intro(type_: str, page: str) -> str:
    where = f" on {page} pages" if page else ""
    return notice(
        f"A draft rule for {type_}{where} is at the top of the rules below. Set its points and group, save the "
        "draft, then preview and publish it."
    )
