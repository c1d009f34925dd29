#![cfg(feature = "alloc")]
//! Every example frame of the three STOMP specifications (tests/data/spec, see its README),
//! parsed under its version and round-tripped through both serializers.

use std::collections::BTreeSet;

use stomp_proto::{
    AckMode, Command, Frame, FrameBuilder, Header, Item, ParseError, Parser, Status, Version,
    Versions,
};

/// What an example is, and what parsing it must give.
#[derive(Debug)]
enum Expect {
    /// A well-formed frame (placeholder values included, taken literally).
    Frame(Shape),
    /// The generic `COMMAND` illustration.
    Illustration,
    /// A frame printed without the blank line before the NUL; `Shape` is the intended frame.
    MissingBlankLine(Shape),
    /// The heart-beat section's two header blocks with no NUL.
    HeartBeatFragment,
}

/// The expected frame: command, header count, first-wins lookups (decoded) and body.
#[derive(Debug)]
struct Shape {
    command: Command,
    count: usize,
    headers: &'static [(&'static str, &'static str)],
    body: &'static [u8],
}

struct Vector {
    path: &'static str,
    bytes: &'static [u8],
    version: Version,
    expect: Expect,
}

macro_rules! vector {
    ($version:ident, $path:literal, $expect:expr) => {
        Vector {
            path: $path,
            bytes: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/spec/",
                $path
            )),
            version: Version::$version,
            expect: $expect,
        }
    };
}

const fn frame(
    command: Command,
    count: usize,
    headers: &'static [(&'static str, &'static str)],
    body: &'static [u8],
) -> Expect {
    Expect::Frame(Shape {
        command,
        count,
        headers,
        body,
    })
}

const ERROR_1_0_BODY: &[u8] =
    b"The message:\n-----\nMESSAGE\ndestined:/queue/a\n\nHello queue a!\n\
-----\nDid not contain a destination header, which is required \nfor message propagation.\n";
const ERROR_1_1_BODY: &[u8] = b"The message:\n-----\nMESSAGE\ndestined:/queue/a\n\
receipt:message-12345\n\n\nHello queue a!\n-----\n\
Did not contain a destination header, which is REQUIRED\nfor message propagation.\n";
const ERROR_1_2_BODY: &[u8] = b"The message:\n-----\nMESSAGE\ndestined:/queue/a\n\
receipt:message-12345\n\nHello queue a!\n-----\n\
Did not contain a destination header, which is REQUIRED\nfor message propagation.\n";

