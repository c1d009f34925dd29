//! Version-aware escaping of header names and values.
//!
//! | version | escapes | CONNECT / CONNECTED |
//! |---------|---------|---------------------|
//! | 1.0     | none    | none                |
//! | 1.1     | `\n` `\c` `\\` | none         |
//! | 1.2     | `\r` `\n` `\c` `\\` | none    |
//!
//! Parsed frames keep their header bytes exactly as they arrived; decoding is lazy and needs
//! no allocator ([`unescape_into`]), or returns a borrowed [`Cow`](alloc::borrow::Cow) when
//! there is nothing to decode ([`unescape`], with the `alloc` feature).
//!
//! ```
//! use stomp_proto::escape::{escape_into, unescape_into, Escaping};
//!
//! let mut wire = [0u8; 32];
//! let n = escape_into(Escaping::V1_2, b"a:b\nc", &mut wire).unwrap();
//! assert_eq!(&wire[..n], br"a\cb\nc");
//!
//! let mut plain = [0u8; 32];
//! assert_eq!(unescape_into(Escaping::V1_2, &wire[..n], &mut plain).unwrap(), b"a:b\nc");
//! ```

use crate::error::{SerializeError, UnescapeError};
use crate::{Command, Version};

/// Which escaping rules apply to a frame's headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Escaping {
    /// No escaping: STOMP 1.0, and `CONNECT` / `CONNECTED` frames in every version.
    None,
    /// STOMP 1.1: `\n`, `\c` and `\\`.
    V1_1,
    /// STOMP 1.2: `\r`, `\n`, `\c` and `\\`.
    V1_2,
}

impl Escaping {
    /// The rules for a frame with `command` in `version`.
    ///
    /// ```
    /// use stomp_proto::{escape::Escaping, Command, Version};
    ///
    /// assert_eq!(Escaping::for_frame(Version::V1_2, Command::Send), Escaping::V1_2);
    /// assert_eq!(Escaping::for_frame(Version::V1_2, Command::Connect), Escaping::None);
    /// assert_eq!(Escaping::for_frame(Version::V1_0, Command::Send), Escaping::None);
    /// ```
    pub const fn for_frame(version: Version, command: Command) -> Escaping {
        if !command.escapes_headers(version) {
            return Escaping::None;
        }
        match version {
            Version::V1_0 => Escaping::None,
            Version::V1_1 => Escaping::V1_1,
            Version::V1_2 => Escaping::V1_2,
        }
    }

    /// The escape sequence for `byte`, if it needs one.
    #[inline]
    const fn escape(self, byte: u8) -> Option<u8> {
        match (self, byte) {
            (Escaping::None, _) => None,
            (_, b'\n') => Some(b'n'),
            (_, b':') => Some(b'c'),
            (_, b'\\') => Some(b'\\'),
            (Escaping::V1_2, b'\r') => Some(b'r'),
            _ => None,
        }
    }

    /// The byte an escape sequence `\x` stands for, if it is defined.
    #[inline]
    const fn unescape(self, x: u8) -> Option<u8> {
        match (self, x) {
            (Escaping::None, _) => None,
            (_, b'n') => Some(b'\n'),
            (_, b'c') => Some(b':'),
            (_, b'\\') => Some(b'\\'),
            (Escaping::V1_2, b'r') => Some(b'\r'),
            _ => None,
        }
    }
}

/// Inputs shorter than this are scanned a byte at a time: for a typical header name or value,
/// setting up memchr's vector search costs more than the whole scalar loop.
const SHORT: usize = 64;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that equals `byte` is set (and no other bit is set when
/// none does: the test is exact for "any").
#[inline(always)]
const fn has_byte(word: u64, byte: u8) -> u64 {
    let x = word ^ (LO * byte as u64);
    x.wrapping_sub(LO) & !x & HI
}

/// Whether `plain` holds an octet `escaping` escapes: eight octets at a time (SWAR), the last
/// word overlapping the one before, so short names and values take a handful of operations.
#[inline]
pub(crate) fn needs_escape(escaping: Escaping, plain: &[u8]) -> bool {
    // In 1.1 the CR slot tests LF again.
    let cr = match escaping {
        Escaping::None => return false,
        Escaping::V1_1 => b'\n',
        Escaping::V1_2 => b'\r',
    };
    let any = |chunk: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        (has_byte(w, b'\n') | has_byte(w, b':') | has_byte(w, b'\\') | has_byte(w, cr)) != 0
    };
    if plain.len() < 8 {
        return plain.iter().any(|&b| escaping.escape(b).is_some());
    }
    if plain.len() >= SHORT {
        return memchr::memchr3(b'\n', b':', b'\\', plain).is_some()
            || (escaping == Escaping::V1_2 && memchr::memchr(b'\r', plain).is_some());
    }
    let mut chunks = plain.chunks_exact(8);
    if chunks.by_ref().any(any) {
        return true;
    }
    !chunks.remainder().is_empty() && any(&plain[plain.len() - 8..])
}

/// The length of `plain` once escaped.
pub fn escaped_len(escaping: Escaping, plain: &[u8]) -> usize {
    if !needs_escape(escaping, plain) {
        return plain.len();
    }
    match escaping {
        Escaping::None => plain.len(),
        _ if plain.len() < SHORT => {
            plain.len()
                + plain
                    .iter()
                    .filter(|&&b| escaping.escape(b).is_some())
                    .count()
        }
        Escaping::V1_1 => plain.len() + memchr::memchr3_iter(b'\n', b':', b'\\', plain).count(),
        Escaping::V1_2 => {
            plain.len()
                + memchr::memchr3_iter(b'\n', b':', b'\\', plain).count()
                + memchr::memchr_iter(b'\r', plain).count()
        }
    }
}

