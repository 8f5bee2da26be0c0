"""Test support shared by tests/ and bench/: strict local fakes of the HubSpot, Salesforce and webhook CRM APIs.

A development-only workspace member: no service depends on it and no production image installs it.
"""
