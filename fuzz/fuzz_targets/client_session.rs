//! Structure-aware: a client session driven by arbitrary server input (garbage and
//! well-formed server frames, split anywhere), API calls with arbitrary arguments and clock
//! jumps of any size.
//!
//! After every operation the session is drained, and `handle_timeout` is called while
//! `poll_timeout` is reached. Checked:
//! - nothing panics;
//! - every byte transmitted parses with `codec::Decoder` (1.2 rules until CONNECTED, the
//!   negotiated version after), as whole client frames or heart-beat EOLs; CONNECT/STOMP
//!   comes first and once, and nothing follows DISCONNECT;
//! - nothing is transmitted once the session reports itself closed;
//! - a reached `poll_timeout` makes `handle_timeout` do something (send, report, or move the
//!   deadline), so a caller's timer loop cannot spin.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use stomp_proto::session::client::{Message, Receipt, SendOptions, SubscribeOptions};
use stomp_proto::session::{Client, ClientConfig, ClientEvent};
use stomp_proto::time::{Duration, Instant};
use stomp_proto::{AckMode, Command, HeartBeat, Version};

mod common;
mod session_common;
use session_common::{Chunk, Clock, Piece, Pool, Settle, Str, Wire};

const SERVER_COMMANDS: [Command; 4] = [
    Command::Connected,
    Command::Message,
    Command::Receipt,
    Command::Error,
];

#[derive(Arbitrary, Debug)]
struct Config<'a> {
    versions: u8,
    host: &'a str,
    login: Option<(&'a str, &'a str)>,
    heart_beat: (u32, u32),
    grace_percent: u32,
    stomp_command: bool,
    headers: Vec<(&'a str, &'a str)>,
    limits: u8,
    /// Connect and disconnect timeouts, in milliseconds.
    timeouts: (Option<u16>, Option<u16>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ReceiptArg<'a> {
    None,
    Generated,
    Id(Str<'a>),
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
    Connect,
    Send {
        destination: Str<'a>,
        body: &'a [u8],
        content_type: Option<Str<'a>>,
        transaction: Option<Str<'a>>,
        receipt: ReceiptArg<'a>,
        headers: Vec<(Str<'a>, Str<'a>)>,
    },
    Subscribe {
        destination: Str<'a>,
        id: Option<Str<'a>>,
        ack: u8,
        receipt: ReceiptArg<'a>,
        headers: Vec<(Str<'a>, Str<'a>)>,
    },
    Unsubscribe {
        id: Str<'a>,
        receipt: ReceiptArg<'a>,
    },
    Ack {
        nack: bool,
        message: u8,
        transaction: Option<Str<'a>>,
        receipt: ReceiptArg<'a>,
    },
    Transaction {
        command: u8,
        transaction: Str<'a>,
        receipt: ReceiptArg<'a>,
    },
    Disconnect,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    config: Config<'a>,
    ops: Vec<Op<'a>>,
}

struct Harness {
    client: Client,
    now: Instant,
    pool: Pool,
    wire: Wire,
    messages: Vec<Message>,
    /// The negotiated version, once CONNECTED arrived.
    negotiated: Option<Version>,
    /// The session reported itself closed (and everything queued then was taken).
    closed: bool,
    disconnect_sent: bool,
}

impl Harness {
    /// Takes everything the session has to say; returns whether it said anything.
    fn take_all(&mut self) -> bool {
        let mut chunks = Vec::new();
        while let Some(chunk) = self.client.poll_transmit() {
            chunks.push(chunk);
        }
        let mut events = 0;
        while let Some(event) = self.client.poll_event() {
            events += 1;
            self.on_event(event);
        }
        if let Some(v) = self.client.version() {
            self.negotiated = Some(v);
        }
        if !chunks.is_empty() {
            assert!(!self.closed, "transmitted after closing: {chunks:?}");
            assert!(
                !self.disconnect_sent,
                "transmitted after DISCONNECT: {chunks:?}"
            );
            // CONNECT is written before anything is negotiated: a server reads it with 1.2
            // rules, whatever version it goes on to pick.
            let version = self.negotiated.unwrap_or(Version::V1_2);
            let first = self.wire.commands.is_empty();
            let commands = self.wire.check(&chunks, version);
            for (i, command) in commands.iter().enumerate() {
                assert_eq!(
                    command.is_connect(),
                    first && i == 0,
                    "{command} out of place: {:?}",
                    self.wire.commands
                );
                assert!(!self.disconnect_sent, "{command} after DISCONNECT");
                if *command == Command::Disconnect {
                    self.disconnect_sent = true;
                }
            }
        }
        if self.client.is_closed() {
            self.closed = true;
        }
        !chunks.is_empty() || events > 0
    }

    fn on_event(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Connected(c) => {
                assert!(!self.closed);
                self.negotiated = Some(c.version());
            }
            ClientEvent::Message(m) => {
                if let Some(id) = m.ack_id().map(|v| v.raw().to_vec()) {
                    self.pool.learn(&id);
                }
                if let Some(id) = m.message_id().map(|v| v.raw().to_vec()) {
                    self.pool.learn(&id);
                }
                if self.messages.len() >= 8 {
                    self.messages.remove(0);
                }
                self.messages.push(m);
            }
            ClientEvent::Receipt { receipt_id, .. } => self.pool.learn(receipt_id.as_bytes()),
            ClientEvent::Disconnected { .. }
            | ClientEvent::Error(_)
            | ClientEvent::HeartBeatTimeout
            | ClientEvent::ConnectTimeout
            | ClientEvent::DisconnectTimeout
            | ClientEvent::ProtocolError(_) => {
                assert!(self.client.is_closed(), "a closing event, but not closed");
            }
            _ => {}
        }
    }

    fn receipt(&self, arg: ReceiptArg<'_>) -> ReceiptOwned {
        match arg {
            ReceiptArg::None => ReceiptOwned::None,
            ReceiptArg::Generated => ReceiptOwned::Generated,
            ReceiptArg::Id(s) => ReceiptOwned::Id(s.resolve(&self.pool)),
        }
    }

    fn learn(&mut self, value: Option<&str>) {
        if let Some(v) = value {
            self.pool.learn(v.as_bytes());
        }
    }
}

