//! Structure-aware: a server session driven by arbitrary client input (garbage and
//! well-formed client frames, split anywhere), API calls with arbitrary arguments and clock
//! jumps of any size.
//!
//! After every operation the session is drained, and `handle_timeout` is called while
//! `poll_timeout` is reached. Checked:
//! - nothing panics;
//! - every byte transmitted parses with `codec::Decoder` (1.2 rules until a version is
//!   negotiated, that version after), as whole server frames or heart-beat EOLs; CONNECTED
//!   comes at most once, MESSAGE and RECEIPT only after it, and nothing follows ERROR;
//! - nothing is transmitted once the session reports itself closed (what was queued at the
//!   close, a final ERROR or RECEIPT, comes out in the same drain);
//! - a reached `poll_timeout` makes `handle_timeout` do something (send, report, or move the
//!   deadline), so a caller's timer loop cannot spin.

#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use stomp_proto::session::server::Message;
use stomp_proto::session::{Server, ServerConfig, ServerEvent};
use stomp_proto::time::{Duration, Instant};
use stomp_proto::{Command, HeartBeat, Version};

mod common;
mod session_common;
use session_common::{Chunk, Clock, Piece, Pool, Settle, Str, Wire};

const CLIENT_COMMANDS: [Command; 11] = [
    Command::Connect,
    Command::Stomp,
    Command::Send,
    Command::Subscribe,
    Command::Unsubscribe,
    Command::Ack,
    Command::Nack,
    Command::Begin,
    Command::Commit,
    Command::Abort,
    Command::Disconnect,
];

#[derive(Arbitrary, Debug)]
struct Config<'a> {
    versions: u8,
    server_name: Option<&'a str>,
    heart_beat: (u32, u32),
    limits: u8,
    grace_percent: u32,
    max_subscriptions: u8,
    max_transactions: u8,
    max_pending_receipts: u8,
    require_host: bool,
    connect_timeout: Option<u32>,
}

#[derive(Arbitrary, Debug)]
enum Op<'a> {
    Input {
        pieces: Vec<Piece<'a>>,
        splits: Vec<u16>,
        /// How the chunks are handed over ([`session_common::input_way`]).
        way: u8,
    },
    Clock(Clock),
    Accept {
        session: Option<Str<'a>>,
    },
    Reject {
        message: Str<'a>,
    },
    Receipt {
        id: Str<'a>,
    },
    Deliver {
        subscription: Str<'a>,
        destination: Str<'a>,
        headers: Vec<(Str<'a>, Str<'a>)>,
        body: &'a [u8],
        /// Repeats the body up to this many bytes (large bodies take another path).
        grow_to: Option<u16>,
    },
    Error {
        message: Str<'a>,
        receipt_id: Option<Str<'a>>,
        body: &'a [u8],
    },
    Close,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    config: Config<'a>,
    ops: Vec<Op<'a>>,
}

struct Harness {
    server: Server,
    now: Instant,
    pool: Pool,
    wire: Wire,
    closed: bool,
    connected_sent: bool,
    error_sent: bool,
}

impl Harness {
    /// Takes everything the session has to say; returns whether it said anything.
    fn take_all(&mut self) -> bool {
        let mut chunks = Vec::new();
        while let Some(chunk) = self.server.poll_transmit() {
            chunks.push(chunk);
        }
        let mut events = 0;
        while let Some(event) = self.server.poll_event() {
            events += 1;
            self.on_event(event);
        }
        if !chunks.is_empty() {
            assert!(!self.closed, "transmitted after closing: {chunks:?}");
            assert!(!self.error_sent, "transmitted after ERROR: {chunks:?}");
            let version = self.server.version().unwrap_or(Version::V1_2);
            for command in self.wire.check(&chunks, version) {
                assert!(!self.error_sent, "{command} after ERROR");
                match command {
                    Command::Connected => {
                        assert!(!self.connected_sent, "CONNECTED twice");
                        self.connected_sent = true;
                    }
                    Command::Error => self.error_sent = true,
                    _ => assert!(self.connected_sent, "{command} before CONNECTED"),
                }
            }
        }
        if self.server.is_closed() {
            self.closed = true;
        }
        !chunks.is_empty() || events > 0
    }

    fn on_event(&mut self, event: ServerEvent) {
        let mut learn = |v: Option<&Bytes>| {
            if let Some(v) = v {
                self.pool.learn(v);
            }
        };
        match &event {
            ServerEvent::Send {
                transaction,
                receipt,
                ..
            } => {
                learn(transaction.as_ref());
                learn(receipt.as_ref());
            }
            ServerEvent::Subscribe {
                subscription,
                receipt,
                ..
            } => {
                learn(Some(subscription));
                learn(receipt.as_ref());
            }
            ServerEvent::Unsubscribe { receipt, .. }
            | ServerEvent::Ack { receipt, .. }
            | ServerEvent::Nack { receipt, .. }
            | ServerEvent::Disconnect { receipt } => learn(receipt.as_ref()),
            ServerEvent::Begin {
                transaction,
                receipt,
            }
            | ServerEvent::Commit {
                transaction,
                receipt,
            }
            | ServerEvent::Abort {
                transaction,
                receipt,
            } => {
                learn(Some(transaction));
                learn(receipt.as_ref());
            }
            ServerEvent::Closed { .. } => {
                assert!(self.server.is_closed(), "Closed reported, but not closed");
            }
            _ => {}
        }
    }
}

