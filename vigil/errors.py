"""The root of Vigil's exceptions.

Every exception class Vigil defines derives from :class:`VigilError` (and keeps the built-in
base that says what kind of failure it is, e.g. ``ValueError`` for bad input), so a caller can
tell an error Vigil raised on purpose from one a library or a bug raised: ``except VigilError``.
"""

from __future__ import annotations


class VigilError(Exception):
    """An error Vigil raises on purpose, with a message meant for a person."""
