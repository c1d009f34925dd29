#![cfg(feature = "alloc")]
//! Behaviour of the sans-IO server session, driven by hand-written client frames under
//! virtual time.

use bytes::{Bytes, BytesMut};
use stomp_proto::codec::{Decoder, OwnedFrame, OwnedItem};
use stomp_proto::session::{
    CloseReason, Message, MessageId, ProtocolError, Server, ServerConfig, ServerEvent, SessionError,
};
use stomp_proto::time::{Duration, Instant};
use stomp_proto::{AckMode, Command, HeartBeat, Limits, ParseError, Parser, Version, Versions};

const T0: Instant = Instant::ZERO;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// Everything the server wants sent, concatenated.
fn transmitted(server: &mut Server) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = server.poll_transmit() {
        assert!(
            !chunk.is_empty(),
            "poll_transmit never hands out empty chunks"
        );
        out.extend_from_slice(&chunk);
    }
    out
}

fn events(server: &mut Server) -> Vec<ServerEvent> {
    core::iter::from_fn(|| server.poll_event()).collect()
}

/// Parses server output as a client of `version` would; every byte must be a frame or a
/// heart-beat. Heart-beats come back as `None`.
fn items(version: Version, bytes: &[u8]) -> Vec<Option<OwnedFrame>> {
    let mut decoder = Decoder::with_parser(
        Parser::new()
            .with_version(version)
            .with_limits(Limits::UNLIMITED),
    );
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(item) = decoder.decode(&mut buf).expect("server output parses") {
        out.push(match item {
            OwnedItem::Frame(frame) => Some(frame),
            OwnedItem::HeartBeat => None,
        });
    }
    assert!(buf.is_empty(), "trailing partial frame: {:?}", buf);
    out
}

fn frames(version: Version, bytes: &[u8]) -> Vec<OwnedFrame> {
    items(version, bytes).into_iter().flatten().collect()
}

fn header(frame: &OwnedFrame, name: &str) -> Option<String> {
    frame
        .header(name)
        .map(|v| String::from_utf8(v.decode().unwrap().into_owned()).unwrap())
}

/// A server that accepted a client speaking `version` at T0, with everything drained.
fn connected(version: Version) -> Server {
    connected_with(ServerConfig::new(), version)
}

fn connected_with(config: ServerConfig, version: Version) -> Server {
    let mut server = Server::new(config, T0);
    let connect: &[u8] = match version {
        Version::V1_0 => b"CONNECT\nlogin:guest\npasscode:guest\n\n\0",
        Version::V1_1 => b"CONNECT\naccept-version:1.1\nhost:h\n\n\0",
        Version::V1_2 => b"CONNECT\naccept-version:1.2\nhost:h\n\n\0",
    };
    server.handle_input(T0, connect);
    let evs = events(&mut server);
    assert!(matches!(evs[..], [ServerEvent::Connect(_)]), "{evs:?}");
    server.accept(Some("s1")).unwrap();
    let out = transmitted(&mut server);
    let connected = frames(version, &out);
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0].command(), Command::Connected);
    server
}

/// Feeds `input`, expects exactly one ERROR and a close, and returns the ERROR.
fn expect_error(server: &mut Server, input: &[u8]) -> (OwnedFrame, CloseReason) {
    server.handle_input(T0, input);
    let version = server.version().unwrap_or(Version::V1_2);
    let out = transmitted(server);
    let sent = frames(version, &out);
    assert_eq!(sent.len(), 1, "exactly one frame: {sent:?}");
    assert_eq!(sent[0].command(), Command::Error);
    assert!(sent[0].message().is_some(), "ERROR has a message header");
    let evs = events(server);
    let Some(ServerEvent::Closed { reason }) = evs.last() else {
        panic!("no Closed event: {evs:?}")
    };
    assert!(server.is_closed());
    // Closed: nothing more is produced, whatever arrives.
    server.handle_input(T0, b"SEND\ndestination:/q\n\nx\0");
    server.handle_timeout(ms(1_000_000));
    assert!(server.poll_transmit().is_none());
    assert!(server.poll_event().is_none());
    (sent[0].clone(), *reason)
}

// ---- negotiation -------------------------------------------------------------------------

#[test]
fn negotiation_picks_the_highest_common_version() {
    // The spec's example: the client speaks 1.0, 1.1 and 2.0; the server 1.0 to 1.2.
    let mut server = Server::new(ServerConfig::new(), T0);
    server.handle_input(
        T0,
        b"CONNECT\naccept-version:1.0,1.1,2.0\nhost:stomp.github.org\n\n\0",
    );
    let evs = events(&mut server);
    let [ServerEvent::Connect(request)] = &evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!(request.version, Version::V1_1);
    assert_eq!(request.command, Command::Connect);
    assert_eq!(request.host.as_deref(), Some(&b"stomp.github.org"[..]));
    assert_eq!(server.version(), Some(Version::V1_1));
    assert!(
        server.poll_transmit().is_none(),
        "nothing before the app answers"
    );
    server.accept(None).unwrap();
    let sent = frames(Version::V1_1, &transmitted(&mut server));
    assert_eq!(sent[0].command(), Command::Connected);
    assert_eq!(header(&sent[0], "version").as_deref(), Some("1.1"));
    assert!(server.is_connected());
}

#[test]
fn negotiation_respects_the_versions_the_server_speaks() {
    let config =
        ServerConfig::new().versions(Versions::EMPTY.with(Version::V1_0).with(Version::V1_1));
    let mut server = Server::new(config, T0);
    server.handle_input(T0, b"CONNECT\naccept-version:1.0,1.1,1.2\nhost:h\n\n\0");
    let evs = events(&mut server);
    assert!(matches!(&evs[..], [ServerEvent::Connect(r)] if r.version == Version::V1_1));
}

#[test]
fn negotiation_in_each_version_writes_connected_in_it() {
    for (accept, version) in [
        ("1.2", Version::V1_2),
        ("1.1", Version::V1_1),
        ("1.0", Version::V1_0),
        ("1.0,1.2", Version::V1_2),
    ] {
        let mut server = Server::new(ServerConfig::new(), T0);
        let connect = format!("CONNECT\naccept-version:{accept}\nhost:h\n\n\0");
        server.handle_input(T0, connect.as_bytes());
        let _ = events(&mut server);
        server.accept(Some("id")).unwrap();
        let sent = frames(version, &transmitted(&mut server));
        assert_eq!(
            header(&sent[0], "version").as_deref(),
            Some(version.as_str())
        );
        assert_eq!(header(&sent[0], "session").as_deref(), Some("id"));
        assert_eq!(server.version(), Some(version));
    }
}

#[test]
fn connect_without_accept_version_is_a_1_0_client_with_trimmed_values() {
    // The 1.0 spec's CONNECT, padding and all.
    let mut server = Server::new(ServerConfig::new(), T0);
    server.handle_input(T0, b"CONNECT\nlogin: guest\npasscode:secret \n\n\0");
    let evs = events(&mut server);
    let [ServerEvent::Connect(request)] = &evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!(request.version, Version::V1_0);
    assert_eq!(request.login.as_deref(), Some(&b"guest"[..]));
    assert_eq!(request.passcode.as_deref(), Some(&b"secret"[..]));
    assert_eq!(request.host, None, "host is not required in 1.0");
    server.accept(Some("007")).unwrap();
    let sent = frames(Version::V1_0, &transmitted(&mut server));
    assert_eq!(header(&sent[0], "session").as_deref(), Some("007"));
    assert!(
        sent[0].header("heart-beat").is_none(),
        "1.0 has no heart-beats"
    );
}

#[test]
fn no_common_version_is_an_error_listing_the_supported_versions() {
    let config = ServerConfig::new().versions(Versions::EMPTY.with(Version::V1_2));
    let mut server = Server::new(config, T0);
    let (error, reason) = expect_error(
        &mut server,
        b"CONNECT\naccept-version:1.0,1.1\nhost:stomp.github.org\n\n\0",
    );
    assert_eq!(header(&error, "version").as_deref(), Some("1.2"));
    assert_eq!(
        header(&error, "content-type").as_deref(),
        Some("text/plain")
    );
    assert_eq!(error.body(), b"Supported protocol versions are 1.2");
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::NoCommonVersion)
    );
}

#[test]
fn a_1_0_client_meets_a_server_without_1_0() {
    let config =
        ServerConfig::new().versions(Versions::EMPTY.with(Version::V1_1).with(Version::V1_2));
    let mut server = Server::new(config, T0);
    let (error, _) = expect_error(&mut server, b"CONNECT\nlogin:a\n\n\0");
    assert_eq!(header(&error, "version").as_deref(), Some("1.1,1.2"));
}

#[test]
fn missing_host_is_an_error_from_1_1_on() {
    for accept in ["1.1", "1.2", "1.0,1.1"] {
        let mut server = Server::new(ServerConfig::new(), T0);
        let connect = format!("CONNECT\naccept-version:{accept}\n\n\0");
        let (error, reason) = expect_error(&mut server, connect.as_bytes());
        assert!(header(&error, "message").unwrap().contains("host"));
        assert_eq!(
            reason,
            CloseReason::ProtocolError(ProtocolError::MissingHeader("host"))
        );
    }
    // 1.0 does not need one.
    let mut server = Server::new(ServerConfig::new(), T0);
    server.handle_input(T0, b"CONNECT\naccept-version:1.0\n\n\0");
    assert!(matches!(server.poll_event(), Some(ServerEvent::Connect(_))));
}

