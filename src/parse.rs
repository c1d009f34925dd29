//! The streaming frame parser: borrowed, allocation-free, limit-checked.
//!
//! [`Parser::parse`] looks at the start of a buffer and returns one [`Item`]: a frame or a
//! heart-beat, with the number of bytes it took, or [`Status::Partial`] when the buffer holds
//! only the beginning of one. Partial input is never an error; malformed input is a
//! [`ParseError`], always found before more memory than the [`Limits`] allow is needed.
//!
//! Scanning finds each header line's end and its first `:` in one pass, eight octets at a
//! time (memchr past the first 64), then checks the whole header block for `\` (escapes)
//! and, in 1.2, CR in one memchr pass. The small languages inside header values
//! (`content-length`, `heart-beat`, …) are nom grammars.
//!
//! # Rules, by version
//!
//! | rule | 1.0 | 1.1 | 1.2 |
//! |------|-----|-----|-----|
//! | end of line | LF | LF | LF or CR LF; a bare CR is an error |
//! | header escapes (not CONNECT/CONNECTED) | none | `\n \c \\` | `\r \n \c \\` |
//! | undefined escape (`\t`, trailing `\`) | data | error | error |
//! | header values trimmed of spaces and tabs | yes | no | no |
//! | body only on SEND, MESSAGE, ERROR | no | yes | yes |
//!
//! In every version: a header line splits at its first `:` (a raw `:` later in the value is
//! kept, as real peers send it); the first of repeated headers wins on lookup, all are kept;
//! `content-length` is exact, counts body octets without the NUL, and the NUL must follow;
//! without it, the body ends at the first NUL. Two lenient points, both unambiguous: a CR LF
//! heart-beat and a CR before the LF of the command line are accepted in 1.0 and 1.1 too.

use memchr::memchr;

use crate::error::ParseError;
use crate::escape::{self, Escaping};
use crate::frame::{Frame, Header, Item};
use crate::{Command, Version};

/// The outcome of parsing a buffer that may hold only part of an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status<T> {
    /// A whole item was parsed.
    Complete(T),
    /// The buffer ends inside an item: read more bytes and parse again.
    Partial,
}

impl<T> Status<T> {
    /// Whether the item was complete.
    pub const fn is_complete(&self) -> bool {
        matches!(self, Status::Complete(_))
    }

    /// The complete item, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Complete(t) => Some(t),
            Status::Partial => None,
        }
    }
}

/// Size limits, all checked before more input is waited for or any memory is reserved.
///
/// The defaults protect a server from a client that tries to exhaust its memory while staying
/// generous for real traffic (RabbitMQ allows 100 headers; Vert.x 10 KiB header lines).
///
/// ```
/// use stomp_proto::{Limits, Parser};
///
/// let parser = Parser::new().with_limits(Limits {
///     max_body_len: 64 * 1024,
///     ..Limits::DEFAULT
/// });
/// assert_eq!(parser.limits().max_headers, 100);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Most octets in one frame, from the first octet of the command to the NUL included.
    /// Default: 4 MiB + 64 KiB.
    pub max_frame_len: usize,
    /// Most header lines in one frame. Default: 100.
    pub max_headers: usize,
    /// Most octets in the command line or one header line, end-of-line excluded.
    /// Default: 8 KiB.
    pub max_header_line_len: usize,
    /// Most octets in one body. Default: 4 MiB.
    pub max_body_len: usize,
}

impl Limits {
    /// The default limits.
    pub const DEFAULT: Limits = Limits {
        max_frame_len: 4 * 1024 * 1024 + 64 * 1024,
        max_headers: 100,
        max_header_line_len: 8 * 1024,
        max_body_len: 4 * 1024 * 1024,
    };

