-- Per label and model version: how many objects and their mean score, to compare versions.
SELECT label, model_name, model_version, count() AS detections, round(avg(score), 4) AS mean_score
FROM {db}.detections
GROUP BY label, model_name, model_version
ORDER BY label, model_name, model_version