fn vectors() -> Vec<Vector> {
    use Command::*;
    let tx = &[("transaction", "tx1")][..];
    let tx_placeholder = &[("transaction", "<transaction-identifier>")][..];
    vec![
        // STOMP 1.0
        vector!(
            V1_0,
            "1.0/01-connect.stomp",
            frame(
                Connect,
                2,
                &[("login", "<username>"), ("passcode", "<passcode>")],
                b""
            )
        ),
        vector!(
            V1_0,
            "1.0/02-connected.stomp",
            frame(Connected, 1, &[("session", "<session-id>")], b"")
        ),
        vector!(
            V1_0,
            "1.0/03-send.stomp",
            frame(Send, 1, &[("destination", "/queue/a")], b"hello queue a\n")
        ),
        vector!(
            V1_0,
            "1.0/04-subscribe.stomp",
            frame(
                Subscribe,
                2,
                &[("destination", "/queue/foo"), ("ack", "client")],
                b""
            )
        ),
        vector!(
            V1_0,
            "1.0/05-unsubscribe.stomp",
            frame(Unsubscribe, 1, &[("destination", "/queue/a")], b"")
        ),
        vector!(
            V1_0,
            "1.0/06-begin.stomp",
            frame(Begin, 1, tx_placeholder, b"")
        ),
        vector!(
            V1_0,
            "1.0/07-commit.stomp",
            frame(Commit, 1, tx_placeholder, b"")
        ),
        vector!(
            V1_0,
            "1.0/08-ack.stomp",
            frame(
                Ack,
                2,
                &[
                    ("message-id", "<message-identifier>"),
                    ("transaction", "<transaction-identifier>")
                ],
                b""
            )
        ),
        vector!(
            V1_0,
            "1.0/09-abort.stomp",
            frame(Abort, 1, tx_placeholder, b"")
        ),
        vector!(
            V1_0,
            "1.0/10-disconnect.stomp",
            frame(Disconnect, 0, &[], b"")
        ),
        vector!(
            V1_0,
            "1.0/11-send.stomp",
            frame(
                Send,
                2,
                &[("destination", "/queue/a"), ("receipt", "message-12345")],
                b"Hello a!"
            )
        ),
        vector!(
            V1_0,
            "1.0/12-message.stomp",
            frame(
                Message,
                2,
                &[
                    ("destination", "/queue/a"),
                    ("message-id", "<message-identifier>")
                ],
                b"hello queue a"
            )
        ),
        vector!(
            V1_0,
            "1.0/13-receipt.stomp",
            frame(Receipt, 1, &[("receipt-id", "message-12345")], b"")
        ),
        vector!(
            V1_0,
            "1.0/14-error.stomp",
            frame(
                Error,
                1,
                &[("message", "malformed packet received")],
                ERROR_1_0_BODY
            )
        ),
        // STOMP 1.1
        vector!(V1_1, "1.1/01-command.stomp", Expect::Illustration),
        vector!(
            V1_1,
            "1.1/02-message.stomp",
            frame(Message, 2, &[("foo", "World")], b"")
        ),
        vector!(
            V1_1,
            "1.1/03-connect.stomp",
            frame(
                Connect,
                2,
                &[("accept-version", "1.1"), ("host", "stomp.github.org")],
                b""
            )
        ),
        vector!(
            V1_1,
            "1.1/04-connected.stomp",
            frame(Connected, 1, &[("version", "1.1")], b"")
        ),
        vector!(
            V1_1,
            "1.1/05-connect.stomp",
            frame(
                Connect,
                2,
                &[
                    ("accept-version", "1.0,1.1,2.0"),
                    ("host", "stomp.github.org")
                ],
                b""
            )
        ),
        vector!(
            V1_1,
            "1.1/06-connected.stomp",
            frame(Connected, 1, &[("version", "1.1")], b"")
        ),
        vector!(
            V1_1,
            "1.1/07-error.stomp",
            frame(
                Error,
                2,
                &[("version", "1.2,2.1"), ("content-type", "text/plain")],
                b"Supported protocol versions are 1.2 2.1"
            )
        ),
        vector!(
            V1_1,
            "1.1/08-send.stomp",
            frame(
                Send,
                2,
                &[("destination", "/queue/a"), ("content-type", "text/plain")],
                b"hello queue a\n"
            )
        ),
        vector!(
            V1_1,
            "1.1/09-subscribe.stomp",
            frame(
                Subscribe,
                3,
                &[
                    ("id", "0"),
                    ("destination", "/queue/foo"),
                    ("ack", "client")
                ],
                b""
            )
        ),
        vector!(
            V1_1,
            "1.1/10-unsubscribe.stomp",
            frame(Unsubscribe, 1, &[("id", "0")], b"")
        ),
        vector!(
            V1_1,
            "1.1/11-ack.stomp",
            frame(
                Ack,
                3,
                &[
                    ("subscription", "0"),
                    ("message-id", "007"),
                    ("transaction", "tx1")
                ],
                b""
            )
        ),
        vector!(V1_1, "1.1/12-begin.stomp", frame(Begin, 1, tx, b"")),
        vector!(V1_1, "1.1/13-commit.stomp", frame(Commit, 1, tx, b"")),
        vector!(V1_1, "1.1/14-abort.stomp", frame(Abort, 1, tx, b"")),
        vector!(
            V1_1,
            "1.1/15-disconnect.stomp",
            Expect::MissingBlankLine(Shape {
                command: Disconnect,
                count: 1,
                headers: &[("receipt", "77")],
                body: b"",
            })
        ),
        vector!(
            V1_1,
            "1.1/16-receipt.stomp",
            Expect::MissingBlankLine(Shape {
                command: Receipt,
                count: 1,
                headers: &[("receipt-id", "77")],
                body: b"",
            })
        ),
        vector!(
            V1_1,
            "1.1/17-send.stomp",
            frame(
                Send,
                2,
                &[("destination", "/queue/a"), ("receipt", "message-12345")],
                b"hello queue a"
            )
        ),
        vector!(
            V1_1,
            "1.1/18-message.stomp",
            frame(
                Message,
                4,
                &[
                    ("subscription", "0"),
                    ("message-id", "007"),
                    ("destination", "/queue/a"),
                    ("content-type", "text/plain")
                ],
                b"hello queue a"
            )
        ),
        vector!(
            V1_1,
            "1.1/19-receipt.stomp",
            frame(Receipt, 1, &[("receipt-id", "message-12345")], b"")
        ),
        vector!(
            V1_1,
            "1.1/20-error.stomp",
            frame(
                Error,
                4,
                &[
                    ("receipt-id", "message-12345"),
                    ("content-type", "text/plain"),
                    ("content-length", "171"),
                    // 1.1 never trims: the space after the colon is data.
                    ("message", " malformed frame received")
                ],
                ERROR_1_1_BODY
            )
        ),
        vector!(V1_1, "1.1/21-connect.stomp", Expect::HeartBeatFragment),
        // STOMP 1.2
        vector!(V1_2, "1.2/01-command.stomp", Expect::Illustration),
        vector!(
            V1_2,
            "1.2/02-send.stomp",
            frame(
                Send,
                2,
                &[("destination", "/queue/a"), ("receipt", "message-12345")],
                b"hello queue a"
            )
        ),
        vector!(
            V1_2,
            "1.2/03-message.stomp",
            frame(Message, 2, &[("foo", "World")], b"")
        ),
        vector!(
            V1_2,
            "1.2/04-connect.stomp",
            frame(
                Connect,
                2,
                &[("accept-version", "1.2"), ("host", "stomp.github.org")],
                b""
            )
        ),
        vector!(
            V1_2,
            "1.2/05-connected.stomp",
            frame(Connected, 1, &[("version", "1.2")], b"")
        ),
        vector!(
            V1_2,
            "1.2/06-connect.stomp",
            frame(
                Connect,
                2,
                &[
                    ("accept-version", "1.0,1.1,2.0"),
                    ("host", "stomp.github.org")
                ],
                b""
            )
        ),
        vector!(
            V1_2,
            "1.2/07-connected.stomp",
            frame(Connected, 1, &[("version", "1.1")], b"")
        ),
        vector!(
            V1_2,
            "1.2/08-error.stomp",
            frame(
                Error,
                2,
                &[("version", "1.2,2.1"), ("content-type", "text/plain")],
                b"Supported protocol versions are 1.2 2.1"
            )
        ),
        vector!(V1_2, "1.2/09-connect.stomp", Expect::HeartBeatFragment),
        vector!(
            V1_2,
            "1.2/10-send.stomp",
            frame(
                Send,
                2,
                &[("destination", "/queue/a"), ("content-type", "text/plain")],
                b"hello queue a\n"
            )
        ),
        vector!(
            V1_2,
            "1.2/11-subscribe.stomp",
            frame(
                Subscribe,
                3,
                &[
                    ("id", "0"),
                    ("destination", "/queue/foo"),
                    ("ack", "client")
                ],
                b""
            )
        ),
        vector!(
            V1_2,
            "1.2/12-unsubscribe.stomp",
            frame(Unsubscribe, 1, &[("id", "0")], b"")
        ),
        vector!(
            V1_2,
            "1.2/13-ack.stomp",
            frame(Ack, 2, &[("id", "12345"), ("transaction", "tx1")], b"")
        ),
        vector!(V1_2, "1.2/14-begin.stomp", frame(Begin, 1, tx, b"")),
        vector!(V1_2, "1.2/15-commit.stomp", frame(Commit, 1, tx, b"")),
        vector!(V1_2, "1.2/16-abort.stomp", frame(Abort, 1, tx, b"")),
        vector!(
            V1_2,
            "1.2/17-disconnect.stomp",
            Expect::MissingBlankLine(Shape {
                command: Disconnect,
                count: 1,
                headers: &[("receipt", "77")],
                body: b"",
            })
        ),
        vector!(
            V1_2,
            "1.2/18-receipt.stomp",
            Expect::MissingBlankLine(Shape {
                command: Receipt,
                count: 1,
                headers: &[("receipt-id", "77")],
                body: b"",
            })
        ),
        vector!(
            V1_2,
            "1.2/19-message.stomp",
            frame(
                Message,
                4,
                &[
                    ("subscription", "0"),
                    ("message-id", "007"),
                    ("destination", "/queue/a"),
                    ("content-type", "text/plain")
                ],
                b"hello queue a"
            )
        ),
        vector!(
            V1_2,
            "1.2/20-receipt.stomp",
            frame(Receipt, 1, &[("receipt-id", "message-12345")], b"")
        ),
        vector!(
            V1_2,
            "1.2/21-error.stomp",
            frame(
                Error,
                4,
                &[
                    ("receipt-id", "message-12345"),
                    ("content-type", "text/plain"),
                    ("content-length", "170"),
                    ("message", "malformed frame received")
                ],
                ERROR_1_2_BODY
            )
        ),
    ]
}

