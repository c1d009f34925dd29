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

/// A header as [`fast_head`] reads it: its name and value, plain or wire form alike.
trait Parts {
    fn parts(&self) -> PlainHeader<'_>;
}

impl Parts for PlainHeader<'_> {
    #[inline(always)]
    fn parts(&self) -> PlainHeader<'_> {
        *self
    }
}

impl Parts for crate::Header<'_> {
    #[inline(always)]
    fn parts(&self) -> PlainHeader<'_> {
        (self.name, self.value)
    }
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

/// Room for the head (command line, header lines and blank line) that [`fast_head`] builds on
/// the stack; a frame whose head is longer takes the general path. A multiple of [`LANES`].
const FAST_HEAD: usize = 512;
const _: () = assert!(FAST_HEAD.is_power_of_two() && FAST_HEAD % LANES == 0);

/// The size of [`HeadBuf`]: [`FAST_HEAD`] and room past it for [`put_field`]'s window.
const HEAD_ROOM: usize = FAST_HEAD + FIELD_WINDOW;

/// The stack buffer of [`fast_head`]. It starts zeroed, so the octets past the head are
/// zeros, which [`count_separators`] counts over as whole blocks.
struct HeadBuf([u8; HEAD_ROOM]);

impl HeadBuf {
    #[inline(always)]
    fn new() -> HeadBuf {
        HeadBuf([0; HEAD_ROOM])
    }

    /// The head written by [`fast_head`], `len` octets.
    #[inline(always)]
    fn head(&self, len: usize) -> &[u8] {
        &self.0[..len]
    }
}

/// The width of the blocks [`count_separators`] works on: two SSE2 vectors.
const LANES: usize = 32;

/// The number of octets of `block` that are a `:`, an octet from 0x08 to 0x0F (LF and CR
/// among them) or `SPECIAL`, in one pass over whole [`LANES`]-octet blocks (`block` is a
/// multiple of that long, and cut at [`FAST_HEAD`]): per-lane counters the compiler turns into
/// vector compares and subtractions. LF and CR share one test, `(b | 0x07) == 0x0F`: it also
/// counts TAB, BS, VT, FF, SO and SI, which only sends the rare head holding one to the
/// general path. A lane counts at most `FAST_HEAD / LANES` (16) octets, so `u8` counters do
/// not overflow.
#[inline(always)]
fn count_separators<const SPECIAL: u8>(block: &[u8]) -> usize {
    let special = SPECIAL;
    let mut counts = [0u8; LANES];
    let block = &block[..block.len().min(FAST_HEAD)];
    for chunk in block.chunks_exact(LANES) {
        for i in 0..LANES {
            let b = chunk[i];
            counts[i] += u8::from((b == b':') | ((b | 0x07) == 0x0F) | (b == special));
        }
    }
    counts.iter().map(|&n| usize::from(n)).sum()
}

/// The fixed-size window [`put_field`] writes a short field and its separator through.
const FIELD_WINDOW: usize = 65;

/// Writes `src` then `sep` at `pos` in `head`; the caller has checked that they end within
/// [`FAST_HEAD`]. A field of up to 64 octets goes through a
/// fixed-size window (so without bounds checks) as two overlapping fixed-size moves instead
/// of a call to `memcpy`.
#[inline(always)]
fn put_field(head: &mut [u8; HEAD_ROOM], pos: usize, src: &[u8], sep: u8) {
    let n = src.len();
    // The caller checked `pos + n < FAST_HEAD`; the mask (which then changes nothing) lets
    // the compiler see that the window is in bounds.
    let pos = pos & (FAST_HEAD - 1);
    let window: &mut [u8; FIELD_WINDOW] = (&mut head[pos..pos + FIELD_WINDOW])
        .try_into()
        .expect("the window is FIELD_WINDOW long");
    // Tested longest first: each test halves the range, and the lengths of typical names
    // (8 to 15) and values pass few of them.
    if n >= 16 {
        if n > 32 {
            if n > 64 {
                head[pos..pos + n].copy_from_slice(src);
                head[pos + n] = sep;
                return;
            }
            window[..32].copy_from_slice(&src[..32]);
            window[n - 32..n].copy_from_slice(&src[n - 32..]);
        } else {
            window[..16].copy_from_slice(&src[..16]);
            window[n - 16..n].copy_from_slice(&src[n - 16..]);
        }
    } else if n >= 8 {
        window[..8].copy_from_slice(&src[..8]);
        window[n - 8..n].copy_from_slice(&src[n - 8..]);
    } else if n >= 4 {
        window[..4].copy_from_slice(&src[..4]);
        window[n - 4..n].copy_from_slice(&src[n - 4..]);
    } else if n >= 2 {
        window[..2].copy_from_slice(&src[..2]);
        window[n - 2..n].copy_from_slice(&src[n - 2..]);
    } else if n == 1 {
        window[0] = src[0];
    }
    window[n] = sep;
}

