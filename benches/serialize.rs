//! Serializing benches: `FrameBuilder::write_to` into a slice, `FrameBuilder::put` into a
//! reused `BytesMut`, and `Frame::write_to` re-serializing a parsed frame, for the same frames
//! as the parse benches.
//!
//! Run: `cargo bench --bench serialize -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stomp_proto::escape::unescape;
use stomp_proto::{Command, FrameBuilder, Header, Item, Parser, Status, Version};

mod common;
use common::Workload;

/// A workload's headers in plain (decoded) form, as an application would hold them.
struct Plain {
    command: Command,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

fn plain(w: &Workload) -> Plain {
    let mut storage = [Header::EMPTY; 16];
    let Ok(Status::Complete((_, Item::Frame(frame)))) = Parser::new().parse(&w.wire, &mut storage)
    else {
        panic!("{}: does not parse", w.name)
    };
    let escaping = frame.escaping();
    Plain {
        command: frame.command(),
        headers: frame
            .headers()
            .iter()
            .map(|h| {
                (
                    unescape(escaping, h.name).unwrap().into_owned(),
                    unescape(escaping, h.value).unwrap().into_owned(),
                )
            })
            .collect(),
        body: frame.body().to_vec(),
    }
}

fn builder(p: &Plain) -> FrameBuilder<'_> {
    let mut b = FrameBuilder::new(Version::V1_2, p.command).body(&p.body);
    for (name, value) in &p.headers {
        b = b.header_bytes(name, value);
    }
    b
}

fn builder_write_to(c: &mut Criterion) {
    let mut group = c.benchmark_group("serialize/builder_write_to");
    for w in common::frames() {
        let p = plain(&w);
        let mut out = vec![0u8; w.wire.len() + 64];
        // Check once: the builder writes exactly the fixture (LF endings, same order).
        let n = builder(&p).write_to(&mut out).unwrap();
        assert_eq!(&out[..n], &w.wire[..], "{}", w.name);
        common::checked(Workload {
            wire: out[..n].to_vec(),
            ..w
        });
        group.throughput(Throughput::Bytes(n as u64));
        group.bench_function(w.name, |b| {
            b.iter(|| black_box(builder(black_box(&p)).write_to(&mut out).unwrap()))
        });
    }
    group.finish();
}

fn builder_put(c: &mut Criterion) {
    let mut group = c.benchmark_group("serialize/builder_put_bytesmut");
    for w in common::frames() {
        let p = plain(&w);
        let mut out = BytesMut::with_capacity(w.wire.len());
        builder(&p).put(&mut out).unwrap();
        assert_eq!(&out[..], &w.wire[..], "{}", w.name);
        group.throughput(Throughput::Bytes(w.wire.len() as u64));
        group.bench_function(w.name, |b| {
            b.iter(|| {
                out.clear();
                black_box(builder(black_box(&p)).put(&mut out).unwrap())
            })
        });
    }
    group.finish();
}

fn frame_write_to(c: &mut Criterion) {
    let mut group = c.benchmark_group("serialize/frame_write_to");
    for w in common::frames() {
        let mut storage = [Header::EMPTY; 16];
        let Ok(Status::Complete((_, Item::Frame(frame)))) =
            Parser::new().parse(&w.wire, &mut storage)
        else {
            panic!("{}: does not parse", w.name)
        };
        common::check_frame(w.name, &frame, w.command, w.headers, w.body_len);
        let mut out = vec![0u8; w.wire.len() + 64];
        let n = frame.write_to(&mut out).unwrap();
        assert_eq!(&out[..n], &w.wire[..], "{}", w.name);
        group.throughput(Throughput::Bytes(n as u64));
        group.bench_function(w.name, |b| {
            b.iter(|| black_box(black_box(&frame).write_to(&mut out).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, builder_write_to, builder_put, frame_write_to);
criterion_main!(benches);
