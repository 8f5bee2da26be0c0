"""``/console/leads``, ``/console/accounts`` and ``/console/model``: the explorer and the model page."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session as DbSession

from peerscore.api import deprecate_email_in_url
from peerscore.errors import NotFound
from peerscore.scoring.deps import EngineDep
from peerscore.scoring.predictive import model_registry

from . import lead_html as pages
from .auth import Session
from .leads import SearchBy, account_detail, account_keys, lead_detail, search
from .model_html import model_body
from .web import Console, Posted, SignedIn, Web, WebDep

router = APIRouter()


def _leads_page(engine: Engine, web: Web, sess: Session, q: str, by: str) -> Response:
    by = by if by in ("email", "domain", "account") else "email"
    body = pages.search_form(q, by, sess.csrf)
    if by == "account" and q.strip():
        body += pages.accounts_list(account_keys(engine, q), q)
    else:
        body += pages.results(search(engine, q[:320], cast(SearchBy, by)), q)
    return web.page(sess, "Leads", body, active="leads")


@router.get("/leads", response_class=HTMLResponse)
def leads(web: WebDep, sess: SignedIn, engine: EngineDep, q: str = "", by: str = "email") -> Response:
    page = _leads_page(engine, web, sess, q, by)
    if q:  # one release: links and bookmarks with ?q= keep working, marked deprecated
        deprecate_email_in_url(page, endpoint="GET /console/leads?q=", successor="/console/leads")
    return page


@router.post("/leads", response_class=HTMLResponse)
async def leads_search(web: WebDep, posted: Posted, engine: EngineDep) -> Response:
    """The search form posts here, so the query (often an email) stays out of URLs and logs."""
    fields = posted.fields
    return _leads_page(engine, web, posted.session, fields.get("q", ""), fields.get("by", "email"))


@router.get("/leads/{person_key}", response_class=HTMLResponse)
async def lead(person_key: str, deps: Console, web: WebDep, sess: SignedIn, engine: EngineDep) -> Response:
    detail = await run_in_threadpool(lead_detail, engine, person_key, deps.live.current())
    if detail is None:
        raise NotFound("no such lead")
    crm = await deps.crm.status(person_key)
    title = f"Lead {detail.email or person_key[:12]}"
    return web.page(sess, title, pages.lead_page(detail, crm), active="leads")


@router.get("/accounts", response_class=HTMLResponse)
def accounts(web: WebDep, sess: SignedIn, engine: EngineDep, q: str = "") -> Response:
    body = pages.accounts_list(account_keys(engine, q[:255]), q)
    return web.page(sess, "Accounts", body, active="accounts")


@router.get("/accounts/{account_key}", response_class=HTMLResponse)
def account(account_key: str, deps: Console, web: WebDep, sess: SignedIn, engine: EngineDep) -> Response:
    detail = account_detail(engine, account_key, deps.live.current())
    if detail is None:
        raise NotFound("no such account")
    return web.page(sess, f"Account {detail.score.account_key}", pages.account_page(detail), active="accounts")


@router.get("/model", response_class=HTMLResponse)
def model(web: WebDep, sess: SignedIn, engine: EngineDep) -> Response:
    with DbSession(engine) as session:
        versions, roles = model_registry.versions(session), model_registry.current_roles(session)
    return web.page(sess, "Predictive model", model_body(versions, roles), active="model")
