//! The client side of one STOMP connection: a sans-IO state machine.
//!
//! A [`Client`] turns API calls ([`send`](Client::send), [`subscribe`](Client::subscribe),
//! [`ack`](Client::ack), …) into bytes to write, and bytes read from the server into
//! [`ClientEvent`]s. It never touches a socket or a clock: every mutator takes `now`, and
//! after **every** call the caller drains the session (see [the module docs](super)):
//! [`poll_transmit`](Client::poll_transmit) and [`poll_event`](Client::poll_event) until
//! `None`, then [`poll_timeout`](Client::poll_timeout) for when to call
//! [`handle_timeout`](Client::handle_timeout).
//!
//! # Lifecycle
//!
//! [`Client::new`] → [`connect`](Client::connect) queues CONNECT (or STOMP) →
//! the server's CONNECTED gives [`ClientEvent::Connected`], with the negotiated version and
//! heart-beats → frames flow both ways → [`disconnect`](Client::disconnect) queues
//! DISCONNECT with a receipt → the server's RECEIPT gives [`ClientEvent::Disconnected`].
//!
//! The session is **closed** after `Disconnected`, [`ClientEvent::Error`] (an ERROR frame),
//! [`ClientEvent::HeartBeatTimeout`] and [`ClientEvent::ProtocolError`]: it emits no more
//! bytes, ignores input, and refuses API calls with [`SessionError::Closed`]. The caller then
//! closes the transport.
//!
//! # Example
//!
//! A whole exchange, with the server's bytes written by hand:
//!
//! ```
//! use stomp_proto::session::client::{Receipt, SendOptions, SubscribeOptions};
//! use stomp_proto::session::{Client, ClientConfig, ClientEvent};
//! use stomp_proto::time::{Duration, Instant};
//! use stomp_proto::{AckMode, HeartBeat, Version};
//!
//! let mut now = Instant::ZERO;
//! let config = ClientConfig::new("example.org")
//!     .login("guest", "guest")
//!     .heart_beat(HeartBeat::new(10_000, 10_000));
//! let mut client = Client::new(config);
//! client.connect(now)?;
//! let connect = client.poll_transmit().unwrap();
//! assert!(connect.starts_with(b"CONNECT\naccept-version:1.0,1.1,1.2\nhost:example.org\n"));
//!
//! // The server accepts 1.2 and wants a heart-beat every 20 s.
//! client.handle_input(now, b"CONNECTED\nversion:1.2\nheart-beat:0,20000\n\n\0");
//! let Some(ClientEvent::Connected(connected)) = client.poll_event() else { panic!() };
//! assert_eq!(connected.version(), Version::V1_2);
//! assert_eq!(client.poll_timeout(), Some(now + Duration::from_secs(20)));
//!
//! // Subscribe with client acknowledgment, and send a message.
//! let sub = client.subscribe(now, "/queue/a", SubscribeOptions::new().ack(AckMode::Client))?;
//! assert_eq!(sub.id, "0");
//! client.send(now, "/queue/a", b"hello", SendOptions::new().content_type("text/plain"))?;
//! let out = client.poll_transmit().unwrap();
//! assert!(out.starts_with(b"SUBSCRIBE\ndestination:/queue/a\nid:0\nack:client\n\n\0SEND\n"));
//!
//! // The message comes back; its body shares the read buffer.
//! now += Duration::from_secs(1);
//! client.handle_input(
//!     now,
//!     b"MESSAGE\nsubscription:0\nmessage-id:7\nack:a7\ndestination:/queue/a\n\
//!       content-length:5\n\nhello\0",
//! );
//! let Some(ClientEvent::Message(message)) = client.poll_event() else { panic!() };
//! assert_eq!(message.subscription(), "0");
//! assert_eq!(message.body(), b"hello");
//! client.ack(now, &message, None, Receipt::None)?;
//! assert_eq!(&client.poll_transmit().unwrap()[..], b"ACK\nid:a7\n\n\0");
//!
//! // Nothing sent for 20 s: a heart-beat EOL is due.
//! now += Duration::from_secs(20);
//! client.handle_timeout(now);
//! assert_eq!(&client.poll_transmit().unwrap()[..], b"\n");
//!
//! // Graceful disconnect: DISCONNECT with a receipt, then wait for the RECEIPT.
//! let receipt = client.disconnect(now)?;
//! let out = client.poll_transmit().unwrap();
//! assert_eq!(&out[..], format!("DISCONNECT\nreceipt:{receipt}\n\n\0").as_bytes());
//! client.handle_input(now, format!("RECEIPT\nreceipt-id:{receipt}\n\n\0").as_bytes());
//! let Some(ClientEvent::Disconnected { receipt_id }) = client.poll_event() else { panic!() };
//! assert_eq!(receipt_id, receipt);
//! assert!(client.is_closed());
//! assert_eq!(client.poll_transmit(), None);
//! # Ok::<(), stomp_proto::session::SessionError>(())
//! ```
//!
//! # Decisions worth knowing
//!
//! - Before CONNECTED the client reads with STOMP 1.2 rules (LF or CR LF); from CONNECTED on
//!   it reads and writes with the negotiated version's rules.
//! - A MESSAGE whose `subscription` matches no open subscription (it may have been in flight
//!   when UNSUBSCRIBE was sent) is reported as [`ClientEvent::UnexpectedMessage`]; the
//!   session stays open. In STOMP 1.0, where servers need not send `subscription`, a MESSAGE
//!   without one goes to the subscription with the same `destination`, or to the only
//!   subscription if there is just one.
//! - A RECEIPT whose `receipt-id` the client did not ask for is reported as
//!   [`ClientEvent::UnexpectedReceipt`]; the session stays open.
//! - Acknowledgments are built from the received [`Message`] alone; the client does not keep
//!   a list of unacknowledged messages (its memory does not grow with the server's traffic).

