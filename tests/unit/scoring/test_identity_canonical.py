"""Canonical keys over identity links: chains, loops, order independence, and the worker's link rule."""

from __future__ import annotations

import random

from peerscore.scoring.identity.canonical import canonical_key, canonical_keys, settle_links
from peerscore.scoring.identity.merge import instruction


def test_a_chain_ends_at_its_last_key() -> None:
    links = {"anon": "email", "email": "uid", "li": "email"}
    assert canonical_key("anon", links) == "uid"
    assert canonical_key("li", links) == "uid"
    assert canonical_key("uid", links) == "uid"
    assert canonical_key("stranger", links) == "stranger"


def test_many_keys_resolve_like_one_at_a_time_in_any_order() -> None:
    rng = random.Random(3)
    keys = [f"k{i:03d}" for i in range(300)]
    # A forest: every key links to a greater one or to nothing, like weak → strong merges.
    links = {k: rng.choice(keys[i + 1 :]) for i, k in enumerate(keys[:-1]) if rng.random() < 0.7}
    expected = {k: canonical_key(k, links) for k in keys}
    for _ in range(5):
        order = keys[:]
        rng.shuffle(order)
        assert canonical_keys(order, links) == expected
    assert {canonical_key(v, links) for v in expected.values()} == set(expected.values())


def test_a_loop_in_bad_data_ends_and_every_entry_agrees() -> None:
    links = {"a": "b", "b": "c", "c": "a", "x": "b", "self": "self"}
    assert {canonical_key(k, links) for k in ("a", "b", "c", "x")} == {"c"}
    assert canonical_keys(["x", "a", "b", "c", "self"], links) == {
        "x": "c",
        "a": "c",
        "b": "c",
        "c": "c",
        "self": "self",
    }


def test_settled_links_follow_the_worker_rule() -> None:
    anon, email, uid_a, uid_b = (0, "p_anon"), (2, "p_email"), (3, "p_uid_a"), (3, "p_uid_b")
    merges = [
        instruction(anon, email),  # LinkedIn form + website visit
        instruction(email, uid_a),  # login as a
        instruction(anon, uid_a),  # repeated by every later page view: already implied, still written once
        instruction(email, uid_b),  # the same email logs in as b: a and b are one person
    ]
    links = settle_links(merges)
    targets = {k: m.target_key for k, m in links.items()}
    assert targets == {"p_anon": "p_email", "p_email": "p_uid_a", "p_uid_a": "p_uid_b"}
    assert {canonical_key(k, targets) for k in ("p_anon", "p_email", "p_uid_a", "p_uid_b")} == {"p_uid_b"}
    assert settle_links(merges + merges) == links
