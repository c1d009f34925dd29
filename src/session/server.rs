//! The server side of one STOMP connection: a sans-IO state machine.
//!
//! A [`Server`] negotiates the version and heart-beats with the client's `CONNECT` (or
//! `STOMP`) frame, validates every client frame against the negotiated version, tracks
//! subscriptions, unacknowledged messages and transactions, and reports what the client asked
//! for as [`ServerEvent`]s. The application answers through method calls: it accepts or
//! rejects the connection, confirms processed frames with [`Server::receipt`], delivers
//! `MESSAGE`s with [`Server::deliver`] and reports failures with [`Server::error`].
//!
//! The session never reads a clock or touches a socket; see the [module docs](super) for the
//! drain rule: after **every** `handle_*` or API call, drain `poll_transmit`, `poll_event` and
//! ask `poll_timeout` again.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use stomp_proto::session::{Message, Server, ServerConfig, ServerEvent};
//! use stomp_proto::time::Instant;
//!
//! let now = Instant::ZERO;
//! let mut server = Server::new(ServerConfig::new().server_name(Some("example/1.0")), now);
//!
//! // The transport read a CONNECT and, in the same read, a SUBSCRIBE and a SEND.
//! server.handle_input(
//!     now,
//!     b"CONNECT\naccept-version:1.1,1.2\nhost:broker.example\nlogin:guest\npasscode:guest\n\n\0\
//!       SUBSCRIBE\nid:0\ndestination:/queue/a\nack:client\nreceipt:sub-0\n\n\0\
//!       SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\0",
//! );
//!
//! // Nothing after the CONNECT is acted on until the application accepts it.
//! let Some(ServerEvent::Connect(request)) = server.poll_event() else { panic!() };
//! assert_eq!(request.login.as_deref(), Some(&b"guest"[..]));
//! assert_eq!(request.host.as_deref(), Some(&b"broker.example"[..]));
//! assert!(server.poll_event().is_none());
//! server.accept(Some("session-1")).unwrap();
//!
//! let connected = server.poll_transmit().unwrap();
//! assert!(connected.starts_with(b"CONNECTED\nversion:1.2\nsession:session-1\n"));
//!
//! // Accepting let the pipelined frames through, parsed with the 1.2 rules.
//! let Some(ServerEvent::Subscribe { subscription, destination, receipt, .. }) = server.poll_event()
//! else { panic!() };
//! assert_eq!(subscription, "0");
//! assert_eq!(destination, "/queue/a");
//! let Some(ServerEvent::Send { frame, destination, .. }) = server.poll_event() else { panic!() };
//! assert_eq!(destination, "/queue/a");
//! assert_eq!(frame.body(), b"hello queue a");
//! assert!(server.poll_event().is_none());
//!
//! // The subscription is registered: confirm it, then deliver the sent message to it.
//! server.receipt(receipt.unwrap()).unwrap();
//! let message = Message::new("/queue/a", frame.body_bytes()).header("content-type", "text/plain");
//! let id = server.deliver("0", &message).unwrap();
//!
//! let mut wire = Vec::new();
//! while let Some(bytes) = server.poll_transmit() {
//!     wire.extend_from_slice(&bytes);
//! }
//! assert_eq!(
//!     wire,
//!     b"RECEIPT\nreceipt-id:sub-0\n\n\0\
//!       MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/queue/a\nack:1\n\
//!       content-type:text/plain\ncontent-length:13\n\nhello queue a\0"
//! );
//!
//! // The client acknowledges it.
//! server.handle_input(now, b"ACK\nid:1\n\n\0");
//! let Some(ServerEvent::Ack { message_ids, .. }) = server.poll_event() else { panic!() };
//! assert_eq!(message_ids, [id]);
//! ```

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::{wire, Decimal, HeaderList, HeartBeats, SessionError};
use crate::codec::{Decoder, OwnedFrame, OwnedItem};
use crate::escape::Escaping;
use crate::frame::Value;
use crate::header;
use crate::serialize::PlainHeader;
use crate::time::{Duration, Instant};
use crate::{
    AckMode, Command, HeartBeat, Limits, ParseError, Parser, SerializeError, Version, Versions,
};

/// The `server` header value a [`ServerConfig`] starts with.
pub const DEFAULT_SERVER_NAME: &str = concat!("stomp-proto/", env!("CARGO_PKG_VERSION"));

/// Bodies up to this size are copied into the transmit buffer; longer ones are handed to
/// [`Server::poll_transmit`] as the caller's own [`Bytes`], uncopied.
const COPY_BODY_MAX: usize = 1024;

/// Most octets of an offending frame quoted back in an ERROR body.
const QUOTE_MAX: usize = 1024;

/// How a [`Server`] behaves: versions, identity, heart-beats and limits.
///
/// Built with chained setters from [`ServerConfig::new`] (the same as `Default`):
///
/// | setting | default |
/// |---------|---------|
/// | [`versions`](Self::versions) | 1.0, 1.1 and 1.2 |
/// | [`server_name`](Self::server_name) | [`DEFAULT_SERVER_NAME`] (`stomp-proto/<version>`) |
/// | [`heart_beat`](Self::heart_beat) | `0,0`: no heart-beats either way |
/// | [`limits`](Self::limits) | [`Limits::DEFAULT`] |
/// | [`grace_percent`](Self::grace_percent) | 150: the client is dead after 1.5 intervals of silence |
/// | [`max_subscriptions`](Self::max_subscriptions) | 256 |
/// | [`max_transactions`](Self::max_transactions) | 64 |
/// | [`max_pending_receipts`](Self::max_pending_receipts) | 1024 |
/// | [`require_host`](Self::require_host) | `true`: a 1.1+ CONNECT without `host` is an ERROR |
/// | [`connect_timeout`](Self::connect_timeout) | 10 s: a connection without CONNECT by then gets an ERROR |
///
/// ```
/// use stomp_proto::session::ServerConfig;
/// use stomp_proto::{HeartBeat, Version, Versions};
///
/// let config = ServerConfig::new()
///     .versions(Versions::EMPTY.with(Version::V1_1).with(Version::V1_2))
///     .heart_beat(HeartBeat::new(10_000, 10_000))
///     .grace_percent(200);
/// assert_eq!(config.get_heart_beat(), HeartBeat::new(10_000, 10_000));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    versions: Versions,
    server_name: Option<String>,
    heart_beat: HeartBeat,
    limits: Limits,
    grace_percent: u32,
    max_subscriptions: usize,
    max_transactions: usize,
    max_pending_receipts: usize,
    require_host: bool,
    connect_timeout: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            versions: Versions::ALL,
            server_name: Some(String::from(DEFAULT_SERVER_NAME)),
            heart_beat: HeartBeat::NONE,
            limits: Limits::DEFAULT,
            grace_percent: 150,
            max_subscriptions: 256,
            max_transactions: 64,
            max_pending_receipts: 1024,
            require_host: true,
            connect_timeout: Some(Duration::from_secs(10)),
        }
    }
}

impl ServerConfig {
    /// The default configuration (see the table above).
    pub fn new() -> ServerConfig {
        ServerConfig::default()
    }

    /// The versions the server speaks; the session uses the highest one the client accepts.
    #[must_use]
    pub fn versions(mut self, versions: Versions) -> ServerConfig {
        self.versions = versions;
        self
    }

    /// The `server` header of CONNECTED (1.1+): `name/version comments`; `None` leaves it out.
    #[must_use]
    pub fn server_name(mut self, name: Option<&str>) -> ServerConfig {
        self.server_name = name.map(String::from);
        self
    }