use alloc::borrow::Cow;
use alloc::collections::{BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use bytes::{Bytes, BytesMut};

use super::{earliest, HeaderList, HeartBeats, Outbox, SessionError};
use crate::codec::{Decoder, OwnedFrame, OwnedItem};
use crate::header;
use crate::serialize::PlainHeader;
use crate::time::{Duration, Instant};
use crate::{
    AckMode, Command, HeartBeat, Limits, ParseError, Parser, SerializeError, Value, Version,
    Versions,
};

/// How much input is appended to the read buffer before decoding, so that the buffer never
/// holds more than one frame's limit plus this much, whatever the caller passes in.
const INPUT_STEP: usize = 64 * 1024;

/// How a [`Client`] connects: versions, virtual host, credentials, heart-beats and limits.
///
/// Builder-style; every setter returns the changed configuration.
///
/// | setting | default |
/// |---------|---------|
/// | [`accept_versions`](Self::accept_versions) | 1.0, 1.1 and 1.2 |
/// | [`host`](Self::host) | the value given to [`new`](Self::new) |
/// | [`login`](Self::login) | none (no `login`/`passcode` headers) |
/// | [`heart_beat`](Self::heart_beat) | `0,0`: none either way (no `heart-beat` header) |
/// | [`grace_percent`](Self::grace_percent) | 150: the server is dead after 1.5 × its interval of silence |
/// | [`stomp_command`](Self::stomp_command) | `false`: the client sends `CONNECT` |
/// | [`header`](Self::header) | no extra headers |
/// | [`limits`](Self::limits) | [`Limits::DEFAULT`] for frames read from the server |
///
/// ```
/// use stomp_proto::session::ClientConfig;
/// use stomp_proto::{HeartBeat, Version, Versions};
///
/// let config = ClientConfig::new("broker.example")
///     .accept_versions(Versions::EMPTY.with(Version::V1_1).with(Version::V1_2))
///     .login("guest", "secret")
///     .heart_beat(HeartBeat::new(5_000, 10_000))
///     .grace_percent(200)
///     .header("client-id", "sensor-7");
/// assert_eq!(config.grace(), 200);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    versions: Versions,
    host: String,
    login: Option<(String, String)>,
    heart_beat: HeartBeat,
    grace_percent: u32,
    stomp_command: bool,
    headers: Vec<(String, String)>,
    limits: Limits,
    connect_timeout: Option<Duration>,
    disconnect_timeout: Option<Duration>,
}

impl ClientConfig {
    /// The default configuration, connecting to the virtual host `host` (the `host` header,
    /// which STOMP 1.1 and 1.2 require; the host name the transport connected to is a good
    /// choice).
    pub fn new(host: &str) -> ClientConfig {
        ClientConfig {
            versions: Versions::ALL,
            host: String::from(host),
            login: None,
            heart_beat: HeartBeat::NONE,
            grace_percent: 150,
            stomp_command: false,
            headers: Vec::new(),
            limits: Limits::DEFAULT,
            connect_timeout: None,
            disconnect_timeout: None,
        }
    }

    /// The versions to offer in `accept-version`. The server picks one of them; CONNECTED
    /// with any other is a protocol error. A 1.0-only client sends no `accept-version`
    /// header (a 1.0 CONNECT has none); an empty set makes [`Client::connect`] fail.
    #[must_use]
    pub fn accept_versions(mut self, versions: Versions) -> ClientConfig {
        self.versions = versions;
        self
    }

    /// The virtual host (`host` header).
    #[must_use]
    pub fn host(mut self, host: &str) -> ClientConfig {
        self.host = String::from(host);
        self
    }

    /// Credentials: the `login` and `passcode` headers.
    #[must_use]
    pub fn login(mut self, login: &str, passcode: &str) -> ClientConfig {
        self.login = Some((String::from(login), String::from(passcode)));
        self
    }

    /// The `heart-beat` header: how often the client can send heart-beats and how often it
    /// wants to receive them, in milliseconds (0: never). Each direction then runs at the
    /// larger of the client's and the server's value, or not at all if either is 0.
    #[must_use]
    pub fn heart_beat(mut self, heart_beat: HeartBeat) -> ClientConfig {
        self.heart_beat = heart_beat;
        self
    }

    /// How tolerant the client is of a late server, as a percentage of the negotiated
    /// interval: the server is declared dead after `interval × percent / 100` without any
    /// byte from it. Values under 100 count as 100.
    #[must_use]
    pub fn grace_percent(mut self, percent: u32) -> ClientConfig {
        self.grace_percent = percent;
        self
    }

    /// How long to wait for CONNECTED after [`Client::connect`]: when it has not arrived by
    /// then, the session closes with [`ClientEvent::ConnectTimeout`]. None by default (heart-
    /// beats only start after CONNECTED, so without it a server that accepts the transport
    /// but never answers keeps the client waiting until the transport gives up).
    ///
    /// ```
    /// use stomp_proto::session::{Client, ClientConfig, ClientEvent};
    /// use stomp_proto::time::{Duration, Instant};
    ///
    /// let mut client = Client::new(ClientConfig::new("/").connect_timeout(Duration::from_millis(5_000)));
    /// client.connect(Instant::ZERO).unwrap();
    /// assert_eq!(client.poll_timeout(), Some(Instant::from_millis(5_000)));
    ///
    /// client.handle_timeout(Instant::from_millis(5_000));
    /// assert!(matches!(client.poll_event(), Some(ClientEvent::ConnectTimeout)));
    /// assert!(client.is_closed());
    /// ```
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How long to wait for the RECEIPT of DISCONNECT after [`Client::disconnect`]: when it
    /// has not arrived by then, the session closes with [`ClientEvent::DisconnectTimeout`]
    /// (the server may not have everything the client sent). None by default.
    #[must_use]
    pub fn disconnect_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.disconnect_timeout = Some(timeout);
        self
    }

    /// Whether to open the session with the `STOMP` command instead of `CONNECT` (it lets
    /// protocol sniffers tell STOMP from HTTP; 1.0 servers do not know it). Ignored when
    /// only STOMP 1.0 is offered, as 1.0 has no `STOMP` command.
    #[must_use]
    pub fn stomp_command(mut self, stomp: bool) -> ClientConfig {
        self.stomp_command = stomp;
        self
    }

    /// An extra header for the CONNECT frame, written after the standard ones (so a repeated
    /// standard header does not override them: the first wins).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> ClientConfig {
        self.headers.push((String::from(name), String::from(value)));
        self
    }

    /// Limits on the frames read from the server; a frame over them closes the session with
    /// a [`ProtocolError::Parse`]. The read buffer never holds much more than
    /// [`Limits::max_frame_len`].
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> ClientConfig {
        self.limits = limits;
        self
    }

    /// The grace percentage in use (at least 100).
    pub fn grace(&self) -> u32 {
        self.grace_percent.max(100)
    }

    /// The command that opens the session.
    fn connect_command(&self) -> Command {
        let only_1_0 = self.versions == Versions::EMPTY.with(Version::V1_0);
        if self.stomp_command && !only_1_0 {
            Command::Stomp
        } else {
            Command::Connect
        }
    }
}

/// Whether, and with which id, a frame asks the server for a RECEIPT.
///
/// The id a call used is returned by the call; the RECEIPT comes back as
/// [`ClientEvent::Receipt`] with that id and the command it confirms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Receipt<'a> {
    /// No `receipt` header.
    #[default]
    None,
    /// A `receipt` header with an id the client generates (unique among outstanding ones).
    Generated,
    /// A `receipt` header with this id.
    Id(&'a str),
}

