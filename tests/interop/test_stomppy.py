"""Interop: stomp.py (PyPI `stomp-py`) as a client of a STOMP broker, in every version it speaks.

Run by .ci/run against the demo broker:  python3 -m pytest tests/interop/test_stomppy.py
Broker: STOMP_BROKER_TCP (default 127.0.0.1:61613), STOMP_LOGIN / STOMP_PASSCODE (guest),
STOMP_VHOST (/). A broker that cannot be reached fails every test: nothing is skipped.
"""

import itertools
import os
import threading
import time
import uuid

import pytest
import stomp

HOST, PORT = os.environ.get("STOMP_BROKER_TCP", "127.0.0.1:61613").rsplit(":", 1)
LOGIN = os.environ.get("STOMP_LOGIN", "guest")
PASSCODE = os.environ.get("STOMP_PASSCODE", "guest")
VHOST = os.environ.get("STOMP_VHOST", "/")
WAIT = 10.0

CONNECTIONS = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}
ALL = list(CONNECTIONS)
ACKING = ["1.1", "1.2"]  # NACK and client-individual need 1.1+
_ids = itertools.count()


def unique(prefix):
    return f"{prefix}{uuid.uuid4().hex[:12]}"


class Collector(stomp.ConnectionListener):
    """Records everything the connection reports, and waits for conditions on it."""

    def __init__(self):
        self.cond = threading.Condition()
        self.messages = []
        self.receipts = set()
        self.errors = []
        self.heartbeat_timeouts = 0
        self.disconnected = False

    def _add(self, fn):
        with self.cond:
            fn()
            self.cond.notify_all()

    def on_message(self, frame):
        self._add(lambda: self.messages.append(frame))

    def on_receipt(self, frame):
        self._add(lambda: self.receipts.add(frame.headers.get("receipt-id")))

    def on_error(self, frame):
        self._add(lambda: self.errors.append(frame))

    def on_heartbeat_timeout(self):
        def bump():
            self.heartbeat_timeouts += 1
        self._add(bump)

    def on_disconnected(self):
        def mark():
            self.disconnected = True
        self._add(mark)

    def wait(self, predicate, what, timeout=WAIT):
        with self.cond:
            ok = self.cond.wait_for(predicate, timeout)
            assert ok, f"timed out waiting for {what}; errors: {[e.body for e in self.errors]}"

    def wait_messages(self, n):
        self.wait(lambda: len(self.messages) >= n, f"{n} messages")
        return self.messages[:n]

    def wait_receipt(self, receipt):
        self.wait(lambda: receipt in self.receipts, f"receipt {receipt}")


def connect(version, heartbeats=(0, 0)):
    if version == "1.0":  # no heart-beats and no virtual host in 1.0
        conn = stomp.Connection10([(HOST, int(PORT))])
    else:
        conn = CONNECTIONS[version]([(HOST, int(PORT))], heartbeats=heartbeats, vhost=VHOST)
    listener = Collector()
    conn.set_listener("collector", listener)
    conn.connect(LOGIN, PASSCODE, wait=True)
    assert conn.is_connected(), f"could not connect to {HOST}:{PORT} with STOMP {version}"
    return conn, listener


def subscribe(conn, listener, version, destination, ack="auto"):
    sub_id = str(next(_ids))
    receipt = unique("sub-")
    conn.subscribe(destination=destination, id=sub_id, ack=ack, headers={"receipt": receipt})
    listener.wait_receipt(receipt)
    return sub_id


def send(conn, listener, destination, body, **headers):
    receipt = unique("send-")
    conn.send(destination=destination, body=body, headers=dict(headers, receipt=receipt))
    listener.wait_receipt(receipt)


def ack_args(version, frame):
    h = frame.headers
    if version == "1.2":
        return {"id": h["ack"]}
    if version == "1.1":
        return {"id": h["message-id"], "subscription": h["subscription"]}
    return {"id": h["message-id"]}


def disconnect(conn, listener):
    receipt = unique("bye-")
    conn.disconnect(receipt=receipt)  # returns once DISCONNECT is written
    listener.wait_receipt(receipt)


@pytest.mark.parametrize("version", ALL)
def test_topic_fans_out_to_every_subscriber(version):
    topic = unique("/topic/py-fan-")
    subscribers = [connect(version) for _ in range(2)]
    for conn, listener in subscribers:
        subscribe(conn, listener, version, topic)
    pub, pub_listener = connect(version)
    send(pub, pub_listener, topic, "to everyone")
    for conn, listener in subscribers:
        (frame,) = listener.wait_messages(1)
        assert frame.body == "to everyone"
        assert frame.headers["destination"] == topic
        disconnect(conn, listener)
    disconnect(pub, pub_listener)


