-- Alerts, newest first (the last 1,000).
SELECT toString(alert_time) AS time, camera_id, rule_id, severity, label,
       round(score, 4) AS score, alert_id, incident_id
FROM {db}.alerts
ORDER BY alert_time DESC, alert_id
LIMIT 1000
