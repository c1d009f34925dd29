//! The demo broker (examples/broker/), end to end: started in-process on port 0, driven by
//! raw STOMP clients over TCP and over WebSocket (tokio-tungstenite, subprotocol
//! `v12.stomp`). Its core is also driven directly, without a runtime.

#[path = "../examples/broker/broker.rs"]
mod broker;
#[path = "../examples/broker/connection.rs"]
mod connection;
#[path = "../examples/broker/greeting.rs"]
mod greeting;
#[path = "../examples/broker/listen.rs"]
mod listen;
#[path = "../examples/broker/websocket.rs"]
mod websocket;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use stomp_proto::codec::{Decoder, OwnedFrame, OwnedItem};
use stomp_proto::{Command, Limits, Version, Versions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::broker::{Broker, Delivery, Publish};
use crate::listen::{Config, Running};

/// Generous bound for "eventually".
const WAIT: Duration = Duration::from_secs(10);

// ---- harness ---------------------------------------------------------------------------------

async fn start(config: Config) -> Running {
    listen::start(Config {
        tcp: "127.0.0.1:0".into(),
        ws: "127.0.0.1:0".into(),
        linger: Duration::from_millis(200),
        ..config
    })
    .await
    .expect("broker starts")
}

async fn start_default() -> Running {
    start(Config::default()).await
}

/// A STOMP frame from plain parts (values without characters that need escaping).
fn frame(command: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(command.as_bytes());
    out.push(b'\n');
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(body);
    out.push(0);
    out
}

fn header(frame: &OwnedFrame, name: &str) -> Option<String> {
    frame
        .header(name)
        .map(|v| String::from_utf8(v.decode().unwrap().into_owned()).unwrap())
}

fn body(frame: &OwnedFrame) -> String {
    String::from_utf8_lossy(frame.body()).into_owned()
}

enum Io {
    Tcp(TcpStream),
    Ws(Box<WebSocketStream<TcpStream>>),
}

#[derive(Debug)]
enum Next {
    Frame(OwnedFrame),
    Closed,
    Timeout,
}

/// A raw STOMP client.
struct Peer {
    io: Io,
    buf: BytesMut,
    decoder: Decoder,
    eof: bool,
    /// The WebSocket subprotocol the server chose.
    subprotocol: Option<String>,
}

impl Peer {
    async fn tcp(addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Peer::new(Io::Tcp(stream), None)
    }

    /// Connected with a small receive window (which also turns off the kernel's
    /// auto-tuning), so that little of what the broker writes fits in transit while this
    /// peer does not read.
    async fn connected_small_window(addr: SocketAddr) -> Peer {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(16 * 1024).expect("SO_RCVBUF");
        let stream = socket.connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        let mut peer = Peer::new(Io::Tcp(stream), None);
        peer.connect(&[]).await;
        peer
    }

    async fn ws(addr: SocketAddr, path: &str, protocols: &str) -> Peer {
        let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
        if !protocols.is_empty() {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
        }
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (ws, response) = tokio_tungstenite::client_async(request, stream)
            .await
            .expect("WebSocket handshake");
        let subprotocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().unwrap().to_owned());
        Peer::new(Io::Ws(Box::new(ws)), subprotocol)
    }

    fn new(io: Io, subprotocol: Option<String>) -> Peer {
        Peer {
            io,
            buf: BytesMut::new(),
            decoder: Decoder::new(),
            eof: false,
            subprotocol,
        }
    }

    /// A TCP client, connected with STOMP 1.2.
    async fn connected(addr: SocketAddr) -> Peer {
        let mut peer = Peer::tcp(addr).await;
        peer.connect(&[]).await;
        peer
    }

    /// Sends CONNECT with `extra` headers and expects CONNECTED.
    async fn connect(&mut self, extra: &[(&str, &str)]) -> OwnedFrame {
        let mut headers = vec![("accept-version", "1.0,1.1,1.2"), ("host", "/")];
        headers.extend_from_slice(extra);
        self.send(&frame("CONNECT", &headers, b"")).await;
        self.expect(Command::Connected).await
    }

    async fn send(&mut self, bytes: &[u8]) {
        match &mut self.io {
            Io::Tcp(stream) => stream.write_all(bytes).await.expect("write"),
            Io::Ws(ws) => ws
                .send(WsMessage::binary(bytes.to_vec()))
                .await
                .expect("WebSocket send"),
        }
    }

    /// Sends a text WebSocket message.
    async fn send_text(&mut self, text: &str) {
        let Io::Ws(ws) = &mut self.io else {
            panic!("not a WebSocket")
        };
        ws.send(WsMessage::text(text))
            .await
            .expect("WebSocket send");
    }

    async fn read_more(&mut self) {
        match &mut self.io {
            Io::Tcp(stream) => {
                self.buf.reserve(16 * 1024);
                match stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => self.eof = true,
                    Ok(_) => {}
                }
            }
            Io::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(WsMessage::Text(text))) => {
                        self.buf.extend_from_slice(text.as_bytes());
                        return;
                    }
                    Some(Ok(WsMessage::Binary(bytes))) => {
                        self.buf.extend_from_slice(&bytes);
                        return;
                    }
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => {
                        self.eof = true;
                        return;
                    }
                    Some(Ok(_)) => {}
                }
            },
        }
    }

    async fn next(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(OwnedItem::Frame(frame))) => return Next::Frame(frame),
                Ok(Some(OwnedItem::HeartBeat)) => continue,
                Ok(None) => {}
                Err(e) => panic!("the broker sent a malformed frame: {e}"),
            }
            if self.eof {
                return Next::Closed;
            }
            if tokio::time::timeout_at(deadline, self.read_more())
                .await
                .is_err()
            {
                return Next::Timeout;
            }
        }
    }

    async fn frame(&mut self) -> OwnedFrame {
        match self.next(WAIT).await {
            Next::Frame(frame) => frame,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    async fn expect(&mut self, command: Command) -> OwnedFrame {
        let frame = self.frame().await;
        assert_eq!(frame.command(), command, "got {frame:?}");
        frame
    }

    async fn expect_receipt(&mut self, id: &str) {
        let receipt = self.expect(Command::Receipt).await;
        assert_eq!(header(&receipt, "receipt-id").as_deref(), Some(id));
    }

    /// The next frame is a MESSAGE with this body.
    async fn expect_message(&mut self, expected: &str) -> OwnedFrame {
        let message = self.expect(Command::Message).await;
        assert_eq!(body(&message), expected, "{message:?}");
        message
    }

    /// An ERROR, then the connection closes.
    async fn expect_error_and_close(&mut self) -> OwnedFrame {
        let error = self.expect(Command::Error).await;
        self.expect_closed().await;
        error
    }

    async fn expect_closed(&mut self) {
        match self.next(WAIT).await {
            Next::Closed => {}
            other => panic!("expected the broker to close the connection, got {other:?}"),
        }
    }

    /// Nothing arrives for a while.
    async fn expect_quiet(&mut self, wait: Duration) {
        match self.next(wait).await {
            Next::Timeout => {}
            other => panic!("expected nothing, got {other:?}"),
        }
    }

    async fn subscribe(&mut self, id: &str, destination: &str, ack: &str) {
        let receipt = format!("sub-{id}");
        self.send(&frame(
            "SUBSCRIBE",
            &[
                ("id", id),
                ("destination", destination),
                ("ack", ack),
                ("receipt", &receipt),
            ],
            b"",
        ))
        .await;
        self.expect_receipt(&receipt).await;
    }

    /// SEND with a receipt, waiting for it: the message is routed when this returns.
    async fn publish(&mut self, destination: &str, text: &str) {
        let receipt = format!("send-{text}");
        self.send(&frame(
            "SEND",
            &[("destination", destination), ("receipt", &receipt)],
            text.as_bytes(),
        ))
        .await;
        self.expect_receipt(&receipt).await;
    }

    async fn ack(&mut self, message: &OwnedFrame) {
        let id = header(message, "ack").expect("ack header");
        self.send(&frame("ACK", &[("id", &id)], b"")).await;
    }

    async fn disconnect(&mut self) {
        self.send(&frame("DISCONNECT", &[("receipt", "bye")], b""))
            .await;
        self.expect_receipt("bye").await;
        self.expect_closed().await;
    }
}

/// Two well-behaved clients, a producer and a consumer of one queue and one topic, that keep
/// working while another client misbehaves: every message they exchange must arrive.
struct Bystanders {
    producer: Peer,
    consumer: Peer,
    sent: usize,
    received: usize,
}

impl Bystanders {
    async fn new(addr: SocketAddr) -> Bystanders {
        let producer = Peer::connected(addr).await;
        let mut consumer = Peer::connected(addr).await;
        consumer.subscribe("q", "/queue/bystanders", "auto").await;
        consumer.subscribe("t", "/topic/bystanders", "auto").await;
        Bystanders {
            producer,
            consumer,
            sent: 0,
            received: 0,
        }
    }

    /// Sends `n` messages to the queue and the topic, each confirmed by a receipt.
    async fn traffic(&mut self, n: usize) {
        for _ in 0..n {
            let text = format!("m{}", self.sent);
            self.producer.publish("/queue/bystanders", &text).await;
            self.producer.publish("/topic/bystanders", &text).await;
            self.sent += 1;
        }
    }

    /// Every message sent so far arrived, in order, on both destinations.
    async fn all_received(&mut self) {
        while self.received < self.sent {
            let text = format!("m{}", self.received);
            let queued = self.consumer.expect_message(&text).await;
            assert_eq!(
                header(&queued, "destination").as_deref(),
                Some("/queue/bystanders")
            );
            let topical = self.consumer.expect_message(&text).await;
            assert_eq!(
                header(&topical, "destination").as_deref(),
                Some("/topic/bystanders")
            );
            self.received += 1;
        }
        self.consumer.expect_quiet(Duration::from_millis(50)).await;
    }
}

async fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head");
    (head.to_owned(), body.to_owned())
}

