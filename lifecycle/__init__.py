"""The model lifecycle: what closes the loop from drift and labels back to a model in
production (retraining triggers, candidate, replay, gate, promotion). It composes the
components and the evaluation; only the composition root imports it."""
