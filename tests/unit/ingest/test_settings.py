"""Write-key settings: parsing from the environment and refusal of dev/placeholder keys outside dev."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from peerscore.ingest.auth import WriteKeys, basic_user
from peerscore.ingest.settings import DEV_WRITE_KEY, IngestSettings
from peerscore.settings import RuntimeSettings

PROD = RuntimeSettings(env="prod")


@pytest.mark.parametrize("raw", ['["k1", "k2"]', "k1, k2", "k1,k2,"])
def test_write_keys_from_env(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("INGEST_WRITE_KEYS", raw)
    keys = [k.get_secret_value() for k in IngestSettings().write_keys]
    assert keys == ["k1", "k2"]


def test_defaults_match_segment_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INGEST_WRITE_KEYS", raising=False)
    settings = IngestSettings()
    assert [k.get_secret_value() for k in settings.write_keys] == [DEV_WRITE_KEY]
    assert (settings.max_event_bytes, settings.max_batch_bytes, settings.max_batch_events) == (
        32 * 1024,
        500 * 1024,
        2500,
    )


@pytest.mark.parametrize("keys", [[DEV_WRITE_KEY], ["changeme"], ["real-key", "secret"], []])
def test_placeholder_or_missing_keys_refused_outside_dev(keys: list[str]) -> None:
    settings = IngestSettings(write_keys=[SecretStr(k) for k in keys])
    with pytest.raises(ValueError, match="INGEST_WRITE_KEYS"):
        settings.check(PROD)
    settings.check(RuntimeSettings(env="dev"))


def test_real_keys_pass_outside_dev() -> None:
    IngestSettings(write_keys=[SecretStr("wk_live_8f2c1e")]).check(PROD)


def test_write_keys_compare_against_all_keys_and_refuse_non_strings() -> None:
    keys = WriteKeys([SecretStr("a1"), SecretStr("b2"), SecretStr("")])
    assert keys.accepts("a1") and keys.accepts("b2")
    assert not keys.accepts("") and not keys.accepts(None) and not keys.accepts(123) and not keys.accepts("a")


def test_basic_user_takes_the_user_name_only() -> None:
    assert basic_user("Basic d2sxOg==") == "wk1"  # "wk1:"
    assert basic_user("basic d2sxOnB3") == "wk1"  # "wk1:pw"
    assert basic_user("Basic Ondr") is None  # ":wk" - the key as password is not a key
    assert basic_user(None) is None
