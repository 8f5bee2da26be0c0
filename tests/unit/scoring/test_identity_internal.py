"""Internal instructions (merge, transfer, erasure) are accepted only from Peerscore itself and well formed."""

from __future__ import annotations

import pytest

from peerscore.consumer import InvalidMessage
from peerscore.events import ERASURE, IDENTITY_MERGE, IDENTITY_TRANSFER
from peerscore.scoring.domain import new_person
from peerscore.scoring.identity.batch import validate_internal
from peerscore.scoring.identity.erasure import ErasureOrder, erasure_event
from peerscore.scoring.identity.merge import Transfer, instruction, merge_event, merge_marker, transfer_event
from tests.unit.scoring.builders import T0, event


def test_well_formed_internal_events_pass() -> None:
    validate_internal(merge_event(instruction((0, "p_a"), (3, "p_u")), T0))
    validate_internal(erasure_event("p_u", ErasureOrder(request_id="r", requested_at=T0)))
    validate_internal(event("page.viewed", T0))


@pytest.mark.parametrize("kind", [IDENTITY_MERGE, IDENTITY_TRANSFER, ERASURE])
def test_internal_types_from_an_ingest_source_are_refused(kind: str) -> None:
    forged = merge_event(instruction((0, "p_a"), (3, "p_u")), T0).model_copy(update={"type": kind, "source": "segment"})
    with pytest.raises(InvalidMessage, match="internal to Peerscore"):
        validate_internal(forged)


def test_malformed_payloads_are_refused_with_the_field() -> None:
    bad = merge_event(instruction((0, "p_a"), (3, "p_u")), T0).model_copy(update={"properties": {"merge_id": "m"}})
    with pytest.raises(InvalidMessage, match=r"properties\.source_key"):
        validate_internal(bad)
    transfer = bad.model_copy(update={"type": IDENTITY_TRANSFER, "properties": {"merge_id": "m", "person": {}}})
    with pytest.raises(InvalidMessage, match="identity.transfer payload"):
        validate_internal(transfer)


def test_a_history_merge_marker_is_refused_on_the_events_topic() -> None:
    transfer = transfer_event(Transfer(merge_id="m", source_key="p_a", person=new_person("p_a")), "p_u", T0)
    with pytest.raises(InvalidMessage, match="history row"):
        validate_internal(merge_marker(transfer))
