//! Escaping: `escape_into`, `escaped_len`, `validate`, `needs_unescape`, `unescaped_len`,
//! `unescape_into`, `unescape` and `eq_plain` against each other and against the byte-at-a-time
//! reference below.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use stomp_proto::escape::{self, Escaping};
use stomp_proto::{SerializeError, UnescapeError};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    escaping: u8,
    /// Decoded as an escaped wire value.
    raw: &'a [u8],
    /// Escaped as a plain value, and compared with `raw`.
    plain: &'a [u8],
}

/// The octet `\x` stands for, per the STOMP 1.1 / 1.2 escaping tables.
fn reference_escape_of(escaping: Escaping, x: u8) -> Option<u8> {
    match (escaping, x) {
        (Escaping::None, _) => None,
        (_, b'n') => Some(b'\n'),
        (_, b'c') => Some(b':'),
        (_, b'\\') => Some(b'\\'),
        (Escaping::V1_2, b'r') => Some(b'\r'),
        _ => None,
    }
}

/// Decodes with a plain loop; `None` on an undefined escape or a trailing backslash.
fn reference_unescape(escaping: Escaping, raw: &[u8]) -> Option<Vec<u8>> {
    if escaping == Escaping::None {
        return Some(raw.to_vec());
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            out.push(reference_escape_of(escaping, *raw.get(i + 1)?)?);
            i += 2;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Encodes with a plain loop.
fn reference_escape(escaping: Escaping, plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in plain {
        match (escaping, b) {
            (Escaping::None, _) => out.push(b),
            (_, b'\n') => out.extend_from_slice(b"\\n"),
            (_, b':') => out.extend_from_slice(b"\\c"),
            (_, b'\\') => out.extend_from_slice(b"\\\\"),
            (Escaping::V1_2, b'\r') => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
    out
}

fuzz_target!(|input: Input<'_>| {
    let escaping =
        [Escaping::None, Escaping::V1_1, Escaping::V1_2][usize::from(input.escaping % 3)];
    let raw = input.raw;

    // Decoding `raw`.
    let reference = reference_unescape(escaping, raw);
    assert_eq!(escape::validate(escaping, raw).is_ok(), reference.is_some());
    assert_eq!(
        escape::needs_unescape(escaping, raw),
        escaping != Escaping::None && raw.contains(&b'\\')
    );
    match &reference {
        None => {
            assert_eq!(
                escape::validate(escaping, raw),
                Err(UnescapeError::InvalidEscape)
            );
            assert_eq!(
                escape::unescaped_len(escaping, raw),
                Err(UnescapeError::InvalidEscape)
            );
            let mut out = vec![0u8; raw.len()];
            assert_eq!(
                escape::unescape_into(escaping, raw, &mut out),
                Err(UnescapeError::InvalidEscape)
            );
            assert_eq!(
                escape::unescape(escaping, raw),
                Err(UnescapeError::InvalidEscape)
            );
        }
        Some(plain) => {
            assert_eq!(escape::unescaped_len(escaping, raw), Ok(plain.len()));
            let mut out = vec![0u8; raw.len() + 1];
            assert_eq!(
                escape::unescape_into(escaping, raw, &mut out),
                Ok(&plain[..])
            );
            let mut exact = vec![0u8; plain.len()];
            assert_eq!(
                escape::unescape_into(escaping, raw, &mut exact),
                Ok(&plain[..])
            );
            if !plain.is_empty() {
                let mut short = vec![0xAAu8; plain.len() - 1];
                assert_eq!(
                    escape::unescape_into(escaping, raw, &mut short),
                    Err(UnescapeError::BufferTooSmall {
                        required: plain.len()
                    })
                );
                assert!(short.iter().all(|&b| b == 0xAA), "written on error");
            }
            let cow = escape::unescape(escaping, raw).unwrap();
            assert_eq!(&cow[..], &plain[..]);
            // Borrowed exactly when there is nothing to decode.
            assert_eq!(
                matches!(cow, std::borrow::Cow::Borrowed(_)),
                !escape::needs_unescape(escaping, raw)
            );
            assert!(escape::eq_plain(escaping, raw, plain));
            // Re-escaping the decoded value gives `raw` back when `raw` holds only octets
            // that never need escaping: escaping is canonical.
            let unescaped_special =
                |b: &u8| matches!(b, b'\n' | b':') || (escaping == Escaping::V1_2 && *b == b'\r');
            if escaping != Escaping::None && !raw.iter().any(unescaped_special) {
                assert_eq!(reference_escape(escaping, plain), raw.to_vec());
            }
        }
    }
    assert_eq!(
        escape::eq_plain(escaping, raw, input.plain),
        reference.as_deref() == Some(input.plain)
    );

    // Encoding `plain`.
    let plain = input.plain;
    let wire = reference_escape(escaping, plain);
    assert_eq!(escape::escaped_len(escaping, plain), wire.len());
    let mut out = vec![0u8; wire.len() + 1];
    assert_eq!(
        escape::escape_into(escaping, plain, &mut out),
        Ok(wire.len())
    );
    assert_eq!(&out[..wire.len()], &wire[..]);
    if !wire.is_empty() {
        let mut short = vec![0xAAu8; wire.len() - 1];
        assert_eq!(
            escape::escape_into(escaping, plain, &mut short),
            Err(SerializeError::BufferTooSmall {
                required: wire.len()
            })
        );
        assert!(short.iter().all(|&b| b == 0xAA), "written on error");
    }
    // What is escaped decodes back, compares equal, and is valid.
    assert_eq!(escape::validate(escaping, &wire), Ok(()));
    assert_eq!(escape::unescape(escaping, &wire).unwrap(), plain);
    assert!(escape::eq_plain(escaping, &wire, plain));
});
