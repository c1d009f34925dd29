//! Sans-IO session state machines (feature `alloc`): [`client::Client`] and
//! [`server::Server`], one connection each.
//!
//! A session never touches a socket or a clock. The caller drives it:
//!
//! - `handle_input(now, bytes)` with whatever the transport read;
//! - `handle_timeout(now)` once `poll_timeout()` is reached;
//! - API calls (`send`, `subscribe`, …) whenever the application wants;
//!
//! and after **every** one of those calls drains the session, each poll until it returns
//! `None`:
//!
//! - `poll_transmit()`: bytes to write to the transport, in order;
//! - `poll_event()`: what happened (a message arrived, a receipt, an error, …);
//! - `poll_timeout()`: the next instant at which `handle_timeout` must be called (it changes
//!   after every call, so ask again each time).
//!
//! Time is the crate's own [`Instant`]: any monotonic timeline the
//! caller likes, real or virtual.

use bytes::{Bytes, BytesMut};

use crate::serialize::PlainHeader;
use crate::time::{Duration, Instant};
use crate::{Command, SerializeError, Version};

pub mod client;
pub mod server;
mod wire;

pub use client::{Client, ClientConfig, ClientEvent};
pub use server::{
    CloseReason, ConnectRequest, Message, MessageId, ProtocolError, Server, ServerConfig,
    ServerEvent,
};

/// Why a session refuses an API call. The session is unchanged when it returns one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionError {
    /// The session is not connected yet (no CONNECTED sent or received).
    NotConnected,
    /// The session is already connecting or connected.
    AlreadyConnected,
    /// The session is disconnecting or closed: nothing more may be sent.
    Closed,
    /// No subscription has this id.
    UnknownSubscription,
    /// A subscription with this id exists already.
    DuplicateSubscription,
    /// The message's subscription uses `ack:auto`: there is nothing to acknowledge.
    AckNotExpected,
    /// No unacknowledged message matches.
    UnknownMessage,
    /// NACK does not exist in STOMP 1.0.
    NackNotInVersion,
    /// The `client-individual` ack mode does not exist in STOMP 1.0.
    AckModeNotInVersion,
    /// No open transaction has this id.
    UnknownTransaction,
    /// A transaction with this id is open already.
    DuplicateTransaction,
    /// No reported frame waits for a RECEIPT with this id.
    UnknownReceipt,
    /// A header or body given to the call cannot be encoded.
    Serialize(SerializeError),
}

impl core::fmt::Display for SessionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SessionError::NotConnected => f.write_str("session not connected"),
            SessionError::AlreadyConnected => {
                f.write_str("session already connecting or connected")
            }
            SessionError::Closed => f.write_str("session disconnecting or closed"),
            SessionError::UnknownSubscription => f.write_str("unknown subscription"),
            SessionError::DuplicateSubscription => f.write_str("subscription id already in use"),
            SessionError::AckNotExpected => {
                f.write_str("subscription does not expect acknowledgments")
            }
            SessionError::UnknownMessage => f.write_str("no unacknowledged message matches"),
            SessionError::NackNotInVersion => f.write_str("NACK does not exist in STOMP 1.0"),
            SessionError::AckModeNotInVersion => {
                f.write_str("ack mode client-individual does not exist in STOMP 1.0")
            }
            SessionError::UnknownTransaction => f.write_str("unknown transaction"),
            SessionError::DuplicateTransaction => f.write_str("transaction id already in use"),
            SessionError::UnknownReceipt => f.write_str("no frame waits for this receipt"),
            SessionError::Serialize(e) => write!(f, "cannot encode frame: {e}"),
        }
    }
}

impl core::error::Error for SessionError {}

impl From<SerializeError> for SessionError {
    fn from(e: SerializeError) -> SessionError {
        SessionError::Serialize(e)
    }
}

/// Appends a frame with plain headers to `buf` the way both sessions write frames: escaped
/// for `command` in `version`, with a `content-length` whenever there is a body.
pub(crate) fn put_frame(
    buf: &mut BytesMut,
    version: Version,
    command: Command,
    headers: &[PlainHeader<'_>],
    body: &[u8],
) -> Result<(), SerializeError> {
    wire::put_frame(buf, version, command, headers, body)
}

/// Most octets [`make_room`] reserves ahead.
const ROOM_MAX: usize = 1 << 20;

/// Before the first write after a chunk of `hint` octets was taken from `buf` (with all of
/// its memory): room for as much again (up to [`ROOM_MAX`]), so that a batch as large as
/// the last one is not written into a buffer that grows by doubling and copies what the
/// batch wrote so far.
/// A quarter more is reserved, so that a batch somewhat larger than the last one still fits.
#[inline]
pub(crate) fn make_room(buf: &mut BytesMut, hint: usize) {
    let hint = hint.min(ROOM_MAX);
    if buf.is_empty() && buf.capacity() < hint {
        buf.reserve(hint + hint / 4);
    }
}

/// Bytes waiting to be written to the transport.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: BytesMut,
    /// The length of the last chunk taken.
    last_chunk: usize,
}

