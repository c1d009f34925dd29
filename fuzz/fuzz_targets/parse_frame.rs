//! The borrowed parser on arbitrary bytes.
//!
//! Input: one configuration byte (version, limits, header storage size; see `common`), then
//! the bytes to parse. Checks, beyond "no panic":
//!
//! - a complete item lies within the input, a frame ends with its NUL, its headers and body
//!   are slices of it, and it respects every limit;
//! - content-length, when present, is the body length, and a body without it has no NUL;
//! - a `Partial` never holds more bytes than the limits allow to be buffered;
//! - results are prefix-stable: the frame alone parses the same, a shorter prefix is
//!   `Partial`, and an error stays the same error whatever follows;
//! - `OwnedFrame::parse` agrees with the borrowed frame;
//! - `Frame::write_to` succeeds, reports its exact length, and parses back to the same frame.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use stomp_proto::codec::OwnedFrame;
use stomp_proto::escape::{self, Escaping};
use stomp_proto::{Header, Item, Limits, Parser, SerializeError, Status};

mod common;
use common::{is_subslice, OwnedItem};

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, buf)) = data.split_first() else {
        return;
    };
    let parser = common::parser(cfg);
    let limits = *parser.limits();
    let room = common::STORAGE[usize::from((cfg >> 4) & 3)];
    let mut storage = vec![Header::EMPTY; room];

    let result = parser.parse(buf, &mut storage);
    let (n, frame) = match result {
        Err(e) => {
            // Whatever arrives later cannot undo an error.
            let mut longer = buf.to_vec();
            longer.extend_from_slice(buf);
            longer.extend_from_slice(b"\n\n\0");
            let mut storage2 = vec![Header::EMPTY; room];
            assert_eq!(parser.parse(&longer, &mut storage2).err(), Some(e));
            return;
        }
        Ok(Status::Partial) => {
            // The most a parser may buffer before it knows the item is too large: a frame
            // under the limit, then one line's worth of searching.
            let bound = limits
                .max_frame_len
                .saturating_add(limits.max_header_line_len)
                .saturating_add(2);
            assert!(buf.len() <= bound, "Partial after {} bytes", buf.len());
            return;
        }
        Ok(Status::Complete((n, Item::HeartBeat))) => {
            assert!(&buf[..n] == b"\n" || &buf[..n] == b"\r\n");
            return;
        }
        Ok(Status::Complete((n, Item::Frame(frame)))) => (n, frame),
    };

    // Within bounds, and a frame ends at its NUL.
    assert!(n >= 1 && n <= buf.len());
    let wire = &buf[..n];
    assert_eq!(wire[n - 1], 0);
    assert!(n <= limits.max_frame_len);
    assert!(frame.headers().len() <= limits.max_headers);
    assert!(frame.headers().len() <= room);
    assert!(frame.body().len() <= limits.max_body_len);
    assert!(wire.starts_with(frame.command().as_str().as_bytes()));

    // Headers and body are slices of the frame's bytes, the body right before the NUL.
    assert!(is_subslice(wire, frame.body()));
    assert_eq!(
        frame.body().as_ptr() as usize + frame.body().len(),
        wire.as_ptr() as usize + n - 1
    );
    let escaping = frame.escaping();
    for h in frame.headers() {
        assert!(is_subslice(wire, h.name) && is_subslice(wire, h.value));
        assert!(!h.name.is_empty());
        assert!(!h.name.contains(&b':') && !h.name.contains(&b'\n') && !h.value.contains(&b'\n'));
        assert!(h.name.len() + 1 + h.value.len() <= limits.max_header_line_len);
        assert!(escape::validate(escaping, h.name).is_ok());
        assert!(escape::validate(escaping, h.value).is_ok());
        if frame.wire_version() == stomp_proto::Version::V1_2 {
            assert!(!h.name.contains(&b'\r') && !h.value.contains(&b'\r'));
        }
    }

    // Body framing.
    match frame.headers().iter().find(|h| h.name == b"content-length") {
        Some(h) => {
            let digits = core::str::from_utf8(h.value).unwrap();
            assert_eq!(digits.parse::<usize>().unwrap(), frame.body().len());
        }
        None => assert!(!frame.body().contains(&0)),
    }
    if escaping == Escaping::None {
        // CONNECT / CONNECTED and 1.0: nothing to decode, lookups compare raw bytes.
        for h in frame.headers() {
            assert!(!escape::needs_unescape(escaping, h.value));
        }
    }

    // Prefix stability.
    let expected = OwnedItem::from_frame(&frame);
    let mut storage2 = vec![Header::EMPTY; room];
    match parser.parse(wire, &mut storage2) {
        Ok(Status::Complete((m, Item::Frame(again)))) => {
            assert_eq!(m, n);
            assert_eq!(OwnedItem::from_frame(&again), expected);
        }
        other => panic!("the frame alone parses as {other:?}"),
    }
    for cut in [n - 1, n / 2, usize::from(cfg) % n] {
        assert_eq!(
            parser.parse(&wire[..cut], &mut storage2),
            Ok(Status::Partial),
            "prefix of {cut} bytes"
        );
    }

    // The owned frame agrees.
    let owned = OwnedFrame::parse(&parser, Bytes::copy_from_slice(wire)).unwrap();
    assert_eq!(owned.command(), frame.command());
    assert_eq!(owned.body(), frame.body());
    assert!(owned.headers().eq(frame.headers().iter().copied()));
    assert_eq!(owned.as_bytes(), wire);

    // Re-serializing gives a frame that parses back to the same frame.
    let len = frame.encoded_len().expect("a parsed frame can be written");
    let mut out = vec![0u8; len];
    assert_eq!(frame.write_to(&mut out), Ok(len));
    if len > 0 {
        assert_eq!(
            frame.write_to(&mut out[..len - 1]),
            Err(SerializeError::BufferTooSmall { required: len })
        );
    }
    let relaxed = Parser::new()
        .with_version(frame.wire_version())
        .with_limits(Limits::UNLIMITED);
    let mut storage3 = vec![Header::EMPTY; frame.headers().len() + 1];
    match relaxed.parse(&out, &mut storage3) {
        Ok(Status::Complete((m, Item::Frame(again)))) => {
            assert_eq!(m, len);
            assert_eq!(OwnedItem::from_frame(&again), expected);
        }
        other => panic!("re-serialized frame parses as {other:?}"),
    }
    // LF line endings only: never longer than the input.
    assert!(len <= n);
});