    /// No limits at all, for trusted input only.
    pub const UNLIMITED: Limits = Limits {
        max_frame_len: usize::MAX,
        max_headers: usize::MAX,
        max_header_line_len: usize::MAX,
        max_body_len: usize::MAX,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

/// A STOMP frame parser for one version and one set of limits.
///
/// The parser holds no state between calls: it is a configuration, cheap to copy. A session
/// switches its version with [`set_version`](Parser::set_version) after negotiation.
///
/// ```
/// use stomp_proto::{Header, Item, Parser, Status, Version};
///
/// let parser = Parser::new().with_version(Version::V1_1);
/// let mut headers = [Header::EMPTY; 8];
/// let stream = b"\nRECEIPT\nreceipt-id:77\n\n\0";
///
/// let Ok(Status::Complete((n, Item::HeartBeat))) = parser.parse(stream, &mut headers) else {
///     panic!()
/// };
/// let Ok(Status::Complete((m, Item::Frame(receipt)))) = parser.parse(&stream[n..], &mut headers)
/// else { panic!() };
/// assert!(receipt.receipt_id().unwrap() == "77");
/// assert_eq!(n + m, stream.len());
///
/// // The first bytes of a frame are not an error, just not enough.
/// assert_eq!(parser.parse(b"RECEIPT\nrecei", &mut headers), Ok(Status::Partial));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Parser {
    version: Version,
    limits: Limits,
}

/// How far [`find`] looks eight octets at a time before handing over to memchr.
const SWAR_SPAN: usize = 64;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of each octet of `word` equal to the one `pattern` repeats; the lowest set
/// bit is exact (a borrow only moves upwards), higher ones may be false.
#[inline(always)]
const fn matches(word: u64, pattern: u64) -> u64 {
    let x = word ^ pattern;
    x.wrapping_sub(LO) & !x & HI
}

/// The first octet of `hay` whose [`matches`] mask (over its word) is set, searching the
/// first [`SWAR_SPAN`] octets a word at a time; `Err(i)` when none is there and the search
/// must go on from `i` (the rest of `hay`, if any, past `SWAR_SPAN`).
#[inline(always)]
fn swar(hay: &[u8], mask: impl Fn(u64) -> u64, byte: impl Fn(u8) -> bool) -> Result<usize, usize> {
    let head = &hay[..hay.len().min(SWAR_SPAN)];
    let mut chunks = head.chunks_exact(8);
    let mut i = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let m = mask(u64::from_le_bytes(word));
        if m != 0 {
            return Ok(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    match chunks.remainder().iter().position(|&b| byte(b)) {
        Some(j) => Ok(i + j),
        None => Err(head.len()),
    }
}

/// The first `byte` in `hay`, as `memchr` finds it. Header names and lines are short: the
/// first [`SWAR_SPAN`] octets are searched a word at a time inline, which costs less than
/// memchr's dispatch and vector setup; the rest, if any, with memchr.
#[inline(always)]
pub(crate) fn find(byte: u8, hay: &[u8]) -> Option<usize> {
    let pattern = LO * u64::from(byte);
    match swar(hay, |w| matches(w, pattern), |b| b == byte) {
        Ok(i) => Some(i),
        Err(i) if i < hay.len() => memchr(byte, &hay[i..]).map(|j| i + j),
        Err(_) => None,
    }
}

/// The first LF in `hay`, and the first `:` before it: a header line and where it splits,
/// as `find` would find each. The first of the two, then the LF after a colon.
#[inline(always)]
fn find_line(hay: &[u8]) -> (Option<usize>, Option<usize>) {
    const LF: u64 = LO * b'\n' as u64;
    const COLON: u64 = LO * b':' as u64;
    // The lowest bit of either mask is exact, so the lowest of their union is too.
    let first = match swar(
        hay,
        |w| matches(w, LF) | matches(w, COLON),
        |b| b == b'\n' || b == b':',
    ) {
        Ok(i) => Some(i),
        Err(i) if i < hay.len() => memchr::memchr2(b'\n', b':', &hay[i..]).map(|j| i + j),
        Err(_) => None,
    };
    match first {
        Some(c) if hay[c] == b':' => (find(b'\n', &hay[c + 1..]).map(|j| c + 1 + j), Some(c)),
        lf => (lf, None),
    }
}

/// Where a line ends: its content (EOL excluded) and the offset just past its LF.
type Line<'b> = (&'b [u8], usize);

/// A header [`Line`] and the offset of its first `:`, if any.
type HeaderLine<'b> = (&'b [u8], usize, Option<usize>);

impl Parser {
    /// A STOMP 1.2 parser with [`Limits::DEFAULT`].
    pub const fn new() -> Parser {
        Parser {
            version: Version::V1_2,
            limits: Limits::DEFAULT,
        }
    }

