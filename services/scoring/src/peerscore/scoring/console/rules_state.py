"""What the rules pages read and write in the ruleset registry, apart from HTTP so each step has a name.

The pages show the registry's view (stored versions, the publication log and the stack of live versions it
replays to); storing and publishing go through the same registry functions and publishing object as the API.
Each step is given the app's engine by the page that calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from peerscore.errors import NotFound
from peerscore.events import utcnow
from peerscore.scoring.domain.errors import RulesetError
from peerscore.scoring.domain.ruleset import parse_ruleset
from peerscore.scoring.rulesets import ruleset_registry
from peerscore.scoring.rulesets.models import RulesetPublicationRow, RulesetVersionRow
from peerscore.scoring.rulesets.views import RulesetVersionView

from .changes import ruleset_changes
from .rules_html import ExpectedChange, changes_html, diff_html
from .web import ConsoleDeps

DEFAULT_GROUPS = ["fit", "engagement", "intent"]


@dataclass(frozen=True)
class RegistryState:
    live: RulesetVersionRow | None
    versions: list[RulesetVersionRow]
    publications: list[RulesetPublicationRow]
    stack: list[str]


def registry_state(deps: ConsoleDeps, engine: Engine) -> RegistryState:
    with Session(engine) as session:
        versions = ruleset_registry.list_versions(session, name=deps.ruleset_name)
        pubs = list(
            session.exec(
                select(RulesetPublicationRow)
                .where(RulesetPublicationRow.name == deps.ruleset_name)
                .order_by(col(RulesetPublicationRow.id))
            ).all()
        )
        stack = ruleset_registry.live_stack((p.action, p.version) for p in pubs)
        live = next((v for v in versions if stack and v.version == stack[-1]), None)
        return RegistryState(live, versions, pubs, stack)


def stored_version(engine: Engine, version: str) -> RulesetVersionRow:
    with Session(engine) as session:
        try:
            return ruleset_registry.get_version(session, version)
        except ruleset_registry.RulesetNotFound:
            raise NotFound(f"no ruleset version {version}") from None


def base_text(deps: ConsoleDeps, engine: Engine, base: str) -> tuple[str, str]:
    """The YAML an edit starts from and its label: a stored version, else the live one, else the default."""
    if base:
        row = stored_version(engine, base)
        return row.yaml, f"version {row.version}"
    with Session(engine) as session:
        live = ruleset_registry.live_version(session, deps.ruleset_name)
    if live is not None:
        return live.yaml, f"the live version {live.version}"
    return deps.default_text(), "the configured default ruleset"


def live_text(deps: ConsoleDeps, engine: Engine) -> tuple[str, str]:
    """The live YAML and its version (the serving version when nothing was ever published)."""
    text, _ = base_text(deps, engine, "")
    with Session(engine) as session:
        live = ruleset_registry.live_version(session, deps.ruleset_name)
    return text, live.version if live else deps.live.current().version


def expected(deps: ConsoleDeps, version: str) -> ExpectedChange | None:
    """What the newest finished preview of ``version`` said, to show before it goes live."""
    found = deps.latest_done_preview(version)
    if found is None:
        return None
    job_id, period, view = found
    report = view.report
    assert report is not None
    serving = deps.live.current().version
    return ExpectedChange(
        job_id, period, report.live_version, report.mqls_before, report.mqls_after, report.live_version != serving
    )


def groups_of(text: str) -> list[str]:
    """The groups a new rule may join: the edited ruleset's, else the default three."""
    try:
        return list(parse_ruleset(text).groups)
    except RulesetError:
        return list(DEFAULT_GROUPS)


def save(deps: ConsoleDeps, engine: Engine, text: str) -> tuple[RulesetVersionRow, bool, str]:
    """Store a draft; returns it, whether it is new, and how it differs from the live version."""
    with Session(engine) as session, session.begin():
        stored = ruleset_registry.store_draft(session, text=text, now=utcnow())
        row = RulesetVersionRow.model_validate(stored.row, from_attributes=True)
    old, live_version = live_text(deps, engine)
    return row, stored.created, comparison(old, text, f"live {live_version}", row.version)


def comparison(old: str, new: str, old_label: str, new_label: str) -> str:
    """Rule-by-rule changes first, the YAML text diff (comments and layout too) folded away under them."""
    text = diff_html(ruleset_registry.unified_diff(old, new, old_label=old_label, new_label=new_label))
    try:
        meaning = changes_html(ruleset_changes(parse_ruleset(old), parse_ruleset(new)))
    except RulesetError:  # a version stored under older validation rules: the text diff still helps
        return text
    return f"{meaning}<details><summary>Text diff of the YAML</summary>{text}</details>"


def publish_with_baseline(deps: ConsoleDeps, engine: Engine, version: str) -> RulesetVersionView:
    """The first publish also publishes the configured default first, so there is a version to roll back to."""
    if not registry_state(deps, engine).stack:
        with Session(engine) as session, session.begin():
            baseline = ruleset_registry.store_draft(session, text=deps.default_text(), now=utcnow()).row.version
        if baseline != version:
            deps.actions.publish(engine, baseline)
    return deps.actions.publish(engine, version)
