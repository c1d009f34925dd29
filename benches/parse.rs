//! Parsing benches: the borrowed `Parser::parse`, the owned `codec::Decoder::decode`, and the
//! resumable decoder fed one byte at a time.
//!
//! Run: `cargo bench --bench parse -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use stomp_proto::codec::{Decoder, OwnedItem};
use stomp_proto::escape::unescape_into;
use stomp_proto::{Header, Item, ParseError, Parser, Status};

mod common;
use common::{Workload, STREAM_FRAMES, STREAM_HEART_BEATS};

/// The borrowed parser on one whole frame.
fn borrowed(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse/borrowed");
    for w in common::frames() {
        group.throughput(Throughput::Bytes(w.wire.len() as u64));
        let parser = Parser::new();
        group.bench_function(w.name, |b| {
            let mut headers = [Header::EMPTY; 16];
            b.iter(|| {
                let Ok(Status::Complete((n, Item::Frame(frame)))) =
                    parser.parse(black_box(&w.wire), &mut headers)
                else {
                    unreachable!("checked before timing")
                };
                black_box((n, frame.body().len()));
            })
        });
    }
    group.finish();
}

/// Parsing the escaped frame and then decoding every header name and value, which is what a
/// caller that wants every header in plain form pays.
fn borrowed_decode_all(c: &mut Criterion) {
    let w = common::escaped();
    let mut group = c.benchmark_group("parse/borrowed+unescape_all");
    group.throughput(Throughput::Bytes(w.wire.len() as u64));
    let parser = Parser::new();
    group.bench_function(w.name, |b| {
        let mut headers = [Header::EMPTY; 16];
        let mut plain = [0u8; 256];
        b.iter(|| {
            let Ok(Status::Complete((_, Item::Frame(frame)))) =
                parser.parse(black_box(&w.wire), &mut headers)
            else {
                unreachable!("checked before timing")
            };
            let escaping = frame.escaping();
            let mut total = 0;
            for h in frame.headers() {
                total += unescape_into(escaping, h.name, &mut plain).unwrap().len();
                total += unescape_into(escaping, h.value, &mut plain).unwrap().len();
            }
            black_box(total);
        })
    });
    group.finish();
}

/// Decodes one frame with a fresh decoder from a fresh `BytesMut` (built outside the timing),
/// dropping the `OwnedFrame` inside it.
fn decode_once(w: &Workload) -> (BytesMut, Decoder) {
    (BytesMut::from(&w.wire[..]), Decoder::new())
}

fn check_owned(w: &Workload, item: Option<OwnedItem>) {
    let Some(OwnedItem::Frame(frame)) = item else {
        panic!("{}: decoder gave {item:?}", w.name)
    };
    assert_eq!(frame.command(), w.command, "{}", w.name);
    assert_eq!(frame.headers().len(), w.headers, "{}", w.name);
    assert_eq!(frame.body().len(), w.body_len, "{}", w.name);
}

