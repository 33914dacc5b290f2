"""Model adapters: preprocess -> predict -> postprocess per model family."""
