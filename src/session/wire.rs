//! The sessions' own frame writer: the general serializer's output, byte for byte, written
//! without planning escapes when no name or value holds an octet that any version escapes or
//! rejects (the usual case: every session frame takes this path unless the application gives
//! it such a header).
//!
//! Whenever a header is not plain, or the command or body is not allowed in the version, the
//! frame goes to [`put_frame_reserving`], which escapes or returns the error; the tests in
//! this module check that both paths write the same bytes.

use alloc::boxed::Box;

use bytes::{BufMut, BytesMut};

use super::Decimal;
use crate::serialize::{put_frame_reserving, ContentLength, PlainHeader};
use crate::{Command, SerializeError, Version};

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` equal to `byte` is set (exact for "any").
#[inline(always)]
const fn has_byte(word: u64, byte: u8) -> u64 {
    let x = word ^ (LO * byte as u64);
    x.wrapping_sub(LO) & !x & HI
}

/// Whether `byte` is LF, CR, `:` or `\`.
#[inline(always)]
fn is_special(byte: u8) -> bool {
    matches!(byte, b'\n' | b'\r' | b':' | b'\\')
}

#[inline(always)]
fn load(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Whether `bytes` holds none of LF, CR, `:` and `\`: written as it is in every version and
/// for every command (nothing to escape, nothing a 1.0 or CONNECT header may not hold).
///
/// Eight octets at a time, the last word overlapping the one before: an exact test for `:`
/// and `\`, and one for any octet under 0x0E (LF is 0x0A, CR 0x0D); only when a control
/// character is there are the octets looked at one by one.
#[inline]
pub(crate) fn is_plain(bytes: &[u8]) -> bool {
    let len = bytes.len();
    if len < 8 {
        return !bytes.iter().any(|&b| is_special(b));
    }
    // The last word covers what the whole words leave over (overlapping the one before).
    let last = load(bytes, len - 8);
    let mut colon_or_backslash = has_byte(last, b':') | has_byte(last, b'\\');
    // Exact for "any": some high bit is set when an octet is under 0x0E.
    let mut below = last.wrapping_sub(LO * 0x0E) & !last & HI;
    for chunk in bytes.chunks_exact(8) {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        colon_or_backslash |= has_byte(word, b':') | has_byte(word, b'\\');
        below |= word.wrapping_sub(LO * 0x0E) & !word & HI;
    }
    colon_or_backslash == 0 && (below == 0 || !bytes.iter().any(|&b| is_special(b)))
}

/// Whether `bytes` holds a `\\` (so that a received value may hold an escape sequence).
#[inline]
pub(crate) fn has_backslash(bytes: &[u8]) -> bool {
    let len = bytes.len();
    if len < 8 {
        return bytes.contains(&b'\\');
    }
    let mut found = 0u64;
    let mut at = 0;
    while at + 8 <= len {
        found |= has_byte(load(bytes, at), b'\\');
        at += 8;
    }
    if at < len {
        found |= has_byte(load(bytes, len - 8), b'\\');
    }
    found != 0
}

/// Whether the headers can go out as they are: plain, with names that are not empty and not
/// `content-length` (a given one must be checked against the body). The names of the first
/// `trusted` headers are the session's own constants, known to be such names.
#[inline]
fn plain_headers(headers: &[PlainHeader<'_>], trusted: usize) -> Option<usize> {
    let mut len = 0;
    for (i, (name, value)) in headers.iter().enumerate() {
        let name_ok =
            i < trusted || (!name.is_empty() && *name != b"content-length" && is_plain(name));
        if !name_ok || !is_plain(value) {
            return None;
        }
        len += name.len() + value.len() + 2;
    }
    Some(len)
}

#[inline]
fn put_headers(buf: &mut BytesMut, headers: &[PlainHeader<'_>]) {
    for (name, value) in headers {
        buf.put_slice(name);
        buf.put_u8(b':');
        buf.put_slice(value);
        buf.put_u8(b'\n');
    }
}

/// Appends a frame with plain headers to `buf`, escaped for `command` in `version`, with a
/// `content-length` whenever there is a body: what
/// `put_frame_reserving(.., ContentLength::WhenBody, ..)` writes, and the same errors.
pub(crate) fn put_frame(
    buf: &mut BytesMut,
    version: Version,
    command: Command,
    headers: &[PlainHeader<'_>],
    body: &[u8],
) -> Result<(), SerializeError> {
    put_frame_trusting(buf, version, command, headers, 0, body)
}

/// [`put_frame`] where the names of the first `trusted` headers are the session's own
/// standard header names (not empty, plain, not `content-length`): only their values are
/// checked.
pub(crate) fn put_frame_trusting(
    buf: &mut BytesMut,
    version: Version,
    command: Command,
    headers: &[PlainHeader<'_>],
    trusted: usize,
    body: &[u8],
) -> Result<(), SerializeError> {
    let allowed = command.exists_in(version)
        && (body.is_empty() || version == Version::V1_0 || command.may_have_body());
    let Some(headers_len) = plain_headers(headers, trusted).filter(|_| allowed) else {
        return put_frame_reserving(
            version,
            command,
            headers,
            body,
            ContentLength::WhenBody,
            buf,
        )
        .map(|_| ());
    };
    let length = Decimal::new(body.len() as u64);
    let command = command.as_str().as_bytes();
    let mut len = command.len() + 1 + headers_len + 1 + body.len() + 1;
    if !body.is_empty() {
        len += b"content-length:\n".len() + length.as_bytes().len();
    }
    buf.reserve(len);
    buf.put_slice(command);
    buf.put_u8(b'\n');
    put_headers(buf, headers);
    if !body.is_empty() {
        buf.put_slice(b"content-length:");
        buf.put_slice(length.as_bytes());
        buf.put_u8(b'\n');
    }
    buf.put_u8(b'\n');
    buf.put_slice(body);
    buf.put_u8(0);
    Ok(())
}

/// Appends the usual SEND: `destination`, then `content-type` when given, and the body, as
/// [`put_frame_trusting`] writes them with those two headers trusted, without a header list
/// or its general checks (SEND exists in every version and may have a body). Writes nothing
/// and returns `false` when either value is not plain: the caller takes the general path.
#[inline]
pub(crate) fn put_send(
    buf: &mut BytesMut,
    destination: &[u8],
    content_type: Option<&[u8]>,
    body: &[u8],
) -> bool {
    if !is_plain(destination) || content_type.is_some_and(|c| !is_plain(c)) {
        return false;
    }
    let length = Decimal::new(body.len() as u64);
    let content_type_len = content_type.map_or(0, |c| b"\ncontent-type:".len() + c.len());
    buf.reserve(
        b"SEND\ndestination:".len()
            + destination.len()
            + content_type_len
            + b"\ncontent-length:".len()
            + length.as_bytes().len()
            + b"\n\n".len()
            + body.len()
            + 1,
    );
    buf.put_slice(b"SEND\ndestination:");
    buf.put_slice(destination);
    if let Some(content_type) = content_type {
        buf.put_slice(b"\ncontent-type:");
        buf.put_slice(content_type);
    }
    if !body.is_empty() {
        buf.put_slice(b"\ncontent-length:");
        buf.put_slice(length.as_bytes());
    }
    buf.put_slice(b"\n\n");
    buf.put_slice(body);
    buf.put_u8(0);
    true
}

/// Appends the head of a MESSAGE to `buf`: the command line, `headers` escaped for
/// `version`, `content-length:{body_len}` (always, `0` included) and the blank line. The
/// caller appends the body and the NUL. `headers` must not hold a `content-length`.
///
/// The names of the first `trusted` headers are the session's own, as for
/// [`put_frame_trusting`].
pub(crate) fn put_message_head(
    buf: &mut BytesMut,
    version: Version,
    headers: &[PlainHeader<'_>],
    trusted: usize,
    body_len: usize,
) -> Result<(), SerializeError> {
    let length = Decimal::new(body_len as u64);
    let tail = b"content-length:".len() + length.as_bytes().len() + 2;
    match plain_headers(headers, trusted) {
        Some(headers_len) => {
            buf.reserve(b"MESSAGE\n".len() + headers_len + tail + body_len.min(1024) + 1);
            buf.put_slice(b"MESSAGE\n");
            put_headers(buf, headers);
        }
        None => {
            let start = buf.len();
            let head_len = put_frame_reserving(
                version,
                Command::Message,
                headers,
                b"",
                ContentLength::WhenNeeded,
                buf,
            )?;
            // The frame ends with the blank line and the NUL of its empty body: cut them off.
            buf.truncate((start + head_len).saturating_sub(2));
            buf.reserve(tail);
        }
    }
    buf.put_slice(b"content-length:");
    buf.put_slice(length.as_bytes());
    buf.put_slice(b"\n\n");
    Ok(())
}

/// How every MESSAGE to a subscription starts, up to the `message-id` value: the command
/// line, `subscription:{id}` (unless `id` is `None`: a 1.0 subscription without one) and
/// `message-id:`. `None` when `id` is not plain, so that it would need escaping.
pub(crate) fn message_prefix(id: Option<&[u8]>) -> Option<Box<[u8]>> {
    let mut prefix = alloc::vec::Vec::from(&b"MESSAGE\n"[..]);
    if let Some(id) = id {
        if !is_plain(id) {
            return None;
        }
        prefix.extend_from_slice(b"subscription:");
        prefix.extend_from_slice(id);
        prefix.push(b'\n');
    }
    prefix.extend_from_slice(b"message-id:");
    Some(prefix.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const VERSIONS: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

    /// Names and values with and without every special octet, short and long.
    const PIECES: &[&[u8]] = &[
        b"",
        b"a",
        b"destination",
        b"/queue/a",
        b"content-length",
        b"content-type",
        b"a:b",
        b"line\nfeed",
        b"carriage\rreturn",
        b"back\\slash",
        b"1234567",
        b"12345678",
        b"123456789",
        b"/topic/market.prices.with.a.rather.long.name:and:colons",
        b"/topic/market.prices.with.a.rather.long.name.and.no.specials.at.all.0123456789",
        b"0123456789abcdef\\",
        b"0123456789abcdef\r",
        b"\n0123456789abcdef",
        b"5",
        b"0",
    ];

    fn general(
        version: Version,
        command: Command,
        headers: &[PlainHeader<'_>],
        body: &[u8],
    ) -> Result<Vec<u8>, SerializeError> {
        let mut buf = BytesMut::new();
        put_frame_reserving(
            version,
            command,
            headers,
            body,
            ContentLength::WhenBody,
            &mut buf,
        )?;
        Ok(buf.to_vec())
    }

    fn fast(
        version: Version,
        command: Command,
        headers: &[PlainHeader<'_>],
        trusted: usize,
        body: &[u8],
    ) -> Result<Vec<u8>, SerializeError> {
        let mut buf = BytesMut::from(&b"before"[..]);
        let result = if trusted == 0 {
            put_frame(&mut buf, version, command, headers, body)
        } else {
            put_frame_trusting(&mut buf, version, command, headers, trusted, body)
        };
        assert!(buf.starts_with(b"before"));
        result.map(|()| buf[6..].to_vec())
    }

    #[test]
    fn has_backslash_finds_it_at_every_position() {
        for len in 0..40 {
            let clean = alloc::vec![b'x'; len];
            assert!(!has_backslash(&clean));
            for at in 0..len {
                let mut bytes = clean.clone();
                bytes[at] = b'\\';
                assert!(has_backslash(&bytes), "{len} {at}");
                bytes[at] = b'\\' ^ 0x80;
                assert!(!has_backslash(&bytes), "{len} {at}");
            }
        }
    }

    #[test]
    fn is_plain_finds_every_special_octet_at_every_position() {
        for len in 0..80 {
            let clean = alloc::vec![b'x'; len];
            assert!(is_plain(&clean));
            for at in 0..len {
                for special in [b'\n', b'\r', b':', b'\\'] {
                    let mut bytes = clean.clone();
                    bytes[at] = special;
                    assert!(!is_plain(&bytes), "{len} {at} {special}");
                }
                // Octets next to the special ones in value (and with the high bit) are plain.
                for other in [b'\t', 0x0b, 0x0c, b'9', b';', b'[', b']', 0x80, 0xff, 0] {
                    let mut bytes = clean.clone();
                    bytes[at] = other;
                    assert!(is_plain(&bytes), "{len} {at} {other}");
                }
            }
        }
    }

    #[test]
    fn put_frame_writes_what_the_serializer_writes() {
        let bodies: [&[u8]; 4] = [b"", b"hello", b"a\0b", &[7u8; 300]];
        let mut compared = 0;
        for version in VERSIONS {
            for command in Command::ALL {
                for body in bodies {
                    for name in PIECES {
                        for value in PIECES {
                            let one: [PlainHeader<'_>; 1] = [(name, value)];
                            let two: [PlainHeader<'_>; 3] =
                                [(b"destination", b"/queue/a"), (name, value), (b"x", b"y")];
                            for (headers, trusted) in
                                [(&one[..], 0), (&two[..], 0), (&two[..], 1), (&[], 0)]
                            {
                                assert_eq!(
                                    fast(version, command, headers, trusted, body),
                                    general(version, command, headers, body),
                                    "{version:?} {command:?} {headers:?} {body:?}"
                                );
                                compared += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(compared > 10_000);
    }

    #[test]
    fn put_send_writes_what_the_serializer_writes() {
        let mut compared = 0;
        for version in VERSIONS {
            for body in [&b""[..], b"hello", b"a\0b", &[7u8; 300]] {
                for destination in PIECES {
                    for content_type in PIECES.iter().map(Some).chain([None]) {
                        let mut headers: Vec<PlainHeader<'_>> =
                            alloc::vec![(b"destination", destination)];
                        if let Some(content_type) = content_type {
                            headers.push((b"content-type", content_type));
                        }
                        let mut buf = BytesMut::from(&b"before"[..]);
                        let plain = put_send(&mut buf, destination, content_type.copied(), body);
                        if plain {
                            assert_eq!(
                                Ok(buf[6..].to_vec()),
                                general(version, Command::Send, &headers, body),
                                "{version:?} {headers:?} {body:?}"
                            );
                            compared += 1;
                        } else {
                            assert_eq!(&buf[..], b"before", "wrote while refusing");
                            assert!(plain_headers(&headers, 0).is_none(), "{headers:?}");
                        }
                    }
                }
            }
        }
        assert!(compared > 500, "{compared}");
    }

    #[test]
    fn put_message_head_writes_what_the_serializer_writes() {
        for version in VERSIONS {
            for body in [&b""[..], b"hello", b"a\0b", &[7u8; 2000]] {
                for name in PIECES.iter().filter(|n| **n != b"content-length") {
                    for value in PIECES {
                        let headers: [PlainHeader<'_>; 3] = [
                            (b"subscription", b"0"),
                            (name, value),
                            (b"message-id", b"1"),
                        ];
                        let mut with_length = headers.to_vec();
                        let length = alloc::format!("{}", body.len());
                        with_length.push((b"content-length", length.as_bytes()));
                        let expected = general(version, Command::Message, &with_length, body);
                        let mut buf = BytesMut::from(&b"before"[..]);
                        let result = put_message_head(&mut buf, version, &headers, 1, body.len());
                        let written = result.map(|()| {
                            buf.put_slice(body);
                            buf.put_u8(0);
                            buf[6..].to_vec()
                        });
                        assert_eq!(written, expected, "{version:?} {headers:?}");
                    }
                }
            }
        }
    }
}
