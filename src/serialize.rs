//! The serializer: exact encoded lengths, writes into `&mut [u8]` (or a `BufMut` with
//! `alloc`), escaping per version and command.
//!
//! Two ways in:
//!
//! - [`FrameBuilder`] (and the [`encoded_len`] / [`write_frame`] functions under it) takes
//!   *plain* header names and values and escapes them as the frame's version and command
//!   require. It does not allocate: headers live in a fixed array inside the builder.
//! - [`Frame::write_to`] writes a parsed (or hand-built, wire-form) frame back out byte for
//!   byte, for relaying.
//!
//! Output always uses LF line endings, legal in every version. A `content-length` header is
//! written when the [`ContentLength`] policy asks for one, and always when the body holds a
//! NUL; a `content-length` header passed in is kept, and must equal the body length. On any
//! error nothing is written.
//!
//! ```
//! use stomp_proto::{Command, FrameBuilder, Version};
//!
//! let frame = FrameBuilder::new(Version::V1_2, Command::Send)
//!     .header("destination", "/queue/a")
//!     .header("note", "a:b")
//!     .body(b"hello");
//! let mut buf = [0u8; 64];
//! let n = frame.write_to(&mut buf).unwrap();
//! assert_eq!(&buf[..n], b"SEND\ndestination:/queue/a\nnote:a\\cb\n\nhello\0");
//! assert_eq!(frame.encoded_len(), Ok(n));
//! ```

use memchr::{memchr, memchr2};

use crate::error::SerializeError;
use crate::escape::{self, Escaping};
use crate::frame::Frame;
use crate::{Command, Version};

/// When the serializer writes a `content-length` header (unless one is given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ContentLength {
    /// Only when the body holds a NUL octet and so cannot be framed without it.
    #[default]
    WhenNeeded,
    /// Whenever the body is not empty, as the spec recommends for SEND, MESSAGE and ERROR.
    WhenBody,
    /// On every frame, `content-length:0` included.
    Always,
}

/// A header as a plain (decoded) name and value.
pub type PlainHeader<'a> = (&'a [u8], &'a [u8]);

/// Whether header bytes are plain (to be escaped) or already in wire form.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Plain,
    Wire,
}

/// What a frame will take on the wire.
struct Plan {
    len: usize,
    add_content_length: bool,
    /// Whether some plain name or value needs escaping; if not, all are copied as they are.
    escapes: bool,
}

const CONTENT_LENGTH: &[u8] = b"content-length";

/// The number of decimal digits of `n`.
pub(crate) fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Writes `n` in decimal at the start of `out`, which must have room for it.
pub(crate) fn write_decimal(n: u64, out: &mut [u8]) -> usize {
    let len = decimal_len(n);
    let mut rest = n;
    for slot in out[..len].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    len
}

fn check_name(
    form: Form,
    escaping: Escaping,
    version: Version,
    name: &[u8],
) -> Result<usize, SerializeError> {
    let bad = SerializeError::InvalidHeaderName;
    if name.is_empty() {
        return Err(bad);
    }
    match (form, escaping) {
        (Form::Plain, Escaping::V1_1 | Escaping::V1_2) => Ok(escape::escaped_len(escaping, name)),
        _ => {
            if memchr2(b':', b'\n', name).is_some()
                || (version == Version::V1_2 && memchr(b'\r', name).is_some())
                || escape::validate(escaping, name).is_err()
            {
                return Err(bad);
            }
            Ok(name.len())
        }
    }
}

fn check_value(
    form: Form,
    escaping: Escaping,
    version: Version,
    value: &[u8],
) -> Result<usize, SerializeError> {
    match (form, escaping) {
        (Form::Plain, Escaping::V1_1 | Escaping::V1_2) => Ok(escape::escaped_len(escaping, value)),
        _ => {
            if memchr(b'\n', value).is_some()
                || (version == Version::V1_2 && memchr(b'\r', value).is_some())
                || escape::validate(escaping, value).is_err()
            {
                return Err(SerializeError::InvalidHeaderValue);
            }
            Ok(value.len())
        }
    }
}

