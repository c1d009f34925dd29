#![cfg(feature = "alloc")]
//! The alloc layer: the resumable `Decoder`, `OwnedFrame`, `Encoder`.

use bytes::{Bytes, BytesMut};
use stomp_proto::codec::{Decoder, Encoder, OwnedFrame, OwnedItem};
use stomp_proto::{
    AckMode, Command, ContentLength, FrameBuilder, Header, HeartBeat, Item, Limits, ParseError,
    Parser, SerializeError, Status, Version,
};

/// Decodes everything `buf` holds, leaving a partial item in it.
fn drain(decoder: &mut Decoder, buf: &mut BytesMut) -> Result<Vec<OwnedItem>, ParseError> {
    let mut items = Vec::new();
    while let Some(item) = decoder.decode(buf)? {
        items.push(item);
    }
    Ok(items)
}

/// Feeds `input` `chunk` bytes at a time, decoding after each chunk.
fn feed(decoder: &mut Decoder, input: &[u8], chunk: usize) -> Result<Vec<OwnedItem>, ParseError> {
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        items.extend(drain(decoder, &mut buf)?);
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(items)
}

fn only_frame(items: &[OwnedItem]) -> &OwnedFrame {
    match items {
        [OwnedItem::Frame(f)] => f,
        other => panic!("expected one frame, got {other:?}"),
    }
}

const STREAM: &[u8] = b"\nCONNECTED\nversion:1.2\nheart-beat:0,1000\n\n\0\r\n\n\
MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/q\\ca\ncontent-length:3\n\na\0b\0\n\
\r\nRECEIPT\r\nreceipt-id:7\r\n\r\n\0";

fn check_stream_items(items: &[OwnedItem]) {
    let kinds: Vec<String> = items
        .iter()
        .map(|i| match i {
            OwnedItem::HeartBeat => "hb".to_string(),
            OwnedItem::Frame(f) => f.command().to_string(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "hb",
            "CONNECTED",
            "hb",
            "hb",
            "MESSAGE",
            "hb",
            "hb",
            "RECEIPT"
        ]
    );
    let OwnedItem::Frame(message) = &items[4] else {
        unreachable!()
    };
    assert_eq!(message.body(), b"a\0b");
    assert!(message.destination().unwrap() == "/q:a");
    let OwnedItem::Frame(receipt) = &items[7] else {
        unreachable!()
    };
    assert!(receipt.receipt_id().unwrap() == "7");
}

#[test]
fn decoder_splits_a_stream_of_frames_and_heartbeats() {
    for chunk in [STREAM.len(), 1, 2, 3, 7, 16] {
        let items = feed(&mut Decoder::new(), STREAM, chunk).unwrap();
        check_stream_items(&items);
    }
}

#[test]
fn decoder_whole_buffer_at_once() {
    let mut buf = BytesMut::from(STREAM);
    let items = drain(&mut Decoder::new(), &mut buf).unwrap();
    assert!(buf.is_empty());
    check_stream_items(&items);
}

fn one_mib_body(with_nul: bool) -> Vec<u8> {
    (0..1024 * 1024)
        .map(|i: usize| {
            let b = (i % 251) as u8;
            if with_nul || b != 0 {
                b
            } else {
                b'z'
            }
        })
        .collect()
}

#[test]
fn byte_at_a_time_1mib_body_with_content_length() {
    let body = one_mib_body(true);
    let wire = FrameBuilder::new(Version::V1_2, Command::Send)
        .header("destination", "/q")
        .body(&body)
        .to_vec()
        .unwrap();
    assert!(wire.starts_with(b"SEND\ndestination:/q\ncontent-length:1048576\n"));
    let items = feed(&mut Decoder::new(), &wire, 1).unwrap();
    let frame = only_frame(&items);
    assert_eq!(frame.body(), &body[..]);
    assert_eq!(frame.content_length(), Some(body.len()));
    assert_eq!(frame.as_bytes(), &wire[..]);
}

#[test]
fn byte_at_a_time_1mib_body_without_content_length() {
    let body = one_mib_body(false);
    let wire = FrameBuilder::new(Version::V1_2, Command::Send)
        .header("destination", "/q")
        .body(&body)
        .to_vec()
        .unwrap();
    assert!(wire.starts_with(b"SEND\ndestination:/q\n\n"));
    let items = feed(&mut Decoder::new(), &wire, 1).unwrap();
    let frame = only_frame(&items);
    assert_eq!(frame.body(), &body[..]);
    assert_eq!(frame.content_length(), None);
    // And in uneven chunks, with a heart-beat and a second frame after it.
    let mut stream = wire.clone();
    stream.extend_from_slice(b"\nDISCONNECT\n\n\0");
    let items = feed(&mut Decoder::new(), &stream, 4093).unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[1], OwnedItem::HeartBeat);
}

