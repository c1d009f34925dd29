//! Owned frames that share the read buffer, and a resumable streaming decoder
//! (feature `alloc`).
//!
//! [`Decoder::decode`] takes whole frames off the front of a `BytesMut` read buffer. A frame
//! is split off and frozen into [`Bytes`]: the [`OwnedFrame`]'s headers and body are
//! offsets into it, so nothing is copied. The decoder remembers how far it has scanned a
//! frame that is not complete yet, so a frame arriving a byte at a time costs linear time.
//!
//! ```
//! use bytes::BytesMut;
//! use stomp_proto::codec::{Decoder, OwnedItem};
//!
//! let mut decoder = Decoder::new();
//! let mut buf = BytesMut::new();
//! let wire = b"MESSAGE\nsubscription:1\nmessage-id:9\ndestination:/topic/a\n\nhello\0\n";
//! let mut frames = Vec::new();
//! for &byte in wire {
//!     buf.extend_from_slice(&[byte]); // the worst case: a byte per read
//!     while let Some(item) = decoder.decode(&mut buf)? {
//!         if let OwnedItem::Frame(frame) = item {
//!             frames.push(frame);
//!         }
//!     }
//! }
//! assert_eq!(frames.len(), 1);
//! assert_eq!(frames[0].body(), b"hello");
//! assert!(frames[0].destination().unwrap() == "/topic/a");
//! # Ok::<(), stomp_proto::ParseError>(())
//! ```

use alloc::vec::Vec;
use core::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{ParseError, SerializeError};
use crate::escape::{self, Escaping};
use crate::frame::{standard_headers, Header, Value};
use crate::parse::{heart_beat, HeaderSink, Scan};
use crate::serialize::FrameBuilder;
use crate::{Command, Parser, Status, Version};

/// Where one header's name and value sit in an [`OwnedFrame`]'s bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Span {
    name: (usize, usize),
    value: (usize, usize),
}

/// A frame that owns its bytes: one [`Bytes`] holding the frame exactly as on the wire, with
/// the headers and body as ranges into it.
///
/// Cloning is cheap (a reference count and the header offsets); [`body_bytes`](Self::body_bytes)
/// and [`header_bytes`](Self::header_bytes) hand out slices that share the buffer.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OwnedFrame {
    version: Version,
    command: Command,
    bytes: Bytes,
    headers: Spans,
    body: (usize, usize),
}

/// How many header spans an [`OwnedFrame`] holds without allocating: enough for the
/// headers of a usual SEND or MESSAGE.
const INLINE_SPANS: usize = 8;

/// A [`Span`] in 16-bit offsets, the inline form: eight times smaller than with `usize`, so
/// that an [`OwnedItem`] (and the `Result` that [`Decoder::decode`] returns on every call)
/// stays small enough to move without a `memcpy` call. Header offsets count from the frame
/// start and end with the header block, so they fit unless the header block passes 64 KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SmallSpan {
    name: (u16, u16),
    value: (u16, u16),
}

impl SmallSpan {
    const NONE: SmallSpan = SmallSpan {
        name: (0, 0),
        value: (0, 0),
    };

    #[inline]
    fn new(span: Span) -> Option<SmallSpan> {
        // Every offset is at most the value's end.
        u16::try_from(span.value.1).ok()?;
        Some(SmallSpan {
            name: (span.name.0 as u16, span.name.1 as u16),
            value: (span.value.0 as u16, span.value.1 as u16),
        })
    }

    #[inline]
    fn wide(self) -> Span {
        Span {
            name: (self.name.0 as usize, self.name.1 as usize),
            value: (self.value.0 as usize, self.value.1 as usize),
        }
    }
}

/// The header spans of a frame: inline (in 16-bit offsets) while there are few, on the heap
/// past [`INLINE_SPANS`] or past a 64 KiB header block.
#[derive(Clone)]
enum Spans {
    Inline {
        len: u8,
        spans: [SmallSpan; INLINE_SPANS],
    },
    Heap(Vec<Span>),
}

impl Spans {
    #[inline]
    fn new() -> Spans {
        Spans::Inline {
            len: 0,
            spans: [SmallSpan::NONE; INLINE_SPANS],
        }
    }