    /// The heart-beats the server offers in CONNECTED (1.1+): `outgoing` is how often it can
    /// send, `incoming` how often it wants to hear from the client; 0 means none.
    #[must_use]
    pub fn heart_beat(mut self, heart_beat: HeartBeat) -> ServerConfig {
        self.heart_beat = heart_beat;
        self
    }

    /// The frame size limits; a client frame past one is answered with ERROR and closes.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> ServerConfig {
        self.limits = limits;
        self
    }

    /// How long the client may stay silent, in percent of the negotiated interval, before it
    /// is declared dead. Values under 100 count as 100 (the spec's minimum window).
    #[must_use]
    pub fn grace_percent(mut self, percent: u32) -> ServerConfig {
        self.grace_percent = percent;
        self
    }

    /// Most subscriptions a client may hold at once; one more is answered with ERROR.
    #[must_use]
    pub fn max_subscriptions(mut self, max: usize) -> ServerConfig {
        self.max_subscriptions = max;
        self
    }

    /// Most transactions a client may hold open at once; one more is answered with ERROR.
    #[must_use]
    pub fn max_transactions(mut self, max: usize) -> ServerConfig {
        self.max_transactions = max;
        self
    }

    /// Most frames with a `receipt` header whose RECEIPT the application has not written yet;
    /// one more is answered with ERROR.
    #[must_use]
    pub fn max_pending_receipts(mut self, max: usize) -> ServerConfig {
        self.max_pending_receipts = max;
        self
    }

    /// Whether a 1.1 or 1.2 CONNECT must carry the `host` header, as the spec requires.
    ///
    /// `false` accepts a CONNECT without it ([`ConnectRequest::host`] is then `None`), as
    /// RabbitMQ and Spring do: browser clients such as `@stomp/stompjs` send only
    /// `accept-version` and `heart-beat` unless told otherwise.
    ///
    /// ```
    /// use stomp_proto::session::{Server, ServerConfig, ServerEvent};
    /// use stomp_proto::time::Instant;
    ///
    /// let mut server = Server::new(ServerConfig::new().require_host(false), Instant::ZERO);
    /// server.handle_input(Instant::ZERO, b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0");
    /// let Some(ServerEvent::Connect(request)) = server.poll_event() else { panic!() };
    /// assert_eq!(request.host, None);
    /// ```
    #[must_use]
    pub fn require_host(mut self, require: bool) -> ServerConfig {
        self.require_host = require;
        self
    }

    /// How long a new connection may take to send its CONNECT (or STOMP) frame; `None`
    /// waits forever. Without it, a peer that connects and stays silent (or trickles half a
    /// frame) holds a connection until the transport gives up, since heart-beats only start
    /// after CONNECTED.
    ///
    /// ```
    /// use stomp_proto::session::{Server, ServerConfig, ServerEvent, CloseReason, ProtocolError};
    /// use stomp_proto::time::{Duration, Instant};
    ///
    /// let config = ServerConfig::new().connect_timeout(Some(Duration::from_secs(5)));
    /// let mut server = Server::new(config, Instant::ZERO);
    /// assert_eq!(server.poll_timeout(), Some(Instant::from_secs(5)));
    /// server.handle_timeout(Instant::from_secs(5));
    /// assert!(server.poll_transmit().unwrap().starts_with(b"ERROR\n"));
    /// assert_eq!(
    ///     server.poll_event(),
    ///     Some(ServerEvent::Closed { reason: CloseReason::ProtocolError(ProtocolError::ConnectTimeout) })
    /// );
    /// ```
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> ServerConfig {
        self.connect_timeout = timeout;
        self
    }

    /// The versions the server speaks.
    pub fn get_versions(&self) -> Versions {
        self.versions
    }

    /// The `server` header value, if any.
    pub fn get_server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The heart-beats the server offers.
    pub fn get_heart_beat(&self) -> HeartBeat {
        self.heart_beat
    }

    /// The frame size limits.
    pub fn get_limits(&self) -> Limits {
        self.limits
    }

    /// The grace percentage for the client's heart-beats.
    pub fn get_grace_percent(&self) -> u32 {
        self.grace_percent
    }
}

/// The id the server gave a delivered MESSAGE: its `message-id` header (and, in 1.2, its
/// `ack` header) in decimal. Unique within the connection, increasing from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(u64);

impl MessageId {
    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A message to deliver to a subscription with [`Server::deliver`]: destination, extra
/// headers and body.
///
/// The session adds `subscription`, `message-id`, `ack` (1.2, `client` and
/// `client-individual` subscriptions) and `content-length`; extra headers with those names,
/// or named `destination`, are left out. Header names and values are plain: the session
/// escapes them for the negotiated version.
///
/// ```
/// use bytes::Bytes;
/// use stomp_proto::session::Message;
///
/// let message = Message::new("/queue/a", Bytes::from_static(b"hello"))
///     .header("content-type", "text/plain")
///     .header("priority", "4");
/// assert_eq!(message.body(), &b"hello"[..]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    destination: &'a [u8],
    headers: Vec<PlainHeader<'a>>,
    body: Bytes,
}

impl<'a> Message<'a> {
    /// A message for `destination` with `body` (shared, not copied, when it is long).
    pub fn new<D: AsRef<[u8]> + ?Sized>(destination: &'a D, body: Bytes) -> Message<'a> {
        Message {
            destination: destination.as_ref(),
            headers: Vec::new(),
            body,
        }
    }

    /// Adds a header with a plain name and value (user-defined headers of a SEND are passed
    /// through this way).
    #[must_use]
    pub fn header<N, V>(mut self, name: &'a N, value: &'a V) -> Message<'a>
    where
        N: AsRef<[u8]> + ?Sized,
        V: AsRef<[u8]> + ?Sized,
    {
        self.headers.push((name.as_ref(), value.as_ref()));
        self
    }

    /// The destination.
    pub fn destination(&self) -> &'a [u8] {
        self.destination
    }

