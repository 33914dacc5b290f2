#!/usr/bin/env bash
# Runs docker-compose.yml for real on a Debian host with no image registry and no container
# networking, then the pipeline check against it, then tears everything down:
#   1. dockerd (Debian's docker.io), unless one answers: --bridge=none --iptables=false
#      --ip6tables=false --ip-forward=false --ip-masq=false, so the host's network is untouched
#   2. vigil-base:bookworm, if missing: debootstrap (minbase, python3, python3-pip, ca-certificates,
#      python-is-python3) + the host's locally added CAs (/usr/local/share/ca-certificates: a
#      TLS-intercepting egress proxy needs them for pip and apt in the builds) + docker import
#   3. images: vigil:latest (the Dockerfile on that base), vigil-kafka:4.3.1 (docker/kafka: Kafka's
#      jars from Maven Central), vigil-clickhouse:18.16 (docker/clickhouse: Debian's server);
#      builds use --network host (pip, apt and Maven reach the registries)
#   4. docker-compose -f docker-compose.yml -f docker-compose.host.yml up (host networking),
#      throwaway secrets and config (cameras.yaml, rules.yaml) in the work folder, the model cache
#      volume seeded from the host's prepared models when present (else vigil-models prepares them)
#   5. scripts/compose_check.py: uploads through the API, out on vigil.detections and in ClickHouse
#   6. docker-compose down -v, dockerd stopped if this script started it
# Needs root, docker.io, docker-compose (1.29, Debian's), debootstrap, maven, the development
# install (.venv). VIGIL_COMPOSE_WORK (/tmp/vigil-compose): logs and secrets;
# VIGIL_COMPOSE_KEEP=1 leaves the stack (and dockerd) running.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="${VIGIL_COMPOSE_WORK:-/tmp/vigil-compose}"
models="${VIGIL_COMPOSE_MODELS:-$HOME/.cache/vigil/models}"
project=vigil
python="$root/.venv/bin/python"
mkdir -p "$work"
chmod 700 "$work"
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
stamp() { date +%s; }
t0=$(stamp)

started_dockerd=""
compose_up=""
both() {
  docker-compose -p "$project" --project-directory "$root" --env-file "$work/compose.env" \
    -f "$root/docker-compose.yml" -f "$root/docker-compose.host.yml" "$@"
}
# docker-compose 1.x merges `ports:` lists (an override cannot remove them) and docker-py refuses
# port bindings with host networking, so `up` runs on the two files resolved by `config` with
# the ports of host-networked services dropped (the engine would discard them anyway); the
# resolved file holds the secrets, hence the 0600 work folder
compose() { docker-compose -p "$project" --project-directory "$root" -f "$work/compose.yml" "$@"; }
resolve() {
  both config >"$work/compose.both.yml"
  "$python" - "$work/compose.both.yml" "$work/compose.yml" <<'PY'
import sys

import yaml

with open(sys.argv[1]) as f:
    config = yaml.safe_load(f)
for service in config["services"].values():
    if service.get("network_mode") == "host":
        service.pop("ports", None)
with open(sys.argv[2], "w") as f:
    yaml.safe_dump(config, f, sort_keys=False)
PY
  rm -f "$work/compose.both.yml"
}
cleanup() {
  rc=$?
  if [[ "${VIGIL_COMPOSE_KEEP:-0}" == 1 ]]; then
    log "VIGIL_COMPOSE_KEEP=1: stack left running"
    exit "$rc"
  fi
  if [[ -n "$compose_up" ]]; then
    compose ps >"$work/ps-at-exit.txt" 2>&1 || true
    compose logs --no-color >"$work/compose-logs.txt" 2>&1 || true
    log "compose down -v"
    compose down -v --remove-orphans >>"$work/down.log" 2>&1 || true
    rm -f "$work/compose.yml" "$work/compose.env"  # the throwaway secrets, with the stack gone
  fi
  if [[ -n "$started_dockerd" ]]; then
    log "stopping dockerd (pid $started_dockerd)"
    kill "$started_dockerd" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 1; done
    # libnetwork's bind mount of the host's network namespace outlives dockerd
    if mountpoint -q /run/docker/netns/default 2>/dev/null; then umount /run/docker/netns/default; fi
  fi
  log "done in $(($(stamp) - t0)) s, exit $rc"
  exit "$rc"
}
trap cleanup EXIT

# 1. the engine
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (no bridge, no iptables; log: $work/dockerd.log)"
  dockerd --iptables=false --ip6tables=false --bridge=none --ip-forward=false --ip-masq=false \
    >"$work/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start:"; tail -20 "$work/dockerd.log"; exit 1; }
fi
log "engine: $(docker info --format '{{.ServerVersion}} {{.Driver}} cgroup v{{.CgroupVersion}}')"

# 2. the base image
if ! docker image inspect vigil-base:bookworm >/dev/null 2>&1; then
  rootfs="$work/rootfs"
  rm -rf "$rootfs"
  mirror="${VIGIL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  log "debootstrap bookworm from $mirror"
  debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null
  fi
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs/var/lib/apt/lists/"*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' --change 'CMD ["bash"]' - vigil-base:bookworm
  rm -rf "$rootfs"
