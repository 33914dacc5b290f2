"""Avro contracts for every topic, and their serde."""
