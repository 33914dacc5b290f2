"""Dashboards and SQL shipped with Vigil (data files: ``clickhouse/*.sql`` are the named
ClickHouse queries; a package only so that installs carry them)."""