    /// The extra headers, in order.
    pub fn headers(&self) -> &[PlainHeader<'a>] {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// What a client asked for when it connected: the data of its `CONNECT` or `STOMP` frame,
/// after version negotiation. Answer with [`Server::accept`] or [`Server::reject`].
///
/// Values are decoded (and, for a 1.0 client, trimmed of the spaces 1.0 allowed around them).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectRequest {
    /// The version the session will use: the highest both sides speak.
    pub version: Version,
    /// `CONNECT` or `STOMP`.
    pub command: Command,
    /// The `host` header: the virtual host (required from 1.1 on).
    pub host: Option<Bytes>,
    /// The `login` header.
    pub login: Option<Bytes>,
    /// The `passcode` header.
    pub passcode: Option<Bytes>,
    /// The client's `heart-beat` header (`0,0` when absent, and always for 1.0).
    pub heart_beat: HeartBeat,
    /// The frame itself, for other headers.
    pub frame: OwnedFrame,
}

/// Something the client did, reported by [`Server::poll_event`].
///
/// Header values are decoded; they share the read buffer when decoding changes nothing. A
/// `receipt` of `Some(id)` means the client wants a RECEIPT once the application has
/// processed the frame: call [`Server::receipt`] with it then.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A client asks to connect; call [`Server::accept`] or [`Server::reject`].
    Connect(ConnectRequest),
    /// `SEND`: a message for a destination.
    Send {
        /// The `destination` header.
        destination: Bytes,
        /// The transaction the message belongs to (an open one).
        transaction: Option<Bytes>,
        /// The `receipt` header.
        receipt: Option<Bytes>,
        /// The whole frame, sharing the read buffer: user-defined headers and the body.
        frame: OwnedFrame,
    },
    /// `SUBSCRIBE`: the subscription is registered; deliver to it with [`Server::deliver`].
    Subscribe {
        /// The subscription id (the `id` header; for a 1.0 SUBSCRIBE without one, the
        /// destination, and MESSAGEs then carry no `subscription` header).
        subscription: Bytes,
        /// The `destination` header.
        destination: Bytes,
        /// The acknowledgment mode (`auto` when absent).
        ack: AckMode,
        /// The `receipt` header.
        receipt: Option<Bytes>,
        /// The whole frame, for server-specific headers (selectors and the like).
        frame: OwnedFrame,
    },
    /// `UNSUBSCRIBE`: the subscription is gone.
    Unsubscribe {
        /// The subscription id.
        subscription: Bytes,
        /// Its messages that were never acknowledged, oldest first.
        unacknowledged: Vec<MessageId>,
        /// The `receipt` header.
        receipt: Option<Bytes>,
    },
    /// `ACK`: messages the client consumed.
    Ack {
        /// The subscription the messages were delivered to.
        subscription: Bytes,
        /// The messages acknowledged, oldest first: just the one named in `client-individual`
        /// mode, it and every earlier unacknowledged one in `client` mode.
        message_ids: Vec<MessageId>,
        /// The transaction the acknowledgment belongs to (an open one).
        transaction: Option<Bytes>,
        /// The `receipt` header.
        receipt: Option<Bytes>,
    },
    /// `NACK`: messages the client did not consume (1.1+).
    Nack {
        /// The subscription the messages were delivered to.
        subscription: Bytes,
        /// The messages refused, oldest first, resolved as for [`ServerEvent::Ack`].
        message_ids: Vec<MessageId>,
        /// The transaction the refusal belongs to (an open one).
        transaction: Option<Bytes>,
        /// The `receipt` header.
        receipt: Option<Bytes>,
    },
    /// `BEGIN`: a transaction is open.
    Begin {
        /// The `transaction` header.
        transaction: Bytes,
        /// The `receipt` header.
        receipt: Option<Bytes>,
    },
    /// `COMMIT`: the transaction is closed; apply its frames.
    Commit {
        /// The `transaction` header.
        transaction: Bytes,
        /// The `receipt` header.
        receipt: Option<Bytes>,
    },
    /// `ABORT`: the transaction is closed; discard its frames.
    Abort {
        /// The `transaction` header.
        transaction: Bytes,
        /// The `receipt` header.
        receipt: Option<Bytes>,
    },
    /// `DISCONNECT`: the client leaves. Without a receipt the session is closed already;
    /// with one it closes once [`Server::receipt`] writes that RECEIPT, the last frame sent.
    Disconnect {
        /// The `receipt` header.
        receipt: Option<Bytes>,
    },
    /// A transaction still open when the connection ended, implicitly aborted (reported just
    /// before [`ServerEvent::Closed`]).
    TransactionAborted {
        /// The transaction id.
        transaction: Bytes,
    },
    /// The session is closed: reported once, last. Drain `poll_transmit` (a final ERROR or
    /// RECEIPT may be waiting), then close the transport.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why a session closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent DISCONNECT (and got its RECEIPT, if it asked for one).
    Disconnected,
    /// The application rejected the CONNECT ([`Server::reject`]).
    Rejected,
    /// The client broke the protocol; an ERROR saying how was sent.
    ProtocolError(ProtocolError),
    /// The application sent an ERROR ([`Server::error`]).
    Error,
    /// Nothing arrived from the client within the heart-beat grace window.
    HeartBeatTimeout,
    /// The transport closed ([`Server::handle_close`]).
    TransportClosed,
}

/// How a client broke the protocol. The server answers each with an ERROR frame whose
/// `message` header is this error's text, then closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes are not a valid frame for the version (limits included).
    Parse(ParseError),
    /// The first frame was not CONNECT or STOMP.
    FrameBeforeConnect,
    /// A second CONNECT or STOMP.
    AlreadyConnected,
    /// A frame only servers send (CONNECTED, MESSAGE, RECEIPT, ERROR).
    ServerCommand(Command),
    /// The client accepts no version the server speaks.
    NoCommonVersion,
    /// A required header is missing.
    MissingHeader(&'static str),
    /// A header's value does not have the form it must have.
    InvalidHeader(&'static str),
    /// SUBSCRIBE with the id of an existing subscription.
    DuplicateSubscription,
    /// UNSUBSCRIBE, ACK or NACK naming a subscription that does not exist.
    UnknownSubscription,
    /// ACK or NACK naming no unacknowledged message (see [`Server`] for why this is an error).
    UnknownMessage,
    /// BEGIN of a transaction that is open already.
    DuplicateTransaction,
    /// A frame naming a transaction that is not open.
    UnknownTransaction,
    /// SUBSCRIBE past [`ServerConfig::max_subscriptions`].
    TooManySubscriptions,
    /// BEGIN past [`ServerConfig::max_transactions`].
    TooManyTransactions,
    /// A receipt request past [`ServerConfig::max_pending_receipts`].
    TooManyPendingReceipts,
    /// More than a frame's worth of bytes arrived while the application had not yet answered
    /// the CONNECT.
    TooMuchInputBeforeConnected,
    /// No CONNECT or STOMP frame arrived within [`ServerConfig::connect_timeout`].
    ConnectTimeout,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Parse(e) => write!(f, "malformed frame received: {e}"),
            ProtocolError::FrameBeforeConnect => {
                f.write_str("expected a CONNECT or STOMP frame first")
            }
            ProtocolError::AlreadyConnected => f.write_str("already connected"),
            ProtocolError::ServerCommand(c) => write!(f, "{c} is a server frame"),
            ProtocolError::NoCommonVersion => f.write_str("no common protocol version"),
            ProtocolError::MissingHeader(h) => write!(f, "missing required header {h}"),
            ProtocolError::InvalidHeader(h) => write!(f, "invalid {h} header"),
            ProtocolError::DuplicateSubscription => f.write_str("subscription id already in use"),
            ProtocolError::UnknownSubscription => f.write_str("unknown subscription"),
            ProtocolError::UnknownMessage => {
                f.write_str("no unacknowledged message matches the acknowledgment")
            }
            ProtocolError::DuplicateTransaction => f.write_str("transaction already started"),
            ProtocolError::UnknownTransaction => f.write_str("unknown transaction"),
            ProtocolError::TooManySubscriptions => f.write_str("too many subscriptions"),
            ProtocolError::TooManyTransactions => f.write_str("too many open transactions"),
            ProtocolError::TooManyPendingReceipts => f.write_str("too many pending receipts"),
            ProtocolError::TooMuchInputBeforeConnected => {
                f.write_str("too much input before CONNECTED")
            }
            ProtocolError::ConnectTimeout => f.write_str("no CONNECT frame in time"),
        }
    }
}

impl core::error::Error for ProtocolError {}

/// Where the session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Nothing received yet.
    AwaitingConnect,
    /// CONNECT received and reported; the application has not answered.
    AwaitingAccept { client_heart_beat: HeartBeat },
    /// CONNECTED sent.
    Connected,
    /// DISCONNECT with a receipt received; closes when that RECEIPT is written.
    Disconnecting,
    /// Nothing more is read or written.
    Closed,
}

#[derive(Clone, Debug)]
struct Subscription {
    /// Whether the client gave the id (always from 1.1 on).
    explicit_id: bool,
    ack: AckMode,
    /// Delivered, not yet acknowledged (never filled for `auto`).
    unacked: BTreeSet<u64>,
    /// How each MESSAGE to it starts, up to the `message-id` value; `None` when the id
    /// must be escaped (then MESSAGEs go through the general serializer).
    message_prefix: Option<Box<[u8]>>,
}

#[derive(Clone, Debug)]
struct PendingReceipt {
    id: Bytes,
    disconnect: bool,
}

