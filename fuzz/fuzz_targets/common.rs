//! Helpers shared by the frame-layer fuzz targets.

#![allow(dead_code)] // each target uses a subset

use stomp_proto::{Command, Frame, Limits, Parser, Version};

/// The versions, indexed by two bits of a configuration byte (the fourth value repeats 1.2,
/// the version that matters most).
pub const VERSIONS: [Version; 4] = [Version::V1_0, Version::V1_1, Version::V1_2, Version::V1_2];

/// Limits small enough for the fuzzer to hit every one of them, and the defaults.
pub const LIMITS: [Limits; 4] = [
    Limits::DEFAULT,
    // Tiny: every limit is reachable with a few dozen bytes.
    Limits {
        max_frame_len: 64,
        max_headers: 3,
        max_header_line_len: 16,
        max_body_len: 8,
    },
    // Body limit above the frame limit, long lines: the limits interact.
    Limits {
        max_frame_len: 48,
        max_headers: 100,
        max_header_line_len: 1024,
        max_body_len: 4096,
    },
    // Zero-sized body and lines just long enough for a command.
    Limits {
        max_frame_len: 256,
        max_headers: 8,
        max_header_line_len: 11,
        max_body_len: 0,
    },
];

/// A parser chosen by the low four bits of `cfg`.
pub fn parser(cfg: u8) -> Parser {
    Parser::new()
        .with_version(VERSIONS[usize::from(cfg & 3)])
        .with_limits(LIMITS[usize::from((cfg >> 2) & 3)])
}

/// Header storage sizes chosen by bits 4 and 5 of the configuration byte.
pub const STORAGE: [usize; 4] = [16, 128, 0, 2];

/// A frame or heart-beat with everything owned, for comparing two parses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedItem {
    Frame {
        command: Command,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: Vec<u8>,
    },
    HeartBeat,
}

impl OwnedItem {
    pub fn from_frame(frame: &Frame<'_>) -> OwnedItem {
        OwnedItem::Frame {
            command: frame.command(),
            headers: frame
                .headers()
                .iter()
                .map(|h| (h.name.to_vec(), h.value.to_vec()))
                .collect(),
            body: frame.body().to_vec(),
        }
    }
}

/// Whether `inner` lies entirely within `outer`.
pub fn is_subslice(outer: &[u8], inner: &[u8]) -> bool {
    let start = outer.as_ptr() as usize;
    let at = inner.as_ptr() as usize;
    at >= start && at + inner.len() <= start + outer.len()
}