/// Each command's line (its name and LF) zero-padded to 16 octets, and its length, indexed
/// by `command as usize`: the fast path writes it as one fixed-size move.
const COMMAND_LINES: [([u8; 16], usize); Command::ALL.len()] = {
    let mut lines = [([0u8; 16], 0); Command::ALL.len()];
    let mut i = 0;
    while i < Command::ALL.len() {
        let command = Command::ALL[i];
        let name = command.as_str().as_bytes();
        let line = &mut lines[command as usize];
        let mut j = 0;
        while j < name.len() {
            line.0[j] = name[j];
            j += 1;
        }
        line.0[j] = b'\n';
        line.1 = j + 1;
        i += 1;
    }
    lines
};

/// Whether `value` is a `content-length` of `len`, as the parser reads it (one or more
/// digits whose value is `len`).
#[inline(always)]
fn is_decimal(value: &[u8], len: usize) -> bool {
    crate::parse::content_length_value(value) == Ok(len)
}

/// The common frame, written in one pass: when no name or value needs escaping (plain form)
/// or all are valid as they are (wire form), and the head fits in `head`, writes the head
/// there and returns its length and the frame's. Otherwise returns `None`, and the general
/// path ([`plan`]) decides, errors included; what it would write is then exactly this head.
///
/// Instead of checking each name and value on its own, the header lines are checked once,
/// together, after copying: exactly one `:` and one LF per line means no name or value holds
/// either; with no `\` (when `command` escapes) and no CR (in 1.2) left, every name and value
/// is copied unchanged by the general path, in either form.
#[inline]
fn fast_head<H: Parts>(
    buf: &mut HeadBuf,
    version: Version,
    command: Command,
    headers: &[H],
    body: &[u8],
    policy: ContentLength,
) -> Option<(usize, usize)> {
    if !command.exists_in(version)
        || (!body.is_empty() && version != Version::V1_0 && !command.may_have_body())
    {
        return None;
    }
    let head = &mut buf.0;
    let (line, mut pos) = COMMAND_LINES[command as usize];
    head[..16].copy_from_slice(&line);
    let mut lines = headers.len();
    let mut given = false;
    for header in headers {
        let (name, value) = header.parts();
        let end = (pos + 2).wrapping_add(name.len()).wrapping_add(value.len());
        // An empty name, a name or value of FAST_HEAD octets or more, or a line that does
        // not end before FAST_HEAD (room for the blank line) takes the general path, in one
        // test: FAST_HEAD is a power of two, so the `|` reaches it when one of them does.
        // `end` does not wrap when the lengths are below FAST_HEAD, as `pos` is.
        if (name.len().wrapping_sub(1) | value.len() | end) >= FAST_HEAD {
            return None;
        }
        if name.len() == CONTENT_LENGTH.len() && name == CONTENT_LENGTH && !given {
            given = true;
            if !is_decimal(value, body.len()) {
                return None;
            }
        }
        put_field(head, pos, name, b':');
        put_field(head, pos + name.len() + 1, value, b'\n');
        pos = end;
    }
    let add_content_length = !given
        && match policy {
            ContentLength::WhenNeeded => memchr(0, body).is_some(),
            ContentLength::WhenBody => !body.is_empty(),
            ContentLength::Always => true,
        };
    if add_content_length {
        // "content-length:", at most 20 digits, LF.
        if pos + CONTENT_LENGTH.len() + 22 > FAST_HEAD {
            return None;
        }
        head[pos..pos + CONTENT_LENGTH.len()].copy_from_slice(CONTENT_LENGTH);
        pos += CONTENT_LENGTH.len();
        head[pos] = b':';
        pos += 1;
        pos += write_decimal(body.len() as u64, &mut head[pos..]);
        head[pos] = b'\n';
        pos += 1;
        lines += 1;
    }
    if pos >= FAST_HEAD {
        return None;
    }
    head[pos] = b'\n';
    pos += 1;
    // The whole head and the zeros after it. Each header line holds one `:` and one LF as
    // separators, the command line and the blank line one LF each: there are no others (in a
    // name or value), no `\\` (when `command` escapes) and no CR (nor any other octet from
    // 0x08 to 0x0F) when the count is exactly that.
    // Whole blocks past `pos`: at most one block of zeros more than needed, and within
    // the buffer (`pos` is at most FAST_HEAD, and count_separators stops there).
    let blocks = &buf.0[..(pos & !(LANES - 1)) + LANES];
    // One copy of the loop per `special`, each with its constants.
    let count = match Escaping::for_frame(version, command) {
        Escaping::None => count_separators::<b':'>(blocks),
        _ => count_separators::<b'\\'>(blocks),
    };
    if count != 2 * lines + 2 {
        return None;
    }
    Some((pos, pos + body.len() + 1))
}

