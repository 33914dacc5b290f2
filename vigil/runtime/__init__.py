"""The Kafka consumer runtime every Vigil consumer runs on: the loop owns polling, rebalances,
pause/resume backpressure, bounded shutdown and lag metrics; a :class:`Processor` says only
what it does with a message, after a poll, on a rebalance and at shutdown.

- ``processor``: the contract (:class:`Processor`) and :class:`Backpressure`
- ``loop``: :class:`ConsumerLoop`
- ``metrics``: :class:`ConsumerMetrics`, the metrics the loop keeps under a component's names
"""

from vigil.runtime.loop import ConsumerLoop
from vigil.runtime.metrics import ConsumerMetrics
from vigil.runtime.processor import Backpressure, Processor

__all__ = ["Backpressure", "ConsumerLoop", "ConsumerMetrics", "Processor"]