/// Bytes waiting for [`Server::poll_transmit`]: encoded frames, with long bodies as their own
/// (uncopied) chunks.
#[derive(Debug, Default)]
struct Transmit {
    chunks: VecDeque<Bytes>,
    /// Comes after every chunk.
    staging: BytesMut,
    /// The length of the last staging buffer taken by `poll`.
    last_chunk: usize,
    /// The last MESSAGE body length and its decimal (bodies of a stream are often alike).
    body_length: (usize, Decimal),
}

impl Transmit {
    fn frame(
        &mut self,
        version: Version,
        command: Command,
        headers: &[PlainHeader<'_>],
        body: &[u8],
    ) -> Result<(), SerializeError> {
        super::make_room(&mut self.staging, self.last_chunk);
        super::put_frame(&mut self.staging, version, command, headers, body)
    }

    /// A MESSAGE with a `content-length` and `body` shared when long. `headers` are checked
    /// before anything is written; the names of the first `trusted` are the session's own.
    fn message(
        &mut self,
        version: Version,
        headers: &[PlainHeader<'_>],
        trusted: usize,
        body: &Bytes,
    ) -> Result<(), SerializeError> {
        super::make_room(&mut self.staging, self.last_chunk);
        super::wire::put_message_head(&mut self.staging, version, headers, trusted, body.len())?;
        self.message_body(body);
        Ok(())
    }

    /// A MESSAGE to a subscription with a cached `prefix` (see [`wire::message_prefix`]),
    /// when `destination` and every one of `extra` (reserved names left out) are plain: the
    /// same bytes [`message`](Self::message) writes, without planning.
    #[allow(clippy::too_many_arguments)]
    fn message_with_prefix(
        &mut self,
        prefix: &[u8],
        message_id: &[u8],
        destination: &[u8],
        ack: bool,
        extra: &[PlainHeader<'_>],
        extra_len: usize,
        body: &Bytes,
    ) {
        if self.body_length.0 != body.len() {
            self.body_length = (body.len(), Decimal::new(body.len() as u64));
        }
        let length = self.body_length.1;
        super::make_room(&mut self.staging, self.last_chunk);
        let staging = &mut self.staging;
        let ack_len = if ack { 5 + message_id.len() } else { 0 };
        let copied = if body.len() <= COPY_BODY_MAX {
            body.len()
        } else {
            0
        };
        staging.reserve(
            prefix.len()
                + message_id.len()
                + b"\ndestination:\n".len()
                + destination.len()
                + ack_len
                + extra_len
                + b"content-length:\n\n".len()
                + length.as_bytes().len()
                + copied
                + 1,
        );
        staging.put_slice(prefix);
        staging.put_slice(message_id);
        staging.put_slice(b"\ndestination:");
        staging.put_slice(destination);
        staging.put_u8(b'\n');
        if ack {
            staging.put_slice(b"ack:");
            staging.put_slice(message_id);
            staging.put_u8(b'\n');
        }
        for (name, value) in extra {
            if !is_reserved_message_header(name) {
                staging.put_slice(name);
                staging.put_u8(b':');
                staging.put_slice(value);
                staging.put_u8(b'\n');
            }
        }
        staging.put_slice(b"content-length:");
        staging.put_slice(length.as_bytes());
        staging.put_slice(b"\n\n");
        self.message_body(body);
    }

    /// The body of a MESSAGE and its NUL: copied when short, its own chunk when long.
    fn message_body(&mut self, body: &Bytes) {
        if body.len() <= COPY_BODY_MAX {
            self.staging.put_slice(body);
        } else {
            self.flush();
            self.chunks.push_back(body.clone());
        }
        self.staging.put_u8(0);
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.staging.extend_from_slice(bytes);
    }

    fn flush(&mut self) {
        if !self.staging.is_empty() {
            self.chunks
                .push_back(core::mem::take(&mut self.staging).freeze());
        }
    }

    fn poll(&mut self) -> Option<Bytes> {
        if let Some(chunk) = self.chunks.pop_front() {
            return Some(chunk);
        }
        if self.staging.is_empty() {
            return None;
        }
        self.last_chunk = self.staging.len();
        // The whole buffer goes: the chunk is the only reference to its memory, so a peer
        // session in the same process can decode it in place (`handle_input_bytes`).
        Some(core::mem::take(&mut self.staging).freeze())
    }
}

/// The server side of one STOMP connection, sans-IO.
///
/// # Driving it
///
/// Feed it what the transport reads with [`handle_input`](Self::handle_input), call
/// [`handle_timeout`](Self::handle_timeout) when [`poll_timeout`](Self::poll_timeout) is
/// reached, and [`handle_close`](Self::handle_close) when the transport closes. After **every**
/// `handle_*` call and every API call (`accept`, `receipt`, `deliver`, …), drain:
///
/// 1. [`poll_transmit`](Self::poll_transmit) until `None`, writing each chunk in order;
/// 2. [`poll_event`](Self::poll_event) until `None`, handling each event;
/// 3. [`poll_timeout`](Self::poll_timeout), which changes after every call.
///
/// Once [`ServerEvent::Closed`] came out and `poll_transmit` returned `None`, close the
/// transport. API calls on a closed session return [`SessionError::Closed`]; input is ignored.
///
/// Bytes queued by an API call count as sent, for heart-beats, at the latest `now` the
/// session was given.
///
/// # Choices where the spec leaves room
///
/// - Every violation is answered with an ERROR (`message` header, `receipt-id` when the frame
///   asked for a receipt, the offending frame's headers quoted in the body) and closes the
///   connection, as the spec requires of SEND and SUBSCRIBE failures and recommends for limits.
/// - An ACK or NACK naming no unacknowledged message (unknown, already acknowledged, or of an
///   `auto` subscription) is an ERROR: the spec says its `id` MUST match a MESSAGE's `ack`
///   header (1.2) or `message-id` (1.0, 1.1), so a mismatch is a client bug, and reporting it
///   rather than ignoring it keeps the two sides from silently disagreeing about what was
///   consumed. A NACK in `client` mode is cumulative like an ACK (the 1.1 and 1.2 texts).
/// - A frame naming a transaction that is not open is an ERROR. ACKs in a transaction are
///   resolved at once and reported with the transaction; applying or undoing them at COMMIT
///   or ABORT is the application's job.
/// - Frames after CONNECT that arrive before the application answers it are kept (up to one
///   frame's worth of bytes) and parsed with the negotiated version after `accept`.
/// - A 1.0 client gets no heart-beats (1.0 has none) and may subscribe without an `id`; 1.0
///   knows only the `auto` and `client` ack modes.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    state: State,
    version: Option<Version>,
    decoder: Decoder,
    read_buf: BytesMut,
    transmit: Transmit,
    events: VecDeque<ServerEvent>,
    heart_beats: HeartBeats,
    now: Instant,
    subscriptions: BTreeMap<Bytes, Subscription>,
    transactions: Vec<Bytes>,
    pending_receipts: VecDeque<PendingReceipt>,
    next_message_id: u64,
    /// `next_message_id` in decimal, counted along with it.
    next_message_id_text: Decimal,
    /// When a connection still without CONNECT is dropped.
    connect_deadline: Option<Instant>,
}

impl Server {
    /// A session for a connection the transport just accepted at `now`.
    pub fn new(config: ServerConfig, now: Instant) -> Server {
        let parser = Parser::new()
            .with_version(Version::V1_2)
            .with_limits(config.limits);
        let config_connect_deadline = config.connect_timeout.map(|t| now + t);
        Server {
            heart_beats: HeartBeats::new(config.grace_percent, now),
            config,
            state: State::AwaitingConnect,
            version: None,
            decoder: Decoder::with_parser(parser),
            read_buf: BytesMut::new(),
            transmit: Transmit::default(),
            events: VecDeque::new(),
            now,
            subscriptions: BTreeMap::new(),
            transactions: Vec::new(),
            pending_receipts: VecDeque::new(),
            next_message_id: 1,
            next_message_id_text: Decimal::new(1),
            connect_deadline: config_connect_deadline,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The negotiated version, once a CONNECT was negotiated (before it is accepted, too).
    /// Every frame the session writes after negotiation follows this version's rules; before
    /// it, 1.2's.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// Whether CONNECTED was sent and the session is not disconnecting or closed.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The negotiated heart-beat intervals `(send, expect)`: how often the server sends
    /// something, and how often the client must. `None` where there are none.
    pub fn heart_beat_intervals(&self) -> (Option<Duration>, Option<Duration>) {
        self.heart_beats.intervals()
    }

    /// The acknowledgment mode of a subscription, if it exists.
    pub fn ack_mode(&self, subscription: impl AsRef<[u8]>) -> Option<AckMode> {
        self.subscriptions
            .get(subscription.as_ref())
            .map(|sub| sub.ack)
    }

    /// The messages delivered to a subscription and not acknowledged yet, oldest first; `None`
    /// when the subscription does not exist.
    pub fn unacknowledged(&self, subscription: impl AsRef<[u8]>) -> Option<Vec<MessageId>> {
        self.subscriptions
            .get(subscription.as_ref())
            .map(|sub| sub.unacked.iter().copied().map(MessageId).collect())
    }

    /// The open transactions, oldest first.
    pub fn transactions(&self) -> impl ExactSizeIterator<Item = &Bytes> + '_ {
        self.transactions.iter()
    }

    // ---- handle_* -------------------------------------------------------------------------

    /// Handles bytes the transport read at `now`, in any chunking. Bad input is answered on
    /// the wire (ERROR, then close), never returned; input after close is ignored.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.advance(now);
        if data.is_empty() {
            return;
        }
        match self.state {
            State::Closed | State::Disconnecting => return,
            State::AwaitingAccept { .. } => {
                self.heart_beats.received(now);
                // Kept for after the answer, bounded by one frame's worth of bytes.
                if self.read_buf.len().saturating_add(data.len()) > self.config.limits.max_frame_len
                {
                    self.fail(ProtocolError::TooMuchInputBeforeConnected, None);
                    return;
                }
                self.read_buf.extend_from_slice(data);
                return;
            }
            State::AwaitingConnect | State::Connected => {}
        }
        self.heart_beats.received(now);
        self.read_buf.extend_from_slice(data);
        self.process_input();
    }

    /// [`handle_input`](Self::handle_input) for input the caller holds as [`Bytes`]: when
    /// no partial frame is waiting and `data` is the only reference to its memory (a
    /// `BytesMut` of its own, frozen, say; or a chunk of
    /// [`Client::poll_transmit`](super::Client::poll_transmit) dropped by nobody else), the
    /// session decodes it where it is: the frames share that memory, nothing is copied.
    /// Otherwise it is copied, as `handle_input` does. Events are the same either way.
    pub fn handle_input_bytes(&mut self, now: Instant, data: Bytes) {
        let ready = matches!(self.state, State::AwaitingConnect | State::Connected);
        if data.is_empty() || !ready || !self.read_buf.is_empty() {
            return self.handle_input(now, &data);
        }
        match data.try_into_mut() {
            Ok(buf) => {
                self.advance(now);
                self.heart_beats.received(now);
                self.read_buf = buf;
                self.process_input();
            }
            Err(data) => self.handle_input(now, &data),
        }
    }

    /// Handles the clock reaching `now` (call it once [`poll_timeout`](Self::poll_timeout) is
    /// reached; calling it early or often is harmless): sends a heart-beat EOL when nothing
    /// was sent for the interval, and closes when the client stayed silent past the grace
    /// window.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        if self.state == State::AwaitingConnect
            && self
                .connect_deadline
                .is_some_and(|deadline| now >= deadline)
        {
            self.fail(ProtocolError::ConnectTimeout, None);
            return;
        }
        if !matches!(self.state, State::Connected | State::Disconnecting) {
            return;
        }
        let due = self.heart_beats.due(now);
        if due.peer_dead {
            self.close(CloseReason::HeartBeatTimeout);
            return;
        }
        if due.send {
            self.transmit.raw(b"\n");
            self.heart_beats.sent(now);
        }
    }

    /// The transport closed (or the application drops the connection) at `now`: open
    /// transactions are reported aborted and the session closes. Nothing is sent.
    pub fn handle_close(&mut self, now: Instant) {
        self.advance(now);
        self.close(CloseReason::TransportClosed);
    }

    // ---- poll_* ---------------------------------------------------------------------------

    /// The next bytes to write to the transport, in order. Drain until `None`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.poll()
    }

