//! Interop: our client session against a real RabbitMQ (STOMP plugin), in STOMP 1.0, 1.1
//! and 1.2. `.ci/run` starts the broker (`.ci/rabbitmq.sh start`) and runs
//! `cargo test --features _interop --test interop_rabbitmq`. Each test fails loudly when the
//! broker is not reachable: nothing here is skipped.
//!
//! Broker address: `STOMP_RABBITMQ_ADDR` (default `127.0.0.1:61623`), user guest/guest,
//! virtual host `/`.

#[path = "../../examples/support/blocking.rs"]
mod blocking;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use blocking::Connection;
use stomp_proto::session::client::{Message, Receipt, SendOptions, SubscribeOptions};
use stomp_proto::session::{ClientConfig, ClientEvent};
use stomp_proto::{AckMode, HeartBeat, Version, Versions};

const WAIT: Duration = Duration::from_secs(10);

fn addr() -> String {
    std::env::var("STOMP_RABBITMQ_ADDR").unwrap_or_else(|_| "127.0.0.1:61623".into())
}

/// A destination name no other test (or earlier run) uses.
fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn config(version: Version) -> ClientConfig {
    ClientConfig::new("/")
        .login("guest", "guest")
        .accept_versions(Versions::EMPTY.with(version))
}

fn open(config: ClientConfig) -> Session {
    let addr = addr();
    match Connection::open(&addr, config) {
        Ok((conn, _)) => Session::new(conn),
        Err(e) => panic!("cannot open a STOMP session with RabbitMQ at {addr}: {e} (is .ci/rabbitmq.sh running?)"),
    }
}

fn connect(version: Version) -> Session {
    let conn = open(config(version));
    assert_eq!(
        conn.conn.client.version(),
        Some(version),
        "RabbitMQ negotiated another version"
    );
    conn
}

/// A connection plus the messages that arrived while waiting for something else.
struct Session {
    conn: Connection,
    pending: VecDeque<Message>,
}

impl Session {
    fn new(conn: Connection) -> Session {
        Session {
            conn,
            pending: VecDeque::new(),
        }
    }

    fn flush(&mut self) {
        self.conn.flush().expect("write to RabbitMQ");
    }

    /// Waits for the RECEIPT with `id`, keeping messages that overtake it.
    fn await_receipt(&mut self, id: &str) {
        loop {
            match self.conn.next_event(WAIT).expect("event") {
                ClientEvent::Receipt { receipt_id, .. } if receipt_id == id => return,
                ClientEvent::Message(m) => self.pending.push_back(m),
                other => panic!("waiting for receipt {id}, got {other:?}"),
            }
        }
    }

    fn next_message(&mut self) -> Message {
        if let Some(m) = self.pending.pop_front() {
            return m;
        }
        loop {
            match self.conn.next_event(WAIT).expect("a MESSAGE") {
                ClientEvent::Message(m) => return m,
                ClientEvent::Receipt { .. } => {}
                other => panic!("expected a MESSAGE, got {other:?}"),
            }
        }
    }

    fn subscribe(&mut self, destination: &str, ack: AckMode) -> String {
        let now = self.conn.now();
        let sub = self
            .conn
            .client
            .subscribe(now, destination, SubscribeOptions::new().ack(ack).receipt())
            .expect("subscribe");
        self.flush();
        self.await_receipt(sub.receipt.as_deref().expect("receipt asked"));
        sub.id
    }

    fn send(&mut self, destination: &str, body: &[u8], options: SendOptions<'_>) {
        let now = self.conn.now();
        let receipt = self
            .conn
            .client
            .send(now, destination, body, options.receipt())
            .expect("send")
            .expect("receipt id");
        self.flush();
        self.await_receipt(&receipt);
    }

