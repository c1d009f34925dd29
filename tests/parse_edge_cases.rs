//! Edge cases of the parser, per the rules in the `parse` module docs and the specs.

use stomp_proto::{Command, Header, Item, Limits, ParseError, Parser, Status, Version};

use Version::{V1_0, V1_1, V1_2};

/// What one `parse` call gave, owned so that it outlives the storage.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Partial,
    HeartBeat(usize),
    Frame(Parsed),
}

#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    consumed: usize,
    command: Command,
    /// Raw (wire-form) names and values.
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

fn parse_with(parser: Parser, input: &[u8]) -> Result<Got, ParseError> {
    let mut storage = [Header::EMPTY; 64];
    Ok(match parser.parse(input, &mut storage)? {
        Status::Partial => Got::Partial,
        Status::Complete((n, Item::HeartBeat)) => Got::HeartBeat(n),
        Status::Complete((consumed, Item::Frame(f))) => Got::Frame(Parsed {
            consumed,
            command: f.command(),
            headers: f
                .headers()
                .iter()
                .map(|h| (h.name.to_vec(), h.value.to_vec()))
                .collect(),
            body: f.body().to_vec(),
        }),
    })
}

fn parse(version: Version, input: &[u8]) -> Result<Got, ParseError> {
    parse_with(Parser::new().with_version(version), input)
}

/// Parses `input` as exactly one whole frame.
#[track_caller]
fn frame(version: Version, input: &[u8]) -> Parsed {
    match parse(version, input) {
        Ok(Got::Frame(f)) => {
            assert_eq!(f.consumed, input.len(), "consumed");
            f
        }
        other => panic!(
            "{version}: expected a frame from {:?}, got {other:?}",
            input.escape_ascii().to_string()
        ),
    }
}

#[track_caller]
fn error(version: Version, input: &[u8]) -> ParseError {
    match parse(version, input) {
        Err(e) => e,
        other => panic!(
            "{version}: expected an error from {:?}, got {other:?}",
            input.escape_ascii().to_string()
        ),
    }
}

fn h(name: &[u8], value: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (name.to_vec(), value.to_vec())
}