    /// The next event. Drain until `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next: the connect deadline until
    /// CONNECT arrives, then the heart-beat deadlines; `None` when none is running. Ask again
    /// after every call.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::AwaitingConnect => self.connect_deadline,
            State::Connected | State::Disconnecting => self.heart_beats.deadline(),
            _ => None,
        }
    }

    // ---- API ------------------------------------------------------------------------------

    /// Accepts the connection the last [`ServerEvent::Connect`] asked for: writes CONNECTED
    /// with `version`, `session` (when given), `server` and `heart-beat` (1.1+, from the
    /// config), starts heart-beats and goes on with any frames the client already sent.
    pub fn accept(&mut self, session: Option<&str>) -> Result<(), SessionError> {
        let client_heart_beat = match self.state {
            State::AwaitingAccept { client_heart_beat } => client_heart_beat,
            State::AwaitingConnect => return Err(SessionError::NotConnected),
            State::Connected | State::Disconnecting => return Err(SessionError::AlreadyConnected),
            State::Closed => return Err(SessionError::Closed),
        };
        let version = self.version.unwrap_or(Version::V1_2);
        let modern = version != Version::V1_0;
        let offer = self.config.heart_beat;
        let mut heart_beat_buf = [0u8; 21];
        let heart_beat = offer.write_to(&mut heart_beat_buf);
        let mut headers = HeaderList::new();
        headers.push((b"version", version.as_str().as_bytes()));
        if let Some(session) = session {
            headers.push((b"session", session.as_bytes()));
        }
        if modern {
            if let Some(name) = &self.config.server_name {
                headers.push((b"server", name.as_bytes()));
            }
            headers.push((b"heart-beat", heart_beat));
        }
        self.transmit
            .frame(version, Command::Connected, headers.as_slice(), b"")?;
        self.heart_beats.sent(self.now);
        self.state = State::Connected;
        self.decoder.set_version(version);
        let (send, expect) = if modern {
            offer.negotiate(client_heart_beat)
        } else {
            (None, None)
        };
        self.heart_beats.start(send, expect, self.now);
        self.process_input();
        Ok(())
    }

    /// Rejects the connection the last [`ServerEvent::Connect`] asked for: writes ERROR with
    /// `message` and closes.
    pub fn reject(&mut self, message: &str) -> Result<(), SessionError> {
        match self.state {
            State::AwaitingAccept { .. } => {}
            State::AwaitingConnect => return Err(SessionError::NotConnected),
            State::Connected | State::Disconnecting => return Err(SessionError::AlreadyConnected),
            State::Closed => return Err(SessionError::Closed),
        }
        let version = self.wire_version();
        self.transmit.frame(
            version,
            Command::Error,
            &[(b"message", message.as_bytes())],
            b"",
        )?;
        self.heart_beats.sent(self.now);
        self.close(CloseReason::Rejected);
        Ok(())
    }

    /// Writes the RECEIPT for a processed frame: `receipt_id` is the `receipt` of an event.
    ///
    /// Receipts may be written in any order. The RECEIPT of a DISCONNECT is the last frame
    /// the session writes: it closes the session, and receipts still pending then are never
    /// written. Fails with [`SessionError::UnknownReceipt`] when no reported frame waits for
    /// this receipt.
    pub fn receipt(&mut self, receipt_id: impl AsRef<[u8]>) -> Result<(), SessionError> {
        match self.state {
            State::Connected | State::Disconnecting => {}
            State::AwaitingConnect | State::AwaitingAccept { .. } => {
                return Err(SessionError::NotConnected)
            }
            State::Closed => return Err(SessionError::Closed),
        }
        let id = receipt_id.as_ref();
        let index = self
            .pending_receipts
            .iter()
            .position(|p| p.id == id)
            .ok_or(SessionError::UnknownReceipt)?;
        let version = self.wire_version();
        self.transmit
            .frame(version, Command::Receipt, &[(b"receipt-id", id)], b"")?;
        self.heart_beats.sent(self.now);
        let disconnect = self
            .pending_receipts
            .remove(index)
            .is_some_and(|p| p.disconnect);
        if disconnect {
            self.close(CloseReason::Disconnected);
        }
        Ok(())
    }

    /// Delivers a MESSAGE to a subscription and returns its id.
    ///
    /// Headers, in order: `subscription` (unless a 1.0 subscription without id),
    /// `message-id`, `destination`, `ack` (1.2, `client` and `client-individual` modes), the
    /// message's own headers, `content-length`. In `client` and `client-individual` modes the
    /// message is then unacknowledged until an ACK or NACK resolves it.
    pub fn deliver(
        &mut self,
        subscription: impl AsRef<[u8]>,
        message: &Message<'_>,
    ) -> Result<MessageId, SessionError> {
        match self.state {
            State::Connected => {}
            State::AwaitingConnect | State::AwaitingAccept { .. } => {
                return Err(SessionError::NotConnected)
            }
            State::Disconnecting | State::Closed => return Err(SessionError::Closed),
        }
        let subscription = subscription.as_ref();
        let version = self.wire_version();
        let sub = self
            .subscriptions
            .get_mut(subscription)
            .ok_or(SessionError::UnknownSubscription)?;
        let id = self.next_message_id;
        let id_text = self.next_message_id_text;
        let ack = version == Version::V1_2 && sub.ack != AckMode::Auto;
        // The usual case: nothing to escape, the start of the frame cached.
        let extra_len = message.headers.iter().try_fold(0, |len, (name, value)| {
            if is_reserved_message_header(name) {
                Some(len)
            } else if !name.is_empty() && wire::is_plain(name) && wire::is_plain(value) {
                Some(len + name.len() + value.len() + 2)
            } else {
                None
            }
        });
        if let (Some(prefix), Some(extra_len), true) = (
            &sub.message_prefix,
            extra_len,
            wire::is_plain(message.destination),
        ) {
            self.transmit.message_with_prefix(
                prefix,
                id_text.as_bytes(),
                message.destination,
                ack,
                &message.headers,
                extra_len,
                &message.body,
            );
            self.heart_beats.sent(self.now);
            if sub.ack != AckMode::Auto {
                sub.unacked.insert(id);
            }
            self.count_message_id(id);
            return Ok(MessageId(id));
        }
        let mut headers = HeaderList::new();
        if sub.explicit_id {
            headers.push((b"subscription", subscription));
        }
        headers.push((b"message-id", id_text.as_bytes()));
        headers.push((b"destination", message.destination));
        if ack {
            headers.push((b"ack", id_text.as_bytes()));
        }
        let standard = headers.as_slice().len();
        headers.extend(
            message
                .headers
                .iter()
                .filter(|(name, _)| !is_reserved_message_header(name))
                .copied(),
        );
        self.transmit
            .message(version, headers.as_slice(), standard, &message.body)?;
        self.heart_beats.sent(self.now);
        if sub.ack != AckMode::Auto {
            sub.unacked.insert(id);
        }
        self.count_message_id(id);
        Ok(MessageId(id))
    }

    /// Sends an ERROR frame with `message` (and `receipt-id` and a `text/plain` body when
    /// given) and closes: for a frame the application could not process ("if the server
    /// cannot successfully process the SEND frame for any reason, the server MUST send the
    /// client an ERROR frame and then close the connection").
    pub fn error(
        &mut self,
        message: &str,
        receipt_id: Option<&[u8]>,
        body: &[u8],
    ) -> Result<(), SessionError> {
        match self.state {
            State::AwaitingConnect => return Err(SessionError::NotConnected),
            State::Closed => return Err(SessionError::Closed),
            _ => {}
        }
        let version = self.wire_version();
        let mut headers = HeaderList::new();
        headers.push((b"message", message.as_bytes()));
        if let Some(receipt_id) = receipt_id {
            headers.push((b"receipt-id", receipt_id));
        }
        if !body.is_empty() {
            headers.push((b"content-type", b"text/plain"));
        }
        self.transmit
            .frame(version, Command::Error, headers.as_slice(), body)?;
        self.heart_beats.sent(self.now);
        self.close(CloseReason::Error);
        Ok(())
    }

    // ---- internals ------------------------------------------------------------------------

    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    /// Moves the message-id counter past `id`, the one just used (it saturates).
    fn count_message_id(&mut self, id: u64) {
        if id < u64::MAX {
            self.next_message_id = id + 1;
            self.next_message_id_text.increment();
        }
    }

    /// The version whose rules frames are written in.
    fn wire_version(&self) -> Version {
        self.version.unwrap_or(Version::V1_2)
    }

    /// Decodes and handles the frames in the read buffer, while the state allows.
    fn process_input(&mut self) {
        while matches!(self.state, State::AwaitingConnect | State::Connected) {
            match self.decoder.decode(&mut self.read_buf) {
                Ok(None) => break,
                Ok(Some(OwnedItem::HeartBeat)) => {}
                Ok(Some(OwnedItem::Frame(frame))) => self.on_frame(frame),
                Err(e) => self.fail(ProtocolError::Parse(e), None),
            }
        }
        if matches!(self.state, State::Closed | State::Disconnecting) {
            self.read_buf = BytesMut::new();
        }
    }

    fn on_frame(&mut self, frame: OwnedFrame) {
        let result = match self.state {
            State::AwaitingConnect if frame.command().is_connect() => self.on_connect(&frame),
            State::AwaitingConnect => Err(ProtocolError::FrameBeforeConnect),
            State::Connected => match self.on_client_frame(&frame) {
                // The frame itself goes into the event: no clone.
                Ok(Some(send)) => {
                    self.events.push_back(ServerEvent::Send {
                        destination: send.destination,
                        transaction: send.transaction,
                        receipt: send.receipt,
                        frame,
                    });
                    return;
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            },
            _ => Ok(()),
        };
        if let Err(e) = result {
            self.fail(e, Some(&frame));
        }
    }

    /// Negotiates the version from a CONNECT or STOMP frame (parsed with 1.2 rules) and
    /// reports it.
    fn on_connect(&mut self, frame: &OwnedFrame) -> Result<(), ProtocolError> {
        let accepted = frame
            .accept_version()
            .map_err(|_| ProtocolError::InvalidHeader(header::ACCEPT_VERSION))?
            .unwrap_or(Versions::EMPTY.with(Version::V1_0));
        let version = accepted
            .intersection(self.config.versions)
            .highest()
            .ok_or(ProtocolError::NoCommonVersion)?;
        let modern = version != Version::V1_0;
        // 1.0 allowed spaces around values; later versions keep them as data.
        let value = |name: &'static str| -> Result<Option<Bytes>, ProtocolError> {
            let value = decoded(frame, name)?;
            Ok(if modern { value } else { value.map(trim) })
        };
        let host = value(header::HOST)?;
        if modern && host.is_none() && self.config.require_host {
            return Err(ProtocolError::MissingHeader(header::HOST));
        }
        let login = value(header::LOGIN)?;
        let passcode = value(header::PASSCODE)?;
        let heart_beat = if modern {
            frame
                .heart_beat()
                .map_err(|_| ProtocolError::InvalidHeader(header::HEART_BEAT))?
                .unwrap_or(HeartBeat::NONE)
        } else {
            HeartBeat::NONE
        };
        self.version = Some(version);
        self.state = State::AwaitingAccept {
            client_heart_beat: heart_beat,
        };
        self.events.push_back(ServerEvent::Connect(ConnectRequest {
            version,
            command: frame.command(),
            host,
            login,
            passcode,
            heart_beat,
            frame: frame.clone(),
        }));
        Ok(())
    }

    /// Validates a frame after CONNECTED, updates the bookkeeping and reports it. Nothing
    /// changes when it returns an error.
    ///
    /// A SEND is not reported here: its headers come back, for the caller to report it
    /// with the frame itself.
    fn on_client_frame(
        &mut self,
        frame: &OwnedFrame,
    ) -> Result<Option<SendHeaders>, ProtocolError> {
        let version = self.wire_version();
        let command = frame.command();
        match command {
            Command::Connect | Command::Stomp => return Err(ProtocolError::AlreadyConnected),
            Command::Connected | Command::Message | Command::Receipt | Command::Error => {
                return Err(ProtocolError::ServerCommand(command))
            }
            _ => {}
        }
        // The headers most frames carry, found in one pass.
        let common = CommonHeaders::scan(frame);
        let receipt = decode_raw(frame, common.receipt)?;
        if receipt.is_some() && self.pending_receipts.len() >= self.config.max_pending_receipts {
            return Err(ProtocolError::TooManyPendingReceipts);
        }
        let event = match command {
            Command::Send => {
                let send = SendHeaders {
                    destination: decode_raw(frame, common.destination)?
                        .ok_or(ProtocolError::MissingHeader(header::DESTINATION))?,
                    // Most SENDs are in no transaction: no call for them.
                    transaction: match common.transaction {
                        None => None,
                        raw => self.open_transaction(decode_raw(frame, raw)?)?,
                    },
                    receipt,
                };
                if let Some(id) = &send.receipt {
                    self.pending_receipts.push_back(PendingReceipt {
                        id: id.clone(),
                        disconnect: false,
                    });
                }
                return Ok(Some(send));
            }
            Command::Subscribe => {
                let destination = decode_raw(frame, common.destination)?
                    .ok_or(ProtocolError::MissingHeader(header::DESTINATION))?;
                let (id, explicit_id) = match decoded(frame, header::ID)? {
                    Some(id) => (id, true),
                    None if version == Version::V1_0 => (destination.clone(), false),
                    None => return Err(ProtocolError::MissingHeader(header::ID)),
                };
                let ack = match frame.ack_mode() {
                    Ok(None) => AckMode::Auto,
                    Ok(Some(AckMode::ClientIndividual)) if version == Version::V1_0 => {
                        return Err(ProtocolError::InvalidHeader(header::ACK))
                    }
                    Ok(Some(mode)) => mode,
                    Err(_) => return Err(ProtocolError::InvalidHeader(header::ACK)),
                };
                if self.subscriptions.contains_key(&id) {
                    return Err(ProtocolError::DuplicateSubscription);
                }
                if self.subscriptions.len() >= self.config.max_subscriptions {
                    return Err(ProtocolError::TooManySubscriptions);
                }
                self.subscriptions.insert(
                    id.clone(),
                    Subscription {
                        explicit_id,
                        ack,
                        unacked: BTreeSet::new(),
                        message_prefix: wire::message_prefix(explicit_id.then_some(&id[..])),
                    },
                );
                ServerEvent::Subscribe {
                    subscription: id,
                    destination,
                    ack,
                    receipt: receipt.clone(),
                    frame: frame.clone(),
                }
            }
            Command::Unsubscribe => {
                let id = match decoded(frame, header::ID)? {
                    Some(id) => id,
                    None if version == Version::V1_0 => decoded(frame, header::DESTINATION)?
                        .ok_or(ProtocolError::MissingHeader(header::ID))?,
                    None => return Err(ProtocolError::MissingHeader(header::ID)),
                };
                let sub = self
                    .subscriptions
                    .remove(&id)
                    .ok_or(ProtocolError::UnknownSubscription)?;
                ServerEvent::Unsubscribe {
                    subscription: id,
                    unacknowledged: sub.unacked.into_iter().map(MessageId).collect(),
                    receipt: receipt.clone(),
                }
            }
            Command::Ack | Command::Nack => {
                let transaction = self.open_transaction(decode_raw(frame, common.transaction)?)?;
                let (subscription, message_ids) = self.resolve_ack(frame)?;
                if command == Command::Ack {
                    ServerEvent::Ack {
                        subscription,
                        message_ids,
                        transaction,
                        receipt: receipt.clone(),
                    }
                } else {
                    ServerEvent::Nack {
                        subscription,
                        message_ids,
                        transaction,
                        receipt: receipt.clone(),
                    }
                }
            }
            Command::Begin => {
                let transaction = decode_raw(frame, common.transaction)?
                    .ok_or(ProtocolError::MissingHeader(header::TRANSACTION))?;
                if self.transactions.contains(&transaction) {
                    return Err(ProtocolError::DuplicateTransaction);
                }
                if self.transactions.len() >= self.config.max_transactions {
                    return Err(ProtocolError::TooManyTransactions);
                }
                self.transactions.push(transaction.clone());
                ServerEvent::Begin {
                    transaction,
                    receipt: receipt.clone(),
                }
            }
            Command::Commit | Command::Abort => {
                let transaction = decode_raw(frame, common.transaction)?
                    .ok_or(ProtocolError::MissingHeader(header::TRANSACTION))?;
                let index = self
                    .transactions
                    .iter()
                    .position(|t| *t == transaction)
                    .ok_or(ProtocolError::UnknownTransaction)?;
                self.transactions.remove(index);
                if command == Command::Commit {
                    ServerEvent::Commit {
                        transaction,
                        receipt: receipt.clone(),
                    }
                } else {
                    ServerEvent::Abort {
                        transaction,
                        receipt: receipt.clone(),
                    }
                }
            }
            Command::Disconnect => ServerEvent::Disconnect {
                receipt: receipt.clone(),
            },
            // Sorted out above.
            _ => return Err(ProtocolError::ServerCommand(command)),
        };
        self.events.push_back(event);
        if let Some(id) = receipt {
            self.pending_receipts.push_back(PendingReceipt {
                id,
                disconnect: command == Command::Disconnect,
            });
        }
        if command == Command::Disconnect {
            if self.pending_receipts.back().is_some_and(|p| p.disconnect) {
                self.state = State::Disconnecting;
                self.heart_beats.stop_expecting();
            } else {
                self.close(CloseReason::Disconnected);
            }
        }
        Ok(None)
    }

    /// A decoded `transaction` header, which must name an open transaction.
    fn open_transaction(&self, value: Option<Bytes>) -> Result<Option<Bytes>, ProtocolError> {
        match value {
            Some(t) if !self.transactions.contains(&t) => Err(ProtocolError::UnknownTransaction),
            t => Ok(t),
        }
    }

    /// Finds the messages an ACK or NACK acknowledges, removes them from the unacknowledged
    /// ones and returns them with their subscription.
    fn resolve_ack(
        &mut self,
        frame: &OwnedFrame,
    ) -> Result<(Bytes, Vec<MessageId>), ProtocolError> {
        let version = self.wire_version();
        let id_header = if version == Version::V1_2 {
            header::ID
        } else {
            header::MESSAGE_ID
        };
        let id = required(frame, id_header)?;
        let named = if version == Version::V1_1 {
            Some(required(frame, header::SUBSCRIPTION)?)
        } else {
            None
        };
        let id = parse_message_id(&id).ok_or(ProtocolError::UnknownMessage)?;
        let (key, sub) = match named {
            Some(name) => {
                let sub = self
                    .subscriptions
                    .get_mut(&name)
                    .ok_or(ProtocolError::UnknownSubscription)?;
                (name, sub)
            }
            None => {
                let (key, sub) = self
                    .subscriptions
                    .iter_mut()
                    .find(|(_, sub)| sub.unacked.contains(&id))
                    .ok_or(ProtocolError::UnknownMessage)?;
                (key.clone(), sub)
            }
        };
        if !sub.unacked.contains(&id) {
            return Err(ProtocolError::UnknownMessage);
        }
        let ids = if sub.ack == AckMode::Client {
            // Cumulative: this one and every earlier one.
            let later = match id.checked_add(1) {
                Some(next) => sub.unacked.split_off(&next),
                None => BTreeSet::new(),
            };
            core::mem::replace(&mut sub.unacked, later)
                .into_iter()
                .map(MessageId)
                .collect()
        } else {
            sub.unacked.remove(&id);
            alloc::vec![MessageId(id)]
        };
        Ok((key, ids))
    }

    /// Answers a violation with ERROR and closes.
    fn fail(&mut self, error: ProtocolError, frame: Option<&OwnedFrame>) {
        if self.state == State::Closed {
            return;
        }
        let version = self.wire_version();
        let message = format!("{error}");
        let receipt = frame
            .filter(|f| !f.command().is_connect())
            .and_then(|f| decoded(f, header::RECEIPT).ok().flatten());
        let mut versions_buf = [0u8; 11];
        let supported = self.config.versions.write_to(&mut versions_buf);
        let mut body = Vec::new();
        let mut headers = HeaderList::new();
        headers.push((b"message", message.as_bytes()));
        if let Some(receipt) = &receipt {
            headers.push((b"receipt-id", receipt));
        }
        if error == ProtocolError::NoCommonVersion {
            headers.push((b"version", supported));
            body.extend_from_slice(b"Supported protocol versions are");
            for v in self.config.versions.iter() {
                body.push(b' ');
                body.extend_from_slice(v.as_str().as_bytes());
            }
        } else if let Some(frame) = frame {
            body.extend_from_slice(b"The frame:\n-----\n");
            body.extend_from_slice(quote(frame));
            body.extend_from_slice(b"-----\n");
            body.extend_from_slice(message.as_bytes());
            body.push(b'\n');
        }
        if !body.is_empty() {
            headers.push((b"content-type", b"text/plain"));
        }
        if self
            .transmit
            .frame(version, Command::Error, headers.as_slice(), &body)
            .is_err()
        {
            // Only a receipt-id the version cannot carry gets here; the message is plain.
            let _ = self.transmit.frame(
                version,
                Command::Error,
                &[(b"message", message.as_bytes())],
                b"",
            );
        }
        self.heart_beats.sent(self.now);
        self.close(CloseReason::ProtocolError(error));
    }

    /// Closes the session: reports open transactions as aborted, then `Closed`.
    fn close(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.heart_beats.stop();
        self.read_buf = BytesMut::new();
        self.pending_receipts.clear();
        for transaction in self.transactions.drain(..) {
            self.events
                .push_back(ServerEvent::TransactionAborted { transaction });
        }
        self.events.push_back(ServerEvent::Closed { reason });
    }
}

