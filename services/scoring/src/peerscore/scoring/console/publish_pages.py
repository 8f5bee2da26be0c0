"""``/console/rules/v/{version}/publish`` and ``/console/rules/rollback``: confirm, then change what is live.

Both go through the ruleset API's publishing object (:class:`.actions.RulesetActions`), so a failure reads the
same here as on ``/v1/rulesets``: the page shows the API's message with its status (404, 409, 503 to retry).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from peerscore.errors import ApiError, NotFound
from peerscore.scoring.deps import EngineDep

from . import rules_html
from .html import notice, url
from .rules_state import base_text, comparison, expected, publish_with_baseline, registry_state
from .web import Console, Posted, SignedIn, WebDep

router = APIRouter()
BACK = f'<p><a href="{url("/rules")}">Back</a></p>'


@router.get("/rules/v/{version}/publish", response_class=HTMLResponse)
def publish_confirm(version: str, deps: Console, web: WebDep, sess: SignedIn, engine: EngineDep) -> Response:
    st = registry_state(deps, engine)
    if version not in {v.version for v in st.versions}:
        raise NotFound(f"no ruleset version {version}")
    live = st.live.version if st.live else deps.live.current().version
    body = rules_html.publish_confirm(version, live, expected(deps, version), sess.csrf, first=not st.stack)
    target = next(v for v in st.versions if v.version == version)
    live_yaml, _ = base_text(deps, engine, "")
    body += f"<h2>What changes</h2>{comparison(live_yaml, target.yaml, f'live {live}', version)}"
    return web.page(sess, f"Publish {version}?", body, active="rules")


@router.post("/rules/v/{version}/publish", response_class=HTMLResponse)
async def publish(version: str, deps: Console, web: WebDep, posted: Posted, engine: EngineDep) -> Response:
    sess = posted.session
    try:
        view = await run_in_threadpool(publish_with_baseline, deps, engine, version)
    except ApiError as exc:  # the API's own error, shown as a page
        body = notice(f"Not published: {exc.detail}", "error") + BACK
        return web.page(sess, "Publish failed", body, active="rules", status_code=exc.status_code)
    return web.redirect(sess, url("/rules", msg="published", v=view.version))


@router.get("/rules/rollback", response_class=HTMLResponse)
def rollback_confirm(deps: Console, web: WebDep, sess: SignedIn, engine: EngineDep) -> Response:
    st = registry_state(deps, engine)
    if len(st.stack) < 2:
        body = notice("There is no earlier published version to roll back to.", "warn")
        return web.page(sess, "Roll back", body, active="rules", status_code=409)
    current, target = st.stack[-1], st.stack[-2]
    body = rules_html.rollback_confirm(current, target, expected(deps, target), sess.csrf)
    return web.page(sess, f"Roll back to {target}?", body, active="rules")


@router.post("/rules/rollback", response_class=HTMLResponse)
async def rollback(deps: Console, web: WebDep, posted: Posted, engine: EngineDep) -> Response:
    sess = posted.session
    try:
        view = await run_in_threadpool(deps.actions.rollback, engine)
    except ApiError as exc:  # the API's own error, shown as a page
        body = notice(f"Not rolled back: {exc.detail}", "error") + BACK
        return web.page(sess, "Roll back failed", body, active="rules", status_code=exc.status_code)
    return web.redirect(sess, url("/rules", msg="rolledback", v=view.version))
