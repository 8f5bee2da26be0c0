"""crm-sync: consumes lead transitions and upserts each lead version into a CRM at most once.

Layers: ``domain`` (pure mapping from the event contract to a CRM record, per-CRM payloads, outcome parsing and
the webhook signature), ``adapters`` (local table, HubSpot, Salesforce, signed webhook and an in-memory fake
behind one Protocol), ``handler`` (the batch handler plugged into the shared consumer loop, with the sync ledger
that makes redelivery and replays idempotent, and the retry budget that dead-letters what a CRM keeps refusing),
``privacy`` and ``merges`` (the erasure and merge handlers), ``consumers`` (the loops wiring those handlers to
Kafka), ``replay`` (``peerscore crm replay``), the HTTP modules ``lead_routes`` (JSON), ``lead_pages`` (HTML) and
``outcome_routes`` (CRM webhooks), and ``app`` (``create_app(config)``, whose lifespan owns every client; the
:class:`~peerscore.crm_sync.config.CrmSyncConfig` is read from the environment only in ``__main__``).

Verifying the outgoing webhook (Zapier, n8n, any receiver): each request carries ``X-Peerscore-Timestamp`` (Unix
seconds) and ``X-Peerscore-Signature: sha256=<hex>``, the hex being HMAC-SHA256 keyed with the shared secret over
``f"{timestamp}.{raw body}"``. Recompute it over the raw bytes, compare with ``hmac.compare_digest``, and refuse
timestamps more than five minutes from now (replays)::

    expected = "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, signature) and abs(time.time() - int(timestamp)) <= 300

The generic outcome webhook (``POST /v1/crm/outcomes/webhook``) is verified with the same scheme.
"""
