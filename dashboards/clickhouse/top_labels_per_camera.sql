-- The five most frequent labels of each camera, with their mean score.
SELECT camera_id, label, count() AS detections, round(avg(score), 4) AS mean_score
FROM {db}.detections
GROUP BY camera_id, label
ORDER BY camera_id, detections DESC, label
LIMIT 5 BY camera_id