    /// This parser, following `version`'s rules.
    #[must_use]
    pub const fn with_version(mut self, version: Version) -> Parser {
        self.version = version;
        self
    }

    /// This parser, with `limits`.
    #[must_use]
    pub const fn with_limits(mut self, limits: Limits) -> Parser {
        self.limits = limits;
        self
    }

    /// The version whose rules the parser follows.
    pub const fn version(&self) -> Version {
        self.version
    }

    /// Follows `version`'s rules from now on (after version negotiation).
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    /// The limits.
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Changes the limits.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Parses one item from the start of `buf`.
    ///
    /// Returns `Complete((consumed, item))` with the number of bytes the item took (a frame's
    /// count ends at its NUL; end-of-lines after it come back as heart-beats on the next
    /// calls), or `Partial` when `buf` ends inside the item. Header lines are stored in
    /// `headers`, which the frame borrows; [`ParseError::TooManyHeaders`] means it is too
    /// small.
    pub fn parse<'b: 'h, 'h>(
        &self,
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<Status<(usize, Item<'h>)>, ParseError> {
        match heart_beat(buf)? {
            Some(Status::Complete(n)) => Ok(Status::Complete((n, Item::HeartBeat))),
            Some(Status::Partial) => Ok(Status::Partial),
            None => Ok(match self.parse_frame(buf, headers)? {
                Status::Complete((n, frame)) => Status::Complete((n, Item::Frame(frame))),
                Status::Partial => Status::Partial,
            }),
        }
    }

    /// Parses one frame from the start of `buf`, where a frame (not a heart-beat) must start.
    pub fn parse_frame<'b: 'h, 'h>(
        &self,
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<Status<(usize, Frame<'h>)>, ParseError> {
        let mut sink = SliceSink { headers, len: 0 };
        Ok(match self.parse_into(buf, &mut sink)? {
            Status::Complete(parts) => {
                let headers = &sink.headers[..sink.len];
                Status::Complete((
                    parts.consumed,
                    Frame::new(self.version, parts.command, headers, parts.body),
                ))
            }
            Status::Partial => Status::Partial,
        })
    }

