//! Helpers shared by the session fuzz targets (`client_session`, `server_session`).
//!
//! - [`Piece`]: what arrives from the peer: raw bytes, heart-beat EOLs, or well-formed frames
//!   of the peer's commands with headers taken from a pool of values the session knows (so
//!   receipts, subscriptions and message ids match often enough to reach deep states).
//! - [`Clock`]: how the caller's clock moves, from a microsecond to the end of time.
//! - [`Wire`]: re-parses everything a session transmits and checks the invariants on it.

#![allow(dead_code)] // each target uses a subset

use arbitrary::Arbitrary;
use bytes::BytesMut;
use stomp_proto::codec::{Decoder, OwnedItem};
use stomp_proto::time::{Duration, Instant};
use stomp_proto::{Command, ContentLength, FrameBuilder, Limits, Parser, Version};

/// Header names worth sending, indexed by [`HName::Known`].
pub const NAMES: [&str; 20] = [
    "accept-version",
    "host",
    "login",
    "passcode",
    "heart-beat",
    "destination",
    "id",
    "ack",
    "receipt",
    "transaction",
    "message-id",
    "subscription",
    "content-type",
    "content-length",
    "version",
    "session",
    "server",
    "receipt-id",
    "message",
    "selector",
];

/// Values every pool starts with.
pub const CONSTANTS: [&str; 16] = [
    "1.0",
    "1.1",
    "1.2",
    "1.0,1.1,1.2",
    "0,0",
    "0,10",
    "10,0",
    "100,100",
    "auto",
    "client",
    "client-individual",
    "/queue/a",
    "0",
    "1",
    "tx",
    "receipt-0",
];

/// Values the fuzzer may refer to: the constants, then what the session said or was told.
#[derive(Debug)]
pub struct Pool {
    values: Vec<Vec<u8>>,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool {
            values: CONSTANTS.iter().map(|c| c.as_bytes().to_vec()).collect(),
        }
    }
}

impl Pool {
    /// Remembers a value (bounded: the oldest learned value goes first).
    pub fn learn(&mut self, value: &[u8]) {
        if self.values.iter().any(|v| v == value) {
            return;
        }
        if self.values.len() >= CONSTANTS.len() + 48 {
            self.values.remove(CONSTANTS.len());
        }
        self.values.push(value.to_vec());
    }

    pub fn get(&self, i: u8) -> &[u8] {
        // Recent values are the interesting ones: index from the end.
        let n = self.values.len();
        &self.values[n - 1 - usize::from(i) % n]
    }
}

/// A string argument: a literal, or a value from the pool.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Str<'a> {
    Pool(u8),
    Lit(&'a str),
}

