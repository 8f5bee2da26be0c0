"""``/console/rules``: the live ruleset and its history, a version, the form and YAML editors, diffs.

Publishing and rolling back are in :mod:`.publish_pages`; what these pages read and store, in :mod:`.rules_state`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from peerscore.errors import NotFound
from peerscore.scoring.deps import EngineDep
from peerscore.scoring.domain.errors import RulesetError, RulesetProblem
from peerscore.scoring.domain.ruleset import parse_ruleset
from peerscore.scoring.rulesets import ruleset_registry

from . import editor_html, rules_html
from .html import notice
from .rules_form import form_from_post, form_from_yaml, place_problems, yaml_from_form
from .rules_state import base_text, comparison, groups_of, registry_state, save, stored_version
from .web import Console, Posted, SignedIn, WebDep, flash_from

router = APIRouter()
NO_PROBLEMS = "No problems found. Save the draft to preview or publish it."


@router.get("/rules", response_class=HTMLResponse)
def overview(request: Request, deps: Console, web: WebDep, sess: SignedIn, engine: EngineDep) -> Response:
    st = registry_state(deps, engine)
    current = deps.live.current()
    body = rules_html.overview(
        name=deps.ruleset_name,
        live=st.live,
        serving=current.version,
        summary=ruleset_registry.summary(current),
        versions=st.versions,
        publications=st.publications,
        can_roll_back=len(st.stack) >= 2,
        csrf=sess.csrf,
    )
    return web.page(sess, "Rules", body, active="rules", flash=flash_from(request))


@router.get("/rules/v/{version}", response_class=HTMLResponse)
def version_page(version: str, deps: Console, web: WebDep, sess: SignedIn, engine: EngineDep) -> Response:
    row = stored_version(engine, version)
    try:
        parse_ruleset(row.yaml)
        problems: list[str] = []
    except RulesetError as exc:
        problems = [str(p) for p in exc.errors]
    live = registry_state(deps, engine).live
    body = rules_html.version_page(row, live.version if live else None, problems, sess.csrf)
    return web.page(sess, f"Version {version}", body, active="rules")


@router.get("/rules/edit", response_class=HTMLResponse)
def edit_form(deps: Console, web: WebDep, sess: SignedIn, engine: EngineDep, base: str = "") -> Response:
    text, label = base_text(deps, engine, base)
    form = form_from_yaml(text, base)
    body = editor_html.form_editor(form, place_problems(form, []), groups_of(text), sess.csrf, base_label=label)
    return web.page(sess, "Edit rules", body, active="rules")


@router.post("/rules/edit", response_class=HTMLResponse)
async def edit_submit(deps: Console, web: WebDep, posted: Posted, engine: EngineDep) -> Response:
    sess = posted.session
    form = form_from_post(posted.fields, posted.checked)
    text, label = await run_in_threadpool(base_text, deps, engine, form.base)
    candidate, problems = yaml_from_form(form, text)
    try:
        parse_ruleset(candidate)
    except RulesetError as exc:
        problems = [*problems, *exc.errors]
    placed = place_problems(form, problems)
    if not problems and posted.fields.get("action") == "save":
        try:
            row, created, diff = await run_in_threadpool(save, deps, engine, candidate)
        except RulesetError as exc:
            placed = place_problems(form, exc.errors)
        except ruleset_registry.RulesetRegistryError as exc:
            placed.general.append(str(exc))
        else:
            return web.page(sess, "Draft saved", rules_html.saved_page(row, created, diff, None), active="rules")
    body = editor_html.form_editor(form, placed, groups_of(text), sess.csrf, base_label=label)
    if not placed.count:
        body = notice(NO_PROBLEMS) + body
    return web.page(sess, "Edit rules", body, active="rules", status_code=422 if placed.count else 200)


@router.get("/rules/yaml", response_class=HTMLResponse)
def yaml_form(deps: Console, web: WebDep, sess: SignedIn, engine: EngineDep, base: str = "") -> Response:
    text, _ = base_text(deps, engine, base)
    return web.page(sess, "Edit YAML", editor_html.yaml_editor(text, base, [], sess.csrf), active="rules")


@router.post("/rules/yaml", response_class=HTMLResponse)
async def yaml_submit(deps: Console, web: WebDep, posted: Posted, engine: EngineDep) -> Response:
    sess = posted.session
    text = posted.fields.get("yaml", "").replace("\r\n", "\n")
    problems: list[RulesetProblem] = []
    try:
        parse_ruleset(text)
    except RulesetError as exc:
        problems = list(exc.errors)
    if not problems and posted.fields.get("action") == "save":
        try:
            row, created, diff = await run_in_threadpool(save, deps, engine, text)
        except RulesetError as exc:
            problems = list(exc.errors)
        except ruleset_registry.RulesetRegistryError as exc:
            problems = [RulesetProblem(line=None, path="version", message=str(exc))]
        else:
            return web.page(sess, "Draft saved", rules_html.saved_page(row, created, diff, None), active="rules")
    body = editor_html.yaml_editor(text, posted.fields.get("base", ""), problems, sess.csrf)
    if not problems:
        body = notice(NO_PROBLEMS) + body
    return web.page(sess, "Edit YAML", body, active="rules", status_code=422 if problems else 200)


@router.get("/rules/diff", response_class=HTMLResponse)
def diff(deps: Console, web: WebDep, sess: SignedIn, engine: EngineDep, a: str = "", b: str = "") -> Response:
    st = registry_state(deps, engine)
    if not st.versions:
        return web.page(sess, "Compare versions", notice("No stored versions yet."), active="rules")
    a = a or (st.live.version if st.live else st.versions[-1].version)
    b = b or next((v.version for v in st.versions if v.version != a), a)
    rows = {v.version: v for v in st.versions}
    if a not in rows or b not in rows:
        raise NotFound("no such version")
    body = rules_html.diff_page(st.versions, a, b, comparison(rows[a].yaml, rows[b].yaml, a, b))
    return web.page(sess, "Compare versions", body, active="rules")