fn parser(version: Version) -> Parser {
    Parser::new().with_version(version)
}

/// Parses `bytes` as exactly one frame, panicking with `what` otherwise.
fn parse_whole<'b>(
    version: Version,
    bytes: &'b [u8],
    storage: &'b mut [Header<'b>],
    what: &str,
) -> Frame<'b> {
    match parser(version).parse(bytes, storage) {
        Ok(Status::Complete((n, Item::Frame(frame)))) => {
            assert_eq!(n, bytes.len(), "{what}: consumed");
            frame
        }
        other => panic!("{what}: expected a whole frame, got {other:?}"),
    }
}

fn check_shape(frame: &Frame<'_>, shape: &Shape, what: &str) {
    assert_eq!(frame.command(), shape.command, "{what}: command");
    assert_eq!(frame.headers().len(), shape.count, "{what}: header count");
    for (name, value) in shape.headers {
        let got = frame
            .header(name)
            .unwrap_or_else(|| panic!("{what}: no {name} header"));
        assert!(
            got == *value,
            "{what}: {name} is {got:?}, expected {value:?}"
        );
    }
    assert_eq!(frame.body(), shape.body, "{what}: body");
    let expected_cl = shape
        .headers
        .iter()
        .find(|(n, _)| *n == "content-length")
        .map(|(_, v)| v.parse::<usize>().unwrap());
    assert_eq!(
        frame.content_length(),
        expected_cl,
        "{what}: content_length()"
    );
}