    /// Parses one frame, handing each header to `sink`.
    pub(crate) fn parse_into<'b>(
        &self,
        buf: &'b [u8],
        sink: &mut impl HeaderSink<'b>,
    ) -> Result<Status<FrameParts<'b>>, ParseError> {
        let limits = &self.limits;
        let Some((command_line, mut pos)) = self.line(buf, 0, true)? else {
            return self.partial_head(buf);
        };
        let command = self.command(command_line)?;
        let block_start = pos;
        let mut count = 0;
        let mut content_length = None;
        // What `window` computes for every line, less the line's own start.
        let reach = buf.len().min(limits.max_frame_len);
        let line_room = limits.max_header_line_len.saturating_add(2);
        loop {
            if pos > limits.max_frame_len {
                return Err(ParseError::FrameTooLarge);
            }
            let window = buf
                .get(pos..reach.min(pos.saturating_add(line_room)))
                .unwrap_or_default();
            let Some((line, next, colon)) = self.header_line(window, pos)? else {
                return self.partial_head(buf);
            };
            pos = next;
            if line.is_empty() {
                break;
            }
            if count == limits.max_headers {
                return Err(ParseError::HeaderCountLimit);
            }
            let header = self.split_header(line, colon)?;
            if content_length.is_none() && header.name == b"content-length" {
                content_length = Some(content_length_value(header.value)?);
            }
            sink.push(header)?;
            count += 1;
        }
        let header_end = pos;
        if header_end > limits.max_frame_len {
            return Err(ParseError::FrameTooLarge);
        }
        self.check_block(command, &buf[block_start..header_end])?;
        let Some((body, consumed)) = self.body(buf, header_end, command, content_length)? else {
            return Ok(Status::Partial);
        };
        Ok(Status::Complete(FrameParts {
            command,
            body,
            consumed,
        }))
    }

    /// `Partial` for a frame whose command line or header block has not ended in `buf`,
    /// unless `buf` already holds `max_frame_len` octets of it: the frame is then longer
    /// than the limit, whatever follows (the line limit alone would let a header line run
    /// far past a small frame limit).
    fn partial_head<T>(&self, buf: &[u8]) -> Result<Status<T>, ParseError> {
        if buf.len() >= self.limits.max_frame_len {
            return Err(ParseError::FrameTooLarge);
        }
        Ok(Status::Partial)
    }

    /// Recognises the command line.
    fn command(&self, line: &[u8]) -> Result<Command, ParseError> {
        let command = Command::parse(line).ok_or(ParseError::UnknownCommand)?;
        if !command.exists_in(self.version) {
            return Err(ParseError::CommandNotInVersion);
        }
        Ok(command)
    }

    /// The window `line` searches for the LF of the line at `pos`: room for the longest legal
    /// line, a CR and the LF, and no further than the frame may reach (a line whose LF is at
    /// or past `max_frame_len` is `FrameTooLarge` whether or not the LF has arrived, so the
    /// verdict does not depend on later bytes).
    #[inline(always)]
    fn window<'b>(&self, buf: &'b [u8], pos: usize) -> &'b [u8] {
        let window_end = buf
            .len()
            .min(
                pos.saturating_add(self.limits.max_header_line_len)
                    .saturating_add(2),
            )
            .min(self.limits.max_frame_len);
        buf.get(pos..window_end).unwrap_or_default()
    }

    /// Finds the line starting at `pos`. `None` when `buf` ends first, an error when the line
    /// is longer than the limit (found without waiting for its end).
    #[inline]
    pub(crate) fn line<'b>(
        &self,
        buf: &'b [u8],
        pos: usize,
        command: bool,
    ) -> Result<Option<Line<'b>>, ParseError> {
        let window = self.window(buf, pos);
        self.line_verdict(window, pos, find(b'\n', window), command)
    }

    /// [`line`](Self::line) for a header line, with the offset of its first `:` if any, given
    /// the line's [`window`](Self::window) (which starts at `pos`).
    #[inline(always)]
    fn header_line<'b>(
        &self,
        window: &'b [u8],
        pos: usize,
    ) -> Result<Option<HeaderLine<'b>>, ParseError> {
        let (lf, colon) = find_line(window);
        Ok(self
            .line_verdict(window, pos, lf, false)?
            .map(|(line, next)| (line, next, colon)))
    }

    /// The line in `window` (which starts at `pos`) given where its LF is, if found.
    #[inline(always)]
    fn line_verdict<'b>(
        &self,
        window: &'b [u8],
        pos: usize,
        lf: Option<usize>,
        command: bool,
    ) -> Result<Option<Line<'b>>, ParseError> {
        let max = self.limits.max_header_line_len;
        match lf {
            Some(i) => {
                let mut line = &window[..i];
                if let [rest @ .., b'\r'] = line {
                    if command || self.version == Version::V1_2 {
                        line = rest;
                    }
                }
                if line.len() > max {
                    // The same verdict as on a prefix of this line without its LF (below), so
                    // that the error does not depend on how the bytes arrived.
                    if command && !Command::could_start(line) {
                        return Err(ParseError::UnknownCommand);
                    }
                    return Err(ParseError::HeaderLineTooLong);
                }
                Ok(Some((line, pos + i + 1)))
            }
            None if command && !Command::could_start(window) => Err(ParseError::UnknownCommand),
            None if window.len() >= max.saturating_add(2) => Err(ParseError::HeaderLineTooLong),
            None => Ok(None),
        }
    }

    /// Splits a header line at its first `:`.
    #[cfg(feature = "alloc")]
    #[inline]
    pub(crate) fn header<'b>(&self, line: &'b [u8]) -> Result<Header<'b>, ParseError> {
        self.split_header(line, find(b':', line))
    }

    /// Splits a header line at `colon`, the offset of its first `:` (`None`: there is none).
    #[inline(always)]
    fn split_header<'b>(
        &self,
        line: &'b [u8],
        colon: Option<usize>,
    ) -> Result<Header<'b>, ParseError> {
        let colon = colon.ok_or(ParseError::MissingColon)?;
        if colon == 0 {
            return Err(ParseError::EmptyHeaderName);
        }
        let name = &line[..colon];
        let mut value = &line[colon + 1..];
        if self.version == Version::V1_0 {
            // Spaces and tabs only: `trim_ascii` would also take CR, LF and form feed.
            while let [b' ' | b'\t', rest @ ..] = value {
                value = rest;
            }
            while let [rest @ .., b' ' | b'\t'] = value {
                value = rest;
            }
        }
        Ok(Header { name, value })
    }

    /// Checks the whole header block once it is complete: no bare CR (1.2) and only defined
    /// escapes (1.1+, not CONNECT/CONNECTED). One memchr pass over the block (memchr2 for
    /// both in 1.2).
    ///
    /// Checking escapes over the whole block is the same as checking each name and value:
    /// the octets that end a name or value (`:`, CR, LF) never complete an escape sequence.
    fn check_block(&self, command: Command, block: &[u8]) -> Result<(), ParseError> {
        let escaping = Escaping::for_frame(self.version, command);
        if self.version != Version::V1_2 {
            return escape::validate(escaping, block).map_err(|_| ParseError::InvalidEscape);
        }
        if escaping == Escaping::None {
            return bare_cr(block);
        }
        // Both checks in one pass; a bare CR is reported before an undefined escape wherever
        // they are, as two passes (CR first) would.
        let mut from = 0;
        while let Some(i) = memchr::memchr2(b'\r', b'\\', &block[from..]) {
            let at = from + i;
            let next = block.get(at + 1).copied();
            if block[at] == b'\r' {
                // `line` strips the CR of a CR LF; any CR left inside a line is bare.
                if next != Some(b'\n') {
                    return Err(ParseError::BareCr);
                }
                from = at + 1;
            } else if next.is_some_and(|x| escape::is_escape(escaping, x)) {
                // The escaped octet is never a CR.
                from = at + 2;
            } else {
                bare_cr(&block[at..])?;
                return Err(ParseError::InvalidEscape);
            }
        }
        Ok(())
    }

    /// Finds the body that starts at `start` and the frame's end just past its NUL.
    #[inline(always)]
    fn body<'b>(
        &self,
        buf: &'b [u8],
        start: usize,
        command: Command,
        content_length: Option<usize>,
    ) -> Result<Option<(&'b [u8], usize)>, ParseError> {
        // Nothing of this body was searched before.
        let mut scanned = start;
        let Some(nul) = self.body_end(buf, start, command, content_length, &mut scanned)? else {
            return Ok(None);
        };
        if buf[nul] != 0 {
            return Err(ParseError::MissingNul);
        }
        Ok(Some((&buf[start..nul], nul + 1)))
    }

    /// Finds where the NUL that ends the body starting at `start` is, or must be (with
    /// `content-length`), once `buf` reaches it. The body octets from `start` up to `scanned`
    /// (at least `start`) are known to hold no NUL; `scanned` moves on for the next call.
    #[inline(always)]
    fn body_end(
        &self,
        buf: &[u8],
        start: usize,
        command: Command,
        content_length: Option<usize>,
        scanned: &mut usize,
    ) -> Result<Option<usize>, ParseError> {
        let limits = &self.limits;
        let no_body = self.version != Version::V1_0 && !command.may_have_body();
        // Octets the frame may still take: the body and its NUL.
        let room = limits.max_frame_len - start;
        if room == 0 {
            return Err(ParseError::FrameTooLarge);
        }
        if let Some(len) = content_length {
            if len > limits.max_body_len {
                return Err(ParseError::BodyTooLarge);
            }
            if len >= room {
                return Err(ParseError::FrameTooLarge);
            }
            if len > 0 && no_body {
                return Err(ParseError::UnexpectedBody);
            }
            let end = start + len;
            return Ok((buf.len() > end).then_some(end));
        }
        if no_body {
            // Fail on the first octet rather than wait for a NUL that may never come.
            return match buf.get(start) {
                None => Ok(None),
                Some(0) => Ok(Some(start)),
                Some(_) => Err(ParseError::UnexpectedBody),
            };
        }
        let body_window = limits.max_body_len.saturating_add(1);
        let window = body_window.min(room);
        let search_end = buf.len().min(start.saturating_add(window));
        let from = *scanned;
        match find(0, buf.get(from..search_end).unwrap_or_default()) {
            Some(i) => Ok(Some(from + i)),
            None if search_end - start < window => {
                *scanned = search_end.max(from);
                Ok(None)
            }
            None if body_window <= room => Err(ParseError::BodyTooLarge),
            None => Err(ParseError::FrameTooLarge),
        }
    }
}

