#!/usr/bin/env bash
# Starts (or stops) a throwaway RabbitMQ with the STOMP and Web-STOMP plugins, as root, with
# its node, mnesia, logs and config under one temporary folder, listening on 127.0.0.1 only.
#
#   .ci/rabbitmq.sh start   # installs rabbitmq-server if missing, starts it, waits until STOMP answers
#   .ci/rabbitmq.sh stop
#   .ci/rabbitmq.sh kill     # SIGKILL the node (a crash: sockets close at once); `start` again
#   .ci/rabbitmq.sh freeze   # SIGSTOP the node (a hang: only heart-beats tell); then `thaw`
#   .ci/rabbitmq.sh thaw     # SIGCONT
#
# Ports (chosen so they never clash with the demo broker on 61613/15674):
#   STOMP 61623, Web-STOMP 15684, AMQP 5682, Erlang distribution 25682.
set -euo pipefail

BASE="${RABBITMQ_TMP:-/tmp/stomp-proto-rabbitmq}"
export RABBITMQ_NODENAME="stompproto@localhost"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=5682
export RABBITMQ_DIST_PORT=25682
export RABBITMQ_MNESIA_BASE="$BASE/mnesia"
export RABBITMQ_LOG_BASE="$BASE/log"
export RABBITMQ_CONFIG_FILE="$BASE/rabbitmq"          # .conf is appended
export RABBITMQ_ENABLED_PLUGINS_FILE="$BASE/enabled_plugins"
export RABBITMQ_PID_FILE="$BASE/rabbit.pid"
export ERL_CRASH_DUMP="$BASE/erl_crash.dump"
export ERL_EPMD_ADDRESS=127.0.0.1
export HOME="${HOME:-/root}"
STOMP_PORT=61623
BIN=/usr/lib/rabbitmq/bin

install() {
    if [ ! -x "$BIN/rabbitmq-server" ]; then
        echo "installing rabbitmq-server"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
    fi
    # The Debian package starts a system node when it can; this script runs its own.
    service rabbitmq-server stop >/dev/null 2>&1 || true
}

wait_port() {
    for _ in $(seq 1 120); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.5
    done
    return 1
}

start() {
    install
    mkdir -p "$BASE/mnesia" "$BASE/log"
    cat >"$BASE/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$RABBITMQ_NODE_PORT
stomp.listeners.tcp.1 = 127.0.0.1:$STOMP_PORT
stomp.default_user = guest
stomp.default_pass = guest
web_stomp.tcp.ip = 127.0.0.1
web_stomp.tcp.port = 15684
loopback_users = none
management.tcp.ip = 127.0.0.1
CONF
    "$BIN/rabbitmq-plugins" enable --offline rabbitmq_stomp rabbitmq_web_stomp >/dev/null
    "$BIN/rabbitmq-server" -detached
    if ! wait_port "$STOMP_PORT"; then
        echo "RabbitMQ did not open STOMP port $STOMP_PORT; log follows" >&2
        tail -n 50 "$BASE"/log/*.log >&2 || true
        exit 1
    fi
    "$BIN/rabbitmqctl" await_startup >/dev/null
    echo "RabbitMQ up: STOMP 127.0.0.1:$STOMP_PORT, Web-STOMP 127.0.0.1:15684 (guest/guest, vhost /)"
}

stop() {
    # A frozen node (see `freeze`) could not stop.
    kill -CONT "$(cat "$RABBITMQ_PID_FILE" 2>/dev/null)" >/dev/null 2>&1 || true
    "$BIN/rabbitmqctl" stop >/dev/null 2>&1 || true
    pkill -f "beam.*$RABBITMQ_NODENAME" >/dev/null 2>&1 || true
}

# Sends a signal to the node, whose pid RabbitMQ wrote to its pid file.
signal_node() {
    local pid
    pid="$(cat "$RABBITMQ_PID_FILE" 2>/dev/null || true)"
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "RabbitMQ is not running (no live pid in $RABBITMQ_PID_FILE)" >&2
        exit 1
    fi
    kill "-$1" "$pid"
    if [ "$1" = KILL ]; then
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        rm -f "$RABBITMQ_PID_FILE"
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    kill) signal_node KILL ;;
    freeze) signal_node STOP ;;
    thaw) signal_node CONT ;;
    *) echo "usage: $0 start|stop|kill|freeze|thaw" >&2; exit 2 ;;
esac
