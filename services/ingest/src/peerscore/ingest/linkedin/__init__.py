"""LinkedIn sources: Lead Sync (Lead Gen Form) notifications and organisation social actions.

``signature`` verifies what LinkedIn signs, ``leads`` and ``social`` turn LinkedIn JSON into events (pure),
``client`` fetches full lead data from the REST API, and ``webhook_routes`` is the webhook edge.
"""