/// `BareCr` if `block` holds a CR not followed by LF.
fn bare_cr(block: &[u8]) -> Result<(), ParseError> {
    for i in memchr::memchr_iter(b'\r', block) {
        if block.get(i + 1) != Some(&b'\n') {
            return Err(ParseError::BareCr);
        }
    }
    Ok(())
}

/// Parses a `content-length` value.
#[inline]
pub(crate) fn content_length_value(value: &[u8]) -> Result<usize, ParseError> {
    // The usual value, 1 to 19 digits, cannot overflow a u64: checked and summed in one
    // pass. Longer ones (and empty ones) take the grammar.
    if (1..=19).contains(&value.len()) {
        let mut n = 0u64;
        for &b in value {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return Err(ParseError::InvalidContentLength);
            }
            n = n * 10 + u64::from(digit);
        }
        return usize::try_from(n).map_err(|_| ParseError::InvalidContentLength);
    }
    crate::value::content_length(value).map_err(|_| ParseError::InvalidContentLength)
}

/// What a frame is made of, apart from its headers (which went to a [`HeaderSink`]).
pub(crate) struct FrameParts<'b> {
    pub(crate) command: Command,
    pub(crate) body: &'b [u8],
    pub(crate) consumed: usize,
}

/// Where the parser puts the headers it finds.
pub(crate) trait HeaderSink<'b> {
    /// Stores one header, or fails when there is no room.
    fn push(&mut self, header: Header<'b>) -> Result<(), ParseError>;
}