#[test]
fn stomp_command_is_handled_like_connect() {
    let mut server = Server::new(ServerConfig::new(), T0);
    server.handle_input(
        T0,
        b"STOMP\naccept-version:1.2\nhost:stomp.github.org\n\n\0",
    );
    let evs = events(&mut server);
    let [ServerEvent::Connect(request)] = &evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!(request.command, Command::Stomp);
    assert_eq!(request.version, Version::V1_2);
    server.accept(None).unwrap();
    assert_eq!(
        frames(Version::V1_2, &transmitted(&mut server))[0].command(),
        Command::Connected
    );
}

#[test]
fn connect_with_crlf_line_endings_is_accepted() {
    let mut server = Server::new(ServerConfig::new(), T0);
    server.handle_input(
        T0,
        b"CONNECT\r\naccept-version:1.2\r\nhost:h\r\nlogin:me\r\n\r\n\0",
    );
    let evs = events(&mut server);
    let [ServerEvent::Connect(request)] = &evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!(request.login.as_deref(), Some(&b"me"[..]));
}

#[test]
fn connect_headers_are_not_unescaped() {
    let mut server = Server::new(ServerConfig::new(), T0);
    server.handle_input(
        T0,
        b"CONNECT\naccept-version:1.2\nhost:h\npasscode:a\\cb:c\n\n\0",
    );
    let Some(ServerEvent::Connect(request)) = server.poll_event() else {
        panic!()
    };
    assert_eq!(request.passcode.as_deref(), Some(&b"a\\cb:c"[..]));
}

#[test]
fn connect_event_carries_the_client_heart_beat() {
    let mut server = Server::new(ServerConfig::new(), T0);
    server.handle_input(
        T0,
        b"CONNECT\naccept-version:1.2\nhost:h\nheart-beat:100,200\n\n\0",
    );
    let Some(ServerEvent::Connect(request)) = server.poll_event() else {
        panic!()
    };
    assert_eq!(request.heart_beat, HeartBeat::new(100, 200));
    assert!(request.frame.header("accept-version").is_some());
}

#[test]
fn malformed_heart_beat_or_accept_version_is_an_error() {
    let mut server = Server::new(ServerConfig::new(), T0);
    let (_, reason) = expect_error(
        &mut server,
        b"CONNECT\naccept-version:1.2\nhost:h\nheart-beat:fast\n\n\0",
    );
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::InvalidHeader("heart-beat"))
    );
    let mut server = Server::new(ServerConfig::new(), T0);
    let (_, reason) = expect_error(&mut server, b"CONNECT\naccept-version:,\nhost:h\n\n\0");
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::InvalidHeader("accept-version"))
    );
}

#[test]
fn rejected_connect_gets_error_and_close() {
    let mut server = Server::new(ServerConfig::new(), T0);
    server.handle_input(
        T0,
        b"CONNECT\naccept-version:1.2\nhost:h\nlogin:x\npasscode:y\n\n\0",
    );
    let _ = events(&mut server);
    assert_eq!(server.receipt("r"), Err(SessionError::NotConnected));
    server.reject("bad credentials").unwrap();
    let sent = frames(Version::V1_2, &transmitted(&mut server));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].command(), Command::Error);
    assert_eq!(
        header(&sent[0], "message").as_deref(),
        Some("bad credentials")
    );
    assert_eq!(
        events(&mut server),
        [ServerEvent::Closed {
            reason: CloseReason::Rejected
        }]
    );
    assert_eq!(server.accept(None), Err(SessionError::Closed));
    assert_eq!(server.reject("again"), Err(SessionError::Closed));
}

#[test]
fn accept_and_reject_need_a_pending_connect() {
    let mut server = Server::new(ServerConfig::new(), T0);
    assert_eq!(server.accept(None), Err(SessionError::NotConnected));
    assert_eq!(server.reject("no"), Err(SessionError::NotConnected));
    let mut server = connected(Version::V1_2);
    assert_eq!(server.accept(None), Err(SessionError::AlreadyConnected));
    assert_eq!(server.reject("no"), Err(SessionError::AlreadyConnected));
}

#[test]
fn frames_pipelined_behind_connect_wait_for_accept_and_use_the_negotiated_version() {
    let mut server = Server::new(ServerConfig::new(), T0);
    // 1.1 escapes: `\c` is a colon.
    server.handle_input(
        T0,
        b"CONNECT\naccept-version:1.1\nhost:h\n\n\0SEND\ndestination:/queue/a\\cb\n\nx\0",
    );
    assert_eq!(events(&mut server).len(), 1);
    server.accept(None).unwrap();
    let evs = events(&mut server);
    let [ServerEvent::Send { destination, .. }] = &evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!(destination, "/queue/a:b");
}

#[test]
fn input_before_accept_is_bounded() {
    let config = ServerConfig::new().limits(Limits {
        max_frame_len: 256,
        ..Limits::DEFAULT
    });
    let mut server = Server::new(config, T0);
    server.handle_input(T0, b"CONNECT\naccept-version:1.2\nhost:h\n\n\0");
    let _ = events(&mut server);
    let (_, reason) = expect_error(&mut server, &[b'\n'; 300]);
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::TooMuchInputBeforeConnected)
    );
}

#[test]
fn frame_before_connect_gets_error_close_and_no_event() {
    for first in [
        &b"SEND\ndestination:/queue/a\nreceipt:r-1\n\nhello\0"[..],
        b"SUBSCRIBE\nid:0\ndestination:/q\nreceipt:r-1\n\n\0",
        b"DISCONNECT\nreceipt:r-1\n\n\0",
    ] {
        let mut server = Server::new(ServerConfig::new(), T0);
        server.handle_input(T0, first);
        let sent = frames(Version::V1_2, &transmitted(&mut server));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].command(), Command::Error);
        assert_eq!(header(&sent[0], "receipt-id").as_deref(), Some("r-1"));
        assert_eq!(
            events(&mut server),
            [ServerEvent::Closed {
                reason: CloseReason::ProtocolError(ProtocolError::FrameBeforeConnect)
            }],
            "no event for the frame itself"
        );
    }
}

#[test]
fn heart_beats_before_connect_are_fine() {
    let mut server = Server::new(ServerConfig::new(), T0);
    server.handle_input(T0, b"\n\r\n\nCONNECT\naccept-version:1.2\nhost:h\n\n\0");
    assert!(matches!(server.poll_event(), Some(ServerEvent::Connect(_))));
}

// ---- validation --------------------------------------------------------------------------

