#![cfg(feature = "alloc")]
//! Properties: serialize → parse is the identity; chunked decoding equals whole-buffer
//! parsing; escaping round-trips; arbitrary bytes never panic.

use bytes::BytesMut;
use proptest::prelude::*;
use stomp_proto::codec::{Decoder, OwnedItem};
use stomp_proto::escape::{self, Escaping};
use stomp_proto::{
    Command, ContentLength, FrameBuilder, Header, Item, Limits, ParseError, Parser, Status, Version,
};

fn version() -> impl Strategy<Value = Version> {
    prop::sample::select(Version::ALL.to_vec())
}

fn version_and_command() -> impl Strategy<Value = (Version, Command)> {
    (version(), prop::sample::select(Command::ALL.to_vec()))
        .prop_filter("command exists in version", |(v, c)| c.exists_in(*v))
}

fn policy() -> impl Strategy<Value = ContentLength> {
    prop::sample::select(vec![
        ContentLength::WhenNeeded,
        ContentLength::WhenBody,
        ContentLength::Always,
    ])
}

/// Bytes, with the octets that matter to the STOMP grammar often.
fn stomp_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => any::<u8>(),
        2 => prop::sample::select(b":\\\r\n \t\0cnrt-".to_vec()),
        3 => prop::sample::select(b"abcxyz019".to_vec()),
    ];
    prop::collection::vec(byte, 0..max)
}

/// Makes a plain header name encodable for `escaping` in `version`.
fn encodable_name(mut name: Vec<u8>, escaping: Escaping, version: Version) -> Vec<u8> {
    if escaping == Escaping::None {
        for b in &mut name {
            if *b == b':' || *b == b'\n' || (version == Version::V1_2 && *b == b'\r') {
                *b = b'_';
            }
        }
    }
    if name.is_empty() || name == b"content-length" {
        name.insert(0, b'n');
    }
    name
}

/// Makes a plain header value encodable for `escaping` in `version`, and unchanged by the
/// 1.0 trimming.
fn encodable_value(mut value: Vec<u8>, escaping: Escaping, version: Version) -> Vec<u8> {
    if escaping == Escaping::None {
        for b in &mut value {
            if *b == b'\n' || (version == Version::V1_2 && *b == b'\r') {
                *b = b'_';
            }
        }
    }
    if version == Version::V1_0 {
        while let [b' ' | b'\t', ..] = value[..] {
            value.remove(0);
        }
        while let [.., b' ' | b'\t'] = value[..] {
            value.pop();
        }
    }
    value
}

#[derive(Debug, Clone)]
struct PlainFrame {
    version: Version,
    command: Command,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Whether the first header is a `content-length` given by the user.
    user_content_length: bool,
    body: Vec<u8>,
    policy: ContentLength,
}

fn plain_frame() -> impl Strategy<Value = PlainFrame> {
    (
        version_and_command(),
        prop::collection::vec((stomp_bytes(12), stomp_bytes(16)), 0..6),
        stomp_bytes(40),
        any::<bool>(),
        policy(),
    )
        .prop_map(|((version, command), raw, body, user_cl, policy)| {
            let escaping = Escaping::for_frame(version, command);
            let body = if version == Version::V1_0 || command.may_have_body() {
                body
            } else {
                Vec::new()
            };
            let mut headers: Vec<(Vec<u8>, Vec<u8>)> = raw
                .into_iter()
                .map(|(n, v)| {
                    (
                        encodable_name(n, escaping, version),
                        encodable_value(v, escaping, version),
                    )
                })
                .collect();
            if user_cl {
                headers.insert(
                    0,
                    (b"content-length".to_vec(), body.len().to_string().into()),
                );
            }
            PlainFrame {
                version,
                command,
                headers,
                user_content_length: user_cl,
                body,
                policy,
            }
        })
}