/// Runs `check` on the frame parsed from `input` (borrowed form, for the accessors).
fn with_frame(version: Version, input: &[u8], check: impl FnOnce(&stomp_proto::Frame<'_>)) {
    let mut storage = [Header::EMPTY; 32];
    let Ok(Status::Complete((n, Item::Frame(f)))) = Parser::new()
        .with_version(version)
        .parse(input, &mut storage)
    else {
        panic!("not a frame: {:?}", input.escape_ascii().to_string())
    };
    assert_eq!(n, input.len());
    check(&f);
}

// ---------------------------------------------------------------------------------------
// Repeated headers, colons, empty parts

#[test]
fn repeated_header_first_wins_all_kept() {
    for v in Version::ALL {
        let input = b"MESSAGE\nfoo:1\nbar:x\nfoo:2\nfoo:3\n\n\0";
        with_frame(v, input, |f| {
            assert!(f.header("foo").unwrap() == "1");
            assert_eq!(f.headers().len(), 4);
            let foos: Vec<_> = f
                .headers()
                .iter()
                .filter(|h| h.name == b"foo")
                .map(|h| h.value)
                .collect();
            assert_eq!(foos, [&b"1"[..], b"2", b"3"]);
        });
    }
}

#[test]
fn repeated_content_length_first_wins() {
    for v in Version::ALL {
        let f = frame(v, b"SEND\ncontent-length:3\ncontent-length:5\n\nabc\0");
        assert_eq!(f.body, b"abc");
        // A later, malformed one is history, not framing.
        let f = frame(v, b"SEND\ncontent-length:3\ncontent-length:x\n\na\0c\0");
        assert_eq!(f.body, b"a\0c");
    }
}

#[test]
fn raw_colon_in_value_splits_at_first_colon() {
    for v in Version::ALL {
        for command in ["SEND", "CONNECT", "CONNECTED", "MESSAGE"] {
            let input = format!("{command}\nfoo:a:b::c\n\n\0");
            let f = frame(v, input.as_bytes());
            assert_eq!(f.headers, [h(b"foo", b"a:b::c")], "{v} {command}");
        }
    }
}

#[test]
fn empty_value_is_allowed() {
    for v in Version::ALL {
        let f = frame(v, b"SEND\nfoo:\nbar:x\n\n\0");
        assert_eq!(f.headers, [h(b"foo", b""), h(b"bar", b"x")]);
        with_frame(v, b"SEND\nfoo:\n\n\0", |f| {
            assert!(f.header("foo").unwrap() == "");
        });
    }
}

#[test]
fn empty_header_name_is_an_error() {
    for v in Version::ALL {
        assert_eq!(error(v, b"SEND\n:x\n\n\0"), ParseError::EmptyHeaderName);
        assert_eq!(error(v, b"SEND\n:\n\n\0"), ParseError::EmptyHeaderName);
    }
}

#[test]
fn header_line_without_colon_is_an_error() {
    for v in Version::ALL {
        assert_eq!(error(v, b"SEND\nfoo\n\n\0"), ParseError::MissingColon);
        assert_eq!(error(v, b"SEND\na:1\n \n\n\0"), ParseError::MissingColon);
    }
}

// ---------------------------------------------------------------------------------------
// End of lines and heart-beats

#[test]
fn crlf_line_endings_in_1_2() {
    let f = frame(V1_2, b"SEND\r\ndestination:/q\r\nfoo:bar\r\n\r\nbody\r\n\0");
    assert_eq!(f.command, Command::Send);
    assert_eq!(f.headers, [h(b"destination", b"/q"), h(b"foo", b"bar")]);
    assert_eq!(f.body, b"body\r\n");
    // Mixed LF and CR LF.
    let f = frame(V1_2, b"SEND\na:1\r\nb:2\n\r\n\0");
    assert_eq!(f.headers, [h(b"a", b"1"), h(b"b", b"2")]);
}

#[test]
fn crlf_is_not_a_header_eol_in_1_0_and_1_1() {
    for v in [V1_0, V1_1] {
        // The CR stays in the value.
        let f = frame(v, b"SEND\nfoo:bar\r\n\n\0");
        assert_eq!(f.headers, [h(b"foo", b"bar\r")], "{v}");
        // A CR LF "blank line" is a header line without a colon.
        assert_eq!(
            error(v, b"SEND\nfoo:bar\n\r\n\0"),
            ParseError::MissingColon,
            "{v}"
        );
    }
}

#[test]
fn crlf_after_command_is_accepted_in_every_version() {
    for v in Version::ALL {
        let f = frame(v, b"SEND\r\nfoo:bar\n\n\0");
        assert_eq!(f.command, Command::Send);
        assert_eq!(f.headers, [h(b"foo", b"bar")]);
    }
}

#[test]
fn heartbeat_eols_between_frames() {
    for v in Version::ALL {
        let stream = b"\n\r\n\nSEND\n\nA\0\n\n\r\n\r\nRECEIPT\nreceipt-id:1\n\n\0\r\n\n";
        let mut items = Vec::new();
        let mut pos = 0;
        while pos < stream.len() {
            let got = parse(v, &stream[pos..]).unwrap();
            pos += match &got {
                Got::HeartBeat(n) => *n,
                Got::Frame(f) => f.consumed,
                Got::Partial => panic!("partial at {pos}"),
            };
            items.push(match got {
                Got::HeartBeat(n) => format!("hb{n}"),
                Got::Frame(f) => f.command.to_string(),
                Got::Partial => unreachable!(),
            });
        }
        assert_eq!(
            items,
            ["hb1", "hb2", "hb1", "SEND", "hb1", "hb1", "hb2", "hb2", "RECEIPT", "hb2", "hb1"],
            "{v}"
        );
    }
}

#[test]
fn lone_cr_heartbeat_is_partial_then_bare_cr() {
    for v in Version::ALL {
        assert_eq!(parse(v, b"\r"), Ok(Got::Partial));
        assert_eq!(parse(v, b""), Ok(Got::Partial));
        assert_eq!(parse(v, b"\rSEND\n\n\0"), Err(ParseError::BareCr));
    }
}

#[test]
fn bare_cr_in_headers_is_an_error_in_1_2() {
    for input in [
        &b"SEND\nfoo:a\rb\n\n\0"[..],
        b"SEND\nfoo:a\r\r\n\n\0",
        b"SEND\nf\roo:a\n\n\0",
        b"SEND\nfoo:a\r\nb\r:c\r\n\r\n\0",
        b"CONNECT\nfoo:a\rb\n\n\0",
    ] {
        assert_eq!(error(V1_2, input), ParseError::BareCr, "{input:?}");
    }
    // In 1.0 and 1.1 a CR inside a line is data.
    for v in [V1_0, V1_1] {
        let f = frame(v, b"SEND\nfoo:a\rb\n\n\0");
        assert_eq!(f.headers, [h(b"foo", b"a\rb")]);
    }
    // In a body, a CR is data in every version.
    let f = frame(V1_2, b"SEND\n\na\rb\r\0");
    assert_eq!(f.body, b"a\rb\r");
}

// ---------------------------------------------------------------------------------------
// Escapes

#[test]
fn defined_escapes_are_decoded_on_demand() {
    with_frame(V1_1, b"SEND\na\\cb:x\\ny\\\\z\\c\n\n\0", |f| {
        assert_eq!(f.headers()[0].name, b"a\\cb");
        assert!(f.header("a:b").unwrap() == "x\ny\\z:");
    });
    with_frame(V1_2, b"SEND\nk:\\r\\n\\c\\\\\n\n\0", |f| {
        assert!(f.header("k").unwrap() == "\r\n:\\");
    });
}

#[test]
fn tab_escape_is_an_error_in_1_1_and_1_2_and_data_in_1_0() {
    for v in [V1_1, V1_2] {
        assert_eq!(
            error(v, b"SEND\nfoo:a\\tb\n\n\0"),
            ParseError::InvalidEscape
        );
        assert_eq!(
            error(v, b"SEND\nf\\too:ab\n\n\0"),
            ParseError::InvalidEscape
        );
    }
    let f = frame(V1_0, b"SEND\nfoo:a\\tb\n\n\0");
    assert_eq!(f.headers, [h(b"foo", b"a\\tb")]);
    with_frame(V1_0, b"SEND\nfoo:a\\tb\\c\n\n\0", |f| {
        assert!(f.header("foo").unwrap() == "a\\tb\\c");
    });
}

#[test]
fn cr_escape_is_an_error_in_1_1_and_valid_in_1_2() {
    assert_eq!(
        error(V1_1, b"SEND\nfoo:a\\rb\n\n\0"),
        ParseError::InvalidEscape
    );
    with_frame(V1_2, b"SEND\nfoo:a\\rb\n\n\0", |f| {
        assert!(f.header("foo").unwrap() == "a\rb");
    });
}

#[test]
fn trailing_backslash_is_an_error_in_1_1_and_1_2() {
    for v in [V1_1, V1_2] {
        assert_eq!(error(v, b"SEND\nfoo:ab\\\n\n\0"), ParseError::InvalidEscape);
        assert_eq!(error(v, b"SEND\nfoo\\:ab\n\n\0"), ParseError::InvalidEscape);
        assert_eq!(
            error(v, b"SEND\nfoo:\\\nbar:x\n\n\0"),
            ParseError::InvalidEscape
        );
    }
    assert_eq!(
        error(V1_2, b"SEND\nfoo:ab\\\r\n\r\n\0"),
        ParseError::InvalidEscape
    );
    let f = frame(V1_0, b"SEND\nfoo:ab\\\n\n\0");
    assert_eq!(f.headers, [h(b"foo", b"ab\\")]);
}

#[test]
fn escapes_in_connect_and_connected_are_not_decoded() {
    for v in [V1_1, V1_2] {
        for command in ["CONNECT", "CONNECTED"] {
            let input = format!("{command}\nlogin:a\\tb\\\npasscode:x\\cy\\n\n\n\0");
            let f = frame(v, input.as_bytes());
            assert_eq!(
                f.headers,
                [h(b"login", b"a\\tb\\"), h(b"passcode", b"x\\cy\\n")],
                "{v} {command}"
            );
            with_frame(v, input.as_bytes(), |f| {
                assert!(f.login().unwrap() == "a\\tb\\");
                assert!(f.passcode().unwrap() == "x\\cy\\n");
                assert_eq!(f.passcode().unwrap().as_plain(), Some(&b"x\\cy\\n"[..]));
            });
        }
        // STOMP is not exempt from escaping (the spec exempts only CONNECT and CONNECTED).
        assert_eq!(
            error(v, b"STOMP\nlogin:a\\tb\n\n\0"),
            ParseError::InvalidEscape
        );
    }
}

// ---------------------------------------------------------------------------------------
// Bodies and content-length

#[test]
fn nul_in_body_with_content_length() {
    for v in Version::ALL {
        let f = frame(v, b"SEND\ncontent-length:5\n\na\0b\0c\0");
        assert_eq!(f.body, b"a\0b\0c");
        let f = frame(v, b"MESSAGE\ncontent-length:3\n\n\0\0\0\0");
        assert_eq!(f.body, b"\0\0\0");
    }
}

#[test]
fn without_content_length_body_ends_at_first_nul() {
    for v in Version::ALL {
        let Ok(Got::Frame(f)) = parse(v, b"SEND\n\nab\0cd\0") else {
            panic!()
        };
        assert_eq!(f.body, b"ab");
        assert_eq!(f.consumed, 9);
    }
}

#[test]
fn content_length_too_short_is_missing_nul() {
    for v in Version::ALL {
        assert_eq!(
            error(v, b"SEND\ncontent-length:2\n\nabc\0"),
            ParseError::MissingNul
        );
    }
}

#[test]
fn content_length_too_long_waits_then_is_missing_nul() {
    for v in Version::ALL {
        assert_eq!(
            parse(v, b"SEND\ncontent-length:5\n\nabc\0"),
            Ok(Got::Partial)
        );
        assert_eq!(
            error(v, b"SEND\ncontent-length:5\n\nabc\0\n\n"),
            ParseError::MissingNul
        );
    }
}

#[test]
fn content_length_garbage_is_invalid() {
    for value in ["", "abc", "-1", "+1", "0x10", "1.0", "1e3", "1,2", "١"] {
        for v in Version::ALL {
            let input = format!("SEND\ncontent-length:{value}\n\n\0");
            assert_eq!(
                error(v, input.as_bytes()),
                ParseError::InvalidContentLength,
                "{v} {value:?}"
            );
        }
    }
    // Padding is data in 1.1 and 1.2, trimmed in 1.0.
    for v in [V1_1, V1_2] {
        assert_eq!(
            error(v, b"SEND\ncontent-length: 3\n\nabc\0"),
            ParseError::InvalidContentLength
        );
        assert_eq!(
            error(v, b"SEND\ncontent-length:3 \n\nabc\0"),
            ParseError::InvalidContentLength
        );
    }
    assert_eq!(
        frame(V1_0, b"SEND\ncontent-length: 3 \n\na\0c\0").body,
        b"a\0c"
    );
    // Leading zeros are digits.
    assert_eq!(
        frame(V1_2, b"SEND\ncontent-length:003\n\na\0c\0").body,
        b"a\0c"
    );
}

#[test]
fn content_length_overflowing_u64_is_invalid() {
    for value in ["18446744073709551616", "99999999999999999999999999999"] {
        let input = format!("SEND\ncontent-length:{value}\n\n\0");
        assert_eq!(
            error(V1_2, input.as_bytes()),
            ParseError::InvalidContentLength
        );
    }
}

#[test]
fn content_length_larger_than_usize_is_invalid() {
    let value = (usize::MAX as u128 + 1).to_string();
    let input = format!("SEND\ncontent-length:{value}\n\n\0");
    assert_eq!(
        error(V1_2, input.as_bytes()),
        ParseError::InvalidContentLength
    );
}

#[test]
fn content_length_of_usize_max_is_a_limit_not_a_panic() {
    let input = format!("SEND\ncontent-length:{}\n\n\0", usize::MAX);
    assert_eq!(error(V1_2, input.as_bytes()), ParseError::BodyTooLarge);
    let unlimited = Parser::new().with_limits(Limits::UNLIMITED);
    assert_eq!(
        parse_with(unlimited, input.as_bytes()),
        Err(ParseError::FrameTooLarge)
    );
    let input = format!("SEND\ncontent-length:{}\n\n\0", usize::MAX - 1);
    assert_eq!(
        parse_with(unlimited, input.as_bytes()),
        Err(ParseError::FrameTooLarge)
    );
}

#[test]
fn body_on_a_frame_that_may_not_have_one() {
    let bodiless = Command::ALL.iter().filter(|c| !c.may_have_body());
    for command in bodiless {
        for v in [V1_1, V1_2] {
            if !command.exists_in(v) {
                continue;
            }
            let without = format!("{command}\nid:0\n\nx\0");
            assert_eq!(
                error(v, without.as_bytes()),
                ParseError::UnexpectedBody,
                "{v} {command}"
            );
            // Found on the first body octet, without waiting for the NUL.
            assert_eq!(
                error(v, &without.as_bytes()[..without.len() - 1]),
                ParseError::UnexpectedBody,
                "{v} {command} (partial)"
            );
            let with = format!("{command}\ncontent-length:1\n\nx\0");
            assert_eq!(
                error(v, with.as_bytes()),
                ParseError::UnexpectedBody,
                "{v} {command} with content-length"
            );
            // Found from the header alone.
            let head = format!("{command}\ncontent-length:1\n\n");
            assert_eq!(
                error(v, head.as_bytes()),
                ParseError::UnexpectedBody,
                "{v} {command} header only"
            );
            let zero = format!("{command}\ncontent-length:0\n\n\0");
            assert!(frame(v, zero.as_bytes()).body.is_empty());
        }
        // 1.0 allows a body on every frame.
        let without = format!("{command}\nid:0\n\nx\0");
        if command.exists_in(V1_0) {
            assert_eq!(frame(V1_0, without.as_bytes()).body, b"x");
            let with = format!("{command}\ncontent-length:2\n\nx\0\0");
            assert_eq!(frame(V1_0, with.as_bytes()).body, b"x\0");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Commands

#[test]
fn every_command_parses_in_its_versions() {
    for v in Version::ALL {
        for command in Command::ALL {
            let input = format!("{command}\n\n\0");
            if command.exists_in(v) {
                assert_eq!(frame(v, input.as_bytes()).command, command);
            } else {
                assert_eq!(error(v, input.as_bytes()), ParseError::CommandNotInVersion);
            }
        }
    }
}

#[test]
fn unknown_or_lowercase_command_is_an_error() {
    for v in Version::ALL {
        for line in [
            &b"send"[..],
            b"Send",
            b"FOO",
            b"SEND ",
            b" SEND",
            b"SENDX",
            b"GET / HTTP/1.1",
            b"\0",
        ] {
            let mut input = line.to_vec();
            input.extend_from_slice(b"\n\n\0");
            assert_eq!(error(v, &input), ParseError::UnknownCommand, "{v} {line:?}");
        }
    }
}

#[test]
fn nack_and_stomp_are_not_in_1_0() {
    assert_eq!(
        error(V1_0, b"NACK\nid:1\n\n\0"),
        ParseError::CommandNotInVersion
    );
    assert_eq!(error(V1_0, b"STOMP\n\n\0"), ParseError::CommandNotInVersion);
    for v in [V1_1, V1_2] {
        assert_eq!(frame(v, b"NACK\nid:1\n\n\0").command, Command::Nack);
        assert_eq!(frame(v, b"STOMP\n\n\0").command, Command::Stomp);
    }
}

// ---------------------------------------------------------------------------------------
// 1.0 trimming

#[test]
fn values_are_trimmed_in_1_0_only() {
    let input = b"SEND\nfoo: \t bar baz\t \nempty: \t\n\n\0";
    assert_eq!(
        frame(V1_0, input).headers,
        [h(b"foo", b"bar baz"), h(b"empty", b"")]
    );
    for v in [V1_1, V1_2] {
        assert_eq!(
            frame(v, input).headers,
            [h(b"foo", b" \t bar baz\t "), h(b"empty", b" \t")]
        );
    }
}

#[test]
fn trimming_in_1_0_removes_only_spaces_and_tabs() {
    // Form feed, vertical tab and CR are not padding, at either end.
    for (value, kept) in [
        (&b"\x0cbar\x0c"[..], &b"\x0cbar\x0c"[..]),
        (b"\x0bbar\x0b", b"\x0bbar\x0b"),
        (b" \rbar \r", b"\rbar \r"),
        (b"\r", b"\r"),
    ] {
        let mut input = b"SEND\nfoo:".to_vec();
        input.extend_from_slice(value);
        input.extend_from_slice(b"\n\n\0");
        assert_eq!(frame(V1_0, &input).headers, [h(b"foo", kept)], "{value:?}");
    }
}

#[test]
fn header_names_are_not_trimmed() {
    assert_eq!(
        frame(V1_0, b"SEND\n foo :x\n\n\0").headers,
        [h(b" foo ", b"x")]
    );
}

// ---------------------------------------------------------------------------------------
// Limits

fn limited(limits: Limits) -> Parser {
    Parser::new().with_limits(limits)
}

#[test]
fn each_limit_has_its_own_error() {
    let all = [
        ParseError::FrameTooLarge,
        ParseError::HeaderCountLimit,
        ParseError::HeaderLineTooLong,
        ParseError::BodyTooLarge,
    ];
    for (i, a) in all.iter().enumerate() {
        assert!(a.is_limit());
        for b in &all[i + 1..] {
            assert_ne!(a, b);
        }
    }
    assert!(!ParseError::TooManyHeaders.is_limit());
    assert!(!ParseError::MissingNul.is_limit());
}

#[test]
fn max_frame_len_is_enforced_while_partial() {
    let p = limited(Limits {
        max_frame_len: 64,
        ..Limits::DEFAULT
    });
    // A frame of exactly 64 octets is fine.
    let mut exact = b"SEND\n\n".to_vec();
    exact.resize(63, b'x');
    exact.push(0);
    assert!(matches!(parse_with(p, &exact), Ok(Got::Frame(f)) if f.consumed == 64));
    // One more octet of body: found once 64 octets are buffered, before any NUL.
    let mut over = b"SEND\n\n".to_vec();
    over.resize(64, b'x');
    assert_eq!(parse_with(p, &over[..63]), Ok(Got::Partial));
    assert_eq!(parse_with(p, &over), Err(ParseError::FrameTooLarge));
    // With content-length: found from the header block alone.
    assert_eq!(
        parse_with(p, b"SEND\ncontent-length:58\n\n"),
        Err(ParseError::FrameTooLarge)
    );
    assert!(matches!(
        parse_with(p, b"SEND\ncontent-length:38\n\n"),
        Ok(Got::Partial)
    ));
    // Inside a header line, well under the line limit: found once 64 octets are buffered.
    let mut long_header = b"SEND\nfoo:".to_vec();
    long_header.resize(64, b'v');
    assert_eq!(parse_with(p, &long_header[..63]), Ok(Got::Partial));
    assert_eq!(parse_with(p, &long_header), Err(ParseError::FrameTooLarge));
    // Many short header lines.
    let many = b"SEND\na:1\na:1\na:1\na:1\na:1\na:1\na:1\na:1\na:1\na:1\na:1\na:1\na:1\na:1\na:1\n";
    assert_eq!(many.len(), 65);
    assert_eq!(parse_with(p, many), Err(ParseError::FrameTooLarge));
    // Even the command line counts.
    let tiny = limited(Limits {
        max_frame_len: 3,
        ..Limits::DEFAULT
    });
    assert_eq!(parse_with(tiny, b"SEN"), Err(ParseError::FrameTooLarge));
}

#[test]
fn max_headers_is_enforced_while_partial() {
    let p = limited(Limits {
        max_headers: 2,
        ..Limits::DEFAULT
    });
    assert!(matches!(
        parse_with(p, b"SEND\na:1\nb:2\n\n\0"),
        Ok(Got::Frame(_))
    ));
    // The third header line is the error; the rest of the frame never comes.
    assert_eq!(
        parse_with(p, b"SEND\na:1\nb:2\nc:3\n"),
        Err(ParseError::HeaderCountLimit)
    );
    let none = limited(Limits {
        max_headers: 0,
        ..Limits::DEFAULT
    });
    assert!(matches!(
        parse_with(none, b"DISCONNECT\n\n\0"),
        Ok(Got::Frame(_))
    ));
    assert_eq!(
        parse_with(none, b"SEND\na:1\n"),
        Err(ParseError::HeaderCountLimit)
    );
}

#[test]
fn max_header_line_len_is_enforced_while_partial() {
    let p = limited(Limits {
        max_header_line_len: 8,
        ..Limits::DEFAULT
    });
    // Exactly 8 octets, LF or CR LF after them.
    assert!(matches!(
        parse_with(p, b"SEND\nabc:1234\n\n\0"),
        Ok(Got::Frame(_))
    ));
    assert!(matches!(
        parse_with(p, b"SEND\r\nabc:1234\r\n\r\n\0"),
        Ok(Got::Frame(_))
    ));
    assert!(matches!(
        parse_with(p, b"CONNECTED\n\n\0"),
        Err(ParseError::HeaderLineTooLong)
    ));
    assert_eq!(
        parse_with(p, b"SEND\nabc:12345\n\n\0"),
        Err(ParseError::HeaderLineTooLong)
    );
    // Without the end of the line: 10 octets cannot be 8 plus a CR LF.
    assert_eq!(parse_with(p, b"SEND\nabc:12345"), Ok(Got::Partial));
    assert_eq!(
        parse_with(p, b"SEND\nabc:123456"),
        Err(ParseError::HeaderLineTooLong)
    );
    assert_eq!(
        parse_with(p, b"UNSUBSCRIB"),
        Err(ParseError::HeaderLineTooLong)
    );
}

#[test]
fn max_body_len_is_enforced_while_partial() {
    let p = limited(Limits {
        max_body_len: 4,
        ..Limits::DEFAULT
    });
    assert!(matches!(
        parse_with(p, b"SEND\n\nabcd\0"),
        Ok(Got::Frame(_))
    ));
    assert!(matches!(
        parse_with(p, b"SEND\ncontent-length:4\n\na\0cd\0"),
        Ok(Got::Frame(_))
    ));
    // Without content-length: the fifth body octet is the error, no NUL needed.
    assert_eq!(parse_with(p, b"SEND\n\nabcd"), Ok(Got::Partial));
    assert_eq!(
        parse_with(p, b"SEND\n\nabcde"),
        Err(ParseError::BodyTooLarge)
    );
    // With content-length: the header alone is the error.
    assert_eq!(
        parse_with(p, b"SEND\ncontent-length:5\n\n"),
        Err(ParseError::BodyTooLarge)
    );
}

#[test]
fn too_many_headers_when_storage_is_too_small() {
    let parser = Parser::new();
    let input = b"SEND\na:1\nb:2\nc:3\n\n\0";
    let mut two = [Header::EMPTY; 2];
    assert_eq!(
        parser.parse(input, &mut two),
        Err(ParseError::TooManyHeaders)
    );
    let mut three = [Header::EMPTY; 3];
    assert!(parser.parse(input, &mut three).unwrap().is_complete());
    let mut none: [Header<'_>; 0] = [];
    assert!(parser
        .parse(b"DISCONNECT\n\n\0", &mut none)
        .unwrap()
        .is_complete());
    assert_eq!(
        parser.parse(b"DISCONNECT\na:1\n\n\0", &mut none),
        Err(ParseError::TooManyHeaders)
    );
}

// ---------------------------------------------------------------------------------------
// Partial input

#[test]
fn partial_at_every_prefix_of_a_valid_frame() {
    let frames: [(Version, &[u8]); 7] = [
        (
            V1_2,
            b"SEND\r\ndestination:/q\\c1\r\ncontent-length:3\r\n\r\na\0b\0",
        ),
        (
            V1_2,
            b"MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/a\n\nhello\0",
        ),
        (V1_1, b"SUBSCRIBE\nid:0\ndestination:/a\nack:client\n\n\0"),
        (V1_1, b"ERROR\nmessage:a\\nb\ncontent-length:0\n\n\0"),
        (V1_0, b"CONNECT\nlogin: guest \npasscode:x\n\n\0"),
        (V1_0, b"ACK\nmessage-id:1\n\nbody\0"),
        (V1_2, b"DISCONNECT\n\n\0"),
    ];
    for (v, input) in frames {
        let whole = frame(v, input);
        for end in 0..input.len() {
            assert_eq!(
                parse(v, &input[..end]),
                Ok(Got::Partial),
                "{v} {input:?} cut at {end}"
            );
        }
        // The same frame followed by anything is still the same frame.
        let mut more = input.to_vec();
        more.extend_from_slice(b"\nSEND\n");
        assert_eq!(parse(v, &more), Ok(Got::Frame(whole)));
    }
}

// ---------------------------------------------------------------------------------------
// Typed accessors

mod accessors {
    use super::*;
    use stomp_proto::escape::Escaping;
    use stomp_proto::{AckMode, HeartBeat, UnescapeError, Value, ValueError, Versions};

    fn one_header<R>(name: &str, value: &str, get: impl FnOnce(&stomp_proto::Frame<'_>) -> R) -> R {
        let input = format!("SEND\n{name}:{value}\n\n\0");
        let mut storage = [Header::EMPTY; 4];
        let Ok(Status::Complete((_, Item::Frame(f)))) = Parser::new()
            .with_version(V1_1)
            .parse(input.as_bytes(), &mut storage)
        else {
            panic!()
        };
        get(&f)
    }

    #[test]
    fn heart_beat_accessor() {
        assert_eq!(
            one_header("heart-beat", "10,20", |f| f.heart_beat()),
            Ok(Some(HeartBeat::new(10, 20)))
        );
        assert_eq!(
            one_header("heart-beat", "0,0", |f| f.heart_beat()),
            Ok(Some(HeartBeat::NONE))
        );
        assert_eq!(
            one_header("heart-beat", "4294967295,0", |f| f.heart_beat()),
            Ok(Some(HeartBeat::new(u32::MAX, 0)))
        );
        for bad in [
            "10", "10,", ",10", "1, 2", " 1,2", "1,2,3", "a,b", "", "-1,0",
        ] {
            assert_eq!(
                one_header("heart-beat", bad, |f| f.heart_beat()),
                Err(ValueError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            one_header("heart-beat", "4294967296,0", |f| f.heart_beat()),
            Err(ValueError::Overflow)
        );
        assert_eq!(one_header("other", "1", |f| f.heart_beat()), Ok(None));
    }

    #[test]
    fn accept_version_accessor() {
        let v10_12 = Versions::EMPTY.with(V1_0).with(V1_2);
        assert_eq!(
            one_header("accept-version", "1.0,1.2", |f| f.accept_version()),
            Ok(Some(v10_12))
        );
        // Unknown versions are skipped.
        assert_eq!(
            one_header("accept-version", "1.1,3.0", |f| f.accept_version()),
            Ok(Some(Versions::EMPTY.with(V1_1)))
        );
        assert_eq!(
            one_header("accept-version", "2.0", |f| f.accept_version()),
            Ok(Some(Versions::EMPTY))
        );
        for bad in ["", "1.1,", ",1.1", "1.1 ,1.2", "x"] {
            assert_eq!(
                one_header("accept-version", bad, |f| f.accept_version()),
                Err(ValueError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(one_header("x", "1", |f| f.accept_version()), Ok(None));
    }

    #[test]
    fn ack_mode_accessor() {
        for (value, mode) in [
            ("auto", AckMode::Auto),
            ("client", AckMode::Client),
            ("client-individual", AckMode::ClientIndividual),
        ] {
            assert_eq!(one_header("ack", value, |f| f.ack_mode()), Ok(Some(mode)));
        }
        for bad in ["Client", "", "client ", "individual"] {
            assert_eq!(
                one_header("ack", bad, |f| f.ack_mode()),
                Err(ValueError::Malformed)
            );
        }
        assert_eq!(one_header("x", "1", |f| f.ack_mode()), Ok(None));
    }

    #[test]
    fn content_length_accessor() {
        with_frame(V1_2, b"SEND\ncontent-length:3\n\nabc\0", |f| {
            assert_eq!(f.content_length(), Some(3));
        });
        with_frame(V1_2, b"SEND\n\nabc\0", |f| {
            assert_eq!(f.content_length(), None)
        });
    }

    #[test]
    fn every_value_accessor_finds_its_header() {
        let names = [
            "content-type",
            "receipt",
            "receipt-id",
            "destination",
            "id",
            "ack",
            "subscription",
            "message-id",
            "transaction",
            "version",
            "host",
            "login",
            "passcode",
            "session",
            "server",
            "message",
        ];
        let mut input = String::from("MESSAGE\n");
        for (i, name) in names.iter().enumerate() {
            input.push_str(&format!("{name}:v{i}\\c\n"));
        }
        input.push_str("\n\0");
        with_frame(V1_2, input.as_bytes(), |f| {
            let got: [Option<Value<'_>>; 16] = [
                f.content_type(),
                f.receipt(),
                f.receipt_id(),
                f.destination(),
                f.id(),
                f.ack(),
                f.subscription(),
                f.message_id(),
                f.transaction(),
                f.version(),
                f.host(),
                f.login(),
                f.passcode(),
                f.session(),
                f.server(),
                f.message(),
            ];
            for (i, value) in got.iter().enumerate() {
                let value = value.unwrap_or_else(|| panic!("{}", names[i]));
                assert!(value == format!("v{i}:").as_str(), "{}", names[i]);
                assert_eq!(value.raw(), format!("v{i}\\c").as_bytes());
            }
        });
        with_frame(V1_2, b"RECEIPT\n\n\0", |f| {
            assert!(f.receipt_id().is_none());
            assert!(f.destination().is_none());
            assert!(f.message().is_none());
        });
    }

    #[test]
    fn value_compares_decoded_with_str_and_bytes() {
        with_frame(V1_2, b"SEND\nk:a\\cb\\\\\\n\n\n\0", |f| {
            let v = f.header("k").unwrap();
            assert!(v == "a:b\\\n");
            let bytes: &[u8] = b"a:b\\\n";
            assert!(v == bytes); // PartialEq<&[u8]>
            assert!(v == *"a:b\\\n");
            assert!(v == b"a:b\\\n"[..]);
            assert!(v != "a\\cb\\\\\\n");
            assert!(v != "a:b\\");
            assert!(v != "a:b\\\nx");
            assert!(v != "");
            assert_eq!(v.raw(), b"a\\cb\\\\\\n");
            assert_eq!(v.as_plain(), None);
            assert_eq!(v.as_str(), None);
            assert_eq!(v.escaping(), Escaping::V1_2);
        });
        // A value with an undefined escape (built by hand) equals nothing.
        let bad = Value::new(b"a\\tb", Escaping::V1_2);
        assert!(bad != "a\\tb");
        assert!(bad != "a\tb");
        assert!(bad != "atb");
        // Under no escaping the raw bytes are the value.
        let raw = Value::new(b"a\\cb", Escaping::None);
        assert!(raw == "a\\cb");
        assert_eq!(raw.as_str(), Some("a\\cb"));
        // Not UTF-8: plain, but no str.
        let bin = Value::new(b"\xff", Escaping::V1_2);
        assert_eq!(bin.as_plain(), Some(&b"\xff"[..]));
        assert_eq!(bin.as_str(), None);
    }

    #[test]
    fn header_lookup_compares_decoded_names() {
        with_frame(V1_1, b"SEND\na\\cb:1\nc\\nd:2\n\n\0", |f| {
            assert!(f.header("a:b").unwrap() == "1");
            assert!(f.header("c\nd").unwrap() == "2");
            assert!(f.header("a\\cb").is_none());
        });
        // In CONNECT nothing is decoded, names included.
        with_frame(V1_1, b"CONNECT\na\\cb:1\n\n\0", |f| {
            assert!(f.header("a\\cb").unwrap() == "1");
            assert!(f.header("a:b").is_none());
        });
    }

    #[test]
    fn unescape_into_and_decode() {
        let v = Value::new(b"x\\cy\\r", Escaping::V1_2);
        let mut out = [0u8; 8];
        assert_eq!(v.unescape_into(&mut out).unwrap(), b"x:y\r");
        let mut small = [7u8; 3];
        assert_eq!(
            v.unescape_into(&mut small),
            Err(UnescapeError::BufferTooSmall { required: 4 })
        );
        assert_eq!(small, [7; 3]);
        let mut exact = [0u8; 4];
        assert_eq!(v.unescape_into(&mut exact).unwrap(), b"x:y\r");
        assert_eq!(
            Value::new(b"x\\r", Escaping::V1_1).unescape_into(&mut out),
            Err(UnescapeError::InvalidEscape)
        );
        #[cfg(feature = "alloc")]
        {
            assert_eq!(
                Value::new(b"x\\", Escaping::V1_2).decode(),
                Err(UnescapeError::InvalidEscape)
            );
            decode_borrows_only_without_escapes(&v);
        }
    }

    #[cfg(feature = "alloc")]
    fn decode_borrows_only_without_escapes(v: &Value<'_>) {
        let decoded = v.decode().unwrap();
        assert!(matches!(decoded, std::borrow::Cow::Owned(_)));
        assert_eq!(&*decoded, b"x:y\r");
        let plain = Value::new(b"plain", Escaping::V1_2);
        assert!(matches!(
            plain.decode().unwrap(),
            std::borrow::Cow::Borrowed(b"plain")
        ));
        let none = Value::new(b"a\\tb", Escaping::None);
        assert!(matches!(
            none.decode().unwrap(),
            std::borrow::Cow::Borrowed(b"a\\tb")
        ));
    }
}

#[test]
fn garbage_without_newline_is_rejected_before_a_whole_line_arrives() {
    use stomp_proto::{Header, ParseError, Parser, Status};
    let parser = Parser::new();
    let mut headers = [Header::EMPTY; 4];
    // Prefixes of real commands wait for more input …
    for partial in [&b"S"[..], b"SUBSCR", b"UNSUBSCRIBE", b"CONNECTED\r"] {
        assert_eq!(
            parser.parse(partial, &mut headers),
            Ok(Status::Partial),
            "{partial:?}"
        );
    }
    // … anything else fails at once, long before `max_header_line_len` octets.
    for garbage in [
        &b"\x00\x01"[..],
        b"GET / HTTP/1.1",
        b"SENDX",
        b"send",
        b"CONNECTED\r\r",
    ] {
        assert_eq!(
            parser.parse(garbage, &mut headers),
            Err(ParseError::UnknownCommand),
            "{garbage:?}"
        );
    }
}