struct SliceSink<'h, 'b> {
    headers: &'h mut [Header<'b>],
    len: usize,
}

impl<'b> HeaderSink<'b> for SliceSink<'_, 'b> {
    #[inline]
    fn push(&mut self, header: Header<'b>) -> Result<(), ParseError> {
        *self
            .headers
            .get_mut(self.len)
            .ok_or(ParseError::TooManyHeaders)? = header;
        self.len += 1;
        Ok(())
    }
}

/// Recognises a heart-beat (`\n` or `\r\n`) at the start of `buf`; `None` when a frame starts
/// there.
#[inline]
pub(crate) fn heart_beat(buf: &[u8]) -> Result<Option<Status<usize>>, ParseError> {
    match buf {
        [] => Ok(Some(Status::Partial)),
        [b'\n', ..] => Ok(Some(Status::Complete(1))),
        [b'\r'] => Ok(Some(Status::Partial)),
        [b'\r', b'\n', ..] => Ok(Some(Status::Complete(2))),
        [b'\r', ..] => Err(ParseError::BareCr),
        _ => Ok(None),
    }
}

/// A resumable search for where the frame at the start of a growing buffer ends.
///
/// It remembers how far it has looked, so a frame that arrives a byte at a time is scanned
/// once in all, not once per byte. It applies the limits and finds the end; the frame is then
/// parsed (and fully checked) once by [`Parser::parse_into`].
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Scan {
    /// Whether anything has been looked at since the last frame ended.
    started: bool,
    /// Start of the line being searched, or of the body once `in_body`.
    start: usize,
    /// Where the search for that line's LF, or the body's NUL, goes on: the octets from
    /// `start` up to here hold neither.
    scanned: usize,
    command: Option<Command>,
    /// Where the header block starts: just past the command line.
    block_start: usize,
    headers: usize,
    content_length: Option<usize>,
    in_body: bool,
    /// The one octet that, arriving before [`horizon`](Scan::horizon), would change what
    /// `resume` left: an LF (ending the header line being scanned) or a NUL (ending the body
    /// being scanned); `None` when none would (the body's length is known: the frame ends at
    /// the horizon). [`quick`](Scan::quick) searches new bytes for it.
    quick: Option<u8>,
    /// The buffer length from which `quick` must hand over to `resume` (0: always, so
    /// `resume` looks at every read).
    horizon: usize,
}

