#![cfg(feature = "alloc")]
//! Inputs the fuzz targets (fuzz/fuzz_targets/) found, kept as regression tests.
//!
//! Each test names its target and says what the target checked.

use bytes::BytesMut;
use stomp_proto::codec::Decoder;
use stomp_proto::session::{Client, ClientConfig, SessionError};
use stomp_proto::time::Instant;
use stomp_proto::{Header, Limits, ParseError, Parser, SerializeError, Version, Versions};

/// `parse_frame`, input `\x0cABORT\x02` (1.0, max_header_line_len 11): a command line that
/// cannot start a command was `UnknownCommand` while its LF was missing but
/// `HeaderLineTooLong` once the LF arrived past the limit. Errors must not depend on what
/// follows.
#[test]
fn command_line_error_does_not_depend_on_later_bytes() {
    let parser = Parser::new()
        .with_version(Version::V1_0)
        .with_limits(Limits {
            max_frame_len: 256,
            max_headers: 8,
            max_header_line_len: 11,
            max_body_len: 0,
        });
    let mut headers = [Header::EMPTY; 8];
    let short = b"ABORT\x02";
    let long = b"ABORT\x02ABORT\x02\n\n\0";
    assert_eq!(
        parser.parse(short, &mut headers),
        Err(ParseError::UnknownCommand)
    );
    assert_eq!(
        parser.parse(long, &mut headers),
        Err(ParseError::UnknownCommand)
    );
}

/// `parse_frame`, 1.2 with max_frame_len 48 and max_header_line_len 1024: a header line
/// running past the frame limit was `FrameTooLarge` while its LF was missing, but
/// `MissingColon` (or `HeaderLineTooLong`) once the LF arrived. A line whose LF is at or past
/// `max_frame_len` is now `FrameTooLarge` either way, in the parser and in the decoder.
#[test]
fn header_line_past_the_frame_limit_is_frame_too_large_whatever_follows() {
    let limits = Limits {
        max_frame_len: 48,
        max_headers: 100,
        max_header_line_len: 1024,
        max_body_len: 4096,
    };
    let parser = Parser::new().with_limits(limits);
    let mut head = b"SEND\ndest".to_vec();
    head.extend_from_slice(&[0x16; 16]);
    head.extend_from_slice(b"inatiub");
    head.extend_from_slice(&[0xff; 30]);
    let mut full = head.clone();
    full.extend_from_slice(b"\n\n\0");
    let mut headers = [Header::EMPTY; 8];
    for input in [&head[..], &full[..]] {
        assert_eq!(
            parser.parse(input, &mut headers),
            Err(ParseError::FrameTooLarge),
            "{}",
            input.escape_ascii()
        );
        // Byte by byte through the decoder: the same verdict.
        let mut decoder = Decoder::with_parser(parser);
        let mut buf = BytesMut::new();
        let mut verdict = Ok(None);
        for &b in input {
            buf.extend_from_slice(&[b]);
            verdict = decoder.decode(&mut buf);
            if verdict.is_err() {
                break;
            }
        }
        assert_eq!(verdict, Err(ParseError::FrameTooLarge));
    }
}

/// `client_session`: a client offering at most 1.1 wrote CONNECT with 1.1 rules, where a CR
/// in a header value is data (`host:\r3`); the server reads CONNECT with 1.2 rules, before
/// any version is agreed, and failed on the bare CR. CONNECT now refuses a CR in any version.
#[test]
fn connect_refuses_a_carriage_return_whatever_the_versions() {
    for versions in [
        Versions::EMPTY.with(Version::V1_1),
        Versions::EMPTY.with(Version::V1_0),
        Versions::ALL,
    ] {
        for stomp in [false, true] {
            let config = ClientConfig::new("\r3")
                .accept_versions(versions)
                .stomp_command(stomp);
            let mut client = Client::new(config);
            assert_eq!(
                client.connect(Instant::ZERO),
                Err(SessionError::Serialize(SerializeError::InvalidHeaderValue)),
                "{versions:?}"
            );
            assert_eq!(client.poll_transmit(), None);

            let config = ClientConfig::new("h")
                .accept_versions(versions)
                .stomp_command(stomp)
                .header("x\ry", "z");
            let mut client = Client::new(config);
            assert_eq!(
                client.connect(Instant::ZERO),
                Err(SessionError::Serialize(SerializeError::InvalidHeaderName)),
                "{versions:?}"
            );
            assert_eq!(client.poll_transmit(), None);
        }
    }
}