/// Decoded (name, value) pairs of every header, in order.
fn decoded(frame: &Frame<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    frame
        .header_values()
        .map(|(n, v)| {
            (
                n.decode().unwrap().into_owned(),
                v.decode().unwrap().into_owned(),
            )
        })
        .collect()
}

/// parse → `Frame::write_to` → parse gives the same frame; the plain headers rebuilt with
/// `FrameBuilder` → parse gives the same decoded headers and body.
fn check_round_trips(version: Version, frame: &Frame<'_>, what: &str) {
    let len = frame.encoded_len().unwrap();
    let mut wire = vec![0u8; len];
    assert_eq!(frame.write_to(&mut wire), Ok(len), "{what}: write_to");
    let mut storage = [Header::EMPTY; 32];
    let again = parse_whole(version, &wire, &mut storage, what);
    assert_eq!(&again, frame, "{what}: write_to round trip");

    let headers = decoded(frame);
    let mut builder = FrameBuilder::<32>::with_room(version, frame.command()).body(frame.body());
    for (name, value) in &headers {
        builder = builder.header_bytes(name, value);
    }
    let rebuilt = builder.to_vec().unwrap();
    assert_eq!(rebuilt.len(), builder.encoded_len().unwrap());
    let mut storage = [Header::EMPTY; 32];
    let again = parse_whole(version, &rebuilt, &mut storage, what);
    assert_eq!(again.command(), frame.command(), "{what}: rebuilt command");
    assert_eq!(decoded(&again), headers, "{what}: rebuilt headers");
    assert_eq!(again.body(), frame.body(), "{what}: rebuilt body");
}

