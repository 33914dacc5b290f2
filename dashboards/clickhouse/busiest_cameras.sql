-- Cameras (zones) by detected objects: frames seen, objects, objects per frame.
SELECT camera_id, count() AS frames, sum(detection_count) AS detections,
       round(avg(detection_count), 4) AS detections_per_frame
FROM {db}.frames
GROUP BY camera_id
ORDER BY detections DESC, camera_id
