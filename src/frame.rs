//! Borrowed frames: a command, headers and a body, all slices of the input.

use core::fmt;

use crate::error::UnescapeError;
use crate::escape::{self, Escaping};
use crate::{Command, Version};

/// One header line, as it appeared on the wire: `name` and `value` are still escaped.
///
/// This is also the storage the parser fills: pass it a slice of `Header::EMPTY`s
/// (the httparse pattern), sized for the most headers a frame may have.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Header<'a> {
    /// The header name, escaped as on the wire.
    pub name: &'a [u8],
    /// The header value, escaped as on the wire.
    pub value: &'a [u8],
}

impl Header<'_> {
    /// An empty header, to fill storage arrays with.
    pub const EMPTY: Header<'static> = Header {
        name: b"",
        value: b"",
    };
}

impl<'a> Header<'a> {
    /// A header from its wire bytes.
    pub const fn new(name: &'a [u8], value: &'a [u8]) -> Header<'a> {
        Header { name, value }
    }
}

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}",
            self.name.escape_ascii(),
            self.value.escape_ascii()
        )
    }
}

/// A header name or value as it appeared on the wire, with the rules to decode it.
///
/// Nothing is decoded until asked: [`as_plain`](Value::as_plain) borrows when there is no
/// escape, [`unescape_into`](Value::unescape_into) decodes without allocating,
/// [`decode`](Value::decode) returns a `Cow` (feature `alloc`). Comparing with `==` against a
/// `&str` or `&[u8]` compares the decoded value.
///
/// ```
/// use stomp_proto::{Header, Frame, Command, Version};
///
/// let headers = [Header::new(b"destination", br"/queue/a\cb")];
/// let frame = Frame::new(Version::V1_2, Command::Send, &headers, b"");
/// let dest = frame.destination().unwrap();
/// assert_eq!(dest.raw(), br"/queue/a\cb");
/// assert!(dest == "/queue/a:b");
/// let mut buf = [0u8; 16];
/// assert_eq!(dest.unescape_into(&mut buf).unwrap(), b"/queue/a:b");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Value<'a> {
    raw: &'a [u8],
    escaping: Escaping,
}

impl<'a> Value<'a> {
    /// A value from its wire bytes and the escaping rules of its frame.
    pub const fn new(raw: &'a [u8], escaping: Escaping) -> Value<'a> {
        Value { raw, escaping }
    }

    /// The bytes as they appeared on the wire.
    pub const fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The escaping rules of the frame the value came from.
    pub const fn escaping(&self) -> Escaping {
        self.escaping
    }

    /// The decoded bytes, borrowed, when decoding would not change them (no escape sequence).
    pub fn as_plain(&self) -> Option<&'a [u8]> {
        (!escape::needs_unescape(self.escaping, self.raw)).then_some(self.raw)
    }

    /// The decoded value as UTF-8, borrowed, when it has no escape sequence and is valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_plain().and_then(|b| core::str::from_utf8(b).ok())
    }

    /// Decodes into `out` without allocating. See [`escape::unescape_into`].
    pub fn unescape_into<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], UnescapeError> {
        escape::unescape_into(self.escaping, self.raw, out)
    }

    /// The decoded value, borrowed when it has no escape sequence.
    #[cfg(feature = "alloc")]
    pub fn decode(&self) -> Result<alloc::borrow::Cow<'a, [u8]>, UnescapeError> {
        escape::unescape(self.escaping, self.raw)
    }
}

impl PartialEq<[u8]> for Value<'_> {
    fn eq(&self, plain: &[u8]) -> bool {
        escape::eq_plain(self.escaping, self.raw, plain)
    }
}

impl PartialEq<&[u8]> for Value<'_> {
    fn eq(&self, plain: &&[u8]) -> bool {
        escape::eq_plain(self.escaping, self.raw, plain)
    }
}

impl PartialEq<str> for Value<'_> {
    fn eq(&self, plain: &str) -> bool {
        escape::eq_plain(self.escaping, self.raw, plain.as_bytes())
    }
}

impl PartialEq<&str> for Value<'_> {
    fn eq(&self, plain: &&str) -> bool {
        escape::eq_plain(self.escaping, self.raw, plain.as_bytes())
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.raw.escape_ascii())
    }
}

/// A STOMP frame borrowed from the input buffer.
///
/// Produced by [`Parser::parse`](crate::Parser::parse), or built by hand from wire-form headers
/// with [`Frame::new`]. Header lookups return the first of repeated headers, as the spec
/// says; [`headers`](Frame::headers) keeps all of them, in order.
///
/// ```
/// use stomp_proto::{Command, Item, Parser, Header, Status};
///
/// let input = b"MESSAGE\nsubscription:0\nmessage-id:7\ndestination:/topic/a\nfoo:1\nfoo:2\n\nhi\0";
/// let mut storage = [Header::EMPTY; 16];
/// let Ok(Status::Complete((len, Item::Frame(frame)))) = Parser::new().parse(input, &mut storage)
/// else { panic!() };
/// assert_eq!(len, input.len());
/// assert_eq!(frame.command(), Command::Message);
/// assert!(frame.subscription().unwrap() == "0");
/// assert!(frame.header("foo").unwrap() == "1");
/// assert_eq!(frame.headers().len(), 5);
/// assert_eq!(frame.body(), b"hi");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Frame<'a> {
    version: Version,
    command: Command,
    headers: &'a [Header<'a>],
    body: &'a [u8],
}