#[test]
fn each_command_is_validated_with_an_error_naming_the_frame() {
    use ProtocolError as E;
    let cases: &[(Version, &[u8], ProtocolError)] = &[
        (
            Version::V1_2,
            b"SEND\nreceipt:r-1\n\nbody\0",
            E::MissingHeader("destination"),
        ),
        (
            Version::V1_0,
            b"SEND\nreceipt:r-1\n\nbody\0",
            E::MissingHeader("destination"),
        ),
        (
            Version::V1_2,
            b"SUBSCRIBE\nid:0\nreceipt:r-1\n\n\0",
            E::MissingHeader("destination"),
        ),
        (
            Version::V1_2,
            b"SUBSCRIBE\ndestination:/q\nreceipt:r-1\n\n\0",
            E::MissingHeader("id"),
        ),
        (
            Version::V1_1,
            b"SUBSCRIBE\ndestination:/q\nreceipt:r-1\n\n\0",
            E::MissingHeader("id"),
        ),
        (
            Version::V1_2,
            b"SUBSCRIBE\nid:0\ndestination:/q\nack:sometimes\nreceipt:r-1\n\n\0",
            E::InvalidHeader("ack"),
        ),
        (
            Version::V1_0,
            b"SUBSCRIBE\nid:0\ndestination:/q\nack:client-individual\nreceipt:r-1\n\n\0",
            E::InvalidHeader("ack"),
        ),
        (
            Version::V1_2,
            b"UNSUBSCRIBE\nreceipt:r-1\n\n\0",
            E::MissingHeader("id"),
        ),
        (
            Version::V1_2,
            b"UNSUBSCRIBE\ndestination:/q\nreceipt:r-1\n\n\0",
            E::MissingHeader("id"),
        ),
        (
            Version::V1_0,
            b"UNSUBSCRIBE\nreceipt:r-1\n\n\0",
            E::MissingHeader("id"),
        ),
        (
            Version::V1_2,
            b"UNSUBSCRIBE\nid:9\nreceipt:r-1\n\n\0",
            E::UnknownSubscription,
        ),
        (
            Version::V1_2,
            b"ACK\nmessage-id:1\nreceipt:r-1\n\n\0",
            E::MissingHeader("id"),
        ),
        (
            Version::V1_2,
            b"NACK\nreceipt:r-1\n\n\0",
            E::MissingHeader("id"),
        ),
        (
            Version::V1_1,
            b"ACK\nmessage-id:1\nreceipt:r-1\n\n\0",
            E::MissingHeader("subscription"),
        ),
        (
            Version::V1_1,
            b"NACK\nsubscription:0\nreceipt:r-1\n\n\0",
            E::MissingHeader("message-id"),
        ),
        (
            Version::V1_0,
            b"ACK\nid:1\nreceipt:r-1\n\n\0",
            E::MissingHeader("message-id"),
        ),
        (
            Version::V1_2,
            b"ACK\nid:1\nreceipt:r-1\n\n\0",
            E::UnknownMessage,
        ),
        (
            Version::V1_2,
            b"BEGIN\nreceipt:r-1\n\n\0",
            E::MissingHeader("transaction"),
        ),
        (
            Version::V1_1,
            b"COMMIT\nreceipt:r-1\n\n\0",
            E::MissingHeader("transaction"),
        ),
        (
            Version::V1_0,
            b"ABORT\nreceipt:r-1\n\n\0",
            E::MissingHeader("transaction"),
        ),
        (
            Version::V1_2,
            b"COMMIT\ntransaction:tx9\nreceipt:r-1\n\n\0",
            E::UnknownTransaction,
        ),
        (
            Version::V1_2,
            b"ABORT\ntransaction:tx9\nreceipt:r-1\n\n\0",
            E::UnknownTransaction,
        ),
        (
            Version::V1_2,
            b"SEND\ndestination:/q\ntransaction:tx9\nreceipt:r-1\n\n\0",
            E::UnknownTransaction,
        ),
        (
            Version::V1_2,
            b"MESSAGE\ndestination:/q\nmessage-id:1\nsubscription:0\nreceipt:r-1\n\n\0",
            E::ServerCommand(Command::Message),
        ),
        (
            Version::V1_1,
            b"RECEIPT\nreceipt-id:1\nreceipt:r-1\n\n\0",
            E::ServerCommand(Command::Receipt),
        ),
        (
            Version::V1_2,
            b"ERROR\nreceipt:r-1\n\n\0",
            E::ServerCommand(Command::Error),
        ),
        (
            Version::V1_2,
            b"CONNECTED\nreceipt:r-1\n\n\0",
            E::ServerCommand(Command::Connected),
        ),
        (
            Version::V1_2,
            b"CONNECT\naccept-version:1.2\nhost:h\nreceipt:r-1\n\n\0",
            E::AlreadyConnected,
        ),
        (
            Version::V1_2,
            b"STOMP\naccept-version:1.2\nhost:h\nreceipt:r-1\n\n\0",
            E::AlreadyConnected,
        ),
    ];
    for (version, frame, expected) in cases {
        let mut server = connected(*version);
        let (error, reason) = expect_error(&mut server, frame);
        let what = format!("{version} {}", String::from_utf8_lossy(frame));
        assert_eq!(reason, CloseReason::ProtocolError(*expected), "{what}");
        assert_eq!(
            header(&error, "message"),
            Some(expected.to_string()),
            "{what}"
        );
        // CONNECT frames take no receipt.
        let connect = frame.starts_with(b"CONNECT\n") || frame.starts_with(b"STOMP\n");
        let receipt = (!connect).then_some("r-1");
        assert_eq!(header(&error, "receipt-id").as_deref(), receipt, "{what}");
        assert_eq!(
            header(&error, "content-type").as_deref(),
            Some("text/plain"),
            "{what}"
        );
        // The body quotes the offending frame's command and headers.
        let command_line = frame.split(|&b| b == b'\n').next().unwrap();
        let body = error.body();
        assert!(
            body.windows(command_line.len()).any(|w| w == command_line),
            "{what}: {}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn malformed_frames_are_answered_with_error() {
    let cases: &[(Version, &[u8], ParseError)] = &[
        // Bodies only on SEND (1.1+).
        (
            Version::V1_2,
            b"SUBSCRIBE\nid:0\ndestination:/q\n\nbody\0",
            ParseError::UnexpectedBody,
        ),
        (
            Version::V1_1,
            b"BEGIN\ntransaction:t\n\nx\0",
            ParseError::UnexpectedBody,
        ),
        // Undefined escapes.
        (
            Version::V1_2,
            b"SEND\ndestination:/q\\t\n\n\0",
            ParseError::InvalidEscape,
        ),
        (
            Version::V1_1,
            b"SEND\ndestination:/q\\r\n\n\0",
            ParseError::InvalidEscape,
        ),
        // NACK does not exist in 1.0.
        (
            Version::V1_0,
            b"NACK\nmessage-id:1\n\n\0",
            ParseError::CommandNotInVersion,
        ),
        (
            Version::V1_2,
            b"send\ndestination:/q\n\n\0",
            ParseError::UnknownCommand,
        ),
        (
            Version::V1_2,
            b"SEND\ndestination\n\n\0",
            ParseError::MissingColon,
        ),
        (
            Version::V1_2,
            b"SEND\ndestination:/q\ncontent-length:2\n\nabc\0",
            ParseError::MissingNul,
        ),
    ];
    for (version, frame, expected) in cases {
        let mut server = connected(*version);
        let (error, reason) = expect_error(&mut server, frame);
        assert_eq!(
            reason,
            CloseReason::ProtocolError(ProtocolError::Parse(*expected))
        );
        assert!(header(&error, "message")
            .unwrap()
            .contains(expected.as_str()));
    }
}

#[test]
fn a_1_0_body_on_subscribe_is_ignored() {
    let mut server = connected(Version::V1_0);
    server.handle_input(T0, b"SUBSCRIBE\ndestination:/q\n\nignored\0");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Subscribe { .. })
    ));
}

#[test]
fn duplicate_subscription_id_is_an_error() {
    let mut server = connected(Version::V1_2);
    server.handle_input(T0, b"SUBSCRIBE\nid:0\ndestination:/a\n\n\0");
    let _ = events(&mut server);
    let (_, reason) = expect_error(&mut server, b"SUBSCRIBE\nid:0\ndestination:/b\n\n\0");
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::DuplicateSubscription)
    );
}

// ---- events ------------------------------------------------------------------------------

#[test]
fn send_event_carries_the_frame_zero_copy() {
    let mut server = connected(Version::V1_2);
    server.handle_input(
        T0,
        b"SEND\ndestination:/queue/a\\cb\ncontent-type:text/plain\nx-user:1\nx-user:2\n\
          content-length:5\nreceipt:r\n\nhe\0lo\0",
    );
    let evs = events(&mut server);
    let [ServerEvent::Send {
        destination,
        transaction,
        receipt,
        frame,
    }] = &evs[..]
    else {
        panic!("{evs:?}")
    };
    assert_eq!(destination, "/queue/a:b");
    assert_eq!(*transaction, None);
    assert_eq!(receipt.as_deref(), Some(&b"r"[..]));
    assert_eq!(frame.body(), b"he\0lo");
    assert!(
        frame.header("x-user").unwrap() == "1",
        "first of repeated headers"
    );
    assert_eq!(frame.headers().len(), 6);
    // The body shares the frame's buffer.
    let body = frame.body_bytes();
    let whole = frame.as_bytes();
    let offset = body.as_ptr() as usize - whole.as_ptr() as usize;
    assert!(offset < whole.len());
}

#[test]
fn subscribe_unsubscribe_and_transaction_events_carry_their_data() {
    let mut server = connected(Version::V1_2);
    server.handle_input(
        T0,
        b"SUBSCRIBE\nid:sub\\c1\ndestination:/topic/t\nack:client-individual\nselector:x\n\n\0\
          BEGIN\ntransaction:tx1\nreceipt:b\n\n\0\
          COMMIT\ntransaction:tx1\n\n\0\
          BEGIN\ntransaction:tx2\n\n\0\
          ABORT\ntransaction:tx2\nreceipt:a\n\n\0\
          UNSUBSCRIBE\nid:sub\\c1\nreceipt:u\n\n\0",
    );
    let evs = events(&mut server);
    assert_eq!(evs.len(), 6, "{evs:?}");
    let ServerEvent::Subscribe {
        subscription,
        destination,
        ack,
        receipt,
        frame,
    } = &evs[0]
    else {
        panic!()
    };
    assert_eq!(subscription, "sub:1");
    assert_eq!(destination, "/topic/t");
    assert_eq!(*ack, AckMode::ClientIndividual);
    assert_eq!(*receipt, None);
    assert!(frame.header("selector").unwrap() == "x");
    assert_eq!(
        evs[1],
        ServerEvent::Begin {
            transaction: Bytes::from("tx1"),
            receipt: Some(Bytes::from("b"))
        }
    );
    assert_eq!(
        evs[2],
        ServerEvent::Commit {
            transaction: Bytes::from("tx1"),
            receipt: None
        }
    );
    assert_eq!(
        evs[3],
        ServerEvent::Begin {
            transaction: Bytes::from("tx2"),
            receipt: None
        }
    );
    assert_eq!(
        evs[4],
        ServerEvent::Abort {
            transaction: Bytes::from("tx2"),
            receipt: Some(Bytes::from("a"))
        }
    );
    assert_eq!(
        evs[5],
        ServerEvent::Unsubscribe {
            subscription: Bytes::from("sub:1"),
            unacknowledged: vec![],
            receipt: Some(Bytes::from("u")),
        }
    );
    assert_eq!(server.ack_mode("sub:1"), None);
    assert_eq!(server.transactions().len(), 0);
}

#[test]
fn subscribe_defaults_to_auto() {
    let mut server = connected(Version::V1_1);
    server.handle_input(T0, b"SUBSCRIBE\nid:0\ndestination:/q\n\n\0");
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Subscribe {
            ack: AckMode::Auto,
            ..
        })
    ));
    assert_eq!(server.ack_mode("0"), Some(AckMode::Auto));
}

#[test]
fn unsubscribe_reports_unacknowledged_messages() {
    let mut server = connected(Version::V1_2);
    server.handle_input(T0, b"SUBSCRIBE\nid:0\ndestination:/q\nack:client\n\n\0");
    let _ = events(&mut server);
    let a = server
        .deliver("0", &Message::new("/q", Bytes::new()))
        .unwrap();
    let b = server
        .deliver("0", &Message::new("/q", Bytes::new()))
        .unwrap();
    let _ = transmitted(&mut server);
    server.handle_input(T0, b"UNSUBSCRIBE\nid:0\n\n\0");
    assert_eq!(
        events(&mut server),
        [ServerEvent::Unsubscribe {
            subscription: Bytes::from("0"),
            unacknowledged: vec![a, b],
            receipt: None
        }]
    );
    assert_eq!(
        server.deliver("0", &Message::new("/q", Bytes::new())),
        Err(SessionError::UnknownSubscription)
    );
}

