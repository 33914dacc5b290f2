"""The inference worker: frames in, exactly-once detections out (``vigil worker``).

``intake`` validates and decodes, ``batcher`` closes batches, ``inference`` runs the models,
``frames`` is what the worker does with frames, batches and rebalances (a processor of the
consumer runtime, ``vigil.runtime``), ``transactions`` commits detections with offsets, and
``loop`` assembles the worker process (consumer, transactional producer, runtime)."""
