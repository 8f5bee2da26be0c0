"""The page frame and small HTML builders. Every text value goes through :func:`esc`; only markup built here
is left unescaped, because lead names, reasons and rule text come from untrusted input."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from urllib.parse import quote, urlencode

BASE = "/console"
NAV = (
    ("rules", "Rules", f"{BASE}/rules"),
    ("preview", "Preview", f"{BASE}/preview"),
    ("signals", "Signals", f"{BASE}/signals"),
    ("insights", "Influence", f"{BASE}/insights"),
    ("leads", "Leads", f"{BASE}/leads"),
    ("accounts", "Accounts", f"{BASE}/accounts"),
    ("model", "Model", f"{BASE}/model"),
)


def esc(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def url(path: str, **query: object) -> str:
    """A console URL. The path is percent-quoted (it may hold a domain from event data), so the result is safe
    inside a quoted attribute and in a ``Location`` header."""
    params = {k: str(v) for k, v in query.items() if v is not None and v != ""}
    return f"{BASE}{quote(path, safe='/')}" + (f"?{urlencode(params)}" if params else "")


def when(at: datetime | None) -> str:
    """A timestamp people read (UTC, minutes) in a ``<time>`` element machines can read."""
    if at is None:
        return "—"
    return f'<time datetime="{esc(at.isoformat())}">{esc(at.strftime("%Y-%m-%d %H:%M"))} UTC</time>'


def num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


def signed(delta: float, digits: int = 0) -> str:
    return f"{delta:+,.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str, empty: str = "Nothing yet.") -> str:
    """Cells are HTML already (callers escape); a caption names the table for screen readers."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}">{esc(empty)}</td></tr>'
    return f"<table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def hidden(name: str, value: object) -> str:
    return f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">'


def post_form(action: str, csrf: str, inner: str, *, cls: str = "inline") -> str:
    return f'<form method="post" action="{esc(action)}" class="{cls}">{hidden("csrf", csrf)}{inner}</form>'


def notice(text: str, kind: str = "info") -> str:
    role = "alert" if kind == "error" else "status"
    return f'<p class="notice {kind}" role="{role}">{esc(text)}</p>'


def page(
    title: str,
    body: str,
    *,
    active: str,
    dev_open: bool,
    dev: bool,
    csrf: str | None,
    signed_in: bool,
    flash: str | None = None,
) -> str:
    nav = "".join(
        f'<li><a href="{href}"{" aria-current=page" if key == active else ""}>{esc(label)}</a></li>'
        for key, label, href in NAV
    )
    banner = ""
    if dev_open:
        banner = (
            '<p class="dev-banner" role="alert"><strong>DEV MODE — this console is OPEN:</strong> anyone who can '
            "reach this port can read leads and publish rules. Set CONSOLE_ADMIN_TOKEN and run outside "
            "PEERSCORE_ENV=dev before exposing it.</p>"
        )
    elif dev:
        banner = '<p class="dev-banner" role="status"><strong>DEV MODE</strong> (sign-in required).</p>'
    logout = ""
    if signed_in and csrf is not None and not dev_open:
        logout = post_form(f"{BASE}/logout", csrf, '<button type="submit" class="link">Sign out</button>')
    flash_html = notice(flash) if flash else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · Peerscore console</title>"
        f'<link rel="stylesheet" href="{BASE}/static/console.css">'
        f'<script src="{BASE}/static/console.js" defer></script></head><body>'
        '<a class="skip" href="#main">Skip to content</a>'
        f'{banner}<header><p class="brand"><a href="{BASE}/rules">Peerscore console</a></p>'
        f'<nav aria-label="Console"><ul>{nav}</ul></nav>{logout}</header>'
        f'<main id="main" tabindex="-1"><h1>{esc(title)}</h1>{flash_html}{body}</main></body></html>'
    )