fn plan<'h>(
    version: Version,
    command: Command,
    headers: impl Iterator<Item = PlainHeader<'h>>,
    body: &[u8],
    policy: ContentLength,
    form: Form,
) -> Result<Plan, SerializeError> {
    if !command.exists_in(version) {
        return Err(SerializeError::CommandNotInVersion);
    }
    if !body.is_empty() && version != Version::V1_0 && !command.may_have_body() {
        return Err(SerializeError::UnexpectedBody);
    }
    let escaping = Escaping::for_frame(version, command);
    let mut len = command.as_str().len() + 1;
    let mut given = false;
    let mut escapes = false;
    for (name, value) in headers {
        let name_len = check_name(form, escaping, version, name)?;
        let value_len = check_value(form, escaping, version, value)?;
        escapes |= name_len != name.len() || value_len != value.len();
        if !given && name == CONTENT_LENGTH {
            given = true;
            if crate::value::content_length(value) != Ok(body.len()) {
                return Err(SerializeError::ContentLengthMismatch);
            }
        }
        len += name_len + 1 + value_len + 1;
    }
    let add_content_length = !given
        && match policy {
            ContentLength::WhenNeeded => memchr(0, body).is_some(),
            ContentLength::WhenBody => !body.is_empty(),
            ContentLength::Always => true,
        };
    if add_content_length {
        len += CONTENT_LENGTH.len() + 1 + decimal_len(body.len() as u64) + 1;
    }
    len += 1 + body.len() + 1;
    Ok(Plan {
        len,
        add_content_length,
        escapes,
    })
}

/// Writes into a slice already checked to be exactly as long as the planned output.
struct Cursor<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Cursor<'_> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    #[inline(always)]
    fn byte(&mut self, byte: u8) {
        self.out[self.pos] = byte;
        self.pos += 1;
    }

    #[inline]
    fn put_escaped(&mut self, escaping: Escaping, bytes: &[u8]) {
        match escape::escape_into(escaping, bytes, &mut self.out[self.pos..]) {
            Ok(n) => self.pos += n,
            // The plan counted the room.
            Err(_) => unreachable!("room for escaped bytes was planned"),
        }
    }
}

/// Writes the command line, the header lines and the blank line (everything before the body)
/// into `out`, which is exactly `plan.len - body.len() - 1` long.
fn encode_head<'h>(
    out: &mut [u8],
    version: Version,
    command: Command,
    headers: impl Iterator<Item = PlainHeader<'h>>,
    body_len: usize,
    plan: &Plan,
    form: Form,
) {
    let mut out = Cursor { out, pos: 0 };
    out.put(command.as_str().as_bytes());
    out.byte(b'\n');
    let escaping = match form {
        Form::Plain if plan.escapes => Escaping::for_frame(version, command),
        _ => Escaping::None,
    };
    if escaping == Escaping::None {
        for (name, value) in headers {
            out.put(name);
            out.byte(b':');
            out.put(value);
            out.byte(b'\n');
        }
    } else {
        for (name, value) in headers {
            out.put_escaped(escaping, name);
            out.byte(b':');
            out.put_escaped(escaping, value);
            out.byte(b'\n');
        }
    }
    if plan.add_content_length {
        out.put(b"content-length:");
        let n = write_decimal(body_len as u64, &mut out.out[out.pos..]);
        out.pos += n;
        out.byte(b'\n');
    }
    out.byte(b'\n');
    debug_assert_eq!(out.pos, out.out.len());
}

/// Writes the whole frame into `out`, exactly `plan.len` long.
fn encode<'h>(
    out: &mut [u8],
    version: Version,
    command: Command,
    headers: impl Iterator<Item = PlainHeader<'h>>,
    body: &[u8],
    plan: &Plan,
    form: Form,
) {
    let (head, rest) = out.split_at_mut(plan.len - body.len() - 1);
    encode_head(head, version, command, headers, body.len(), plan, form);
    let (body_out, nul) = rest.split_at_mut(body.len());
    body_out.copy_from_slice(body);
    nul[0] = 0;
}