/// Header names a [`Message`]'s own headers may not use.
fn is_reserved_message_header(name: &[u8]) -> bool {
    [
        header::SUBSCRIPTION,
        header::MESSAGE_ID,
        header::DESTINATION,
        header::ACK,
        header::CONTENT_LENGTH,
    ]
    .iter()
    .any(|reserved| reserved.as_bytes() == name)
}

/// The first header `name`, decoded; shares the frame's buffer when decoding changes nothing.
fn decoded(frame: &OwnedFrame, name: &str) -> Result<Option<Bytes>, ProtocolError> {
    // One lookup: the raw value shares the frame's buffer.
    let Some(raw) = frame.header_bytes(name) else {
        return Ok(None);
    };
    let value = Value::new(&raw, frame.escaping());
    if value.as_plain().is_some() {
        return Ok(Some(raw));
    }
    value
        .decode()
        .map(|v| Some(Bytes::from(v.into_owned())))
        .map_err(|_| ProtocolError::Parse(ParseError::InvalidEscape))
}

/// What a valid SEND frame's event reports besides the frame.
struct SendHeaders {
    destination: Bytes,
    transaction: Option<Bytes>,
    receipt: Option<Bytes>,
}

/// The first `receipt`, `destination` and `transaction` headers of a frame, raw (still
/// escaped), found in one pass over its headers.
#[derive(Default)]
struct CommonHeaders<'f> {
    receipt: Option<&'f [u8]>,
    destination: Option<&'f [u8]>,
    transaction: Option<&'f [u8]>,
}

