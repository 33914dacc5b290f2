"""Replay and shadow runs: the worker machinery with a candidate model, over a bounded time
range of ``vigil.frames`` (``vigil replay``) or live frames (``vigil worker --shadow``), in
consumer groups of their own, writing to the candidates' topics."""
