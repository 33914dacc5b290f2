"""Active learning: the stream app behind ``vigil sample`` picks the frames worth labelling
(uncertain scores, drift-alarmed windows, shadow disagreement, rare classes), within a budget
per camera per hour, and publishes why on ``vigil.samples``."""