    #[inline]
    fn push(&mut self, span: Span) {
        match self {
            Spans::Inline { len, spans } => {
                if let (Some(slot), Some(small)) =
                    (spans.get_mut(*len as usize), SmallSpan::new(span))
                {
                    *slot = small;
                    *len += 1;
                    return;
                }
                let mut heap = Vec::with_capacity(2 * INLINE_SPANS);
                heap.extend(spans[..*len as usize].iter().map(|s| s.wide()));
                heap.push(span);
                *self = Spans::Heap(heap);
            }
            Spans::Heap(heap) => heap.push(span),
        }
    }

    #[inline]
    fn len(&self) -> usize {
        match self {
            Spans::Inline { len, .. } => *len as usize,
            Spans::Heap(heap) => heap.len(),
        }
    }

    #[inline]
    fn get(&self, i: usize) -> Span {
        match self {
            Spans::Inline { spans, .. } => spans[i].wide(),
            Spans::Heap(heap) => heap[i],
        }
    }

    #[inline]
    fn iter(&self) -> impl ExactSizeIterator<Item = Span> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

impl PartialEq for Spans {
    fn eq(&self, other: &Spans) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Spans {}

impl core::hash::Hash for Spans {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for span in self.iter() {
            span.hash(state);
        }
    }
}

/// Whether the escaped header name `raw` decodes to `plain`: [`escape::eq_plain`], with the
/// common mismatches rejected before any scan for a backslash.
#[inline]
fn name_eq(escaping: Escaping, raw: &[u8], plain: &[u8]) -> bool {
    if raw.len() < plain.len() {
        // Decoding never makes a name longer.
        return false;
    }
    if raw.len() == plain.len() {
        // As long as `plain`: a match only without escapes, so only if `plain` has no
        // backslash (a short loop, no call).
        return raw == plain && (escaping == Escaping::None || plain.iter().all(|&b| b != b'\\'));
    }
    // Longer: the first octet decodes to itself unless it starts an escape.
    match (raw.first(), plain.first()) {
        (Some(&r), Some(&p)) if r != p && r != b'\\' => false,
        _ => escape::eq_plain(escaping, raw, plain),
    }
}

impl OwnedFrame {
    /// Parses exactly one frame from `bytes`, which must hold that frame and nothing else
    /// (trailing end-of-lines aside).
    pub fn parse(parser: &Parser, bytes: Bytes) -> Result<OwnedFrame, ParseError> {
        match parse_owned(parser, &bytes)? {
            Status::Complete((consumed, headers, body, command)) => {
                let rest = &bytes[consumed..];
                if rest.iter().any(|&b| b != b'\n' && b != b'\r') {
                    return Err(ParseError::UnknownCommand);
                }
                Ok(OwnedFrame {
                    version: parser.version(),
                    command,
                    bytes: bytes.slice(..consumed),
                    headers,
                    body,
                })
            }
            Status::Partial => Err(ParseError::MissingNul),
        }
    }

    /// Serializes `builder` and wraps the result, so that an outgoing frame can be queued,
    /// cloned and inspected like a received one.
    pub fn from_builder<const N: usize>(
        builder: &FrameBuilder<'_, N>,
    ) -> Result<OwnedFrame, SerializeError> {
        let bytes = Bytes::from(builder.to_vec()?);
        let version = builder.version();
        let parser = Parser::new()
            .with_version(version)
            .with_limits(crate::Limits::UNLIMITED);
        // What the serializer writes always parses back.
        OwnedFrame::parse(&parser, bytes).map_err(|_| SerializeError::InvalidHeaderValue)
    }

    /// The command.
    pub fn command(&self) -> Command {
        self.command
    }

    /// The version whose rules the frame follows on the wire.
    pub fn wire_version(&self) -> Version {
        self.version
    }

    /// How the header names and values are escaped.
    pub fn escaping(&self) -> Escaping {
        Escaping::for_frame(self.version, self.command)
    }

    /// The frame exactly as on the wire, from the command to the NUL.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.bytes[self.body.0..self.body.1]
    }

    /// The body as [`Bytes`] sharing the frame's buffer.
    pub fn body_bytes(&self) -> Bytes {
        self.bytes.slice(self.body.0..self.body.1)
    }