/// Optional parts of a SEND frame (see [`Client::send`]).
///
/// ```
/// use stomp_proto::session::client::SendOptions;
///
/// let options = SendOptions::new()
///     .content_type("application/json")
///     .transaction("tx1")
///     .receipt()
///     .headers(&[("priority", "9")]);
/// # let _ = options;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendOptions<'a> {
    content_type: Option<&'a str>,
    transaction: Option<&'a str>,
    receipt: Receipt<'a>,
    headers: &'a [(&'a str, &'a str)],
}

impl<'a> SendOptions<'a> {
    /// No options: no `content-type`, no transaction, no receipt, no extra headers.
    pub const fn new() -> SendOptions<'a> {
        SendOptions {
            content_type: None,
            transaction: None,
            receipt: Receipt::None,
            headers: &[],
        }
    }

    /// The `content-type` header: the MIME type of the body (`text/plain`,
    /// `application/json;charset=utf-8`, …).
    #[must_use]
    pub const fn content_type(mut self, content_type: &'a str) -> SendOptions<'a> {
        self.content_type = Some(content_type);
        self
    }

    /// `content-type:text/plain;charset=utf-8`.
    #[must_use]
    pub const fn text(self) -> SendOptions<'a> {
        self.content_type("text/plain;charset=utf-8")
    }

    /// The `transaction` header: the message is part of this open transaction.
    #[must_use]
    pub const fn transaction(mut self, transaction: &'a str) -> SendOptions<'a> {
        self.transaction = Some(transaction);
        self
    }

    /// Asks for a RECEIPT with a generated id.
    #[must_use]
    pub const fn receipt(mut self) -> SendOptions<'a> {
        self.receipt = Receipt::Generated;
        self
    }

    /// Asks for a RECEIPT as `receipt` says.
    #[must_use]
    pub const fn with_receipt(mut self, receipt: Receipt<'a>) -> SendOptions<'a> {
        self.receipt = receipt;
        self
    }

    /// User-defined headers, written after the standard ones.
    #[must_use]
    pub const fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> SendOptions<'a> {
        self.headers = headers;
        self
    }
}

/// Optional parts of a SUBSCRIBE frame (see [`Client::subscribe`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscribeOptions<'a> {
    id: Option<&'a str>,
    ack: AckMode,
    receipt: Receipt<'a>,
    headers: &'a [(&'a str, &'a str)],
}

impl<'a> SubscribeOptions<'a> {
    /// A generated id, `ack:auto`, no receipt, no extra headers.
    pub const fn new() -> SubscribeOptions<'a> {
        SubscribeOptions {
            id: None,
            ack: AckMode::Auto,
            receipt: Receipt::None,
            headers: &[],
        }
    }

    /// The subscription id (the `id` header), instead of a generated one.
    #[must_use]
    pub const fn id(mut self, id: &'a str) -> SubscribeOptions<'a> {
        self.id = Some(id);
        self
    }

    /// The acknowledgment mode (the `ack` header); `client-individual` needs STOMP 1.1+.
    #[must_use]
    pub const fn ack(mut self, ack: AckMode) -> SubscribeOptions<'a> {
        self.ack = ack;
        self
    }

    /// Asks for a RECEIPT with a generated id.
    #[must_use]
    pub const fn receipt(mut self) -> SubscribeOptions<'a> {
        self.receipt = Receipt::Generated;
        self
    }

    /// Asks for a RECEIPT as `receipt` says.
    #[must_use]
    pub const fn with_receipt(mut self, receipt: Receipt<'a>) -> SubscribeOptions<'a> {
        self.receipt = receipt;
        self
    }

    /// Server-specific headers (`selector`, `prefetch-count`, …), written after the
    /// standard ones.
    #[must_use]
    pub const fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> SubscribeOptions<'a> {
        self.headers = headers;
        self
    }
}

/// A subscription just requested by [`Client::subscribe`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Subscription {
    /// The subscription id: MESSAGE frames carry it in their `subscription` header.
    pub id: String,
    /// The receipt id, if a RECEIPT was asked for.
    pub receipt: Option<String>,
}

/// Where the session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientState {
    /// Created; [`Client::connect`] not called yet.
    Idle,
    /// CONNECT sent, waiting for CONNECTED.
    Connecting,
    /// CONNECTED received: frames may be sent.
    Connected,
    /// DISCONNECT sent, waiting for its RECEIPT; nothing more will be sent.
    Disconnecting,
    /// Over: nothing is sent or read any more.
    Closed,
}

/// The server accepted the session (the CONNECTED frame), with what was negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connected {
    frame: OwnedFrame,
    version: Version,
    heart_beat: HeartBeat,
    send_every: Option<Duration>,
    expect_every: Option<Duration>,
}

impl Connected {
    /// The negotiated version (1.0 when CONNECTED has no `version` header).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The server's `server` header (`name/version comments`), if any.
    pub fn server(&self) -> Option<Value<'_>> {
        self.frame.server()
    }

    /// The server's `session` header, if any.
    pub fn session(&self) -> Option<Value<'_>> {
        self.frame.session()
    }

    /// The server's `heart-beat` header (`0,0` when absent).
    pub fn heart_beat(&self) -> HeartBeat {
        self.heart_beat
    }

    /// The negotiated heart-beat intervals `(send, receive)`: how often the client sends
    /// something, and how often the server must; `None` for no heart-beats that way.
    pub fn heart_beat_intervals(&self) -> (Option<Duration>, Option<Duration>) {
        (self.send_every, self.expect_every)
    }

    /// The CONNECTED frame itself.
    pub fn frame(&self) -> &OwnedFrame {
        &self.frame
    }
}

/// A MESSAGE delivered to one of the client's subscriptions.
///
/// The headers and body are slices of the read buffer ([`OwnedFrame`]); nothing was
/// copied. Pass it to [`Client::ack`] or [`Client::nack`] to acknowledge it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    frame: OwnedFrame,
    subscription: Arc<str>,
    ack_mode: AckMode,
}

impl Message {
    /// The id of the subscription it was delivered to.
    pub fn subscription(&self) -> &str {
        &self.subscription
    }

    /// The acknowledgment mode of that subscription.
    pub fn ack_mode(&self) -> AckMode {
        self.ack_mode
    }

    /// The `destination` header.
    pub fn destination(&self) -> Option<Value<'_>> {
        self.frame.destination()
    }

    /// The `message-id` header.
    pub fn message_id(&self) -> Option<Value<'_>> {
        self.frame.message_id()
    }

    /// The `ack` header: the id an ACK or NACK names in STOMP 1.2.
    pub fn ack_id(&self) -> Option<Value<'_>> {
        self.frame.ack()
    }

    /// The `content-type` header.
    pub fn content_type(&self) -> Option<Value<'_>> {
        self.frame.content_type()
    }

    /// The first header named `name` (user-defined headers included).
    pub fn header(&self, name: &str) -> Option<Value<'_>> {
        self.frame.header(name)
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        self.frame.body()
    }

    /// The body as [`Bytes`] sharing the read buffer.
    pub fn body_bytes(&self) -> Bytes {
        self.frame.body_bytes()
    }

    /// The MESSAGE frame.
    pub fn frame(&self) -> &OwnedFrame {
        &self.frame
    }

    /// The MESSAGE frame, by value.
    pub fn into_frame(self) -> OwnedFrame {
        self.frame
    }
}