impl<'f> CommonHeaders<'f> {
    fn scan(frame: &'f OwnedFrame) -> CommonHeaders<'f> {
        let mut found = CommonHeaders::default();
        // These names hold no octet that decodes from an escape, so an escaped name equals
        // one of them after decoding exactly when it does before.
        for h in frame.headers() {
            let slot = match h.name {
                b"receipt" => &mut found.receipt,
                b"destination" => &mut found.destination,
                b"transaction" => &mut found.transaction,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(h.value);
            }
        }
        found
    }
}

/// A raw value of `frame` found by [`CommonHeaders::scan`], decoded as [`decoded`] does.
#[inline]
fn decode_raw(frame: &OwnedFrame, raw: Option<&[u8]>) -> Result<Option<Bytes>, ProtocolError> {
    // Absent headers (most SENDs have no receipt or transaction) cost no call.
    match raw {
        None => Ok(None),
        Some(raw) => decode_present(frame, raw).map(Some),
    }
}

/// [`decode_raw`] of a header that is there.
fn decode_present(frame: &OwnedFrame, raw: &[u8]) -> Result<Bytes, ProtocolError> {
    let escaping = frame.escaping();
    if escaping == Escaping::None || !wire::has_backslash(raw) {
        return Ok(frame.as_bytes().slice_ref(raw));
    }
    Value::new(raw, escaping)
        .decode()
        .map(|v| Bytes::from(v.into_owned()))
        .map_err(|_| ProtocolError::Parse(ParseError::InvalidEscape))
}

/// A header the frame must have.
fn required(frame: &OwnedFrame, name: &'static str) -> Result<Bytes, ProtocolError> {
    decoded(frame, name)?.ok_or(ProtocolError::MissingHeader(name))
}

/// A value without the spaces and tabs STOMP 1.0 allowed around it.
fn trim(mut value: Bytes) -> Bytes {
    let start = value
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    value.truncate(end);
    value.split_off(start.min(end))
}

/// A message id as the session writes it: decimal digits.
fn parse_message_id(value: &[u8]) -> Option<u64> {
    // Exactly as written: no sign, no leading zero (`007` is not message 7).
    let canonical = matches!(value, [b'0'] | [b'1'..=b'9', ..]);
    if !canonical || value.len() > 20 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The command and headers of a frame, as received, cut at [`QUOTE_MAX`] octets.
fn quote(frame: &OwnedFrame) -> &[u8] {
    let bytes = frame.as_bytes();
    // The frame ends with its body and the NUL.
    let head_len = bytes.len().saturating_sub(frame.body().len() + 1);
    bytes.get(..head_len.min(QUOTE_MAX)).unwrap_or_default()
}
