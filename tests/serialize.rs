#![cfg(feature = "alloc")]
//! The serializer: exact lengths, untouched buffers on error, content-length policies, and
//! what each version and command can carry.

use stomp_proto::escape::{self, Escaping};
use stomp_proto::serialize::{encoded_len, write_frame};
use stomp_proto::{
    Command, ContentLength, Frame, FrameBuilder, Header, Item, Parser, SerializeError, Status,
    Version,
};

use Version::{V1_0, V1_1, V1_2};

fn bytes<const N: usize>(builder: &FrameBuilder<'_, N>) -> Result<Vec<u8>, SerializeError> {
    builder.to_vec()
}

#[test]
fn buffer_too_small_reports_required_and_leaves_buffer_untouched() {
    let b = FrameBuilder::new(V1_2, Command::Send)
        .header("destination", "/q:1")
        .body(b"a\0b");
    let required = b.encoded_len().unwrap();
    for size in [0, 1, required / 2, required - 1] {
        let mut out = vec![0xAA; size];
        assert_eq!(
            b.write_to(&mut out),
            Err(SerializeError::BufferTooSmall { required })
        );
        assert!(out.iter().all(|&x| x == 0xAA), "size {size}");
    }
    let mut out = vec![0xAA; required + 3];
    assert_eq!(b.write_to(&mut out), Ok(required));
    assert_eq!(&out[required..], [0xAA; 3]);
    assert_eq!(&out[..required], &bytes(&b).unwrap()[..]);

    // Frame::write_to and write_frame behave the same.
    let headers = [Header::new(b"destination", b"/q")];
    let frame = Frame::new(V1_2, Command::Send, &headers, b"hi");
    let required = frame.encoded_len().unwrap();
    let mut out = vec![0x55; required - 1];
    assert_eq!(
        frame.write_to(&mut out),
        Err(SerializeError::BufferTooSmall { required })
    );
    assert!(out.iter().all(|&x| x == 0x55));

    let plain: [(&[u8], &[u8]); 1] = [(b"a:b", b"c\nd")];
    let required = encoded_len(V1_1, Command::Send, &plain, b"", ContentLength::Always).unwrap();
    let mut out = vec![0x11; required - 1];
    assert_eq!(
        write_frame(
            V1_1,
            Command::Send,
            &plain,
            b"",
            ContentLength::Always,
            &mut out
        ),
        Err(SerializeError::BufferTooSmall { required })
    );
    assert!(out.iter().all(|&x| x == 0x11));

    // escape_into too.
    let mut out = [0x22; 3];
    assert_eq!(
        escape::escape_into(Escaping::V1_2, b"a:b", &mut out),
        Err(SerializeError::BufferTooSmall { required: 4 })
    );
    assert_eq!(out, [0x22; 3]);
}

#[test]
fn builder_escapes_per_version_and_command() {
    let value = "a:b\r\n\\";
    let cases = [
        (
            V1_2,
            Command::Send,
            &b"SEND\nk\\c:a\\cb\\r\\n\\\\\n\n\0"[..],
        ),
        (V1_1, Command::Send, b"SEND\nk\\c:a\\cb\r\\n\\\\\n\n\0"),
        (V1_1, Command::Stomp, b"STOMP\nk\\c:a\\cb\r\\n\\\\\n\n\0"),
    ];
    for (v, command, expected) in cases {
        let b = FrameBuilder::new(v, command).header("k:", value);
        assert_eq!(bytes(&b).unwrap(), expected, "{v} {command}");
    }
    // CONNECT, CONNECTED and 1.0: written raw, and so LF (and CR in 1.2) cannot be written.
    let b = FrameBuilder::new(V1_2, Command::Connect).header("k", "a:b\\");
    assert_eq!(bytes(&b).unwrap(), b"CONNECT\nk:a:b\\\n\n\0");
    let b = FrameBuilder::new(V1_1, Command::Connected).header("k", "a\rb");
    assert_eq!(bytes(&b).unwrap(), b"CONNECTED\nk:a\rb\n\n\0");
}

