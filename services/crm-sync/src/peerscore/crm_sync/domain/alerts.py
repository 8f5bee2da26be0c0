"""MQL alerts, pure: which transitions are alerted, which destinations they are routed to, and what is said.

A destination (one Slack or Teams incoming webhook) is routed a lead when every filter it sets matches: its product
lines (the transition's ``product_line``, else the configured default line), its account domains (the lead's
domain or a subdomain of one) and its territory (one contact attribute, e.g. ``country``, among the listed values).
A filter left empty matches every lead.

**What is alerted:** ``qualified`` transitions only, a new MQL — including a lead that recycled and qualified again
(a new ``score.version``: hysteresis keeps that rare, and sales should hear about a buyer back in market). Updates
and recycles are the CRM's business, and a withheld (opted-out) score is never alerted. ``(person_key,
score.version)`` names the transition, so one destination alerts it at most once, whatever is redelivered.

The messages name the lead (name, title, company), never the email; the only link is the console's lead page,
whose path holds the person key (a hash), so no URL carries personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from peerscore.events import LeadTransition

DestinationKind = Literal["slack", "teams"]
TerritoryField = Literal["country", "domain", "company", "title"]
MAX_REASONS = 3
"""The top reasons shown: enough to say why now, few enough to read in a notification."""


@dataclass(frozen=True)
class Route:
    """The filters of one destination; an empty one matches every lead."""

    product_lines: frozenset[str] = frozenset()
    domains: tuple[str, ...] = ()
    territory_field: TerritoryField = "country"
    territories: frozenset[str] = frozenset()

    def matches(self, t: LeadTransition, default_product_line: str | None = None) -> bool:
        line = t.product_line or default_product_line
        if self.product_lines and (line is None or line.strip().lower() not in self.product_lines):
            return False
        domain = _domain(t.contact.domain)
        if self.domains and not any(domain == d or domain.endswith("." + d) for d in self.domains):
            return False
        value = getattr(t.contact, self.territory_field) or ""
        return not self.territories or value.strip().lower() in self.territories


def route(
    product_lines: Sequence[str] = (),
    domains: Sequence[str] = (),
    territory_field: TerritoryField = "country",
    territories: Sequence[str] = (),
) -> Route:
    """A :class:`Route` from configured values, compared case-insensitively (domains without ``www.``)."""
    return Route(
        product_lines=frozenset(p.strip().lower() for p in product_lines if p.strip()),
        domains=tuple(d for d in (_domain(d) for d in domains) if d),
        territory_field=territory_field,
        territories=frozenset(v.strip().lower() for v in territories if v.strip()),
    )


@dataclass(frozen=True)
class Destination:
    """``name`` keys the alert ledger: keep it stable, or every open alert of the destination is sent again."""

    name: str
    kind: DestinationKind
    route: Route = field(default_factory=Route)


def alertable(t: LeadTransition) -> bool:
    return t.kind == "qualified" and t.score.withheld is None


def destinations_for(
    t: LeadTransition, destinations: Sequence[Destination], default_product_line: str | None = None
) -> list[Destination]:
    if not alertable(t):
        return []
    return [d for d in destinations if d.route.matches(t, default_product_line)]


@dataclass(frozen=True)
class AlertView:
    """What an alert says, whatever the destination renders it as."""

    headline: str
    name: str
    facts: tuple[tuple[str, str], ...]
    reasons: tuple[str, ...]
    colleagues: str | None
    lead_url: str


def view(t: LeadTransition, console_base_url: str) -> AlertView:
    c, s = t.contact, t.score
    name = " ".join(p for p in (c.first_name, c.last_name) if p) or "A new lead"
    company = c.company or c.domain or ""
    if c.company and c.domain:
        company = f"{c.company} ({c.domain})"
    facts = [("Title", c.title or "—"), ("Company", company or "—"), ("Score", f"{s.total:g} · {s.grade}{s.level}")]
    if s.conversion_probability is not None:
        facts.append(("Likely to convert", f"{s.conversion_probability:.0%}"))
    if t.product_line:
        facts.append(("Product line", t.product_line))
    colleagues = None
    if t.active_colleagues:
        where = f" at {c.domain}" if c.domain else ""
        plural = "colleague" if t.active_colleagues == 1 else "colleagues"
        colleagues = f"{t.active_colleagues} {plural}{where} active recently"
    return AlertView(
        headline=f"New MQL: {name}",
        name=name,
        facts=tuple(facts),
        reasons=tuple(s.reasons[:MAX_REASONS]),
        colleagues=colleagues,
        lead_url=f"{console_base_url.rstrip('/')}/console/leads/{t.person_key}",
    )


def render(kind: DestinationKind, alert: AlertView) -> dict[str, Any]:
    return slack_message(alert) if kind == "slack" else teams_message(alert)


def slack_message(alert: AlertView) -> dict[str, Any]:
    """A Block Kit message for an incoming webhook: header, facts, reasons, colleagues, a button to the console;
    ``text`` is the notification's fallback."""
    fields = [{"type": "mrkdwn", "text": f"*{label}*\n{_slack(value)}"} for label, value in alert.facts]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.headline[:150]}},
        {"type": "section", "fields": fields[:10]},
    ]
    if alert.reasons:
        lines = "\n".join(f"• {_slack(r)}" for r in alert.reasons)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Why now*\n{lines}"[:3000]}})
    if alert.colleagues:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _slack(alert.colleagues)}]})
    button = {"type": "button", "text": {"type": "plain_text", "text": "Open in Peerscore"}, "url": alert.lead_url}
    blocks.append({"type": "actions", "elements": [{**button, "action_id": "open_lead"}]})
    return {"text": _slack(alert.headline), "blocks": blocks}


def teams_message(alert: AlertView) -> dict[str, Any]:
    """An Adaptive Card in the message envelope Teams incoming webhooks (Workflows) take."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": alert.headline, "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "FactSet", "facts": [{"title": label, "value": value} for label, value in alert.facts]},
    ]
    if alert.reasons:
        body.append({"type": "TextBlock", "text": "Why now", "weight": "Bolder", "wrap": True})
        body.append({"type": "TextBlock", "text": "\n".join(f"- {r}" for r in alert.reasons), "wrap": True})
    if alert.colleagues:
        body.append({"type": "TextBlock", "text": alert.colleagues, "isSubtle": True, "wrap": True})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": "Open in Peerscore", "url": alert.lead_url}],
    }
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
    return {"type": "message", "attachments": [attachment]}


def _slack(text: str) -> str:
    """Slack's three control characters escaped, so a company called ``<!channel>`` pings nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _domain(value: str | None) -> str:
    d = (value or "").strip().lower().rstrip(".")
    return d.removeprefix("www.")