fi

# 3. the images (the engine's build cache makes a rebuild quick)
log "building vigil:latest (log: $work/build-vigil.log)"
docker build --network host --build-arg BASE_IMAGE=vigil-base:bookworm -t vigil:latest "$root" \
  >"$work/build-vigil.log" 2>&1
ctx="$work/kafka-context"
if [[ ! -f "$ctx/libs/kafka_2.13-4.3.1.jar" ]]; then
  rm -rf "$ctx"
  log "fetching Kafka's jars with Maven"
  mvn -B -q -f "$root/docker/kafka/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$ctx/libs" >"$work/mvn.log" 2>&1
fi
cp -r "$root/docker/kafka/Dockerfile" "$root/docker/kafka/bin" "$root/docker/kafka/log4j2.properties" "$ctx/"
log "building vigil-kafka:4.3.1 and vigil-clickhouse:18.16"
docker build --network host -t vigil-kafka:4.3.1 "$ctx" >"$work/build-kafka.log" 2>&1
docker build --network host -t vigil-clickhouse:18.16 "$root/docker/clickhouse" \
  >"$work/build-clickhouse.log" 2>&1

# 4. secrets, config, model cache, up
if [[ ! -f "$work/compose.env" ]]; then
  (
    umask 077
    cat >"$work/compose.env" <<EOF
KAFKA_PASSWORD=$(openssl rand -hex 24)
CLICKHOUSE_PASSWORD=$(openssl rand -hex 24)
GRAFANA_ADMIN_PASSWORD=$(openssl rand -hex 24)
VIGIL_ACCESS__INGEST_KEYS=["$(openssl rand -hex 32)"]
VIGIL_DASHBOARD__SESSION_SECRET=$(openssl rand -hex 32)
VIGIL_CONFIG_DIR=$work/config
KAFKA_TLS_DIR=$work/kafka-tls
EOF
  )
fi
mkdir -p "$work/config" "$work/kafka-tls"
printf 'cameras: []\n' >"$work/config/cameras.yaml"
printf 'rules:\n  - id: person-seen\n    labels: [person]\n    min_score: 0.5\n' \
  >"$work/config/rules.yaml"
chmod 755 "$work/config" && chmod 644 "$work/config/"*.yaml

resolve
compose_up=1
if [[ -f "$models/manifest.json" ]]; then
  log "seeding the model cache volume from $models"
  docker volume create --label com.docker.compose.project="$project" \
    --label com.docker.compose.volume=vigil-cache "${project}_vigil-cache" >/dev/null
  docker run --rm --network none --user root -v "${project}_vigil-cache:/cache" \
    -v "$models:/src:ro" vigil:latest \
    sh -c 'mkdir -p /cache/models && cp -a /src/. /cache/models/ && chown -R nobody /cache'
fi
log "compose up (log: $work/up.log)"
up0=$(stamp)
compose up -d >"$work/up.log" 2>&1 || { log "compose up failed:"; tail -30 "$work/up.log"; exit 1; }
log "compose up returned after $(($(stamp) - up0)) s; waiting for every healthcheck"
services=(kafka clickhouse vigil-api vigil-ingest vigil-worker vigil-clickhouse-sink vigil-alerts vigil-drift)
for _ in $(seq 120); do
  pending=()
  for s in "${services[@]}"; do
    id=$(compose ps -q "$s" 2>/dev/null || true)
    state=$(docker inspect --format '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' \
      "$id" 2>/dev/null || echo missing)
    [[ "$state" == running/healthy ]] || pending+=("$s=$state")
  done
  ((${#pending[@]} == 0)) && break
  sleep 5
done
compose ps | tee "$work/ps.txt"
if ((${#pending[@]} > 0)); then log "not healthy: ${pending[*]}"; exit 1; fi
log "all healthy $(($(stamp) - up0)) s after compose up"
for s in vigil-topics vigil-models; do
  log "$s exit code: $(docker inspect --format '{{.State.ExitCode}}' "$(compose ps -q "$s")")"
done
for s in "${services[@]}"; do  # restart: unless-stopped hides a crash at start; show it
  log "$s restarts: $(docker inspect --format '{{.RestartCount}}' "$(compose ps -q "$s")")"
done

# 5. the check, from the host
setting() { grep "^$1=" "$work/compose.env" | cut -d= -f2-; }
KAFKA_PASSWORD=$(setting KAFKA_PASSWORD)
CLICKHOUSE_PASSWORD=$(setting CLICKHOUSE_PASSWORD)
VIGIL_CHECK_INGEST_KEY=$(setting VIGIL_ACCESS__INGEST_KEYS | "$python" -c 'import json,sys; print(json.load(sys.stdin)[0])')
export KAFKA_PASSWORD CLICKHOUSE_PASSWORD VIGIL_CHECK_INGEST_KEY
log "pipeline check"
(cd "$root" && "$python" scripts/compose_check.py) | tee "$work/check.json"
docker stats --no-stream --format '{{.Name}} {{.CPUPerc}} {{.MemUsage}}' | tee "$work/stats.txt"