impl Str<'_> {
    pub fn resolve(self, pool: &Pool) -> String {
        match self {
            Str::Pool(i) => String::from_utf8_lossy(pool.get(i)).into_owned(),
            Str::Lit(s) => s.to_owned(),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum HName<'a> {
    Known(u8),
    Lit(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
pub enum HValue<'a> {
    Pool(u8),
    Lit(&'a [u8]),
}

/// A frame of the peer's commands, written by `FrameBuilder` (so well-formed in the version
/// it is written in).
#[derive(Arbitrary, Debug)]
pub struct FrameSpec<'a> {
    /// Index into the peer's commands.
    pub command: u8,
    /// The version to write it in; `None`: the one the session is in.
    pub version: Option<u8>,
    pub headers: Vec<(HName<'a>, HValue<'a>)>,
    pub body: &'a [u8],
    pub content_length: u8,
}

/// Something the peer sends.
#[derive(Arbitrary, Debug)]
pub enum Piece<'a> {
    Raw(&'a [u8]),
    HeartBeat { crlf: bool },
    Frame(FrameSpec<'a>),
}

impl FrameSpec<'_> {
    fn encode(&self, commands: &[Command], current: Version, pool: &Pool, out: &mut Vec<u8>) {
        let command = commands[usize::from(self.command) % commands.len()];
        let version = match self.version {
            None => current,
            Some(v) => crate::common::VERSIONS[usize::from(v & 3)],
        };
        let policy = match self.content_length % 3 {
            0 => ContentLength::WhenNeeded,
            1 => ContentLength::WhenBody,
            _ => ContentLength::Always,
        };
        let body = if command.may_have_body() {
            self.body
        } else {
            b""
        };
        let mut builder = FrameBuilder::<32>::with_room(version, command)
            .body(body)
            .content_length(policy);
        for (name, value) in &self.headers {
            let name = match name {
                HName::Known(i) => NAMES[usize::from(*i) % NAMES.len()].as_bytes(),
                HName::Lit(n) => n,
            };
            let value = match value {
                HValue::Pool(i) => pool.get(*i),
                HValue::Lit(v) => v,
            };
            builder = builder.header_bytes(name, value);
        }
        // Headers the version cannot carry: the frame is left out (raw pieces cover
        // malformed input).
        if let Ok(bytes) = builder.to_vec() {
            out.extend_from_slice(&bytes);
        }
    }
}

/// Encodes `pieces` into one byte stream.
pub fn encode(
    pieces: &[Piece<'_>],
    commands: &[Command],
    current: Version,
    pool: &Pool,
) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Raw(bytes) => out.extend_from_slice(bytes),
            Piece::HeartBeat { crlf: false } => out.push(b'\n'),
            Piece::HeartBeat { crlf: true } => out.extend_from_slice(b"\r\n"),
            Piece::Frame(spec) => spec.encode(commands, current, pool, &mut out),
        }
    }
    out
}

/// Splits `bytes` at the given points (taken modulo the remaining length), in order.
/// How a chunk of input is handed to a session: `handle_input(&[u8])`, or
/// `handle_input_bytes` with a `Bytes` that is its memory's only reference (decoded in place)
/// or one shared with a clone kept alive meanwhile (copied). `mode` picks the first chunk's
/// way; the next chunks take the next ways in turn, so that the paths mix, partial frames
/// pending included.
pub fn input_way(mode: u8, index: usize) -> InputWay {
    match (usize::from(mode) + index) % 3 {
        0 => InputWay::Slice,
        1 => InputWay::UniqueBytes,
        _ => InputWay::SharedBytes,
    }
}

/// See [`input_way`].
#[derive(Clone, Copy, Debug)]
pub enum InputWay {
    Slice,
    UniqueBytes,
    SharedBytes,
}

impl InputWay {
    /// `chunk` as this way hands it over.
    pub fn chunk(self, chunk: &[u8]) -> Chunk<'_> {
        match self {
            InputWay::Slice => Chunk::Slice(chunk),
            InputWay::UniqueBytes => Chunk::Bytes(BytesMut::from(chunk).freeze(), None),
            InputWay::SharedBytes => {
                let shared = BytesMut::from(chunk).freeze();
                Chunk::Bytes(shared.clone(), Some(shared))
            }
        }
    }
}

/// A chunk of input as [`InputWay::chunk`] hands it over.
pub enum Chunk<'b> {
    /// For `handle_input`.
    Slice(&'b [u8]),
    /// For `handle_input_bytes`, with the clone to keep alive meanwhile, if shared.
    Bytes(bytes::Bytes, Option<bytes::Bytes>),
}

pub fn chunks<'b>(bytes: &'b [u8], splits: &[u16]) -> Vec<&'b [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    for &s in splits {
        if rest.is_empty() {
            break;
        }
        let at = usize::from(s) % (rest.len() + 1);
        let (a, b) = rest.split_at(at);
        out.push(a);
        rest = b;
    }
    out.push(rest);
    out
}

/// How the clock moves.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Clock {
    Micros(u16),
    Millis(u16),
    Secs(u32),
    /// Any jump, up to the end of time.
    Jump(u64),
    /// To the session's deadline (or not at all without one).
    ToDeadline,
    /// Just past the deadline.
    PastDeadline(u16),
    /// The last representable instant.
    EndOfTime,
}

