"""Sinks take events off Vigil's topics into other systems (ClickHouse, alert destinations)."""