/// Appends the frame to `out`: the head is built in a stack buffer (on the heap past 512
/// octets), then the head, the body and the NUL go out in three writes.
#[cfg(feature = "alloc")]
fn put_encoded<'h, B: bytes::BufMut>(
    out: &mut B,
    version: Version,
    command: Command,
    headers: impl Iterator<Item = PlainHeader<'h>>,
    body: &[u8],
    plan: &Plan,
    form: Form,
) -> Result<usize, SerializeError> {
    if plan.len > out.remaining_mut() {
        return Err(SerializeError::BufferTooSmall { required: plan.len });
    }
    let head_len = plan.len - body.len() - 1;
    let mut stack = [0u8; 512];
    let mut heap;
    let head: &mut [u8] = match stack.get_mut(..head_len) {
        Some(head) => head,
        None => {
            heap = alloc::vec![0u8; head_len];
            &mut heap
        }
    };
    encode_head(head, version, command, headers, body.len(), plan, form);
    out.put_slice(head);
    out.put_slice(body);
    out.put_u8(0);
    Ok(plan.len)
}

/// The encoded length of a frame with plain `headers`, or why it cannot be encoded.
pub fn encoded_len(
    version: Version,
    command: Command,
    headers: &[PlainHeader<'_>],
    body: &[u8],
    policy: ContentLength,
) -> Result<usize, SerializeError> {
    plan(
        version,
        command,
        headers.iter().copied(),
        body,
        policy,
        Form::Plain,
    )
    .map(|p| p.len)
}

/// Writes a frame with plain `headers` into `out`, escaping them for `command` in `version`;
/// returns the number of bytes written. On error `out` is untouched.
///
/// ```
/// use stomp_proto::serialize::{write_frame, ContentLength};
/// use stomp_proto::{Command, Version};
///
/// let mut out = [0u8; 64];
/// let n = write_frame(
///     Version::V1_2,
///     Command::Send,
///     &[(b"destination", b"/queue/a")],
///     b"a\0b",
///     ContentLength::WhenNeeded,
///     &mut out,
/// )
/// .unwrap();
/// assert_eq!(&out[..n], b"SEND\ndestination:/queue/a\ncontent-length:3\n\na\0b\0");
/// ```
pub fn write_frame(
    version: Version,
    command: Command,
    headers: &[PlainHeader<'_>],
    body: &[u8],
    policy: ContentLength,
    out: &mut [u8],
) -> Result<usize, SerializeError> {
    let headers = || headers.iter().copied();
    let plan = plan(version, command, headers(), body, policy, Form::Plain)?;
    let out = planned(out, &plan)?;
    encode(out, version, command, headers(), body, &plan, Form::Plain);
    Ok(plan.len)
}

/// The first `plan.len` octets of `out`, or why they are not there.
fn planned<'o>(out: &'o mut [u8], plan: &Plan) -> Result<&'o mut [u8], SerializeError> {
    out.get_mut(..plan.len)
        .ok_or(SerializeError::BufferTooSmall { required: plan.len })
}