// ---- the core, without a runtime ------------------------------------------------------------

type Inbox = Arc<Mutex<Vec<Delivery>>>;

fn outlet(inbox: &Inbox) -> Box<dyn broker::Outlet> {
    let inbox = inbox.clone();
    Box::new(move |d: Delivery| {
        inbox.lock().unwrap().push(d);
        true
    })
}

fn bodies(inbox: &Inbox) -> Vec<String> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .map(|d| String::from_utf8_lossy(&d.message.body).into_owned())
        .collect()
}

#[test]
fn core_queue_round_robin_waiting_and_redelivery() {
    let mut broker = Broker::new();
    let (a_inbox, b_inbox) = (Inbox::default(), Inbox::default());
    let a = broker.register(outlet(&a_inbox));
    let b = broker.register(outlet(&b_inbox));
    // Nobody consumes yet: the messages wait.
    for i in 0..4 {
        broker
            .send(a, None, Publish::new(&b"/queue/work"[..], format!("{i}")))
            .unwrap();
    }
    assert_eq!(broker.waiting(b"/queue/work"), 4);
    broker
        .subscribe(a, Bytes::from("1"), b"/queue/work")
        .unwrap();
    broker
        .subscribe(b, Bytes::from("1"), b"/queue/work")
        .unwrap();
    assert_eq!(bodies(&a_inbox), ["0", "1", "2", "3"]);
    broker
        .send(b, None, Publish::new(&b"/queue/work"[..], "4"))
        .unwrap();
    broker
        .send(b, None, Publish::new(&b"/queue/work"[..], "5"))
        .unwrap();
    assert_eq!(bodies(&a_inbox), ["0", "1", "2", "3", "4"]);
    assert_eq!(bodies(&b_inbox), ["5"]);
    assert_eq!(broker.in_flight(), 6);
    // `a` acknowledges two and leaves: the other three go to `b`, redelivered, in order.
    let tags: Vec<_> = a_inbox.lock().unwrap()[..2]
        .iter()
        .map(|d| d.tag.unwrap())
        .collect();
    broker.ack(a, None, tags).unwrap();
    broker.unregister(a);
    assert_eq!(bodies(&b_inbox), ["5", "2", "3", "4"]);
    assert!(b_inbox.lock().unwrap()[1..].iter().all(|d| d.redelivered));
    assert_eq!(broker.in_flight(), 4);
}