    /// Every header in wire order, repeated ones included, still escaped.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = Header<'_>> + '_ {
        self.headers.iter().map(|s| Header {
            name: &self.bytes[s.name.0..s.name.1],
            value: &self.bytes[s.value.0..s.value.1],
        })
    }

    /// The first header named `name` (compared after decoding).
    pub fn header(&self, name: &str) -> Option<Value<'_>> {
        let escaping = self.escaping();
        self.headers()
            .find(|h| name_eq(escaping, h.name, name.as_bytes()))
            .map(|h| Value::new(h.value, escaping))
    }

    /// The first header named `name`, its raw (still escaped) value as [`Bytes`] sharing the
    /// frame's buffer.
    pub fn header_bytes(&self, name: &str) -> Option<Bytes> {
        let escaping = self.escaping();
        self.headers
            .iter()
            .find(|s| name_eq(escaping, &self.bytes[s.name.0..s.name.1], name.as_bytes()))
            .map(|s| self.bytes.slice(s.value.0..s.value.1))
    }

    standard_headers!('_);

    /// Appends the frame's bytes to `out`, unchanged.
    pub fn put<B: BufMut>(&self, out: &mut B) {
        out.put_slice(&self.bytes);
    }
}

impl fmt::Debug for OwnedFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedFrame")
            .field("version", &self.version)
            .field("command", &self.command)
            .field("headers", &self.headers().collect::<Vec<_>>())
            .field("body", &format_args!("\"{}\"", self.body().escape_ascii()))
            .finish()
    }
}

/// One item taken off a stream: a frame or a heart-beat.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OwnedItem {
    /// A complete frame.
    Frame(OwnedFrame),
    /// A heart-beat: an end-of-line between frames.
    HeartBeat,
}

/// Collects header spans relative to the start of the frame.
struct SpanSink {
    base: usize,
    spans: Spans,
}

impl<'b> HeaderSink<'b> for SpanSink {
    #[inline]
    fn push(&mut self, header: Header<'b>) -> Result<(), ParseError> {
        let name = header.name.as_ptr() as usize - self.base;
        let value = header.value.as_ptr() as usize - self.base;
        let end = value + header.value.len();
        // The usual case straight into the inline slots: one bound check for all offsets
        // (the value's end is the last), one for the room.
        if let Spans::Inline { len, spans } = &mut self.spans {
            if let (Ok(end), Some(slot)) = (u16::try_from(end), spans.get_mut(*len as usize)) {
                *slot = SmallSpan {
                    name: (name as u16, (name + header.name.len()) as u16),
                    value: (value as u16, end),
                };
                *len += 1;
                return Ok(());
            }
        }
        self.spans.push(Span {
            name: (name, name + header.name.len()),
            value: (value, end),
        });
        Ok(())
    }
}

type OwnedParts = (usize, Spans, (usize, usize), Command);

fn parse_owned(parser: &Parser, buf: &[u8]) -> Result<Status<OwnedParts>, ParseError> {
    let base = buf.as_ptr() as usize;
    let mut sink = SpanSink {
        base,
        spans: Spans::new(),
    };
    Ok(match parser.parse_into(buf, &mut sink)? {
        Status::Complete(parts) => {
            let start = parts.body.as_ptr() as usize - base;
            Status::Complete((
                parts.consumed,
                sink.spans,
                (start, start + parts.body.len()),
                parts.command,
            ))
        }
        Status::Partial => Status::Partial,
    })
}

/// A streaming STOMP decoder over a `BytesMut` read buffer.
///
/// Append what the transport reads to the buffer, then call [`decode`](Self::decode) until it
/// returns `Ok(None)`. Limits are those of the [`Parser`] it is built with; an error is fatal
/// for the connection (the buffer's content is then unspecified).
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    parser: Parser,
    scan: Scan,
}

impl Decoder {
    /// A STOMP 1.2 decoder with the default limits.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// A decoder following `parser`'s version and limits.
    pub fn with_parser(parser: Parser) -> Decoder {
        Decoder {
            parser,
            scan: Scan::default(),
        }
    }

    /// The parser (version and limits) in use.
    pub fn parser(&self) -> &Parser {
        &self.parser
    }

    /// Follows `version`'s rules from the next frame on (after negotiation).
    pub fn set_version(&mut self, version: Version) {
        self.parser.set_version(version);
    }

    /// Takes the next item off the front of `buf`, or returns `Ok(None)` when `buf` holds only
    /// part of one (what was scanned is remembered for the next call).
    #[inline]
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<OwnedItem>, ParseError> {
        // A frame arriving in small pieces: most reads cannot end it; say so cheaply.
        if self.scan.quick(buf) {
            return Ok(None);
        }
        self.decode_slow(buf)
    }