/// Feeds `input` a byte at a time; returns the error and how many bytes were fed by then.
fn first_error(parser: Parser, input: &[u8]) -> (ParseError, usize) {
    let mut decoder = Decoder::with_parser(parser);
    let mut buf = BytesMut::new();
    for (i, &b) in input.iter().enumerate() {
        buf.extend_from_slice(&[b]);
        match drain(&mut decoder, &mut buf) {
            Ok(items) => assert!(items.is_empty(), "unexpected {items:?}"),
            Err(e) => return (e, i + 1),
        }
    }
    panic!("no error")
}

#[test]
fn decoder_enforces_max_frame_len_while_partial() {
    let p = Parser::new().with_limits(Limits {
        max_frame_len: 64,
        ..Limits::DEFAULT
    });
    // In the body, with no content-length and no NUL ever.
    let mut body = b"SEND\n\n".to_vec();
    body.resize(1000, b'x');
    assert_eq!(first_error(p, &body), (ParseError::FrameTooLarge, 64));
    // Inside a header line much shorter than max_header_line_len.
    let mut header = b"SEND\nfoo:".to_vec();
    header.resize(1000, b'v');
    assert_eq!(first_error(p, &header), (ParseError::FrameTooLarge, 64));
    // With content-length: from the header block alone.
    let cl = b"SEND\ncontent-length:100\n\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    assert_eq!(first_error(p, cl), (ParseError::FrameTooLarge, 25));
    // Whole at once: the same errors.
    for input in [&body[..], &header[..]] {
        let mut buf = BytesMut::from(input);
        assert_eq!(
            Decoder::with_parser(p).decode(&mut buf),
            Err(ParseError::FrameTooLarge)
        );
    }
}

#[test]
fn decoder_enforces_max_headers_while_partial() {
    let p = Parser::new().with_limits(Limits {
        max_headers: 3,
        ..Limits::DEFAULT
    });
    let input = b"SEND\na:1\nb:2\nc:3\nd:4\ne:5\n\n\0";
    let (e, at) = first_error(p, input);
    assert_eq!(e, ParseError::HeaderCountLimit);
    assert!(at <= 21, "found after {at} bytes");
    let mut buf = BytesMut::from(&input[..]);
    assert_eq!(
        Decoder::with_parser(p).decode(&mut buf),
        Err(ParseError::HeaderCountLimit)
    );
}

#[test]
fn decoder_enforces_max_header_line_len_while_partial() {
    let p = Parser::new().with_limits(Limits {
        max_header_line_len: 16,
        ..Limits::DEFAULT
    });
    let mut header = b"SEND\nfoo:".to_vec();
    header.resize(10_000, b'v');
    // 16 octets plus a possible CR LF: the 18th octet without an LF is too many.
    assert_eq!(
        first_error(p, &header),
        (ParseError::HeaderLineTooLong, 5 + 18)
    );
    // A command line fails as soon as it stops being a prefix of a command, long before the
    // line limit, and at the same octet as a whole-buffer parse.
    let command = vec![b'S'; 10_000];
    assert_eq!(first_error(p, &command), (ParseError::UnknownCommand, 2));
    let mut long = b"UNSUBSCRIBE".to_vec();
    long.resize(10_000, b'E');
    assert_eq!(first_error(p, &long), (ParseError::UnknownCommand, 12));
}