#[test]
fn core_queue_message_refused_by_a_full_outlet_waits_for_redispatch() {
    let mut broker = Broker::new();
    let inbox = Inbox::default();
    // An outlet with room for `room` more deliveries, like a bounded channel.
    let room = Arc::new(Mutex::new(1usize));
    let outlet = {
        let (inbox, room) = (inbox.clone(), room.clone());
        Box::new(move |d: Delivery| {
            let mut room = room.lock().unwrap();
            if *room == 0 {
                return false;
            }
            *room -= 1;
            inbox.lock().unwrap().push(d);
            true
        })
    };
    let a = broker.register(outlet);
    broker
        .subscribe(a, Bytes::from("1"), b"/queue/work")
        .unwrap();
    for i in 0..3 {
        broker
            .send(a, None, Publish::new(&b"/queue/work"[..], format!("{i}")))
            .unwrap();
    }
    // The outlet took one; the other two wait in the queue, not in flight.
    assert_eq!(bodies(&inbox), ["0"]);
    assert_eq!(broker.waiting(b"/queue/work"), 2);
    assert_eq!(broker.in_flight(), 1);
    // Nothing changes until asked again.
    *room.lock().unwrap() = 5;
    assert_eq!(bodies(&inbox), ["0"]);
    broker.redispatch(a);
    assert_eq!(bodies(&inbox), ["0", "1", "2"]);
    assert_eq!(broker.waiting(b"/queue/work"), 0);
    assert!(inbox.lock().unwrap().iter().all(|d| !d.redelivered));
}

#[test]
fn core_transactions_apply_on_commit_only() {
    let mut broker = Broker::new();
    let inbox = Inbox::default();
    let c = broker.register(outlet(&inbox));
    broker.subscribe(c, Bytes::from("0"), b"/topic/t").unwrap();
    broker.begin(c, Bytes::from("tx")).unwrap();
    broker
        .send(c, Some(b"tx"), Publish::new(&b"/topic/t"[..], "kept"))
        .unwrap();
    assert!(bodies(&inbox).is_empty());
    broker.commit(c, b"tx").unwrap();
    assert_eq!(bodies(&inbox), ["kept"]);
    broker.begin(c, Bytes::from("tx")).unwrap();
    broker
        .send(c, Some(b"tx"), Publish::new(&b"/topic/t"[..], "dropped"))
        .unwrap();
    broker.abort(c, b"tx").unwrap();
    assert_eq!(bodies(&inbox), ["kept"]);
    assert_eq!(
        broker.send(c, Some(b"nope"), Publish::new(&b"/topic/t"[..], "x")),
        Err(broker::BrokerError::UnknownTransaction)
    );
    assert!(matches!(
        broker.send(c, None, Publish::new(&b"/elsewhere"[..], "x")),
        Err(broker::BrokerError::UnknownDestination(_))
    ));
}