#[test]
fn a_1_0_subscription_without_id_is_keyed_by_destination() {
    let mut server = connected(Version::V1_0);
    server.handle_input(T0, b"SUBSCRIBE\ndestination: /queue/a \nack: client\n\n\0");
    let evs = events(&mut server);
    let [ServerEvent::Subscribe {
        subscription,
        destination,
        ack,
        ..
    }] = &evs[..]
    else {
        panic!("{evs:?}")
    };
    assert_eq!(subscription, "/queue/a");
    assert_eq!(destination, "/queue/a");
    assert_eq!(*ack, AckMode::Client);
    let id = server
        .deliver("/queue/a", &Message::new("/queue/a", Bytes::from("hi")))
        .unwrap();
    let sent = frames(Version::V1_0, &transmitted(&mut server));
    assert!(
        sent[0].subscription().is_none(),
        "no id, no subscription header"
    );
    assert_eq!(header(&sent[0], "message-id"), Some(id.to_string()));
    server.handle_input(T0, b"ACK\nmessage-id:1\n\n\0");
    assert!(matches!(
        &events(&mut server)[..],
        [ServerEvent::Ack { message_ids, .. }] if *message_ids == [id]
    ));
    server.handle_input(T0, b"UNSUBSCRIBE\ndestination:/queue/a\n\n\0");
    assert!(matches!(
        &events(&mut server)[..],
        [ServerEvent::Unsubscribe { subscription, .. }] if subscription == "/queue/a"
    ));
}

// ---- receipts ----------------------------------------------------------------------------

#[test]
fn receipts_are_written_only_when_the_application_says_so() {
    let mut server = connected(Version::V1_2);
    server.handle_input(
        T0,
        b"SEND\ndestination:/q\nreceipt:message-12345\n\nx\0BEGIN\ntransaction:t\nreceipt:b\\c2\n\n\0",
    );
    let evs = events(&mut server);
    assert_eq!(evs.len(), 2);
    assert!(
        server.poll_transmit().is_none(),
        "no RECEIPT before the application"
    );
    assert_eq!(server.receipt("nope"), Err(SessionError::UnknownReceipt));
    // Out of order is fine; the value is escaped again on the way out.
    server.receipt("b:2").unwrap();
    server.receipt(b"message-12345").unwrap();
    let out = transmitted(&mut server);
    assert_eq!(
        out,
        b"RECEIPT\nreceipt-id:b\\c2\n\n\0RECEIPT\nreceipt-id:message-12345\n\n\0"
    );
    assert_eq!(
        server.receipt("b:2"),
        Err(SessionError::UnknownReceipt),
        "once only"
    );
}

#[test]
fn too_many_pending_receipts_is_an_error() {
    let mut server = connected_with(ServerConfig::new().max_pending_receipts(2), Version::V1_2);
    server.handle_input(
        T0,
        b"BEGIN\ntransaction:a\nreceipt:1\n\n\0BEGIN\ntransaction:b\nreceipt:2\n\n\0",
    );
    assert_eq!(events(&mut server).len(), 2);
    let (error, reason) = expect_error(&mut server, b"BEGIN\ntransaction:c\nreceipt:3\n\n\0");
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::TooManyPendingReceipts)
    );
    assert_eq!(header(&error, "receipt-id").as_deref(), Some("3"));
}

#[test]
fn disconnect_with_receipt_sends_the_receipt_last_then_closes() {
    let mut server = connected(Version::V1_2);
    server.handle_input(T0, b"SUBSCRIBE\nid:0\ndestination:/q\n\n\0");
    server.handle_input(
        T0,
        b"SEND\ndestination:/q\nreceipt:s\n\nx\0BEGIN\ntransaction:tx\n\n\0DISCONNECT\nreceipt:77\n\n\0",
    );
    let evs = events(&mut server);
    assert_eq!(
        evs.last(),
        Some(&ServerEvent::Disconnect {
            receipt: Some(Bytes::from("77"))
        })
    );
    assert!(!server.is_closed());
    assert!(!server.is_connected());
    // Nothing more is read, nothing more may be delivered; pending receipts may be written.
    server.handle_input(T0, b"SEND\ndestination:/q\n\nlate\0");
    assert!(server.poll_event().is_none());
    assert_eq!(
        server.deliver("0", &Message::new("/q", Bytes::new())),
        Err(SessionError::Closed)
    );
    server.receipt("s").unwrap();
    server.receipt("77").unwrap();
    let sent = frames(Version::V1_2, &transmitted(&mut server));
    let ids: Vec<_> = sent
        .iter()
        .map(|f| header(f, "receipt-id").unwrap())
        .collect();
    assert_eq!(ids, ["s", "77"]);
    assert_eq!(
        events(&mut server),
        [
            ServerEvent::TransactionAborted {
                transaction: Bytes::from("tx")
            },
            ServerEvent::Closed {
                reason: CloseReason::Disconnected
            },
        ]
    );
    assert!(server.is_closed());
    assert_eq!(server.receipt("s"), Err(SessionError::Closed));
    assert!(server.poll_transmit().is_none());
}

#[test]
fn receipts_still_pending_when_the_disconnect_receipt_goes_out_are_dropped() {
    let mut server = connected(Version::V1_2);
    server.handle_input(
        T0,
        b"SEND\ndestination:/q\nreceipt:s\n\nx\0DISCONNECT\nreceipt:77\n\n\0",
    );
    let _ = events(&mut server);
    server.receipt("77").unwrap();
    assert_eq!(transmitted(&mut server), b"RECEIPT\nreceipt-id:77\n\n\0");
    assert_eq!(server.receipt("s"), Err(SessionError::Closed));
}

#[test]
fn disconnect_without_receipt_closes_at_once() {
    let mut server = connected(Version::V1_1);
    server.handle_input(T0, b"DISCONNECT\n\n\0");
    assert_eq!(
        events(&mut server),
        [
            ServerEvent::Disconnect { receipt: None },
            ServerEvent::Closed {
                reason: CloseReason::Disconnected
            },
        ]
    );
    assert!(server.poll_transmit().is_none());
}

// ---- MESSAGE delivery --------------------------------------------------------------------

fn subscribed(version: Version, subscribe: &[u8]) -> Server {
    let mut server = connected(version);
    server.handle_input(T0, subscribe);
    let evs = events(&mut server);
    assert!(
        matches!(evs[..], [ServerEvent::Subscribe { .. }]),
        "{evs:?}"
    );
    server
}

#[test]
fn message_headers_follow_the_version_and_ack_mode() {
    let cases: &[(Version, &[u8], bool)] = &[
        (
            Version::V1_2,
            b"SUBSCRIBE\nid:0\ndestination:/q\n\n\0",
            false,
        ),
        (
            Version::V1_2,
            b"SUBSCRIBE\nid:0\ndestination:/q\nack:auto\n\n\0",
            false,
        ),
        (
            Version::V1_2,
            b"SUBSCRIBE\nid:0\ndestination:/q\nack:client\n\n\0",
            true,
        ),
        (
            Version::V1_2,
            b"SUBSCRIBE\nid:0\ndestination:/q\nack:client-individual\n\n\0",
            true,
        ),
        (
            Version::V1_1,
            b"SUBSCRIBE\nid:0\ndestination:/q\nack:client\n\n\0",
            false,
        ),
        (
            Version::V1_1,
            b"SUBSCRIBE\nid:0\ndestination:/q\nack:client-individual\n\n\0",
            false,
        ),
        (
            Version::V1_0,
            b"SUBSCRIBE\nid:0\ndestination:/q\nack:client\n\n\0",
            false,
        ),
    ];
    for (version, subscribe, has_ack) in cases {
        let mut server = subscribed(*version, subscribe);
        let message = Message::new("/q", Bytes::from_static(b"hello"))
            .header("content-type", "text/plain")
            .header("message-id", "forged")
            .header("content-length", "99");
        let first = server.deliver("0", &message).unwrap();
        let second = server.deliver(b"0", &message).unwrap();
        assert!(second > first);
        let sent = frames(*version, &transmitted(&mut server));
        assert_eq!(sent.len(), 2);
        for (frame, id) in sent.iter().zip([first, second]) {
            assert_eq!(frame.command(), Command::Message);
            assert_eq!(header(frame, "subscription").as_deref(), Some("0"));
            assert_eq!(header(frame, "message-id"), Some(id.to_string()));
            assert_eq!(header(frame, "destination").as_deref(), Some("/q"));
            assert_eq!(header(frame, "content-type").as_deref(), Some("text/plain"));
            assert_eq!(header(frame, "content-length").as_deref(), Some("5"));
            assert_eq!(
                frame.headers().filter(|h| h.name == b"message-id").count(),
                1,
                "reserved headers are not repeated"
            );
            assert_eq!(frame.body(), b"hello");
            let ack = header(frame, "ack");
            if *has_ack {
                assert_eq!(ack, Some(id.to_string()), "{version}");
            } else {
                assert_eq!(ack, None, "{version}");
            }
        }
    }
}

