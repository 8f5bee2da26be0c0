"""``/console/rules``: the live ruleset and its history, the form and YAML editors, diffs, publish, roll back."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from peerscore.events import utcnow
from peerscore.scoring.domain.errors import RulesetError, RulesetProblem
from peerscore.scoring.domain.ruleset import parse_ruleset
from peerscore.scoring.rulesets import ruleset_registry
from peerscore.scoring.rulesets.models import RulesetPublicationRow, RulesetVersionRow
from peerscore.scoring.rulesets.views import RulesetVersionView

from . import rules_html as pages
from .changes import ruleset_changes
from .html import notice, url
from .rules_form import form_from_post, form_from_yaml, place_problems, yaml_from_form
from .web import ConsoleDeps, Web, flash_from


@dataclass(frozen=True)
class RegistryState:
    live: RulesetVersionRow | None
    versions: list[RulesetVersionRow]
    publications: list[RulesetPublicationRow]
    stack: list[str]


def rules_routes(deps: ConsoleDeps, web: Web) -> APIRouter:
    router = APIRouter()
    name = deps.ruleset_name

    def state() -> RegistryState:
        with Session(deps.engine) as session:
            versions = ruleset_registry.list_versions(session, name=name)
            pubs = list(
                session.exec(
                    select(RulesetPublicationRow)
                    .where(RulesetPublicationRow.name == name)
                    .order_by(col(RulesetPublicationRow.id))
                ).all()
            )
            stack = ruleset_registry.live_stack((p.action, p.version) for p in pubs)
            live = next((v for v in versions if stack and v.version == stack[-1]), None)
            return RegistryState(live, versions, pubs, stack)

    def base_text(base: str) -> tuple[str, str]:
        """The YAML an edit starts from and its label: a stored version, else the live one, else the default."""
        with Session(deps.engine) as session:
            if base:
                try:
                    row = ruleset_registry.get_version(session, base)
                except ruleset_registry.RulesetNotFound:
                    raise HTTPException(404, f"no ruleset version {base}") from None
                return row.yaml, f"version {row.version}"
            live = ruleset_registry.live_version(session, name)
        if live is not None:
            return live.yaml, f"the live version {live.version}"
        return deps.default_text(), "the configured default ruleset"

    def live_text() -> tuple[str, str]:
        text, _ = base_text("")
        with Session(deps.engine) as session:
            live = ruleset_registry.live_version(session, name)
        return text, live.version if live else deps.live.current().version

    def expected(version: str) -> pages.ExpectedChange | None:
        found = deps.latest_done_preview(version)
        if found is None:
            return None
        job_id, period, view = found
        report = view.report
        assert report is not None
        serving = deps.live.current().version
        return pages.ExpectedChange(
            job_id, period, report.live_version, report.mqls_before, report.mqls_after, report.live_version != serving
        )

    def groups_of(text: str) -> list[str]:
        try:
            return list(parse_ruleset(text).groups)
        except RulesetError:
            return ["fit", "engagement", "intent"]

    def save(text: str) -> tuple[RulesetVersionRow, bool, str]:
        with Session(deps.engine) as session, session.begin():
            stored = ruleset_registry.store_draft(session, text=text, now=utcnow())
            row = RulesetVersionRow.model_validate(stored.row, from_attributes=True)
        old, live_version = live_text()
        return row, stored.created, comparison(old, text, f"live {live_version}", row.version)

    def comparison(old: str, new: str, old_label: str, new_label: str) -> str:
        """Rule-by-rule changes first, the YAML text diff (comments and layout too) folded away under them."""
        text = pages.diff_html(ruleset_registry.unified_diff(old, new, old_label=old_label, new_label=new_label))
        try:
            meaning = pages.changes_html(ruleset_changes(parse_ruleset(old), parse_ruleset(new)))
        except RulesetError:  # a version stored under older validation rules: the text diff still helps
            return text
        return f"{meaning}<details><summary>Text diff of the YAML</summary>{text}</details>"

    @router.get("/rules", response_class=HTMLResponse)
    def overview(request: Request) -> Response:
        sess = web.session(request)
        st = state()
        current = deps.live.current()
        body = pages.overview(
            name=name,
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
    def version_page(request: Request, version: str) -> Response:
        sess = web.session(request)
        with Session(deps.engine) as session:
            try:
                row = ruleset_registry.get_version(session, version)
            except ruleset_registry.RulesetNotFound:
                raise HTTPException(404, f"no ruleset version {version}") from None
        try:
            parse_ruleset(row.yaml)
            problems: list[str] = []
        except RulesetError as exc:
            problems = [str(p) for p in exc.errors]
        live = state().live
        body = pages.version_page(row, live.version if live else None, problems, sess.csrf)
        return web.page(sess, f"Version {version}", body, active="rules")

    @router.get("/rules/edit", response_class=HTMLResponse)
    def edit_form(request: Request, base: str = "") -> Response:
        sess = web.session(request)
        text, label = base_text(base)
        form = form_from_yaml(text, base)
        body = pages.form_editor(form, place_problems(form, []), groups_of(text), sess.csrf, base_label=label)
        return web.page(sess, "Edit rules", body, active="rules")

    @router.post("/rules/edit", response_class=HTMLResponse)
    async def edit_submit(request: Request) -> Response:
        sess, fields, checked = await web.form(request)
        form = form_from_post(fields, checked)
        text, label = await run_in_threadpool(base_text, form.base)
        candidate, problems = yaml_from_form(form, text)
        try:
            parse_ruleset(candidate)
        except RulesetError as exc:
            problems = [*problems, *exc.errors]
        placed = place_problems(form, problems)
        if not problems and fields.get("action") == "save":
            try:
                row, created, diff = await run_in_threadpool(save, candidate)
            except RulesetError as exc:
                placed = place_problems(form, exc.errors)
            except ruleset_registry.RulesetRegistryError as exc:
                placed.general.append(str(exc))
            else:
                return web.page(sess, "Draft saved", pages.saved_page(row, created, diff, None), active="rules")
        body = pages.form_editor(form, placed, groups_of(text), sess.csrf, base_label=label)
        if not placed.count:
            body = notice("No problems found. Save the draft to preview or publish it.") + body
        return web.page(sess, "Edit rules", body, active="rules", status_code=422 if placed.count else 200)

    @router.get("/rules/yaml", response_class=HTMLResponse)
    def yaml_form(request: Request, base: str = "") -> Response:
        sess = web.session(request)
        text, _ = base_text(base)
        return web.page(sess, "Edit YAML", pages.yaml_editor(text, base, [], sess.csrf), active="rules")

    @router.post("/rules/yaml", response_class=HTMLResponse)
    async def yaml_submit(request: Request) -> Response:
        sess, fields, _ = await web.form(request)
        text = fields.get("yaml", "").replace("\r\n", "\n")
        problems: list[RulesetProblem] = []
        try:
            parse_ruleset(text)
        except RulesetError as exc:
            problems = list(exc.errors)
        if not problems and fields.get("action") == "save":
            try:
                row, created, diff = await run_in_threadpool(save, text)
            except RulesetError as exc:
                problems = list(exc.errors)
            except ruleset_registry.RulesetRegistryError as exc:
                problems = [RulesetProblem(line=None, path="version", message=str(exc))]
            else:
                return web.page(sess, "Draft saved", pages.saved_page(row, created, diff, None), active="rules")
        body = pages.yaml_editor(text, fields.get("base", ""), problems, sess.csrf)
        if not problems:
            body = notice("No problems found. Save the draft to preview or publish it.") + body
        return web.page(sess, "Edit YAML", body, active="rules", status_code=422 if problems else 200)

    @router.get("/rules/diff", response_class=HTMLResponse)
    def diff(request: Request, a: str = "", b: str = "") -> Response:
        sess = web.session(request)
        st = state()
        if not st.versions:
            return web.page(sess, "Compare versions", notice("No stored versions yet."), active="rules")
        a = a or (st.live.version if st.live else st.versions[-1].version)
        b = b or next((v.version for v in st.versions if v.version != a), a)
        rows = {v.version: v for v in st.versions}
        if a not in rows or b not in rows:
            raise HTTPException(404, "no such version")
        body = pages.diff_page(st.versions, a, b, comparison(rows[a].yaml, rows[b].yaml, a, b))
        return web.page(sess, "Compare versions", body, active="rules")

    @router.get("/rules/v/{version}/publish", response_class=HTMLResponse)
    def publish_confirm(request: Request, version: str) -> Response:
        sess = web.session(request)
        st = state()
        if version not in {v.version for v in st.versions}:
            raise HTTPException(404, f"no ruleset version {version}")
        live = st.live.version if st.live else deps.live.current().version
        body = pages.publish_confirm(version, live, expected(version), sess.csrf, first=not st.stack)
        target = next(v for v in st.versions if v.version == version)
        live_yaml, _ = base_text("")
        body += f"<h2>What changes</h2>{comparison(live_yaml, target.yaml, f'live {live}', version)}"
        return web.page(sess, f"Publish {version}?", body, active="rules")

    def publish_with_baseline(version: str) -> RulesetVersionView:
        """The first publish also publishes the configured default first, so there is a version to roll back to."""
        if not state().stack:
            with Session(deps.engine) as session, session.begin():
                baseline = ruleset_registry.store_draft(session, text=deps.default_text(), now=utcnow()).row.version
            if baseline != version:
                deps.actions.publish(baseline)
        return deps.actions.publish(version)

    @router.post("/rules/v/{version}/publish", response_class=HTMLResponse)
    async def publish(request: Request, version: str) -> Response:
        sess, _, _ = await web.form(request)
        try:
            view = await run_in_threadpool(publish_with_baseline, version)
        except HTTPException as exc:
            body = notice(f"Not published: {exc.detail}", "error") + f'<p><a href="{url("/rules")}">Back</a></p>'
            return web.page(sess, "Publish failed", body, active="rules", status_code=exc.status_code)
        return web.redirect(sess, url("/rules", msg="published", v=view.version))

    @router.get("/rules/rollback", response_class=HTMLResponse)
    def rollback_confirm(request: Request) -> Response:
        sess = web.session(request)
        st = state()
        if len(st.stack) < 2:
            body = notice("There is no earlier published version to roll back to.", "warn")
            return web.page(sess, "Roll back", body, active="rules", status_code=409)
        current, target = st.stack[-1], st.stack[-2]
        body = pages.rollback_confirm(current, target, expected(target), sess.csrf)
        return web.page(sess, f"Roll back to {target}?", body, active="rules")

    @router.post("/rules/rollback", response_class=HTMLResponse)
    async def rollback(request: Request) -> Response:
        sess, _, _ = await web.form(request)
        try:
            view = await run_in_threadpool(deps.actions.rollback)
        except HTTPException as exc:
            body = notice(f"Not rolled back: {exc.detail}", "error") + f'<p><a href="{url("/rules")}">Back</a></p>'
            return web.page(sess, "Roll back failed", body, active="rules", status_code=exc.status_code)
        return web.redirect(sess, url("/rules", msg="rolledback", v=view.version))

    return router