#[test]
fn greeting_escapes_the_name() {
    let replies = greeting::hello(br#"{"name": "<b>Tom & 'Jerry' \"J\"</b>"}"#).unwrap();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].destination, "/topic/greetings");
    let reply: serde_json::Value = serde_json::from_slice(&replies[0].body).unwrap();
    assert_eq!(
        reply["content"],
        "Hello, &lt;b&gt;Tom &amp; &#39;Jerry&#39; &quot;J&quot;&lt;/b&gt;!"
    );
    assert!(greeting::hello(b"not json").is_err());
}

#[test]
fn websocket_subprotocol_is_the_highest_offered() {
    let (p, v) = websocket::negotiate_subprotocol(["v10.stomp", "v12.stomp", "v11.stomp"]);
    assert_eq!(p, Some("v12.stomp"));
    assert_eq!(v, Versions::ALL);
    let (p, v) = websocket::negotiate_subprotocol(["v10.stomp", "v11.stomp"]);
    assert_eq!(p, Some("v11.stomp"));
    assert_eq!(v, Versions::EMPTY.with(Version::V1_0).with(Version::V1_1));
    let (p, v) = websocket::negotiate_subprotocol(["mqtt"]);
    assert_eq!(p, None);
    assert_eq!(v, Versions::ALL);
}

// ---- pub/sub over TCP and WebSocket -----------------------------------------------------------

#[tokio::test]
async fn tcp_topic_fans_out_to_every_subscriber() {
    let broker = start_default().await;
    let mut a = Peer::connected(broker.tcp_addr).await;
    let mut b = Peer::connected(broker.tcp_addr).await;
    a.subscribe("0", "/topic/news", "auto").await;
    b.subscribe("sub-b", "/topic/news", "auto").await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    producer
        .send(&frame(
            "SEND",
            &[
                ("destination", "/topic/news"),
                ("content-type", "text/plain"),
                ("x-custom", "kept"),
                ("receipt", "r1"),
            ],
            b"extra! extra!",
        ))
        .await;
    producer.expect_receipt("r1").await;
    for (peer, sub) in [(&mut a, "0"), (&mut b, "sub-b")] {
        let message = peer.expect_message("extra! extra!").await;
        assert_eq!(header(&message, "subscription").as_deref(), Some(sub));
        assert_eq!(
            header(&message, "destination").as_deref(),
            Some("/topic/news")
        );
        assert_eq!(
            header(&message, "content-type").as_deref(),
            Some("text/plain")
        );
        assert_eq!(header(&message, "x-custom").as_deref(), Some("kept"));
        assert!(header(&message, "receipt").is_none());
        assert!(header(&message, "message-id").is_some());
    }
    // Nobody subscribed to another topic: nothing kept.
    producer.publish("/topic/empty", "lost").await;
    a.subscribe("1", "/topic/empty", "auto").await;
    a.expect_quiet(Duration::from_millis(100)).await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn tcp_queue_delivers_each_message_to_one_consumer_round_robin() {
    let broker = start_default().await;
    let mut a = Peer::connected(broker.tcp_addr).await;
    let mut b = Peer::connected(broker.tcp_addr).await;
    a.subscribe("0", "/queue/work", "auto").await;
    b.subscribe("0", "/queue/work", "auto").await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    for i in 0..6 {
        producer.publish("/queue/work", &format!("job{i}")).await;
    }
    for i in (0..6).step_by(2) {
        a.expect_message(&format!("job{i}")).await;
        b.expect_message(&format!("job{}", i + 1)).await;
    }
    a.expect_quiet(Duration::from_millis(100)).await;
    b.expect_quiet(Duration::from_millis(10)).await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn queue_messages_wait_for_a_consumer() {
    let broker = start_default().await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    for i in 0..3 {
        producer.publish("/queue/later", &format!("m{i}")).await;
    }
    assert_eq!(broker.shared.broker().waiting(b"/queue/later"), 3);
    let mut consumer = Peer::connected(broker.tcp_addr).await;
    consumer.subscribe("0", "/queue/later", "auto").await;
    for i in 0..3 {
        let message = consumer.expect_message(&format!("m{i}")).await;
        assert!(header(&message, "redelivered").is_none());
    }
    broker.shutdown(WAIT).await;
}

/// How many 32 KiB messages the slow-consumer tests send: 32 MiB, far more than the
/// broker's socket send buffer and the small receive window of the consumer hold.
const FLOOD: usize = 1000;

fn flood_body(i: usize) -> Vec<u8> {
    let mut body = format!("{i:06}").into_bytes();
    body.resize(32 * 1024, b'x');
    body
}

/// Sends the flood to `destination` without receipts, then one last SEND with a receipt:
/// once that comes back, the broker has routed every message.
async fn flood(producer: &mut Peer, destination: &str) {
    for i in 0..FLOOD {
        producer
            .send(&frame(
                "SEND",
                &[("destination", destination)],
                &flood_body(i),
            ))
            .await;
    }
    producer.publish(destination, "last").await;
}

#[tokio::test]
async fn slow_queue_consumer_gets_every_message_in_order() {
    let broker = start(Config {
        delivery_backlog: 4,
        ..Config::default()
    })
    .await;
    let mut consumer = Peer::connected_small_window(broker.tcp_addr).await;
    consumer.subscribe("0", "/queue/flood", "auto").await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    // The consumer reads nothing meanwhile: what does not fit in transit or in its small
    // backlog waits in the queue, not in a buffer of its connection.
    flood(&mut producer, "/queue/flood").await;
    let waiting = broker.shared.broker().waiting(b"/queue/flood");
    assert!(
        waiting > FLOOD / 2,
        "only {waiting} messages waited in the queue"
    );
    // Reading, it gets every message, in order: the queue hands out more as it catches up.
    for i in 0..FLOOD {
        let message = consumer.expect(Command::Message).await;
        assert_eq!(message.body(), &flood_body(i)[..], "message {i}");
    }
    consumer.expect_message("last").await;
    assert_eq!(broker.shared.broker().waiting(b"/queue/flood"), 0);
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn slow_topic_subscriber_is_disconnected_with_an_error() {
    let broker = start(Config {
        delivery_backlog: 4,
        ..Config::default()
    })
    .await;
    let mut slow = Peer::connected_small_window(broker.tcp_addr).await;
    slow.subscribe("0", "/topic/flood", "auto").await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    flood(&mut producer, "/topic/flood").await;
    // The subscriber gets what was on its way, in order, then an ERROR, and is closed.
    let mut received = 0;
    let error = loop {
        let frame = slow.frame().await;
        match frame.command() {
            Command::Message => {
                assert_eq!(frame.body(), &flood_body(received)[..]);
                received += 1;
            }
            Command::Error => break frame,
            other => panic!("unexpected {other:?}"),
        }
    };
    slow.expect_closed().await;
    assert!(received < FLOOD, "all {received} messages arrived");
    let message = header(&error, "message").unwrap_or_default();
    assert!(message.contains("slow consumer"), "{error:?}");
    // The publisher is unaffected.
    producer.publish("/topic/flood", "after").await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let broker = start(Config {
        write_timeout: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    let mut stuck = Peer::connected_small_window(broker.tcp_addr).await;
    stuck.subscribe("0", "/topic/flood", "auto").await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    // All fit in the default backlog: only the blocked write can end the connection.
    flood(&mut producer, "/topic/flood").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut received = 0;
    loop {
        match stuck.next(WAIT).await {
            Next::Frame(frame) => {
                assert_eq!(frame.command(), Command::Message, "{frame:?}");
                received += 1;
            }
            Next::Closed => break,
            Next::Timeout => panic!("still open after {received} messages"),
        }
    }
    assert!(received < FLOOD, "all {received} messages arrived");
    producer.publish("/topic/flood", "after").await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn websocket_pub_sub_on_topics_and_queues() {
    let broker = start_default().await;
    let mut ws = Peer::ws(broker.ws_addr, "/ws", "v12.stomp").await;
    assert_eq!(ws.subprotocol.as_deref(), Some("v12.stomp"));
    let connected = ws.connect(&[]).await;
    assert_eq!(header(&connected, "version").as_deref(), Some("1.2"));
    ws.subscribe("t", "/topic/chat", "auto").await;
    ws.subscribe("q", "/queue/chat", "client-individual").await;

    let mut tcp = Peer::connected(broker.tcp_addr).await;
    tcp.subscribe("t", "/topic/chat", "auto").await;
    tcp.publish("/topic/chat", "from tcp").await;
    ws.expect_message("from tcp").await;
    tcp.expect_message("from tcp").await;

    // Two frames in one WebSocket message, then one frame split over three.
    let mut two = frame("SEND", &[("destination", "/topic/chat")], b"ws one");
    two.extend(frame("SEND", &[("destination", "/queue/chat")], b"ws two"));
    ws.send(&two).await;
    let split = frame(
        "SEND",
        &[("destination", "/topic/chat"), ("receipt", "split")],
        b"ws three",
    );
    ws.send(&split[..5]).await;
    ws.send_text(std::str::from_utf8(&split[5..12]).unwrap())
        .await;
    ws.send(&split[12..]).await;
    tcp.expect_message("ws one").await;
    tcp.expect_message("ws three").await;
    let mut got = Vec::new();
    for _ in 0..4 {
        let f = ws.frame().await;
        got.push((f.command(), body(&f), f));
    }
    let queued = got
        .iter()
        .find(|(_, b, _)| b == "ws two")
        .map(|(_, _, f)| f.clone())
        .expect("the queue message");
    assert!(got
        .iter()
        .any(|(c, _, f)| *c == Command::Receipt
            && header(f, "receipt-id").as_deref() == Some("split")));
    ws.ack(&queued).await;
    ws.disconnect().await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn websocket_upgrade_on_root_and_older_subprotocols() {
    let broker = start_default().await;
    let mut ws = Peer::ws(broker.ws_addr, "/", "v10.stomp, v11.stomp").await;
    assert_eq!(ws.subprotocol.as_deref(), Some("v11.stomp"));
    // The subprotocol caps the version, whatever accept-version says.
    let connected = ws.connect(&[]).await;
    assert_eq!(header(&connected, "version").as_deref(), Some("1.1"));
    ws.disconnect().await;
    // No host header, as stompjs sends it.
    let mut ws = Peer::ws(broker.ws_addr, "/ws", "v12.stomp,v11.stomp,v10.stomp").await;
    ws.send(&frame(
        "CONNECT",
        &[
            ("accept-version", "1.2,1.1,1.0"),
            ("heart-beat", "10000,10000"),
        ],
        b"",
    ))
    .await;
    ws.expect(Command::Connected).await;
    broker.shutdown(WAIT).await;
}

// ---- acknowledgments and redelivery ------------------------------------------------------------

#[tokio::test]
async fn client_ack_is_cumulative() {
    let broker = start_default().await;
    let mut consumer = Peer::connected(broker.tcp_addr).await;
    consumer.subscribe("0", "/queue/acks", "client").await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    for i in 0..4 {
        producer.publish("/queue/acks", &format!("m{i}")).await;
    }
    let mut messages = Vec::new();
    for i in 0..4 {
        messages.push(consumer.expect_message(&format!("m{i}")).await);
    }
    // ACK of the third settles the first three.
    let id = header(&messages[2], "ack").unwrap();
    consumer
        .send(&frame("ACK", &[("id", &id), ("receipt", "a")], b""))
        .await;
    consumer.expect_receipt("a").await;
    assert_eq!(broker.shared.broker().in_flight(), 1);
    // Leaving redelivers only the fourth.
    consumer.disconnect().await;
    let mut other = Peer::connected(broker.tcp_addr).await;
    other.subscribe("0", "/queue/acks", "auto").await;
    let message = other.expect_message("m3").await;
    assert_eq!(header(&message, "redelivered").as_deref(), Some("true"));
    other.expect_quiet(Duration::from_millis(100)).await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn client_individual_ack_settles_one_message() {
    let broker = start_default().await;
    let mut consumer = Peer::connected(broker.tcp_addr).await;
    consumer
        .subscribe("0", "/queue/individual", "client-individual")
        .await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    for i in 0..3 {
        producer
            .publish("/queue/individual", &format!("m{i}"))
            .await;
    }
    let mut messages = Vec::new();
    for i in 0..3 {
        messages.push(consumer.expect_message(&format!("m{i}")).await);
    }
    let id = header(&messages[1], "ack").unwrap();
    consumer
        .send(&frame("ACK", &[("id", &id), ("receipt", "a")], b""))
        .await;
    consumer.expect_receipt("a").await;
    assert_eq!(broker.shared.broker().in_flight(), 2);
    consumer.disconnect().await;
    let mut other = Peer::connected(broker.tcp_addr).await;
    other.subscribe("0", "/queue/individual", "auto").await;
    for text in ["m0", "m2"] {
        let message = other.expect_message(text).await;
        assert_eq!(header(&message, "redelivered").as_deref(), Some("true"));
    }
    other.expect_quiet(Duration::from_millis(100)).await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn nack_redelivers_the_message() {
    let broker = start_default().await;
    let mut consumer = Peer::connected(broker.tcp_addr).await;
    consumer
        .subscribe("0", "/queue/nack", "client-individual")
        .await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    producer.publish("/queue/nack", "try again").await;
    let first = consumer.expect_message("try again").await;
    assert!(header(&first, "redelivered").is_none());
    let id = header(&first, "ack").unwrap();
    consumer
        .send(&frame("NACK", &[("id", &id), ("receipt", "n")], b""))
        .await;
    // The only consumer gets it again, marked, under a new id.
    let mut frames = [consumer.frame().await, consumer.frame().await];
    frames.sort_by_key(|f| f.command() != Command::Receipt);
    assert_eq!(frames[0].command(), Command::Receipt);
    let again = &frames[1];
    assert_eq!(body(again), "try again");
    assert_eq!(header(again, "redelivered").as_deref(), Some("true"));
    assert_ne!(header(again, "ack"), Some(id));
    consumer.ack(again).await;
    consumer.disconnect().await;
    assert_eq!(broker.shared.broker().in_flight(), 0);
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn consumer_disconnect_redelivers_unacknowledged_messages() {
    let broker = start_default().await;
    let mut leaving = Peer::connected(broker.tcp_addr).await;
    leaving.subscribe("0", "/queue/orders", "client").await;
    let mut staying = Peer::connected(broker.tcp_addr).await;
    staying
        .subscribe("0", "/queue/orders", "client-individual")
        .await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    for i in 0..4 {
        producer.publish("/queue/orders", &format!("o{i}")).await;
    }
    leaving.expect_message("o0").await;
    leaving.expect_message("o2").await;
    staying.expect_message("o1").await;
    staying.expect_message("o3").await;
    // Gone without a word (and without acks).
    drop(leaving);
    for text in ["o0", "o2"] {
        let message = staying.expect_message(text).await;
        assert_eq!(header(&message, "redelivered").as_deref(), Some("true"));
    }
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn unsubscribe_redelivers_unacknowledged_messages() {
    let broker = start_default().await;
    let mut consumer = Peer::connected(broker.tcp_addr).await;
    consumer.subscribe("0", "/queue/unsub", "client").await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    producer.publish("/queue/unsub", "u0").await;
    consumer.expect_message("u0").await;
    consumer
        .send(&frame("UNSUBSCRIBE", &[("id", "0"), ("receipt", "u")], b""))
        .await;
    consumer.expect_receipt("u").await;
    // It waits in the queue again; the same client resubscribing gets it, redelivered.
    assert_eq!(broker.shared.broker().waiting(b"/queue/unsub"), 1);
    consumer.subscribe("0", "/queue/unsub", "auto").await;
    let message = consumer.expect_message("u0").await;
    assert_eq!(header(&message, "redelivered").as_deref(), Some("true"));
    broker.shutdown(WAIT).await;
}

// ---- transactions and receipts -----------------------------------------------------------------

#[tokio::test]
async fn transaction_commit_applies_sends_and_acks() {
    let broker = start_default().await;
    let mut watcher = Peer::connected(broker.tcp_addr).await;
    watcher.subscribe("0", "/topic/tx", "auto").await;
    let mut client = Peer::connected(broker.tcp_addr).await;
    client
        .subscribe("0", "/queue/tx-in", "client-individual")
        .await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    producer.publish("/queue/tx-in", "input").await;
    let input = client.expect_message("input").await;

    client
        .send(&frame(
            "BEGIN",
            &[("transaction", "t1"), ("receipt", "b")],
            b"",
        ))
        .await;
    client.expect_receipt("b").await;
    for text in ["one", "two"] {
        client
            .send(&frame(
                "SEND",
                &[("destination", "/topic/tx"), ("transaction", "t1")],
                text.as_bytes(),
            ))
            .await;
    }
    let id = header(&input, "ack").unwrap();
    client
        .send(&frame(
            "ACK",
            &[("id", &id), ("transaction", "t1"), ("receipt", "a")],
            b"",
        ))
        .await;
    client.expect_receipt("a").await;
    // Nothing happened yet.
    watcher.expect_quiet(Duration::from_millis(100)).await;
    assert_eq!(broker.shared.broker().in_flight(), 1);
    client
        .send(&frame(
            "COMMIT",
            &[("transaction", "t1"), ("receipt", "c")],
            b"",
        ))
        .await;
    client.expect_receipt("c").await;
    watcher.expect_message("one").await;
    watcher.expect_message("two").await;
    assert_eq!(broker.shared.broker().in_flight(), 0);
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn transaction_abort_and_disconnect_drop_sends() {
    let broker = start_default().await;
    let mut watcher = Peer::connected(broker.tcp_addr).await;
    watcher.subscribe("0", "/queue/tx-out", "auto").await;
    let mut client = Peer::connected(broker.tcp_addr).await;
    client
        .subscribe("0", "/queue/tx-in", "client-individual")
        .await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    producer.publish("/queue/tx-in", "input").await;
    let input = client.expect_message("input").await;

    client
        .send(&frame("BEGIN", &[("transaction", "t1")], b""))
        .await;
    client
        .send(&frame(
            "SEND",
            &[("destination", "/queue/tx-out"), ("transaction", "t1")],
            b"aborted",
        ))
        .await;
    let id = header(&input, "ack").unwrap();
    client
        .send(&frame("ACK", &[("id", &id), ("transaction", "t1")], b""))
        .await;
    client
        .send(&frame(
            "ABORT",
            &[("transaction", "t1"), ("receipt", "x")],
            b"",
        ))
        .await;
    client.expect_receipt("x").await;
    // The send is gone; the aborted ACK leaves the message unconsumed: it comes again.
    let again = client.expect_message("input").await;
    assert_eq!(header(&again, "redelivered").as_deref(), Some("true"));
    client.ack(&again).await;

    // A transaction still open when the client vanishes is dropped too.
    client
        .send(&frame("BEGIN", &[("transaction", "t2")], b""))
        .await;
    client
        .send(&frame(
            "SEND",
            &[
                ("destination", "/queue/tx-out"),
                ("transaction", "t2"),
                ("receipt", "s"),
            ],
            b"never committed",
        ))
        .await;
    client.expect_receipt("s").await;
    drop(client);
    producer.publish("/queue/tx-out", "after").await;
    watcher.expect_message("after").await;
    watcher.expect_quiet(Duration::from_millis(100)).await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn receipts_come_after_the_effect() {
    let broker = start_default().await;
    let mut client = Peer::connected(broker.tcp_addr).await;
    // SUBSCRIBE's receipt, then a SEND to it: the MESSAGE follows the SEND's RECEIPT.
    client.subscribe("0", "/queue/self", "auto").await;
    client
        .send(&frame(
            "SEND",
            &[("destination", "/queue/self"), ("receipt", "s")],
            b"to myself",
        ))
        .await;
    client.expect_receipt("s").await;
    client.expect_message("to myself").await;
    // UNSUBSCRIBE's receipt: nothing is delivered to it afterwards.
    client
        .send(&frame("UNSUBSCRIBE", &[("id", "0"), ("receipt", "u")], b""))
        .await;
    client.expect_receipt("u").await;
    let mut producer = Peer::connected(broker.tcp_addr).await;
    producer.publish("/queue/self", "kept").await;
    client.expect_quiet(Duration::from_millis(100)).await;
    assert_eq!(broker.shared.broker().waiting(b"/queue/self"), 1);
    // DISCONNECT's receipt is the last frame.
    client.disconnect().await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn unknown_destination_is_an_error() {
    let broker = start_default().await;
    let mut client = Peer::connected(broker.tcp_addr).await;
    client
        .send(&frame(
            "SEND",
            &[("destination", "/nowhere"), ("receipt", "r")],
            b"x",
        ))
        .await;
    let error = client.expect_error_and_close().await;
    assert_eq!(header(&error, "receipt-id").as_deref(), Some("r"));
    assert!(header(&error, "message")
        .unwrap()
        .contains("unknown destination"));
    broker.shutdown(WAIT).await;
}

// ---- login ------------------------------------------------------------------------------------

#[tokio::test]
async fn login_is_checked_when_configured() {
    let broker = start(Config {
        login: Some(("guest".into(), "s3cret".into())),
        ..Config::default()
    })
    .await;
    let mut wrong = Peer::tcp(broker.tcp_addr).await;
    wrong
        .send(&frame(
            "CONNECT",
            &[
                ("accept-version", "1.2"),
                ("host", "/"),
                ("login", "guest"),
                ("passcode", "nope"),
            ],
            b"",
        ))
        .await;
    let error = wrong.expect_error_and_close().await;
    assert!(header(&error, "message").unwrap().contains("bad login"));
    let mut missing = Peer::tcp(broker.tcp_addr).await;
    missing
        .send(&frame(
            "CONNECT",
            &[("accept-version", "1.2"), ("host", "/")],
            b"",
        ))
        .await;
    missing.expect_error_and_close().await;
    let mut right = Peer::tcp(broker.tcp_addr).await;
    right
        .connect(&[("login", "guest"), ("passcode", "s3cret")])
        .await;
    right.disconnect().await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn any_login_is_accepted_without_one_configured() {
    let broker = start_default().await;
    let mut client = Peer::tcp(broker.tcp_addr).await;
    client
        .connect(&[("login", "whoever"), ("passcode", "whatever")])
        .await;
    client.disconnect().await;
    broker.shutdown(WAIT).await;
}

// ---- the greeting app ------------------------------------------------------------------------

#[tokio::test]
async fn greeting_app_answers_on_topic_greetings() {
    let broker = start_default().await;
    let mut page = Peer::ws(broker.ws_addr, "/ws", "v12.stomp,v11.stomp,v10.stomp").await;
    page.send(&frame(
        "CONNECT",
        &[
            ("accept-version", "1.2,1.1,1.0"),
            ("heart-beat", "10000,10000"),
        ],
        b"",
    ))
    .await;
    page.expect(Command::Connected).await;
    page.subscribe("sub-0", "/topic/greetings", "auto").await;
    let mut tcp = Peer::connected(broker.tcp_addr).await;
    tcp.subscribe("0", "/topic/greetings", "auto").await;

    page.send(&frame(
        "SEND",
        &[("destination", "/app/hello"), ("content-length", "30")],
        br#"{"name":"<script>&'Bob'\"</>"}"#,
    ))
    .await;
    let expected = "Hello, &lt;script&gt;&amp;&#39;Bob&#39;&quot;&lt;/&gt;!";
    for peer in [&mut page, &mut tcp] {
        let greeting = peer.expect(Command::Message).await;
        assert_eq!(
            header(&greeting, "destination").as_deref(),
            Some("/topic/greetings")
        );
        assert_eq!(
            header(&greeting, "content-type").as_deref(),
            Some("application/json")
        );
        let json: serde_json::Value = serde_json::from_slice(greeting.body()).unwrap();
        assert_eq!(json, serde_json::json!({ "content": expected }));
    }
    // Not routed as a destination: nobody can subscribe to /app/hello.
    tcp.send(&frame(
        "SUBSCRIBE",
        &[("id", "1"), ("destination", "/app/hello")],
        b"",
    ))
    .await;
    tcp.expect_error_and_close().await;
    // A body that is not a greeting request is refused with ERROR.
    page.send(&frame("SEND", &[("destination", "/app/hello")], b"hello?"))
        .await;
    let error = page.expect_error_and_close().await;
    assert!(header(&error, "message").unwrap().contains("JSON"));
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn http_serves_the_greeting_page() {
    let broker = start_default().await;
    let (head, page) = http_get(broker.ws_addr, "/").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/html"));
    for id in [
        "connect",
        "disconnect",
        "name",
        "send",
        "greetings",
        "conversation",
    ] {
        assert!(page.contains(&format!("id=\"{id}\"")), "missing #{id}");
    }
    assert!(page.contains("What is your name?"));
    assert!(page.contains("src=\"/stomp.umd.min.js\""));
    assert!(page.contains("npm install @stomp/stompjs"));
    let (head, script) = http_get(broker.ws_addr, "/app.js").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(script.contains("new StompJs.Client({"));
    assert!(script.contains("brokerURL: 'ws://' + location.host + '/ws'"));
    assert!(script.contains("'/topic/greetings'"));
    assert!(script.contains("JSON.parse(greeting.body).content"));
    assert!(script.contains("destination: '/app/hello'"));
    assert!(script.contains("textContent"));
    assert!(!script.contains("innerHTML"));
    let (head, _) = http_get(broker.ws_addr, "/nothing-here").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn http_serves_stompjs_from_stompjs_path() {
    let dir = std::env::temp_dir().join(format!("broker-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = dir.join("stomp.umd.min.js");
    std::fs::write(&bundle, "/* stand-in bundle */ var StompJs = {};").unwrap();
    // Only this test reads the variable.
    std::env::set_var("STOMPJS_PATH", &bundle);
    let broker = start_default().await;
    let (head, body) = http_get(broker.ws_addr, "/stomp.umd.min.js").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("javascript"));
    assert_eq!(body, "/* stand-in bundle */ var StompJs = {};");
    broker.shutdown(WAIT).await;
    let _ = std::fs::remove_dir_all(dir);
}

// ---- bad input: the offender gets ERROR and is closed; the bystanders lose nothing -------------

#[tokio::test]
async fn bad_input_garbage() {
    let broker = start_default().await;
    let mut bystanders = Bystanders::new(broker.tcp_addr).await;
    bystanders.traffic(2).await;
    let mut bad = Peer::connected(broker.tcp_addr).await;
    bad.send(b"\x00\x01\x02 this is not STOMP \xff\xfe\n\n\0")
        .await;
    let error = bad.expect_error_and_close().await;
    assert!(header(&error, "message").is_some());
    // Garbage instead of CONNECT, over WebSocket this time.
    let mut bad = Peer::ws(broker.ws_addr, "/ws", "v12.stomp").await;
    bad.send(b"GET / HTTP/1.1\r\n\r\n").await;
    bad.expect_error_and_close().await;
    bystanders.traffic(2).await;
    bystanders.all_received().await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn bad_input_frame_larger_than_the_limit() {
    let broker = start(Config {
        limits: Limits {
            max_frame_len: 64 * 1024,
            max_body_len: 32 * 1024,
            ..Limits::DEFAULT
        },
        ..Config::default()
    })
    .await;
    let mut bystanders = Bystanders::new(broker.tcp_addr).await;
    bystanders.traffic(2).await;
    let mut bad = Peer::connected(broker.tcp_addr).await;
    // A body past max_body_len, announced by content-length.
    let body = vec![b'x'; 40 * 1024];
    bad.send(&frame(
        "SEND",
        &[
            ("destination", "/queue/bystanders"),
            ("content-length", "40960"),
        ],
        &body,
    ))
    .await;
    let error = bad.expect_error_and_close().await;
    assert!(header(&error, "message")
        .unwrap()
        .contains("malformed frame"));
    // A frame past max_frame_len without content-length, streamed in pieces.
    let mut bad = Peer::connected(broker.tcp_addr).await;
    bad.send(b"SEND\ndestination:/queue/bystanders\n\n").await;
    let chunk = vec![b'y'; 16 * 1024];
    for _ in 0..8 {
        bad.send(&chunk).await;
    }
    bad.expect_error_and_close().await;
    bystanders.traffic(2).await;
    bystanders.all_received().await;
    assert_eq!(broker.shared.broker().waiting(b"/queue/bystanders"), 0);
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn bad_input_frame_before_connect() {
    let broker = start_default().await;
    let mut bystanders = Bystanders::new(broker.tcp_addr).await;
    bystanders.traffic(2).await;
    let mut bad = Peer::tcp(broker.tcp_addr).await;
    bad.send(&frame(
        "SEND",
        &[("destination", "/queue/bystanders")],
        b"sneaky",
    ))
    .await;
    let error = bad.expect_error_and_close().await;
    assert!(header(&error, "message").unwrap().contains("CONNECT"));
    bystanders.traffic(2).await;
    // The sneaky message never reached the queue.
    bystanders.all_received().await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn bad_input_header_flood() {
    let broker = start_default().await;
    let mut bystanders = Bystanders::new(broker.tcp_addr).await;
    bystanders.traffic(2).await;
    // Too many headers.
    let mut bad = Peer::connected(broker.tcp_addr).await;
    let names: Vec<String> = (0..1000).map(|i| format!("h{i}")).collect();
    let mut headers: Vec<(&str, &str)> = vec![("destination", "/queue/bystanders")];
    headers.extend(names.iter().map(|n| (n.as_str(), "v")));
    bad.send(&frame("SEND", &headers, b"flood")).await;
    let error = bad.expect_error_and_close().await;
    assert!(header(&error, "message")
        .unwrap()
        .contains("malformed frame"));
    // One endless header line.
    let mut bad = Peer::connected(broker.tcp_addr).await;
    bad.send(b"SEND\ndestination:/queue/bystanders\nx-long:")
        .await;
    bad.send(&vec![b'z'; 64 * 1024]).await;
    bad.expect_error_and_close().await;
    bystanders.traffic(2).await;
    bystanders.all_received().await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn bad_input_half_frame_then_silence() {
    // Short heart-beats keep the test fast: silence is noticed after 200 ms × 1.5.
    let broker = start(Config {
        heart_beat_ms: 200,
        ..Config::default()
    })
    .await;
    let mut bystanders = Bystanders::new(broker.tcp_addr).await;
    bystanders.traffic(2).await;
    let mut bad = Peer::tcp(broker.tcp_addr).await;
    let connected = bad.connect(&[("heart-beat", "200,0")]).await;
    assert_eq!(header(&connected, "heart-beat").as_deref(), Some("200,200"));
    bad.send(b"SEND\ndestination:/queue/bystanders\n\nhalf a mess")
        .await;
    // The broker declares it dead and closes (no ERROR: the client is not listening).
    bad.expect_closed().await;
    bystanders.traffic(2).await;
    bystanders.all_received().await;
    broker.shutdown(WAIT).await;
}

#[tokio::test]
async fn bad_input_abrupt_disconnect_mid_frame() {
    let broker = start_default().await;
    let mut bystanders = Bystanders::new(broker.tcp_addr).await;
    bystanders.traffic(1).await;
    // The offender consumes the bystanders' queue too, acknowledges nothing, then vanishes in
    // the middle of a frame: what it held goes to the bystander consumer.
    let mut bad = Peer::connected(broker.tcp_addr).await;
    bad.subscribe("0", "/queue/bystanders", "client").await;
    let mut held = BTreeSet::new();
    let mut got = BTreeSet::new();
    for i in 1..5 {
        let text = format!("m{i}");
        bystanders
            .producer
            .publish("/queue/bystanders", &text)
            .await;
        bystanders
            .producer
            .publish("/topic/bystanders", &text)
            .await;
        bystanders.sent += 1;
    }
    // Round robin between the two consumers.
    for _ in 0..2 {
        held.insert(body(&bad.expect(Command::Message).await));
    }
    bad.send(b"SEND\ndestination:/queue/bystanders\ncontent-length:100\n\npart")
        .await;
    drop(bad);
    // m0 (before), then the bystander's own share, the topic copies and the redeliveries.
    let consumer = &mut bystanders.consumer;
    let first = consumer.expect_message("m0").await;
    assert_eq!(
        header(&first, "destination").as_deref(),
        Some("/queue/bystanders")
    );
    consumer.expect_message("m0").await;
    let mut topic = Vec::new();
    while got.len() < 4 || topic.len() < 4 {
        let message = consumer.expect(Command::Message).await;
        match header(&message, "destination").as_deref() {
            Some("/queue/bystanders") => {
                let text = body(&message);
                if held.contains(&text) {
                    assert_eq!(header(&message, "redelivered").as_deref(), Some("true"));
                }
                assert!(got.insert(text), "a duplicate");
            }
            _ => topic.push(body(&message)),
        }
    }
    assert_eq!(got, (1..5).map(|i| format!("m{i}")).collect());
    assert_eq!(topic, ["m1", "m2", "m3", "m4"]);
    bystanders.received = bystanders.sent;
    bystanders.traffic(2).await;
    bystanders.all_received().await;
    assert_eq!(broker.shared.broker().in_flight(), 0);
    broker.shutdown(WAIT).await;
}

// ---- shutdown -------------------------------------------------------------------------------

#[tokio::test]
async fn shutdown_closes_sessions_with_an_error() {
    let broker = start_default().await;
    let tcp_addr = broker.tcp_addr;
    let mut tcp = Peer::connected(tcp_addr).await;
    let mut ws = Peer::ws(broker.ws_addr, "/ws", "v12.stomp").await;
    ws.connect(&[]).await;
    broker.shutdown(WAIT).await;
    for peer in [&mut tcp, &mut ws] {
        let error = peer.expect_error_and_close().await;
        assert!(header(&error, "message").unwrap().contains("shutting down"));
    }
    assert!(TcpStream::connect(tcp_addr).await.is_err());
}