#[test]
fn message_headers_are_escaped_per_version() {
    let mut server = subscribed(Version::V1_1, b"SUBSCRIBE\nid:a:b\ndestination:/q\n\n\0");
    let message = Message::new("/q:1", Bytes::new()).header("note", "x\ny");
    server.deliver("a:b", &message).unwrap();
    let out = transmitted(&mut server);
    assert!(out.starts_with(
        b"MESSAGE\nsubscription:a\\cb\nmessage-id:1\ndestination:/q\\c1\nnote:x\\ny\n"
    ));
    let sent = frames(Version::V1_1, &out);
    assert_eq!(header(&sent[0], "note").as_deref(), Some("x\ny"));
    // 1.0 cannot carry a line feed in a value: the call fails and nothing changes.
    let mut server = subscribed(Version::V1_0, b"SUBSCRIBE\nid:0\ndestination:/q\n\n\0");
    let bad = Message::new("/q", Bytes::new()).header("note", "x\ny");
    assert!(matches!(
        server.deliver("0", &bad),
        Err(SessionError::Serialize(_))
    ));
    assert!(server.poll_transmit().is_none());
    let id = server
        .deliver("0", &Message::new("/q", Bytes::new()))
        .unwrap();
    assert_eq!(id.get(), 1, "the failed call used no id");
}

#[test]
fn long_bodies_are_transmitted_without_copying() {
    let mut server = subscribed(Version::V1_2, b"SUBSCRIBE\nid:0\ndestination:/q\n\n\0");
    let body = Bytes::from(vec![0u8; 64 * 1024]);
    server
        .deliver("0", &Message::new("/q", body.clone()))
        .unwrap();
    let chunks: Vec<Bytes> = core::iter::from_fn(|| server.poll_transmit()).collect();
    assert!(
        chunks
            .iter()
            .any(|c| c.as_ptr() == body.as_ptr() && c.len() == body.len()),
        "the body is handed out as given"
    );
    let whole: Vec<u8> = chunks.concat();
    let sent = frames(Version::V1_2, &whole);
    assert_eq!(
        sent[0].body(),
        &body[..],
        "NULs in the body are framed by content-length"
    );
}

#[test]
fn delivery_needs_a_connected_session_and_a_known_subscription() {
    let mut server = Server::new(ServerConfig::new(), T0);
    let message = Message::new("/q", Bytes::new());
    assert_eq!(
        server.deliver("0", &message),
        Err(SessionError::NotConnected)
    );
    let mut server = connected(Version::V1_2);
    assert_eq!(
        server.deliver("0", &message),
        Err(SessionError::UnknownSubscription)
    );
}

// ---- acknowledgments ---------------------------------------------------------------------

fn deliver_n(server: &mut Server, n: usize) -> Vec<MessageId> {
    let ids = (0..n)
        .map(|_| {
            server
                .deliver("0", &Message::new("/q", Bytes::from("m")))
                .unwrap()
        })
        .collect();
    let _ = transmitted(server);
    ids
}

#[test]
fn client_mode_acks_cumulatively() {
    let mut server = subscribed(
        Version::V1_2,
        b"SUBSCRIBE\nid:0\ndestination:/q\nack:client\n\n\0",
    );
    let ids = deliver_n(&mut server, 4);
    server.handle_input(T0, format!("ACK\nid:{}\n\n\0", ids[2]).as_bytes());
    assert_eq!(
        events(&mut server),
        [ServerEvent::Ack {
            subscription: Bytes::from("0"),
            message_ids: ids[..3].to_vec(),
            transaction: None,
            receipt: None,
        }]
    );
    assert_eq!(server.unacknowledged("0"), Some(vec![ids[3]]));
    // The earlier ones are gone: acknowledging one again is an error.
    let (_, reason) = expect_error(&mut server, format!("ACK\nid:{}\n\n\0", ids[0]).as_bytes());
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::UnknownMessage)
    );
}

#[test]
fn client_individual_mode_acks_one_at_a_time() {
    let mut server = subscribed(
        Version::V1_2,
        b"SUBSCRIBE\nid:0\ndestination:/q\nack:client-individual\n\n\0",
    );
    let ids = deliver_n(&mut server, 3);
    server.handle_input(
        T0,
        format!("ACK\nid:{}\nreceipt:r\n\n\0", ids[1]).as_bytes(),
    );
    assert_eq!(
        events(&mut server),
        [ServerEvent::Ack {
            subscription: Bytes::from("0"),
            message_ids: vec![ids[1]],
            transaction: None,
            receipt: Some(Bytes::from("r")),
        }]
    );
    assert_eq!(server.unacknowledged("0"), Some(vec![ids[0], ids[2]]));
}

#[test]
fn nack_resolves_like_ack() {
    let mut server = subscribed(
        Version::V1_2,
        b"SUBSCRIBE\nid:0\ndestination:/q\nack:client-individual\n\n\0",
    );
    let ids = deliver_n(&mut server, 2);
    server.handle_input(T0, format!("NACK\nid:{}\n\n\0", ids[1]).as_bytes());
    assert!(matches!(
        &events(&mut server)[..],
        [ServerEvent::Nack { message_ids, .. }] if *message_ids == [ids[1]]
    ));
    // Client mode: a NACK covers every earlier unacknowledged message too.
    let mut server = subscribed(
        Version::V1_1,
        b"SUBSCRIBE\nid:0\ndestination:/q\nack:client\n\n\0",
    );
    let ids = deliver_n(&mut server, 3);
    server.handle_input(
        T0,
        format!("NACK\nsubscription:0\nmessage-id:{}\n\n\0", ids[1]).as_bytes(),
    );
    assert!(matches!(
        &events(&mut server)[..],
        [ServerEvent::Nack { message_ids, subscription, .. }]
            if *message_ids == ids[..2] && subscription == "0"
    ));
    assert_eq!(server.unacknowledged("0"), Some(vec![ids[2]]));
}

#[test]
fn a_1_1_ack_names_message_and_subscription() {
    let mut server = subscribed(
        Version::V1_1,
        b"SUBSCRIBE\nid:0\ndestination:/q\nack:client\n\n\0",
    );
    server.handle_input(T0, b"SUBSCRIBE\nid:1\ndestination:/r\nack:client\n\n\0");
    let _ = events(&mut server);
    let ids = deliver_n(&mut server, 1);
    // Right message, wrong subscription.
    let (_, reason) = expect_error(
        &mut server,
        format!("ACK\nsubscription:1\nmessage-id:{}\n\n\0", ids[0]).as_bytes(),
    );
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::UnknownMessage)
    );
    let mut server = subscribed(
        Version::V1_1,
        b"SUBSCRIBE\nid:0\ndestination:/q\nack:client\n\n\0",
    );
    let (_, reason) = expect_error(&mut server, b"ACK\nsubscription:7\nmessage-id:1\n\n\0");
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::UnknownSubscription)
    );
}

#[test]
fn ack_for_auto_subscriptions_or_unknown_ids_is_an_error() {
    for ack in [
        &b"ACK\nid:1\nreceipt:r\n\n\0"[..],
        b"ACK\nid:01\n\n\0",
        b"ACK\nid:+1\n\n\0",
    ] {
        let mut server = subscribed(Version::V1_2, b"SUBSCRIBE\nid:0\ndestination:/q\n\n\0");
        let _ = deliver_n(&mut server, 1);
        let (_, reason) = expect_error(&mut server, ack);
        assert_eq!(
            reason,
            CloseReason::ProtocolError(ProtocolError::UnknownMessage)
        );
    }
}

// ---- transactions ------------------------------------------------------------------------

#[test]
fn frames_in_a_transaction_carry_it() {
    let mut server = subscribed(
        Version::V1_2,
        b"SUBSCRIBE\nid:0\ndestination:/q\nack:client\n\n\0",
    );
    let ids = deliver_n(&mut server, 1);
    server.handle_input(
        T0,
        format!(
            "BEGIN\ntransaction:tx1\n\n\0SEND\ndestination:/q\ntransaction:tx1\n\nx\0\
             ACK\nid:{}\ntransaction:tx1\n\n\0COMMIT\ntransaction:tx1\n\n\0",
            ids[0]
        )
        .as_bytes(),
    );
    let evs = events(&mut server);
    assert_eq!(evs.len(), 4);
    assert!(matches!(&evs[1], ServerEvent::Send { transaction: Some(t), .. } if t == "tx1"));
    assert!(matches!(&evs[2], ServerEvent::Ack { transaction: Some(t), .. } if t == "tx1"));
    assert!(matches!(&evs[3], ServerEvent::Commit { transaction, .. } if transaction == "tx1"));
    // Committed: the transaction is gone.
    let (_, reason) = expect_error(&mut server, b"SEND\ndestination:/q\ntransaction:tx1\n\n\0");
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::UnknownTransaction)
    );
}

#[test]
fn begin_of_an_open_transaction_is_an_error() {
    let mut server = connected(Version::V1_2);
    server.handle_input(T0, b"BEGIN\ntransaction:tx1\n\n\0");
    let _ = events(&mut server);
    server.handle_input(T0, b"BEGIN\ntransaction:tx1\nreceipt:r\n\n\0");
    let out = transmitted(&mut server);
    let sent = frames(Version::V1_2, &out);
    assert_eq!(header(&sent[0], "receipt-id").as_deref(), Some("r"));
    assert_eq!(
        events(&mut server),
        [
            ServerEvent::TransactionAborted {
                transaction: Bytes::from("tx1")
            },
            ServerEvent::Closed {
                reason: CloseReason::ProtocolError(ProtocolError::DuplicateTransaction)
            },
        ]
    );
}

