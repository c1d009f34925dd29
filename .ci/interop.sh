#!/usr/bin/env bash
# Interop with peers we did not write, against the demo broker on loopback:
#   stomp.py (PyPI stomp-py) over TCP, @stomp/stompjs over WebSocket (ws) and TCP, and a
#   headless Chromium loading the greeting page. Installs each peer, starts the broker,
#   runs the suites, stops the broker. Fails loudly if anything cannot be installed or started.
#
# With STOMP_RELAY_TO=HOST:PORT (a running RabbitMQ's STOMP port, as .ci/run provides), the
# headless Chromium test runs once more against a second demo broker started in relay mode
# (`--relay HOST:PORT`) on 127.0.0.1:61614 and 127.0.0.1:15675.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
TCP_ADDR=127.0.0.1:61613
WS_ADDR=127.0.0.1:15674
RELAY_TCP_ADDR=127.0.0.1:61614
RELAY_WS_ADDR=127.0.0.1:15675
RELAY_TO="${STOMP_RELAY_TO:-}"

wait_port() {
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    return 1
}

echo "-- installing peers"
if ! command -v chromium >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    "stomp-py==9.0.0" "pytest>=7"
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)

echo "-- starting the demo broker on $TCP_ADDR and $WS_ADDR"
cargo build --example broker
"$TARGET_DIR/debug/examples/broker" --tcp "$TCP_ADDR" --ws "$WS_ADDR" >/tmp/stomp-proto-broker.log 2>&1 &
BROKER_PID=$!
RELAY_PID=
cleanup() {
    for pid in $BROKER_PID $RELAY_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
wait_port "$TCP_ADDR"
wait_port "$WS_ADDR"

status=0
echo "-- stomp.py"
python3 -m pytest -q -p no:cacheprovider tests/interop/test_stomppy.py || status=1
echo "-- @stomp/stompjs over WebSocket and TCP"
(cd tests/interop && node --test stompjs.test.mjs) || status=1
echo "-- headless Chromium on the greeting page"
(cd tests/interop && node --test browser.test.mjs) || status=1

if [ -n "$RELAY_TO" ]; then
    echo "-- headless Chromium on the greeting page, the broker relaying to $RELAY_TO"
    "$TARGET_DIR/debug/examples/broker" --tcp "$RELAY_TCP_ADDR" --ws "$RELAY_WS_ADDR" \
        --relay "$RELAY_TO" --relay-heart-beat 2000 >/tmp/stomp-proto-relay.log 2>&1 &
    RELAY_PID=$!
    wait_port "$RELAY_TCP_ADDR"
    wait_port "$RELAY_WS_ADDR"
    (cd tests/interop && STOMP_BROKER_HTTP="http://$RELAY_WS_ADDR/" node --test browser.test.mjs) \
        || status=1
fi

if [ "$status" != 0 ]; then
    echo "interop failed; the broker's log follows" >&2
    tail -n 100 /tmp/stomp-proto-broker.log >&2 || true
    if [ -n "$RELAY_TO" ]; then
        echo "the relay's log follows" >&2
        tail -n 100 /tmp/stomp-proto-relay.log >&2 || true
    fi
fi
exit "$status"
