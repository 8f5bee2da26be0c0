"""The scoring fold alone, old and new, in one process: CPU time per event without Kafka or a database.

The worker benches (``bench/scoring.py``) run on a shared machine where Kafka and other processes move the
numbers by tens of percent; this one isolates what issue 17 item 1 changed. The same generated events (the
worker bench's mix) are folded batch by batch (``BENCH_FOLD_BATCH`` events, in order) two ways:

* ``immutable``: ``apply_event_immutable`` per event (a new frozen state per event), as the worker did;
* ``working``: each person loaded once per batch into a ``WorkingPerson``, folded in place, serialised once.

Both must end in equal states (checked). Prints process CPU time and wall time per event for each, best of
``BENCH_FOLD_REPEAT`` runs, and writes ``var/bench/fold.json``.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime

from report import publish_result  # noqa: E402 - bench/ is on sys.path when run as a script

from peerscore.dev.journeys import JourneyGenerator
from peerscore.events import EngagementEvent
from peerscore.ingest.normalise import normalise_batch
from peerscore.scoring.domain import AccountState, PersonState, Ruleset, account_key_for, new_account, new_person
from peerscore.scoring.domain.engine import apply_event_immutable
from peerscore.scoring.domain.ruleset import load_default_ruleset
from peerscore.scoring.domain.working import WorkingPerson, merge_event

END = datetime(2026, 11, 1, tzinfo=UTC)

States = tuple[dict[str, PersonState], dict[str, AccountState]]


def events(count: int, people: int) -> list[EngagementEvent]:
    calls = JourneyGenerator(seed=99).calls(people, end=END)
    return normalise_batch({"batch": calls[:count]}, secret=b"bench-fold", received_at=END)[:count]


def immutable(ruleset: Ruleset, batches: list[list[EngagementEvent]]) -> States:
    people: dict[str, PersonState] = {}
    accounts: dict[str, AccountState] = {}
    for batch in batches:
        for event in batch:
            person = people.get(event.person_key) or new_person(event.person_key)
            key = account_key_for(person, event)
            account = (accounts.get(key) or new_account(key)) if key else None
            applied = apply_event_immutable(person, account, event, ruleset)
            if applied.duplicate:
                continue
            people[event.person_key] = applied.person
            if applied.account is not None:
                accounts[applied.account.account_key] = applied.account
            applied.awards  # noqa: B018 - the ledger rows are built either way
    return people, accounts


def working(ruleset: Ruleset, batches: list[list[EngagementEvent]]) -> States:
    people: dict[str, PersonState] = {}
    accounts: dict[str, AccountState] = {}
    for batch in batches:
        folding: dict[str, WorkingPerson] = {}
        for event in batch:
            person = folding.get(event.person_key)
            if person is None:
                stored = people.get(event.person_key) or new_person(event.person_key)
                person = folding[event.person_key] = WorkingPerson(stored)
            if person.is_duplicate(event):
                continue
            key = person.account_key_for(event)
            account = merge_event(
                (accounts.get(key) or new_account(key)) if key else None, key, person.person_key, event
            )
            if account is not None:
                accounts[account.account_key] = account
            person.fold(event, ruleset)
        people.update((k, p.state()) for k, p in folding.items())
    return people, accounts


def measure(
    fold: Callable[[Ruleset, list[list[EngagementEvent]]], States], batches: list[list[EngagementEvent]]
) -> tuple[float, float, States]:
    ruleset = load_default_ruleset()
    fold(ruleset, batches[:2])  # warm the ruleset's caches
    best: tuple[float, float, States] | None = None
    for _ in range(int(os.environ.get("BENCH_FOLD_REPEAT", "3"))):
        cpu, wall = time.process_time(), time.perf_counter()
        states = fold(ruleset, batches)
        took = (time.process_time() - cpu, time.perf_counter() - wall, states)
        best = took if best is None or took[0] < best[0] else best
    assert best is not None
    return best


def main() -> None:
    count = int(os.environ.get("BENCH_EVENTS", "30000"))
    size = int(os.environ.get("BENCH_FOLD_BATCH", "500"))
    stream = events(count, max(10, count // 6))
    batches = [stream[i : i + size] for i in range(0, len(stream), size)]
    old_cpu, old_wall, (old_people, old_accounts) = measure(immutable, batches)
    new_cpu, new_wall, (new_people, new_accounts) = measure(working, batches)
    assert {k: p.model_dump_json() for k, p in new_people.items()} == {
        k: p.model_dump_json() for k, p in old_people.items()
    }, "the working fold must end in the immutable fold's states"
    assert new_accounts == old_accounts
    n = len(stream)
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, CPython {platform.python_version()}",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": n,
        "batch": size,
        "immutable_cpu_us_per_event": round(old_cpu / n * 1e6, 1),
        "immutable_wall_us_per_event": round(old_wall / n * 1e6, 1),
        "working_cpu_us_per_event": round(new_cpu / n * 1e6, 1),
        "working_wall_us_per_event": round(new_wall / n * 1e6, 1),
        "cpu_speedup": round(old_cpu / new_cpu, 2),
    }
    publish_result("fold", result, title="scoring fold, immutable vs working state")


if __name__ == "__main__":
    main()