#[test]
fn too_many_transactions_or_subscriptions_is_an_error() {
    let config = ServerConfig::new().max_transactions(1).max_subscriptions(1);
    let mut server = connected_with(config.clone(), Version::V1_2);
    server.handle_input(T0, b"BEGIN\ntransaction:a\n\n\0");
    let _ = events(&mut server);
    let (_, reason) = expect_error(&mut server, b"BEGIN\ntransaction:b\n\n\0");
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::TooManyTransactions)
    );
    let mut server = connected_with(config, Version::V1_2);
    server.handle_input(T0, b"SUBSCRIBE\nid:a\ndestination:/q\n\n\0");
    let _ = events(&mut server);
    let (_, reason) = expect_error(&mut server, b"SUBSCRIBE\nid:b\ndestination:/q\n\n\0");
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::TooManySubscriptions)
    );
}

#[test]
fn open_transactions_are_aborted_when_the_connection_ends() {
    let mut server = connected(Version::V1_2);
    server.handle_input(T0, b"BEGIN\ntransaction:a\n\n\0BEGIN\ntransaction:b\n\n\0");
    let _ = events(&mut server);
    server.handle_close(ms(5));
    assert_eq!(
        events(&mut server),
        [
            ServerEvent::TransactionAborted {
                transaction: Bytes::from("a")
            },
            ServerEvent::TransactionAborted {
                transaction: Bytes::from("b")
            },
            ServerEvent::Closed {
                reason: CloseReason::TransportClosed
            },
        ]
    );
    server.handle_close(ms(6));
    assert!(server.poll_event().is_none(), "Closed is reported once");
}

#[test]
fn application_error_sends_error_and_closes() {
    let mut server = connected(Version::V1_2);
    server.handle_input(
        T0,
        b"BEGIN\ntransaction:a\n\n\0SEND\ndestination:/nowhere\nreceipt:r:1\n\nx\0",
    );
    let _ = events(&mut server);
    server
        .error("no such destination", Some(b"r:1"), b"details")
        .unwrap();
    let sent = frames(Version::V1_2, &transmitted(&mut server));
    assert_eq!(
        header(&sent[0], "message").as_deref(),
        Some("no such destination")
    );
    assert_eq!(header(&sent[0], "receipt-id").as_deref(), Some("r:1"));
    assert_eq!(sent[0].body(), b"details");
    assert_eq!(
        events(&mut server),
        [
            ServerEvent::TransactionAborted {
                transaction: Bytes::from("a")
            },
            ServerEvent::Closed {
                reason: CloseReason::Error
            },
        ]
    );
    assert_eq!(server.error("again", None, b""), Err(SessionError::Closed));
}

// ---- heart-beats -------------------------------------------------------------------------

fn heart_beating(client: &str, offer: HeartBeat, grace: u32) -> Server {
    let config = ServerConfig::new().heart_beat(offer).grace_percent(grace);
    let mut server = Server::new(config, T0);
    server.handle_input(
        T0,
        format!("CONNECT\naccept-version:1.2\nhost:h\nheart-beat:{client}\n\n\0").as_bytes(),
    );
    let _ = events(&mut server);
    server.accept(None).unwrap();
    let sent = frames(Version::V1_2, &transmitted(&mut server));
    assert_eq!(
        header(&sent[0], "heart-beat"),
        Some(format!("{},{}", offer.outgoing, offer.incoming)),
        "CONNECTED carries the server's values"
    );
    server
}

#[test]
fn heart_beats_are_sent_on_time_and_never_early() {
    // The client wants one every 1000 ms, the server can do 500: every 1000 ms.
    let mut server = heart_beating("0,1000", HeartBeat::new(500, 0), 150);
    assert_eq!(
        server.heart_beat_intervals(),
        (Some(Duration::from_millis(1000)), None)
    );
    assert_eq!(server.poll_timeout(), Some(ms(1000)));
    server.handle_timeout(ms(999));
    assert!(server.poll_transmit().is_none(), "not early");
    server.handle_timeout(ms(1000));
    assert_eq!(transmitted(&mut server), b"\n");
    assert_eq!(server.poll_timeout(), Some(ms(2000)));
    // A frame sent counts: the next EOL is an interval after it.
    server.handle_input(ms(1500), b"SUBSCRIBE\nid:0\ndestination:/q\n\n\0");
    let _ = events(&mut server);
    server
        .deliver("0", &Message::new("/q", Bytes::new()))
        .unwrap();
    let _ = transmitted(&mut server);
    assert_eq!(server.poll_timeout(), Some(ms(2500)));
    server.handle_timeout(ms(2000));
    assert!(server.poll_transmit().is_none());
    server.handle_timeout(ms(2500));
    assert_eq!(transmitted(&mut server), b"\n");
    // The client never needs to send: it is never declared dead.
    server.handle_timeout(ms(1_000_000));
    assert!(!server.is_closed());
}

#[test]
fn silent_client_is_declared_dead_within_the_grace_window_never_early() {
    // The client sends every max(1000, 2000) = 2000 ms; grace 150 %: dead after 3000 ms.
    let mut server = heart_beating("1000,0", HeartBeat::new(0, 2000), 150);
    assert_eq!(
        server.heart_beat_intervals(),
        (None, Some(Duration::from_millis(2000)))
    );
    assert_eq!(server.poll_timeout(), Some(ms(3000)));
    server.handle_timeout(ms(2999));
    assert!(!server.is_closed());
    // Any byte counts, a heart-beat too.
    server.handle_input(ms(2500), b"\n");
    assert_eq!(server.poll_timeout(), Some(ms(5500)));
    server.handle_timeout(ms(5499));
    assert!(server.poll_event().is_none());
    server.handle_timeout(ms(5500));
    assert_eq!(
        events(&mut server),
        [ServerEvent::Closed {
            reason: CloseReason::HeartBeatTimeout
        }]
    );
    assert!(
        server.poll_transmit().is_none(),
        "nothing is sent to a dead client"
    );
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn grace_below_100_percent_counts_as_100() {
    let mut server = heart_beating("1000,0", HeartBeat::new(0, 1000), 10);
    assert_eq!(server.poll_timeout(), Some(ms(1000)));
    server.handle_timeout(ms(999));
    assert!(!server.is_closed());
}

#[test]
fn no_heart_beats_unless_both_sides_want_them() {
    let server = heart_beating("0,0", HeartBeat::new(1000, 1000), 150);
    assert_eq!(server.poll_timeout(), None);
    let server = heart_beating("1000,1000", HeartBeat::NONE, 150);
    assert_eq!(server.poll_timeout(), None);
    // 1.0 clients get none whatever they ask.
    let config = ServerConfig::new().heart_beat(HeartBeat::new(100, 100));
    let mut server = Server::new(config, T0);
    server.handle_input(T0, b"CONNECT\nheart-beat:100,100\n\n\0");
    let Some(ServerEvent::Connect(request)) = server.poll_event() else {
        panic!()
    };
    assert_eq!(request.heart_beat, HeartBeat::NONE);
    server.accept(None).unwrap();
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn heart_beats_continue_while_the_disconnect_receipt_is_pending() {
    let mut server = heart_beating("1000,1000", HeartBeat::new(1000, 1000), 150);
    server.handle_input(ms(100), b"DISCONNECT\nreceipt:9\n\n\0");
    let _ = events(&mut server);
    // No longer watching the client, still sending.
    assert_eq!(server.poll_timeout(), Some(ms(1000)));
    server.handle_timeout(ms(10_000));
    assert_eq!(transmitted(&mut server), b"\n");
    assert!(!server.is_closed());
    server.receipt("9").unwrap();
    assert_eq!(server.poll_timeout(), None);
}

// ---- limits and garbage ------------------------------------------------------------------

#[test]
fn oversized_frame_is_an_error_and_closes() {
    let config = ServerConfig::new().limits(Limits {
        max_body_len: 16,
        ..Limits::DEFAULT
    });
    let mut server = connected_with(config, Version::V1_2);
    // The error comes as soon as the limit is passed, not at the end of the frame.
    let (error, reason) =
        expect_error(&mut server, b"SEND\ndestination:/q\n\n0123456789abcdefghij");
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::Parse(ParseError::BodyTooLarge))
    );
    assert!(header(&error, "message")
        .unwrap()
        .contains("body too large"));

    let config = ServerConfig::new().limits(Limits {
        max_headers: 2,
        ..Limits::DEFAULT
    });
    let mut server = connected_with(config, Version::V1_2);
    let (_, reason) = expect_error(&mut server, b"SEND\ndestination:/q\na:1\nb:2\n\n\0");
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::Parse(ParseError::HeaderCountLimit))
    );

    let config = ServerConfig::new().limits(Limits {
        max_header_line_len: 32,
        ..Limits::DEFAULT
    });
    let mut server = connected_with(config, Version::V1_2);
    let mut long_line = b"SEND\ndestination:/q\nx-long:".to_vec();
    long_line.extend_from_slice(&[b'a'; 100]);
    let (_, reason) = expect_error(&mut server, &long_line);
    assert_eq!(
        reason,
        CloseReason::ProtocolError(ProtocolError::Parse(ParseError::HeaderLineTooLong))
    );
}

#[test]
fn garbage_input_is_an_error_and_closes() {
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"[..],
        b"\x00\x01\x02\xff\n",
        b"\r\r",
        b"CONNECT\naccept-version:1.2\nhost:h\n\nbody\0",
    ] {
        let mut server = Server::new(ServerConfig::new(), T0);
        let (_, reason) = expect_error(&mut server, garbage);
        assert!(matches!(
            reason,
            CloseReason::ProtocolError(ProtocolError::Parse(_))
        ));
    }
}