    fn decode_slow(&mut self, buf: &mut BytesMut) -> Result<Option<OwnedItem>, ParseError> {
        if self.scan.is_fresh() {
            match heart_beat(buf)? {
                Some(Status::Complete(n)) => {
                    buf.advance(n);
                    return Ok(Some(OwnedItem::HeartBeat));
                }
                Some(Status::Partial) => return Ok(None),
                None => {}
            }
            // Most reads hold whole frames: parse directly, scanning only once. The spans
            // of a typical frame's headers fit inline: no allocation.
            let base = buf.as_ptr() as usize;
            let mut sink = SpanSink {
                base,
                spans: Spans::new(),
            };
            if let Status::Complete(parts) = self.parser.parse_into(buf, &mut sink)? {
                let start = parts.body.as_ptr() as usize - base;
                let body = (start, start + parts.body.len());
                let parts = (parts.consumed, sink.spans, body, parts.command);
                return Ok(Some(OwnedItem::Frame(self.split(buf, parts))));
            }
            self.scan.start();
        }
        let Some(len) = self.scan.resume(&self.parser, buf)? else {
            return Ok(None);
        };
        self.scan = Scan::default();
        match parse_owned(&self.parser, &buf[..len])? {
            Status::Complete(parts) => Ok(Some(OwnedItem::Frame(self.split(buf, parts)))),
            // The scan found the NUL where the parser looks for it; a frame that ends there
            // cannot be partial.
            Status::Partial => Err(ParseError::MissingNul),
        }
    }

    fn split(
        &self,
        buf: &mut BytesMut,
        (consumed, headers, body, command): OwnedParts,
    ) -> OwnedFrame {
        OwnedFrame {
            version: self.parser.version(),
            command,
            bytes: buf.split_to(consumed).freeze(),
            headers,
            body,
        }
    }
}

/// Writes frames into a `BytesMut`, reserving the exact room first.
#[derive(Clone, Copy, Debug, Default)]
pub struct Encoder;

impl Encoder {
    /// Appends a built frame.
    pub fn encode<const N: usize>(
        &self,
        frame: &FrameBuilder<'_, N>,
        dst: &mut BytesMut,
    ) -> Result<usize, SerializeError> {
        let len = frame.encoded_len()?;
        dst.reserve(len);
        frame.put(dst)
    }

