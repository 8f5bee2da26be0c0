"""Bodies of the lead explorer: search, one lead (timeline, reasons, ledger with its events, CRM status) and
one account (its people and breadth)."""

from __future__ import annotations

from collections.abc import Sequence

from peerscore.events import EngagementEvent, LeadScore

from .charts import timeline
from .crm import CrmStatus
from .html import esc, hidden, num, table, url, when
from .leads import AccountDetail, LeadDetail, LeadSummary

SEARCH_BY = (("email", "Email"), ("domain", "Domain"), ("account", "Account"))


def search_form(query: str, by: str, csrf: str) -> str:
    """Posted, not a GET: the query is often an email, and a query string lands in proxy and access logs."""
    options = "".join(
        f'<option value="{value}"{" selected" if value == by else ""}>{label}</option>' for value, label in SEARCH_BY
    )
    return (
        f'<form method="post" action="{url("/leads")}" class="row" role="search">{hidden("csrf", csrf)}'
        f'<label for="by">Search by</label><select id="by" name="by">{options}</select>'
        f'<label for="q">for</label><input id="q" name="q" value="{esc(query)}" type="search" '
        'placeholder="ada@acme.example, acme.example, acme…"><button type="submit">Search</button></form>'
    )


def _status(qualified: bool) -> str:
    return '<span class="tag mql">MQL</span>' if qualified else '<span class="tag">not qualified</span>'


def results(leads: Sequence[LeadSummary], query: str) -> str:
    rows = [
        [
            f'<a href="{url(f"/leads/{lead.person_key}")}">{esc(lead.email or lead.person_key[:12])}</a>',
            f'<a href="{url(f"/accounts/{lead.account_key}")}">{esc(lead.account_key)}</a>'
            if lead.account_key
            else "—",
            num(lead.total),
            _status(lead.qualified),
            when(lead.updated_at),
        ]
        for lead in leads
    ]
    caption = f"Leads matching “{query}”" if query else "Top leads by stored score"
    return table(["lead", "account", "score", "status", "last activity"], rows, caption=caption, empty="No lead found.")


def _event_text(event: EngagementEvent | None) -> str:
    if event is None:
        return "(event not in the stored history)"
    parts = [event.type]
    if event.name and event.name.lower() != event.type:
        parts.append(f"“{event.name}”")
    for key in ("url", "path", "page_type", "action", "title"):
        value = event.properties.get(key)
        if value:
            parts.append(f"{key}={value}")
    return " ".join(str(p) for p in parts)[:200]


def _probability_card(probability: float | None, model_version: int | None) -> str:
    """The champion model's conversion probability (the README promises it next to the score)."""
    if probability is None:
        return '<p class="card"><span class="big">–</span> conversion probability (no model yet)</p>'
    return (
        f'<p class="card"><span class="big">{probability:.0%}</span> conversion probability'
        f" (model v{esc(model_version)})</p>"
    )


def _lines_table(score: LeadScore) -> str:
    """A small table of the product lines: each one's score, grade × level, MQL status and top reason."""
    if not score.lines:
        return ""
    rows = [
        [
            esc(name),
            num(line.score),
            esc(f"{line.grade}{line.level}"),
            _status(line.qualified),
            esc(line.reasons[0]) if line.reasons else "",
        ]
        for name, line in score.lines.items()
    ]
    body = table(["line", "score", "grade × level", "status", "top reason"], rows, caption="Score per product line")
    return f'<section aria-labelledby="pl-h"><h2 id="pl-h">Product lines</h2>{body}</section>'


