//! stomp-proto against the Rust STOMP crates on crates.io, decoding and encoding the same
//! frames: one criterion group per operation and frame, so one run shows the ratios.
//!
//! Run: `cargo bench --manifest-path benches/peers/Cargo.toml -- --warm-up-time 1 --measurement-time 3`
//!
//! Peers (dependencies of this bench package only, none with a borrowed API):
//!
//! - `iridium-stomp` 0.6: `StompCodec`, a `tokio_util` codec for any frame, into an owned
//!   `Frame { command: String, headers: Vec<(String, String)>, body: Vec<u8> }`; encodes any
//!   frame.
//! - `async-stomp` 0.7 and `tokio-stomp-2` 0.3: a *client* `ClientCodec` (winnow / nom 4)
//!   that decodes only server frames (MESSAGE, not SEND) into typed enums and encodes only
//!   client frames (SEND, not MESSAGE). Their frame parsers are private, so "decode SEND" and
//!   "encode MESSAGE" have no entry for them.
//! - `stomp-parser` 0.8: nom 7, `ClientFrame` / `ServerFrame::try_from(Vec<u8>)` (it takes
//!   the buffer by value, so the bench clones it outside the timing); encoding goes through
//!   its frame builders (`build()` serializes, `Into<Vec<u8>>` hands the bytes over).
//!
//! A baseline, `memchr-lines`, splits lines with memchr and checks nothing: a floor for what
//! a parser that has to look at every line can cost.
//!
//! Every entry is checked once, before timing, to have found the frame's headers and body.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use memchr::memchr;
use stomp_proto::codec::{Decoder as ProtoDecoder, OwnedItem};
use stomp_proto::{Command, FrameBuilder, Header, Item, Parser, Status, Version};
use tokio_util::codec::{Decoder as _, Encoder as _};

#[path = "../common/mod.rs"]
mod common;
use common::{Workload, JSON_BODY};

// ---------------------------------------------------------------------------------------------
// The frames, in the forms each crate wants.

/// The headline MESSAGE's headers, plain, in wire order.
const MESSAGE_HEADERS: [(&str, &str); 8] = [
    ("subscription", "sub-00000001"),
    (
        "message-id",
        "T_sub-0001@@session-Bq7yUu3LJxTF0Fp2oh4bKA@@1234",
    ),
    ("destination", "/topic/market.prices.eu.equities"),
    ("ack", "ack-5f4e3d2c1b0a-000123456"),
    ("content-type", "application/json;charset=utf-8"),
    ("content-length", "200"),
    ("timestamp", "1700000000123"),
    ("priority", "4"),
];

const SEND_HEADERS: [(&str, &str); 2] =
    [("destination", "/queue/a"), ("content-type", "text/plain")];
const SEND_BODY: &[u8] = b"hello world";

fn proto_builder<'a>(
    command: Command,
    headers: &[(&'a str, &'a str)],
    body: &'a [u8],
) -> FrameBuilder<'a> {
    let mut b = FrameBuilder::new(Version::V1_2, command).body(body);
    for &(name, value) in headers {
        b = b.header(name, value);
    }
    b
}

fn iridium_frame(command: &str, headers: &[(&str, &str)], body: &[u8]) -> iridium_stomp::Frame {
    let mut f = iridium_stomp::Frame::new(command);
    for &(name, value) in headers {
        f = f.header(name, value);
    }
    f.set_body(body)
}

fn async_stomp_send() -> async_stomp::Message<async_stomp::ToServer> {
    async_stomp::ToServer::Send {
        destination: "/queue/a".into(),
        transaction: None,
        headers: Some(vec![("content-type".into(), "text/plain".into())]),
        body: Some(SEND_BODY.to_vec()),
    }
    .into()
}

fn tokio_stomp_send() -> tokio_stomp_2::Message<tokio_stomp_2::ToServer> {
    tokio_stomp_2::ToServer::Send {
        destination: "/queue/a".into(),
        transaction: None,
        headers: Some(vec![("content-type".into(), "text/plain".into())]),
        body: Some(SEND_BODY.to_vec()),
    }
    .into()
}

