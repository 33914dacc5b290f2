"""Vigil's shared plumbing: settings, Kafka clients, topics, the local stack, metrics, the CLI.

The architectural folders (``schemas``, ``connectors``, ``gpu_workers``, ``streams``) depend on
this package and never on each other's internals.
"""

__version__ = "0.1.0"