#[cfg(feature = "alloc")]
impl Scan {
    /// Whether the scan is at the start of a frame, with nothing remembered.
    pub(crate) fn is_fresh(&self) -> bool {
        !self.started
    }

    /// Marks the start of a frame as looked at.
    pub(crate) fn start(&mut self) {
        self.started = true;
    }

    /// The cheap part of [`resume`](Self::resume): `true` when the bytes that arrived since
    /// the last call cannot end the frame, a line or the body, nor break a limit; the scan
    /// then counts them as searched, exactly as `resume` would have. `false`: call `resume`.
    #[inline]
    pub(crate) fn quick(&mut self, buf: &[u8]) -> bool {
        if buf.len() >= self.horizon {
            return false;
        }
        let from = self.scanned;
        if let Some(byte) = self.quick {
            let fresh = buf.get(from..).unwrap_or_default();
            // Reads of a few octets (a frame trickling in) are searched inline; longer ones
            // with `find`.
            let hit = if fresh.len() <= 8 {
                fresh.contains(&byte)
            } else {
                find(byte, fresh).is_some()
            };
            if hit {
                return false;
            }
        }
        self.scanned = buf.len().max(from);
        true
    }

    /// Sets what [`quick`](Self::quick) may skip after `resume` found the frame incomplete.
    fn set_quick(&mut self, parser: &Parser) {
        let limits = &parser.limits;
        (self.quick, self.horizon) = if self.command.is_none() {
            // Every octet of the command line is checked as it comes.
            (None, 0)
        } else if !self.in_body {
            // `resume`'s window: up to there only an LF changes anything.
            let end = self
                .start
                .saturating_add(limits.max_header_line_len)
                .saturating_add(2)
                .min(limits.max_frame_len);
            (Some(b'\n'), end)
        } else if let Some(len) = self.content_length {
            // `body_end` checked the limits; the NUL is due at `start + len`.
            (None, self.start + len + 1)
        } else if parser.version != Version::V1_0
            && !self.command.is_some_and(|c| c.may_have_body())
        {
            // The first octet decides.
            (None, self.start + 1)
        } else {
            // `body_end`'s window: up to there only a NUL changes anything.
            let room = limits.max_frame_len - self.start;
            let window = limits.max_body_len.saturating_add(1).min(room);
            (Some(0), self.start + window)
        };
    }

