"""MQL alerts, pure: which transitions are alerted, where they are routed, and what Slack and Teams are sent."""

from __future__ import annotations

import json

from peerscore.crm_sync.domain.alerts import (
    Destination,
    alertable,
    destinations_for,
    route,
    slack_message,
    teams_message,
    view,
)
from tests.unit.crm_sync.factories import transition

CONSOLE = "https://console.example.com/"


def test_only_new_mqls_are_alerted_and_never_an_opted_out_one() -> None:
    assert alertable(transition(kind="qualified"))
    assert not alertable(transition(kind="updated"))
    assert not alertable(transition(kind="recycled"))
    withheld = transition()
    withheld = withheld.model_copy(update={"score": withheld.score.model_copy(update={"withheld": "opted_out"})})
    assert not alertable(withheld)


def test_an_empty_route_takes_every_mql_and_each_filter_narrows_it() -> None:
    t = transition(domain="EU.Acme.com", country="DE")
    everyone = Destination("all", "slack")
    emea = Destination("emea", "slack", route(territories=["de", "FR "]))
    us = Destination("us", "teams", route(territories=["US"]))
    acme = Destination("acme", "slack", route(domains=["www.acme.com"]))
    other = Destination("other", "slack", route(domains=["cme.com"]))
    by_company = Destination("company", "slack", route(territory_field="company", territories=["analytical"]))
    chosen = destinations_for(t, [everyone, emea, us, acme, other, by_company])
    assert [d.name for d in chosen] == ["all", "emea", "acme", "company"]
    assert destinations_for(transition(kind="updated"), [everyone]) == []


def test_product_lines_route_by_the_transition_else_the_default_line() -> None:
    core = Destination("core", "slack", route(product_lines=["Core"]))
    plain = transition()
    assert destinations_for(plain, [core]) == []  # no line named and no default: not this destination's lead
    assert destinations_for(plain, [core], default_product_line="core") == [core]
    analytics = plain.model_copy(update={"product_line": "analytics"})
    assert destinations_for(analytics, [core], default_product_line="core") == []
    assert destinations_for(plain.model_copy(update={"product_line": "CORE"}), [core]) == [core]


def test_the_view_names_the_lead_its_reasons_its_colleagues_and_links_the_console_page() -> None:
    t = transition(
        "p_7f3a",
        4,
        reasons=("Viewed pricing 3× in 7 days", "VP at a SaaS company", "Webinar", "Fourth"),
        probability=0.64,
        title="VP Engineering",
        domain="acme.com",
    ).model_copy(update={"active_colleagues": 2})
    v = view(t, CONSOLE)
    assert v.headline == "New MQL: Ada Lovelace"
    assert dict(v.facts) == {
        "Title": "VP Engineering",
        "Company": "Analytical (acme.com)",
        "Score": "72.5 · A3",
        "Likely to convert": "64%",
    }
    assert v.reasons == ("Viewed pricing 3× in 7 days", "VP at a SaaS company", "Webinar")
    assert v.colleagues == "2 colleagues at acme.com active recently"
    assert v.lead_url == "https://console.example.com/console/leads/p_7f3a"


def test_the_email_is_in_no_message_and_no_link() -> None:
    t = transition(email="ada@example.com")
    for message in (slack_message(view(t, CONSOLE)), teams_message(view(t, CONSOLE))):
        assert "ada@example.com" not in json.dumps(message)


def test_slack_gets_block_kit_with_a_header_reasons_colleagues_and_a_button() -> None:
    t = transition("p_1", domain="acme.com").model_copy(update={"active_colleagues": 1})
    message = slack_message(view(t, CONSOLE))
    assert message["text"] == "New MQL: Ada Lovelace"
    kinds = [b["type"] for b in message["blocks"]]
    assert kinds == ["header", "section", "section", "context", "actions"]
    assert "• Visited pricing 3 times" in message["blocks"][2]["text"]["text"]
    assert message["blocks"][3]["elements"][0]["text"] == "1 colleague at acme.com active recently"
    button = message["blocks"][4]["elements"][0]
    assert button["type"] == "button" and button["url"] == "https://console.example.com/console/leads/p_1"


def test_slack_control_characters_are_escaped_and_the_header_fits() -> None:
    t = transition(first_name="<!channel>", last_name="X" * 200, company="A & B")
    message = slack_message(view(t, CONSOLE))
    assert len(message["blocks"][0]["text"]["text"]) <= 150
    assert "&lt;!channel&gt;" in message["text"] and "<!channel>" not in message["text"]
    assert "A &amp; B" in json.dumps(message["blocks"][1])


def test_without_colleagues_or_reasons_those_blocks_are_left_out() -> None:
    message = slack_message(view(transition(reasons=()), CONSOLE))
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "actions"]


def test_teams_gets_an_adaptive_card_in_a_message_envelope() -> None:
    t = transition("p_2").model_copy(update={"active_colleagues": 3})
    message = teams_message(view(t, CONSOLE))
    assert message["type"] == "message"
    attachment = message["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    texts = [b.get("text", "") for b in card["body"]]
    assert "- Visited pricing 3 times\n- VP at a 500-person SaaS company" in texts
    assert any("3 colleagues" in text for text in texts)
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open in Peerscore", "url": "https://console.example.com/console/leads/p_2"}
    ]