/// Appends a frame with plain `headers` to `out` (feature `alloc`); see [`write_frame`].
#[cfg(feature = "alloc")]
pub fn put_frame<B: bytes::BufMut>(
    version: Version,
    command: Command,
    headers: &[PlainHeader<'_>],
    body: &[u8],
    policy: ContentLength,
    out: &mut B,
) -> Result<usize, SerializeError> {
    let headers = || headers.iter().copied();
    let plan = plan(version, command, headers(), body, policy, Form::Plain)?;
    put_encoded(out, version, command, headers(), body, &plan, Form::Plain)
}

/// [`put_frame`] into a `BytesMut`, reserving the frame's exact length first: plans (and
/// checks) the frame once, where `encoded_len` then `put_frame` would plan it twice.
#[cfg(feature = "alloc")]
pub(crate) fn put_frame_reserving(
    version: Version,
    command: Command,
    headers: &[PlainHeader<'_>],
    body: &[u8],
    policy: ContentLength,
    out: &mut bytes::BytesMut,
) -> Result<usize, SerializeError> {
    let headers = || headers.iter().copied();
    let plan = plan(version, command, headers(), body, policy, Form::Plain)?;
    let start = out.len();
    out.resize(start + plan.len, 0);
    encode(
        &mut out[start..],
        version,
        command,
        headers(),
        body,
        &plan,
        Form::Plain,
    );
    Ok(plan.len)
}

impl Frame<'_> {
    fn wire_headers(&self) -> impl Iterator<Item = PlainHeader<'_>> + '_ {
        self.headers().iter().map(|h| (h.name, h.value))
    }

    fn plan(&self) -> Result<Plan, SerializeError> {
        plan(
            self.wire_version(),
            self.command(),
            self.wire_headers(),
            self.body(),
            ContentLength::WhenNeeded,
            Form::Wire,
        )
    }

    /// The length of the frame on the wire, as [`write_to`](Frame::write_to) writes it.
    pub fn encoded_len(&self) -> Result<usize, SerializeError> {
        self.plan().map(|p| p.len)
    }

    /// Writes the frame as it came (headers byte for byte, already escaped) into `out`, with
    /// LF line endings; returns the bytes written. A `content-length` header is added only if
    /// the body holds a NUL and none is present. On error `out` is untouched.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, SerializeError> {
        let plan = self.plan()?;
        let out = planned(out, &plan)?;
        encode(
            out,
            self.wire_version(),
            self.command(),
            self.wire_headers(),
            self.body(),
            &plan,
            Form::Wire,
        );
        Ok(plan.len)
    }

    /// Appends the frame to `out` as [`write_to`](Frame::write_to) does (feature `alloc`).
    #[cfg(feature = "alloc")]
    pub fn put<B: bytes::BufMut>(&self, out: &mut B) -> Result<usize, SerializeError> {
        let plan = self.plan()?;
        put_encoded(
            out,
            self.wire_version(),
            self.command(),
            self.wire_headers(),
            self.body(),
            &plan,
            Form::Wire,
        )
    }
}

/// An outgoing frame, built without allocating: up to `N` headers (16 by default) with plain
/// names and values, escaped when written.
///
/// Adding a header past `N` is remembered and reported as [`SerializeError::TooManyHeaders`]
/// when the frame is encoded, so calls chain without `?`.
///
/// ```
/// use stomp_proto::{Command, ContentLength, FrameBuilder, Version};
///
/// let mut big = FrameBuilder::<32>::with_room(Version::V1_1, Command::Message);
/// big.push_header("subscription", "0").unwrap();
/// let frame = big
///     .header("message-id", "42")
///     .header("destination", "/topic/x")
///     .body(b"{}")
///     .content_length(ContentLength::WhenBody);
/// let mut buf = [0u8; 128];
/// let n = frame.write_to(&mut buf).unwrap();
/// let bytes = &buf[..n];
/// assert!(bytes.starts_with(b"MESSAGE\nsubscription:0\n"));
/// assert!(bytes.ends_with(b"content-length:2\n\n{}\0"));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FrameBuilder<'a, const N: usize = 16> {
    version: Version,
    command: Command,
    headers: [PlainHeader<'a>; N],
    len: usize,
    overflow: bool,
    body: &'a [u8],
    policy: ContentLength,
}

impl<'a> FrameBuilder<'a> {
    /// A frame with `command`, to be written in `version`, with room for 16 headers.
    pub const fn new(version: Version, command: Command) -> FrameBuilder<'a> {
        FrameBuilder::with_room(version, command)
    }
}

