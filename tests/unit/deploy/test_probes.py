"""Readiness probes sized for a consumer group join: ``/readyz`` answers 503 until each consumer holds its share of
the partitions and during a rebalance, so the probe must come soon after a join and tolerate an ordinary rebalance
(a few session timeouts) before taking a pod out of its Service."""

from __future__ import annotations

import helm_python
import pytest
import yaml

from .support import CHART, SERVICES, Service, container, render, rendered, scenario_values


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.component)
def test_readiness_tolerates_a_rebalance_and_notices_a_join_soon(service: Service) -> None:
    probe = container(rendered("minimal"), service)["readinessProbe"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    session_timeout_s = values["kafka"]["sessionTimeoutMs"] / 1000
    assert probe["httpGet"] == {"path": "/readyz", "port": "http"}
    assert probe["periodSeconds"] <= 5, "a pod that finished its group join counts as available within seconds"
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 2 * session_timeout_s, "a rebalance is tolerated"
    assert probe["timeoutSeconds"] >= 2


def test_the_readiness_timing_is_an_operator_setting() -> None:
    values = {
        **scenario_values("minimal"),
        "readinessProbe": {"periodSeconds": 2, "timeoutSeconds": 4, "failureThreshold": 20},
    }
    probe = container(render(values), SERVICES[1])["readinessProbe"]
    assert (probe["periodSeconds"], probe["timeoutSeconds"], probe["failureThreshold"]) == (2, 4, 20)
    wrong = {**values, "readinessProbe": {"periodSeconds": 0, "timeoutSeconds": 4, "failureThreshold": 20}}
    with pytest.raises(helm_python.HelmValuesError):
        helm_python.Chart.load(CHART).validate_schema(wrong)