impl Clock {
    pub fn advance(self, now: Instant, deadline: Option<Instant>) -> Instant {
        match self {
            Clock::Micros(n) => now + Duration::from_micros(u64::from(n)),
            Clock::Millis(n) => now + Duration::from_millis(u64::from(n)),
            Clock::Secs(n) => now + Duration::from_secs(u64::from(n)),
            Clock::Jump(n) => now + Duration::from_micros(n),
            Clock::ToDeadline => deadline.map_or(now, |d| d.max(now)),
            Clock::PastDeadline(n) => {
                deadline.map_or(now, |d| d.max(now) + Duration::from_micros(u64::from(n)))
            }
            Clock::EndOfTime => Instant::from_micros(u64::MAX),
        }
    }
}

/// Everything one side transmitted, re-parsed.
pub struct Wire {
    decoder: Decoder,
    buf: BytesMut,
    /// Every frame's command, in order.
    pub commands: Vec<Command>,
    /// Bytes transmitted, frames and heart-beats.
    pub total: usize,
    client: bool,
}

impl Wire {
    /// A checker for what the client (`client`) or the server sends.
    pub fn new(client: bool) -> Wire {
        Wire {
            decoder: Decoder::with_parser(
                Parser::new()
                    .with_version(Version::V1_2)
                    .with_limits(Limits::UNLIMITED),
            ),
            buf: BytesMut::new(),
            commands: Vec::new(),
            total: 0,
            client,
        }
    }

    /// Checks what one drain transmitted, under `version`'s rules: only whole frames (or
    /// heart-beat EOLs) of this side's commands. Returns the commands.
    pub fn check(&mut self, chunks: &[bytes::Bytes], version: Version) -> Vec<Command> {
        let mut commands = Vec::new();
        for chunk in chunks {
            assert!(!chunk.is_empty(), "poll_transmit returned an empty chunk");
            self.buf.extend_from_slice(chunk);
            self.total += chunk.len();
        }
        self.decoder.set_version(version);
        let all = self.buf.clone();
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(OwnedItem::HeartBeat)) => {}
                Ok(Some(OwnedItem::Frame(frame))) => {
                    let command = frame.command();
                    assert_eq!(
                        command.is_client_command(),
                        self.client,
                        "{command} sent by the wrong side"
                    );
                    commands.push(command);
                }
                Ok(None) => break,
                Err(e) => panic!(
                    "transmitted bytes do not parse under {version:?}: {e:?}\n{}",
                    all.escape_ascii()
                ),
            }
        }
        assert!(
            self.buf.is_empty(),
            "a drain left part of a frame: {}",
            self.buf.escape_ascii()
        );
        self.commands.extend_from_slice(&commands);
        commands
    }
}

/// A session under test with its clock: what `settle` needs of either side's harness.
pub trait Settle {
    /// Takes everything the session has to say; returns whether it said anything.
    fn drain(&mut self) -> bool;
    /// The session's earliest deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Runs the session's timer at the harness's clock.
    fn handle_timeout(&mut self);
    /// The harness's clock.
    fn now(&self) -> Instant;

    /// Drains, then runs the timer while it is due; a due deadline must do something.
    fn settle(&mut self) {
        self.drain();
        for _ in 0..4 {
            let Some(deadline) = self.poll_timeout() else {
                return;
            };
            if deadline > self.now() {
                return;
            }
            self.handle_timeout();
            let did = self.drain();
            let after = self.poll_timeout();
            assert!(
                did || after != Some(deadline),
                "deadline {deadline:?} reached at {:?}, but handle_timeout did nothing",
                self.now()
            );
        }
    }
}

/// The versions a fuzzed configuration accepts: bits 0-2 pick 1.0, 1.1, 1.2 when bit 3 is
/// set; with bit 3 clear, all of them (the common case).
pub fn versions(bits: u8) -> stomp_proto::Versions {
    if bits & 8 == 0 {
        return stomp_proto::Versions::ALL;
    }
    let mut versions = stomp_proto::Versions::EMPTY;
    for (i, v) in Version::ALL.into_iter().enumerate() {
        if bits & (1 << i) != 0 {
            versions = versions.with(v);
        }
    }
    versions
}