enum ReceiptOwned {
    None,
    Generated,
    Id(String),
}

impl ReceiptOwned {
    fn get(&self) -> Receipt<'_> {
        match self {
            ReceiptOwned::None => Receipt::None,
            ReceiptOwned::Generated => Receipt::Generated,
            ReceiptOwned::Id(id) => Receipt::Id(id),
        }
    }
}

impl Settle for Harness {
    fn drain(&mut self) -> bool {
        self.take_all()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }
    fn handle_timeout(&mut self) {
        self.client.handle_timeout(self.now);
    }
    fn now(&self) -> Instant {
        self.now
    }
}

fn config(c: &Config<'_>) -> ClientConfig {
    let versions = session_common::versions(c.versions);
    let mut config = ClientConfig::new(c.host)
        .accept_versions(versions)
        .heart_beat(HeartBeat::new(c.heart_beat.0, c.heart_beat.1))
        .grace_percent(c.grace_percent)
        .stomp_command(c.stomp_command)
        .limits(common::LIMITS[usize::from(c.limits & 3)]);
    if let Some((login, passcode)) = c.login {
        config = config.login(login, passcode);
    }
    if let Some(ms) = c.timeouts.0 {
        config = config.connect_timeout(Duration::from_millis(ms.into()));
    }
    if let Some(ms) = c.timeouts.1 {
        config = config.disconnect_timeout(Duration::from_millis(ms.into()));
    }
    for &(name, value) in &c.headers {
        config = config.header(name, value);
    }
    config
}