fn stomp_parser_message() -> stomp_parser::server::MessageFrameBuilder {
    let mut b = stomp_parser::server::MessageFrameBuilder::new(
        MESSAGE_HEADERS[1].1.to_owned(),
        MESSAGE_HEADERS[2].1.to_owned(),
        MESSAGE_HEADERS[0].1.to_owned(),
    )
    .content_type(MESSAGE_HEADERS[4].1.to_owned())
    .content_length(200);
    for &(name, value) in [MESSAGE_HEADERS[3], MESSAGE_HEADERS[6], MESSAGE_HEADERS[7]].iter() {
        b = b.add_custom_header(name.to_owned(), value.to_owned());
    }
    b.body(JSON_BODY.to_vec())
}

fn stomp_parser_send() -> stomp_parser::client::SendFrameBuilder {
    stomp_parser::client::SendFrameBuilder::new("/queue/a".to_owned())
        .content_type("text/plain".to_owned())
        .body(SEND_BODY.to_vec())
}

// ---------------------------------------------------------------------------------------------
// Decoders, each returning what the checks look at: header count and body length.

fn proto_borrowed<'b>(wire: &'b [u8], storage: &mut [Header<'b>; 16]) -> (usize, usize) {
    match Parser::new().parse(wire, storage) {
        Ok(Status::Complete((_, Item::Frame(f)))) => (f.headers().len(), f.body().len()),
        other => panic!("stomp-proto: {other:?}"),
    }
}

fn proto_owned(buf: &mut BytesMut, decoder: &mut ProtoDecoder) -> (usize, usize) {
    match decoder.decode(buf) {
        Ok(Some(OwnedItem::Frame(f))) => (f.headers().len(), f.body().len()),
        other => panic!("stomp-proto decoder: {other:?}"),
    }
}

/// Splits lines with memchr; checks nothing, decodes nothing.
fn memchr_lines<'b>(buf: &'b [u8], headers: &mut [(&'b [u8], &'b [u8]); 16]) -> (usize, usize) {
    let mut pos = memchr(b'\n', buf).expect("command") + 1;
    let mut n = 0;
    loop {
        let i = memchr(b'\n', &buf[pos..]).expect("line");
        let line = &buf[pos..pos + i];
        pos += i + 1;
        if line.is_empty() {
            break;
        }
        let colon = memchr(b':', line).expect("colon");
        headers[n] = (&line[..colon], &line[colon + 1..]);
        n += 1;
    }
    let body = memchr(0, &buf[pos..]).expect("NUL");
    (n, body)
}

fn iridium_decode(buf: &mut BytesMut) -> (usize, usize) {
    match iridium_stomp::StompCodec::new().decode(buf) {
        Ok(Some(iridium_stomp::StompItem::Frame(f))) => (f.headers.len(), f.body.len()),
        other => panic!("iridium-stomp: {other:?}"),
    }
}

fn async_stomp_decode(buf: &mut BytesMut) -> (usize, usize) {
    let msg = async_stomp::client::ClientCodec::new().decode(buf);
    match msg {
        Ok(Some(async_stomp::Message {
            content: async_stomp::FromServer::Message { headers, body, .. },
            ..
        })) => (headers.len(), body.map_or(0, |b| b.len())),
        other => panic!("async-stomp: {other:?}"),
    }
}

fn tokio_stomp_decode(buf: &mut BytesMut) -> (usize, usize) {
    match tokio_stomp_2::client::ClientCodec.decode(buf) {
        Ok(Some(tokio_stomp_2::Message {
            content: tokio_stomp_2::FromServer::Message { headers, body, .. },
            ..
        })) => (headers.len(), body.map_or(0, |b| b.len())),
        other => panic!("tokio-stomp-2: {other:?}"),
    }
}

fn stomp_parser_decode_message(bytes: Vec<u8>) -> (usize, usize) {
    use stomp_parser::server::ServerFrame;
    match ServerFrame::try_from(bytes) {
        Ok(ServerFrame::Message(f)) => {
            // message-id, destination, subscription, content-type, content-length, custom.
            let optional =
                usize::from(f.content_type().is_some()) + usize::from(f.content_length().is_some());
            (
                3 + optional + f.custom.len(),
                f.body().map_or(0, <[u8]>::len),
            )
        }
        other => panic!("stomp-parser: {:?}", other.map(|_| "not a MESSAGE")),
    }
}

