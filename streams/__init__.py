"""Stream apps on Quix Streams, exactly-once, over ``vigil.detections``: rule-based alerting
(tracking, incidents, person-of-interest matching) into ``vigil.alerts`` and drift statistics
into ``vigil.drift``; ``runtime.py`` is what they share. See DESIGN.md."""