@pytest.mark.parametrize("version", ALL)
def test_queue_delivers_each_message_to_one_consumer(version):
    queue = unique("/queue/py-one-")
    consumers = [connect(version) for _ in range(2)]
    for conn, listener in consumers:
        subscribe(conn, listener, version, queue)
    pub, pub_listener = connect(version)
    bodies = [f"m{i}" for i in range(6)]
    for body in bodies:
        send(pub, pub_listener, queue, body)
    deadline = time.time() + WAIT
    while time.time() < deadline and sum(len(l.messages) for _, l in consumers) < len(bodies):
        time.sleep(0.05)
    time.sleep(0.3)  # anything duplicated would show up by now
    got = sorted(f.body for _, l in consumers for f in l.messages)
    assert got == sorted(bodies)
    for conn, listener in consumers + [(pub, pub_listener)]:
        disconnect(conn, listener)


@pytest.mark.parametrize("version", ALL)
def test_client_ack_mode(version):
    queue = unique("/queue/py-client-")
    conn, listener = connect(version)
    subscribe(conn, listener, version, queue, ack="client")
    send(conn, listener, queue, "please ack")
    (frame,) = listener.wait_messages(1)
    receipt = unique("ack-")
    conn.ack(**ack_args(version, frame), receipt=receipt)
    listener.wait_receipt(receipt)
    assert not listener.errors
    disconnect(conn, listener)


@pytest.mark.parametrize("version", ACKING)
def test_client_individual_nack_redelivers_then_ack_settles(version):
    queue = unique("/queue/py-nack-")
    conn, listener = connect(version)
    subscribe(conn, listener, version, queue, ack="client-individual")
    send(conn, listener, queue, "refuse me once")
    (first,) = listener.wait_messages(1)
    conn.nack(**ack_args(version, first))
    first_again = listener.wait_messages(2)[1]
    assert first_again.body == "refuse me once"
    receipt = unique("ack-")
    conn.ack(**ack_args(version, first_again), receipt=receipt)
    listener.wait_receipt(receipt)
    time.sleep(0.3)
    assert len(listener.messages) == 2, "an acknowledged message came back"
    assert not listener.errors
    disconnect(conn, listener)


@pytest.mark.parametrize("version", ALL)
def test_receipts_for_every_client_frame(version):
    conn, listener = connect(version)
    topic = unique("/topic/py-receipts-")
    sub_id = subscribe(conn, listener, version, topic)
    send(conn, listener, topic, "x")
    receipt = unique("unsub-")
    if version == "1.0":
        conn.unsubscribe(id=sub_id, headers={"receipt": receipt})
    else:
        conn.unsubscribe(sub_id, headers={"receipt": receipt})
    listener.wait_receipt(receipt)
    disconnect(conn, listener)


@pytest.mark.parametrize("version", ALL)
def test_transaction_commit_delivers_and_abort_discards(version):
    queue = unique("/queue/py-tx-")
    conn, listener = connect(version)
    subscribe(conn, listener, version, queue)
    conn.begin(transaction="tx-abort")
    conn.send(destination=queue, body="discarded", transaction="tx-abort")
    conn.abort(transaction="tx-abort")
    conn.begin(transaction="tx-commit")
    conn.send(destination=queue, body="kept", transaction="tx-commit")
    time.sleep(0.3)
    assert listener.messages == [], "a transactional SEND took effect before COMMIT"
    receipt = unique("commit-")
    conn.commit(transaction="tx-commit", headers={"receipt": receipt})
    listener.wait_receipt(receipt)
    (frame,) = listener.wait_messages(1)
    assert frame.body == "kept"
    time.sleep(0.3)
    assert len(listener.messages) == 1, "the aborted SEND arrived"
    disconnect(conn, listener)


@pytest.mark.parametrize("version", ACKING)
def test_heart_beats_keep_an_idle_connection_alive(version):
    conn, listener = connect(version, heartbeats=(500, 500))
    time.sleep(2.5)  # several intervals with nothing but heart-beats
    assert conn.is_connected()
    assert listener.heartbeat_timeouts == 0
    queue = unique("/queue/py-hb-")
    subscribe(conn, listener, version, queue)
    send(conn, listener, queue, "still here")
    assert listener.wait_messages(1)[0].body == "still here"
    disconnect(conn, listener)


@pytest.mark.parametrize("version", ACKING)
def test_escaped_header_values_round_trip(version):
    queue = unique("/queue/py-escape-")
    conn, listener = connect(version)
    subscribe(conn, listener, version, queue)
    odd = "a:b\nc\\d"
    send(conn, listener, queue, "x", **{"x-odd": odd})
    (frame,) = listener.wait_messages(1)
    assert frame.headers["x-odd"] == odd
    disconnect(conn, listener)