/// Escapes `plain` into `out`, returning the number of bytes written.
///
/// If `out` is too small, returns [`SerializeError::BufferTooSmall`] with the escaped length
/// and leaves `out` untouched.
pub fn escape_into(
    escaping: Escaping,
    plain: &[u8],
    out: &mut [u8],
) -> Result<usize, SerializeError> {
    let required = escaped_len(escaping, plain);
    if required > out.len() {
        return Err(SerializeError::BufferTooSmall { required });
    }
    if required == plain.len() {
        out[..required].copy_from_slice(plain);
        return Ok(required);
    }
    let mut n = 0;
    for &b in plain {
        match escaping.escape(b) {
            Some(x) => {
                out[n] = b'\\';
                out[n + 1] = x;
                n += 2;
            }
            None => {
                out[n] = b;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Checks that every `\` in `raw` starts an escape sequence defined by `escaping`.
///
/// Under [`Escaping::None`] every byte string is valid.
pub fn validate(escaping: Escaping, raw: &[u8]) -> Result<(), UnescapeError> {
    if escaping == Escaping::None {
        return Ok(());
    }
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\\', &raw[from..]) {
        let at = from + i;
        match raw.get(at + 1) {
            Some(&x) if escaping.unescape(x).is_some() => from = at + 2,
            _ => return Err(UnescapeError::InvalidEscape),
        }
    }
    Ok(())
}

/// Whether `\x` is an escape sequence `escaping` defines.
#[inline]
pub(crate) const fn is_escape(escaping: Escaping, x: u8) -> bool {
    escaping.unescape(x).is_some()
}

/// Whether `raw` holds escape sequences, that is, whether decoding would change it.
#[inline]
pub fn needs_unescape(escaping: Escaping, raw: &[u8]) -> bool {
    escaping != Escaping::None && has_backslash(raw)
}

#[inline]
fn has_backslash(bytes: &[u8]) -> bool {
    if bytes.len() < SHORT {
        bytes.contains(&b'\\')
    } else {
        memchr::memchr(b'\\', bytes).is_some()
    }
}

/// The decoded length of a valid escaped `raw`.
pub fn unescaped_len(escaping: Escaping, raw: &[u8]) -> Result<usize, UnescapeError> {
    validate(escaping, raw)?;
    if escaping == Escaping::None {
        return Ok(raw.len());
    }
    // Each escape sequence is two bytes that decode to one; `\\` pairs are counted once.
    let mut len = raw.len();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\\', &raw[from..]) {
        len -= 1;
        from += i + 2;
    }
    Ok(len)
}

/// Decodes `raw` into `out` without allocating, returning the decoded part of `out`.
///
/// Fails on an undefined escape, or with the required length if `out` is too small (then
/// `out` is untouched).
pub fn unescape_into<'o>(
    escaping: Escaping,
    raw: &[u8],
    out: &'o mut [u8],
) -> Result<&'o [u8], UnescapeError> {
    let required = unescaped_len(escaping, raw)?;
    if required > out.len() {
        return Err(UnescapeError::BufferTooSmall { required });
    }
    let mut n = 0;
    let mut rest = raw;
    while !rest.is_empty() {
        let run = match escaping {
            Escaping::None => rest.len(),
            _ => memchr::memchr(b'\\', rest).unwrap_or(rest.len()),
        };
        out[n..n + run].copy_from_slice(&rest[..run]);
        n += run;
        rest = &rest[run..];
        if let [b'\\', x, tail @ ..] = rest {
            // `validate` above guarantees the sequence is defined.
            out[n] = escaping.unescape(*x).unwrap_or(*x);
            n += 1;
            rest = tail;
        }
    }
    Ok(&out[..n])
}

/// Decodes `raw`, borrowing it when it holds no escape sequence.
#[cfg(feature = "alloc")]
pub fn unescape(
    escaping: Escaping,
    raw: &[u8],
) -> Result<alloc::borrow::Cow<'_, [u8]>, UnescapeError> {
    use alloc::borrow::Cow;
    if !needs_unescape(escaping, raw) {
        return Ok(Cow::Borrowed(raw));
    }
    let len = unescaped_len(escaping, raw)?;
    let mut out = alloc::vec![0; len];
    unescape_into(escaping, raw, &mut out)?;
    Ok(Cow::Owned(out))
}

/// Compares an escaped `raw` value with a `plain` one, without decoding into a buffer.
pub fn eq_plain(escaping: Escaping, raw: &[u8], plain: &[u8]) -> bool {
    // Decoding never makes a value longer, and shortens it by one per escape sequence: a raw
    // value as long as `plain` matches it only if it has no escape, that is, if it is `plain`
    // and `plain` has no backslash.
    if escaping == Escaping::None || raw.len() <= plain.len() {
        return raw == plain && (escaping == Escaping::None || !has_backslash(plain));
    }
    if !has_backslash(raw) {
        return false;
    }
    let mut raw = raw.iter();
    let mut plain = plain.iter();
    loop {
        match (raw.next(), plain.next()) {
            (None, None) => return true,
            (Some(b'\\'), Some(p)) => match raw.next().and_then(|x| escaping.unescape(*x)) {
                Some(d) if d == *p => {}
                _ => return false,
            },
            (Some(r), Some(p)) if r == p => {}
            _ => return false,
        }
    }
}
