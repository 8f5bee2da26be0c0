"""Online prediction: once per polled batch, the champion (and a shadow challenger) score the touched leads.

The worker calls :meth:`BatchPredictor.after_batch` once, inside the batch's transaction, after the rules have
been applied. It builds the features of every person the batch touched (:mod:`.features`, the training code),
makes ONE predict call per model, records both probabilities while a challenger runs in shadow
(``model_prediction``: only the champion acts), adds the champion's probability to the lead's stored and
published score, qualifies leads whose
probability reaches the ruleset's ``qualify.min_probability``, and explains (``pred_contrib``, costly) only the
leads that cross a threshold: reaching the reason threshold from below, or qualified by the model.

A newly promoted model is picked up without a restart: at most every ``check_interval_s`` the predictor reads
the newest promotion id (one tiny query per batch, never per event) and reloads when it moved.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import orjson
import structlog
from prometheus_client import CollectorRegistry, Gauge, Histogram
from sqlalchemy import insert
from sqlmodel import Session

from peerscore.events import LeadScore, LeadTransition, utcnow
from peerscore.kafka_io import OutgoingRecord, record
from peerscore.scoring.domain.reasons import colleagues_active
from peerscore.scoring.domain.ruleset import Ruleset
from peerscore.scoring.domain.state import AccountState, PersonState, lead_contact
from peerscore.topics import Topics

from . import model_registry
from .calibration import calibrate
from .explain import model_reason
from .features import FeatureSpec, ScoreValues, align, feature_matrix, score_values, spec_for

log = structlog.get_logger(__name__)

FeatureRow = tuple[PersonState, Mapping[str, datetime], datetime]

PREDICT_THREADS = 1
"""A batch is a few hundred rows: OpenMP threads cost more to wake than they save, and the worker is one core."""


@dataclass(frozen=True)
class LoadedModel:
    version: int
    booster: lgb.Booster
    calibrator: dict[str, Any]
    features: tuple[str, ...]

    @classmethod
    def from_row(cls, row: model_registry.ModelVersionRow) -> LoadedModel:
        assert row.version is not None
        booster = lgb.Booster(model_str=row.model_text)
        return cls(row.version, booster, dict(row.calibrator), tuple(row.features))

    def inputs(self, matrix: np.ndarray, spec: FeatureSpec) -> np.ndarray:
        return matrix if spec.names == self.features else align(matrix, spec, self.features)

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        raw = self.booster.predict(inputs, num_threads=PREDICT_THREADS)
        return np.clip(calibrate(self.calibrator, np.asarray(raw)), 0.0, 1.0)

    def contributions(self, inputs: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(inputs, pred_contrib=True, num_threads=PREDICT_THREADS))


@dataclass
class PredictorStats:
    """Cumulative time in :meth:`BatchPredictor.after_batch` (the bench reads it as a share of batch time)."""

    batches: int = 0
    people: int = 0
    seconds: float = 0.0
    explained: int = 0


@dataclass
class BatchView:
    """What the handler hands over: its batch maps, changed in place (people, last_scores) or returned (outputs)."""

    ruleset: Ruleset
    people: dict[str, PersonState]
    accounts: dict[str, AccountState]
    touched: set[str]
    last_scores: dict[str, LeadScore | None]
    outputs: list[OutgoingRecord]
    topics: Topics
    transitions: Callable[[str], None] | None = None
    """Called with the kind of each transition the predictor adds (the handler's metric)."""
    stored_probability: Mapping[str, float | None] = field(default_factory=dict)
    """Per lead, the champion's probability in the score stored before this batch (None: never predicted)."""


class BatchPredictor:
    def __init__(
        self,
        *,
        check_interval_s: float = 2.0,
        reason_threshold: float = 0.5,
        record_predictions: bool = True,
        registry_: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = check_interval_s
        self._reason_threshold = reason_threshold
        self._record = record_predictions
        self._clock = clock
        self._checked_at: float | None = None
        self._marker = -1
        self._lock = threading.Lock()
        self.champion: LoadedModel | None = None
        self.challenger: LoadedModel | None = None
        self.stats = PredictorStats()
        self._specs: dict[tuple[str, tuple[str, ...]], FeatureSpec] = {}
        self._seconds = (
            Histogram("peerscore_model_predict_seconds", "Prediction time per batch", registry=registry_)
            if registry_ is not None
            else None
        )
        self._version = (
            Gauge("peerscore_model_champion_version", "Champion model version (0: rules only)", registry=registry_)
            if registry_ is not None
            else None
        )

    # -- hot loading -------------------------------------------------------------------------------------------
    def refresh(self, session: Session, *, force: bool = False) -> None:
        """Reload champion/challenger when the promotion marker moved (checked at most every interval)."""
        now = self._clock()
        if not force and self._checked_at is not None and now - self._checked_at < self._interval:
            return
        self._checked_at = now
        marker = model_registry.latest_promotion_id(session)
        if marker == self._marker:
            return
        roles = model_registry.current_roles(session)
        with self._lock:
            self.champion = self._load(session, roles.champion, self.champion)
            self.challenger = self._load(session, roles.challenger, self.challenger)
            self._marker = marker
        if self._version is not None:
            self._version.set(self.champion.version if self.champion else 0)
        log.info("models_loaded", champion=roles.champion, challenger=roles.challenger, marker=marker)

    @staticmethod
    def _load(session: Session, version: int | None, current: LoadedModel | None) -> LoadedModel | None:
        if version is None:
            return None
        if current is not None and current.version == version:
            return current
        row = model_registry.get_version(session, version)
        return LoadedModel.from_row(row) if row is not None else None

    # -- the per-batch hook -------------------------------------------------------------------------------------
    def after_batch(self, session: Session, view: BatchView) -> list[OutgoingRecord]:
        """Score the batch's touched leads; returns the outputs to write (``view.outputs`` with probabilities)."""
        started = time.perf_counter()
        self.refresh(session)
        champion, challenger = self.champion, self.challenger
        # Withheld scores (no consent to profiling) are not predicted at all.
        keys = sorted(k for k in view.touched if (s := view.last_scores.get(k)) is not None and not s.withheld)
        if (champion is None and challenger is None) or not keys:
            return view.outputs
        rows, cards = [], []
        for key in keys:
            person = view.people[key]
            score = view.last_scores[key]
            assert score is not None
            account = view.accounts.get(person.account_key or "")
            colleagues = account.active_people if account is not None else {}
            rows.append((person, colleagues, person.last_event_at or score.as_of))
            cards.append(score_values(score, person, view.ruleset))
        built: dict[tuple[str, ...], np.ndarray] = {}
        champ_in = self._inputs(champion, rows, cards, view.ruleset, built) if champion else None
        champ_p = champion.probabilities(champ_in) if champion and champ_in is not None else None
        chall_in = self._inputs(challenger, rows, cards, view.ruleset, built) if challenger else None
        chall_p = challenger.probabilities(chall_in) if challenger and chall_in is not None else None
        if self._record and challenger is not None:  # the shadow record; the champion's is in the lead's score
            self._record_predictions(session, keys, view, champion, champ_p, challenger, chall_p)
        outputs = view.outputs
        if champion is not None and champ_p is not None and champ_in is not None:
            outputs = self._act(view, keys, champion, champ_in, champ_p)
        self.stats.batches += 1
        self.stats.people += len(keys)
        elapsed = time.perf_counter() - started
        self.stats.seconds += elapsed
        if self._seconds is not None:
            self._seconds.observe(elapsed)
        return outputs

    def _crossed(self, previous: float | None, probability: float) -> bool:
        """True when the lead's probability reaches the reason threshold from below, or from never predicted.
        ``previous`` is the probability in the lead's stored score, so the answer is the same after a restart,
        on another replica or on a replay: only leads that really cross pay for ``pred_contrib``."""
        return probability >= self._reason_threshold and (previous is None or previous < self._reason_threshold)

    def _inputs(
        self,
        model: LoadedModel,
        rows: Sequence[FeatureRow],
        cards: Sequence[ScoreValues | None],
        ruleset: Ruleset,
        built: dict[tuple[str, ...], np.ndarray],
    ) -> np.ndarray:
        """The model's input matrix: features built under the current ruleset with the model's own signal
        vocabulary (read from its feature names), columns mapped by name (absent rule features are NaN)."""
        key = (ruleset.version, model.features)
        spec = self._specs.get(key)
        if spec is None:
            if len(self._specs) > 8:  # a ruleset or model changed: the old specs are not needed any more
                self._specs.clear()
            spec = self._specs[key] = spec_for(ruleset, model.features)
        matrix = built.get(spec.names)
        if matrix is None:  # champion and challenger with one vocabulary share the matrix
            matrix = built[spec.names] = feature_matrix(rows, ruleset, spec, cards)
        return model.inputs(matrix, spec)

    def _record_predictions(
        self,
        session: Session,
        keys: list[str],
        view: BatchView,
        champion: LoadedModel | None,
        champ_p: np.ndarray | None,
        challenger: LoadedModel | None,
        chall_p: np.ndarray | None,
    ) -> None:
        now = utcnow()  # when the worker scored (the drift report's "recent"); the lead version says which state
        session.execute(
            insert(model_registry.ModelPredictionRow.__table__),  # type: ignore[attr-defined]
            [
                {
                    "person_key": key,
                    "lead_version": view.people[key].version,
                    "scored_at": now,
                    "champion_version": champion.version if champion else None,
                    "champion_probability": float(champ_p[i]) if champ_p is not None else None,
                    "challenger_version": challenger.version if challenger else None,
                    "challenger_probability": float(chall_p[i]) if chall_p is not None else None,
                }
                for i, key in enumerate(keys)
            ],
        )

    def _act(
        self, view: BatchView, keys: list[str], champion: LoadedModel, inputs: np.ndarray, probs: np.ndarray
    ) -> list[OutgoingRecord]:
        policy = view.ruleset.qualification
        qualify = {
            k for i, k in enumerate(keys) if policy.qualifies_by_probability(view.people[k].qualified, float(probs[i]))
        }
        before = view.stored_probability
        explain = [i for i, k in enumerate(keys) if self._crossed(before.get(k), float(probs[i])) or k in qualify]
        reasons: dict[str, str] = {}
        if explain:
            contributions = champion.contributions(inputs[explain])
            for row, i in enumerate(explain):
                reasons[keys[i]] = model_reason(float(probs[i]), contributions[row], inputs[i], champion.features)
            self.stats.explained += len(explain)
        update: dict[str, dict[str, Any]] = {}
        for i, key in enumerate(keys):
            fields: dict[str, Any] = {
                "conversion_probability": round(float(probs[i]), 4),
                "model_version": champion.version,
            }
            if key in qualify:
                view.people[key] = view.people[key].model_copy(update={"qualified": True})
                fields["qualified"] = True
            update[key] = fields
            stored = view.last_scores[key]
            if stored is not None:  # what the lead API shows
                view.last_scores[key] = stored.model_copy(update=fields)
        return _rewrite_outputs(view, update, reasons, qualify)


MODEL_REASON_PREFIX = "Likely to convert"


def _with_model(score: LeadScore, fields: dict[str, Any], reason: str | None) -> LeadScore:
    reasons = list(score.reasons)
    if reason is not None:
        reasons = [r for r in reasons if not r.startswith(MODEL_REASON_PREFIX)] + [reason]
    return score.model_copy(update={**fields, "reasons": reasons})


_UNSET = b'"conversion_probability":null,"model_version":null'


def _payload(out: OutgoingRecord) -> bytes:
    """A batch's score and transition records always carry a value (erasure tombstones go to the outbox directly)."""
    assert out.value is not None, f"a tombstone among the batch's {out.topic} records"
    return out.value


def _patch(value: bytes, fields: dict[str, Any], reason: str | None, *, nested: bool) -> bytes:
    """Add the model's fields to a published score (or a transition's score) without a model round trip, which
    would cost more than the prediction: the two fields are filled in place in pydantic's compact JSON; with a
    reason or another change the JSON is decoded and encoded again."""
    if reason is None and fields.keys() == {"conversion_probability", "model_version"} and value.count(_UNSET) == 1:
        probability, version = float(fields["conversion_probability"]), int(fields["model_version"])
        return value.replace(_UNSET, f'"conversion_probability":{probability!r},"model_version":{version}'.encode())
    doc = orjson.loads(value)
    target = doc["score"] if nested else doc
    target.update(fields)
    if reason is not None:
        target["reasons"] = [r for r in target.get("reasons", []) if not r.startswith(MODEL_REASON_PREFIX)] + [reason]
    return orjson.dumps(doc)


def _rewrite_outputs(
    view: BatchView, update: dict[str, dict[str, Any]], reasons: dict[str, str], qualify: set[str]
) -> list[OutgoingRecord]:
    """The batch's last score (and transition) record per lead carries the probability; leads qualified by the
    model get their transition (and a score record when the rules published none this batch)."""
    topics = view.topics
    outputs, kept_qualified = _keep_model_qualified(view.outputs, topics, qualify)
    last: dict[tuple[str, str], int] = {}
    for i, out in enumerate(outputs):
        if out.key in update and out.topic in (topics.scores, topics.qualified):
            last[(out.topic, out.key)] = i
    published: dict[str, int] = {}
    for (topic, key), i in last.items():
        value = _patch(_payload(outputs[i]), update[key], reasons.get(key), nested=topic != topics.scores)
        outputs[i] = replace(outputs[i], value=value)
        if topic == topics.scores:
            published[key] = i
    for key in sorted(qualify):
        if key in published:
            score = LeadScore.model_validate_json(_payload(outputs[published[key]]))
        else:
            stored = view.last_scores[key]
            assert stored is not None
            score = _with_model(stored, update[key], reasons.get(key))
            outputs.append(record(topics.scores, key, score))
        if key in kept_qualified:
            continue  # the rules' recycle was withdrawn: the lead stays qualified, no new transition
        person = view.people[key]
        account = view.accounts.get(person.account_key or "")
        transition = LeadTransition(
            kind="qualified",
            person_key=key,
            contact=lead_contact(person, account),
            score=score,
            transitioned_at=score.as_of,
            active_colleagues=colleagues_active(account, key, score.as_of, view.ruleset),
        )
        outputs.append(record(topics.qualified, key, transition))
        if view.transitions is not None:
            view.transitions("qualified")
    return outputs


def _keep_model_qualified(
    outputs: list[OutgoingRecord], topics: Topics, qualify: set[str]
) -> tuple[list[OutgoingRecord], set[str]]:
    """Hysteresis for the model: a lead the rules recycled in this batch while the champion still rates it at or
    above ``min_probability`` stays qualified — its recycle records are dropped instead of re-qualifying it, so
    model-qualified leads (often light on activity) do not flap on their next event."""
    recycled: set[str] = set()
    kept: list[OutgoingRecord] = []
    for out in outputs:
        if out.topic == topics.qualified and out.key in qualify:
            kind = LeadTransition.model_validate_json(_payload(out)).kind
            if kind == "recycled":
                recycled.add(out.key)
            if kind in ("recycled", "updated"):  # the model's transition carries the same, newest version
                continue
        kept.append(out)
    return kept, recycled
