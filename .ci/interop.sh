#!/usr/bin/env bash
# Interop with peers we did not write, against the demo broker on loopback:
#   stomp.py (PyPI stomp-py) over TCP, @stomp/stompjs over WebSocket (ws) and TCP, and a
#   headless Chromium loading the greeting page. Installs each peer, starts the broker,
#   runs the suites, stops the broker. Fails loudly if anything cannot be installed or started.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
TCP_ADDR=127.0.0.1:61613
WS_ADDR=127.0.0.1:15674

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
trap 'kill $BROKER_PID 2>/dev/null || true; wait $BROKER_PID 2>/dev/null || true' EXIT
wait_port "$TCP_ADDR"
wait_port "$WS_ADDR"

status=0
echo "-- stomp.py"
python3 -m pytest -q -p no:cacheprovider tests/interop/test_stomppy.py || status=1
echo "-- @stomp/stompjs over WebSocket and TCP"
(cd tests/interop && node --test stompjs.test.mjs) || status=1
echo "-- headless Chromium on the greeting page"
(cd tests/interop && node --test browser.test.mjs) || status=1

if [ "$status" != 0 ]; then
    echo "interop failed; the broker's log follows" >&2
    tail -n 100 /tmp/stomp-proto-broker.log >&2 || true
fi
exit "$status"