#[test]
fn every_vector_file_is_in_the_table() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/spec");
    let mut on_disk = BTreeSet::new();
    for version in ["1.0", "1.1", "1.2"] {
        for entry in std::fs::read_dir(format!("{root}/{version}")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".stomp") {
                on_disk.insert(format!("{version}/{name}"));
            }
        }
    }
    let listed: BTreeSet<String> = vectors().iter().map(|v| v.path.to_string()).collect();
    assert_eq!(on_disk, listed);
    // 14 examples in 1.0, 21 in 1.1 and in 1.2.
    assert_eq!(listed.len(), 56);
}

#[test]
fn every_spec_example_parses_as_recorded() {
    for v in vectors() {
        let what = v.path;
        let mut storage = [Header::EMPTY; 32];
        match &v.expect {
            Expect::Frame(shape) => {
                let frame = parse_whole(v.version, v.bytes, &mut storage, what);
                check_shape(&frame, shape, what);
            }
            Expect::Illustration => {
                assert_eq!(
                    parser(v.version).parse(v.bytes, &mut storage),
                    Err(ParseError::UnknownCommand),
                    "{what}"
                );
            }
            Expect::MissingBlankLine(shape) => {
                // As printed, the NUL starts a header line that has not ended yet.
                assert_eq!(
                    parser(v.version).parse(v.bytes, &mut storage),
                    Ok(Status::Partial),
                    "{what}"
                );
                let mut more = v.bytes.to_vec();
                more.push(b'\n');
                assert_eq!(
                    parser(v.version).parse(&more, &mut storage),
                    Err(ParseError::MissingColon),
                    "{what} + LF"
                );
                let mut repaired = v.bytes[..v.bytes.len() - 1].to_vec();
                repaired.extend_from_slice(b"\n\0");
                let mut storage = [Header::EMPTY; 32];
                let frame = parse_whole(v.version, &repaired, &mut storage, what);
                check_shape(&frame, shape, what);
            }
            Expect::HeartBeatFragment => {
                // As printed, the CONNECTED lines are the body of the CONNECT.
                assert_eq!(
                    parser(v.version).parse(v.bytes, &mut storage),
                    Err(ParseError::UnexpectedBody),
                    "{what}"
                );
                let text = std::str::from_utf8(v.bytes).unwrap();
                let (connect, connected) = text.split_once("\n\n").unwrap();
                for (part, command, value) in [
                    (connect, Command::Connect, "<cx>,<cy>"),
                    (connected, Command::Connected, "<sx>,<sy>"),
                ] {
                    let bytes = format!("{}\n\n\0", part.trim_end_matches('\n'));
                    let mut storage = [Header::EMPTY; 4];
                    let frame = parse_whole(v.version, bytes.as_bytes(), &mut storage, what);
                    assert_eq!(frame.command(), command, "{what}");
                    assert!(frame.header("heart-beat").unwrap() == value, "{what}");
                    assert_eq!(
                        frame.heart_beat(),
                        Err(stomp_proto::ValueError::Malformed),
                        "{what}: a placeholder is no heart-beat"
                    );
                }
            }
        }
    }
}

#[test]
fn well_formed_spec_examples_round_trip() {
    let mut checked = 0;
    for v in vectors() {
        let bytes: Vec<u8> = match &v.expect {
            Expect::Frame(_) => v.bytes.to_vec(),
            Expect::MissingBlankLine(_) => {
                let mut b = v.bytes[..v.bytes.len() - 1].to_vec();
                b.extend_from_slice(b"\n\0");
                b
            }
            _ => continue,
        };
        let mut storage = [Header::EMPTY; 32];
        let frame = parse_whole(v.version, &bytes, &mut storage, v.path);
        check_round_trips(v.version, &frame, v.path);
        checked += 1;
    }
    assert_eq!(checked, 56 - 4);
}

#[test]
fn spec_examples_are_partial_at_every_prefix() {
    for v in vectors() {
        if !matches!(v.expect, Expect::Frame(_)) {
            continue;
        }
        for end in 0..v.bytes.len() {
            let mut storage = [Header::EMPTY; 32];
            assert_eq!(
                parser(v.version).parse(&v.bytes[..end], &mut storage),
                Ok(Status::Partial),
                "{} cut at {end}",
                v.path
            );
        }
    }
}

