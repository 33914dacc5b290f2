"""The model lifecycle above evaluation: the retraining loop (``retrain``) that turns drift
alarms, accuracy drops and new labels into a retrained candidate, replays and evaluates it,
and promotes it through the gate."""