/// An ERROR frame from the server. The session is closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerError {
    frame: OwnedFrame,
    command: Option<Command>,
}

impl ServerError {
    /// The `message` header: a short description.
    pub fn message(&self) -> Option<Value<'_>> {
        self.frame.message()
    }

    /// The body: more detail, if the server gave any.
    pub fn body(&self) -> &[u8] {
        self.frame.body()
    }

    /// The `receipt-id` header: the `receipt` of the frame the error is about, if it had one.
    pub fn receipt_id(&self) -> Option<Value<'_>> {
        self.frame.receipt_id()
    }

    /// The command of the client frame the error is about, when its `receipt-id` names an
    /// outstanding receipt.
    pub fn command(&self) -> Option<Command> {
        self.command
    }

    /// The ERROR frame.
    pub fn frame(&self) -> &OwnedFrame {
        &self.frame
    }
}

/// How the server broke the protocol. The session is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes are not a valid STOMP frame, or exceed the configured [`Limits`].
    Parse(ParseError),
    /// A frame the client cannot receive now: a client command, CONNECTED twice, or
    /// MESSAGE/RECEIPT before CONNECTED.
    UnexpectedFrame(Command),
    /// CONNECTED names a version the client did not offer (no `version` header means 1.0).
    VersionNotOffered,
    /// A header the client relies on has a malformed value (its name is given).
    MalformedHeader(&'static str),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Parse(e) => write!(f, "malformed frame from server: {e}"),
            ProtocolError::UnexpectedFrame(c) => write!(f, "unexpected {c} frame from server"),
            ProtocolError::VersionNotOffered => {
                f.write_str("server chose a protocol version the client did not offer")
            }
            ProtocolError::MalformedHeader(h) => write!(f, "malformed {h} header from server"),
        }
    }
}

impl core::error::Error for ProtocolError {}

/// What happened on the session, from [`Client::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server accepted the session: frames may be sent from now on.
    Connected(Connected),
    /// A MESSAGE for one of the client's subscriptions.
    Message(Message),
    /// The server processed the frame that asked for this receipt.
    Receipt {
        /// The receipt id (given by the caller or generated).
        receipt_id: String,
        /// The command of the frame it confirms.
        command: Command,
    },
    /// A RECEIPT that answers no outstanding receipt (or has no `receipt-id`). The session
    /// stays open.
    UnexpectedReceipt(OwnedFrame),
    /// A MESSAGE for no open subscription (it may have been sent before the server saw an
    /// UNSUBSCRIBE). It cannot be acknowledged through the session; the session stays open.
    UnexpectedMessage(OwnedFrame),
    /// The RECEIPT of DISCONNECT arrived: the server has everything the client sent. The
    /// session is closed.
    Disconnected {
        /// The receipt id of the DISCONNECT frame.
        receipt_id: String,
    },
    /// The server sent an ERROR frame. The session is closed.
    Error(ServerError),
    /// Nothing at all came from the server for the negotiated interval times the grace
    /// percentage: it is declared dead. The session is closed.
    HeartBeatTimeout,
    /// CONNECTED did not arrive within [`ClientConfig::connect_timeout`]. The session is
    /// closed.
    ConnectTimeout,
    /// The RECEIPT of DISCONNECT did not arrive within
    /// [`ClientConfig::disconnect_timeout`]: the server may not have everything the client
    /// sent. The session is closed.
    DisconnectTimeout,
    /// The server's bytes broke the protocol. The session is closed.
    ProtocolError(ProtocolError),
}

/// An open subscription.
#[derive(Clone, Debug)]
struct Sub {
    /// Shared with every [`Message`] delivered to it.
    id: Arc<str>,
    destination: String,
    ack: AckMode,
}

/// A receipt the client waits for.
#[derive(Clone, Debug)]
struct PendingReceipt {
    id: String,
    command: Command,
}

/// The client side of one STOMP connection, sans-IO.
///
/// # Driving it
///
/// After **every** call to [`connect`](Self::connect), [`handle_input`](Self::handle_input),
/// [`handle_timeout`](Self::handle_timeout) or an API call, drain the session:
///
/// 1. [`poll_transmit`](Self::poll_transmit) until `None`, writing each chunk to the
///    transport in order;
/// 2. [`poll_event`](Self::poll_event) until `None`, handling each event;
/// 3. [`poll_timeout`](Self::poll_timeout), and arrange to call
///    [`handle_timeout`](Self::handle_timeout) at that instant (it changes after every
///    call, so ask again each time).
///
/// Heart-beat EOLs are only sent from `handle_timeout`; a frame sent counts as a heart-beat,
/// and the send time is the `now` of the API call, so transmit right away.
///
/// All API calls return a [`SessionError`] on misuse and leave the session unchanged; none
/// panics, whatever the server sends.
///
/// See [the module docs](self) for a complete exchange.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    state: ClientState,
    /// The version frames are written and read with: the highest offered before CONNECTED,
    /// the negotiated one after.
    version: Version,
    decoder: Decoder,
    read_buf: BytesMut,
    outbox: Outbox,
    events: VecDeque<ClientEvent>,
    heart_beats: HeartBeats,
    subscriptions: Vec<Sub>,
    transactions: BTreeSet<String>,
    receipts: Vec<PendingReceipt>,
    disconnect_receipt: Option<String>,
    /// When waiting for CONNECTED, or for DISCONNECT's RECEIPT, stops (as configured).
    wait_deadline: Option<Instant>,
    next_subscription: u64,
    next_receipt: u64,
}

impl Client {
    /// A session that will connect as `config` says. Nothing is sent until
    /// [`connect`](Self::connect).
    pub fn new(config: ClientConfig) -> Client {
        let version = config.versions.highest().unwrap_or(Version::V1_2);
        let parser = Parser::new()
            .with_version(Version::V1_2)
            .with_limits(config.limits);
        let heart_beats = HeartBeats::new(config.grace(), Instant::ZERO);
        Client {
            config,
            state: ClientState::Idle,
            version,
            decoder: Decoder::with_parser(parser),
            read_buf: BytesMut::new(),
            outbox: Outbox::default(),
            events: VecDeque::new(),
            heart_beats,
            subscriptions: Vec::new(),
            transactions: BTreeSet::new(),
            receipts: Vec::new(),
            disconnect_receipt: None,
            wait_deadline: None,
            next_subscription: 0,
            next_receipt: 0,
        }
    }