#[test]
fn content_length_added_when_body_has_nul() {
    let b = FrameBuilder::new(V1_2, Command::Send).body(b"a\0b");
    assert_eq!(bytes(&b).unwrap(), b"SEND\ncontent-length:3\n\na\0b\0");
    let b = FrameBuilder::new(V1_2, Command::Send).body(b"ab");
    assert_eq!(bytes(&b).unwrap(), b"SEND\n\nab\0");
    // Even under 1.0, and on any command there.
    let b = FrameBuilder::new(V1_0, Command::Ack).body(b"\0");
    assert_eq!(bytes(&b).unwrap(), b"ACK\ncontent-length:1\n\n\0\0");
}

#[test]
fn content_length_policy_when_body() {
    let b = FrameBuilder::new(V1_2, Command::Send)
        .body(b"hello")
        .content_length(ContentLength::WhenBody);
    assert_eq!(bytes(&b).unwrap(), b"SEND\ncontent-length:5\n\nhello\0");
    let b = FrameBuilder::new(V1_2, Command::Send).content_length(ContentLength::WhenBody);
    assert_eq!(bytes(&b).unwrap(), b"SEND\n\n\0");
}

#[test]
fn content_length_policy_always() {
    let b = FrameBuilder::new(V1_2, Command::Subscribe)
        .header("id", "0")
        .content_length(ContentLength::Always);
    assert_eq!(
        bytes(&b).unwrap(),
        b"SUBSCRIBE\nid:0\ncontent-length:0\n\n\0"
    );
    let body = vec![b'x'; 1234];
    let b = FrameBuilder::new(V1_1, Command::Message)
        .body(&body)
        .content_length(ContentLength::Always);
    let out = bytes(&b).unwrap();
    assert!(out.starts_with(b"MESSAGE\ncontent-length:1234\n\nxxx"));
    assert_eq!(out.len(), b.encoded_len().unwrap());
}

#[test]
fn given_content_length_is_kept_and_must_match() {
    let b = FrameBuilder::new(V1_2, Command::Send)
        .header("content-length", "3")
        .body(b"a\0b")
        .content_length(ContentLength::Always);
    assert_eq!(bytes(&b).unwrap(), b"SEND\ncontent-length:3\n\na\0b\0");
    for wrong in ["2", "4", "x", "", " 3", "03x"] {
        let b = FrameBuilder::new(V1_2, Command::Send)
            .header("content-length", wrong)
            .body(b"abc");
        assert_eq!(
            b.encoded_len(),
            Err(SerializeError::ContentLengthMismatch),
            "{wrong:?}"
        );
        let mut out = [0xEE; 64];
        assert_eq!(
            b.write_to(&mut out),
            Err(SerializeError::ContentLengthMismatch)
        );
        assert_eq!(out, [0xEE; 64]);
    }
    // Leading zeros are the same number.
    let b = FrameBuilder::new(V1_2, Command::Send)
        .header("content-length", "003")
        .body(b"abc");
    assert!(b.encoded_len().is_ok());
    // Only the first one frames the body, as when parsing.
    let b = FrameBuilder::new(V1_2, Command::Send)
        .header("content-length", "3")
        .header("content-length", "7")
        .body(b"abc");
    assert!(b.encoded_len().is_ok());
}

