#![cfg(feature = "alloc")]
//! Random interleavings of client input (valid frames, invalid frames and garbage, split
//! anywhere), application calls and clock jumps never panic the server session, and every
//! byte it transmits parses as server frames of the negotiated version.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use stomp_proto::codec::{Decoder, OwnedItem};
use stomp_proto::session::{Message, Server, ServerConfig, ServerEvent};
use stomp_proto::time::{Duration, Instant};
use stomp_proto::{Command, HeartBeat, Limits, Parser, Version};

fn receipt() -> impl Strategy<Value = String> {
    prop::option::weighted(0.3, 0u8..20)
        .prop_map(|r| r.map_or_else(String::new, |r| format!("receipt:r{r}\n")))
}

fn transaction() -> impl Strategy<Value = String> {
    prop::option::weighted(0.15, 0u8..3)
        .prop_map(|t| t.map_or_else(String::new, |t| format!("transaction:tx{t}\n")))
}

fn connect() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![
            "",
            "1.0",
            "1.1",
            "1.2",
            "1.0,1.1,1.2",
            "1.1,1.2",
            "1.2",
            "2.0",
        ]),
        prop::bool::weighted(0.9),
        prop::option::of((0u32..3000, 0u32..3000)),
        prop::sample::select(vec!["CONNECT", "STOMP"]),
        prop::sample::select(vec!["\n", "\r\n"]),
    )
        .prop_map(|(accept, host, heart_beat, command, eol)| {
            let mut s = format!("{command}{eol}");
            if !accept.is_empty() {
                s += &format!("accept-version:{accept}{eol}");
            }
            if host {
                s += &format!("host:h{eol}");
            }
            if let Some((cx, cy)) = heart_beat {
                s += &format!("heart-beat:{cx},{cy}{eol}");
            }
            s += &format!("login:u{eol}{eol}\0");
            s.into_bytes()
        })
}

fn client_frame() -> impl Strategy<Value = Vec<u8>> {
    let frame = prop_oneof![
        4 => (0u8..4, prop::sample::select(vec!["", "ack:auto\n", "ack:client\n", "ack:client-individual\n"]), receipt())
            .prop_map(|(id, ack, r)| format!("SUBSCRIBE\nid:{id}\ndestination:/q{id}\n{ack}{r}\n\0").into_bytes()),
        4 => (0u8..4, transaction(), receipt(), prop::collection::vec(any::<u8>(), 0..8), any::<bool>())
            .prop_map(|(d, t, r, body, with_length)| {
                let mut s = format!("SEND\ndestination:/q{d}\n{t}{r}").into_bytes();
                if with_length {
                    s.extend_from_slice(format!("content-length:{}\n", body.len()).as_bytes());
                    s.push(b'\n');
                    s.extend_from_slice(&body);
                } else {
                    s.push(b'\n');
                    s.extend(body.into_iter().filter(|&b| b != 0));
                }
                s.push(0);
                s
            }),
        1 => (0u8..4, receipt()).prop_map(|(id, r)| format!("UNSUBSCRIBE\nid:{id}\n{r}\n\0").into_bytes()),
        // Every version's headers at once: valid in each.
        1 => (0u8..4, 1u64..6, transaction(), receipt(), prop::sample::select(vec!["ACK", "ACK", "NACK"]))
            .prop_map(|(s, m, t, r, c)| format!("{c}\nid:{m}\nsubscription:{s}\nmessage-id:{m}\n{t}{r}\n\0").into_bytes()),
        2 => (prop::sample::select(vec!["BEGIN", "COMMIT", "ABORT"]), 0u8..3, receipt())
            .prop_map(|(c, t, r)| format!("{c}\ntransaction:tx{t}\n{r}\n\0").into_bytes()),
        1 => receipt().prop_map(|r| format!("DISCONNECT\n{r}\n\0").into_bytes()),
        2 => Just(b"\n".to_vec()),
    ];
    let hostile = prop_oneof![
        Just(b"SEND\n\n\0".to_vec()),
        Just(b"MESSAGE\ndestination:/q\n\n\0".to_vec()),
        Just(b"SUBSCRIBE\nid:0\ndestination:/q\\t\n\n\0".to_vec()),
        prop::collection::vec(any::<u8>(), 0..24),
        connect(),
    ];
    prop_oneof![
        80 => frame,
        1 => hostile,
    ]
}

