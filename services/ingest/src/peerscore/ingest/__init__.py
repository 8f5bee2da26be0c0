"""Peerscore ingest: a Segment/RudderStack-compatible tracking API that publishes to Kafka."""