/// Typed accessors for the standard headers, for any frame type with a
/// `header(&self, &str) -> Option<Value<$lt>>` method.
macro_rules! standard_headers {
    ($lt:lifetime) => {
        /// The `content-length` header as a number; `None` when absent or not a number (the
        /// parser rejects frames whose `content-length` is not a number).
        pub fn content_length(&self) -> Option<usize> {
            self.header($crate::header::CONTENT_LENGTH)
                .and_then(|v| $crate::value::content_length(v.raw()).ok())
        }

        /// The `heart-beat` header; `Ok(None)` when absent.
        pub fn heart_beat(&self) -> Result<Option<$crate::HeartBeat>, $crate::ValueError> {
            self.header($crate::header::HEART_BEAT)
                .map(|v| $crate::HeartBeat::parse(v.raw()))
                .transpose()
        }

        /// The `accept-version` header as a set of versions; `Ok(None)` when absent (a 1.0
        /// client).
        pub fn accept_version(&self) -> Result<Option<$crate::Versions>, $crate::ValueError> {
            self.header($crate::header::ACCEPT_VERSION)
                .map(|v| $crate::Versions::parse(v.raw()))
                .transpose()
        }

        /// The `ack` header of a SUBSCRIBE as a mode; `Ok(None)` when absent (`auto`).
        pub fn ack_mode(&self) -> Result<Option<$crate::AckMode>, $crate::ValueError> {
            self.header($crate::header::ACK)
                .map(|v| $crate::AckMode::parse(v.raw()).ok_or($crate::ValueError::Malformed))
                .transpose()
        }

        $crate::frame::standard_headers! { @values $lt
            /// The `content-type` header.
            content_type => CONTENT_TYPE;
            /// The `receipt` header.
            receipt => RECEIPT;
            /// The `receipt-id` header.
            receipt_id => RECEIPT_ID;
            /// The `destination` header.
            destination => DESTINATION;
            /// The `id` header.
            id => ID;
            /// The `ack` header, raw: an ack mode on SUBSCRIBE, an ack id on a 1.2 MESSAGE.
            ack => ACK;
            /// The `subscription` header.
            subscription => SUBSCRIPTION;
            /// The `message-id` header.
            message_id => MESSAGE_ID;
            /// The `transaction` header.
            transaction => TRANSACTION;
            /// The `version` header (CONNECTED, ERROR).
            version => VERSION;
            /// The `host` header.
            host => HOST;
            /// The `login` header.
            login => LOGIN;
            /// The `passcode` header.
            passcode => PASSCODE;
            /// The `session` header.
            session => SESSION;
            /// The `server` header.
            server => SERVER;
            /// The `message` header (ERROR).
            message => MESSAGE;
        }
    };
    (@values $lt:lifetime $($(#[$doc:meta])* $fn:ident => $name:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $fn(&self) -> Option<$crate::Value<$lt>> {
                self.header($crate::header::$name)
            }
        )*
    };
}
pub(crate) use standard_headers;

impl<'a> Frame<'a> {
    /// A frame from wire-form parts: header names and values escaped as `command` requires in
    /// `version`.
    pub const fn new(
        version: Version,
        command: Command,
        headers: &'a [Header<'a>],
        body: &'a [u8],
    ) -> Frame<'a> {
        Frame {
            version,
            command,
            headers,
            body,
        }
    }

    /// The command.
    pub const fn command(&self) -> Command {
        self.command
    }

    /// The protocol version whose rules the frame follows on the wire.
    pub const fn wire_version(&self) -> Version {
        self.version
    }

    /// How the header names and values are escaped.
    pub const fn escaping(&self) -> Escaping {
        Escaping::for_frame(self.version, self.command)
    }

    /// Every header in wire order, repeated ones included, still escaped.
    pub const fn headers(&self) -> &'a [Header<'a>] {
        self.headers
    }

    /// The body: exactly `content-length` octets when that header is present, otherwise the
    /// octets before the first NUL.
    pub const fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The first header named `name` (compared after decoding), as the spec says repeated
    /// headers resolve.
    pub fn header(&self, name: &str) -> Option<Value<'a>> {
        let escaping = self.escaping();
        self.headers
            .iter()
            .find(|h| escape::eq_plain(escaping, h.name, name.as_bytes()))
            .map(|h| Value::new(h.value, escaping))
    }

    /// Every header as decoded-on-demand name and value pairs, in wire order.
    pub fn header_values(&self) -> impl Iterator<Item = (Value<'a>, Value<'a>)> + 'a {
        let escaping = self.escaping();
        self.headers
            .iter()
            .map(move |h| (Value::new(h.name, escaping), Value::new(h.value, escaping)))
    }

    standard_headers!('a);
}

impl fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("version", &self.version)
            .field("command", &self.command)
            .field("headers", &self.headers)
            .field("body", &format_args!("\"{}\"", self.body.escape_ascii()))
            .finish()
    }
}

/// One item of a STOMP byte stream: a frame, or a heart-beat (an end-of-line between frames).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Item<'a> {
    /// A complete frame.
    Frame(Frame<'a>),
    /// A heart-beat: a bare `\n` or `\r\n` between frames.
    HeartBeat,
}