#[test]
fn invalid_header_name_and_value_in_1_0_and_connect() {
    use SerializeError::{InvalidHeaderName, InvalidHeaderValue};
    let raw_frames = [
        (V1_0, Command::Send),
        (V1_0, Command::Connect),
        (V1_1, Command::Connect),
        (V1_1, Command::Connected),
        (V1_2, Command::Connect),
        (V1_2, Command::Connected),
    ];
    for (v, command) in raw_frames {
        let err = |name: &'static [u8], value: &'static [u8]| {
            FrameBuilder::new(v, command)
                .header_bytes(name, value)
                .encoded_len()
                .err()
        };
        assert_eq!(err(b"a:b", b"x"), Some(InvalidHeaderName), "{v} {command}");
        assert_eq!(err(b"a\nb", b"x"), Some(InvalidHeaderName), "{v} {command}");
        assert_eq!(err(b"", b"x"), Some(InvalidHeaderName), "{v} {command}");
        assert_eq!(
            err(b"a", b"x\ny"),
            Some(InvalidHeaderValue),
            "{v} {command}"
        );
        // A colon in a value is kept raw: the parser splits at the first one.
        assert_eq!(err(b"a", b"x:y"), None, "{v} {command}");
        if v == V1_2 {
            assert_eq!(err(b"a\rb", b"x"), Some(InvalidHeaderName));
            assert_eq!(err(b"a", b"x\ry"), Some(InvalidHeaderValue));
        } else {
            assert_eq!(err(b"a\rb", b"x"), None);
            assert_eq!(err(b"a", b"x\ry"), None);
        }
    }
    // Escaping frames take any name and value, but never an empty name.
    for v in [V1_1, V1_2] {
        let b = FrameBuilder::new(v, Command::Send).header_bytes(b"", b"x");
        assert_eq!(b.encoded_len(), Err(InvalidHeaderName));
        let b = FrameBuilder::new(v, Command::Send).header_bytes(b"a:\n\\", b":\n\\");
        assert!(b.encoded_len().is_ok());
    }
}

