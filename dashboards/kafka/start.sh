#!/usr/bin/env bash
# Apache Kafka 4.x (KRaft, one combined node) for docker-compose.yml, secured: every client and
# inter-broker listener needs SASL/SCRAM-SHA-512, TLS on top when a certificate is given. The
# controller listener is bound to the loopback of the container only. The SCRAM credential is
# written at format time (KIP-900: KRaft has no ZooKeeper to hold it), so the first start needs
# KAFKA_PASSWORD and later starts keep the formatted log directory.
#
#   KAFKA_PASSWORD     required; the password of the SCRAM user (KAFKA_USER, default "vigil")
#   KAFKA_TLS_DIR      optional; if it holds server.pem (private key + certificate chain, PEM,
#                      unencrypted PKCS#8 key) and ca.pem (the CA that signed it), the listener
#                      is SASL_SSL, else SASL_PLAINTEXT
#   KAFKA_HOME         /opt/kafka (the apache/kafka image); KAFKA_DATA, KAFKA_PORT,
#                      KAFKA_CONTROLLER_PORT, KAFKA_ADVERTISED_HOST for other layouts (tests)
#   KAFKA_LISTEN_HOST  the address the client listener binds (default: every interface of the
#                      container; 127.0.0.1 under host networking, docker-compose.host.yml)
# The test suite runs this very script against Kafka jars from Maven Central.
set -euo pipefail

: "${KAFKA_PASSWORD:?set KAFKA_PASSWORD (docker-compose reads it from .env)}"
user="${KAFKA_USER:-vigil}"
home="${KAFKA_HOME:-/opt/kafka}"
data="${KAFKA_DATA:-/var/lib/kafka/data}"
port="${KAFKA_PORT:-19092}"
controller_port="${KAFKA_CONTROLLER_PORT:-9093}"
advertised="${KAFKA_ADVERTISED_HOST:-kafka}"
listen_host="${KAFKA_LISTEN_HOST:-}"
config="${KAFKA_CONFIG:-/tmp/vigil-kafka/server.properties}"
# the value is written into a JAAS line and a --add-scram list: no quotes, commas, brackets
if [[ ! "$KAFKA_PASSWORD" =~ ^[A-Za-z0-9._~+-]{16,}$ || ! "$user" =~ ^[A-Za-z0-9._-]+$ ]]; then
  echo "KAFKA_PASSWORD needs 16 or more of [A-Za-z0-9._~+-] (e.g. openssl rand -hex 24);" \
    "KAFKA_USER [A-Za-z0-9._-]" >&2
  exit 2
fi

protocol=SASL_PLAINTEXT
tls=""
if [[ -n "${KAFKA_TLS_DIR:-}" && -f "$KAFKA_TLS_DIR/server.pem" ]]; then
  protocol=SASL_SSL
  if [[ ! -f "$KAFKA_TLS_DIR/ca.pem" ]]; then
    echo "$KAFKA_TLS_DIR/server.pem needs ca.pem beside it (the broker checks its own chain)" >&2
    exit 2
  fi
  tls="listener.name.sasl.ssl.keystore.type=PEM
listener.name.sasl.ssl.keystore.location=$KAFKA_TLS_DIR/server.pem
listener.name.sasl.ssl.truststore.type=PEM
listener.name.sasl.ssl.truststore.location=$KAFKA_TLS_DIR/ca.pem"
fi

mkdir -p "$data" "$(dirname "$config")"
umask 077  # both files hold the SCRAM password
# for the compose healthcheck (kafka-broker-api-versions.sh --command-config)
cat > "$(dirname "$config")/client.properties" <<EOF
security.protocol=$protocol
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$user" password="$KAFKA_PASSWORD";
$([[ $protocol == SASL_SSL ]] && printf 'ssl.truststore.type=PEM\nssl.truststore.location=%s' "$KAFKA_TLS_DIR/ca.pem")
EOF
cat > "$config" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=SASL://$listen_host:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=SASL://$advertised:$port
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL:$protocol
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$user" password="$KAFKA_PASSWORD";
$tls
log.dirs=$data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
message.max.bytes=8388608
EOF

if [[ ! -f "$data/meta.properties" ]]; then
  "$home/bin/kafka-storage.sh" format --standalone --config "$config" \
    --cluster-id "$("$home/bin/kafka-storage.sh" random-uuid)" \
    --add-scram "SCRAM-SHA-512=[name=$user,password=$KAFKA_PASSWORD]"
fi
exec "$home/bin/kafka-server-start.sh" "$config"