#[test]
fn input_split_byte_by_byte_gives_the_same_events() {
    let script: &[u8] = b"CONNECT\naccept-version:1.2\nhost:h\n\n\0\nSUBSCRIBE\r\nid:0\r\n\
        destination:/q\r\n\r\n\0\r\nSEND\ndestination:/q\ncontent-length:3\n\na\0b\0";
    let mut whole = Server::new(ServerConfig::new(), T0);
    whole.handle_input(T0, script);
    let _ = events(&mut whole);
    whole.accept(None).unwrap();
    let expected = events(&mut whole);
    assert_eq!(expected.len(), 2);

    let mut split = Server::new(ServerConfig::new(), T0);
    let mut got = Vec::new();
    for b in script {
        split.handle_input(T0, core::slice::from_ref(b));
        for event in events(&mut split) {
            if let ServerEvent::Connect(_) = event {
                split.accept(None).unwrap();
            } else {
                got.push(event);
            }
        }
    }
    assert_eq!(got, expected);
}

// ---- scripted exchanges from the spec ----------------------------------------------------

#[test]
fn spec_1_2_session() {
    let mut server = Server::new(ServerConfig::new().server_name(Some("Apache/1.3.9")), T0);
    server.handle_input(
        T0,
        b"CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0",
    );
    let _ = events(&mut server);
    server.accept(None).unwrap();
    assert_eq!(
        transmitted(&mut server),
        b"CONNECTED\nversion:1.2\nserver:Apache/1.3.9\nheart-beat:0,0\n\n\0"
    );

    server.handle_input(
        T0,
        b"SEND\ndestination:/queue/a\nreceipt:message-12345\n\nhello queue a^@\0",
    );
    server.handle_input(
        T0,
        b"SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0",
    );
    let evs = events(&mut server);
    assert_eq!(evs.len(), 2);
    server.receipt("message-12345").unwrap();
    assert_eq!(
        transmitted(&mut server),
        b"RECEIPT\nreceipt-id:message-12345\n\n\0"
    );

    let message = Message::new("/queue/foo", Bytes::from("hello queue a"))
        .header("content-type", "text/plain");
    let id = server.deliver("0", &message).unwrap();
    assert_eq!(
        transmitted(&mut server),
        format!(
            "MESSAGE\nsubscription:0\nmessage-id:{id}\ndestination:/queue/foo\nack:{id}\n\
             content-type:text/plain\ncontent-length:13\n\nhello queue a\0"
        )
        .as_bytes()
    );
    server.handle_input(T0, format!("ACK\nid:{id}\n\n\0").as_bytes());
    assert!(matches!(
        &events(&mut server)[..],
        [ServerEvent::Ack { .. }]
    ));

    server.handle_input(T0, b"UNSUBSCRIBE\nid:0\n\n\0");
    server.handle_input(T0, b"DISCONNECT\nreceipt:77\n\n\0");
    let evs = events(&mut server);
    assert!(matches!(
        evs[..],
        [
            ServerEvent::Unsubscribe { .. },
            ServerEvent::Disconnect { .. }
        ]
    ));
    server.receipt("77").unwrap();
    assert_eq!(transmitted(&mut server), b"RECEIPT\nreceipt-id:77\n\n\0");
    assert_eq!(
        events(&mut server),
        [ServerEvent::Closed {
            reason: CloseReason::Disconnected
        }]
    );
}

#[test]
fn spec_1_1_transactional_ack() {
    let mut server = Server::new(ServerConfig::new(), T0);
    server.handle_input(
        T0,
        b"CONNECT\naccept-version:1.1\nhost:stomp.github.org\n\n\0",
    );
    let _ = events(&mut server);
    server.accept(None).unwrap();
    let _ = transmitted(&mut server);
    server.handle_input(
        T0,
        b"SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0BEGIN\ntransaction:tx1\n\n\0",
    );
    let _ = events(&mut server);
    let id = server
        .deliver("0", &Message::new("/queue/foo", Bytes::from("x")))
        .unwrap();
    let _ = transmitted(&mut server);
    server.handle_input(
        T0,
        format!("ACK\nsubscription:0\nmessage-id:{id}\ntransaction:tx1\n\n\0").as_bytes(),
    );
    assert_eq!(
        events(&mut server),
        [ServerEvent::Ack {
            subscription: Bytes::from("0"),
            message_ids: vec![id],
            transaction: Some(Bytes::from("tx1")),
            receipt: None,
        }]
    );
    // The spec's `message-id:007` names no message of ours (ids are written without zeros).
    let (error, _) = expect_error(
        &mut server,
        b"ACK\nsubscription:0\nmessage-id:007\ntransaction:tx1\n\n\0",
    );
    assert!(error
        .body()
        .starts_with(b"The frame:\n-----\nACK\nsubscription:0\n"));
}

#[test]
fn spec_1_0_session() {
    let mut server = Server::new(ServerConfig::new(), T0);
    server.handle_input(T0, b"CONNECT\nlogin: <username>\npasscode:<passcode>\n\n\0");
    let Some(ServerEvent::Connect(request)) = server.poll_event() else {
        panic!()
    };
    assert_eq!(request.login.as_deref(), Some(&b"<username>"[..]));
    server.accept(Some("<session-id>")).unwrap();
    assert_eq!(
        transmitted(&mut server),
        b"CONNECTED\nversion:1.0\nsession:<session-id>\n\n\0"
    );
    server.handle_input(
        T0,
        b"SEND\ndestination:/queue/a\n\nhello queue a\n\0\
          SUBSCRIBE\ndestination: /queue/foo\nack: client\n\n\0\
          BEGIN\ntransaction: <transaction-identifier>\n\n\0\
          SEND\ndestination:/queue/a\nreceipt:message-12345\n\nHello a!\0",
    );
    let evs = events(&mut server);
    assert_eq!(evs.len(), 4, "{evs:?}");
    let ServerEvent::Send { frame, .. } = &evs[0] else {
        panic!()
    };
    assert_eq!(frame.body(), b"hello queue a\n");
    assert!(
        matches!(&evs[2], ServerEvent::Begin { transaction, .. } if transaction == "<transaction-identifier>")
    );
    server.receipt("message-12345").unwrap();
    let id = server
        .deliver(
            "/queue/foo",
            &Message::new("/queue/a", Bytes::from("hello queue a")),
        )
        .unwrap();
    let out = transmitted(&mut server);
    let sent = frames(Version::V1_0, &out);
    assert_eq!(sent[0].command(), Command::Receipt);
    assert_eq!(header(&sent[1], "message-id"), Some(id.to_string()));
    server.handle_input(
        T0,
        format!("ACK\nmessage-id: {id}\ntransaction: <transaction-identifier>\n\n\0").as_bytes(),
    );
    assert!(matches!(
        &events(&mut server)[..],
        [ServerEvent::Ack {
            transaction: Some(_),
            ..
        }]
    ));
    server.handle_input(
        T0,
        b"UNSUBSCRIBE\ndestination: /queue/foo\n\n\0DISCONNECT\n\n\0",
    );
    let evs = events(&mut server);
    assert!(
        matches!(
            evs[..],
            [
                ServerEvent::Unsubscribe { .. },
                ServerEvent::Disconnect { receipt: None },
                ServerEvent::TransactionAborted { .. },
                ServerEvent::Closed {
                    reason: CloseReason::Disconnected
                },
            ]
        ),
        "{evs:?}"
    );
}

#[test]
fn closed_session_refuses_every_call() {
    let mut server = connected(Version::V1_2);
    server.handle_close(T0);
    let _ = events(&mut server);
    assert_eq!(server.accept(None), Err(SessionError::Closed));
    assert_eq!(server.receipt("x"), Err(SessionError::Closed));
    assert_eq!(
        server.deliver("0", &Message::new("/q", Bytes::new())),
        Err(SessionError::Closed)
    );
    assert_eq!(server.error("x", None, b""), Err(SessionError::Closed));
    server.handle_input(T0, b"SEND\ndestination:/q\n\n\0");
    assert!(server.poll_transmit().is_none());
    assert!(server.poll_event().is_none());
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn silent_connection_gets_error_at_connect_timeout_never_before() {
    let config = ServerConfig::new().connect_timeout(Some(Duration::from_secs(3)));
    let mut server = Server::new(config, T0);
    // Half a CONNECT, then silence.
    server.handle_input(T0, b"CONNECT\naccept-ver");
    assert_eq!(server.poll_timeout(), Some(T0 + Duration::from_secs(3)));
    server.handle_timeout(T0 + Duration::from_millis(2_999));
    assert!(
        server.poll_transmit().is_none(),
        "closed before the deadline"
    );
    assert!(!server.is_closed());
    server.handle_timeout(T0 + Duration::from_secs(3));
    let error = server.poll_transmit().expect("an ERROR");
    assert!(error.starts_with(b"ERROR\n"), "{:?}", error);
    assert!(server.is_closed());
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::Closed {
            reason: CloseReason::ProtocolError(ProtocolError::ConnectTimeout)
        })
    );
}

#[test]
fn connect_timeout_stops_once_connect_arrives() {
    let config = ServerConfig::new().connect_timeout(Some(Duration::from_secs(3)));
    let mut server = Server::new(config, T0);
    server.handle_input(T0, b"CONNECT\naccept-version:1.2\nhost:h\n\n\0");
    assert!(matches!(server.poll_event(), Some(ServerEvent::Connect(_))));
    // The application may take its time to decide; the connect deadline no longer applies.
    assert_eq!(server.poll_timeout(), None);
    server.handle_timeout(T0 + Duration::from_secs(60));
    assert!(!server.is_closed());
    server.accept(None).unwrap();
    assert!(server.poll_transmit().unwrap().starts_with(b"CONNECTED\n"));
}

