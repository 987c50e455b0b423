#!/usr/bin/env bash
# Start the services the tests talk to when they are installed but not running.
# A service that is missing is not an error here: the tests that need it fail with a
# message saying what to start (they never skip).
set -u

redis_url="${REDIS_URL:-redis://127.0.0.1:6379}"
case "$redis_url" in
  redis://127.0.0.1:6379*|redis://localhost:6379*)
    if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
      if command -v redis-server >/dev/null; then
        echo "starting redis-server on 127.0.0.1:6379"
        mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
          --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log \
          || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
        for _ in $(seq 50); do
          redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
          sleep 0.1
        done
      fi
    fi
    ;;
esac

# --- queue: RabbitMQ (tests/queue, AMQP backend) -----------------------------------------
amqp_url="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}"
case "$amqp_url" in
  *@127.0.0.1:5672*|*@localhost:5672*|amqp://127.0.0.1*|amqp://localhost*)
    if command -v rabbitmq-server >/dev/null && command -v rabbitmqctl >/dev/null \
        && ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
      echo "starting rabbitmq-server on 127.0.0.1:5672"
      rabbitmq-server -detached >/dev/null 2>&1 || true
      timeout 60 rabbitmqctl await_startup >/dev/null 2>&1 || true
    fi
    ;;
esac
# --- end queue -----------------------------------------------------------------------------

# Real clients the HTTP and WebSocket tests drive: wrk (load) and Chromium (the chat demo's
# browser test). Installed from Debian's packages when missing and this is a root shell
# with apt; otherwise the tests that need them fail under CI=true, saying what to install.
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v chromium >/dev/null || missing+=(chromium)
# nginx: a server we did not write, for the HTTP client's tests (they start their own)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } \
    || echo "could not install ${missing[*]}; the tests that need them will say so"
fi
# --- mqtt (workerman-mqtt tests) ---------------------------------------------------
# Mosquitto and its clients (mosquitto_pub, mosquitto_sub, mosquitto_passwd): installed
# from Debian's packages when missing (root with apt); a broker on 127.0.0.1:1883 started
# when none answers there and MQTT_URL is not set elsewhere.
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ] || ! command -v mosquitto_pub >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing mosquitto mosquitto-clients (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 \
           && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null 2>&1; } \
      || echo "could not install mosquitto; the MQTT tests will say so"
  fi
fi
mqtt_url="${MQTT_URL:-mqtt://127.0.0.1:1883}"
case "$mqtt_url" in
  mqtt://127.0.0.1:1883*|mqtt://localhost:1883*)
    mosquitto_bin="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
    if [ -x "$mosquitto_bin" ] && ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
      echo "starting mosquitto on 127.0.0.1:1883"
      "$mosquitto_bin" -d -p 1883 >/dev/null 2>&1 || true
      for _ in $(seq 50); do
        (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break
        sleep 0.1
      done
    fi
    ;;
esac
# --- end mqtt -----------------------------------------------------------------------

exit 0