/// The owned decoder on one whole frame.
fn owned(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse/decoder_whole");
    for w in common::frames() {
        let (mut buf, mut decoder) = decode_once(&w);
        check_owned(&w, decoder.decode(&mut buf).unwrap());
        assert!(buf.is_empty());
        group.throughput(Throughput::Bytes(w.wire.len() as u64));
        group.bench_function(w.name, |b| {
            b.iter_batched_ref(
                || decode_once(&w),
                |(buf, decoder)| {
                    let item = decoder.decode(buf);
                    black_box(&item);
                    drop(item);
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// Feeds `wire` to a decoder one byte per read; returns the frames and heart-beats seen.
#[inline(never)]
fn byte_at_a_time(wire: &[u8], buf: &mut BytesMut, decoder: &mut Decoder) -> (usize, usize) {
    let (mut frames, mut beats) = (0, 0);
    for &byte in wire {
        buf.extend_from_slice(&[byte]);
        while let Some(item) = decoder.decode(buf).unwrap() {
            match item {
                OwnedItem::Frame(frame) => {
                    frames += 1;
                    black_box(frame.body().len());
                }
                OwnedItem::HeartBeat => beats += 1,
            }
        }
    }
    (frames, beats)
}

/// [`byte_at_a_time`] with the result matched where it lies: `while let Some(item) =
/// decode(..)?` (or `.unwrap()`) first moves the whole `Option<OwnedItem>` (128 bytes) out of
/// the `Result` on every call, before looking at it; a `match` on the `Result` does not.
#[inline(never)]
fn byte_at_a_time_match(wire: &[u8], buf: &mut BytesMut, decoder: &mut Decoder) -> (usize, usize) {
    let (mut frames, mut beats) = (0, 0);
    for &byte in wire {
        buf.extend_from_slice(&[byte]);
        loop {
            match decoder.decode(buf) {
                Ok(Some(OwnedItem::Frame(frame))) => {
                    frames += 1;
                    black_box(frame.body().len());
                }
                Ok(Some(OwnedItem::HeartBeat)) => beats += 1,
                Ok(None) => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
    (frames, beats)
}

/// What any caller of a resumable decoder pays per byte, decoder aside: it appends the byte
/// to the `BytesMut` and calls a function (never inlined, as `decode_slow` is not) that
/// returns the decoder's own result type, here always `Ok(None)` (the compiler cannot know:
/// the buffer is never empty). The byte-at-a-time rows minus this one are the decoder's own
/// cost.
#[inline(never)]
fn floor_call(buf: &mut BytesMut) -> Result<Option<OwnedItem>, ParseError> {
    if black_box(buf.is_empty()) {
        return Err(ParseError::MissingNul);
    }
    Ok(None)
}

/// [`byte_at_a_time_floor`] matching the result in place, as [`byte_at_a_time_match`] does.
#[inline(never)]
fn byte_at_a_time_floor_match(wire: &[u8], buf: &mut BytesMut) -> usize {
    let mut items = 0;
    for &byte in wire {
        buf.extend_from_slice(&[byte]);
        loop {
            match floor_call(buf) {
                Ok(Some(item)) => {
                    black_box(item);
                    items += 1;
                }
                Ok(None) => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
    items
}

#[inline(never)]
fn byte_at_a_time_floor(wire: &[u8], buf: &mut BytesMut) -> usize {
    let mut items = 0;
    for &byte in wire {
        buf.extend_from_slice(&[byte]);
        while let Some(item) = floor_call(buf).unwrap() {
            black_box(item);
            items += 1;
        }
    }
    items
}

/// The resumable decoder, one byte per call, against the whole-buffer numbers above.
fn owned_bytewise(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse/decoder_byte_at_a_time");
    for w in [common::message_470(), common::binary_64k()] {
        let mut buf = BytesMut::with_capacity(w.wire.len());
        let mut decoder = Decoder::new();
        // One complete frame comes out, at the last byte.
        let mut last = None;
        for (i, &byte) in w.wire.iter().enumerate() {
            buf.extend_from_slice(&[byte]);
            let item = decoder.decode(&mut buf).unwrap();
            assert_eq!(
                item.is_some(),
                i + 1 == w.wire.len(),
                "{}: byte {i}",
                w.name
            );
            last = item.or(last);
        }
        check_owned(&w, last);
        group.throughput(Throughput::Bytes(w.wire.len() as u64));
        group.bench_function(w.name, |b| {
            b.iter_batched_ref(
                || (BytesMut::with_capacity(w.wire.len()), Decoder::new()),
                |(buf, decoder)| black_box(byte_at_a_time(&w.wire, buf, decoder)),
                BatchSize::SmallInput,
            )
        });
        let mut buf = BytesMut::with_capacity(w.wire.len());
        assert_eq!(byte_at_a_time_floor(&w.wire, &mut buf), 0);
        assert_eq!(&buf[..], &w.wire[..]);
        let floor = format!(
            "{}/floor (append + call returning Ok(None), no decoder)",
            w.name
        );
        group.bench_function(floor, |b| {
            b.iter_batched_ref(
                || BytesMut::with_capacity(w.wire.len()),
                |buf| black_box(byte_at_a_time_floor(&w.wire, buf)),
                BatchSize::SmallInput,
            )
        });
        if w.wire.len() > 1024 {
            continue;
        }
        // The same two, the caller matching the result in place instead of `.unwrap()`.
        let mut buf = BytesMut::with_capacity(w.wire.len());
        assert_eq!(
            byte_at_a_time_match(&w.wire, &mut buf, &mut Decoder::new()),
            (1, 0)
        );
        assert!(buf.is_empty());
        group.bench_function(format!("{}/match", w.name), |b| {
            b.iter_batched_ref(
                || (BytesMut::with_capacity(w.wire.len()), Decoder::new()),
                |(buf, decoder)| black_box(byte_at_a_time_match(&w.wire, buf, decoder)),
                BatchSize::SmallInput,
            )
        });
        let mut buf = BytesMut::with_capacity(w.wire.len());
        assert_eq!(byte_at_a_time_floor_match(&w.wire, &mut buf), 0);
        assert_eq!(&buf[..], &w.wire[..]);
        group.bench_function(format!("{}/match/floor", w.name), |b| {
            b.iter_batched_ref(
                || BytesMut::with_capacity(w.wire.len()),
                |buf| black_box(byte_at_a_time_floor_match(&w.wire, buf)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// 1000 frames with heart-beats between them, through both APIs.
fn stream(c: &mut Criterion) {
    let wire = common::stream();
    let template = common::message_470();
    let parser = Parser::new();

    let borrowed_loop = |wire: &[u8]| {
        let mut headers = [Header::EMPTY; 16];
        let (mut pos, mut frames, mut beats) = (0, 0, 0);
        while pos < wire.len() {
            match parser.parse(&wire[pos..], &mut headers) {
                Ok(Status::Complete((n, item))) => {
                    match item {
                        Item::Frame(frame) => {
                            frames += 1;
                            black_box(frame.body().len());
                        }
                        Item::HeartBeat => beats += 1,
                    }
                    pos += n;
                }
                other => panic!("stream at {pos}: {other:?}"),
            }
        }
        (frames, beats)
    };
    let owned_loop = |buf: &mut BytesMut, decoder: &mut Decoder| {
        let (mut frames, mut beats) = (0, 0);
        while let Some(item) = decoder.decode(buf).unwrap() {
            match item {
                OwnedItem::Frame(frame) => {
                    frames += 1;
                    black_box(frame.body().len());
                }
                OwnedItem::HeartBeat => beats += 1,
            }
        }
        (frames, beats)
    };

    // Check once: every frame and heart-beat, and each frame the right one.
    assert_eq!(borrowed_loop(&wire), (STREAM_FRAMES, STREAM_HEART_BEATS));
    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(
        owned_loop(&mut buf, &mut Decoder::new()),
        (STREAM_FRAMES, STREAM_HEART_BEATS)
    );
    assert!(buf.is_empty());
    let mut headers = [Header::EMPTY; 16];
    let mut pos = 0;
    while pos < wire.len() {
        if let Ok(Status::Complete((n, item))) = parser.parse(&wire[pos..], &mut headers) {
            if let Item::Frame(frame) = item {
                common::check_frame(
                    "stream",
                    &frame,
                    template.command,
                    template.headers,
                    template.body_len,
                );
            }
            pos += n;
        }
    }

    let mut group = c.benchmark_group("parse/stream_1000_frames");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("borrowed", |b| {
        b.iter(|| black_box(borrowed_loop(black_box(&wire))))
    });
    group.bench_function("decoder", |b| {
        b.iter_batched_ref(
            || (BytesMut::from(&wire[..]), Decoder::new()),
            |(buf, decoder)| black_box(owned_loop(buf, decoder)),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    borrowed,
    borrowed_decode_all,
    owned,
    owned_bytewise,
    stream
);
criterion_main!(benches);
