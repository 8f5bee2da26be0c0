"""CRM adapters behind :class:`~peerscore.crm_sync.adapters.base.CrmAdapter`: thin I/O over pure payloads."""
