"""Write-key settings: parsing from the environment and refusal of dev/placeholder keys outside dev."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from peerscore.ingest.auth import KeyMatch, WriteKeys, basic_user
from peerscore.ingest.settings import DEV_WRITE_KEY, IngestSettings, WriteKeyBinding
from peerscore.settings import RuntimeSettings

PROD = RuntimeSettings(env="prod")


def keys_and_sources(settings: IngestSettings) -> list[tuple[str, str | None]]:
    return [(b.key.get_secret_value(), b.source) for b in settings.write_keys]


@pytest.mark.parametrize("raw", ['["k1", "k2"]', "k1, k2", "k1,k2,"])
def test_write_keys_from_env(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("INGEST_WRITE_KEYS", raw)
    assert keys_and_sources(IngestSettings()) == [("k1", None), ("k2", None)]


@pytest.mark.parametrize(
    "raw",
    ['{"k1": "website", "k2": "mobile-app"}', '["k1:website", "k2:mobile-app"]', "k1:website, k2:mobile-app"],
    ids=["json-object", "json-list", "comma-list"],
)
def test_write_keys_bound_to_sources(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("INGEST_WRITE_KEYS", raw)
    assert keys_and_sources(IngestSettings()) == [("k1", "website"), ("k2", "mobile-app")]


@pytest.mark.parametrize(
    "raw",
    ['{"k1": "Web Site"}', '["k1", "k1:app"]', "[not json", '{"k1": ""}', "k1:" + "x" * 65],
    ids=["bad-source-name", "duplicate-key", "broken-json", "empty-source", "long-source"],
)
def test_malformed_write_key_settings_are_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("INGEST_WRITE_KEYS", raw)
    with pytest.raises(ValueError, match="write_keys|INGEST_WRITE_KEYS|write key"):
        IngestSettings()


def test_code_can_pass_secret_strings_or_bindings() -> None:
    settings = IngestSettings(
        write_keys=[SecretStr("a"), WriteKeyBinding(key=SecretStr("b"), source="crm"), {"key": "c", "source": "x"}]
    )
    assert keys_and_sources(settings) == [("a", None), ("b", "crm"), ("c", "x")]


def test_defaults_match_segment_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INGEST_WRITE_KEYS", raising=False)
    settings = IngestSettings()
    assert keys_and_sources(settings) == [(DEV_WRITE_KEY, None)]
    assert (settings.max_event_bytes, settings.max_batch_bytes, settings.max_batch_events) == (
        32 * 1024,
        500 * 1024,
        2500,
    )


@pytest.mark.parametrize(
    "keys", [[DEV_WRITE_KEY], ["changeme"], ["real-key", "secret"], [], ["secret:website"], [f"{DEV_WRITE_KEY}:web"]]
)
def test_placeholder_or_missing_keys_refused_outside_dev(keys: list[str]) -> None:
    settings = IngestSettings(write_keys=keys)
    with pytest.raises(ValueError, match="INGEST_WRITE_KEYS"):
        settings.check(PROD)
    settings.check(RuntimeSettings(env="dev"))


def test_real_keys_pass_outside_dev() -> None:
    IngestSettings(write_keys=["wk_live_8f2c1e:website"]).check(PROD)


def test_write_keys_match_every_key_to_its_source_and_refuse_non_strings() -> None:
    keys = WriteKeys(IngestSettings(write_keys=["a1:website", "b2"]).write_keys)
    assert keys.match("a1") == KeyMatch("website")
    assert keys.match("b2") == KeyMatch(None)
    assert keys.accepts("a1") and keys.accepts("b2")
    assert not keys.accepts("") and not keys.accepts(None) and not keys.accepts(123) and not keys.accepts("a")
    assert keys.match("website") is None


def test_basic_user_takes_the_user_name_only() -> None:
    assert basic_user("Basic d2sxOg==") == "wk1"  # "wk1:"
    assert basic_user("basic d2sxOnB3") == "wk1"  # "wk1:pw"
    assert basic_user("Basic Ondr") is None  # ":wk" - the key as password is not a key
    assert basic_user(None) is None
