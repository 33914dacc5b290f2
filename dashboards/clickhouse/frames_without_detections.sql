-- Frames a model saw and found nothing in (the last 1,000 per camera).
SELECT camera_id, frame_id, model_version, toString(capture_time) AS captured
FROM {db}.frames
WHERE detection_count = 0
ORDER BY camera_id, capture_time DESC, frame_id
LIMIT 1000 BY camera_id
