"""``GET /crm``: the local CRM as one plain HTML page, so a newcomer can watch leads arrive in a browser.

Server-rendered with no scripts or CDN assets (works offline and under a strict CSP); every value is escaped
because names, titles and reasons come from untrusted event data.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from peerscore.crm_sync.domain.mapping import LeadStatus
from peerscore.crm_sync.lead_routes import SessionDep, display_name
from peerscore.crm_sync.models import CrmLead
from peerscore.crm_sync.queries import list_leads

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .4rem .6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; } ul { margin: 0; padding-left: 1.1rem; }
td.MQL { color: #0a6b2e; font-weight: 600; } td.Recycled { color: #8a5a00; }
"""

_COLUMNS = (
    "Name",
    "Email",
    "Company",
    "Title",
    "Score",
    "Probability",
    "Grade",
    "Level",
    "Status",
    "Reasons",
    "Version",
    "Synced at",
)


def render_page(leads: Sequence[CrmLead], *, status: str | None = None) -> str:
    title = "Local CRM" + (f" — {status}" if status else "")
    header = "".join(f"<th>{escape(c)}</th>" for c in _COLUMNS)
    empty = f'<tr><td colspan="{len(_COLUMNS)}">No leads yet.</td></tr>'
    body = "".join(_row(lead) for lead in leads) or empty
    return (
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        '<p>Leads synced by Peerscore, newest first. Filter: <a href="?status=MQL">MQL</a> · '
        '<a href="?status=Recycled">Recycled</a> · <a href="?">all</a></p>'
        f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
        "</body></html>"
    )


def _row(lead: CrmLead) -> str:
    """One table row; text goes through ``escape`` and only the markup built here is left as is."""
    reasons = "".join(f"<li>{escape(r)}</li>" for r in lead.reasons)
    status = escape(lead.status)
    cells = [
        f"<td>{escape(display_name(lead) or '')}</td>",
        f"<td>{escape(lead.email)}</td>",
        f"<td>{escape(lead.company or '')}</td>",
        f"<td>{escape(lead.title or '')}</td>",
        f'<td class="num">{lead.score:.1f}</td>',
        f'<td class="num">{"" if lead.probability is None else f"{lead.probability:.0%}"}</td>',
        f"<td>{escape(lead.grade)}</td>",
        f'<td class="num">{lead.level}</td>',
        f'<td class="{status}">{status}{_lines(lead)}</td>',
        f"<td><ul>{reasons}</ul></td>" if reasons else "<td></td>",
        f'<td class="num">{lead.version}</td>',
        f"<td>{escape(lead.synced_at.isoformat(timespec='seconds'))}</td>",
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def _lines(lead: CrmLead) -> str:
    """Each product line's status, score and grade under the lead's own status ("cloud: MQL · 65.0 · A")."""
    if not lead.lines:
        return ""
    items = "".join(
        f"<li>{escape(name)}: {escape(str(line.get('status', '')))} · {float(line.get('score', 0)):.1f} · "
        f"{escape(str(line.get('grade', '')))}</li>"
        for name, line in sorted(lead.lines.items())
    )
    return f'<ul class="lines">{items}</ul>'


router = APIRouter(tags=["crm"])
"""The page shows personal data too: the app includes it behind the same bearer dependency as the JSON API."""


@router.get("/crm", response_class=HTMLResponse)
def crm_page(
    session: SessionDep,
    lead_status: Annotated[LeadStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> HTMLResponse:
    leads = list_leads(session, status=lead_status, limit=limit)
    return HTMLResponse(render_page(leads, status=lead_status))
