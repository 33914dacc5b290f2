#!/bin/sh
# Writes the server's config (loopback by default: CLICKHOUSE_LISTEN_HOST) and one password user
# (CLICKHOUSE_USER, sha256 of CLICKHOUSE_PASSWORD), creates CLICKHOUSE_DB, then runs the server.
set -eu
: "${CLICKHOUSE_PASSWORD:?set CLICKHOUSE_PASSWORD}"
user="${CLICKHOUSE_USER:-vigil}"
db="${CLICKHOUSE_DB:-vigil}"
listen="${CLICKHOUSE_LISTEN_HOST:-127.0.0.1}"
conf=/tmp/clickhouse-config
data=/var/lib/clickhouse
case "$user$db" in *[!A-Za-z0-9_]*) echo "CLICKHOUSE_USER/DB: [A-Za-z0-9_] only" >&2; exit 2;; esac
mkdir -p "$conf" "$data/tmp" "$data/user_files" "$data/format_schemas"
umask 077
hash=$(printf %s "$CLICKHOUSE_PASSWORD" | sha256sum | cut -d' ' -f1)
cat > "$conf/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>$listen</listen_host>
  <tcp_port>${CLICKHOUSE_TCP_PORT:-9000}</tcp_port>
  <http_port>${CLICKHOUSE_HTTP_PORT:-8123}</http_port>
  <path>$data/</path>
  <tmp_path>$data/tmp/</tmp_path>
  <user_files_path>$data/user_files/</user_files_path>
  <format_schema_path>$data/format_schemas/</format_schema_path>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>64</max_concurrent_queries>
  <users_config>$conf/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
</yandex>
XML
cat > "$conf/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <$user>
      <password_sha256_hex>$hash</password_sha256_hex>
      <networks><ip>::/0</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </$user>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
XML
# a first start: the server once to create the database, then for good
if [ ! -d "$data/metadata/$db" ]; then
  clickhouse-server --config-file="$conf/config.xml" &
  pid=$!
  tries=0
  until clickhouse-client --host 127.0.0.1 --port "${CLICKHOUSE_TCP_PORT:-9000}" --user "$user" \
      --password "$CLICKHOUSE_PASSWORD" -q "CREATE DATABASE IF NOT EXISTS $db" 2>/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || { echo "ClickHouse did not start" >&2; kill "$pid"; exit 1; }
    sleep 1
  done
  kill "$pid"
  wait "$pid" || true
fi
exec clickhouse-server --config-file="$conf/config.xml"
