"""Developer tooling: the embedded broker, the local pipeline runner and the sample-traffic generator.

Not imported by the services; production points ``KAFKA_BOOTSTRAP_SERVERS`` at a real Kafka cluster.
"""