/// Writes a head built by [`fast_head`], the body and the NUL into `out`, exactly as long.
#[inline]
fn write_fast(out: &mut [u8], head: &[u8], body: &[u8]) {
    let (h, rest) = out.split_at_mut(head.len());
    h.copy_from_slice(head);
    let (b, nul) = rest.split_at_mut(body.len());
    b.copy_from_slice(body);
    nul[0] = 0;
}

/// [`write_to`](FrameBuilder::write_to) and friends through [`fast_head`]: `None` when the
/// general path must take over (nothing was written).
#[inline]
fn write_fast_to<H: Parts>(
    version: Version,
    command: Command,
    headers: &[H],
    body: &[u8],
    policy: ContentLength,
    out: &mut [u8],
) -> Option<Result<usize, SerializeError>> {
    let mut head = HeadBuf::new();
    let (head_len, len) = fast_head(&mut head, version, command, headers, body, policy)?;
    Some(match out.get_mut(..len) {
        Some(out) => {
            write_fast(out, head.head(head_len), body);
            Ok(len)
        }
        None => Err(SerializeError::BufferTooSmall { required: len }),
    })
}

/// Appends through [`fast_head`]: `None` when the general path must take over (nothing was
/// written).
#[cfg(feature = "alloc")]
#[inline]
fn put_fast<H: Parts, B: bytes::BufMut>(
    version: Version,
    command: Command,
    headers: &[H],
    body: &[u8],
    policy: ContentLength,
    out: &mut B,
) -> Option<Result<usize, SerializeError>> {
    let mut head = HeadBuf::new();
    let (head_len, len) = fast_head(&mut head, version, command, headers, body, policy)?;
    if len > out.remaining_mut() {
        return Some(Err(SerializeError::BufferTooSmall { required: len }));
    }
    out.put_slice(head.head(head_len));
    out.put_slice(body);
    out.put_u8(0);
    Some(Ok(len))
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
    if let Some(done) = write_fast_to(version, command, headers, body, policy, out) {
        return done;
    }
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
    if let Some(done) = put_fast(version, command, headers, body, policy, out) {
        return done;
    }
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
    let mut head = HeadBuf::new();
    if let Some((head_len, len)) = fast_head(&mut head, version, command, headers, body, policy) {
        out.reserve(len);
        out.extend_from_slice(head.head(head_len));
        out.extend_from_slice(body);
        out.extend_from_slice(&[0]);
        return Ok(len);
    }
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
        self.headers().iter().map(Parts::parts)
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
        if let Some(done) = write_fast_to(
            self.wire_version(),
            self.command(),
            self.headers(),
            self.body(),
            ContentLength::WhenNeeded,
            out,
        ) {
            return done;
        }
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
        if let Some(done) = put_fast(
            self.wire_version(),
            self.command(),
            self.headers(),
            self.body(),
            ContentLength::WhenNeeded,
            out,
        ) {
            return done;
        }
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

    /// Adds every header of `headers`, plain, in order: the filling counterpart of
    /// [`push_header`](Self::push_header) for a list. It works in place, so a builder filled
    /// this way is never copied, whereas each by-value [`header`](Self::header) call moves
    /// the whole builder (its `N` header slots). Fails with
    /// [`SerializeError::TooManyHeaders`], adding none, when they do not all fit.
    ///
    /// ```
    /// use stomp_proto::{Command, FrameBuilder, Version};
    ///
    /// const HEADERS: [(&str, &str); 2] = [("destination", "/queue/a"), ("priority", "4")];
    /// let mut frame = FrameBuilder::new(Version::V1_2, Command::Send);
    /// frame.extend_headers(&HEADERS).unwrap();
    /// frame.push_header("receipt", "r-1").unwrap();
    /// frame.set_body(b"hi");
    /// let mut buf = [0u8; 64];
    /// let n = frame.write_to(&mut buf).unwrap();
    /// assert_eq!(&buf[..n], b"SEND\ndestination:/queue/a\npriority:4\nreceipt:r-1\n\nhi\0");
    /// ```
    pub fn extend_headers(&mut self, headers: &[(&'a str, &'a str)]) -> Result<(), SerializeError> {
        self.extend_with(headers, |&(name, value)| {
            (name.as_bytes(), value.as_bytes())
        })
    }

    /// Adds every header of `headers`, plain names and values of arbitrary bytes, in order;
    /// as [`extend_headers`](Self::extend_headers).
    pub fn extend_headers_bytes(
        &mut self,
        headers: &[PlainHeader<'a>],
    ) -> Result<(), SerializeError> {
        self.extend_with(headers, |&header| header)
    }

    /// Adds `headers`, each as `plain` makes it, or none when they do not all fit.
    #[inline]
    fn extend_with<T>(
        &mut self,
        headers: &[T],
        plain: impl Fn(&T) -> PlainHeader<'a>,
    ) -> Result<(), SerializeError> {
        let slots = self
            .headers
            .get_mut(self.len..self.len + headers.len())
            .ok_or(SerializeError::TooManyHeaders)?;
        for (slot, header) in slots.iter_mut().zip(headers) {
            *slot = plain(header);
        }
        self.len += headers.len();
        Ok(())
    }

    /// Sets the body, in place: [`body`](Self::body) for a builder filled through `&mut`.
    pub fn set_body(&mut self, body: &'a [u8]) {
        self.body = body;
    }

    /// Sets when a `content-length` header is written, in place:
    /// [`content_length`](Self::content_length) for a builder filled through `&mut`.
    pub fn set_content_length(&mut self, policy: ContentLength) {
        self.policy = policy;
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
        if !self.overflow {
            if let Some(done) = write_fast_to(
                self.version,
                self.command,
                self.headers(),
                self.body,
                self.policy,
                out,
            ) {
                return done;
            }
        }
        let plan = self.plan()?;
        let out = planned(out, &plan)?;
        self.encode_into(out, &plan);
        Ok(plan.len)
    }

    /// Appends the frame to `out` (feature `alloc`).
    #[cfg(feature = "alloc")]
    pub fn put<B: bytes::BufMut>(&self, out: &mut B) -> Result<usize, SerializeError> {
        if !self.overflow {
            if let Some(done) = put_fast(
                self.version,
                self.command,
                self.headers(),
                self.body,
                self.policy,
                out,
            ) {
                return done;
            }
        }
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

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use alloc::borrow::ToOwned;
    use alloc::string::ToString;
    use proptest::prelude::*;

    /// What the general path writes (or the error it reports), without the fast path.
    fn general(
        version: Version,
        command: Command,
        headers: &[PlainHeader<'_>],
        body: &[u8],
        policy: ContentLength,
        form: Form,
    ) -> Result<alloc::vec::Vec<u8>, SerializeError> {
        let plan = plan(
            version,
            command,
            headers.iter().copied(),
            body,
            policy,
            form,
        )?;
        let mut out = alloc::vec![0u8; plan.len];
        encode(
            &mut out,
            version,
            command,
            headers.iter().copied(),
            body,
            &plan,
            form,
        );
        Ok(out)
    }

    fn fast(
        version: Version,
        command: Command,
        headers: &[PlainHeader<'_>],
        body: &[u8],
        policy: ContentLength,
    ) -> Option<alloc::vec::Vec<u8>> {
        let mut buf = HeadBuf::new();
        let (head_len, len) = fast_head(&mut buf, version, command, headers, body, policy)?;
        let mut out = alloc::vec![0u8; len];
        write_fast(&mut out, buf.head(head_len), body);
        Some(out)
    }

    /// Bytes from a small alphabet, heavy in the octets that matter to escaping, and those
    /// (TAB, BS, SI) that the fast path's count takes for an LF or CR.
    fn field(max: usize) -> impl Strategy<Value = alloc::vec::Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                6 => prop::sample::select(b"abc-/19".to_vec()),
                1 => prop::sample::select(b":\n\r\\\0 \t\x08\x0f".to_vec()),
            ],
            0..max,
        )
    }

    /// Names paired with values, without a `content-length` (whose value would have to match
    /// the body).
    fn clean_headers<'a>(
        names: &'a [alloc::string::String],
        values: &'a [alloc::string::String],
    ) -> alloc::vec::Vec<PlainHeader<'a>> {
        names
            .iter()
            .zip(values)
            .filter(|(n, _)| n.as_str() != "content-length")
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect()
    }

    fn version() -> impl Strategy<Value = Version> {
        prop::sample::select(Version::ALL.to_vec())
    }

    fn command() -> impl Strategy<Value = Command> {
        prop::sample::select(Command::ALL.to_vec())
    }

    fn policy() -> impl Strategy<Value = ContentLength> {
        prop::sample::select(alloc::vec![
            ContentLength::WhenNeeded,
            ContentLength::WhenBody,
            ContentLength::Always
        ])
    }

    /// `is_decimal` at the edges: empty, and values past `u64::MAX` that would wrap around to
    /// the length.
    #[test]
    fn is_decimal_edges() {
        for (value, len) in [
            ("", 0),
            ("18446744073709551616", 0),
            ("18446744073709551619", 3),
            ("184467440737095516150", usize::MAX.wrapping_mul(10)),
        ] {
            assert!(!is_decimal(value.as_bytes(), len), "{value} {len}");
            assert!(crate::value::content_length(value.as_bytes()) != Ok(len));
        }
        assert!(is_decimal(b"00200", 200));
        assert!(is_decimal(b"18446744073709551615", usize::MAX));
    }

    /// An octet from 0x08 to 0x0F in a name or value is counted as if it were an LF or CR:
    /// the fast path declines the frame and the general path writes it, unchanged, in every
    /// version (a CR only where the version allows it).
    #[test]
    fn octets_counted_as_line_ends_take_the_general_path() {
        for octet in 0x08..=0x0Fu8 {
            for version in Version::ALL {
                let value = [b'a', octet, b'b'];
                let headers: [PlainHeader<'_>; 2] = [(b"destination", b"/q"), (b"x", &value)];
                assert_eq!(
                    fast(
                        version,
                        Command::Send,
                        &headers,
                        b"hi",
                        ContentLength::WhenNeeded
                    ),
                    None,
                    "{octet:#x} {version:?}"
                );
                let expected = general(
                    version,
                    Command::Send,
                    &headers,
                    b"hi",
                    ContentLength::WhenNeeded,
                    Form::Plain,
                );
                let mut builder = FrameBuilder::new(version, Command::Send).body(b"hi");
                builder.extend_headers_bytes(&headers).unwrap();
                let mut out = alloc::vec::Vec::new();
                assert_eq!(builder.put(&mut out).map(|_| out), expected);
                if octet != b'\n' && !(octet == b'\r' && version == Version::V1_2) {
                    let mut plain = b"SEND\ndestination:/q\nx:a".to_vec();
                    plain.extend_from_slice(&[octet]);
                    plain.extend_from_slice(b"b\n\nhi\0");
                    assert_eq!(expected, Ok(plain), "{octet:#x} {version:?}");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whenever the fast path writes a frame, the general path writes the same bytes, in
        /// plain form and in wire form (the fast path does not know which it is serving).
        #[test]
        fn fast_path_equals_general_path(
            version in version(),
            command in command(),
            fields in proptest::collection::vec((field(12), field(24)), 0..8),
            content_length in proptest::option::of(prop_oneof![
                Just(b"0".to_vec()), Just(b"3".to_vec()), field(3)
            ]),
            body in field(8),
            policy in policy(),
        ) {
            let mut headers: alloc::vec::Vec<PlainHeader<'_>> =
                fields.iter().map(|(n, v)| (&n[..], &v[..])).collect();
            if let Some(cl) = &content_length {
                headers.push((CONTENT_LENGTH, cl));
            }
            if let Some(out) = fast(version, command, &headers, &body, policy) {
                for form in [Form::Plain, Form::Wire] {
                    let general = general(version, command, &headers, &body, policy, form);
                    prop_assert_eq!(general.as_deref(), Ok(&out[..]));
                }
            }
        }

        /// Every public way out (fast path first) writes exactly what the general path
        /// writes, or fails as it fails: `FrameBuilder::write_to` / `put`, `write_frame`,
        /// `put_frame` in plain form, `Frame::write_to` / `put` in wire form. Into `room`
        /// octets (a `&mut [u8]`, and a `&mut [u8]` as a `BufMut`) too small ones give
        /// `BufferTooSmall` with the general path's length and leave the buffer untouched.
        #[test]
        fn public_paths_equal_general_path(
            version in version(),
            command in command(),
            fields in proptest::collection::vec((field(12), field(40)), 0..8),
            content_length in proptest::option::of(prop_oneof![
                Just(b"0".to_vec()), Just(b"3".to_vec()), field(3)
            ]),
            body in field(8),
            policy in policy(),
            room in 0usize..200,
        ) {
            let mut headers: alloc::vec::Vec<PlainHeader<'_>> =
                fields.iter().map(|(n, v)| (&n[..], &v[..])).collect();
            if let Some(cl) = &content_length {
                headers.push((CONTENT_LENGTH, cl));
            }
            let mut builder = FrameBuilder::<9>::with_room(version, command);
            builder.extend_headers_bytes(&headers).unwrap();
            builder.set_body(&body);
            builder.set_content_length(policy);
            let wire: alloc::vec::Vec<crate::Header<'_>> =
                headers.iter().map(|&(n, v)| crate::Header::new(n, v)).collect();
            let frame = Frame::new(version, command, &wire, &body);

            for form in [Form::Plain, Form::Wire] {
                let policy = if form == Form::Plain { policy } else { ContentLength::WhenNeeded };
                let general = general(version, command, &headers, &body, policy, form);
                let expected = match &general {
                    Ok(g) if g.len() <= room => Ok(g.len()),
                    Ok(g) => Err(SerializeError::BufferTooSmall { required: g.len() }),
                    Err(e) => Err(*e),
                };
                let check = |got: Result<usize, SerializeError>, out: &[u8]| {
                    prop_assert_eq!(got, expected);
                    match (&general, got) {
                        (Ok(g), Ok(n)) => {
                            prop_assert_eq!(&out[..n], &g[..]);
                            prop_assert!(out[n..].iter().all(|&b| b == 0xa5));
                        }
                        _ => prop_assert!(out.iter().all(|&b| b == 0xa5)),
                    }
                    Ok(())
                };
                let mut out = alloc::vec![0xa5u8; room];
                let got = match form {
                    Form::Plain => builder.write_to(&mut out),
                    Form::Wire => frame.write_to(&mut out),
                };
                check(got, &out)?;
                let mut out = alloc::vec![0xa5u8; room];
                let got = match form {
                    Form::Plain => builder.put(&mut &mut out[..]),
                    Form::Wire => frame.put(&mut &mut out[..]),
                };
                check(got, &out)?;
                if form == Form::Plain {
                    let mut out = alloc::vec![0xa5u8; room];
                    let got = write_frame(version, command, &headers, &body, policy, &mut out);
                    check(got, &out)?;
                    let mut out = alloc::vec![0xa5u8; room];
                    let got =
                        put_frame(version, command, &headers, &body, policy, &mut &mut out[..]);
                    check(got, &out)?;
                }
                // An unbounded BufMut: never too small.
                let mut grown = alloc::vec::Vec::new();
                let got = match form {
                    Form::Plain => builder.put(&mut grown),
                    Form::Wire => frame.put(&mut grown),
                };
                prop_assert_eq!(got.map(|_| grown), general);
            }
        }

        /// The fast path's `content-length` check agrees with the value parser, long and
        /// overflowing values, leading zeros and non-digits included.
        #[test]
        fn is_decimal_agrees_with_content_length(
            value in prop_oneof![
                "[0-9]{0,4}",
                "0{0,3}[0-9]{17,22}",
                "[0-9+ a-]{0,4}",
                Just(usize::MAX.to_string()),
                Just(alloc::format!("{}0", usize::MAX)),
                Just("18446744073709551619".to_owned()),
            ],
            len in prop_oneof![Just(0usize), 0usize..10_000, Just(usize::MAX), any::<usize>()],
            from_value in any::<bool>(),
        ) {
            // Often the length the value spells, so that matches are tested too.
            let len = match crate::value::content_length(value.as_bytes()) {
                Ok(n) if from_value => n,
                _ => len,
            };
            prop_assert_eq!(
                is_decimal(value.as_bytes(), len),
                crate::value::content_length(value.as_bytes()) == Ok(len)
            );
        }

        /// Filling in place with `extend_headers_bytes` / `extend_headers` (and `set_body`,
        /// `set_content_length`) builds the same frame as chained `header_bytes` calls, and
        /// fails the same way when the headers do not fit; a failed extend adds nothing.
        #[test]
        fn extend_headers_equals_chained_headers(
            version in version(),
            command in command(),
            first in proptest::collection::vec((field(6), field(8)), 0..6),
            rest in proptest::collection::vec(("[a-z:]{0,6}", "[a-z\\\n]{0,8}"), 0..6),
            body in field(8),
            policy in policy(),
        ) {
            let first: alloc::vec::Vec<PlainHeader<'_>> =
                first.iter().map(|(n, v)| (&n[..], &v[..])).collect();
            let rest_str: alloc::vec::Vec<(&str, &str)> =
                rest.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let mut chained = FrameBuilder::<6>::with_room(version, command);
            for &(n, v) in first.iter() {
                chained = chained.header_bytes(n, v);
            }
            for &(n, v) in rest_str.iter() {
                chained = chained.header(n, v);
            }
            let chained = chained.body(&body).content_length(policy);

            let mut in_place = FrameBuilder::<6>::with_room(version, command);
            let fits = first.len() + rest_str.len() <= 6;
            prop_assert_eq!(in_place.extend_headers_bytes(&first).is_ok(), first.len() <= 6);
            let before = in_place.headers().len();
            let extended = in_place.extend_headers(&rest_str);
            prop_assert_eq!(extended.is_ok(), fits || first.len() > 6 && rest_str.len() <= 6);
            if extended.is_err() {
                prop_assert_eq!(in_place.headers().len(), before);
            }
            in_place.set_body(&body);
            in_place.set_content_length(policy);
            if fits {
                prop_assert_eq!(in_place.headers(), chained.headers());
                prop_assert_eq!(in_place.to_vec(), chained.to_vec());
                let (mut a, mut b) = (alloc::vec::Vec::new(), alloc::vec::Vec::new());
                prop_assert_eq!(in_place.put(&mut a), chained.put(&mut b));
                prop_assert_eq!(a, b);
            } else {
                prop_assert_eq!(chained.to_vec(), Err(SerializeError::TooManyHeaders));
            }
        }

        /// Clean fields of every length up to past the copy window (64 octets) are copied
        /// exactly: the fast path is taken and writes what the general path writes.
        #[test]
        fn fast_path_copies_fields_of_every_length(
            version in version(),
            names in proptest::collection::vec("[a-z][a-z-]{0,15}", 0..5),
            values in proptest::collection::vec("[ -9;-\\[\\]-~]{0,80}", 5),
            body in proptest::collection::vec(any::<u8>(), 0..4),
            policy in policy(),
        ) {
            let headers = clean_headers(&names, &values);
            let general = general(version, Command::Send, &headers, &body, policy, Form::Plain);
            prop_assert!(general.is_ok());
            prop_assert_eq!(fast(version, Command::Send, &headers, &body, policy), general.ok());
        }

        /// The fast path is taken for the common frame: headers without special octets.
        #[test]
        fn fast_path_taken_for_clean_headers(
            version in version(),
            command in command(),
            names in proptest::collection::vec("[a-z][a-z-]{0,15}", 0..10),
            values in proptest::collection::vec("[ -9;-\\[\\]-~]{0,40}", 10),
            body in proptest::collection::vec(any::<u8>(), 0..4),
            policy in policy(),
        ) {
            let headers = clean_headers(&names, &values);
            let general = general(version, command, &headers, &body, policy, Form::Plain);
            let fast = fast(version, command, &headers, &body, policy);
            match general {
                Ok(general) => prop_assert_eq!(fast, Some(general)),
                Err(_) => prop_assert_eq!(fast, None),
            }
        }
    }
}
