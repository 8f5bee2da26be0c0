"""crm-sync: consumes lead transitions and upserts each lead version into a CRM at most once.

Layers: ``domain`` (pure mapping from the event contract to a CRM record), ``adapters`` (one per CRM
behind a Protocol, plus an in-memory fake), ``worker`` (the batch handler plugged into the shared consumer
loop, with the sync ledger that makes redelivery and replays idempotent) and ``app`` (the FastAPI factory
that owns the clients).
"""
