-- Precision, recall and mAP@0.5 per model version per camera per day over labelled frames
-- (`vigil dataset import`, `vigil accuracy`); camera '*' is all cameras pooled; newest first.
SELECT day, dataset, model_name, model_version, kafka_topic, camera_id,
       frames, objects, detections, tp, fp, fn, precision, recall, map50
FROM {db}.accuracy FINAL
ORDER BY day DESC, dataset, model_name, model_version, kafka_topic, camera_id