impl Outbox {
    /// Appends a frame with plain headers, escaped for `command` in `version`.
    pub(crate) fn frame(
        &mut self,
        version: Version,
        command: Command,
        headers: &[PlainHeader<'_>],
        body: &[u8],
    ) -> Result<(), SerializeError> {
        make_room(&mut self.buf, self.last_chunk);
        put_frame(&mut self.buf, version, command, headers, body)
    }

    /// [`frame`](Self::frame), where the names of the first `trusted` headers are the
    /// session's own standard names.
    pub(crate) fn frame_trusting(
        &mut self,
        version: Version,
        command: Command,
        headers: &[PlainHeader<'_>],
        trusted: usize,
        body: &[u8],
    ) -> Result<(), SerializeError> {
        make_room(&mut self.buf, self.last_chunk);
        wire::put_frame_trusting(&mut self.buf, version, command, headers, trusted, body)
    }

    /// The usual SEND (see [`wire::put_send`]); `false`, with nothing written, when a value
    /// is not plain.
    pub(crate) fn send(
        &mut self,
        destination: &[u8],
        content_type: Option<&[u8]>,
        body: &[u8],
    ) -> bool {
        make_room(&mut self.buf, self.last_chunk);
        wire::put_send(&mut self.buf, destination, content_type, body)
    }

    /// Appends raw bytes (a heart-beat EOL, or an already encoded frame).
    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Everything waiting, as one chunk.
    pub(crate) fn take(&mut self) -> Option<Bytes> {
        if self.buf.is_empty() {
            return None;
        }
        self.last_chunk = self.buf.len();
        // The whole buffer goes: the chunk is the only reference to its memory, so a peer
        // session in the same process can decode it in place (`handle_input_bytes`).
        Some(core::mem::take(&mut self.buf).freeze())
    }
}

/// A decimal number formatted on the stack, for header values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decimal {
    /// The digits, right-aligned.
    digits: [u8; 20],
    start: usize,
}

/// Zero.
impl Default for Decimal {
    fn default() -> Decimal {
        Decimal::new(0)
    }
}

/// "00" to "99": two digits per division.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

impl Decimal {
    pub(crate) fn new(mut n: u64) -> Decimal {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        while n >= 100 {
            let pair = (n % 100) as usize * 2;
            n /= 100;
            start -= 2;
            digits[start..start + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        }
        if n >= 10 {
            let pair = n as usize * 2;
            start -= 2;
            digits[start..start + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        } else {
            start -= 1;
            digits[start] = b'0' + n as u8;
        }
        Decimal { digits, start }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start..]
    }

    /// Adds one, digit by digit (what `Decimal::new(n + 1)` writes), for a counter; below
    /// `u64::MAX` only (the caller saturates).
    pub(crate) fn increment(&mut self) {
        for i in (self.start..self.digits.len()).rev() {
            if self.digits[i] == b'9' {
                self.digits[i] = b'0';
            } else {
                self.digits[i] += 1;
                return;
            }
        }
        // All nines: one more digit (20 digits cover u64::MAX).
        if self.start > 0 {
            self.start -= 1;
            self.digits[self.start] = b'1';
        }
    }
}

/// Heart-beat bookkeeping for one connection, both directions.
///
/// After negotiation, `send_every` is how often this side must send *something* (a frame or
/// an EOL) and `expect_every` how often the peer must; the peer is declared dead when nothing
/// at all arrived for `expect_every × grace_percent / 100`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeartBeats {
    send_every: Option<Duration>,
    expect_every: Option<Duration>,
    grace_percent: u32,
    last_sent: Instant,
    last_received: Instant,
}

/// What a heart-beat deadline asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeartBeatDue {
    /// Send an EOL now: nothing was sent for the interval.
    pub(crate) send: bool,
    /// The peer is dead: nothing was received within the grace window.
    pub(crate) peer_dead: bool,
}

impl HeartBeats {
    /// No heart-beats either way, yet.
    pub(crate) fn new(grace_percent: u32, now: Instant) -> HeartBeats {
        HeartBeats {
            send_every: None,
            expect_every: None,
            grace_percent: grace_percent.max(100),
            last_sent: now,
            last_received: now,
        }
    }

    /// Starts the negotiated intervals at `now`.
    pub(crate) fn start(
        &mut self,
        send_every: Option<Duration>,
        expect_every: Option<Duration>,
        now: Instant,
    ) {
        self.send_every = send_every;
        self.expect_every = expect_every;
        self.last_sent = now;
        self.last_received = now;
    }

