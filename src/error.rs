//! The crate's error types: small `Copy` enums with `Display`, one variant per cause.

use core::fmt;

/// Why a byte stream is not a valid STOMP frame.
///
/// Every variant is fatal for the connection: a server answers it with an `ERROR` frame and
/// closes. Variants ending in `Limit`, `TooLong` or `TooLarge` report a configured
/// [`Limits`](crate::Limits) value being exceeded, which [`ParseError::is_limit`] tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// The command line is not one of the fifteen commands (commands are case-sensitive).
    UnknownCommand,
    /// The command exists, but not in the parser's version (`NACK` or `STOMP` in 1.0).
    CommandNotInVersion,
    /// A header line has no `:`.
    MissingColon,
    /// A header line starts with `:`; header names have at least one octet.
    EmptyHeaderName,
    /// A carriage return that is not part of a CR LF end-of-line (1.2), or a CR LF line ending
    /// where the version only allows LF in a place where a CR cannot be data.
    BareCr,
    /// An undefined escape sequence (such as `\t`, or `\r` in 1.1) or a trailing `\`.
    InvalidEscape,
    /// The `content-length` header is not a decimal number that fits in `usize`.
    InvalidContentLength,
    /// The octet after the `content-length` bytes of body is not the frame-ending NUL.
    MissingNul,
    /// A frame that may not have a body (anything but `SEND`, `MESSAGE`, `ERROR`) has one.
    UnexpectedBody,
    /// The caller's header storage is full: pass a larger slice of [`Header`](crate::Header)s.
    TooManyHeaders,
    /// The frame has more headers than [`Limits::max_headers`](crate::Limits::max_headers).
    HeaderCountLimit,
    /// A command or header line is longer than
    /// [`Limits::max_header_line_len`](crate::Limits::max_header_line_len).
    HeaderLineTooLong,
    /// The body is longer than [`Limits::max_body_len`](crate::Limits::max_body_len).
    BodyTooLarge,
    /// The whole frame is longer than [`Limits::max_frame_len`](crate::Limits::max_frame_len).
    FrameTooLarge,
}

impl ParseError {
    /// Whether the error is a configured limit being exceeded (as opposed to malformed input).
    pub const fn is_limit(self) -> bool {
        matches!(
            self,
            ParseError::HeaderCountLimit
                | ParseError::HeaderLineTooLong
                | ParseError::BodyTooLarge
                | ParseError::FrameTooLarge
        )
    }

    /// A short human-readable description, fit for an `ERROR` frame's `message` header.
    pub const fn as_str(self) -> &'static str {
        match self {
            ParseError::UnknownCommand => "unknown command",
            ParseError::CommandNotInVersion => "command not available in this protocol version",
            ParseError::MissingColon => "header line without ':'",
            ParseError::EmptyHeaderName => "empty header name",
            ParseError::BareCr => "carriage return not followed by line feed",
            ParseError::InvalidEscape => "undefined escape sequence in header",
            ParseError::InvalidContentLength => "invalid content-length",
            ParseError::MissingNul => {
                "frame body not terminated by NUL after content-length octets"
            }
            ParseError::UnexpectedBody => "frame may not have a body",
            ParseError::TooManyHeaders => "header storage too small",
            ParseError::HeaderCountLimit => "too many headers",
            ParseError::HeaderLineTooLong => "header line too long",
            ParseError::BodyTooLarge => "body too large",
            ParseError::FrameTooLarge => "frame too large",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a frame cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SerializeError {
    /// The output buffer is too small; the frame needs `required` bytes. Nothing was written.
    BufferTooSmall {
        /// The encoded length of the frame.
        required: usize,
    },
    /// More headers were added to a [`FrameBuilder`](crate::FrameBuilder) than it has room for.
    TooManyHeaders,
    /// A header name is empty, or holds an octet the frame's version cannot carry in a name
    /// (`:`, CR or LF where they cannot be escaped).
    InvalidHeaderName,
    /// A header value holds an octet the frame's version cannot carry (LF, or CR in 1.2, where
    /// they cannot be escaped).
    InvalidHeaderValue,
    /// A body on a command that may not have one (anything but `SEND`, `MESSAGE`, `ERROR`).
    UnexpectedBody,
    /// A `content-length` header was given whose value is not the body's length.
    ContentLengthMismatch,
    /// The command does not exist in the frame's version (`STOMP` and `NACK` in 1.0).
    CommandNotInVersion,
}

impl fmt::Display for SerializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SerializeError::BufferTooSmall { required } => {
                write!(f, "output buffer too small: {required} bytes required")
            }
            SerializeError::TooManyHeaders => f.write_str("too many headers for the builder"),
            SerializeError::InvalidHeaderName => {
                f.write_str("header name cannot be encoded in this version")
            }
            SerializeError::InvalidHeaderValue => {
                f.write_str("header value cannot be encoded in this version")
            }
            SerializeError::UnexpectedBody => f.write_str("frame may not have a body"),
            SerializeError::ContentLengthMismatch => {
                f.write_str("content-length header does not match the body")
            }
            SerializeError::CommandNotInVersion => {
                f.write_str("command does not exist in this version")
            }
        }
    }
}

/// Why an escaped header name or value cannot be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UnescapeError {
    /// An undefined escape sequence (`\t`, or `\r` in 1.1) or a trailing `\`.
    InvalidEscape,
    /// The output buffer is too small; decoding needs `required` bytes.
    BufferTooSmall {
        /// The decoded length.
        required: usize,
    },
}

impl fmt::Display for UnescapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnescapeError::InvalidEscape => f.write_str("undefined escape sequence"),
            UnescapeError::BufferTooSmall { required } => {
                write!(f, "output buffer too small: {required} bytes required")
            }
        }
    }
}

/// Why a standard header's value does not have the form its header requires (a `heart-beat`
/// that is not two integers, an `ack` mode that does not exist, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueError {
    /// The value does not match the header's grammar.
    Malformed,
    /// A number in the value does not fit its type.
    Overflow,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueError::Malformed => "malformed header value",
            ValueError::Overflow => "number in header value too large",
        })
    }
}

impl core::error::Error for ParseError {}
impl core::error::Error for SerializeError {}
impl core::error::Error for UnescapeError {}
impl core::error::Error for ValueError {}