#[derive(Clone, Debug)]
enum Op {
    /// Feed the next `n` bytes of the client's stream.
    Feed(usize),
    Accept(bool),
    Reject,
    /// A receipt the session reported (index into those seen), or any string.
    Receipt(usize),
    BadReceipt,
    /// Deliver to a known subscription (or a made-up one), with a body length and a header.
    Deliver(usize, usize, usize),
    Error,
    /// Move the clock forward and handle the timeout.
    Advance(u64),
    /// Feed input stamped with an earlier instant.
    Late(usize, u64),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        120 => (1usize..64).prop_map(Op::Feed),
        30 => any::<bool>().prop_map(Op::Accept),
        2 => Just(Op::Reject),
        40 => (0usize..8).prop_map(Op::Receipt),
        5 => Just(Op::BadReceipt),
        60 => (0usize..5, prop::sample::select(vec![0usize, 5, 2000]), 0usize..6)
            .prop_map(|(s, b, h)| Op::Deliver(s, b, h)),
        1 => Just(Op::Error),
        50 => prop_oneof![10 => 0u64..100, 5 => 100u64..5000, 1 => 5000u64..100_000_000]
            .prop_map(Op::Advance),
        10 => (1usize..32, 0u64..5000).prop_map(|(n, back)| Op::Late(n, back)),
        1 => Just(Op::Close),
    ]
}

const HEADERS: [(&str, &str); 6] = [
    ("content-type", "text/plain"),
    ("note", "a:b"),
    ("note", "back\\slash"),
    ("note", "line\nfeed"),
    ("content-length", "7"),
    ("x", ""),
];

struct Run {
    server: Server,
    now: Instant,
    out: Vec<u8>,
    receipts: Vec<Bytes>,
    subscriptions: Vec<Bytes>,
    closed: bool,
    bytes_at_close: Option<usize>,
}

impl Run {
    fn drain(&mut self) {
        while let Some(chunk) = self.server.poll_transmit() {
            assert!(!chunk.is_empty());
            if let Some(at) = self.bytes_at_close {
                panic!("bytes after close (close at {at}): {chunk:?}");
            }
            self.out.extend_from_slice(&chunk);
        }
        while let Some(event) = self.server.poll_event() {
            assert!(!self.closed, "event after Closed: {event:?}");
            match event {
                ServerEvent::Closed { .. } => self.closed = true,
                ServerEvent::Subscribe {
                    subscription,
                    receipt,
                    ..
                } => {
                    self.subscriptions.push(subscription);
                    self.receipts.extend(receipt);
                }
                ServerEvent::Send { receipt, .. }
                | ServerEvent::Unsubscribe { receipt, .. }
                | ServerEvent::Ack { receipt, .. }
                | ServerEvent::Nack { receipt, .. }
                | ServerEvent::Begin { receipt, .. }
                | ServerEvent::Commit { receipt, .. }
                | ServerEvent::Abort { receipt, .. }
                | ServerEvent::Disconnect { receipt } => self.receipts.extend(receipt),
                _ => {}
            }
        }
        if self.closed {
            assert!(self.server.is_closed());
            assert_eq!(self.server.poll_timeout(), None);
            self.bytes_at_close.get_or_insert(self.out.len());
        }
        if self.server.poll_timeout().is_some() {
            // Only the connect deadline (no CONNECT negotiated yet) or heart-beats run a timer.
            let awaiting_connect = self.server.version().is_none();
            assert!(awaiting_connect || self.server.heart_beat_intervals() != (None, None));
        }
    }
}