fuzz_target!(|input: Input<'_>| {
    let mut h = Harness {
        client: Client::new(config(&input.config)),
        now: Instant::ZERO,
        pool: Pool::default(),
        wire: Wire::new(true),
        messages: Vec::new(),
        negotiated: None,
        closed: false,
        disconnect_sent: false,
    };
    for op in &input.ops {
        let now = h.now;
        match op {
            Op::Input {
                pieces,
                splits,
                way,
            } => {
                for r in h.client.outstanding_receipts() {
                    h.pool.learn(r.as_bytes());
                }
                let current = h.negotiated.unwrap_or(Version::V1_2);
                let bytes = session_common::encode(pieces, &SERVER_COMMANDS, current, &h.pool);
                for (i, chunk) in session_common::chunks(&bytes, splits)
                    .into_iter()
                    .enumerate()
                {
                    match session_common::input_way(*way, i).chunk(chunk) {
                        Chunk::Slice(c) => h.client.handle_input(now, c),
                        Chunk::Bytes(b, keep) => {
                            h.client.handle_input_bytes(now, b);
                            drop(keep);
                        }
                    }
                    h.settle();
                }
            }
            Op::Clock(clock) => {
                h.now = clock.advance(now, h.client.poll_timeout());
            }
            Op::Connect => {
                let _ = h.client.connect(now);
            }
            Op::Send {
                destination,
                body,
                content_type,
                transaction,
                receipt,
                headers,
            } => {
                let destination = destination.resolve(&h.pool);
                let content_type = content_type.map(|s| s.resolve(&h.pool));
                let transaction = transaction.map(|s| s.resolve(&h.pool));
                let receipt = h.receipt(*receipt);
                let headers: Vec<(String, String)> = headers
                    .iter()
                    .map(|(n, v)| (n.resolve(&h.pool), v.resolve(&h.pool)))
                    .collect();
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let mut options = SendOptions::new()
                    .with_receipt(receipt.get())
                    .headers(&headers);
                if let Some(t) = &content_type {
                    options = options.content_type(t);
                }
                if let Some(t) = &transaction {
                    options = options.transaction(t);
                }
                if let Ok(r) = h.client.send(now, &destination, body, options) {
                    h.learn(r.as_deref());
                }
            }
            Op::Subscribe {
                destination,
                id,
                ack,
                receipt,
                headers,
            } => {
                let destination = destination.resolve(&h.pool);
                let id = id.map(|s| s.resolve(&h.pool));
                let receipt = h.receipt(*receipt);
                let headers: Vec<(String, String)> = headers
                    .iter()
                    .map(|(n, v)| (n.resolve(&h.pool), v.resolve(&h.pool)))
                    .collect();
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let ack = [AckMode::Auto, AckMode::Client, AckMode::ClientIndividual]
                    [usize::from(*ack) % 3];
                let mut options = SubscribeOptions::new()
                    .ack(ack)
                    .with_receipt(receipt.get())
                    .headers(&headers);
                if let Some(id) = &id {
                    options = options.id(id);
                }
                if let Ok(sub) = h.client.subscribe(now, &destination, options) {
                    h.pool.learn(sub.id.as_bytes());
                    h.learn(sub.receipt.as_deref());
                }
            }
            Op::Unsubscribe { id, receipt } => {
                let id = id.resolve(&h.pool);
                let receipt = h.receipt(*receipt);
                if let Ok(r) = h.client.unsubscribe(now, &id, receipt.get()) {
                    h.learn(r.as_deref());
                }
            }
            Op::Ack {
                nack,
                message,
                transaction,
                receipt,
            } => {
                if !h.messages.is_empty() {
                    let m = h.messages[usize::from(*message) % h.messages.len()].clone();
                    let transaction = transaction.map(|s| s.resolve(&h.pool));
                    let receipt = h.receipt(*receipt);
                    let r = if *nack {
                        h.client
                            .nack(now, &m, transaction.as_deref(), receipt.get())
                    } else {
                        h.client.ack(now, &m, transaction.as_deref(), receipt.get())
                    };
                    if let Ok(r) = r {
                        h.learn(r.as_deref());
                    }
                }
            }
            Op::Transaction {
                command,
                transaction,
                receipt,
            } => {
                let transaction = transaction.resolve(&h.pool);
                let receipt = h.receipt(*receipt);
                let r = match command % 3 {
                    0 => h.client.begin(now, &transaction, receipt.get()),
                    1 => h.client.commit(now, &transaction, receipt.get()),
                    _ => h.client.abort(now, &transaction, receipt.get()),
                };
                if let Ok(r) = r {
                    h.pool.learn(transaction.as_bytes());
                    h.learn(r.as_deref());
                }
            }
            Op::Disconnect => {
                if let Ok(r) = h.client.disconnect(now) {
                    h.pool.learn(r.as_bytes());
                }
            }
        }
        h.settle();
        if let Some(deadline) = h.client.poll_timeout() {
            // After settling, a deadline is in the future (or the clock is at its end).
            assert!(
                deadline > h.now || h.now == Instant::from_micros(u64::MAX),
                "deadline {deadline:?} left behind at {:?}",
                h.now
            );
        }
    }
});
