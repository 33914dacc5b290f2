"""``vigil eval``: is the candidate model better? Two models' detections of the same frames,
read from ClickHouse, compared object by object, against COCO labels when given, through the
alerting rules offline, and for speed; reported as a terminal table, JSON and HTML."""
