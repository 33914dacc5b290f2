"""Alert delivery that loses nothing: every Alert on ``vigil.alerts`` (from the rules, the drift
stream or any other producer) reaches each destination, or ``vigil.dlq`` with the reason.

**The guarantee.** A destination's offset on ``vigil.alerts`` is committed only once the alert
is *finished* for it: acknowledged (HTTP 2xx; a log line cannot fail), not meant for it (below
the webhook's ``min_severity``, or an alert id the lane already sent), or written to
``vigil.dlq`` after its retries ran out -- original key and value bytes, the usual reason
headers of :mod:`vigil.dlq` (error class, the last error, source topic/partition/offset,
component ``alert-delivery``) plus ``vigil.destination`` -- with the broker's acknowledgement
of that write seen first. So a crash, a kill -9 or a rebalance can only make an alert be sent
again (at least once; ``X-Vigil-Alert-Id`` lets a receiver drop repeats), never vanish.

**Lanes, one consumer group each.** Every destination is a :class:`Lane`: a consumer of its
own group on the shared consumer runtime (:mod:`vigil.runtime`; the lane is its processor), a
thread, and ``max_in_flight`` workers. The log is the reference lane, group
``<prefix>-alert-delivery``; a webhook's group is ``<prefix>-alert-delivery-<id>``, the id a
short hash of its URL (:func:`lane_id`). Why a group per destination rather than one consumer
fanning out: a group's committed offset is a single point per partition, so with one group a
dead endpoint would hold back the commits of every destination (and, after a restart, make
every destination receive everything again), or the consumer would have to buffer without
bound. With a group per lane a dead endpoint only holds back its own group; the others commit
and move on, and their lag is visible per group with the usual Kafka tools. The price is that
each lane reads (and decodes) the topic itself -- alerts are few and small, so that is cheap.

**Where a new group starts.** A webhook lane whose group has committed nothing starts where the
reference group has committed (a destination added to a running system gets the alerts from
now on), or at the beginning when the reference group has committed nothing either (a fresh
deployment). That starting point is committed synchronously before the first poll, so a lane
killed before its first acknowledgement keeps its place. At start-up the reference lane waits
for the new groups' starting points before it consumes, so they cannot skip what it is about
to read. A group already known keeps its offsets: a webhook removed and added again later gets
what it missed meanwhile (delete the group to start it afresh).

**Inside a lane.** Up to ``max_in_flight`` alerts are posted at once; offsets are committed per
partition up to the contiguous prefix of finished ones (:mod:`.bookkeeping`). When the workers
are busy and a small backlog is full (or too many finished offsets wait behind an unfinished
one) the lane raises :class:`~vigil.runtime.Backpressure`: the loop pauses its partitions and
keeps polling, so it stays in its group; nothing is dropped and memory stays bounded. On a
revoke the finished prefix of the revoked partitions is committed and their in-flight alerts
are forgotten (the new owner sends them again). On
:meth:`Delivery.stop` posts on the wire may finish within a bounded time, retries are
abandoned, and only what finished is committed. The destinations are re-read about once a
second; lanes are started, updated in place (same URL) or stopped to match.

**Signing.** See :mod:`.signing`: ``X-Vigil-Timestamp`` (unix seconds of the attempt) and
``X-Vigil-Signature: sha256=HMAC(secret, f"{timestamp}.".encode() + body)``; receivers call
:func:`verify`, which also refuses a timestamp older than a tolerance (a replay)."""

from streams.alerting.delivery.lane import COMPONENT, Lane, LaneStats
from streams.alerting.delivery.signing import (
    ALERT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Verdict,
    check,
    post_headers,
    signature,
    verify,
)
from streams.alerting.delivery.supervisor import Delivery, wait_drained
from streams.alerting.delivery.targets import (
    Abandoned,
    Delivered,
    Failed,
    LogTarget,
    Target,
    WebhookRejected,
    WebhookTarget,
    alert_json,
    lane_id,
    webhook_name,
)

__all__ = [
    "ALERT_ID_HEADER",
    "COMPONENT",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Abandoned",
    "Delivered",
    "Delivery",
    "Failed",
    "Lane",
    "LaneStats",
    "LogTarget",
    "Target",
    "Verdict",
    "WebhookRejected",
    "WebhookTarget",
    "alert_json",
    "check",
    "lane_id",
    "post_headers",
    "signature",
    "verify",
    "wait_drained",
    "webhook_name",
]
