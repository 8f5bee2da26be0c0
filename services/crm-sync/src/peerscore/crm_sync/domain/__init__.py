"""Pure CRM-sync logic: imports only the event contracts, pydantic and the standard library."""
