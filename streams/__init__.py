"""faust-streaming apps over ``vigil.detections``: rule-based alerting (tracking, incidents,
person-of-interest matching) into ``vigil.alerts`` and drift statistics into ``vigil.drift``.
See DESIGN.md."""