#[test]
fn decoder_enforces_max_body_len_while_partial() {
    let p = Parser::new().with_limits(Limits {
        max_body_len: 100,
        ..Limits::DEFAULT
    });
    let mut body = b"SEND\n\n".to_vec();
    body.resize(10_000, b'x');
    assert_eq!(first_error(p, &body), (ParseError::BodyTooLarge, 6 + 101));
    let cl = b"SEND\ncontent-length:101\n\nxxxxxxxxxxxxxxx";
    assert_eq!(first_error(p, cl), (ParseError::BodyTooLarge, 25));
}

#[test]
fn decoder_reports_malformed_frames() {
    for (input, error) in [
        (&b"SEND\nfoo:\\t\n\n\0"[..], ParseError::InvalidEscape),
        (b"SEND\nfoo:a\rb\n\n\0", ParseError::BareCr),
        (b"SEND\ncontent-length:1\n\nab\0", ParseError::MissingNul),
        (b"SUBSCRIBE\nid:1\n\nx\0", ParseError::UnexpectedBody),
        (b"HELLO\n\n\0", ParseError::UnknownCommand),
        (b"\rX", ParseError::BareCr),
    ] {
        for chunk in [1, input.len()] {
            assert_eq!(
                feed(&mut Decoder::new(), input, chunk),
                Err(error),
                "{input:?} by {chunk}"
            );
        }
    }
}

#[test]
fn decoder_reports_header_block_errors_before_the_body() {
    // The header block is checked as soon as it ends, as the parser does, whatever the
    // chunking: the same error as a whole-buffer parse, and no body buffered first.
    for (input, error) in [
        (&b"SUBSCRIBE\nfoo:\\t\n\nx\0"[..], ParseError::InvalidEscape),
        (b"SUBSCRIBE\nfoo:a\rb\n\nx\0", ParseError::BareCr),
        (b"SEND\nfoo:\\\n\nbody\0", ParseError::InvalidEscape),
    ] {
        let mut storage = [stomp_proto::Header::EMPTY; 4];
        assert_eq!(Parser::new().parse(input, &mut storage), Err(error));
        let head = input.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
        for chunk in [1, 2, 5] {
            let mut decoder = Decoder::new();
            let mut buf = BytesMut::new();
            let mut got = Ok(Vec::new());
            for piece in input[..head].chunks(chunk) {
                buf.extend_from_slice(piece);
                got = drain(&mut decoder, &mut buf);
                if got.is_err() {
                    break;
                }
            }
            assert_eq!(got, Err(error), "{input:?} by {chunk}");
        }
    }
}

#[test]
fn decoder_follows_version_changes() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"CONNECTED\nversion:1.0\n\n\0NACK\nid:1\n\n\0"[..]);
    let Some(OwnedItem::Frame(connected)) = decoder.decode(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(connected.wire_version(), Version::V1_2);
    decoder.set_version(Version::V1_0);
    assert_eq!(decoder.parser().version(), Version::V1_0);
    assert_eq!(
        decoder.decode(&mut buf),
        Err(ParseError::CommandNotInVersion)
    );
}

