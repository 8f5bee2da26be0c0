"""Raw Kafka source topics: records in their senders' native JSON, normalised by the same code as the HTTP
paths and published to the events topic (malformed records go to the dead-letter topic with the reason)."""