/// What the general serializer writes for a MESSAGE with these headers, `content-length`
/// last: the reference for [`Server::deliver`]'s own writer.
fn serialized_message(version: Version, headers: &[(&[u8], &[u8])], body: &[u8]) -> Vec<u8> {
    let length = body.len().to_string();
    let mut all = headers.to_vec();
    all.push((b"content-length", length.as_bytes()));
    let mut out = BytesMut::new();
    stomp_proto::serialize::put_frame(
        version,
        Command::Message,
        &all,
        body,
        stomp_proto::serialize::ContentLength::WhenNeeded,
        &mut out,
    )
    .unwrap();
    out.to_vec()
}

#[test]
fn delivered_messages_are_what_the_serializer_writes_with_and_without_escapes() {
    // Plain ids and destinations take the cached-prefix path; the others need escaping
    // (1.1+) and take the general one. Both must write the serializer's bytes, in every
    // version, for every ack mode, across unsubscribe and resubscribe with the same id.
    let ids: [&str; 4] = ["0", "sub-7", "a:b", "back\\slash"];
    let destinations: [&str; 3] = ["/topic/market.prices", "/queue/with:colon", "/q/\\"];
    let extras: [&[(&str, &str)]; 4] = [
        &[],
        &[("content-type", "text/plain"), ("priority", "4")],
        &[("x:y", "z")],
        // Reserved names are left out, whatever their value.
        &[
            ("content-length", "99"),
            ("destination", "/x"),
            ("note", "a\\b"),
        ],
    ];
    let bodies: [&[u8]; 3] = [b"", b"hello", &[b'x'; 1500]];
    for version in [Version::V1_0, Version::V1_1, Version::V1_2] {
        let mut server = connected(version);
        for id in ids {
            // A 1.0 SUBSCRIBE is not escaped: an id with `:` or `\` cannot be sent.
            if version == Version::V1_0 && id.contains([':', '\\']) {
                continue;
            }
            let wire_id = id.replace('\\', "\\\\").replace(':', "\\c");
            for ack in ["auto", "client", "client-individual"] {
                if version == Version::V1_0 && ack == "client-individual" {
                    continue;
                }
                for round in 0..2 {
                    let subscribe =
                        format!("SUBSCRIBE\nid:{wire_id}\ndestination:/topic/a\nack:{ack}\n\n\0");
                    server.handle_input(T0, subscribe.as_bytes());
                    assert!(
                        matches!(events(&mut server)[..], [ServerEvent::Subscribe { .. }]),
                        "{version:?} {id} {ack} {round}"
                    );
                    for destination in destinations {
                        for extra in extras {
                            if version == Version::V1_0 && extra.iter().any(|(n, _)| *n == "x:y") {
                                // 1.0 has no escapes: a name with `:` cannot be written.
                                let message =
                                    Message::new(destination, Bytes::new()).header("x:y", "z");
                                assert!(server.deliver(id, &message).is_err());
                                assert!(transmitted(&mut server).is_empty());
                                continue;
                            }
                            for body in bodies {
                                let mut message =
                                    Message::new(destination, Bytes::copy_from_slice(body));
                                for (name, value) in extra {
                                    message = message.header(*name, *value);
                                }
                                let delivered = server.deliver(id, &message);
                                let Ok(message_id) = delivered else {
                                    panic!(
                                        "{version:?} {id} {destination} {extra:?}: {delivered:?}"
                                    )
                                };
                                let n = message_id.to_string();
                                let mut headers: Vec<(&[u8], &[u8])> = vec![
                                    (b"subscription", id.as_bytes()),
                                    (b"message-id", n.as_bytes()),
                                    (b"destination", destination.as_bytes()),
                                ];
                                if version == Version::V1_2 && ack != "auto" {
                                    headers.push((b"ack", n.as_bytes()));
                                }
                                headers.extend(
                                    extra
                                        .iter()
                                        .filter(|(n, _)| {
                                            !["content-length", "destination"].contains(n)
                                        })
                                        .map(|(n, v)| (n.as_bytes(), v.as_bytes())),
                                );
                                assert_eq!(
                                    transmitted(&mut server).escape_ascii().to_string(),
                                    serialized_message(version, &headers, body)
                                        .escape_ascii()
                                        .to_string(),
                                    "{version:?} id {id} ack {ack} round {round} \
                                     destination {destination} extra {extra:?}"
                                );
                            }
                        }
                    }
                    let unsubscribe = format!("UNSUBSCRIBE\nid:{wire_id}\n\n\0");
                    server.handle_input(T0, unsubscribe.as_bytes());
                    assert!(matches!(
                        events(&mut server)[..],
                        [ServerEvent::Unsubscribe { .. }]
                    ));
                }
            }
        }
        assert!(!server.is_closed());
    }
}

#[test]
fn a_1_0_subscription_without_id_gets_messages_without_subscription_header() {
    let mut server = connected(Version::V1_0);
    server.handle_input(T0, b"SUBSCRIBE\ndestination:/queue/a\n\n\0");
    assert!(matches!(
        events(&mut server)[..],
        [ServerEvent::Subscribe { .. }]
    ));
    let message = Message::new("/queue/a", Bytes::from_static(b"hi")).header("k", "v");
    let id = server.deliver("/queue/a", &message).unwrap().to_string();
    assert_eq!(
        transmitted(&mut server),
        serialized_message(
            Version::V1_0,
            &[
                (b"message-id", id.as_bytes()),
                (b"destination", b"/queue/a"),
                (b"k", b"v"),
            ],
            b"hi"
        )
    );
}

/// A client stream: CONNECT, then SUBSCRIBE, SENDs (one with an escaped header, one with a
/// NUL in its body), heart-beats, and, when `bad`, a frame that breaks the protocol followed
/// by more input.
fn client_stream(bad: bool) -> Vec<u8> {
    let mut wire = Vec::new();
    wire.extend_from_slice(b"CONNECT\naccept-version:1.2\nhost:h\n\n\0\n");
    wire.extend_from_slice(b"SUBSCRIBE\nid:0\ndestination:/q/a\nreceipt:r\n\n\0");
    wire.extend_from_slice(b"SEND\ndestination:/q/a\n\nhello\0\r\n");
    wire.extend_from_slice(b"SEND\ndestination:/q/a\nnote:a\\cb\ncontent-length:3\n\na\0b\0");
    if bad {
        wire.extend_from_slice(b"ACK\nid:99\n\n\0");
        wire.extend_from_slice(b"SEND\ndestination:/q/a\n\nlate\0");
    }
    wire
}

/// Feeds `parts` to a new server (as `Bytes`, kept shared when `shared`, or as slices) and
/// accepts the CONNECT as soon as it is reported; returns every event and all output.
fn serve(parts: &[&[u8]], bytes: Option<bool>) -> (Vec<ServerEvent>, Vec<u8>) {
    let mut server = Server::new(ServerConfig::new(), T0);
    let (mut evs, mut out) = (Vec::new(), Vec::new());
    for part in parts {
        match bytes {
            None => server.handle_input(T0, part),
            Some(shared) => {
                let chunk = BytesMut::from(*part).freeze();
                let keep = shared.then(|| chunk.clone());
                server.handle_input_bytes(T0, chunk);
                drop(keep);
            }
        }
        loop {
            let new = events(&mut server);
            if new.is_empty() {
                break;
            }
            let connect = matches!(new.last(), Some(ServerEvent::Connect(_)));
            evs.extend(new);
            if connect {
                server.accept(Some("s")).unwrap();
            }
        }
        out.extend(transmitted(&mut server));
    }
    (evs, out)
}

#[test]
fn input_as_bytes_gives_the_events_input_as_a_slice_gives_in_any_chunking() {
    for bad in [false, true] {
        let wire = client_stream(bad);
        for split in 0..=wire.len() {
            let parts = [&wire[..split], &wire[split..]];
            let expected = serve(&parts, None);
            assert!(expected.0.len() >= 4, "{:?}", expected.0);
            for shared in [false, true] {
                assert_eq!(
                    serve(&parts, Some(shared)),
                    expected,
                    "split at {split}, shared {shared}, bad {bad}"
                );
            }
        }
    }
}

#[test]
fn input_as_unique_bytes_is_decoded_in_place() {
    let mut server = connected(Version::V1_2);
    let wire = BytesMut::from(&b"SEND\ndestination:/q/a\n\nhello\0"[..]).freeze();
    let range = wire.as_ptr_range();
    server.handle_input_bytes(T0, wire);
    let Some(ServerEvent::Send { frame, .. }) = server.poll_event() else {
        panic!()
    };
    assert_eq!(frame.body(), b"hello");
    assert!(range.contains(&frame.body().as_ptr()));
}

#[test]
fn poll_transmit_chunks_are_their_memorys_only_reference() {
    // So that a session in the same process can decode them in place.
    let mut server = connected(Version::V1_2);
    server.handle_input(T0, b"SUBSCRIBE\nid:0\ndestination:/q/a\n\n\0");
    let _ = events(&mut server);
    for round in 0..3 {
        for _ in 0..=round {
            let message = Message::new("/q/a", Bytes::from_static(b"body"));
            server.deliver("0", &message).unwrap();
        }
        let chunk = server.poll_transmit().unwrap();
        assert!(chunk.try_into_mut().is_ok(), "round {round}");
        assert_eq!(server.poll_transmit(), None);
    }
}