#[test]
fn decoded_frames_share_the_read_buffer() {
    let mut buf = BytesMut::with_capacity(256);
    buf.extend_from_slice(b"MESSAGE\ndestination:/q\\c1\nmessage-id:9\n\nhello\0\n");
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();
    let Some(OwnedItem::Frame(frame)) = Decoder::new().decode(&mut buf).unwrap() else {
        panic!()
    };
    let range = |b: &[u8]| (b.as_ptr() as usize, b.as_ptr() as usize + b.len());
    let whole = range(frame.as_bytes());
    assert_eq!(whole.0, start, "the frame is the front of the read buffer");
    assert!(whole.1 <= end);
    let body = frame.body_bytes();
    assert_eq!(&body[..], b"hello");
    let (b0, b1) = range(&body);
    assert!(whole.0 <= b0 && b1 <= whole.1);
    assert_eq!(b0, start + frame.as_bytes().len() - 6);
    let dest = frame.header_bytes("destination").unwrap();
    assert_eq!(&dest[..], b"/q\\c1");
    let (d0, d1) = range(&dest);
    assert!(whole.0 <= d0 && d1 <= whole.1);
    assert_eq!(d0, start + b"MESSAGE\ndestination:".len());
    // Lookups compare decoded names; absent headers are None.
    assert!(frame.header_bytes("message-id").is_some());
    assert!(frame.header_bytes("nope").is_none());
    // The heart-beat after the frame stays in the buffer.
    assert_eq!(&buf[..], b"\n");
}

#[test]
fn owned_frame_accessors() {
    let bytes = Bytes::from_static(
        b"MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/q\\na\nack:client\n\
heart-beat:5,10\ncontent-type:text/plain\nfoo:1\nfoo:2\ncontent-length:2\n\nhi\0",
    );
    let frame =
        OwnedFrame::parse(&Parser::new().with_version(Version::V1_1), bytes.clone()).unwrap();
    assert_eq!(frame.command(), Command::Message);
    assert_eq!(frame.wire_version(), Version::V1_1);
    assert_eq!(frame.escaping(), stomp_proto::escape::Escaping::V1_1);
    assert_eq!(frame.as_bytes(), &bytes);
    assert_eq!(frame.body(), b"hi");
    assert_eq!(frame.headers().len(), 9);
    assert_eq!(frame.headers().nth(2).unwrap().value, b"/q\\na");
    assert!(frame.header("foo").unwrap() == "1");
    assert!(frame.destination().unwrap() == "/q\na");
    assert!(frame.subscription().unwrap() == "0");
    assert!(frame.message_id().unwrap() == "007");
    assert!(frame.content_type().unwrap() == "text/plain");
    assert_eq!(frame.ack_mode(), Ok(Some(AckMode::Client)));
    assert_eq!(frame.heart_beat(), Ok(Some(HeartBeat::new(5, 10))));
    assert_eq!(frame.content_length(), Some(2));
    assert_eq!(frame.accept_version(), Ok(None));
    assert!(frame.receipt().is_none());
    let mut out = BytesMut::new();
    frame.put(&mut out);
    assert_eq!(&out[..], &bytes[..]);
    // Clones share the bytes.
    let clone = frame.clone();
    assert_eq!(clone, frame);
    assert_eq!(clone.as_bytes().as_ptr(), frame.as_bytes().as_ptr());
}

#[test]
fn owned_frame_parse_takes_exactly_one_frame() {
    let p = Parser::new();
    let f = OwnedFrame::parse(&p, Bytes::from_static(b"SEND\n\nx\0\r\n\n")).unwrap();
    assert_eq!(f.as_bytes(), &b"SEND\n\nx\0"[..]);
    assert!(OwnedFrame::parse(&p, Bytes::from_static(b"SEND\n\nx\0SEND\n\n\0")).is_err());
    assert_eq!(
        OwnedFrame::parse(&p, Bytes::from_static(b"SEND\n\nx")),
        Err(ParseError::MissingNul)
    );
    assert_eq!(
        OwnedFrame::parse(&p, Bytes::from_static(b"SEND\nfoo:\\t\n\n\0")),
        Err(ParseError::InvalidEscape)
    );
}