#[test]
fn unexpected_body_on_bodiless_commands() {
    for command in Command::ALL {
        for v in Version::ALL {
            if !command.exists_in(v) {
                continue;
            }
            let b = FrameBuilder::new(v, command).body(b"x");
            if v == V1_0 || command.may_have_body() {
                assert!(b.encoded_len().is_ok(), "{v} {command}");
            } else {
                assert_eq!(
                    b.encoded_len(),
                    Err(SerializeError::UnexpectedBody),
                    "{v} {command}"
                );
                let headers: [Header<'_>; 0] = [];
                let frame = Frame::new(v, command, &headers, b"x");
                let mut out = [0u8; 32];
                assert_eq!(
                    frame.write_to(&mut out),
                    Err(SerializeError::UnexpectedBody)
                );
            }
            // An empty body is no body.
            assert!(FrameBuilder::new(v, command).encoded_len().is_ok());
        }
    }
}

#[test]
fn too_many_headers_on_a_full_builder() {
    let mut b = FrameBuilder::<2>::with_room(V1_2, Command::Send);
    assert_eq!(b.push_header("a", "1"), Ok(()));
    assert_eq!(b.push_header("b", "2"), Ok(()));
    assert_eq!(b.push_header("c", "3"), Err(SerializeError::TooManyHeaders));
    assert_eq!(b.headers().len(), 2);
    assert!(b.encoded_len().is_ok());

    let chained = FrameBuilder::<2>::with_room(V1_2, Command::Send)
        .header("a", "1")
        .header("b", "2")
        .header("c", "3");
    assert_eq!(chained.encoded_len(), Err(SerializeError::TooManyHeaders));
    let mut out = [0x33; 64];
    assert_eq!(
        chained.write_to(&mut out),
        Err(SerializeError::TooManyHeaders)
    );
    assert_eq!(out, [0x33; 64]);
    assert_eq!(chained.to_vec(), Err(SerializeError::TooManyHeaders));

    let zero = FrameBuilder::<0>::with_room(V1_2, Command::Disconnect);
    assert_eq!(zero.to_vec().unwrap(), b"DISCONNECT\n\n\0");
    assert_eq!(
        zero.header("a", "1").encoded_len(),
        Err(SerializeError::TooManyHeaders)
    );
}

#[test]
fn frame_write_to_relays_wire_bytes_with_lf() {
    let input = b"SEND\r\nk:a\\cb\r\nx:\r\n\r\nbody\0";
    let mut storage = [Header::EMPTY; 4];
    let Ok(Status::Complete((_, Item::Frame(frame)))) = Parser::new().parse(input, &mut storage)
    else {
        panic!()
    };
    let mut out = [0u8; 64];
    let n = frame.write_to(&mut out).unwrap();
    assert_eq!(&out[..n], b"SEND\nk:a\\cb\nx:\n\nbody\0");
    assert_eq!(frame.encoded_len(), Ok(n));

    // A hand-built wire frame with an undefined escape or a bare LF is refused.
    let bad = [Header::new(b"k", b"a\\tb")];
    assert_eq!(
        Frame::new(V1_2, Command::Send, &bad, b"").encoded_len(),
        Err(SerializeError::InvalidHeaderValue)
    );
    let bad = [Header::new(b"k\\t", b"a")];
    assert_eq!(
        Frame::new(V1_1, Command::Send, &bad, b"").encoded_len(),
        Err(SerializeError::InvalidHeaderName)
    );
    let bad = [Header::new(b"k", b"a\nb")];
    assert_eq!(
        Frame::new(V1_1, Command::Send, &bad, b"").encoded_len(),
        Err(SerializeError::InvalidHeaderValue)
    );
    // With a NUL in the body and no content-length, one is added.
    let headers = [Header::new(b"k", b"v")];
    let frame = Frame::new(V1_2, Command::Send, &headers, b"\0");
    let n = frame.write_to(&mut out).unwrap();
    assert_eq!(&out[..n], b"SEND\nk:v\ncontent-length:1\n\n\0\0");
}

#[test]
fn encoded_len_is_exact() {
    let body = vec![7u8; 100_000];
    for v in Version::ALL {
        let b = FrameBuilder::new(v, Command::Message)
            .header("destination", "/q")
            .header("k", "v")
            .body(&body)
            .content_length(ContentLength::WhenBody);
        let out = bytes(&b).unwrap();
        assert_eq!(out.len(), b.encoded_len().unwrap());
        assert!(out.ends_with(b"\0"));
        let mut slice = vec![0u8; out.len()];
        assert_eq!(b.write_to(&mut slice), Ok(out.len()));
        assert_eq!(slice, out);
    }
}

#[test]
fn commands_missing_from_the_version_are_rejected() {
    for command in [Command::Stomp, Command::Nack] {
        let b = FrameBuilder::new(V1_0, command).header("id", "1");
        assert_eq!(b.encoded_len(), Err(SerializeError::CommandNotInVersion));
        let mut out = [0xAAu8; 64];
        assert_eq!(
            b.write_to(&mut out),
            Err(SerializeError::CommandNotInVersion)
        );
        assert!(out.iter().all(|&x| x == 0xAA), "written on error");
        assert_eq!(bytes(&b), Err(SerializeError::CommandNotInVersion));
        assert_eq!(
            encoded_len(V1_0, command, &[], b"", ContentLength::WhenNeeded),
            Err(SerializeError::CommandNotInVersion)
        );
        assert_eq!(
            write_frame(V1_0, command, &[], b"", ContentLength::WhenNeeded, &mut out),
            Err(SerializeError::CommandNotInVersion)
        );
        let headers: [Header<'_>; 0] = [];
        assert_eq!(
            Frame::new(V1_0, command, &headers, b"").write_to(&mut out),
            Err(SerializeError::CommandNotInVersion)
        );
        assert_eq!(
            SerializeError::CommandNotInVersion.to_string(),
            "command does not exist in this version"
        );
        // The same frame in 1.1 and 1.2 is fine.
        for v in [V1_1, V1_2] {
            assert!(FrameBuilder::new(v, command).encoded_len().is_ok());
        }
    }
}
