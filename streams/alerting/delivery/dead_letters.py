"""A lane's writes to ``vigil.dlq``: the original record untouched, the reason in the usual
headers plus the destination; an alert counts as finished only once the broker acknowledged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from streams.alerting.settings import AlertingProcessSettings
from vigil import kafka
from vigil.dlq import H_DESTINATION, dead_letter
from vigil.topics import Topic

log = logging.getLogger("streams.alerting.delivery")
COMPONENT = "alert-delivery"


@dataclass(eq=False)
class Work:
    """One record on its way through a lane; the original message is kept for the DLQ."""

    message: Message
    alert: dict[str, Any] | None  # None: the record is not an Alert
    alert_id: str = ""

    @property
    def key(self) -> tuple[int, int]:
        return (self.message.partition() or 0, self.message.offset() or 0)


class DeadLetters:
    """``acknowledged(work, error)`` runs in the lane thread (from :meth:`poll` or :meth:`flush`)
    once the broker has the record; a failed write is sent again while ``wanted(work)``."""

    def __init__(
        self,
        settings: AlertingProcessSettings,
        destination: str,
        acknowledged: Callable[[Work, BaseException], None],
        wanted: Callable[[Work], bool],
    ) -> None:
        self.settings = settings
        self.topic = Topic.DLQ.name_in(settings.topics)
        self.destination = destination
        self._acknowledged = acknowledged
        self._wanted = wanted
        self._producer: Producer | None = None  # most lanes never need one

    def send(self, work: Work, error: BaseException) -> None:
        if self._producer is None:
            self._producer = kafka.producer(self.settings)
        # an undecodable record failed no destination: it carries no destination header
        extra = [] if work.alert is None else [(H_DESTINATION, self.destination.encode())]

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if not self._wanted(work):
                return  # its partition was revoked: the new owner handles it
            if err is None:
                self._acknowledged(work, error)
                return
            log.warning("%s: DLQ write of %s failed (%s); again", self.destination, work.key, err)
            self.send(work, error)

        dead_letter(
            self._producer,
            self.topic,
            work.message,
            error,
            COMPONENT,
            extra=extra,
            on_delivery=delivered,
        )

    def poll(self) -> None:
        if self._producer is not None:
            self._producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        if self._producer is not None:
            self._producer.flush(timeout_s)