    /// Queues the CONNECT (or STOMP) frame.
    ///
    /// Errors: [`SessionError::AlreadyConnected`] if called before;
    /// [`SessionError::Closed`] once closed; [`SessionError::Serialize`] when a configured
    /// value cannot be written (a line feed or carriage return in `host`, say, or no version
    /// offered).
    pub fn connect(&mut self, now: Instant) -> Result<(), SessionError> {
        match self.state {
            ClientState::Idle => {}
            ClientState::Connecting | ClientState::Connected => {
                return Err(SessionError::AlreadyConnected)
            }
            ClientState::Disconnecting | ClientState::Closed => return Err(SessionError::Closed),
        }
        let config = &self.config;
        if config.versions.is_empty() {
            return Err(SerializeError::InvalidHeaderValue.into());
        }
        let mut versions_buf = [0u8; 11];
        let versions = config.versions.write_to(&mut versions_buf);
        let mut heart_beat_buf = [0u8; 21];
        let heart_beat = config.heart_beat.write_to(&mut heart_beat_buf);
        let mut headers = HeaderList::new();
        if config.versions != Versions::EMPTY.with(Version::V1_0) {
            headers.push((header::ACCEPT_VERSION.as_bytes(), versions));
        }
        headers.push((header::HOST.as_bytes(), config.host.as_bytes()));
        if let Some((login, passcode)) = &config.login {
            headers.push((header::LOGIN.as_bytes(), login.as_bytes()));
            headers.push((header::PASSCODE.as_bytes(), passcode.as_bytes()));
        }
        if config.heart_beat != HeartBeat::NONE {
            headers.push((header::HEART_BEAT.as_bytes(), heart_beat));
        }
        headers.extend(
            config
                .headers
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        );
        let command = config.connect_command();
        // The server reads CONNECT before any version is agreed, with 1.2 rules, where a CR
        // before LF ends the line and a bare CR is an error: no version may carry one here.
        for (name, value) in headers.as_slice() {
            if name.contains(&b'\r') {
                return Err(SerializeError::InvalidHeaderName.into());
            }
            if value.contains(&b'\r') {
                return Err(SerializeError::InvalidHeaderValue.into());
            }
        }
        self.outbox
            .frame(self.version, command, headers.as_slice(), b"")?;
        self.heart_beats = HeartBeats::new(self.config.grace(), now);
        self.state = ClientState::Connecting;
        self.wait_deadline = self.config.connect_timeout.map(|t| now + t);
        Ok(())
    }

    /// Feeds bytes read from the transport. Drain the session afterwards.
    ///
    /// Any byte counts as a sign of life from the server. Malformed input, or a frame over
    /// the [`Limits`], closes the session with [`ClientEvent::ProtocolError`]. Input after
    /// the session closed is ignored.
    pub fn handle_input(&mut self, now: Instant, mut input: &[u8]) {
        if input.is_empty() || self.state == ClientState::Closed {
            return;
        }
        self.heart_beats.received(now);
        while !input.is_empty() {
            let (step, rest) = input.split_at(input.len().min(INPUT_STEP));
            input = rest;
            self.read_buf.extend_from_slice(step);
            if !self.decode_read_buf(now) {
                return;
            }
        }
    }

    /// [`handle_input`](Self::handle_input) for input the caller holds as [`Bytes`]: when
    /// no partial frame is waiting and `input` is the only reference to its memory (a
    /// `BytesMut` of its own, frozen, say; or a chunk of
    /// [`Server::poll_transmit`](super::Server::poll_transmit), kept by nobody else), the
    /// session decodes it where it is: the frames share that memory, nothing is copied.
    /// Otherwise it is copied, as `handle_input` does. Events are the same either way.
    pub fn handle_input_bytes(&mut self, now: Instant, input: Bytes) {
        if input.is_empty() || self.state == ClientState::Closed || !self.read_buf.is_empty() {
            return self.handle_input(now, &input);
        }
        match input.try_into_mut() {
            Ok(buf) => {
                self.heart_beats.received(now);
                self.read_buf = buf;
                self.decode_read_buf(now);
            }
            Err(input) => self.handle_input(now, &input),
        }
    }

    /// Decodes and handles what the read buffer holds; `false` once the session is closed.
    fn decode_read_buf(&mut self, now: Instant) -> bool {
        loop {
            match self.decoder.decode(&mut self.read_buf) {
                Ok(Some(OwnedItem::HeartBeat)) => {}
                Ok(Some(OwnedItem::Frame(frame))) => self.on_frame(now, frame),
                Ok(None) => return true,
                Err(e) => self.close_with(ClientEvent::ProtocolError(ProtocolError::Parse(e))),
            }
            if self.state == ClientState::Closed {
                return false;
            }
        }
    }

