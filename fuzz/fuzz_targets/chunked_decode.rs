//! The resumable `codec::Decoder`, fed the input in fuzzer-chosen chunks, against a
//! whole-buffer `Parser::parse` loop over the same bytes.
//!
//! They must yield exactly the same items *and* end the same way: both run out of bytes
//! (`Partial` / `Ok(None)`), or both fail with the same error.
//!
//! Requiring the same error, not only the same items before it, is deliberate. Every error
//! the parser reports is decided by a prefix of the input: once a prefix is an error, no
//! later byte can make it valid or change which rule it broke (lines are checked in order,
//! each limit as soon as it is exceeded, the header block once it is complete). The decoder
//! only ever sees prefixes of what the whole-buffer loop sees and, once all chunks are in,
//! the same bytes; so a chunked error that differs from the whole-buffer one would mean a
//! check that depends on how the bytes arrived, which is a bug.
//!
//! Header storage for the borrowed parser is one more than the limit allows, so its
//! `TooManyHeaders` (a caller-storage error the decoder cannot have) never comes first.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use stomp_proto::codec::{Decoder, OwnedItem as DecodedItem};
use stomp_proto::{Header, Item, ParseError, Status};

mod common;
use common::OwnedItem;

/// The input, read from plain bytes so that seeds are easy to write: a configuration byte,
/// a count `k`, `k` chunk sizes, then the stream.
#[derive(Debug)]
struct Input<'a> {
    cfg: u8,
    /// Chunk sizes, cycled; 0 means "call decode again with nothing new".
    chunks: &'a [u8],
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn read(bytes: &'a [u8]) -> Option<Input<'a>> {
        let (&cfg, rest) = bytes.split_first()?;
        let (&k, rest) = rest.split_first()?;
        let k = usize::from(k).min(rest.len());
        let (chunks, data) = rest.split_at(k);
        Some(Input { cfg, chunks, data })
    }
}

fuzz_target!(|bytes: &[u8]| {
    let Some(input) = Input::read(bytes) else {
        return;
    };
    let parser = common::parser(input.cfg);
    let limits = *parser.limits();
    let data = input.data;

    // The reference: whole buffer, borrowed parser.
    let mut expected = Vec::new();
    let mut storage = vec![Header::EMPTY; limits.max_headers.min(1000) + 1];
    let mut pos = 0;
    let expected_end: Result<(), ParseError> = loop {
        match parser.parse(&data[pos..], &mut storage) {
            Ok(Status::Complete((n, item))) => {
                expected.push(match item {
                    Item::Frame(frame) => OwnedItem::from_frame(&frame),
                    Item::HeartBeat => OwnedItem::HeartBeat,
                });
                pos += n;
            }
            Ok(Status::Partial) => break Ok(()),
            Err(e) => break Err(e),
        }
    };

    // The decoder, chunk by chunk.
    let mut decoder = Decoder::with_parser(parser);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut fed = 0;
    let mut step = 0;
    let mut zeros = 0;
    let mut got_end = Ok(());
    'feed: loop {
        let mut size = match input.chunks.get(step % input.chunks.len().max(1)) {
            Some(&s) => usize::from(s),
            None => data.len(),
        };
        step += 1;
        // Zero-sized chunks call decode again with nothing new; a run of them as long as the
        // chunk list would loop forever, so then take one byte.
        zeros = if size == 0 { zeros + 1 } else { 0 };
        if zeros > input.chunks.len() {
            size = 1;
            zeros = 0;
        }
        let end = data.len().min(fed + size);
        buf.extend_from_slice(&data[fed..end]);
        fed = end;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(DecodedItem::Frame(frame))) => got.push(OwnedItem::Frame {
                    command: frame.command(),
                    headers: frame
                        .headers()
                        .map(|h| (h.name.to_vec(), h.value.to_vec()))
                        .collect(),
                    body: frame.body().to_vec(),
                }),
                Ok(Some(DecodedItem::HeartBeat)) => got.push(OwnedItem::HeartBeat),
                Ok(None) => break,
                Err(e) => {
                    got_end = Err(e);
                    break 'feed;
                }
            }
            assert!(got.len() <= expected.len(), "decoder yields more items");
        }
        if fed == data.len() {
            break;
        }
    }

    assert_eq!(got, expected);
    assert_eq!(got_end, expected_end);
    if got_end.is_ok() {
        // Whatever is left is the unfinished item, exactly.
        assert_eq!(&buf[..], &data[pos..]);
    }
});
