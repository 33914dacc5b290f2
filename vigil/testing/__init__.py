"""Test scaffolding shipped with the library (as bytewax ships ``testing.py``): Vigil's tests,
its benches and users' own tests start real servers and wait on them the same way, and the
benches never import ``tests.*``. Nothing here needs pytest; the fixtures in
``tests/conftest.py`` call these. A plain install imports all of it; the media of
:mod:`vigil.testing.media` need the ``dev`` extra when an image is asked for.

- :mod:`~vigil.testing.servers`: a real Kafka broker and ClickHouse server on free ports, and
  settings pointing at them with a unique topic prefix;
- :mod:`~vigil.testing.clickhouse_cluster`: one shard of ClickHouse replicas over a ZooKeeper;
- :mod:`~vigil.testing.waits`: :func:`wait_until` (raises at its deadline) and
  :func:`poll_until` (says whether the condition held), the one polling loop with a deadline;
- :mod:`~vigil.testing.kafka`: transaction doubles (:func:`write_aborted`,
  :func:`write_committed`), readers (:func:`read_to_end`, :func:`read_topic`,
  :class:`TopicReader`), :func:`wait_settled`, :func:`wait_committed`, :func:`new_topic`;
- :mod:`~vigil.testing.processes`: ``vigil`` commands as child processes configured through
  ``VIGIL_*`` variables, as production runs them;
- :mod:`~vigil.testing.events`: FrameEvents of real JPEGs, producers, a detections collector;
- :mod:`~vigil.testing.samples`: one awkward valid record of every schema;
- :mod:`~vigil.testing.media`: real stills and video frames shipped in packages;
- :mod:`~vigil.testing.rtsp`: live RTSP cameras on loopback (GStreamer's RTSP server, run by
  the system Python from ``gst/``) and camera-like H.264 clips made from a real video.
"""

from __future__ import annotations

from vigil.testing import media, samples
from vigil.testing.events import (
    Collector,
    closed_windows,
    frame_event,
    now_ms,
    produce_events,
    produce_frames,
    produce_timed,
    publish_detections,
)
from vigil.testing.kafka import (
    Landed,
    Record,
    TopicReader,
    Watched,
    committed_total,
    new_topic,
    provision,
    read_to_end,
    read_topic,
    read_uncommitted,
    wait_committed,
    wait_settled,
    write_aborted,
    write_committed,
)
from vigil.testing.media import bikes_jpegs, bikes_mp4
from vigil.testing.processes import (
    AlertsProcess,
    DeliverProcess,
    VigilProcess,
    api_process,
    child_env,
    process_env,
    stop_process,
    vigil_command,
)
from vigil.testing.servers import (
    clickhouse_server,
    free_port,
    kafka_broker,
    kafka_cluster,
    settings_for,
    unique_prefix,
    user_cache_dir,
)
from vigil.testing.waits import poll_until, wait_until

__all__ = [
    "AlertsProcess",
    "Collector",
    "DeliverProcess",
    "Landed",
    "Record",
    "TopicReader",
    "VigilProcess",
    "Watched",
    "api_process",
    "bikes_jpegs",
    "bikes_mp4",
    "child_env",
    "clickhouse_server",
    "closed_windows",
    "committed_total",
    "frame_event",
    "free_port",
    "kafka_broker",
    "kafka_cluster",
    "media",
    "new_topic",
    "now_ms",
    "poll_until",
    "process_env",
    "produce_events",
    "produce_frames",
    "produce_timed",
    "provision",
    "publish_detections",
    "read_to_end",
    "read_topic",
    "read_uncommitted",
    "samples",
    "settings_for",
    "stop_process",
    "unique_prefix",
    "user_cache_dir",
    "vigil_command",
    "wait_committed",
    "wait_settled",
    "wait_until",
    "write_aborted",
    "write_committed",
]