def lead_page(lead: LeadDetail, crm: CrmStatus) -> str:
    s = lead.score
    traits = lead.traits
    who = ", ".join(str(v) for v in (traits.title, traits.seniority, traits.function) if v) or "unknown role"
    account = (
        f'<a href="{url(f"/accounts/{lead.state.account_key}")}">{esc(lead.state.account_key)}</a>'
        if lead.state.account_key
        else "no account"
    )
    cards = (
        f'<div class="cards"><p class="card"><span class="big">{num(s.total)}</span> total</p>'
        f'<p class="card"><span class="big">{esc(s.grade)}{s.level}</span> grade × level</p>'
        f'<p class="card"><span class="big">{num(s.fit)}</span> fit</p>'
        f'<p class="card"><span class="big">{num(s.engagement)}</span> engagement</p>'
        f'<p class="card"><span class="big">{num(s.intent)}</span> intent</p>'
        f"{_probability_card(lead.probability, lead.model_version)}"
        f'<p class="card">{_status(s.qualified)}</p></div>'
    )
    reasons = "".join(f"<li>{esc(r)}</li>" for r in s.reasons) or "<li>No reasons yet.</li>"
    crm_entries = table(
        ["CRM", "last version sent", "status", "error", "updated"],
        [
            [
                esc(e.get("crm")),
                esc(e.get("last_version")),
                esc(e.get("status")),
                esc(e.get("error") or ""),
                esc(e.get("updated_at")),
            ]
            for e in crm.entries
        ],
        caption="Sync ledger in crm-sync",
        empty="No sync recorded.",
    )
    crm_html = f"<p>CRM sync status: <strong>{esc(crm.detail)}</strong></p>" + (crm_entries if crm.known else "")
    chart = timeline(
        "Score over time (live ruleset, replayed from this lead's events)",
        lead.timeline,
        [(at, label) for at, label in lead.marks],
        summary=f"Score timeline of {len(lead.timeline)} points ending at {s.total:g}",
    )
    ledger_rows = [
        [
            when(row.occurred_at),
            f"<code>{esc(row.rule_id)}</code>",
            esc(row.group),
            f"{row.points:+.1f}",
            esc(_event_text(lead.events.get(row.event_id))),
            f"<code>{esc(row.ruleset_version)}</code>",
        ]
        for row in lead.ledger
    ]
    ledger = table(
        ["when", "rule", "group", "points", "event behind it", "ruleset"],
        ledger_rows,
        caption="Score ledger: every award, newest first (points as worth when awarded; they decay since)",
        empty="No points awarded.",
    )
    return (
        f"<p>{esc(who)} · {account} · scored with <code>{esc(s.ruleset_version)}</code> as of {when(s.as_of)}</p>"
        + cards
        + f'<section aria-labelledby="r-h"><h2 id="r-h">Reasons</h2><ul>{reasons}</ul></section>'
        + _lines_table(s)
        + f'<section aria-labelledby="crm-h"><h2 id="crm-h">CRM</h2>{crm_html}</section>'
        + f'<section aria-labelledby="t-h"><h2 id="t-h">Timeline</h2>{chart}</section>'
        + f'<section aria-labelledby="l-h"><h2 id="l-h">Ledger</h2>{ledger}</section>'
    )


def accounts_list(accounts: Sequence[tuple[str, int, float]], query: str) -> str:
    form = (
        f'<form method="get" action="{url("/accounts")}" class="row" role="search">'
        f'<label for="q">Account (domain) contains</label><input id="q" name="q" type="search" value="{esc(query)}">'
        '<button type="submit">Search</button></form>'
    )
    rows = [
        [f'<a href="{url(f"/accounts/{key}")}">{esc(key)}</a>', str(people), num(total)]
        for key, people, total in accounts
    ]
    return form + table(["account", "people", "summed score"], rows, caption="Accounts", empty="No account found.")


def account_page(detail: AccountDetail) -> str:
    a = detail.score
    cards = (
        f'<div class="cards"><p class="card"><span class="big">{esc(a.stage.upper())}</span> stage</p>'
        f'<p class="card"><span class="big">{a.active_people}</span> active this window (breadth)</p>'
        f'<p class="card"><span class="big">{a.people}</span> people</p>'
        f'<p class="card"><span class="big">{a.decision_makers}</span> decision makers</p>'
        f'<p class="card"><span class="big">{a.qualified_people}</span> qualified</p>'
        f'<p class="card"><span class="big">{esc(a.grade)}{a.level}</span> grade × level</p></div>'
    )
    facts = (
        f"<p>{esc(a.name or a.account_key)} · {esc(a.industry or 'industry unknown')} · "
        f"{esc(a.employees if a.employees is not None else '?')} employees · fit {num(a.fit)} · activity "
        f"{num(a.activity)}</p>"
    )
    reasons = "".join(f"<li>{esc(r)}</li>" for r in a.reasons) or "<li>No account signals yet.</li>"
    rows = [
        [
            f'<a href="{url(f"/leads/{p.person_key}")}">{esc(p.email or p.person_key[:12])}</a>',
            esc(p.traits.title or ""),
            num(p.score.total),
            f"{esc(p.score.grade)}{p.score.level}",
            _status(p.score.qualified),
            when(detail.active.get(p.person_key)),
        ]
        for p in detail.people
    ]
    people = table(
        ["person", "title", "score", "grade × level", "status", "last active"],
        rows,
        caption="People of this account, best scores first",
    )
    return cards + facts + f"<h2>Account signals</h2><ul>{reasons}</ul><h2>People</h2>{people}"
