//! What the relay tests share: the demo broker's modules, relay instances started in-process
//! on port 0 and pointed at RabbitMQ, and a raw STOMP client over TCP.

#![allow(dead_code)] // each test binary takes the parts it needs

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use stomp_proto::codec::{Decoder, OwnedFrame, OwnedItem};
use stomp_proto::Command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::listen::{self, Config, Running};
use crate::relay::{Relay, RelayConfig};

/// Generous bound for "eventually".
pub const WAIT: Duration = Duration::from_secs(10);

/// RabbitMQ's STOMP address: `STOMP_RABBITMQ_ADDR`, default `127.0.0.1:61623`.
pub fn rabbitmq_addr() -> String {
    std::env::var("STOMP_RABBITMQ_ADDR").unwrap_or_else(|_| "127.0.0.1:61623".into())
}

/// Fails loudly when RabbitMQ is not there: nothing is skipped.
pub async fn require_rabbitmq() {
    let addr = rabbitmq_addr();
    if let Err(e) = TcpStream::connect(&addr).await {
        panic!("RabbitMQ is not reachable at {addr}: {e} (run `bash .ci/rabbitmq.sh start`)");
    }
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
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

/// A relay instance: a demo broker whose destinations live on RabbitMQ.
pub struct Instance {
    pub running: Running,
    pub relay: Arc<Relay>,
}

impl Instance {
    /// Starts an instance with heart-beats of `heart_beat_ms` on both legs, and waits for its
    /// system connection.
    pub async fn start(heart_beat_ms: u32) -> Instance {
        Instance::start_to(&rabbitmq_addr(), heart_beat_ms, true).await
    }

    /// Starts an instance relaying to `addr`; waits for the system connection if asked.
    pub async fn start_to(addr: &str, heart_beat_ms: u32, wait: bool) -> Instance {
        let relay = Relay::start(RelayConfig {
            heart_beat_ms,
            connect_timeout: Duration::from_secs(3),
            max_backoff: Duration::from_millis(500),
            ..RelayConfig::new(addr)
        });
        if wait {
            assert!(
                relay.wait_system(WAIT).await,
                "the relay's system connection to {addr} did not come up"
            );
        }
        let running = listen::start(Config {
            tcp: "127.0.0.1:0".into(),
            ws: "127.0.0.1:0".into(),
            linger: Duration::from_millis(200),
            heart_beat_ms,
            upstream: Some(relay.clone()),
            ..Config::default()
        })
        .await
        .expect("broker starts");
        Instance { running, relay }
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.tcp_addr
    }
}

/// A STOMP frame from plain parts (values without characters that need escaping).
pub fn frame(command: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
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

pub fn header(frame: &OwnedFrame, name: &str) -> Option<String> {
    frame
        .header(name)
        .map(|v| String::from_utf8(v.decode().unwrap().into_owned()).unwrap())
}

pub fn body(frame: &OwnedFrame) -> String {
    String::from_utf8_lossy(frame.body()).into_owned()
}

#[derive(Debug)]
pub enum Next {
    Frame(OwnedFrame),
    Closed,
    Timeout,
}

/// A raw STOMP client over TCP.
pub struct Peer {
    stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
    eof: bool,
}

impl Peer {
    pub async fn tcp(addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Peer {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::new(),
            eof: false,
        }
    }

    /// A client connected with STOMP 1.2 and `heart-beat` as given (`0,0`: none).
    pub async fn connected(addr: SocketAddr, heart_beat: &str) -> Peer {
        let mut peer = Peer::tcp(addr).await;
        peer.send(&frame(
            "CONNECT",
            &[
                ("accept-version", "1.2"),
                ("host", "/"),
                ("heart-beat", heart_beat),
            ],
            b"",
        ))
        .await;
        peer.expect(Command::Connected).await;
        peer
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    async fn read_more(&mut self) {
        self.buf.reserve(16 * 1024);
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) | Err(_) => self.eof = true,
            Ok(_) => {}
        }
    }

    pub async fn next(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(OwnedItem::Frame(frame))) => return Next::Frame(frame),
                Ok(Some(OwnedItem::HeartBeat)) => continue,
                Ok(None) => {}
                Err(e) => panic!("the relay sent a malformed frame: {e}"),
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

    pub async fn frame(&mut self) -> OwnedFrame {
        match self.next(WAIT).await {
            Next::Frame(frame) => frame,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    pub async fn expect(&mut self, command: Command) -> OwnedFrame {
        let frame = self.frame().await;
        assert_eq!(frame.command(), command, "got {frame:?}");
        frame
    }

    pub async fn expect_receipt(&mut self, id: &str) {
        let receipt = self.expect(Command::Receipt).await;
        assert_eq!(header(&receipt, "receipt-id").as_deref(), Some(id));
    }

    pub async fn expect_closed(&mut self) {
        match self.next(WAIT).await {
            Next::Closed => {}
            other => panic!("expected the relay to close the connection, got {other:?}"),
        }
    }

    /// Nothing arrives for a while.
    pub async fn expect_quiet(&mut self, wait: Duration) {
        match self.next(wait).await {
            Next::Timeout => {}
            other => panic!("expected nothing, got {other:?}"),
        }
    }

    /// SUBSCRIBE with a receipt, waiting for it (the upstream broker has the subscription).
    pub async fn subscribe(&mut self, id: &str, destination: &str, ack: &str) {
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

    /// SEND with a receipt and `headers`, waiting for the receipt.
    pub async fn publish(&mut self, destination: &str, text: &str, headers: &[(&str, &str)]) {
        let receipt = format!("send-{text}");
        let mut all = vec![("destination", destination), ("receipt", &receipt)];
        all.extend_from_slice(headers);
        self.send(&frame("SEND", &all, text.as_bytes())).await;
        self.expect_receipt(&receipt).await;
    }

    /// The next MESSAGE whose body satisfies `wanted`, skipping others (other tests may
    /// publish greetings at the same time).
    pub async fn message_where(&mut self, wanted: impl Fn(&str) -> bool) -> OwnedFrame {
        loop {
            let message = self.expect(Command::Message).await;
            if wanted(&body(&message)) {
                return message;
            }
        }
    }

    pub async fn disconnect(&mut self) {
        self.send(&frame("DISCONNECT", &[("receipt", "bye")], b""))
            .await;
        self.expect_receipt("bye").await;
        self.expect_closed().await;
    }
}
