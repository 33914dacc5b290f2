-- The rollup: objects and score quantiles (p50, p90, p99) per camera, label and minute.
SELECT camera_id, label, toString(minute) AS minute, countMerge(detections) AS detections,
       quantilesMerge(0.5, 0.9, 0.99)(score_quantiles) AS score_p50_p90_p99
FROM {db}.detections_per_minute
GROUP BY camera_id, label, minute
ORDER BY minute DESC, camera_id, label
LIMIT 1000