impl Settle for Harness {
    fn drain(&mut self) -> bool {
        self.take_all()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }
    fn handle_timeout(&mut self) {
        self.server.handle_timeout(self.now);
    }
    fn now(&self) -> Instant {
        self.now
    }
}

fn config(c: &Config<'_>) -> ServerConfig {
    let versions = session_common::versions(c.versions);
    // Small maxima, so that the fuzzer reaches them; 255 stands for the default.
    let max = |m: u8, default: usize| {
        if m == 255 {
            default
        } else {
            usize::from(m % 8)
        }
    };
    ServerConfig::new()
        .versions(versions)
        .server_name(c.server_name)
        .heart_beat(HeartBeat::new(c.heart_beat.0, c.heart_beat.1))
        .limits(common::LIMITS[usize::from(c.limits & 3)])
        .grace_percent(c.grace_percent)
        .max_subscriptions(max(c.max_subscriptions, 256))
        .max_transactions(max(c.max_transactions, 64))
        .max_pending_receipts(max(c.max_pending_receipts, 1024))
        .require_host(c.require_host)
        .connect_timeout(
            c.connect_timeout
                .map(|ms| Duration::from_millis(u64::from(ms))),
        )
}

fuzz_target!(|input: Input<'_>| {
    let mut h = Harness {
        server: Server::new(config(&input.config), Instant::ZERO),
        now: Instant::ZERO,
        pool: Pool::default(),
        wire: Wire::new(false),
        closed: false,
        connected_sent: false,
        error_sent: false,
    };
    h.settle();
    for op in &input.ops {
        let now = h.now;
        match op {
            Op::Input {
                pieces,
                splits,
                way,
            } => {
                let current = h.server.version().unwrap_or(Version::V1_2);
                let bytes = session_common::encode(pieces, &CLIENT_COMMANDS, current, &h.pool);
                for (i, chunk) in session_common::chunks(&bytes, splits)
                    .into_iter()
                    .enumerate()
                {
                    match session_common::input_way(*way, i).chunk(chunk) {
                        Chunk::Slice(c) => h.server.handle_input(now, c),
                        Chunk::Bytes(b, keep) => {
                            h.server.handle_input_bytes(now, b);
                            drop(keep);
                        }
                    }
                    h.settle();
                }
            }
            Op::Clock(clock) => {
                h.now = clock.advance(now, h.server.poll_timeout());
            }
            Op::Accept { session } => {
                let session = session.map(|s| s.resolve(&h.pool));
                let _ = h.server.accept(session.as_deref());
            }
            Op::Reject { message } => {
                let _ = h.server.reject(&message.resolve(&h.pool));
            }
            Op::Receipt { id } => {
                let _ = h.server.receipt(id.resolve(&h.pool));
            }
            Op::Deliver {
                subscription,
                destination,
                headers,
                body,
                grow_to,
            } => {
                let subscription = subscription.resolve(&h.pool);
                let destination = destination.resolve(&h.pool);
                let headers: Vec<(String, String)> = headers
                    .iter()
                    .map(|(n, v)| (n.resolve(&h.pool), v.resolve(&h.pool)))
                    .collect();
                let mut body = body.to_vec();
                if let Some(n) = grow_to {
                    let n = usize::from(*n);
                    if body.is_empty() {
                        body.push(b'x');
                    }
                    while body.len() < n {
                        body.extend_from_within(..body.len().min(n - body.len()));
                    }
                }
                let mut message = Message::new(&destination, Bytes::from(body));
                for (n, v) in &headers {
                    message = message.header(n, v);
                }
                if let Ok(id) = h.server.deliver(&subscription, &message) {
                    h.pool.learn(id.to_string().as_bytes());
                }
            }
            Op::Error {
                message,
                receipt_id,
                body,
            } => {
                let message = message.resolve(&h.pool);
                let receipt_id = receipt_id.map(|s| s.resolve(&h.pool));
                let _ = h
                    .server
                    .error(&message, receipt_id.as_deref().map(str::as_bytes), body);
            }
            Op::Close => h.server.handle_close(now),
        }
        h.settle();
        if let Some(deadline) = h.server.poll_timeout() {
            assert!(
                deadline > h.now || h.now == Instant::from_micros(u64::MAX),
                "deadline {deadline:?} left behind at {:?}",
                h.now
            );
        }
    }
});
