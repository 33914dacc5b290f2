#!/bin/sh
# kafka-run-class.sh MAIN_CLASS ARGS...: the JVM with Kafka's jars, heap from KAFKA_HEAP_OPTS.
home=/opt/kafka
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseSerialGC -Djava.awt.headless=true \
  -Dlog4j2.configurationFile="$home/config/log4j2.properties" ${KAFKA_OPTS:-} \
  -cp "$home/libs/*" "$@"
