-- Detected objects per camera per hour (UTC), newest hour first.
SELECT camera_id, toString(toStartOfHour(capture_time)) AS hour, count() AS detections
FROM {db}.detections
GROUP BY camera_id, hour
ORDER BY hour DESC, camera_id
