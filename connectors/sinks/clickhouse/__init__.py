"""The exactly-once ClickHouse sink: ``vigil.detections``, ``vigil.alerts`` and ``vigil.drift``
into tables, rollups and named queries, on embedded chDB or a ClickHouse server.

- ``rows``: events -> rows (each row keeps its Kafka topic, partition and offset)
- ``schema``: versioned migrations and per-backend capabilities (TTL on >= 19.6)
- ``writer``: the batch writer that never writes an offset twice (where the offsets are kept)
- ``sink``: the sink's processor on the consumer runtime: resume, batching, DLQ,
  backpressure, commits
- ``queries``: the named SQL under ``dashboards/clickhouse``
"""