fn run(stream: &[u8], ops: &[Op], config: ServerConfig) {
    let mut run = Run {
        server: Server::new(config, Instant::ZERO),
        now: Instant::ZERO,
        out: Vec::new(),
        receipts: Vec::new(),
        subscriptions: Vec::new(),
        closed: false,
        bytes_at_close: None,
    };
    let mut pos = 0;
    for op in ops {
        match *op {
            Op::Feed(n) => {
                let end = stream.len().min(pos + n);
                run.server.handle_input(run.now, &stream[pos..end]);
                pos = end;
            }
            Op::Late(n, back) => {
                let end = stream.len().min(pos + n);
                let then = Instant::from_micros(run.now.total_micros().saturating_sub(back * 1000));
                run.server.handle_input(then, &stream[pos..end]);
                pos = end;
            }
            Op::Accept(with_session) => {
                let _ = run.server.accept(with_session.then_some("s:1"));
            }
            Op::Reject => {
                let _ = run.server.reject("go away");
            }
            Op::Receipt(i) => {
                if let Some(r) = run.receipts.get(i % run.receipts.len().max(1)).cloned() {
                    let _ = run.server.receipt(r);
                }
            }
            Op::BadReceipt => {
                let _ = run.server.receipt("never-asked");
            }
            Op::Deliver(s, body_len, h) => {
                let sub = run
                    .subscriptions
                    .get(s)
                    .cloned()
                    .unwrap_or_else(|| Bytes::from_static(b"9"));
                let body = Bytes::from(vec![0u8; body_len]);
                let (name, value) = HEADERS[h];
                let message = Message::new("/q", body).header(name, value);
                let _ = run.server.deliver(&sub, &message);
            }
            Op::Error => {
                let _ = run.server.error("application error", Some(b"r1"), b"oops");
            }
            Op::Advance(ms) => {
                run.now += Duration::from_millis(ms);
                run.server.handle_timeout(run.now);
            }
            Op::Close => run.server.handle_close(run.now),
        }
        run.drain();
    }
    // Whatever is left arrives, and the application says yes.
    run.server.handle_input(run.now, &stream[pos..]);
    run.drain();
    let _ = run.server.accept(None);
    run.drain();

    // Every byte sent parses as server frames of the negotiated version.
    let version = run.server.version().unwrap_or(Version::V1_2);
    let parser = Parser::new()
        .with_version(version)
        .with_limits(Limits::UNLIMITED);
    let mut decoder = Decoder::with_parser(parser);
    let mut buf = BytesMut::from(&run.out[..]);
    let mut commands = Vec::new();
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(OwnedItem::Frame(frame))) => commands.push(frame.command()),
            Ok(Some(OwnedItem::HeartBeat)) => {}
            Ok(None) => break,
            Err(e) => panic!(
                "server output does not parse as {version}: {e}: {:?}",
                run.out.escape_ascii().to_string()
            ),
        }
    }
    assert!(buf.is_empty(), "partial frame at the end: {buf:?}");
    for (i, command) in commands.iter().enumerate() {
        assert!(
            matches!(
                command,
                Command::Connected | Command::Message | Command::Receipt | Command::Error
            ),
            "{command} is not a server frame"
        );
        if *command == Command::Connected {
            assert_eq!(i, 0, "CONNECTED comes first, once");
        }
        if *command == Command::Error {
            assert_eq!(i, commands.len() - 1, "ERROR is the last frame");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_sessions_never_panic_and_send_only_valid_frames(
        connect in connect(),
        frames in prop::collection::vec(client_frame(), 0..16),
        ops in prop::collection::vec(op(), 0..80),
        offer in (0u32..2000, 0u32..2000),
        small_limits in (0u8..10).prop_map(|n| n == 0),
    ) {
        let mut stream = connect;
        for frame in frames {
            stream.extend_from_slice(&frame);
        }
        let mut config = ServerConfig::new()
            .heart_beat(HeartBeat::new(offer.0, offer.1))
            .max_pending_receipts(4)
            .max_subscriptions(3)
            .max_transactions(2);
        if small_limits {
            config = config.limits(Limits {
                max_frame_len: 96,
                max_headers: 4,
                max_header_line_len: 40,
                max_body_len: 16,
            });
        }
        run(&stream, &ops, config);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16),
        ops in prop::collection::vec(op(), 0..16),
    ) {
        let stream: Vec<u8> = chunks.concat();
        run(&stream, &ops, ServerConfig::new());
    }
}
