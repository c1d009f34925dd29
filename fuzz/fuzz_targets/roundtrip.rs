//! Structure-aware: frames built with `FrameBuilder` from arbitrary plain headers and body.
//!
//! - The builder fails exactly when the frame cannot be encoded (an oracle below predicts the
//!   error), and every way of writing (`write_to`, `to_vec`, `put`, `write_frame`, `Encoder`,
//!   `OwnedFrame::from_builder`) writes the same bytes, `encoded_len` of them.
//! - What it writes parses back to the same command, the same *decoded* headers (plus the
//!   `content-length` it added, if any) and the same body; in 1.0 values come back trimmed of
//!   spaces and tabs, as 1.0 servers trim them.
//! - Parse, `Frame::write_to`, parse again gives the same frame.

#![no_main]

use arbitrary::Arbitrary;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use stomp_proto::codec::{Encoder, OwnedFrame};
use stomp_proto::escape::{self, Escaping};
use stomp_proto::serialize::write_frame;
use stomp_proto::{
    Command, ContentLength, FrameBuilder, Header, Item, Limits, Parser, SerializeError, Status,
    Version,
};

mod common;
use common::OwnedItem;

/// Room in the builder; more headers than this must fail with `TooManyHeaders`.
const ROOM: usize = 12;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    version: u8,
    command: u8,
    policy: u8,
    headers: Vec<(&'a [u8], &'a [u8])>,
    body: &'a [u8],
}

/// What the serializer must say about a frame, computed independently of it.
fn expected_error(
    version: Version,
    command: Command,
    headers: &[(&[u8], &[u8])],
    body: &[u8],
) -> Option<SerializeError> {
    if headers.len() > ROOM {
        return Some(SerializeError::TooManyHeaders);
    }
    if !command.exists_in(version) {
        return Some(SerializeError::CommandNotInVersion);
    }
    if !body.is_empty() && version != Version::V1_0 && !command.may_have_body() {
        return Some(SerializeError::UnexpectedBody);
    }
    let escaped = Escaping::for_frame(version, command) != Escaping::None;
    // Octets that cannot be carried unescaped: LF always, CR in 1.2 (where CR LF ends lines).
    let unsafe_octet = |b: &u8| *b == b'\n' || (version == Version::V1_2 && *b == b'\r');
    let mut content_length_seen = false;
    for &(name, value) in headers {
        if name.is_empty() || (!escaped && (name.contains(&b':') || name.iter().any(unsafe_octet)))
        {
            return Some(SerializeError::InvalidHeaderName);
        }
        if !escaped && value.iter().any(unsafe_octet) {
            return Some(SerializeError::InvalidHeaderValue);
        }
        if !content_length_seen && name == b"content-length" {
            content_length_seen = true;
            let ok = !value.is_empty()
                && value.iter().all(u8::is_ascii_digit)
                && core::str::from_utf8(value).unwrap().parse::<usize>() == Ok(body.len());
            if !ok {
                return Some(SerializeError::ContentLengthMismatch);
            }
        }
    }
    None
}

/// A 1.0 value as a 1.0 parser reads it: trimmed of spaces and tabs at both ends.
fn trim_1_0(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fuzz_target!(|input: Input<'_>| {
    let version = common::VERSIONS[usize::from(input.version & 3)];
    let command = Command::ALL[usize::from(input.command) % Command::ALL.len()];
    let policy = match input.policy % 3 {
        0 => ContentLength::WhenNeeded,
        1 => ContentLength::WhenBody,
        _ => ContentLength::Always,
    };
    let mut builder = FrameBuilder::<ROOM>::with_room(version, command)
        .body(input.body)
        .content_length(policy);
    for &(name, value) in &input.headers {
        builder = builder.header_bytes(name, value);
    }

    let expected = expected_error(version, command, &input.headers, input.body);
    let len = match builder.encoded_len() {
        Err(e) => {
            assert_eq!(Some(e), expected, "{input:?}");
            let mut out = [0xAAu8; 64];
            assert_eq!(builder.write_to(&mut out), Err(e));
            assert!(out.iter().all(|&b| b == 0xAA), "written on error");
            assert_eq!(builder.to_vec(), Err(e));
            return;
        }
        Ok(len) => {
            assert_eq!(expected, None, "{input:?}");
            len
        }
    };

    // Every way of writing writes the same bytes.
    let bytes = builder.to_vec().unwrap();
    assert_eq!(bytes.len(), len);
    let mut out = vec![0u8; len + 1];
    assert_eq!(builder.write_to(&mut out), Ok(len));
    assert_eq!(&out[..len], &bytes[..]);
    assert_eq!(
        builder.write_to(&mut out[..len - 1]),
        Err(SerializeError::BufferTooSmall { required: len })
    );
    let mut put = BytesMut::new();
    assert_eq!(builder.put(&mut put), Ok(len));
    assert_eq!(&put[..], &bytes[..]);
    let mut encoded = BytesMut::from(&b"x"[..]);
    assert_eq!(Encoder.encode(&builder, &mut encoded), Ok(len));
    assert_eq!(&encoded[1..], &bytes[..]);
    if policy == ContentLength::WhenNeeded {
        let mut out2 = vec![0u8; len];
        assert_eq!(
            write_frame(
                version,
                command,
                builder.headers(),
                input.body,
                policy,
                &mut out2
            ),
            Ok(len)
        );
        assert_eq!(out2, bytes);
    }
    let owned = OwnedFrame::from_builder(&builder).expect("what the builder writes parses");
    assert_eq!(&owned.as_bytes()[..], &bytes[..]);

    // It parses back to the same decoded headers and body.
    let parser = Parser::new()
        .with_version(version)
        .with_limits(Limits::UNLIMITED);
    let mut storage = vec![Header::EMPTY; input.headers.len() + 1];
    let frame = match parser.parse(&bytes, &mut storage) {
        Ok(Status::Complete((n, Item::Frame(frame)))) => {
            assert_eq!(n, len);
            frame
        }
        other => panic!("{:?} parses as {other:?}", bytes.escape_ascii().to_string()),
    };
    assert_eq!(frame.command(), command);
    assert_eq!(frame.body(), input.body);
    let escaping = frame.escaping();
    let parsed = frame.headers();
    let added = parsed.len() - input.headers.len();
    assert!(added <= 1);
    for (h, &(name, value)) in parsed.iter().zip(&input.headers) {
        assert_eq!(&escape::unescape(escaping, h.name).unwrap()[..], name);
        let value = if version == Version::V1_0 {
            trim_1_0(value)
        } else {
            value
        };
        assert_eq!(&escape::unescape(escaping, h.value).unwrap()[..], value);
        assert!(escape::eq_plain(escaping, h.value, value));
    }
    if added == 1 {
        let last = parsed.last().unwrap();
        assert_eq!(last.name, b"content-length");
        assert_eq!(last.value, input.body.len().to_string().as_bytes());
    }

    // Parse, write, parse: the same frame.
    let first = OwnedItem::from_frame(&frame);
    let again_len = frame.encoded_len().unwrap();
    let mut again = vec![0u8; again_len];
    assert_eq!(frame.write_to(&mut again), Ok(again_len));
    let mut storage2 = vec![Header::EMPTY; parsed.len() + 1];
    match parser.parse(&again, &mut storage2) {
        Ok(Status::Complete((n, Item::Frame(frame2)))) => {
            assert_eq!(n, again_len);
            assert_eq!(OwnedItem::from_frame(&frame2), first);
        }
        other => panic!("re-serialized frame parses as {other:?}"),
    }
});