    /// Stops both directions (the connection is closing).
    pub(crate) fn stop(&mut self) {
        self.send_every = None;
        self.expect_every = None;
    }

    /// Stops sending heart-beats (DISCONNECT was sent) while still watching the peer.
    pub(crate) fn stop_sending(&mut self) {
        self.send_every = None;
    }

    /// Stops watching the peer (it sent DISCONNECT) while still sending heart-beats.
    pub(crate) fn stop_expecting(&mut self) {
        self.expect_every = None;
    }

    /// The negotiated intervals `(send, expect)`.
    pub(crate) fn intervals(&self) -> (Option<Duration>, Option<Duration>) {
        (self.send_every, self.expect_every)
    }

    /// Something was written to the transport at `now`.
    pub(crate) fn sent(&mut self, now: Instant) {
        self.last_sent = self.last_sent.max(now);
    }

    /// Something (anything) arrived at `now`.
    pub(crate) fn received(&mut self, now: Instant) {
        self.last_received = self.last_received.max(now);
    }

    fn send_deadline(&self) -> Option<Instant> {
        self.send_every.map(|every| self.last_sent + every)
    }

    fn receive_deadline(&self) -> Option<Instant> {
        self.expect_every.map(|every| {
            let window = every
                .checked_mul(self.grace_percent)
                .map(|d| d / 100)
                .unwrap_or(Duration::MAX);
            self.last_received + window
        })
    }

    /// The earliest instant at which [`due`](Self::due) has something to say.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        earliest(self.send_deadline(), self.receive_deadline())
    }

    /// What is due at `now`. The caller sends the EOL (and then calls [`sent`](Self::sent)).
    pub(crate) fn due(&self, now: Instant) -> HeartBeatDue {
        HeartBeatDue {
            send: self.send_deadline().is_some_and(|d| now >= d),
            peer_dead: self.receive_deadline().is_some_and(|d| now >= d),
        }
    }
}

/// Headers for one outgoing frame, on the stack while there are few of them.
pub(crate) struct HeaderList<'a> {
    inline: [PlainHeader<'a>; INLINE_HEADERS],
    len: usize,
    /// Every header once more than [`INLINE_HEADERS`] were pushed.
    spill: alloc::vec::Vec<PlainHeader<'a>>,
}

/// How many headers a [`HeaderList`] holds without allocating.
const INLINE_HEADERS: usize = 8;

impl<'a> HeaderList<'a> {
    pub(crate) fn new() -> HeaderList<'a> {
        HeaderList {
            inline: [(b"", b""); INLINE_HEADERS],
            len: 0,
            spill: alloc::vec::Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, header: PlainHeader<'a>) {
        if self.len < INLINE_HEADERS {
            self.inline[self.len] = header;
            self.len += 1;
        } else {
            if self.spill.is_empty() {
                self.spill.extend_from_slice(&self.inline);
            }
            self.spill.push(header);
        }
    }

    pub(crate) fn as_slice(&self) -> &[PlainHeader<'a>] {
        if self.spill.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spill
        }
    }
}

impl<'a> Extend<PlainHeader<'a>> for HeaderList<'a> {
    fn extend<I: IntoIterator<Item = PlainHeader<'a>>>(&mut self, iter: I) {
        for header in iter {
            self.push(header);
        }
    }
}

/// The earlier of two optional deadlines (`None`: no deadline).
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::Decimal;

    #[test]
    fn decimal_writes_what_format_writes() {
        let mut samples = alloc::vec![0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 12345, u64::MAX];
        let mut n = 1u64;
        while let Some(next) = n.checked_mul(10) {
            samples.extend([n - 1, n, n + 1, next - 1]);
            n = next;
        }
        samples.extend(0..2000);
        for n in samples {
            assert_eq!(Decimal::new(n).as_bytes(), alloc::format!("{n}").as_bytes());
        }
    }

    #[test]
    fn increment_writes_the_next_number() {
        let mut samples: alloc::vec::Vec<u64> = (0..20_000).collect();
        let mut n = 1u64;
        while let Some(next) = n.checked_mul(10) {
            samples.extend([n - 1, n, next - 2, next - 1]);
            n = next;
        }
        samples.extend([u64::MAX - 2, u64::MAX - 1]);
        for n in samples {
            let mut decimal = Decimal::new(n);
            decimal.increment();
            assert_eq!(decimal.as_bytes(), Decimal::new(n + 1).as_bytes(), "{n}");
        }
        let mut counter = Decimal::new(0);
        for n in 1..=100_000u64 {
            counter.increment();
            assert_eq!(counter.as_bytes(), alloc::format!("{n}").as_bytes());
        }
    }
}