fn stomp_parser_decode_send(bytes: Vec<u8>) -> (usize, usize) {
    use stomp_parser::client::ClientFrame;
    match ClientFrame::try_from(bytes) {
        Ok(ClientFrame::Send(f)) => {
            let optional = usize::from(f.content_type().is_some())
                + usize::from(f.content_length().is_some())
                + usize::from(f.transaction().is_some())
                + usize::from(f.receipt().is_some());
            (
                1 + optional + f.custom.len(),
                f.body().map_or(0, <[u8]>::len),
            )
        }
        other => panic!("stomp-parser: {:?}", other.map(|_| "not a SEND")),
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding.

fn decode_group(c: &mut Criterion, w: &Workload, server_frame: bool) {
    let expect = (w.headers, w.body_len);
    let fresh = || BytesMut::from(&w.wire[..]);
    let mut group = c.benchmark_group(format!("peers/decode/{}", w.name));
    group.throughput(Throughput::Bytes(w.wire.len() as u64));

    let mut storage = [Header::EMPTY; 16];
    assert_eq!(proto_borrowed(&w.wire, &mut storage), expect);
    group.bench_function("stomp-proto Parser::parse (borrowed)", |b| {
        b.iter(|| black_box(proto_borrowed(black_box(&w.wire), &mut storage)))
    });

    assert_eq!(proto_owned(&mut fresh(), &mut ProtoDecoder::new()), expect);
    group.bench_function("stomp-proto Decoder::decode (owned)", |b| {
        b.iter_batched_ref(
            || (fresh(), ProtoDecoder::new()),
            |(buf, decoder)| black_box(proto_owned(buf, decoder)),
            BatchSize::SmallInput,
        )
    });

    let mut lines = [(&b""[..], &b""[..]); 16];
    assert_eq!(memchr_lines(&w.wire, &mut lines), expect);
    group.bench_function("baseline memchr-lines (no checks)", |b| {
        b.iter(|| black_box(memchr_lines(black_box(&w.wire), &mut lines)))
    });

    assert_eq!(iridium_decode(&mut fresh()), expect);
    group.bench_function("iridium-stomp", |b| {
        b.iter_batched_ref(
            fresh,
            |buf| black_box(iridium_decode(buf)),
            BatchSize::SmallInput,
        )
    });

    if server_frame {
        assert_eq!(async_stomp_decode(&mut fresh()), expect);
        group.bench_function("async-stomp", |b| {
            b.iter_batched_ref(
                fresh,
                |buf| black_box(async_stomp_decode(buf)),
                BatchSize::SmallInput,
            )
        });

        assert_eq!(tokio_stomp_decode(&mut fresh()), expect);
        group.bench_function("tokio-stomp-2", |b| {
            b.iter_batched_ref(
                fresh,
                |buf| black_box(tokio_stomp_decode(buf)),
                BatchSize::SmallInput,
            )
        });
    }

    let decode = if server_frame {
        stomp_parser_decode_message
    } else {
        stomp_parser_decode_send
    };
    assert_eq!(decode(w.wire.clone()), expect);
    group.bench_function("stomp-parser", |b| {
        b.iter_batched(
            || w.wire.clone(),
            |v| black_box(decode(v)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    decode_group(c, &common::message_470(), true);
    decode_group(c, &common::send_small(), false);
}

/// One streaming decode call of each crate, as its connection would make it: the frame's
/// header count and body length, or `None` when it needs more bytes; panics on anything else.
#[inline(always)]
fn next_proto(decoder: &mut ProtoDecoder, buf: &mut BytesMut) -> Option<(usize, usize)> {
    match decoder.decode(buf) {
        Ok(Some(OwnedItem::Frame(f))) => Some((f.headers().len(), f.body().len())),
        Ok(None) => None,
        other => panic!("stomp-proto decoder: {other:?}"),
    }
}

#[inline(always)]
fn next_iridium(
    codec: &mut iridium_stomp::StompCodec,
    buf: &mut BytesMut,
) -> Option<(usize, usize)> {
    match codec.decode(buf) {
        Ok(Some(iridium_stomp::StompItem::Frame(f))) => Some((f.headers.len(), f.body.len())),
        Ok(None) => None,
        other => panic!("iridium-stomp: {other:?}"),
    }
}

#[inline(always)]
fn next_async_stomp(
    codec: &mut async_stomp::client::ClientCodec,
    buf: &mut BytesMut,
) -> Option<(usize, usize)> {
    match codec.decode(buf) {
        Ok(Some(async_stomp::Message {
            content: async_stomp::FromServer::Message { headers, body, .. },
            ..
        })) => Some((headers.len(), body.map_or(0, |b| b.len()))),
        Ok(None) => None,
        other => panic!("async-stomp: {other:?}"),
    }
}

#[inline(always)]
fn next_tokio_stomp(
    codec: &mut tokio_stomp_2::client::ClientCodec,
    buf: &mut BytesMut,
) -> Option<(usize, usize)> {
    match codec.decode(buf) {
        Ok(Some(tokio_stomp_2::Message {
            content: tokio_stomp_2::FromServer::Message { headers, body, .. },
            ..
        })) => Some((headers.len(), body.map_or(0, |b| b.len()))),
        Ok(None) => None,
        other => panic!("tokio-stomp-2: {other:?}"),
    }
}

/// How many back-to-back copies of the MESSAGE the streaming rows decode from one buffer.
const STREAM_COPIES: usize = 100;

/// Takes every frame off `buf` with `next` (a `tokio_util` style decoder call returning each
/// frame's header count and body length) until it says it needs more; panics unless each is
/// `expect`. Returns the number of frames.
#[inline(always)]
fn drain(
    buf: &mut BytesMut,
    expect: (usize, usize),
    mut next: impl FnMut(&mut BytesMut) -> Option<(usize, usize)>,
) -> usize {
    let mut frames = 0;
    while let Some(got) = next(buf) {
        assert_eq!(got, expect, "frame {frames}");
        frames += 1;
    }
    frames
}

/// Streaming decode, like for like: one read buffer holding [`STREAM_COPIES`] back-to-back
/// copies of the MESSAGE, decoded to exhaustion by each crate's streaming decoder (one
/// decoder per buffer, as per connection). The throughput is per frame, so the medians
/// divided by [`STREAM_COPIES`] compare with the one-frame rows. Every frame is checked (header
/// count and body length, two compares, the same for every entry), and each entry once before
/// timing to yield all the frames and leave nothing. stomp-parser has no streaming decoder (it takes one frame's `Vec` by value), so
/// it has no row here.
fn decode_stream(c: &mut Criterion) {
    let w = common::message_470();
    let expect = (w.headers, w.body_len);
    let wire = w.wire.repeat(STREAM_COPIES);
    let fresh = || BytesMut::from(&wire[..]);

    #[inline(never)]
    fn stream_proto(buf: &mut BytesMut, expect: (usize, usize)) -> usize {
        let mut codec = ProtoDecoder::new();
        drain(buf, expect, |buf| next_proto(&mut codec, buf))
    }
    #[inline(never)]
    fn stream_iridium(buf: &mut BytesMut, expect: (usize, usize)) -> usize {
        let mut codec = iridium_stomp::StompCodec::new();
        drain(buf, expect, |buf| next_iridium(&mut codec, buf))
    }
    #[inline(never)]
    fn stream_async_stomp(buf: &mut BytesMut, expect: (usize, usize)) -> usize {
        let mut codec = async_stomp::client::ClientCodec::new();
        drain(buf, expect, |buf| next_async_stomp(&mut codec, buf))
    }
    #[inline(never)]
    fn stream_tokio_stomp(buf: &mut BytesMut, expect: (usize, usize)) -> usize {
        let mut codec = tokio_stomp_2::client::ClientCodec;
        drain(buf, expect, |buf| next_tokio_stomp(&mut codec, buf))
    }
    // The borrowed parser over the same buffer, for reference.
    let borrowed = |wire: &[u8]| {
        let parser = Parser::new();
        let mut storage = [Header::EMPTY; 16];
        let (mut pos, mut frames) = (0, 0);
        while pos < wire.len() {
            match parser.parse(&wire[pos..], &mut storage) {
                Ok(Status::Complete((n, Item::Frame(f)))) => {
                    assert_eq!((f.headers().len(), f.body().len()), expect);
                    pos += n;
                    frames += 1;
                }
                other => panic!("stomp-proto: {other:?}"),
            }
        }
        frames
    };

    // Checked once before timing: every frame comes out and nothing is left.
    // Each decoder's loop is a function of its own, never inlined, so that callgrind can
    // count one buffer's instructions: `--toggle-collect='peers::decode_stream::stream_*'`.
    type Run = fn(&mut BytesMut, (usize, usize)) -> usize;
    let rows: [(&str, Run); 4] = [
        ("stomp-proto Decoder::decode (owned)", stream_proto),
        ("iridium-stomp", stream_iridium),
        ("async-stomp", stream_async_stomp),
        ("tokio-stomp-2", stream_tokio_stomp),
    ];
    for (name, run) in rows {
        let mut buf = fresh();
        assert_eq!(run(&mut buf, expect), STREAM_COPIES, "{name}: frames");
        assert!(buf.is_empty(), "{name}: {} bytes left", buf.len());
    }
    assert_eq!(borrowed(&wire), STREAM_COPIES);

    let mut group = c.benchmark_group(format!("peers/decode_stream_{STREAM_COPIES}/{}", w.name));
    group.throughput(Throughput::Elements(STREAM_COPIES as u64));
    group.bench_function("stomp-proto Parser::parse (borrowed)", |b| {
        b.iter(|| black_box(borrowed(black_box(&wire))))
    });
    for (name, run) in rows {
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                fresh,
                |buf| black_box(run(buf, expect)),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// Encoding.

/// Panics unless `wire` is one frame with `command`, `headers` headers and `body`.
fn check_encoded(who: &str, wire: &[u8], command: Command, headers: usize, body: &[u8]) {
    let mut storage = [Header::EMPTY; 16];
    match Parser::new().parse(wire, &mut storage) {
        Ok(Status::Complete((n, Item::Frame(f)))) => {
            assert_eq!(n, wire.len(), "{who}: trailing bytes");
            assert_eq!(f.command(), command, "{who}");
            assert_eq!(f.headers().len(), headers, "{who}: {f:?}");
            assert_eq!(f.body(), body, "{who}");
        }
        other => panic!(
            "{who}: wrote {:?}: {other:?}",
            wire.escape_ascii().to_string()
        ),
    }
}

/// Fills a MESSAGE builder by value, a `header` call per header, and puts it into `dst`.
/// Never inlined (nor is the next one), so that callgrind can count one call:
/// `--toggle-collect='peers::fill_*'`.
#[inline(never)]
fn fill_chained_put(headers: &[(&str, &str)], dst: &mut BytesMut) -> usize {
    proto_builder(Command::Message, headers, JSON_BODY)
        .put(dst)
        .unwrap()
}

/// Fills a MESSAGE builder in place (`extend_headers`, `set_body`: the builder is never
/// copied) and puts it into `dst`.
#[inline(never)]
fn fill_in_place_put(headers: &[(&str, &str)], dst: &mut BytesMut) -> usize {
    let mut builder = FrameBuilder::new(Version::V1_2, Command::Message);
    builder.extend_headers(headers).unwrap();
    builder.set_body(JSON_BODY);
    builder.put(dst).unwrap()
}

fn encode_message(c: &mut Criterion) {
    let w = common::message_470();
    let mut group = c.benchmark_group(format!("peers/encode/{}", w.name));
    group.throughput(Throughput::Bytes(w.wire.len() as u64));
    let mut dst = BytesMut::with_capacity(1024);

    let builder = proto_builder(Command::Message, &MESSAGE_HEADERS, JSON_BODY);
    builder.put(&mut dst).unwrap();
    assert_eq!(&dst[..], &w.wire[..]);
    // Like for like with the peers below: the frame exists, only serializing is timed.
    group.bench_function(
        "stomp-proto FrameBuilder::put (builder filled outside timing)",
        |b| {
            b.iter(|| {
                dst.clear();
                black_box(black_box(&builder).put(&mut dst).unwrap())
            })
        },
    );
    dst.clear();
    fill_chained_put(&MESSAGE_HEADERS, &mut dst);
    assert_eq!(&dst[..], &w.wire[..]);
    group.bench_function("stomp-proto FrameBuilder filled + put", |b| {
        b.iter(|| {
            dst.clear();
            black_box(fill_chained_put(black_box(&MESSAGE_HEADERS), &mut dst))
        })
    });
    // The same, filled in place: no copy of the builder's 16 header slots per header.
    dst.clear();
    fill_in_place_put(&MESSAGE_HEADERS, &mut dst);
    assert_eq!(&dst[..], &w.wire[..]);
    group.bench_function("stomp-proto FrameBuilder filled in place + put", |b| {
        b.iter(|| {
            dst.clear();
            black_box(fill_in_place_put(black_box(&MESSAGE_HEADERS), &mut dst))
        })
    });
    // Relaying: a parsed frame written back out, headers as they came.
    let mut storage = [Header::EMPTY; 16];
    let Ok(Status::Complete((_, Item::Frame(parsed)))) = Parser::new().parse(&w.wire, &mut storage)
    else {
        panic!("stomp-proto: the workload does not parse")
    };
    dst.clear();
    parsed.put(&mut dst).unwrap();
    assert_eq!(&dst[..], &w.wire[..]);
    group.bench_function("stomp-proto Frame::put (parsed frame)", |b| {
        b.iter(|| {
            dst.clear();
            black_box(black_box(&parsed).put(&mut dst).unwrap())
        })
    });

    let frame = iridium_frame("MESSAGE", &MESSAGE_HEADERS, JSON_BODY);
    dst.clear();
    let mut codec = iridium_stomp::StompCodec::new();
    codec
        .encode(iridium_stomp::StompItem::Frame(frame.clone()), &mut dst)
        .unwrap();
    // iridium escapes `:` in values too; none here, so the bytes are ours exactly.
    check_encoded("iridium-stomp", &dst, Command::Message, 8, JSON_BODY);
    group.bench_function("iridium-stomp (frame built outside timing)", |b| {
        b.iter_batched(
            || iridium_stomp::StompItem::Frame(frame.clone()),
            |item| {
                dst.clear();
                codec.encode(item, &mut dst).unwrap();
                black_box(dst.len())
            },
            BatchSize::SmallInput,
        )
    });

    let bytes: Vec<u8> = stomp_parser_message().build().into();
    check_encoded("stomp-parser", &bytes, Command::Message, 8, JSON_BODY);
    group.bench_function("stomp-parser (builder filled outside timing)", |b| {
        b.iter_batched(
            stomp_parser_message,
            |builder| {
                let bytes: Vec<u8> = builder.build().into();
                black_box(bytes)
            },
            BatchSize::SmallInput,
        )
    });
    // async-stomp and tokio-stomp-2 encode only client frames: no MESSAGE.
    group.finish();
}

fn encode_send(c: &mut Criterion) {
    let w = common::send_small();
    let mut group = c.benchmark_group(format!("peers/encode/{}", w.name));
    group.throughput(Throughput::Bytes(w.wire.len() as u64));
    let mut dst = BytesMut::with_capacity(1024);

    let builder = proto_builder(Command::Send, &SEND_HEADERS, SEND_BODY);
    builder.put(&mut dst).unwrap();
    assert_eq!(&dst[..], &w.wire[..]);
    group.bench_function(
        "stomp-proto FrameBuilder::put (builder filled outside timing)",
        |b| {
            b.iter(|| {
                dst.clear();
                black_box(black_box(&builder).put(&mut dst).unwrap())
            })
        },
    );
    group.bench_function("stomp-proto FrameBuilder filled + put", |b| {
        b.iter(|| {
            dst.clear();
            let builder = proto_builder(Command::Send, black_box(&SEND_HEADERS), SEND_BODY);
            black_box(builder.put(&mut dst).unwrap())
        })
    });

    let frame = iridium_frame("SEND", &SEND_HEADERS, SEND_BODY);
    dst.clear();
    let mut codec = iridium_stomp::StompCodec::new();
    codec
        .encode(iridium_stomp::StompItem::Frame(frame.clone()), &mut dst)
        .unwrap();
    check_encoded("iridium-stomp", &dst, Command::Send, 2, SEND_BODY);
    group.bench_function("iridium-stomp (frame built outside timing)", |b| {
        b.iter_batched(
            || iridium_stomp::StompItem::Frame(frame.clone()),
            |item| {
                dst.clear();
                codec.encode(item, &mut dst).unwrap();
                black_box(dst.len())
            },
            BatchSize::SmallInput,
        )
    });

    dst.clear();
    let mut codec = async_stomp::client::ClientCodec::new();
    codec.encode(async_stomp_send(), &mut dst).unwrap();
    check_encoded("async-stomp", &dst, Command::Send, 2, SEND_BODY);
    group.bench_function("async-stomp (message built outside timing)", |b| {
        b.iter_batched(
            async_stomp_send,
            |msg| {
                dst.clear();
                codec.encode(msg, &mut dst).unwrap();
                black_box(dst.len())
            },
            BatchSize::SmallInput,
        )
    });

    dst.clear();
    let mut codec = tokio_stomp_2::client::ClientCodec;
    codec.encode(tokio_stomp_send(), &mut dst).unwrap();
    check_encoded("tokio-stomp-2", &dst, Command::Send, 2, SEND_BODY);
    group.bench_function("tokio-stomp-2 (message built outside timing)", |b| {
        b.iter_batched(
            tokio_stomp_send,
            |msg| {
                dst.clear();
                codec.encode(msg, &mut dst).unwrap();
                black_box(dst.len())
            },
            BatchSize::SmallInput,
        )
    });

    let bytes: Vec<u8> = stomp_parser_send().build().into();
    check_encoded("stomp-parser", &bytes, Command::Send, 2, SEND_BODY);
    group.bench_function("stomp-parser (builder filled outside timing)", |b| {
        b.iter_batched(
            stomp_parser_send,
            |builder| {
                let bytes: Vec<u8> = builder.build().into();
                black_box(bytes)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// A frame trickling in.

/// Appends `wire` to `buf` a byte at a time, taking every frame off with `next` after each
/// byte (as a connection reading one byte per `read` would); returns the frames seen.
#[inline(always)]
fn trickle(
    wire: &[u8],
    buf: &mut BytesMut,
    expect: (usize, usize),
    mut next: impl FnMut(&mut BytesMut) -> Option<(usize, usize)>,
) -> usize {
    let mut frames = 0;
    for &byte in wire {
        buf.extend_from_slice(&[byte]);
        frames += drain(buf, expect, &mut next);
    }
    frames
}

/// The MESSAGE fed one byte per call to each crate's streaming decoder (a decoder per frame,
/// as per connection). A decoder that starts over on every call costs time quadratic in the
/// frame's length; one that remembers how far it got, linear. Each entry is checked once
/// before timing to yield exactly the frame, at its last byte, and leave nothing.
fn decode_byte_at_a_time(c: &mut Criterion) {
    let w = common::message_470();
    let expect = (w.headers, w.body_len);

    #[inline(never)]
    fn trickle_proto(wire: &[u8], buf: &mut BytesMut, expect: (usize, usize)) -> usize {
        let mut codec = ProtoDecoder::new();
        trickle(wire, buf, expect, |buf| next_proto(&mut codec, buf))
    }
    #[inline(never)]
    fn trickle_iridium(wire: &[u8], buf: &mut BytesMut, expect: (usize, usize)) -> usize {
        let mut codec = iridium_stomp::StompCodec::new();
        trickle(wire, buf, expect, |buf| next_iridium(&mut codec, buf))
    }
    #[inline(never)]
    fn trickle_async_stomp(wire: &[u8], buf: &mut BytesMut, expect: (usize, usize)) -> usize {
        let mut codec = async_stomp::client::ClientCodec::new();
        trickle(wire, buf, expect, |buf| next_async_stomp(&mut codec, buf))
    }
    #[inline(never)]
    fn trickle_tokio_stomp(wire: &[u8], buf: &mut BytesMut, expect: (usize, usize)) -> usize {
        let mut codec = tokio_stomp_2::client::ClientCodec;
        trickle(wire, buf, expect, |buf| next_tokio_stomp(&mut codec, buf))
    }

    type Run = fn(&[u8], &mut BytesMut, (usize, usize)) -> usize;
    let rows: [(&str, Run); 4] = [
        ("stomp-proto Decoder::decode (owned)", trickle_proto),
        ("iridium-stomp", trickle_iridium),
        ("async-stomp", trickle_async_stomp),
        ("tokio-stomp-2", trickle_tokio_stomp),
    ];
    let mut group = c.benchmark_group(format!("peers/decode_byte_at_a_time/{}", w.name));
    group.throughput(Throughput::Bytes(w.wire.len() as u64));
    for (name, run) in rows {
        let mut buf = BytesMut::with_capacity(w.wire.len());
        assert_eq!(run(&w.wire, &mut buf, expect), 1, "{name}: frames");
        assert!(buf.is_empty(), "{name}: {} bytes left", buf.len());
        // The frame comes out at the last byte, not before.
        let mut buf = BytesMut::with_capacity(w.wire.len());
        assert_eq!(
            run(&w.wire[..w.wire.len() - 1], &mut buf, expect),
            0,
            "{name}: a frame before its NUL"
        );
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || BytesMut::with_capacity(w.wire.len()),
                |buf| black_box(run(&w.wire, buf, expect)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    decode,
    decode_stream,
    decode_byte_at_a_time,
    encode_message,
    encode_send
);
criterion_main!(benches);
