"""The alerting stream: detections -> tracks -> rules -> incidents -> ``vigil.alerts``, plus
person-of-interest face matching against the ``vigil.poi`` watch-list, and delivery of every
alert on ``vigil.alerts`` to webhooks and the log."""
