"""Content and channel influence: the bounded job that keeps per-person touch summaries and the report snapshot
(:mod:`.job`), its tables (:mod:`.models`), and the read API (:mod:`.insights_routes`)."""