    fn disconnect(mut self) {
        let now = self.conn.now();
        let receipt = self.conn.client.disconnect(now).expect("disconnect");
        self.flush();
        loop {
            match self.conn.next_event(WAIT).expect("DISCONNECT receipt") {
                ClientEvent::Disconnected { receipt_id } => {
                    assert_eq!(receipt_id, receipt);
                    break;
                }
                ClientEvent::Message(_) | ClientEvent::Receipt { .. } => {}
                other => panic!("expected the DISCONNECT receipt, got {other:?}"),
            }
        }
        assert!(self.conn.client.is_closed());
        assert_eq!(
            self.conn.client.poll_transmit(),
            None,
            "nothing may follow DISCONNECT"
        );
    }
}

#[test]
fn queue_send_and_receive_with_receipts_in_every_version() {
    for version in Version::ALL {
        let mut conn = connect(version);
        let queue = unique("/queue/basic-");
        conn.subscribe(&queue, AckMode::Auto);
        for i in 0..3 {
            conn.send(
                &queue,
                format!("m{i}").as_bytes(),
                SendOptions::new().text(),
            );
        }
        for i in 0..3 {
            let m = conn.next_message();
            assert_eq!(m.body(), format!("m{i}").as_bytes(), "{version}");
            assert!(m.destination().unwrap() == queue.as_str());
        }
        conn.disconnect();
    }
}

#[test]
fn topic_fans_out_to_every_subscriber_in_every_version() {
    for version in Version::ALL {
        let topic = unique("/topic/fan-");
        let mut a = connect(version);
        let mut b = connect(version);
        a.subscribe(&topic, AckMode::Auto);
        b.subscribe(&topic, AckMode::Auto);
        let mut publisher = connect(version);
        publisher.send(&topic, b"to all", SendOptions::new());
        for conn in [&mut a, &mut b] {
            assert_eq!(conn.next_message().body(), b"to all", "{version}");
        }
        for conn in [a, b, publisher] {
            conn.disconnect();
        }
    }
}

#[test]
fn client_ack_is_cumulative() {
    for version in Version::ALL {
        let queue = unique("/queue/cumulative-");
        let mut conn = connect(version);
        let sub = conn.subscribe(&queue, AckMode::Client);
        for i in 0..3 {
            conn.send(&queue, format!("c{i}").as_bytes(), SendOptions::new());
        }
        let messages: Vec<Message> = (0..3).map(|_| conn.next_message()).collect();
        // Acknowledging the last message acknowledges all three.
        let now = conn.conn.now();
        let receipt = conn
            .conn
            .client
            .ack(now, &messages[2], None, Receipt::Generated)
            .expect("ack")
            .expect("receipt");
        conn.flush();
        conn.await_receipt(&receipt);
        let now = conn.conn.now();
        conn.conn
            .client
            .unsubscribe(now, &sub, Receipt::None)
            .unwrap();
        conn.flush();
        conn.disconnect();

        // Nothing comes back: all three were acknowledged.
        let mut again = connect(version);
        again.subscribe(&queue, AckMode::Auto);
        again.send(&queue, b"marker", SendOptions::new());
        assert_eq!(again.next_message().body(), b"marker", "{version}");
        again.disconnect();
    }
}

#[test]
fn client_individual_nack_redelivers_and_ack_settles() {
    for version in [Version::V1_1, Version::V1_2] {
        let queue = unique("/queue/nack-");
        let mut conn = connect(version);
        conn.subscribe(&queue, AckMode::ClientIndividual);
        conn.send(&queue, b"refused", SendOptions::new());
        let first = conn.next_message();
        assert_eq!(first.body(), b"refused");
        let now = conn.conn.now();
        conn.conn
            .client
            .nack(now, &first, None, Receipt::None)
            .expect("nack");
        conn.flush();
        // RabbitMQ requeues a NACKed message by default: it comes again, marked redelivered.
        let again = conn.next_message();
        assert_eq!(again.body(), b"refused", "{version}");
        assert!(again.header("redelivered").unwrap() == "true", "{version}");
        let now = conn.conn.now();
        let receipt = conn
            .conn
            .client
            .ack(now, &again, None, Receipt::Generated)
            .unwrap()
            .unwrap();
        conn.flush();
        conn.await_receipt(&receipt);
        assert!(
            conn.pending.is_empty(),
            "acknowledged message came back: {:?}",
            conn.pending
        );
        conn.disconnect();
    }
}

