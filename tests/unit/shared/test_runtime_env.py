"""Only ``PEERSCORE_ENV=dev`` is open. ``test`` used to behave as dev — open APIs and console, the dev person-key
secret accepted — and the chart allowed it, so a "test" deployment holding real leads was open to anyone."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from peerscore.api import bearer_auth
from peerscore.settings import ApiAuthSettings, IdentitySettings, RuntimeSettings


@pytest.mark.parametrize("value", ["test", "staging", "TEST", ""])
def test_any_environment_but_dev_and_prod_stops_start_up(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PEERSCORE_ENV", value)
    with pytest.raises(ValidationError, match="dev"):
        RuntimeSettings()


def test_only_dev_is_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEERSCORE_ENV", "prod")
    prod = RuntimeSettings()
    assert prod.is_dev is False
    with pytest.raises(ValueError, match="PEERSCORE_PERSON_KEY_SECRET"):
        IdentitySettings().check(prod)  # the dev placeholder secret
    with pytest.raises(ValueError, match="PEERSCORE_API_TOKEN"):
        bearer_auth(ApiAuthSettings(), prod)  # no token: refused, not open
    dev = RuntimeSettings(env="dev")
    assert dev.is_dev is True
    IdentitySettings().check(dev)
    bearer_auth(ApiAuthSettings(api_token=SecretStr("")), dev)