    /// Appends an owned frame's bytes unchanged.
    pub fn encode_owned(&self, frame: &OwnedFrame, dst: &mut BytesMut) {
        dst.reserve(frame.as_bytes().len());
        frame.put(dst);
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::Limits;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Feeds `stream` in chunks of `sizes` (cycled), decoding with `decode`; the items (as
    /// debug strings) and the first error or the octets left over.
    fn run(
        parser: Parser,
        stream: &[u8],
        sizes: &[usize],
        quick: bool,
    ) -> (Vec<std::string::String>, Result<usize, ParseError>) {
        let mut decoder = Decoder::with_parser(parser);
        let mut buf = BytesMut::new();
        let mut items = Vec::new();
        let mut pos = 0;
        for size in sizes.iter().cycle() {
            if pos >= stream.len() {
                break;
            }
            let end = (pos + size.max(&1)).min(stream.len());
            buf.extend_from_slice(&stream[pos..end]);
            pos = end;
            loop {
                let item = if quick {
                    decoder.decode(&mut buf)
                } else {
                    decoder.decode_slow(&mut buf)
                };
                match item {
                    Ok(Some(item)) => items.push(std::format!("{item:?}")),
                    Ok(None) => break,
                    Err(e) => return (items, Err(e)),
                }
            }
        }
        (items, Ok(buf.len()))
    }

    fn frame() -> impl Strategy<Value = Vec<u8>> {
        let command =
            prop::sample::select(std::vec!["SEND", "MESSAGE", "RECEIPT", "CONNECT", "SEN"]);
        let header = ("[a-z:\\\\]{0,6}", "[a-z0-9:\\\\\r]{0,12}");
        let headers = prop::collection::vec(header, 0..5);
        let body = prop::collection::vec(prop::sample::select(b"ab\0\n".to_vec()), 0..20);
        let length = prop::option::of(0usize..24);
        (command, headers, length, body, any::<bool>()).prop_map(
            |(command, headers, length, body, nul)| {
                let mut f = std::format!("{command}\n").into_bytes();
                for (n, v) in headers {
                    f.extend_from_slice(std::format!("{n}:{v}\n").as_bytes());
                }
                if let Some(len) = length {
                    f.extend_from_slice(std::format!("content-length:{len}\n").as_bytes());
                }
                f.push(b'\n');
                f.extend_from_slice(&body);
                if nul {
                    f.push(0);
                }
                f
            },
        )
    }

    fn limits() -> impl Strategy<Value = Limits> {
        (1usize..120, 0usize..6, 0usize..30, 0usize..30).prop_map(|(frame, headers, line, body)| {
            Limits {
                max_frame_len: frame,
                max_headers: headers,
                max_header_line_len: line,
                max_body_len: body,
            }
        })
    }

    /// What `decode` returns on every call stays small enough to move without a `memcpy`
    /// call (LLVM inlines copies of up to 128 bytes on x86-64).
    #[test]
    fn decode_result_is_small() {
        let size = core::mem::size_of::<Result<Option<OwnedItem>, ParseError>>();
        assert!(size <= 128, "{size} bytes");
    }

    /// Headers past the 16-bit inline offsets (a header block over 64 KiB) move the spans to
    /// the heap and still read back.
    #[test]
    fn header_block_over_64k() {
        let long = "v".repeat(70_000);
        let wire = std::format!("SEND\na:1\nlong:{long}\nafter:2\nz:3\n\nbody\0");
        let parser = Parser::new().with_limits(Limits::UNLIMITED);
        let mut buf = BytesMut::from(wire.as_bytes());
        let Some(OwnedItem::Frame(frame)) = Decoder::with_parser(parser).decode(&mut buf).unwrap()
        else {
            panic!("no frame")
        };
        let headers: Vec<_> = frame.headers().map(|h| (h.name, h.value.len())).collect();
        assert_eq!(
            headers,
            [(&b"a"[..], 1), (b"long", 70_000), (b"after", 1), (b"z", 1)]
        );
        assert!(frame.header("after").unwrap() == "2");
        assert!(frame.header("z").unwrap() == "3");
        assert_eq!(frame.body(), b"body");
        assert!(matches!(frame.headers, Spans::Heap(_)));
    }

    proptest! {
        /// `SpanSink::push`'s inline fast path stores exactly what `Spans::push` would, for
        /// any count and any offsets (past 16 bits too).
        #[test]
        fn span_sink_equals_spans_push(
            lines in prop::collection::vec(
                (
                    prop_oneof![8 => 0usize..20, 1 => 0usize..40_000],
                    prop_oneof![8 => 0usize..40, 1 => 0usize..30_000],
                ),
                0..12,
            ),
        ) {
            // Header lines laid out one after another: name, colon, value, LF.
            let total: usize = lines.iter().map(|(n, v)| n + v + 2).sum();
            let buf = std::vec![b'x'; total];
            let mut sink = SpanSink { base: buf.as_ptr() as usize, spans: Spans::new() };
            let mut general = Spans::new();
            let mut pos = 0;
            for &(n, v) in &lines {
                let header = Header { name: &buf[pos..pos + n], value: &buf[pos + n + 1..pos + n + 1 + v] };
                sink.push(header).unwrap();
                general.push(Span { name: (pos, pos + n), value: (pos + n + 1, pos + n + 1 + v) });
                pos += n + v + 2;
            }
            prop_assert_eq!(sink.spans.len(), lines.len());
            prop_assert!(sink.spans.iter().eq(general.iter()));
            prop_assert_eq!(matches!(sink.spans, Spans::Heap(_)), matches!(general, Spans::Heap(_)));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The quick path of `decode` changes nothing: the same items, the same error (by
        /// name), the same leftover, for any chunking, version and limits.
        #[test]
        fn quick_path_equals_resume(
            frames in prop::collection::vec(frame(), 1..4),
            heart_beats in prop::collection::vec(prop::sample::select(std::vec![&b""[..], b"\n", b"\r\n"]), 4),
            version in prop::sample::select(Version::ALL.to_vec()),
            limits in prop::option::of(limits()),
            sizes in prop::collection::vec(1usize..12, 1..6),
        ) {
            let mut stream = Vec::new();
            for (i, f) in frames.iter().enumerate() {
                stream.extend_from_slice(heart_beats[i % 4]);
                stream.extend_from_slice(f);
            }
            let mut parser = Parser::new().with_version(version);
            if let Some(limits) = limits {
                parser.set_limits(limits);
            }
            for sizes in [&sizes[..], &[1]] {
                prop_assert_eq!(
                    run(parser, &stream, sizes, true),
                    run(parser, &stream, sizes, false)
                );
            }
        }
    }
}