#[test]
fn spec_examples_stream_with_heartbeats_between_them() {
    for version in Version::ALL {
        let frames: Vec<Vector> = vectors()
            .into_iter()
            .filter(|v| v.version == version && matches!(v.expect, Expect::Frame(_)))
            .collect();
        let mut stream = Vec::new();
        for (i, v) in frames.iter().enumerate() {
            stream.extend_from_slice(v.bytes);
            stream.extend_from_slice(&b"\n\n\n"[..i % 3]);
        }
        let p = parser(version);
        let (mut pos, mut seen, mut beats) = (0, 0, 0);
        while pos < stream.len() {
            let mut storage = [Header::EMPTY; 32];
            match p.parse(&stream[pos..], &mut storage) {
                Ok(Status::Complete((n, Item::Frame(frame)))) => {
                    let Expect::Frame(shape) = &frames[seen].expect else {
                        unreachable!()
                    };
                    check_shape(&frame, shape, frames[seen].path);
                    seen += 1;
                    pos += n;
                }
                Ok(Status::Complete((n, Item::HeartBeat))) => {
                    beats += 1;
                    pos += n;
                }
                other => panic!("{version} at {pos}: {other:?}"),
            }
        }
        assert_eq!(seen, frames.len());
        assert_eq!(beats, (0..frames.len()).map(|i| i % 3).sum::<usize>());
    }
}

#[test]
fn spec_1_0_typed_accessors() {
    let v = vectors();
    let get = |path: &str| v.iter().find(|v| v.path == path).unwrap();

    let sub = get("1.0/04-subscribe.stomp");
    let mut storage = [Header::EMPTY; 8];
    let frame = parse_whole(Version::V1_0, sub.bytes, &mut storage, sub.path);
    assert_eq!(frame.ack_mode(), Ok(Some(AckMode::Client)));
    assert!(frame.destination().unwrap() == "/queue/foo");
    // The same bytes under 1.1 keep the padding, which is then not an ack mode.
    let mut storage = [Header::EMPTY; 8];
    let frame = parse_whole(Version::V1_1, sub.bytes, &mut storage, sub.path);
    assert!(frame.destination().unwrap() == " /queue/foo");
    assert_eq!(frame.ack_mode(), Err(stomp_proto::ValueError::Malformed));
}

#[test]
fn spec_connect_accept_version_and_connected_version() {
    let v = vectors();
    let get = |path: &str| v.iter().find(|v| v.path == path).unwrap();
    for (path, expected) in [
        ("1.1/03-connect.stomp", Versions::EMPTY.with(Version::V1_1)),
        (
            "1.1/05-connect.stomp",
            Versions::EMPTY.with(Version::V1_0).with(Version::V1_1),
        ),
        ("1.2/04-connect.stomp", Versions::EMPTY.with(Version::V1_2)),
    ] {
        let e = get(path);
        let mut storage = [Header::EMPTY; 8];
        let frame = parse_whole(e.version, e.bytes, &mut storage, path);
        assert_eq!(frame.accept_version(), Ok(Some(expected)), "{path}");
        assert_eq!(frame.heart_beat(), Ok(None), "{path}");
    }
    let e = get("1.2/07-connected.stomp");
    let mut storage = [Header::EMPTY; 8];
    let frame = parse_whole(e.version, e.bytes, &mut storage, e.path);
    assert_eq!(
        Version::parse(frame.version().unwrap().raw()),
        Some(Version::V1_1)
    );
    assert_eq!(frame.accept_version(), Ok(None));
}

#[test]
fn spec_repeated_header_first_wins_all_kept() {
    for path in ["1.1/02-message.stomp", "1.2/03-message.stomp"] {
        let v = vectors();
        let e = v.iter().find(|v| v.path == path).unwrap();
        let mut storage = [Header::EMPTY; 8];
        let frame = parse_whole(e.version, e.bytes, &mut storage, path);
        assert!(frame.header("foo").unwrap() == "World");
        let all: Vec<_> = frame.headers().iter().map(|h| h.value).collect();
        assert_eq!(all, [&b"World"[..], b"Hello"]);
    }
}