impl PlainFrame {
    fn builder(&self) -> FrameBuilder<'_, 16> {
        let mut b = FrameBuilder::<16>::with_room(self.version, self.command)
            .body(&self.body)
            .content_length(self.policy);
        for (n, v) in &self.headers {
            b = b.header_bytes(n, v);
        }
        b
    }

    /// The decoded headers a parser must find: the given ones, then any added
    /// `content-length`.
    fn expected_headers(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut headers = self.headers.clone();
        let add = !self.user_content_length
            && match self.policy {
                ContentLength::WhenNeeded => self.body.contains(&0),
                ContentLength::WhenBody => !self.body.is_empty(),
                ContentLength::Always => true,
            };
        if add {
            headers.push((
                b"content-length".to_vec(),
                self.body.len().to_string().into(),
            ));
        }
        headers
    }
}

/// An owned picture of one parsed item: raw headers, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    HeartBeat,
    Frame {
        command: Command,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: Vec<u8>,
        len: usize,
    },
}

/// Parses `stream` with one `Parser::parse` loop over the whole buffer: the items, then
/// the error or how many bytes were left (a partial item).
fn parse_loop(parser: Parser, stream: &[u8]) -> (Vec<Seen>, Result<usize, ParseError>) {
    let mut items = Vec::new();
    let mut pos = 0;
    let mut storage = vec![Header::EMPTY; 256];
    loop {
        match parser.parse(&stream[pos..], &mut storage) {
            Ok(Status::Complete((n, item))) => {
                assert!(n > 0 && n <= stream.len() - pos);
                items.push(match item {
                    Item::HeartBeat => Seen::HeartBeat,
                    Item::Frame(f) => Seen::Frame {
                        command: f.command(),
                        headers: f
                            .headers()
                            .iter()
                            .map(|h| (h.name.to_vec(), h.value.to_vec()))
                            .collect(),
                        body: f.body().to_vec(),
                        len: n,
                    },
                });
                pos += n;
            }
            Ok(Status::Partial) => return (items, Ok(stream.len() - pos)),
            Err(e) => return (items, Err(e)),
        }
    }
}

/// Feeds `stream` to a `Decoder` in chunks of the given sizes (cycled).
fn decode_chunks(
    parser: Parser,
    stream: &[u8],
    sizes: &[usize],
) -> (Vec<Seen>, Result<usize, ParseError>) {
    let mut decoder = Decoder::with_parser(parser);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < stream.len() {
        let size = sizes[i % sizes.len()].max(1);
        i += 1;
        let end = (pos + size).min(stream.len());
        buf.extend_from_slice(&stream[pos..end]);
        pos = end;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(OwnedItem::HeartBeat)) => items.push(Seen::HeartBeat),
                Ok(Some(OwnedItem::Frame(f))) => items.push(Seen::Frame {
                    command: f.command(),
                    headers: f
                        .headers()
                        .map(|h| (h.name.to_vec(), h.value.to_vec()))
                        .collect(),
                    body: f.body().to_vec(),
                    len: f.as_bytes().len(),
                }),
                Ok(None) => break,
                Err(e) => return (items, Err(e)),
            }
        }
    }
    (items, Ok(buf.len()))
}

fn tiny_limits() -> impl Strategy<Value = Limits> {
    // The line limit is sometimes the default, so that the others are reached inside a line.
    let line = prop_oneof![0usize..20, Just(Limits::DEFAULT.max_header_line_len)];
    (0usize..48, 0usize..5, line, 0usize..24).prop_map(|(f, h, l, b)| Limits {
        max_frame_len: f,
        max_headers: h,
        max_header_line_len: l,
        max_body_len: b,
    })
}

/// A stream of serialized frames and heart-beats, all in `version`.
fn stream() -> impl Strategy<Value = (Version, Vec<u8>)> {
    version().prop_flat_map(|version| {
        let item = prop_oneof![
            1 => prop::sample::select(vec![&b"\n"[..], b"\r\n"]).prop_map(|b| b.to_vec()),
            2 => plain_frame().prop_map(move |mut f| {
                if !f.command.exists_in(version) {
                    f.command = Command::Send;
                }
                f.version = version;
                let escaping = Escaping::for_frame(version, f.command);
                for (n, v) in &mut f.headers {
                    if n != b"content-length" {
                        *n = encodable_name(std::mem::take(n), escaping, version);
                    }
                    *v = encodable_value(std::mem::take(v), escaping, version);
                }
                if version != Version::V1_0 && !f.command.may_have_body() {
                    f.body.clear();
                    if f.user_content_length {
                        f.headers[0].1 = b"0".to_vec();
                    }
                }
                f.builder().to_vec().unwrap()
            }),
        ];
        prop::collection::vec(item, 0..6).prop_map(move |items| (version, items.concat()))
    })
}

