"""Identity resolution, deduplication, consent and erasure inside the scoring worker.

Person state is partitioned by person key, and one person can arrive under several keys (an anonymous web
visitor who later identifies, a LinkedIn member who also has an email). Keys are merged through Kafka: an
instruction keyed by the SOURCE key moves that person's state, ledger and seen event ids into a transfer record
keyed by the TARGET key, and the source key becomes a redirect that forwards its later events. Every step runs
in the worker's one database transaction per batch, next to the stored offsets, so each happens exactly once.
See :mod:`.merge` (pure) and :mod:`.batch` (the worker side).
"""