#[test]
fn owned_frame_from_builder() {
    let builder = FrameBuilder::new(Version::V1_2, Command::Send)
        .header("destination", "/q:1")
        .header("k", "a\r\nb")
        .body(b"x\0y");
    let frame = OwnedFrame::from_builder(&builder).unwrap();
    assert_eq!(frame.command(), Command::Send);
    assert_eq!(frame.wire_version(), Version::V1_2);
    assert!(frame.destination().unwrap() == "/q:1");
    assert!(frame.header("k").unwrap() == "a\r\nb");
    assert_eq!(frame.body(), b"x\0y");
    assert_eq!(frame.content_length(), Some(3));
    assert_eq!(&frame.as_bytes()[..], &builder.to_vec().unwrap()[..]);

    let full = FrameBuilder::<1>::with_room(Version::V1_2, Command::Send)
        .header("a", "1")
        .header("b", "2");
    assert_eq!(
        OwnedFrame::from_builder(&full),
        Err(SerializeError::TooManyHeaders)
    );
    let bodied = FrameBuilder::new(Version::V1_1, Command::Begin).body(b"x");
    assert_eq!(
        OwnedFrame::from_builder(&bodied),
        Err(SerializeError::UnexpectedBody)
    );
}

#[test]
fn encoder_appends_frames_that_decode_back() {
    let mut out = BytesMut::new();
    let b1 = FrameBuilder::new(Version::V1_2, Command::Send)
        .header("destination", "/a")
        .body(b"one")
        .content_length(ContentLength::WhenBody);
    let b2 = FrameBuilder::new(Version::V1_2, Command::Ack).header("id", "x:1");
    let n1 = Encoder.encode(&b1, &mut out).unwrap();
    assert_eq!(n1, b1.encoded_len().unwrap());
    let n2 = Encoder.encode(&b2, &mut out).unwrap();
    assert_eq!(out.len(), n1 + n2);
    let owned = OwnedFrame::from_builder(&b1).unwrap();
    Encoder.encode_owned(&owned, &mut out);
    let bad = FrameBuilder::new(Version::V1_2, Command::Ack).body(b"no");
    assert_eq!(
        Encoder.encode(&bad, &mut out),
        Err(SerializeError::UnexpectedBody)
    );
    assert_eq!(out.len(), n1 + n2 + owned.as_bytes().len());

    let items = drain(&mut Decoder::new(), &mut out).unwrap();
    assert!(out.is_empty());
    let frames: Vec<&OwnedFrame> = items
        .iter()
        .map(|i| match i {
            OwnedItem::Frame(f) => f,
            OwnedItem::HeartBeat => panic!(),
        })
        .collect();
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[0].body(), b"one");
    assert!(frames[1].id().unwrap() == "x:1");
    assert_eq!(*frames[2], owned);
}

/// Header spans are kept inline up to a point and on the heap past it: every count around
/// that point gives the borrowed parser's headers, lookups, equality and hashing.
#[test]
fn owned_frame_headers_at_every_count() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    for count in 0..=24 {
        let mut wire = b"MESSAGE\n".to_vec();
        for i in 0..count {
            wire.extend_from_slice(format!("h{i}:v\\c{i}\n").as_bytes());
        }
        wire.extend_from_slice(b"\nbody\0");
        let mut storage = [Header::EMPTY; 32];
        let Ok(Status::Complete((_, Item::Frame(borrowed)))) =
            Parser::new().parse(&wire, &mut storage)
        else {
            panic!("{count} headers: does not parse")
        };
        let mut buf = BytesMut::from(&wire[..]);
        let items = drain(&mut Decoder::new(), &mut buf).unwrap();
        let owned = only_frame(&items);
        assert!(
            owned.headers().eq(borrowed.headers().iter().copied()),
            "{count}"
        );
        for i in 0..count {
            let want = format!("v:{i}");
            assert!(owned.header(&format!("h{i}")).unwrap() == want.as_str());
        }
        assert!(owned.header("h99").is_none());
        let copy = OwnedFrame::parse(&Parser::new(), Bytes::from(wire.clone())).unwrap();
        assert_eq!(&copy, owned);
        let hash = |f: &OwnedFrame| {
            let mut h = DefaultHasher::new();
            f.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&copy), hash(owned));
        assert_eq!(owned.body(), b"body");
    }
}