impl<'a, const N: usize> FrameBuilder<'a, N> {
    /// A frame with `command`, to be written in `version`, with room for `N` headers.
    pub const fn with_room(version: Version, command: Command) -> FrameBuilder<'a, N> {
        FrameBuilder {
            version,
            command,
            headers: [(b"", b""); N],
            len: 0,
            overflow: false,
            body: b"",
            policy: ContentLength::WhenNeeded,
        }
    }

    /// Adds a header with a plain (unescaped) name and value.
    #[must_use]
    pub fn header(self, name: &'a str, value: &'a str) -> Self {
        self.header_bytes(name.as_bytes(), value.as_bytes())
    }

    /// Adds a header whose plain name and value are arbitrary bytes.
    #[must_use]
    pub fn header_bytes(mut self, name: &'a [u8], value: &'a [u8]) -> Self {
        if self.push_header_bytes(name, value).is_err() {
            self.overflow = true;
        }
        self
    }

    /// Adds a header, failing at once when the builder is full.
    pub fn push_header(&mut self, name: &'a str, value: &'a str) -> Result<(), SerializeError> {
        self.push_header_bytes(name.as_bytes(), value.as_bytes())
    }

    /// Adds a header of arbitrary bytes, failing at once when the builder is full.
    pub fn push_header_bytes(
        &mut self,
        name: &'a [u8],
        value: &'a [u8],
    ) -> Result<(), SerializeError> {
        let slot = self
            .headers
            .get_mut(self.len)
            .ok_or(SerializeError::TooManyHeaders)?;
        *slot = (name, value);
        self.len += 1;
        Ok(())
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// Sets when a `content-length` header is written (default:
    /// [`ContentLength::WhenNeeded`]).
    #[must_use]
    pub fn content_length(mut self, policy: ContentLength) -> Self {
        self.policy = policy;
        self
    }

    /// The version the frame is written in.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The command.
    pub fn command(&self) -> Command {
        self.command
    }

    /// The headers added so far, plain.
    pub fn headers(&self) -> &[PlainHeader<'a>] {
        &self.headers[..self.len]
    }

    fn plan(&self) -> Result<Plan, SerializeError> {
        if self.overflow {
            return Err(SerializeError::TooManyHeaders);
        }
        plan(
            self.version,
            self.command,
            self.headers().iter().copied(),
            self.body,
            self.policy,
            Form::Plain,
        )
    }

    fn encode_into(&self, out: &mut [u8], plan: &Plan) {
        encode(
            out,
            self.version,
            self.command,
            self.headers().iter().copied(),
            self.body,
            plan,
            Form::Plain,
        );
    }

    /// The exact number of bytes [`write_to`](Self::write_to) writes.
    pub fn encoded_len(&self) -> Result<usize, SerializeError> {
        self.plan().map(|p| p.len)
    }

    /// Writes the frame into `out`, returning the bytes written. On error (including
    /// [`SerializeError::BufferTooSmall`] with the required size) `out` is untouched.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, SerializeError> {
        let plan = self.plan()?;
        let out = planned(out, &plan)?;
        self.encode_into(out, &plan);
        Ok(plan.len)
    }

    /// Appends the frame to `out` (feature `alloc`).
    #[cfg(feature = "alloc")]
    pub fn put<B: bytes::BufMut>(&self, out: &mut B) -> Result<usize, SerializeError> {
        let plan = self.plan()?;
        put_encoded(
            out,
            self.version,
            self.command,
            self.headers().iter().copied(),
            self.body,
            &plan,
            Form::Plain,
        )
    }

    /// The frame as a new vector (feature `alloc`).
    #[cfg(feature = "alloc")]
    pub fn to_vec(&self) -> Result<alloc::vec::Vec<u8>, SerializeError> {
        let plan = self.plan()?;
        let mut out = alloc::vec![0u8; plan.len];
        self.encode_into(&mut out, &plan);
        Ok(out)
    }
}
