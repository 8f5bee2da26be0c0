"""Versioned rulesets: drafts, publication, rollback, and the hot-reloading provider every scoring worker uses.

The database (:mod:`.ruleset_registry`) is the record of what was written and what was live when; the ``rules`` topic
(:mod:`.messages`) tells every worker (:mod:`.watcher`) what is live now, within seconds and without a restart.
"""
