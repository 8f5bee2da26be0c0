"""Outcomes (what sales did with a lead) stored in scoring's database: the labels backtests measure against.

They arrive two ways, both idempotent on the outcome id: ``POST /v1/outcomes`` and the outcomes topic (which
crm-sync fills from CRM webhooks). The contract is :class:`peerscore.events.Outcome`.
"""