    /// Continues the search over `buf` (the same buffer as before, perhaps longer). Returns
    /// the frame's length, NUL included, once `buf` holds all of it.
    pub(crate) fn resume(
        &mut self,
        parser: &Parser,
        buf: &[u8],
    ) -> Result<Option<usize>, ParseError> {
        self.started = true;
        let limits = &parser.limits;
        while !self.in_body {
            let max = limits.max_header_line_len;
            // The same window as `Parser::line`.
            let window_end = buf
                .len()
                .min(self.start.saturating_add(max).saturating_add(2))
                .min(limits.max_frame_len);
            let from = self.scanned;
            let window = buf.get(self.start..window_end).unwrap_or_default();
            let Some(i) = find(b'\n', buf.get(from..window_end).unwrap_or_default()) else {
                if self.command.is_none() && !Command::could_start(window) {
                    return Err(ParseError::UnknownCommand);
                }
                if window.len() >= max.saturating_add(2) {
                    return Err(ParseError::HeaderLineTooLong);
                }
                if buf.len() >= limits.max_frame_len {
                    return Err(ParseError::FrameTooLarge);
                }
                self.scanned = window_end.max(from);
                self.set_quick(parser);
                return Ok(None);
            };
            let next = from + i + 1;
            // The LF just found, in `Parser::line`'s window: its verdict without a second
            // search.
            let lf = from + i - self.start;
            let (line, _) = parser
                .line_verdict(window, self.start, Some(lf), self.command.is_none())?
                .ok_or(ParseError::HeaderLineTooLong)?;
            self.start = next;
            self.scanned = next;
            if self.command.is_none() {
                self.command = Some(parser.command(line)?);
                self.block_start = next;
            } else if line.is_empty() {
                // Check the block now, in `parse_into`'s order, not after the whole body.
                if next > limits.max_frame_len {
                    return Err(ParseError::FrameTooLarge);
                }
                let command = self.command.unwrap_or(Command::Send);
                parser.check_block(command, &buf[self.block_start..next])?;
                self.in_body = true;
            } else {
                if self.headers == limits.max_headers {
                    return Err(ParseError::HeaderCountLimit);
                }
                self.headers += 1;
                let header = parser.header(line)?;
                if self.content_length.is_none() && header.name == b"content-length" {
                    self.content_length = Some(content_length_value(header.value)?);
                }
            }
            if self.start > limits.max_frame_len {
                return Err(ParseError::FrameTooLarge);
            }
        }
        let command = self.command.unwrap_or(Command::Send);
        let nul = parser.body_end(
            buf,
            self.start,
            command,
            self.content_length,
            &mut self.scanned,
        )?;
        if nul.is_none() {
            self.set_quick(parser);
        }
        Ok(nul.map(|nul| nul + 1))
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bytes heavy in the octets the scans look for, long enough to cross `SWAR_SPAN`.
    fn bytes() -> impl Strategy<Value = std::vec::Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                8 => prop::sample::select(b"ab-/9 ".to_vec()),
                1 => prop::sample::select(b":\n\r\\nrc".to_vec()),
            ],
            0..150,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn find_equals_memchr(hay in bytes(), byte in prop::sample::select(b":\n\r\\a".to_vec())) {
            prop_assert_eq!(find(byte, &hay), memchr(byte, &hay));
        }

        #[test]
        fn find_line_equals_two_searches(hay in bytes()) {
            let lf = memchr(b'\n', &hay);
            let colon = memchr(b':', &hay[..lf.unwrap_or(hay.len())]);
            prop_assert_eq!(find_line(&hay), (lf, colon));
        }

        /// The one-pass `content-length` of up to 19 digits reads what the grammar reads.
        #[test]
        fn content_length_value_equals_grammar(
            value in prop_oneof![
                4 => "[0-9]{0,21}",
                1 => "[0-9]{0,8}[^0-9]{0,2}[0-9]{0,8}",
                1 => "0*[1-9][0-9]{17,20}",
            ],
        ) {
            let value = value.as_bytes();
            let grammar = crate::value::content_length(value)
                .map_err(|_| ParseError::InvalidContentLength);
            prop_assert_eq!(content_length_value(value), grammar);
        }

        /// The one-pass block check reports what a CR pass, then an escape pass, would.
        #[test]
        fn check_block_equals_two_passes(
            block in bytes(),
            version in prop::sample::select(Version::ALL.to_vec()),
            command in prop::sample::select(Command::ALL.to_vec()),
        ) {
            let parser = Parser::new().with_version(version);
            let two_passes = (|| {
                if version == Version::V1_2 {
                    bare_cr(&block)?;
                }
                escape::validate(Escaping::for_frame(version, command), &block)
                    .map_err(|_| ParseError::InvalidEscape)
            })();
            prop_assert_eq!(parser.check_block(command, &block), two_passes);
        }
    }
}