/// Streams shaped like frames but often wrong: real, lower-case or unknown commands, header
/// lines of grammar-heavy bytes with LF or CR LF, bodies on any command, NULs that may be
/// missing, heart-beats between.
fn frameish_stream() -> impl Strategy<Value = (Version, Vec<u8>)> {
    let command = prop_oneof![
        6 => prop::sample::select(Command::ALL.to_vec()).prop_map(|c| c.as_str().as_bytes().to_vec()),
        1 => prop::sample::select(vec![&b"send"[..], b"FOO", b""]).prop_map(<[u8]>::to_vec),
    ];
    let eol = prop::sample::select(vec![&b"\n"[..], b"\n", b"\r\n"]);
    let header = (stomp_bytes(8), stomp_bytes(10), eol.clone(), any::<bool>()).prop_map(
        |(name, value, eol, content_length)| {
            let name = if content_length {
                b"content-length".to_vec()
            } else {
                name
            };
            [&name[..], b":", &value[..], eol].concat()
        },
    );
    let frame = (
        command,
        eol.clone(),
        prop::collection::vec(header, 0..4),
        eol,
        stomp_bytes(12),
        any::<bool>(),
    )
        .prop_map(|(command, eol1, headers, eol2, body, nul)| {
            let mut out = [&command[..], eol1].concat();
            out.extend(headers.concat());
            out.extend_from_slice(eol2);
            out.extend(body);
            if nul {
                out.push(0);
            }
            out
        });
    let item = prop_oneof![
        1 => prop::sample::select(vec![&b"\n"[..], b"\r\n"]).prop_map(<[u8]>::to_vec),
        4 => frame,
    ];
    (version(), prop::collection::vec(item, 1..5)).prop_map(|(v, items)| (v, items.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// (a) Serialize → parse is the identity on the decoded headers and the body.
    #[test]
    fn serialize_then_parse_is_identity(frame in plain_frame()) {
        let builder = frame.builder();
        let wire = builder.to_vec().unwrap();
        prop_assert_eq!(builder.encoded_len(), Ok(wire.len()));
        let mut slice = vec![0u8; wire.len()];
        prop_assert_eq!(builder.write_to(&mut slice), Ok(wire.len()));
        prop_assert_eq!(&slice, &wire);

        let parser = Parser::new().with_version(frame.version);
        let mut storage = [Header::EMPTY; 32];
        let parsed = parser.parse(&wire, &mut storage);
        let Ok(Status::Complete((n, Item::Frame(parsed)))) = parsed else {
            return Err(TestCaseError::fail(format!("{parsed:?} from {:?}", wire.escape_ascii().to_string())));
        };
        prop_assert_eq!(n, wire.len());
        prop_assert_eq!(parsed.command(), frame.command);
        let decoded: Vec<(Vec<u8>, Vec<u8>)> = parsed
            .header_values()
            .map(|(n, v)| (n.decode().unwrap().into_owned(), v.decode().unwrap().into_owned()))
            .collect();
        prop_assert_eq!(decoded, frame.expected_headers());
        prop_assert_eq!(parsed.body(), &frame.body[..]);
        // Every header is found by its decoded name (the first of repeated ones).
        for (name, _) in &frame.headers {
            let Ok(name_str) = std::str::from_utf8(name) else { continue };
            let first: &[u8] = &frame.headers.iter().find(|(n, _)| n == name).unwrap().1;
            prop_assert!(parsed.header(name_str).unwrap() == first);
        }
        // Relaying the parsed frame writes the same bytes (the builder writes LF only).
        let mut relay = vec![0u8; wire.len()];
        prop_assert_eq!(parsed.write_to(&mut relay), Ok(wire.len()));
        prop_assert_eq!(relay, wire);
    }

    /// (b) Any split of a stream into chunks, fed to the decoder, gives the items of one
    /// whole-buffer parse loop.
    #[test]
    fn chunked_decoding_equals_whole_buffer_parsing(
        (version, stream) in stream(),
        sizes in prop::collection::vec(1usize..40, 1..8),
    ) {
        let parser = Parser::new().with_version(version);
        let whole = parse_loop(parser, &stream);
        prop_assert_eq!(&whole.1, &Ok(0), "a valid stream parses whole");
        prop_assert_eq!(decode_chunks(parser, &stream, &sizes), whole.clone());
        prop_assert_eq!(decode_chunks(parser, &stream, &[1]), whole);
    }

    /// (b') The same on damaged streams: the same items, then the same error or leftover.
    #[test]
    fn chunked_decoding_equals_whole_buffer_parsing_on_damaged_streams(
        (version, mut stream) in stream(),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        sizes in prop::collection::vec(1usize..40, 1..8),
    ) {
        if stream.is_empty() {
            stream.push(b'S');
        }
        for (at, byte) in damage {
            let i = at.index(stream.len());
            stream[i] = byte;
        }
        let parser = Parser::new().with_version(version);
        let whole = parse_loop(parser, &stream);
        prop_assert_eq!(decode_chunks(parser, &stream, &sizes), whole.clone());
        prop_assert_eq!(decode_chunks(parser, &stream, &[1]), whole);
    }

    /// (b'') The same on frame-shaped streams with every kind of mistake in them.
    #[test]
    fn chunked_decoding_equals_whole_buffer_parsing_on_frameish_streams(
        (version, stream) in frameish_stream(),
        sizes in prop::collection::vec(1usize..40, 1..8),
    ) {
        let parser = Parser::new().with_version(version);
        let whole = parse_loop(parser, &stream);
        prop_assert_eq!(decode_chunks(parser, &stream, &sizes), whole.clone());
        prop_assert_eq!(decode_chunks(parser, &stream, &[1]), whole);
    }

    /// (b'') With tiny limits: the same items; both fail or both leave the same partial
    /// item (which limit is named may differ, as the decoder checks them as data arrives).
    #[test]
    fn chunked_decoding_agrees_with_whole_buffer_parsing_under_tiny_limits(
        (version, stream) in frameish_stream(),
        limits in tiny_limits(),
        sizes in prop::collection::vec(1usize..40, 1..8),
    ) {
        let parser = Parser::new().with_version(version).with_limits(limits);
        let (whole_items, whole_end) = parse_loop(parser, &stream);
        for sizes in [&sizes[..], &[1]] {
            let (items, end) = decode_chunks(parser, &stream, sizes);
            prop_assert_eq!(&items, &whole_items);
            prop_assert_eq!(end.is_err(), whole_end.is_err());
            if end.is_ok() {
                prop_assert_eq!(end, whole_end);
            }
        }
    }

    /// (c) Escaping round-trips, and the length functions agree with the outputs.
    #[test]
    fn escape_unescape_round_trip(plain in stomp_bytes(64)) {
        for escaping in [Escaping::None, Escaping::V1_1, Escaping::V1_2] {
            let len = escape::escaped_len(escaping, &plain);
            let mut wire = vec![0u8; len];
            prop_assert_eq!(escape::escape_into(escaping, &plain, &mut wire), Ok(len));
            prop_assert_eq!(escape::validate(escaping, &wire), Ok(()));
            prop_assert_eq!(escape::unescaped_len(escaping, &wire), Ok(plain.len()));
            let mut back = vec![0u8; plain.len()];
            prop_assert_eq!(escape::unescape_into(escaping, &wire, &mut back).map(<[u8]>::to_vec), Ok(plain.clone()));
            prop_assert_eq!(escape::unescape(escaping, &wire).unwrap().into_owned(), plain.clone());
            prop_assert!(escape::eq_plain(escaping, &wire, &plain));
            prop_assert_eq!(escape::needs_unescape(escaping, &wire), len != plain.len());
            if escaping != Escaping::None {
                // Nothing the grammar uses as a delimiter is left raw.
                prop_assert!(!wire.contains(&b'\n') && !wire.contains(&b':'));
                if escaping == Escaping::V1_2 {
                    prop_assert!(!wire.contains(&b'\r'));
                }
            }
        }
    }

    /// (c') On arbitrary escaped input, the lengths agree with what decoding gives.
    #[test]
    fn unescaped_len_agrees_with_unescape(raw in stomp_bytes(64)) {
        for escaping in [Escaping::None, Escaping::V1_1, Escaping::V1_2] {
            let valid = escape::validate(escaping, &raw).is_ok();
            let mut out = vec![0u8; raw.len()];
            match escape::unescaped_len(escaping, &raw) {
                Ok(len) => {
                    prop_assert!(valid);
                    let decoded = escape::unescape_into(escaping, &raw, &mut out).unwrap().to_vec();
                    prop_assert_eq!(decoded.len(), len);
                    prop_assert!(escape::eq_plain(escaping, &raw, &decoded));
                    // Escaped input with no raw delimiter is canonical: it escapes back.
                    let raw_delimiter = escaping != Escaping::None
                        && (raw.contains(&b':') || raw.contains(&b'\n')
                            || (escaping == Escaping::V1_2 && raw.contains(&b'\r')));
                    if !raw_delimiter {
                        let mut again = vec![0u8; escape::escaped_len(escaping, &decoded)];
                        escape::escape_into(escaping, &decoded, &mut again).unwrap();
                        prop_assert_eq!(again, raw.clone());
                    }
                }
                Err(_) => {
                    prop_assert!(!valid);
                    prop_assert!(escape::unescape_into(escaping, &raw, &mut out).is_err());
                    prop_assert!(escape::unescape(escaping, &raw).is_err());
                }
            }
        }
    }

    /// (d) Arbitrary bytes never make the parser panic, under any version and tiny limits;
    /// a complete item takes at least one byte and no more than the buffer.
    #[test]
    fn parser_never_panics(
        input in stomp_bytes(96),
        version in version(),
        limits in tiny_limits(),
        storage_len in 0usize..6,
    ) {
        for parser in [
            Parser::new().with_version(version).with_limits(limits),
            Parser::new().with_version(version),
        ] {
            let mut storage = vec![Header::EMPTY; storage_len];
            if let Ok(Status::Complete((n, _))) = parser.parse(&input, &mut storage) {
                prop_assert!(n > 0 && n <= input.len());
            }
            let mut storage = vec![Header::EMPTY; storage_len];
            if let Ok(Status::Complete((n, _))) = parser.parse_frame(&input, &mut storage) {
                prop_assert!(n > 0 && n <= input.len());
            }
        }
    }

    /// (d) Arbitrary bytes in arbitrary chunks never make the decoder panic; what it
    /// decodes matches the parse loop until the first error.
    #[test]
    fn decoder_never_panics(
        input in stomp_bytes(160),
        version in version(),
        limits in tiny_limits(),
        sizes in prop::collection::vec(1usize..24, 1..6),
    ) {
        for parser in [
            Parser::new().with_version(version).with_limits(limits),
            Parser::new().with_version(version),
        ] {
            let (items, end) = decode_chunks(parser, &input, &sizes);
            let consumed: usize = items
                .iter()
                .map(|i| match i {
                    Seen::HeartBeat => 0,
                    Seen::Frame { len, .. } => *len,
                })
                .sum();
            prop_assert!(consumed <= input.len());
            let (whole_items, whole_end) = parse_loop(parser, &input);
            // Limits are checked as data arrives, so on a damaged frame the decoder may name
            // another error than the whole-buffer parse; but both fail, after the same items.
            prop_assert_eq!(items, whole_items);
            prop_assert_eq!(end.is_err(), whole_end.is_err());
            if end.is_ok() {
                prop_assert_eq!(end, whole_end);
            }
        }
    }
}
