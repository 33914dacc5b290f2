"""The inference worker: frames in, exactly-once detections out (``vigil worker``).

``intake`` validates and decodes, ``batcher`` closes batches, ``inference`` runs the models,
``loop`` owns Kafka (consumer group, transactions, rebalances, backpressure)."""