#[test]
fn transaction_commit_delivers_and_abort_discards() {
    for version in Version::ALL {
        let queue = unique("/queue/tx-");
        let mut conn = connect(version);
        conn.subscribe(&queue, AckMode::Auto);
        let now = conn.conn.now();
        conn.conn
            .client
            .begin(now, "tx-abort", Receipt::None)
            .unwrap();
        conn.conn
            .client
            .send(
                now,
                &queue,
                b"discarded",
                SendOptions::new().transaction("tx-abort"),
            )
            .unwrap();
        conn.conn
            .client
            .abort(now, "tx-abort", Receipt::None)
            .unwrap();
        conn.conn
            .client
            .begin(now, "tx-commit", Receipt::None)
            .unwrap();
        conn.conn
            .client
            .send(
                now,
                &queue,
                b"kept",
                SendOptions::new().transaction("tx-commit"),
            )
            .unwrap();
        conn.flush();
        let receipt = conn
            .conn
            .client
            .commit(now, "tx-commit", Receipt::Generated)
            .unwrap()
            .unwrap();
        conn.flush();
        conn.await_receipt(&receipt);
        let m = conn.next_message();
        assert_eq!(
            m.body(),
            b"kept",
            "{version}: the aborted SEND must never arrive"
        );
        conn.send(&queue, b"after", SendOptions::new());
        assert_eq!(conn.next_message().body(), b"after", "{version}");
        conn.disconnect();
    }
}

#[test]
fn heart_beats_keep_an_idle_connection_alive() {
    for version in [Version::V1_1, Version::V1_2] {
        let mut conn = open(config(version).heart_beat(HeartBeat::new(1_000, 1_000)));
        let (outgoing, incoming) = conn.conn.client.heart_beat_intervals();
        assert_eq!(outgoing, Some(Duration::from_secs(1)), "{version}");
        assert_eq!(incoming, Some(Duration::from_secs(1)), "{version}");
        let before = conn.conn.bytes_received;
        // Several intervals with no frame either way: only heart-beats cross.
        let events = conn.conn.idle(Duration::from_millis(4_500)).unwrap();
        assert!(events.is_empty(), "{version}: {events:?}");
        assert!(conn.conn.client.is_connected(), "{version}");
        assert!(
            conn.conn.bytes_received >= before + 3,
            "{version}: RabbitMQ sent no heart-beats"
        );
        let queue = unique("/queue/alive-");
        conn.subscribe(&queue, AckMode::Auto);
        conn.send(&queue, b"still here", SendOptions::new());
        assert_eq!(conn.next_message().body(), b"still here");
        conn.disconnect();
    }
}

#[test]
fn binary_body_with_nuls_round_trips() {
    let body: Vec<u8> = (0..=255u8).chain([0, 0, 10, 13, 0]).collect();
    for version in Version::ALL {
        let queue = unique("/queue/binary-");
        let mut conn = connect(version);
        conn.subscribe(&queue, AckMode::Auto);
        conn.send(
            &queue,
            &body,
            SendOptions::new().content_type("application/octet-stream"),
        );
        let m = conn.next_message();
        assert_eq!(m.body(), &body[..], "{version}");
        conn.disconnect();
    }
}

#[test]
fn escaped_headers_round_trip() {
    let value = "a:b\nc\\d";
    for version in [Version::V1_1, Version::V1_2] {
        let queue = unique("/queue/escape-");
        let mut conn = connect(version);
        conn.subscribe(&queue, AckMode::Auto);
        conn.send(
            &queue,
            b"x",
            SendOptions::new().headers(&[("x-odd", value)]),
        );
        let m = conn.next_message();
        let got = m.header("x-odd").expect("custom header kept");
        assert_eq!(
            &got.decode().unwrap()[..],
            value.as_bytes(),
            "{version}: raw {:?}",
            got.raw()
        );
        conn.disconnect();
    }
}

#[test]
fn graceful_disconnect_gets_its_receipt_in_every_version() {
    for version in Version::ALL {
        connect(version).disconnect();
    }
}
