"""A webhook receiver that verifies the Peerscore signature from the documented algorithm (not our helper):
hex HMAC-SHA256(secret, f"{timestamp}.{body}") in ``X-Peerscore-Signature: sha256=…``. Lead events are stored by
person key; ``peerscore.lead.erased`` / ``peerscore.lead.merged`` drop the erased / merged person's lead."""

from __future__ import annotations

import hashlib
import hmac
import json

from peerscore_testkit.fake_servers import WEBHOOK_SECRET, FakeServer, _Handler


def _route(h: _Handler, raw: bytes) -> None:
    state = h.server.state
    state.over_limit()
    timestamp = h.headers.get("X-Peerscore-Timestamp", "")
    expected = "sha256=" + hmac.new(WEBHOOK_SECRET, timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, h.headers.get("X-Peerscore-Signature", "")):
        h.reply(401, {"error": "bad signature"})
        return
    body = json.loads(raw)
    if body.get("event") in ("peerscore.lead.erased", "peerscore.lead.merged"):
        with state.lock:  # what a receiver does: forget the erased lead, fold the merged one into the survivor
            state.records.pop(body.get("merged_person_key") or body["person_key"], None)
            state.extra.setdefault("events", []).append(body)
        h.reply(200, {"ok": True})
        return
    email = body["lead"].get("email", "")
    if email in state.rejected:
        h.reply(422, {"error": state.rejected[email]})
        return
    with state.lock:
        state.batch_sizes.append(1)
        state.records[body["person_key"]] = body
        state.accepted.append((body["person_key"], str(body["version"])))
    h.reply(200, {"ok": True})


def webhook_server() -> FakeServer:
    return FakeServer(_route)