    /// Handles the heart-beat deadlines due at `now`: sends an EOL when nothing was sent for
    /// the negotiated interval, or declares the server dead (then the session is closed)
    /// when nothing arrived within the grace window. Calling it early does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.wait_deadline.is_some_and(|deadline| deadline <= now) {
            match self.state {
                ClientState::Connecting => return self.close_with(ClientEvent::ConnectTimeout),
                ClientState::Disconnecting => {
                    return self.close_with(ClientEvent::DisconnectTimeout)
                }
                _ => {}
            }
        }
        if !matches!(
            self.state,
            ClientState::Connected | ClientState::Disconnecting
        ) {
            return;
        }
        let due = self.heart_beats.due(now);
        if due.peer_dead {
            self.close_with(ClientEvent::HeartBeatTimeout);
            return;
        }
        if due.send {
            self.outbox.raw(b"\n");
            self.heart_beats.sent(now);
        }
    }

    /// The next bytes to write to the transport, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.outbox.take()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: the earliest
    /// heart-beat deadline (an EOL to send, or the server's silence to judge). `None` when no
    /// heart-beat runs (before CONNECTED, with `0,0`, once closed).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ClientState::Connecting => self.wait_deadline,
            ClientState::Connected => self.heart_beats.deadline(),
            ClientState::Disconnecting => earliest(self.heart_beats.deadline(), self.wait_deadline),
            ClientState::Idle | ClientState::Closed => None,
        }
    }

    /// Where the session is in its life.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// Whether CONNECTED was received and DISCONNECT not sent: frames may be sent.
    pub fn is_connected(&self) -> bool {
        self.state == ClientState::Connected
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.state == ClientState::Closed
    }

    /// The negotiated version, once CONNECTED was received.
    pub fn version(&self) -> Option<Version> {
        matches!(
            self.state,
            ClientState::Connected | ClientState::Disconnecting
        )
        .then_some(self.version)
    }

    /// The negotiated heart-beat intervals `(send, receive)`; `(None, None)` before
    /// CONNECTED. After DISCONNECT the client sends no more heart-beats.
    pub fn heart_beat_intervals(&self) -> (Option<Duration>, Option<Duration>) {
        self.heart_beats.intervals()
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Whether the subscription `id` is open.
    pub fn has_subscription(&self, id: &str) -> bool {
        self.subscriptions.iter().any(|s| &*s.id == id)
    }

    /// Whether the transaction `id` is open (BEGIN sent, no COMMIT or ABORT yet).
    pub fn has_transaction(&self, id: &str) -> bool {
        self.transactions.contains(id)
    }

    /// The receipt ids sent and not answered yet, oldest first (DISCONNECT's included).
    pub fn outstanding_receipts(&self) -> impl Iterator<Item = &str> + '_ {
        self.receipts
            .iter()
            .map(|r| r.id.as_str())
            .chain(self.disconnect_receipt.as_deref())
    }

    /// Queues a SEND frame: `body` to `destination`. Returns the receipt id, if a receipt
    /// was asked for. A `content-length` header is written whenever the body is not empty.
    ///
    /// Errors: [`SessionError::NotConnected`], [`SessionError::Closed`],
    /// [`SessionError::UnknownTransaction`], [`SessionError::Serialize`].
    pub fn send(
        &mut self,
        now: Instant,
        destination: &str,
        body: &[u8],
        options: SendOptions<'_>,
    ) -> Result<Option<String>, SessionError> {
        self.check_connected()?;
        self.check_transaction(options.transaction)?;
        let receipt = self.receipt_id(options.receipt);
        // The usual SEND: no transaction, receipt or extra headers, plain values.
        if options.transaction.is_none()
            && receipt.is_none()
            && options.headers.is_empty()
            && self.outbox.send(
                destination.as_bytes(),
                options.content_type.map(str::as_bytes),
                body,
            )
        {
            self.heart_beats.sent(now);
            return Ok(None);
        }
        let mut headers = HeaderList::new();
        headers.push((header::DESTINATION.as_bytes(), destination.as_bytes()));
        if let Some(content_type) = options.content_type {
            headers.push((header::CONTENT_TYPE.as_bytes(), content_type.as_bytes()));
        }
        push_optional(&mut headers, header::TRANSACTION, options.transaction);
        push_optional(&mut headers, header::RECEIPT, receipt.as_deref());
        let standard = headers.as_slice().len();
        push_extra(&mut headers, options.headers);
        self.outbox.frame_trusting(
            self.version,
            Command::Send,
            headers.as_slice(),
            standard,
            body,
        )?;
        self.heart_beats.sent(now);
        Ok(self.track_receipt(receipt, Command::Send))
    }

    /// Queues a SUBSCRIBE frame for `destination`. Returns the subscription's id (given or
    /// generated) and the receipt id, if a receipt was asked for.
    ///
    /// Errors: [`SessionError::NotConnected`], [`SessionError::Closed`],
    /// [`SessionError::DuplicateSubscription`], [`SessionError::AckModeNotInVersion`]
    /// (`client-individual` in 1.0), [`SessionError::Serialize`].
    pub fn subscribe(
        &mut self,
        now: Instant,
        destination: &str,
        options: SubscribeOptions<'_>,
    ) -> Result<Subscription, SessionError> {
        self.check_connected()?;
        if options.ack == AckMode::ClientIndividual && self.version == Version::V1_0 {
            return Err(SessionError::AckModeNotInVersion);
        }
        let (id, next_subscription) = match options.id {
            Some(id) if self.has_subscription(id) => {
                return Err(SessionError::DuplicateSubscription)
            }
            Some(id) => (String::from(id), self.next_subscription),
            None => {
                let mut n = self.next_subscription;
                loop {
                    let id = format!("{n}");
                    n = n.wrapping_add(1);
                    if !self.has_subscription(&id) {
                        break (id, n);
                    }
                }
            }
        };
        let receipt = self.receipt_id(options.receipt);
        let mut headers = HeaderList::new();
        headers.push((header::DESTINATION.as_bytes(), destination.as_bytes()));
        headers.push((header::ID.as_bytes(), id.as_bytes()));
        if options.ack != AckMode::Auto {
            headers.push((header::ACK.as_bytes(), options.ack.as_str().as_bytes()));
        }
        push_optional(&mut headers, header::RECEIPT, receipt.as_deref());
        push_extra(&mut headers, options.headers);
        self.emit(now, Command::Subscribe, headers.as_slice(), b"")?;
        self.next_subscription = next_subscription;
        self.subscriptions.push(Sub {
            id: Arc::from(id.as_str()),
            destination: String::from(destination),
            ack: options.ack,
        });
        let receipt = self.track_receipt(receipt, Command::Subscribe);
        Ok(Subscription { id, receipt })
    }

    /// Queues an UNSUBSCRIBE frame for the subscription `id`, which is closed at once
    /// (MESSAGEs for it that were already in flight become
    /// [`ClientEvent::UnexpectedMessage`]). Returns the receipt id, if asked for.
    ///
    /// Errors: [`SessionError::NotConnected`], [`SessionError::Closed`],
    /// [`SessionError::UnknownSubscription`], [`SessionError::Serialize`].
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        id: &str,
        receipt: Receipt<'_>,
    ) -> Result<Option<String>, SessionError> {
        self.check_connected()?;
        let index = self
            .subscriptions
            .iter()
            .position(|s| &*s.id == id)
            .ok_or(SessionError::UnknownSubscription)?;
        let receipt = self.receipt_id(receipt);
        let mut headers = HeaderList::new();
        headers.push((header::ID.as_bytes(), id.as_bytes()));
        push_optional(&mut headers, header::RECEIPT, receipt.as_deref());
        self.emit(now, Command::Unsubscribe, headers.as_slice(), b"")?;
        self.subscriptions.remove(index);
        Ok(self.track_receipt(receipt, Command::Unsubscribe))
    }

    /// Queues an ACK for `message`, optionally within `transaction`, with the headers its
    /// version requires: 1.2 `id` (the MESSAGE's `ack` header); 1.1 `message-id` and
    /// `subscription`; 1.0 `message-id`. Returns the receipt id, if asked for.
    ///
    /// In `client` mode the server takes it as acknowledging every earlier message of the
    /// subscription too; in `client-individual` mode, only this one.
    ///
    /// Errors: [`SessionError::NotConnected`], [`SessionError::Closed`],
    /// [`SessionError::UnknownSubscription`] (unsubscribed since),
    /// [`SessionError::AckNotExpected`] (an `auto` subscription),
    /// [`SessionError::UnknownMessage`] (the MESSAGE lacks the header to name it by),
    /// [`SessionError::UnknownTransaction`], [`SessionError::Serialize`].
    pub fn ack(
        &mut self,
        now: Instant,
        message: &Message,
        transaction: Option<&str>,
        receipt: Receipt<'_>,
    ) -> Result<Option<String>, SessionError> {
        self.acknowledge(now, Command::Ack, message, transaction, receipt)
    }

    /// Queues a NACK for `message` (STOMP 1.1+), with the same headers as
    /// [`ack`](Self::ack). Returns the receipt id, if asked for.
    ///
    /// Errors: those of [`ack`](Self::ack), and [`SessionError::NackNotInVersion`] when the
    /// session speaks 1.0.
    pub fn nack(
        &mut self,
        now: Instant,
        message: &Message,
        transaction: Option<&str>,
        receipt: Receipt<'_>,
    ) -> Result<Option<String>, SessionError> {
        self.acknowledge(now, Command::Nack, message, transaction, receipt)
    }

    /// Queues a BEGIN frame opening `transaction`. Returns the receipt id, if asked for.
    ///
    /// Errors: [`SessionError::NotConnected`], [`SessionError::Closed`],
    /// [`SessionError::DuplicateTransaction`], [`SessionError::Serialize`].
    pub fn begin(
        &mut self,
        now: Instant,
        transaction: &str,
        receipt: Receipt<'_>,
    ) -> Result<Option<String>, SessionError> {
        self.check_connected()?;
        if self.transactions.contains(transaction) {
            return Err(SessionError::DuplicateTransaction);
        }
        let receipt = self.transaction_frame(now, Command::Begin, transaction, receipt)?;
        self.transactions.insert(String::from(transaction));
        Ok(receipt)
    }

    /// Queues a COMMIT frame closing `transaction`. Returns the receipt id, if asked for.
    ///
    /// Errors: [`SessionError::NotConnected`], [`SessionError::Closed`],
    /// [`SessionError::UnknownTransaction`], [`SessionError::Serialize`].
    pub fn commit(
        &mut self,
        now: Instant,
        transaction: &str,
        receipt: Receipt<'_>,
    ) -> Result<Option<String>, SessionError> {
        self.end_transaction(now, Command::Commit, transaction, receipt)
    }

    /// Queues an ABORT frame rolling back `transaction`. Returns the receipt id, if asked
    /// for.
    ///
    /// Errors: [`SessionError::NotConnected`], [`SessionError::Closed`],
    /// [`SessionError::UnknownTransaction`], [`SessionError::Serialize`].
    pub fn abort(
        &mut self,
        now: Instant,
        transaction: &str,
        receipt: Receipt<'_>,
    ) -> Result<Option<String>, SessionError> {
        self.end_transaction(now, Command::Abort, transaction, receipt)
    }

    /// Queues a DISCONNECT frame with a generated receipt, and returns that receipt id.
    ///
    /// Nothing is sent after it (API calls return [`SessionError::Closed`], heart-beats
    /// stop); MESSAGEs and RECEIPTs still arrive as events until the RECEIPT of DISCONNECT
    /// gives [`ClientEvent::Disconnected`]. Open transactions are aborted by the server.
    ///
    /// Errors: [`SessionError::NotConnected`], [`SessionError::Closed`].
    pub fn disconnect(&mut self, now: Instant) -> Result<String, SessionError> {
        self.check_connected()?;
        let receipt = self.generate_receipt_id();
        let headers: [PlainHeader<'_>; 1] = [(header::RECEIPT.as_bytes(), receipt.as_bytes())];
        self.emit(now, Command::Disconnect, &headers, b"")?;
        self.next_receipt = self.next_receipt.wrapping_add(1);
        self.heart_beats.stop_sending();
        self.state = ClientState::Disconnecting;
        self.transactions.clear();
        self.disconnect_receipt = Some(receipt.clone());
        self.wait_deadline = self.config.disconnect_timeout.map(|t| now + t);
        Ok(receipt)
    }

    // --- sending -------------------------------------------------------------------------

    fn check_connected(&self) -> Result<(), SessionError> {
        match self.state {
            ClientState::Connected => Ok(()),
            ClientState::Idle | ClientState::Connecting => Err(SessionError::NotConnected),
            ClientState::Disconnecting | ClientState::Closed => Err(SessionError::Closed),
        }
    }

    fn check_transaction(&self, transaction: Option<&str>) -> Result<(), SessionError> {
        match transaction {
            Some(t) if !self.transactions.contains(t) => Err(SessionError::UnknownTransaction),
            _ => Ok(()),
        }
    }

    /// Serializes a frame in the session's version; counts as sending for heart-beats.
    fn emit(
        &mut self,
        now: Instant,
        command: Command,
        headers: &[PlainHeader<'_>],
        body: &[u8],
    ) -> Result<(), SessionError> {
        self.outbox.frame(self.version, command, headers, body)?;
        self.heart_beats.sent(now);
        Ok(())
    }

    /// The receipt id a frame will carry (not tracked until the frame is queued).
    fn receipt_id(&self, receipt: Receipt<'_>) -> Option<String> {
        match receipt {
            Receipt::None => None,
            Receipt::Id(id) => Some(String::from(id)),
            Receipt::Generated => Some(self.generate_receipt_id()),
        }
    }

    fn generate_receipt_id(&self) -> String {
        let mut n = self.next_receipt;
        loop {
            let id = format!("receipt-{n}");
            if !self.outstanding_receipts().any(|r| r == id) {
                return id;
            }
            n = n.wrapping_add(1);
        }
    }

    /// Records a receipt the server will answer, once its frame is queued.
    fn track_receipt(&mut self, receipt: Option<String>, command: Command) -> Option<String> {
        let id = receipt?;
        // Gaps in the generated numbers are harmless; only outstanding ids must not repeat.
        self.next_receipt = self.next_receipt.wrapping_add(1);
        self.receipts.push(PendingReceipt {
            id: id.clone(),
            command,
        });
        Some(id)
    }

    fn acknowledge(
        &mut self,
        now: Instant,
        command: Command,
        message: &Message,
        transaction: Option<&str>,
        receipt: Receipt<'_>,
    ) -> Result<Option<String>, SessionError> {
        self.check_connected()?;
        if command == Command::Nack && self.version == Version::V1_0 {
            return Err(SessionError::NackNotInVersion);
        }
        let sub = self
            .subscriptions
            .iter()
            .find(|s| s.id == message.subscription)
            .ok_or(SessionError::UnknownSubscription)?;
        if sub.ack == AckMode::Auto {
            return Err(SessionError::AckNotExpected);
        }
        self.check_transaction(transaction)?;
        let ack_id;
        let message_id;
        let mut headers = HeaderList::new();
        match self.version {
            Version::V1_2 => {
                ack_id = decode(message.ack_id())?;
                headers.push((header::ID.as_bytes(), &ack_id[..]));
            }
            Version::V1_1 => {
                message_id = decode(message.message_id())?;
                headers.push((header::MESSAGE_ID.as_bytes(), &message_id[..]));
                headers.push((header::SUBSCRIPTION.as_bytes(), sub.id.as_bytes()));
            }
            Version::V1_0 => {
                message_id = decode(message.message_id())?;
                headers.push((header::MESSAGE_ID.as_bytes(), &message_id[..]));
            }
        }
        let receipt = self.receipt_id(receipt);
        push_optional(&mut headers, header::TRANSACTION, transaction);
        push_optional(&mut headers, header::RECEIPT, receipt.as_deref());
        self.outbox
            .frame(self.version, command, headers.as_slice(), b"")?;
        self.heart_beats.sent(now);
        Ok(self.track_receipt(receipt, command))
    }

    fn transaction_frame(
        &mut self,
        now: Instant,
        command: Command,
        transaction: &str,
        receipt: Receipt<'_>,
    ) -> Result<Option<String>, SessionError> {
        let receipt = self.receipt_id(receipt);
        let mut headers = HeaderList::new();
        headers.push((header::TRANSACTION.as_bytes(), transaction.as_bytes()));
        push_optional(&mut headers, header::RECEIPT, receipt.as_deref());
        self.emit(now, command, headers.as_slice(), b"")?;
        Ok(self.track_receipt(receipt, command))
    }

    fn end_transaction(
        &mut self,
        now: Instant,
        command: Command,
        transaction: &str,
        receipt: Receipt<'_>,
    ) -> Result<Option<String>, SessionError> {
        self.check_connected()?;
        self.check_transaction(Some(transaction))?;
        let receipt = self.transaction_frame(now, command, transaction, receipt)?;
        self.transactions.remove(transaction);
        Ok(receipt)
    }

    // --- receiving -----------------------------------------------------------------------

    fn on_frame(&mut self, now: Instant, frame: OwnedFrame) {
        match (self.state, frame.command()) {
            (_, Command::Error) => {
                let command = frame
                    .receipt_id()
                    .and_then(|id| self.receipts.iter().find(|r| id == r.id.as_str()))
                    .map(|r| r.command);
                self.close_with(ClientEvent::Error(ServerError { frame, command }));
            }
            (ClientState::Connecting, Command::Connected) => self.on_connected(now, frame),
            (ClientState::Connected | ClientState::Disconnecting, Command::Message) => {
                self.on_message(frame);
            }
            (ClientState::Connected | ClientState::Disconnecting, Command::Receipt) => {
                self.on_receipt(frame);
            }
            (_, command) => {
                self.close_with(ClientEvent::ProtocolError(ProtocolError::UnexpectedFrame(
                    command,
                )));
            }
        }
    }

    fn on_connected(&mut self, now: Instant, frame: OwnedFrame) {
        let version = match frame.version() {
            None => Some(Version::V1_0),
            Some(v) => Version::parse(v.raw().trim_ascii()),
        };
        let Some(version) = version.filter(|v| self.config.versions.contains(*v)) else {
            self.close_with(ClientEvent::ProtocolError(ProtocolError::VersionNotOffered));
            return;
        };
        let heart_beat = match frame.header(header::HEART_BEAT) {
            None => HeartBeat::NONE,
            Some(v) => match HeartBeat::parse(v.raw().trim_ascii()) {
                Ok(hb) => hb,
                Err(_) => {
                    self.close_with(ClientEvent::ProtocolError(ProtocolError::MalformedHeader(
                        header::HEART_BEAT,
                    )));
                    return;
                }
            },
        };
        let (send_every, expect_every) = self.config.heart_beat.negotiate(heart_beat);
        self.version = version;
        self.decoder.set_version(version);
        self.heart_beats.start(send_every, expect_every, now);
        self.state = ClientState::Connected;
        self.wait_deadline = None;
        self.events.push_back(ClientEvent::Connected(Connected {
            frame,
            version,
            heart_beat,
            send_every,
            expect_every,
        }));
    }

    fn on_message(&mut self, frame: OwnedFrame) {
        // "subscription" holds no octet an escape decodes to: a raw name equals it after
        // decoding exactly when it does before.
        let id = frame
            .headers()
            .find(|h| h.name == b"subscription")
            .map(|h| Value::new(h.value, frame.escaping()));
        let sub = match id {
            Some(id) => match id.as_plain() {
                Some(raw) => self.subscriptions.iter().find(|s| s.id.as_bytes() == raw),
                None => self.subscriptions.iter().find(|s| id == s.id.as_ref()),
            },
            None if self.version == Version::V1_0 => {
                let by_destination = frame.destination().and_then(|d| {
                    self.subscriptions
                        .iter()
                        .find(|s| d == s.destination.as_str())
                });
                match self.subscriptions.as_slice() {
                    [only] => by_destination.or(Some(only)),
                    _ => by_destination,
                }
            }
            None => None,
        };
        let event = match sub {
            Some(sub) => ClientEvent::Message(Message {
                subscription: sub.id.clone(),
                ack_mode: sub.ack,
                frame,
            }),
            None => ClientEvent::UnexpectedMessage(frame),
        };
        self.events.push_back(event);
    }

    fn on_receipt(&mut self, frame: OwnedFrame) {
        let Some(id) = frame.receipt_id() else {
            self.events.push_back(ClientEvent::UnexpectedReceipt(frame));
            return;
        };
        if let Some(receipt_id) = self.disconnect_receipt.take_if(|r| id == r.as_str()) {
            self.close_with(ClientEvent::Disconnected { receipt_id });
            return;
        }
        let event = match self.receipts.iter().position(|r| id == r.id.as_str()) {
            Some(index) => {
                let pending = self.receipts.remove(index);
                ClientEvent::Receipt {
                    receipt_id: pending.id,
                    command: pending.command,
                }
            }
            None => ClientEvent::UnexpectedReceipt(frame),
        };
        self.events.push_back(event);
    }

    /// Ends the session: reports `event`, drops unsent bytes and all state.
    fn close_with(&mut self, event: ClientEvent) {
        self.state = ClientState::Closed;
        self.events.push_back(event);
        self.outbox = Outbox::default();
        self.read_buf = BytesMut::new();
        self.heart_beats.stop();
        self.subscriptions.clear();
        self.transactions.clear();
        self.receipts.clear();
        self.disconnect_receipt = None;
        self.wait_deadline = None;
    }
}

/// A header value of a received frame, decoded, to be written into an ACK or NACK.
fn decode(value: Option<Value<'_>>) -> Result<Cow<'_, [u8]>, SessionError> {
    value
        .and_then(|v| v.decode().ok())
        .ok_or(SessionError::UnknownMessage)
}

fn push_optional<'a>(headers: &mut HeaderList<'a>, name: &'a str, value: Option<&'a str>) {
    if let Some(value) = value {
        headers.push((name.as_bytes(), value.as_bytes()));
    }
}

fn push_extra<'a>(headers: &mut HeaderList<'a>, extra: &'a [(&'a str, &'a str)]) {
    headers.extend(extra.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
}
