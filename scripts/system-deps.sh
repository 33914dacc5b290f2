#!/usr/bin/env bash
# System packages the project needs beyond Python: a JDK and Maven (the Kafka broker's jars
# come from Maven Central), the ClickHouse server (tests run the sink against it besides
# embedded chDB) and ZooKeeper (for two replicas of it), docker-compose (validates
# docker-compose.yml without a Docker engine), npm (fetches a model package), GStreamer's RTSP
# server (the RTSP tests) and x264enc (camera clips).
# Installs what is missing when run as root with apt-get; otherwise says what is missing.
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ] \
  || command -v clickhouse >/dev/null 2>&1 || missing+=(clickhouse-server)
# A standalone ZooKeeper (Debian's zookeeper package, no service) replicates the ClickHouse
# replicas of the cluster test (Debian's ClickHouse 18.16 predates ClickHouse Keeper).
[ -f /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
# npm fetches the face-embedding model's package (@vladmandic/human) for `vigil models prepare`
command -v npm >/dev/null 2>&1 || missing+=(npm)
# The RTSP reconnect test runs GStreamer's RTSP server (through the system Python's gi) on
# loopback, repackaging an MP4's H.264 track (qtdemux, h264parse, rtph264pay).
/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0')" >/dev/null 2>&1 \
  || missing+=(python3-gi gir1.2-gst-rtsp-server-1.0)
/usr/bin/python3 -c "import gi, sys; gi.require_version('Gst', '1.0'); from gi.repository import Gst
Gst.init(None); sys.exit(not all(Gst.ElementFactory.find(e) for e in ('qtdemux', 'h264parse', 'rtph264pay')))" \
  >/dev/null 2>&1 || missing+=(gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)
# The cameras bench and the live decode test encode camera-like H.264 clips with x264enc.
/usr/bin/python3 -c "import gi, sys; gi.require_version('Gst', '1.0'); from gi.repository import Gst
Gst.init(None); sys.exit(Gst.ElementFactory.find('x264enc') is None)" \
  >/dev/null 2>&1 || missing+=(gstreamer1.0-plugins-ugly)
# promtool (in Debian's prometheus package) checks dashboards/prometheus; the dashboard's browser
# tests drive Debian's chromium through Playwright (never `playwright install`).
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's package may start a system-wide server; Vigil runs its own on other ports.
  if command -v service >/dev/null 2>&1; then service clickhouse-server stop >/dev/null 2>&1 || true; fi
  if command -v service >/dev/null 2>&1; then service prometheus stop >/dev/null 2>&1 || true; fi
else
  echo "system-deps: missing ${missing[*]}; install them (e.g. sudo apt-get install ${missing[*]})." >&2
  echo "system-deps: tests needing them will fail or be skipped outside CI." >&2
fi
