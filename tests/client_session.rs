#![cfg(feature = "alloc")]
//! Behaviour of the sans-IO client session, driven with hand-written server frames under
//! virtual time.

use bytes::BytesMut;
use stomp_proto::codec::{Decoder, OwnedFrame, OwnedItem};
use stomp_proto::session::client::{
    ClientState, ProtocolError, Receipt, SendOptions, SubscribeOptions,
};
use stomp_proto::session::{Client, ClientConfig, ClientEvent, SessionError};
use stomp_proto::time::{Duration, Instant};
use stomp_proto::{
    AckMode, Command, HeartBeat, Limits, ParseError, Parser, SerializeError, Version, Versions,
};

const T0: Instant = Instant::ZERO;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn versions(list: &[Version]) -> Versions {
    list.iter().copied().collect()
}

/// Everything the client wants to send, concatenated.
fn transmitted(client: &mut Client) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = client.poll_transmit() {
        out.extend_from_slice(&chunk);
    }
    out
}

fn events(client: &mut Client) -> Vec<ClientEvent> {
    let mut out = Vec::new();
    while let Some(event) = client.poll_event() {
        out.push(event);
    }
    out
}

/// Decodes client frames with the codec under `version`.
fn frames(bytes: &[u8], version: Version) -> Vec<OwnedFrame> {
    let mut decoder = Decoder::with_parser(Parser::new().with_version(version));
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(item) = decoder.decode(&mut buf).expect("client bytes parse") {
        if let OwnedItem::Frame(f) = item {
            out.push(f);
        }
    }
    assert!(buf.is_empty(), "trailing bytes: {:?}", buf);
    out
}

/// The single frame the client sent.
fn one_frame(client: &mut Client) -> OwnedFrame {
    let version = client.version().unwrap_or(Version::V1_2);
    let mut f = frames(&transmitted(client), version);
    assert_eq!(f.len(), 1, "{f:?}");
    f.remove(0)
}

/// Headers as decoded (name, value) strings, in wire order.
fn headers(frame: &OwnedFrame) -> Vec<(String, String)> {
    let escaping = frame.escaping();
    frame
        .headers()
        .map(|h| {
            let name = stomp_proto::Value::new(h.name, escaping).decode().unwrap();
            let value = stomp_proto::Value::new(h.value, escaping).decode().unwrap();
            (
                String::from_utf8(name.into_owned()).unwrap(),
                String::from_utf8(value.into_owned()).unwrap(),
            )
        })
        .collect()
}

fn h(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A client that sent CONNECT and got `connected` back, drained.
fn connected_with(config: ClientConfig, connected: &[u8]) -> Client {
    let mut client = Client::new(config);
    client.connect(T0).unwrap();
    let _ = transmitted(&mut client);
    client.handle_input(T0, connected);
    let ev = events(&mut client);
    assert!(
        matches!(ev.as_slice(), [ClientEvent::Connected(_)]),
        "{ev:?}"
    );
    client
}

fn connected(version: Version) -> Client {
    let frame = format!("CONNECTED\nversion:{version}\n\n\0");
    connected_with(ClientConfig::new("h"), frame.as_bytes())
}

fn message_event(client: &mut Client, input: &[u8]) -> stomp_proto::session::client::Message {
    client.handle_input(T0, input);
    match events(client).as_slice() {
        [ClientEvent::Message(m)] => m.clone(),
        other => panic!("{other:?}"),
    }
}

fn closed_with_protocol_error(client: &mut Client) -> ProtocolError {
    let ev = events(client);
    assert!(client.is_closed());
    assert_eq!(client.poll_transmit(), None);
    assert_eq!(client.poll_timeout(), None);
    match ev.last() {
        Some(ClientEvent::ProtocolError(e)) => *e,
        other => panic!("{other:?}"),
    }
}

// --- connecting ------------------------------------------------------------------------------

#[test]
fn connect_timeout_closes_when_connected_never_comes() {
    let mut client = Client::new(ClientConfig::new("h").connect_timeout(ms(3000)));
    assert_eq!(client.poll_timeout(), None);
    client.connect(T0 + ms(10)).unwrap();
    let _ = transmitted(&mut client);
    assert_eq!(client.poll_timeout(), Some(T0 + ms(3010)));
    // Bytes that are not CONNECTED (a heart-beat, half a frame) do not stop the clock.
    client.handle_input(T0 + ms(1000), b"\nCONNEC");
    assert_eq!(client.poll_timeout(), Some(T0 + ms(3010)));
    client.handle_timeout(T0 + ms(3009));
    assert!(events(&mut client).is_empty());
    assert_eq!(client.state(), ClientState::Connecting);
    client.handle_timeout(T0 + ms(3010));
    assert_eq!(events(&mut client), [ClientEvent::ConnectTimeout]);
    assert!(client.is_closed());
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(client.poll_transmit(), None);
    // The rest of CONNECTED, late, is ignored.
    client.handle_input(T0 + ms(3100), b"TED\nversion:1.2\n\n\0");
    assert!(events(&mut client).is_empty());
}

#[test]
fn connected_in_time_ends_the_connect_timeout() {
    let config = ClientConfig::new("h")
        .connect_timeout(ms(3000))
        .disconnect_timeout(ms(100));
    let mut client = Client::new(config);
    client.connect(T0).unwrap();
    let _ = transmitted(&mut client);
    client.handle_input(T0 + ms(2999), b"CONNECTED\nversion:1.2\n\n\0");
    assert!(matches!(
        events(&mut client).as_slice(),
        [ClientEvent::Connected(_)]
    ));
    // No heart-beats negotiated: nothing is due, ever.
    assert_eq!(client.poll_timeout(), None);
    client.handle_timeout(T0 + ms(60_000));
    assert!(events(&mut client).is_empty());
    assert!(client.is_connected());
}

#[test]
fn connect_frame_carries_versions_host_credentials_and_heart_beat() {
    let config = ClientConfig::new("stomp.github.org")
        .login("guest", "pass:word")
        .heart_beat(HeartBeat::new(1000, 2000));
    let mut client = Client::new(config);
    assert_eq!(client.state(), ClientState::Idle);
    client.connect(T0).unwrap();
    assert_eq!(client.state(), ClientState::Connecting);
    assert_eq!(
        transmitted(&mut client),
        b"CONNECT\naccept-version:1.0,1.1,1.2\nhost:stomp.github.org\nlogin:guest\n\
passcode:pass:word\nheart-beat:1000,2000\n\n\0"
    );
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn connected_1_2_negotiates_1_2_and_reports_server_and_session() {
    let mut client = Client::new(ClientConfig::new("h"));
    client.connect(T0).unwrap();
    let _ = transmitted(&mut client);
    client.handle_input(
        T0,
        b"CONNECTED\nversion:1.2\nserver:Apache/1.3.9\nsession:s-1\n\n\0",
    );
    let [ClientEvent::Connected(c)] = <[ClientEvent; 1]>::try_from(events(&mut client)).unwrap()
    else {
        panic!()
    };
    assert_eq!(c.version(), Version::V1_2);
    assert!(c.server().unwrap() == "Apache/1.3.9");
    assert!(c.session().unwrap() == "s-1");
    assert_eq!(c.heart_beat(), HeartBeat::NONE);
    assert_eq!(client.version(), Some(Version::V1_2));
    assert!(client.is_connected());
}

#[test]
fn connected_1_1_switches_to_1_1_escaping() {
    let mut client = connected(Version::V1_1);
    assert_eq!(client.version(), Some(Version::V1_1));
    client
        .send(T0, "/queue/a:b", b"", SendOptions::new())
        .unwrap();
    // 1.1 escapes ':' as \c, and the frame parses under 1.1 rules.
    let out = transmitted(&mut client);
    assert_eq!(out, b"SEND\ndestination:/queue/a\\cb\n\n\0");
    frames(&out, Version::V1_1);
}

#[test]
fn connected_without_version_header_means_1_0() {
    let mut client = Client::new(ClientConfig::new("h"));
    client.connect(T0).unwrap();
    let _ = transmitted(&mut client);
    // From the 1.0 spec: padding in the session header.
    client.handle_input(T0, b"CONNECTED\nsession: <session-id>\n\n\0");
    let [ClientEvent::Connected(c)] = <[ClientEvent; 1]>::try_from(events(&mut client)).unwrap()
    else {
        panic!()
    };
    assert_eq!(c.version(), Version::V1_0);
    assert_eq!(client.version(), Some(Version::V1_0));
    // 1.0 does not escape.
    client
        .send(T0, "/queue/a:b", b"x", SendOptions::new())
        .unwrap();
    assert_eq!(
        transmitted(&mut client),
        b"SEND\ndestination:/queue/a:b\ncontent-length:1\n\nx\0"
    );
}

#[test]
fn connected_without_version_is_an_error_when_1_0_was_not_offered() {
    let config = ClientConfig::new("h").accept_versions(versions(&[Version::V1_1, Version::V1_2]));
    let mut client = Client::new(config);
    client.connect(T0).unwrap();
    let _ = transmitted(&mut client);
    client.handle_input(T0, b"CONNECTED\n\n\0");
    assert_eq!(
        closed_with_protocol_error(&mut client),
        ProtocolError::VersionNotOffered
    );
}

#[test]
fn connected_with_a_version_not_offered_is_a_protocol_error() {
    for (offered, answer) in [
        (versions(&[Version::V1_0, Version::V1_1]), "1.2"),
        (versions(&[Version::V1_2]), "1.1"),
        (Versions::ALL, "2.0"),
        (Versions::ALL, "1.1,1.2"),
    ] {
        let mut client = Client::new(ClientConfig::new("h").accept_versions(offered));
        client.connect(T0).unwrap();
        let _ = transmitted(&mut client);
        client.handle_input(T0, format!("CONNECTED\nversion:{answer}\n\n\0").as_bytes());
        assert_eq!(
            closed_with_protocol_error(&mut client),
            ProtocolError::VersionNotOffered,
            "{offered:?} / {answer}"
        );
        assert_eq!(
            client.send(T0, "/a", b"", SendOptions::new()),
            Err(SessionError::Closed)
        );
    }
}

#[test]
fn connected_with_crlf_line_endings_is_accepted_before_negotiation() {
    let client = connected_with(
        ClientConfig::new("h"),
        b"CONNECTED\r\nversion:1.1\r\nheart-beat:0,0\r\n\r\n\0\r\n",
    );
    assert_eq!(client.version(), Some(Version::V1_1));
}

#[test]
fn a_1_0_only_client_omits_accept_version() {
    let config = ClientConfig::new("h").accept_versions(versions(&[Version::V1_0]));
    let mut client = Client::new(config);
    client.connect(T0).unwrap();
    assert_eq!(transmitted(&mut client), b"CONNECT\nhost:h\n\n\0");
}

#[test]
fn accept_version_lists_exactly_the_offered_subset() {
    let config = ClientConfig::new("h").accept_versions(versions(&[Version::V1_0, Version::V1_2]));
    let mut client = Client::new(config);
    client.connect(T0).unwrap();
    let f = one_frame(&mut client);
    assert!(f.header("accept-version").unwrap() == "1.0,1.2");
}

#[test]
fn stomp_command_option_opens_with_stomp() {
    let mut client = Client::new(ClientConfig::new("h").stomp_command(true));
    client.connect(T0).unwrap();
    let f = one_frame(&mut client);
    assert_eq!(f.command(), Command::Stomp);
    assert_eq!(
        headers(&f),
        h(&[("accept-version", "1.0,1.1,1.2"), ("host", "h")])
    );
}

#[test]
fn stomp_command_falls_back_to_connect_for_a_1_0_only_client() {
    let config = ClientConfig::new("h")
        .stomp_command(true)
        .accept_versions(versions(&[Version::V1_0]));
    let mut client = Client::new(config);
    client.connect(T0).unwrap();
    assert!(transmitted(&mut client).starts_with(b"CONNECT\n"));
}

#[test]
fn extra_connect_headers_follow_the_standard_ones() {
    let config = ClientConfig::new("h")
        .header("client-id", "c7")
        .header("host", "ignored");
    let mut client = Client::new(config);
    client.connect(T0).unwrap();
    let f = one_frame(&mut client);
    assert_eq!(
        headers(&f),
        h(&[
            ("accept-version", "1.0,1.1,1.2"),
            ("host", "h"),
            ("client-id", "c7"),
            ("host", "ignored"),
        ])
    );
    assert!(f.host().unwrap() == "h");
}

#[test]
fn connect_refuses_an_empty_version_set_and_unencodable_values() {
    let mut client = Client::new(ClientConfig::new("h").accept_versions(Versions::EMPTY));
    assert_eq!(
        client.connect(T0),
        Err(SessionError::Serialize(SerializeError::InvalidHeaderValue))
    );
    assert_eq!(client.state(), ClientState::Idle);
    assert_eq!(client.poll_transmit(), None);

    let mut client = Client::new(ClientConfig::new("bad\nhost"));
    assert!(matches!(
        client.connect(T0),
        Err(SessionError::Serialize(_))
    ));
    assert_eq!(client.poll_transmit(), None);
}

#[test]
fn connect_twice_is_already_connected() {
    let mut client = Client::new(ClientConfig::new("h"));
    client.connect(T0).unwrap();
    assert_eq!(client.connect(T0), Err(SessionError::AlreadyConnected));
    let mut client = connected(Version::V1_2);
    assert_eq!(client.connect(T0), Err(SessionError::AlreadyConnected));
}

#[test]
fn malformed_heart_beat_in_connected_is_a_protocol_error() {
    let mut client = Client::new(ClientConfig::new("h"));
    client.connect(T0).unwrap();
    client.handle_input(T0, b"CONNECTED\nversion:1.2\nheart-beat:soon\n\n\0");
    assert_eq!(
        closed_with_protocol_error(&mut client),
        ProtocolError::MalformedHeader("heart-beat")
    );
}

// --- heart-beats ------------------------------------------------------------------------------

fn with_heart_beats(client_hb: HeartBeat, server_hb: &str, grace: u32) -> Client {
    let config = ClientConfig::new("h")
        .heart_beat(client_hb)
        .grace_percent(grace);
    connected_with(
        config,
        format!("CONNECTED\nversion:1.2\nheart-beat:{server_hb}\n\n\0").as_bytes(),
    )
}

#[test]
fn heart_beat_intervals_are_the_max_of_both_sides_and_zero_disables() {
    let cases = [
        // client cx,cy ; server sx,sy ; (send, receive)
        ((1000, 2000), "3000,500", (Some(1000), Some(3000))),
        ((4000, 100), "10,5000", (Some(5000), Some(100))),
        ((0, 2000), "3000,500", (None, Some(3000))),
        ((1000, 2000), "0,500", (Some(1000), None)),
        ((1000, 0), "3000,0", (None, None)),
        ((1000, 2000), "0,0", (None, None)),
    ];
    for ((cx, cy), server, (send, receive)) in cases {
        let client = with_heart_beats(HeartBeat::new(cx, cy), server, 150);
        assert_eq!(
            client.heart_beat_intervals(),
            (send.map(ms), receive.map(ms)),
            "{cx},{cy} vs {server}"
        );
    }
}

#[test]
fn no_heart_beat_header_in_connected_means_none() {
    let client = connected_with(
        ClientConfig::new("h").heart_beat(HeartBeat::new(1000, 1000)),
        b"CONNECTED\nversion:1.2\n\n\0",
    );
    assert_eq!(client.heart_beat_intervals(), (None, None));
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn eol_is_sent_on_time_and_never_early() {
    let mut client = with_heart_beats(HeartBeat::new(1000, 0), "0,1000", 150);
    assert_eq!(client.poll_timeout(), Some(T0 + ms(1000)));
    // Early calls do nothing.
    for t in [0, 1, 500, 999] {
        client.handle_timeout(T0 + ms(t));
        assert_eq!(client.poll_transmit(), None, "at {t} ms");
    }
    client.handle_timeout(T0 + ms(1000));
    assert_eq!(transmitted(&mut client), b"\n");
    assert_eq!(client.poll_timeout(), Some(T0 + ms(2000)));
    // A late call sends one EOL and restarts the interval from then.
    client.handle_timeout(T0 + ms(2500));
    assert_eq!(transmitted(&mut client), b"\n");
    assert_eq!(client.poll_timeout(), Some(T0 + ms(3500)));
    client.handle_timeout(T0 + ms(3499));
    assert_eq!(client.poll_transmit(), None);
}

#[test]
fn a_frame_sent_postpones_the_eol() {
    let mut client = with_heart_beats(HeartBeat::new(1000, 0), "0,1000", 150);
    client
        .send(T0 + ms(600), "/a", b"", SendOptions::new())
        .unwrap();
    let _ = transmitted(&mut client);
    assert_eq!(client.poll_timeout(), Some(T0 + ms(1600)));
    client.handle_timeout(T0 + ms(1000));
    assert_eq!(client.poll_transmit(), None);
    client.handle_timeout(T0 + ms(1600));
    assert_eq!(transmitted(&mut client), b"\n");
}

#[test]
fn server_is_declared_dead_within_the_grace_window_and_never_early() {
    // Server sends every max(3000, 1000) = 3000 ms; grace 150% → dead after 4500 ms.
    let mut client = with_heart_beats(HeartBeat::new(0, 1000), "3000,0", 150);
    assert_eq!(client.poll_timeout(), Some(T0 + ms(4500)));
    client.handle_timeout(T0 + ms(4499));
    assert!(events(&mut client).is_empty());
    assert!(client.is_connected());
    client.handle_timeout(T0 + ms(4500));
    assert_eq!(events(&mut client), [ClientEvent::HeartBeatTimeout]);
    assert!(client.is_closed());
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(
        client.send(T0, "/a", b"", SendOptions::new()),
        Err(SessionError::Closed)
    );
}

#[test]
fn any_byte_from_the_server_keeps_it_alive() {
    let mut client = with_heart_beats(HeartBeat::new(0, 1000), "1000,0", 200);
    assert_eq!(client.poll_timeout(), Some(T0 + ms(2000)));
    client.handle_input(T0 + ms(1900), b"\n");
    assert_eq!(client.poll_timeout(), Some(T0 + ms(3900)));
    // Half a frame is new data too.
    client.handle_input(T0 + ms(3800), b"RECEI");
    client.handle_timeout(T0 + ms(3900));
    assert!(client.is_connected());
    assert_eq!(client.poll_timeout(), Some(T0 + ms(5800)));
    client.handle_timeout(T0 + ms(5800));
    assert_eq!(events(&mut client), [ClientEvent::HeartBeatTimeout]);
}

#[test]
fn grace_below_100_percent_counts_as_100() {
    let mut client = with_heart_beats(HeartBeat::new(0, 1000), "1000,0", 10);
    assert_eq!(client.poll_timeout(), Some(T0 + ms(1000)));
    client.handle_timeout(T0 + ms(999));
    assert!(client.is_connected());
}

#[test]
fn poll_timeout_is_the_earliest_deadline() {
    let mut client = with_heart_beats(HeartBeat::new(1000, 1000), "5000,1000", 150);
    // send every 1000, server every 5000 → dead after 7500.
    assert_eq!(client.poll_timeout(), Some(T0 + ms(1000)));
    for k in 1..=7 {
        client.handle_timeout(T0 + ms(k * 1000));
        assert_eq!(transmitted(&mut client), b"\n");
    }
    assert_eq!(client.poll_timeout(), Some(T0 + ms(7500)));
    client.handle_timeout(T0 + ms(7500));
    assert_eq!(events(&mut client), [ClientEvent::HeartBeatTimeout]);
    assert_eq!(client.poll_transmit(), None);
}

// --- client frames, per version ---------------------------------------------------------------

#[test]
fn send_frame_has_destination_content_type_transaction_receipt_and_user_headers() {
    for version in Version::ALL {
        let mut client = connected(version);
        client.begin(T0, "tx1", Receipt::None).unwrap();
        let _ = transmitted(&mut client);
        let receipt = client
            .send(
                T0,
                "/queue/a",
                b"hello queue a",
                SendOptions::new()
                    .content_type("text/plain")
                    .transaction("tx1")
                    .with_receipt(Receipt::Id("message-12345"))
                    .headers(&[("priority", "9")]),
            )
            .unwrap();
        assert_eq!(receipt.as_deref(), Some("message-12345"));
        let f = one_frame(&mut client);
        assert_eq!(f.command(), Command::Send);
        assert_eq!(
            headers(&f),
            h(&[
                ("destination", "/queue/a"),
                ("content-type", "text/plain"),
                ("transaction", "tx1"),
                ("receipt", "message-12345"),
                ("priority", "9"),
                ("content-length", "13"),
            ]),
            "{version}"
        );
        assert_eq!(f.body(), b"hello queue a");
    }
}

#[test]
fn send_body_with_nul_octets_is_framed_by_content_length() {
    let mut client = connected(Version::V1_2);
    client
        .send(T0, "/a", b"a\0b", SendOptions::new().text())
        .unwrap();
    let f = one_frame(&mut client);
    assert_eq!(f.body(), b"a\0b");
    assert!(f.content_type().unwrap() == "text/plain;charset=utf-8");
}

#[test]
fn header_values_are_escaped_per_version() {
    let dest = "/q/a:b\\c";
    let mut c12 = connected(Version::V1_2);
    c12.send(T0, dest, b"", SendOptions::new()).unwrap();
    assert_eq!(
        transmitted(&mut c12),
        b"SEND\ndestination:/q/a\\cb\\\\c\n\n\0"
    );
    let mut c10 = connected(Version::V1_0);
    c10.send(T0, dest, b"", SendOptions::new()).unwrap();
    assert_eq!(transmitted(&mut c10), b"SEND\ndestination:/q/a:b\\c\n\n\0");
}

#[test]
fn unencodable_send_is_refused_and_changes_nothing() {
    let mut client = connected(Version::V1_0);
    let err = client.send(T0, "/a\nb", b"", SendOptions::new().receipt());
    assert!(matches!(err, Err(SessionError::Serialize(_))), "{err:?}");
    assert_eq!(client.poll_transmit(), None);
    assert_eq!(client.outstanding_receipts().count(), 0);
}

#[test]
fn subscribe_generates_ids_or_takes_given_ones() {
    let mut client = connected(Version::V1_2);
    let a = client.subscribe(T0, "/a", SubscribeOptions::new()).unwrap();
    let b = client
        .subscribe(
            T0,
            "/b",
            SubscribeOptions::new().id("1").ack(AckMode::Client),
        )
        .unwrap();
    let c = client
        .subscribe(
            T0,
            "/c",
            SubscribeOptions::new()
                .ack(AckMode::ClientIndividual)
                .receipt()
                .headers(&[("selector", "x = 1")]),
        )
        .unwrap();
    assert_eq!(
        (a.id.as_str(), b.id.as_str(), c.id.as_str()),
        ("0", "1", "2")
    );
    assert_eq!(a.receipt, None);
    let receipt = c.receipt.unwrap();
    let f = frames(&transmitted(&mut client), Version::V1_2);
    assert_eq!(headers(&f[0]), h(&[("destination", "/a"), ("id", "0")]));
    assert_eq!(
        headers(&f[1]),
        h(&[("destination", "/b"), ("id", "1"), ("ack", "client")])
    );
    assert_eq!(
        headers(&f[2]),
        h(&[
            ("destination", "/c"),
            ("id", "2"),
            ("ack", "client-individual"),
            ("receipt", &receipt),
            ("selector", "x = 1"),
        ])
    );
    assert!(client.has_subscription("2"));
}

#[test]
fn subscribe_with_a_duplicate_id_is_refused() {
    let mut client = connected(Version::V1_2);
    client
        .subscribe(T0, "/a", SubscribeOptions::new().id("x"))
        .unwrap();
    let _ = transmitted(&mut client);
    assert_eq!(
        client.subscribe(T0, "/b", SubscribeOptions::new().id("x")),
        Err(SessionError::DuplicateSubscription)
    );
    assert_eq!(client.poll_transmit(), None);
}

#[test]
fn client_individual_does_not_exist_in_1_0() {
    let mut client = connected(Version::V1_0);
    assert_eq!(
        client.subscribe(
            T0,
            "/a",
            SubscribeOptions::new().ack(AckMode::ClientIndividual)
        ),
        Err(SessionError::AckModeNotInVersion)
    );
    assert!(client
        .subscribe(T0, "/a", SubscribeOptions::new().ack(AckMode::Client))
        .is_ok());
}

#[test]
fn unsubscribe_sends_the_id_and_forgets_the_subscription() {
    let mut client = connected(Version::V1_2);
    let sub = client.subscribe(T0, "/a", SubscribeOptions::new()).unwrap();
    let _ = transmitted(&mut client);
    let receipt = client.unsubscribe(T0, &sub.id, Receipt::Generated).unwrap();
    let f = one_frame(&mut client);
    assert_eq!(f.command(), Command::Unsubscribe);
    assert_eq!(
        headers(&f),
        h(&[("id", "0"), ("receipt", receipt.as_deref().unwrap())])
    );
    assert!(!client.has_subscription("0"));
    assert_eq!(
        client.unsubscribe(T0, "0", Receipt::None),
        Err(SessionError::UnknownSubscription)
    );
}

fn ack_frames(version: Version) -> (OwnedFrame, OwnedFrame) {
    let mut client = connected(version);
    client
        .subscribe(
            T0,
            "/q",
            SubscribeOptions::new().id("s:1").ack(AckMode::Client),
        )
        .unwrap();
    client.begin(T0, "tx1", Receipt::None).unwrap();
    let _ = transmitted(&mut client);
    let sub = if version == Version::V1_0 {
        "s:1"
    } else {
        "s\\c1"
    };
    let input =
        format!("MESSAGE\nsubscription:{sub}\nmessage-id:007\nack:a\\c7\ndestination:/q\n\nhi\0");
    let m = message_event(&mut client, input.as_bytes());
    assert_eq!(m.subscription(), "s:1");
    client.ack(T0, &m, Some("tx1"), Receipt::None).unwrap();
    let ack = one_frame(&mut client);
    let nack = if version == Version::V1_0 {
        assert_eq!(
            client.nack(T0, &m, None, Receipt::None),
            Err(SessionError::NackNotInVersion)
        );
        ack.clone()
    } else {
        client.nack(T0, &m, None, Receipt::Id("r1")).unwrap();
        one_frame(&mut client)
    };
    (ack, nack)
}

#[test]
fn ack_and_nack_in_1_2_name_the_message_ack_header() {
    let (ack, nack) = ack_frames(Version::V1_2);
    assert_eq!(ack.command(), Command::Ack);
    assert_eq!(headers(&ack), h(&[("id", "a:7"), ("transaction", "tx1")]));
    assert_eq!(
        ack.as_bytes().as_ref(),
        b"ACK\nid:a\\c7\ntransaction:tx1\n\n\0"
    );
    assert_eq!(nack.command(), Command::Nack);
    assert_eq!(headers(&nack), h(&[("id", "a:7"), ("receipt", "r1")]));
}

#[test]
fn ack_and_nack_in_1_1_carry_message_id_and_subscription() {
    let (ack, nack) = ack_frames(Version::V1_1);
    assert_eq!(
        headers(&ack),
        h(&[
            ("message-id", "007"),
            ("subscription", "s:1"),
            ("transaction", "tx1")
        ])
    );
    assert_eq!(
        headers(&nack),
        h(&[
            ("message-id", "007"),
            ("subscription", "s:1"),
            ("receipt", "r1")
        ])
    );
}

#[test]
fn ack_in_1_0_carries_message_id_only_and_nack_is_refused() {
    let (ack, _) = ack_frames(Version::V1_0);
    assert_eq!(
        headers(&ack),
        h(&[("message-id", "007"), ("transaction", "tx1")])
    );
}

#[test]
fn acking_a_message_of_an_auto_subscription_is_refused() {
    let mut client = connected(Version::V1_2);
    client.subscribe(T0, "/q", SubscribeOptions::new()).unwrap();
    let _ = transmitted(&mut client);
    let m = message_event(
        &mut client,
        b"MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/q\n\n\0",
    );
    assert_eq!(m.ack_mode(), AckMode::Auto);
    assert_eq!(
        client.ack(T0, &m, None, Receipt::None),
        Err(SessionError::AckNotExpected)
    );
    assert_eq!(
        client.nack(T0, &m, None, Receipt::None),
        Err(SessionError::AckNotExpected)
    );
    assert_eq!(client.poll_transmit(), None);
}

#[test]
fn acking_after_unsubscribe_is_unknown_subscription() {
    let mut client = connected(Version::V1_2);
    client
        .subscribe(T0, "/q", SubscribeOptions::new().ack(AckMode::Client))
        .unwrap();
    let m = message_event(
        &mut client,
        b"MESSAGE\nsubscription:0\nmessage-id:1\nack:1\ndestination:/q\n\n\0",
    );
    client.unsubscribe(T0, "0", Receipt::None).unwrap();
    let _ = transmitted(&mut client);
    assert_eq!(
        client.ack(T0, &m, None, Receipt::None),
        Err(SessionError::UnknownSubscription)
    );
}

#[test]
fn acking_a_1_2_message_without_ack_header_is_unknown_message() {
    let mut client = connected(Version::V1_2);
    client
        .subscribe(T0, "/q", SubscribeOptions::new().ack(AckMode::Client))
        .unwrap();
    let m = message_event(
        &mut client,
        b"MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/q\n\n\0",
    );
    let _ = transmitted(&mut client);
    assert_eq!(
        client.ack(T0, &m, None, Receipt::None),
        Err(SessionError::UnknownMessage)
    );
}

#[test]
fn ack_with_an_unknown_transaction_is_refused() {
    let mut client = connected(Version::V1_2);
    client
        .subscribe(T0, "/q", SubscribeOptions::new().ack(AckMode::Client))
        .unwrap();
    let m = message_event(
        &mut client,
        b"MESSAGE\nsubscription:0\nmessage-id:1\nack:1\ndestination:/q\n\n\0",
    );
    let _ = transmitted(&mut client);
    assert_eq!(
        client.ack(T0, &m, Some("nope"), Receipt::None),
        Err(SessionError::UnknownTransaction)
    );
}

#[test]
fn transactions_are_tracked_from_begin_to_commit_or_abort() {
    let mut client = connected(Version::V1_2);
    client.begin(T0, "tx1", Receipt::None).unwrap();
    client.begin(T0, "tx2", Receipt::None).unwrap();
    assert_eq!(
        client.begin(T0, "tx1", Receipt::None),
        Err(SessionError::DuplicateTransaction)
    );
    client
        .send(T0, "/a", b"1", SendOptions::new().transaction("tx1"))
        .unwrap();
    client.commit(T0, "tx1", Receipt::None).unwrap();
    client.abort(T0, "tx2", Receipt::None).unwrap();
    let f = frames(&transmitted(&mut client), Version::V1_2);
    let commands: Vec<_> = f.iter().map(|f| f.command()).collect();
    assert_eq!(
        commands,
        [
            Command::Begin,
            Command::Begin,
            Command::Send,
            Command::Commit,
            Command::Abort
        ]
    );
    assert_eq!(headers(&f[0]), h(&[("transaction", "tx1")]));
    assert_eq!(headers(&f[3]), h(&[("transaction", "tx1")]));
    assert_eq!(headers(&f[4]), h(&[("transaction", "tx2")]));
    assert!(!client.has_transaction("tx1"));
    for result in [
        client.commit(T0, "tx1", Receipt::None),
        client.abort(T0, "tx2", Receipt::None),
        client.send(T0, "/a", b"", SendOptions::new().transaction("tx1")),
    ] {
        assert_eq!(result, Err(SessionError::UnknownTransaction));
    }
    assert_eq!(client.poll_transmit(), None);
}

// --- receipts -------------------------------------------------------------------------------

#[test]
fn receipts_are_tracked_and_reported_with_their_command() {
    let mut client = connected(Version::V1_2);
    let r1 = client
        .send(T0, "/a", b"", SendOptions::new().receipt())
        .unwrap()
        .unwrap();
    let r2 = client
        .subscribe(T0, "/a", SubscribeOptions::new().receipt())
        .unwrap()
        .receipt
        .unwrap();
    let r3 = client.begin(T0, "t", Receipt::Id("mine")).unwrap().unwrap();
    assert_eq!(r3, "mine");
    assert_ne!(r1, r2);
    let _ = transmitted(&mut client);
    assert_eq!(
        client.outstanding_receipts().collect::<Vec<_>>(),
        [r1.as_str(), r2.as_str(), "mine"]
    );
    // Answered out of order.
    let input = format!(
        "RECEIPT\nreceipt-id:mine\n\n\0RECEIPT\nreceipt-id:{r1}\n\n\0RECEIPT\nreceipt-id:{r2}\n\n\0"
    );
    client.handle_input(T0, input.as_bytes());
    assert_eq!(
        events(&mut client),
        [
            ClientEvent::Receipt {
                receipt_id: "mine".into(),
                command: Command::Begin
            },
            ClientEvent::Receipt {
                receipt_id: r1,
                command: Command::Send
            },
            ClientEvent::Receipt {
                receipt_id: r2,
                command: Command::Subscribe
            },
        ]
    );
    assert_eq!(client.outstanding_receipts().count(), 0);
}

#[test]
fn generated_receipt_ids_skip_outstanding_caller_ids() {
    let mut client = connected(Version::V1_2);
    client
        .send(
            T0,
            "/a",
            b"",
            SendOptions::new().with_receipt(Receipt::Id("receipt-0")),
        )
        .unwrap();
    let generated = client
        .send(T0, "/a", b"", SendOptions::new().receipt())
        .unwrap()
        .unwrap();
    assert_ne!(generated, "receipt-0");
}

#[test]
fn an_unexpected_receipt_is_reported_and_the_session_stays_open() {
    let mut client = connected(Version::V1_2);
    client.handle_input(T0, b"RECEIPT\nreceipt-id:77\n\n\0RECEIPT\n\n\0");
    let ev = events(&mut client);
    assert_eq!(ev.len(), 2);
    let ClientEvent::UnexpectedReceipt(f) = &ev[0] else {
        panic!("{ev:?}")
    };
    assert!(f.receipt_id().unwrap() == "77");
    assert!(matches!(ev[1], ClientEvent::UnexpectedReceipt(_)));
    assert!(client.is_connected());
}

#[test]
fn a_receipt_answers_only_once() {
    let mut client = connected(Version::V1_2);
    let r = client
        .send(T0, "/a", b"", SendOptions::new().receipt())
        .unwrap()
        .unwrap();
    let input = format!("RECEIPT\nreceipt-id:{r}\n\n\0");
    client.handle_input(T0, input.as_bytes());
    client.handle_input(T0, input.as_bytes());
    let ev = events(&mut client);
    assert!(matches!(ev[0], ClientEvent::Receipt { .. }));
    assert!(matches!(ev[1], ClientEvent::UnexpectedReceipt(_)));
}

// --- MESSAGE ------------------------------------------------------------------------------------

#[test]
fn message_event_is_zero_copy_and_exposes_headers() {
    let mut client = connected(Version::V1_2);
    client.subscribe(T0, "/q", SubscribeOptions::new()).unwrap();
    let m = message_event(
        &mut client,
        b"MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\n\
content-type:text/plain\nfoo:World\nfoo:Hello\ncontent-length:13\n\nhello queue a\0",
    );
    assert_eq!(m.body(), b"hello queue a");
    assert!(m.destination().unwrap() == "/queue/a");
    assert!(m.message_id().unwrap() == "007");
    assert!(m.content_type().unwrap() == "text/plain");
    assert!(m.header("foo").unwrap() == "World");
    // The body shares the frame's buffer.
    let frame = m.frame().as_bytes();
    let body = m.body_bytes();
    let start = frame.as_ptr() as usize;
    let at = body.as_ptr() as usize;
    assert!(at >= start && at + body.len() <= start + frame.len());
    assert_eq!(m.clone().into_frame().command(), Command::Message);
}

#[test]
fn message_split_anywhere_gives_the_same_event() {
    let input: &[u8] = b"MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/q\n\nbody\0\n";
    let whole = {
        let mut c = connected(Version::V1_2);
        c.subscribe(T0, "/q", SubscribeOptions::new()).unwrap();
        message_event(&mut c, input)
    };
    for split in 0..=input.len() {
        let mut c = connected(Version::V1_2);
        c.subscribe(T0, "/q", SubscribeOptions::new()).unwrap();
        c.handle_input(T0, &input[..split]);
        c.handle_input(T0, &input[split..]);
        match events(&mut c).as_slice() {
            [ClientEvent::Message(m)] => assert_eq!(m, &whole),
            other => panic!("split {split}: {other:?}"),
        }
    }
    // And a byte at a time.
    let mut c = connected(Version::V1_2);
    c.subscribe(T0, "/q", SubscribeOptions::new()).unwrap();
    for b in input {
        c.handle_input(T0, std::slice::from_ref(b));
    }
    assert_eq!(events(&mut c), [ClientEvent::Message(whole)]);
}

#[test]
fn message_for_an_unknown_subscription_is_reported_and_the_session_stays_open() {
    let mut client = connected(Version::V1_2);
    client.handle_input(
        T0,
        b"MESSAGE\nsubscription:9\nmessage-id:1\ndestination:/q\n\n\0",
    );
    let ev = events(&mut client);
    assert!(matches!(ev.as_slice(), [ClientEvent::UnexpectedMessage(f)] if f.body().is_empty()));
    assert!(client.is_connected());
}

#[test]
fn a_1_0_message_without_subscription_goes_to_the_subscription_of_its_destination() {
    let mut client = connected(Version::V1_0);
    client
        .subscribe(T0, "/queue/a", SubscribeOptions::new())
        .unwrap();
    client
        .subscribe(T0, "/queue/b", SubscribeOptions::new().ack(AckMode::Client))
        .unwrap();
    // From the 1.0 spec, with padding.
    let m = message_event(
        &mut client,
        b"MESSAGE\ndestination:/queue/b\nmessage-id: <message-identifier>\n\nhello queue a\0",
    );
    assert_eq!(m.subscription(), "1");
    assert!(m.message_id().unwrap() == "<message-identifier>");
    let _ = transmitted(&mut client);
    client.ack(T0, &m, None, Receipt::None).unwrap();
    assert_eq!(
        transmitted(&mut client),
        b"ACK\nmessage-id:<message-identifier>\n\n\0"
    );
}

#[test]
fn messages_before_connected_are_a_protocol_error() {
    let mut client = Client::new(ClientConfig::new("h"));
    client.connect(T0).unwrap();
    client.handle_input(
        T0,
        b"MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/q\n\n\0",
    );
    assert_eq!(
        closed_with_protocol_error(&mut client),
        ProtocolError::UnexpectedFrame(Command::Message)
    );
}

#[test]
fn a_second_connected_or_a_client_frame_from_the_server_is_a_protocol_error() {
    for (input, command) in [
        (&b"CONNECTED\nversion:1.2\n\n\0"[..], Command::Connected),
        (b"SEND\ndestination:/a\n\n\0", Command::Send),
        (b"DISCONNECT\n\n\0", Command::Disconnect),
    ] {
        let mut client = connected(Version::V1_2);
        client.handle_input(T0, input);
        assert_eq!(
            closed_with_protocol_error(&mut client),
            ProtocolError::UnexpectedFrame(command)
        );
    }
}

// --- ERROR ------------------------------------------------------------------------------------

#[test]
fn error_frame_is_reported_and_closes_the_session() {
    let mut client = connected(Version::V1_2);
    let r = client
        .send(
            T0,
            "/a",
            b"x",
            SendOptions::new().with_receipt(Receipt::Id("message-12345")),
        )
        .unwrap();
    assert!(r.is_some());
    // Queued but not yet transmitted: dropped by the close.
    client.send(T0, "/b", b"never", SendOptions::new()).unwrap();
    let body = "The message:\n-----\nMESSAGE\ndestined:/queue/a\nreceipt:message-12345\n\n\
Hello queue a!\n-----\nDid not contain a destination header, which is REQUIRED\n\
for message propagation.\n";
    let input = format!(
        "ERROR\nreceipt-id:message-12345\ncontent-type:text/plain\ncontent-length:{}\n\
message:malformed frame received\n\n{body}\0",
        body.len()
    );
    client.handle_input(T0, input.as_bytes());
    let ev = events(&mut client);
    let [ClientEvent::Error(e)] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert!(e.message().unwrap() == "malformed frame received");
    assert_eq!(e.body(), body.as_bytes());
    assert!(e.receipt_id().unwrap() == "message-12345");
    assert_eq!(e.command(), Some(Command::Send));
    assert!(client.is_closed());
    assert_eq!(client.poll_transmit(), None);
    assert_eq!(
        client.subscribe(T0, "/a", SubscribeOptions::new()),
        Err(SessionError::Closed)
    );
    // Input after the close is ignored.
    client.handle_input(T0, b"RECEIPT\nreceipt-id:1\n\n\0");
    assert_eq!(client.poll_event(), None);
}

#[test]
fn error_instead_of_connected_closes_the_session() {
    let mut client = Client::new(
        ClientConfig::new("h").accept_versions(versions(&[Version::V1_0, Version::V1_1])),
    );
    client.connect(T0).unwrap();
    let _ = transmitted(&mut client);
    client.handle_input(
        T0,
        b"ERROR\nversion:1.2,2.1\ncontent-type:text/plain\n\nSupported protocol versions are 1.2 2.1\0",
    );
    let ev = events(&mut client);
    let [ClientEvent::Error(e)] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert_eq!(e.body(), b"Supported protocol versions are 1.2 2.1");
    assert_eq!(e.command(), None);
    assert!(client.is_closed());
}

// --- DISCONNECT -------------------------------------------------------------------------------

#[test]
fn disconnect_waits_for_its_receipt_and_then_closes() {
    let mut client = with_heart_beats(HeartBeat::new(1000, 1000), "1000,1000", 150);
    client.subscribe(T0, "/q", SubscribeOptions::new()).unwrap();
    let pending = client
        .send(T0, "/q", b"", SendOptions::new().receipt())
        .unwrap()
        .unwrap();
    let receipt = client.disconnect(T0 + ms(10)).unwrap();
    let f = frames(&transmitted(&mut client), Version::V1_2);
    let last = f.last().unwrap();
    assert_eq!(last.command(), Command::Disconnect);
    assert_eq!(headers(last), h(&[("receipt", &receipt)]));
    assert_eq!(client.state(), ClientState::Disconnecting);
    assert_eq!(client.version(), Some(Version::V1_2));

    // Nothing more may be sent, heart-beats included.
    assert_eq!(
        client.send(T0, "/a", b"", SendOptions::new()),
        Err(SessionError::Closed)
    );
    assert_eq!(client.disconnect(T0), Err(SessionError::Closed));
    assert_eq!(client.heart_beat_intervals().0, None);
    // Only the server's silence is watched.
    assert_eq!(client.poll_timeout(), Some(T0 + ms(1500)));
    client.handle_timeout(T0 + ms(1100));
    assert_eq!(client.poll_transmit(), None);

    // Frames in flight still arrive; the DISCONNECT receipt closes.
    let input = format!(
        "MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/q\n\n\0\
RECEIPT\nreceipt-id:{pending}\n\n\0RECEIPT\nreceipt-id:{receipt}\n\n\0"
    );
    client.handle_input(T0 + ms(1200), input.as_bytes());
    let ev = events(&mut client);
    assert!(matches!(ev[0], ClientEvent::Message(_)));
    assert_eq!(
        ev[1],
        ClientEvent::Receipt {
            receipt_id: pending,
            command: Command::Send
        }
    );
    assert_eq!(
        ev[2],
        ClientEvent::Disconnected {
            receipt_id: receipt
        }
    );
    assert!(client.is_closed());
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(client.poll_transmit(), None);
}

#[test]
fn a_silent_server_during_disconnect_is_still_declared_dead() {
    let mut client = with_heart_beats(HeartBeat::new(0, 1000), "1000,0", 150);
    client.disconnect(T0).unwrap();
    let _ = transmitted(&mut client);
    client.handle_timeout(T0 + ms(1500));
    assert_eq!(events(&mut client), [ClientEvent::HeartBeatTimeout]);
}

#[test]
fn disconnect_timeout_closes_when_the_receipt_never_comes() {
    let config = ClientConfig::new("h").disconnect_timeout(ms(2000));
    let mut client = connected_with(config, b"CONNECTED\nversion:1.2\n\n\0");
    // The timeout only runs once DISCONNECT is sent.
    assert_eq!(client.poll_timeout(), None);
    client.disconnect(T0 + ms(100)).unwrap();
    let _ = transmitted(&mut client);
    assert_eq!(client.poll_timeout(), Some(T0 + ms(2100)));
    client.handle_timeout(T0 + ms(2099));
    assert!(events(&mut client).is_empty());
    assert_eq!(client.state(), ClientState::Disconnecting);
    client.handle_timeout(T0 + ms(2100));
    assert_eq!(events(&mut client), [ClientEvent::DisconnectTimeout]);
    assert!(client.is_closed());
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(client.poll_transmit(), None);
}

#[test]
fn disconnect_timeout_is_the_earlier_of_it_and_the_servers_silence() {
    let config = ClientConfig::new("h")
        .heart_beat(HeartBeat::new(0, 1000))
        .grace_percent(150)
        .disconnect_timeout(ms(5000));
    let mut client = connected_with(config, b"CONNECTED\nversion:1.2\nheart-beat:1000,0\n\n\0");
    let receipt = client.disconnect(T0).unwrap();
    let _ = transmitted(&mut client);
    // The server's beats are due first, and keep it alive; then the receipt's wait ends.
    assert_eq!(client.poll_timeout(), Some(T0 + ms(1500)));
    for k in 1..=4 {
        client.handle_input(T0 + ms(k * 1000), b"\n");
    }
    assert_eq!(client.poll_timeout(), Some(T0 + ms(5000)));
    // A receipt in time: Disconnected, and the timeout never fires.
    let receipt_frame = format!("RECEIPT\nreceipt-id:{receipt}\n\n\0");
    client.handle_input(T0 + ms(4999), receipt_frame.as_bytes());
    assert_eq!(
        events(&mut client),
        [ClientEvent::Disconnected {
            receipt_id: receipt
        }]
    );
    client.handle_timeout(T0 + ms(5000));
    assert!(events(&mut client).is_empty());
}

// --- misuse ------------------------------------------------------------------------------------

#[test]
fn every_call_before_connected_is_not_connected() {
    let mut idle = Client::new(ClientConfig::new("h"));
    let mut connecting = Client::new(ClientConfig::new("h"));
    connecting.connect(T0).unwrap();
    let _ = transmitted(&mut connecting);
    for client in [&mut idle, &mut connecting] {
        let e = Err(SessionError::NotConnected);
        assert_eq!(client.send(T0, "/a", b"", SendOptions::new()), e);
        assert_eq!(
            client.subscribe(T0, "/a", SubscribeOptions::new()),
            Err(SessionError::NotConnected)
        );
        assert_eq!(client.unsubscribe(T0, "0", Receipt::None), e);
        assert_eq!(client.begin(T0, "t", Receipt::None), e);
        assert_eq!(client.commit(T0, "t", Receipt::None), e);
        assert_eq!(client.abort(T0, "t", Receipt::None), e);
        assert_eq!(client.disconnect(T0), Err(SessionError::NotConnected));
        assert_eq!(client.poll_transmit(), None);
    }
    // Heart-beat timers do not run before CONNECTED.
    connecting.handle_timeout(T0 + Duration::from_secs(3600));
    assert_eq!(connecting.poll_transmit(), None);
    assert_eq!(connecting.poll_event(), None);
}

#[test]
fn acking_before_connected_is_refused_too() {
    let mut client = connected(Version::V1_2);
    client
        .subscribe(T0, "/q", SubscribeOptions::new().ack(AckMode::Client))
        .unwrap();
    let m = message_event(
        &mut client,
        b"MESSAGE\nsubscription:0\nmessage-id:1\nack:1\ndestination:/q\n\n\0",
    );
    let mut other = Client::new(ClientConfig::new("h"));
    assert_eq!(
        other.ack(T0, &m, None, Receipt::None),
        Err(SessionError::NotConnected)
    );
    client.disconnect(T0).unwrap();
    assert_eq!(
        client.ack(T0, &m, None, Receipt::None),
        Err(SessionError::Closed)
    );
    assert_eq!(
        client.nack(T0, &m, None, Receipt::None),
        Err(SessionError::Closed)
    );
}

#[test]
fn a_closed_session_refuses_to_connect_again() {
    let mut client = connected(Version::V1_2);
    client.handle_input(T0, b"ERROR\n\n\0");
    assert_eq!(client.connect(T0), Err(SessionError::Closed));
}

// --- bad input --------------------------------------------------------------------------------

#[test]
fn garbage_closes_the_session_with_a_parse_error() {
    for input in [
        &b"HELLO\n\n\0"[..],
        b"MESSAGE\nno colon\n\n\0",
        b"RECEIPT\nreceipt-id:1\n\nbody\0",
        b"MESSAGE\nsubscription:0\nbad:\\t\n\n\0",
        b"\0\0\0\n",
        b"\xff\xfe\xfd\n",
    ] {
        let mut client = connected(Version::V1_2);
        client.handle_input(T0, input);
        assert!(
            matches!(
                closed_with_protocol_error(&mut client),
                ProtocolError::Parse(_)
            ),
            "{input:?}"
        );
        // More input changes nothing.
        client.handle_input(T0, b"RECEIPT\nreceipt-id:1\n\n\0");
        assert_eq!(client.poll_event(), None);
    }
}

#[test]
fn oversized_frames_close_the_session_without_buffering_them() {
    let limits = Limits {
        max_frame_len: 1024,
        max_body_len: 512,
        max_header_line_len: 128,
        max_headers: 4,
    };
    let cases: [(Vec<u8>, ParseError); 3] = [
        (
            [&b"MESSAGE\nsubscription:0\n\n"[..], &vec![b'x'; 4 << 20]].concat(),
            ParseError::BodyTooLarge,
        ),
        (
            [&b"MESSAGE\nx:"[..], &vec![b'y'; 1 << 20]].concat(),
            ParseError::HeaderLineTooLong,
        ),
        (
            b"MESSAGE\na:1\nb:2\nc:3\nd:4\ne:5\n\n\0".to_vec(),
            ParseError::HeaderCountLimit,
        ),
    ];
    for (input, expected) in cases {
        let mut client = connected_with(
            ClientConfig::new("h").limits(limits),
            b"CONNECTED\nversion:1.2\n\n\0",
        );
        client.handle_input(T0, &input);
        assert_eq!(
            closed_with_protocol_error(&mut client),
            ProtocolError::Parse(expected)
        );
    }
}

#[test]
fn oversized_connected_closes_the_session() {
    let mut client = Client::new(ClientConfig::new("h").limits(Limits {
        max_headers: 2,
        ..Limits::DEFAULT
    }));
    client.connect(T0).unwrap();
    client.handle_input(T0, b"CONNECTED\nversion:1.2\na:1\nb:2\n\n\0");
    assert_eq!(
        closed_with_protocol_error(&mut client),
        ProtocolError::Parse(ParseError::HeaderCountLimit)
    );
}

#[test]
fn nack_from_a_1_0_server_is_not_even_a_command() {
    // After negotiating 1.0, frames are read with 1.0 rules.
    let mut client = connected(Version::V1_0);
    client.handle_input(T0, b"NACK\n\n\0");
    assert_eq!(
        closed_with_protocol_error(&mut client),
        ProtocolError::Parse(ParseError::CommandNotInVersion)
    );
}

// --- scripted exchanges from the specs -------------------------------------------------------

#[test]
fn spec_1_2_exchange() {
    let mut client = Client::new(
        ClientConfig::new("stomp.github.org").accept_versions(versions(&[Version::V1_2])),
    );
    client.connect(T0).unwrap();
    assert_eq!(
        transmitted(&mut client),
        b"CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0"
    );
    client.handle_input(T0, b"CONNECTED\nversion:1.2\n\n\0");
    assert!(matches!(
        events(&mut client).as_slice(),
        [ClientEvent::Connected(_)]
    ));

    client
        .subscribe(
            T0,
            "/queue/foo",
            SubscribeOptions::new().id("0").ack(AckMode::Client),
        )
        .unwrap();
    assert_eq!(
        transmitted(&mut client),
        b"SUBSCRIBE\ndestination:/queue/foo\nid:0\nack:client\n\n\0"
    );

    client
        .send(
            T0,
            "/queue/a",
            b"hello queue a",
            SendOptions::new().with_receipt(Receipt::Id("message-12345")),
        )
        .unwrap();
    assert_eq!(
        transmitted(&mut client),
        b"SEND\ndestination:/queue/a\nreceipt:message-12345\ncontent-length:13\n\nhello queue a\0"
    );
    client.handle_input(T0, b"RECEIPT\nreceipt-id:message-12345\n\n\0\n");
    assert_eq!(
        events(&mut client),
        [ClientEvent::Receipt {
            receipt_id: "message-12345".into(),
            command: Command::Send
        }]
    );
}

#[test]
fn spec_1_2_exchange_with_receipts_messages_and_acks() {
    let mut client = Client::new(
        ClientConfig::new("stomp.github.org").accept_versions(versions(&[Version::V1_2])),
    );
    client.connect(T0).unwrap();
    let _ = transmitted(&mut client);
    client.handle_input(T0, b"CONNECTED\nversion:1.2\n\n\0");
    let _ = events(&mut client);
    client
        .subscribe(
            T0,
            "/queue/a",
            SubscribeOptions::new()
                .id("0")
                .ack(AckMode::ClientIndividual),
        )
        .unwrap();
    client
        .send(
            T0,
            "/queue/a",
            b"hello queue a",
            SendOptions::new().with_receipt(Receipt::Id("message-12345")),
        )
        .unwrap();
    let _ = transmitted(&mut client);
    client.handle_input(
        T0,
        b"RECEIPT\nreceipt-id:message-12345\n\n\0\n\nMESSAGE\nsubscription:0\nmessage-id:007\n\
ack:12345\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\0",
    );
    let ev = events(&mut client);
    assert_eq!(
        ev[0],
        ClientEvent::Receipt {
            receipt_id: "message-12345".into(),
            command: Command::Send
        }
    );
    let ClientEvent::Message(m) = &ev[1] else {
        panic!("{ev:?}")
    };
    client.begin(T0, "tx1", Receipt::None).unwrap();
    client.ack(T0, m, Some("tx1"), Receipt::None).unwrap();
    client.commit(T0, "tx1", Receipt::None).unwrap();
    assert_eq!(
        transmitted(&mut client),
        b"BEGIN\ntransaction:tx1\n\n\0ACK\nid:12345\ntransaction:tx1\n\n\0\
COMMIT\ntransaction:tx1\n\n\0"
    );
    client.unsubscribe(T0, "0", Receipt::None).unwrap();
    assert_eq!(transmitted(&mut client), b"UNSUBSCRIBE\nid:0\n\n\0");
    let receipt = client.disconnect(T0).unwrap();
    assert_eq!(
        transmitted(&mut client),
        format!("DISCONNECT\nreceipt:{receipt}\n\n\0").as_bytes()
    );
    client.handle_input(
        T0,
        format!("RECEIPT\nreceipt-id:{receipt}\n\n\0").as_bytes(),
    );
    assert_eq!(
        events(&mut client),
        [ClientEvent::Disconnected {
            receipt_id: receipt
        }]
    );
}

#[test]
fn spec_1_1_negotiation_example() {
    // The client offers 1.0 and 1.1 (and 2.0, which this crate cannot offer); the server
    // answers 1.1.
    let mut client = Client::new(
        ClientConfig::new("stomp.github.org")
            .accept_versions(versions(&[Version::V1_0, Version::V1_1])),
    );
    client.connect(T0).unwrap();
    assert_eq!(
        transmitted(&mut client),
        b"CONNECT\naccept-version:1.0,1.1\nhost:stomp.github.org\n\n\0"
    );
    client.handle_input(T0, b"CONNECTED\nversion:1.1\n\n\0");
    let _ = events(&mut client);
    assert_eq!(client.version(), Some(Version::V1_1));
    client
        .subscribe(
            T0,
            "/queue/foo",
            SubscribeOptions::new().id("0").ack(AckMode::Client),
        )
        .unwrap();
    let _ = transmitted(&mut client);
    let m = message_event(
        &mut client,
        b"MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\n\
content-type:text/plain\n\nhello queue a\0",
    );
    client.begin(T0, "tx1", Receipt::None).unwrap();
    let _ = transmitted(&mut client);
    client.ack(T0, &m, Some("tx1"), Receipt::None).unwrap();
    // The spec's 1.1 ACK example.
    assert_eq!(
        transmitted(&mut client),
        b"ACK\nmessage-id:007\nsubscription:0\ntransaction:tx1\n\n\0"
    );
}

#[test]
fn spec_1_0_exchange() {
    let mut client = Client::new(
        ClientConfig::new("localhost")
            .accept_versions(versions(&[Version::V1_0]))
            .login("<username>", "<passcode>"),
    );
    client.connect(T0).unwrap();
    assert_eq!(
        transmitted(&mut client),
        b"CONNECT\nhost:localhost\nlogin:<username>\npasscode:<passcode>\n\n\0"
    );
    client.handle_input(T0, b"CONNECTED\nsession: <session-id>\n\n\0");
    let [ClientEvent::Connected(c)] = <[ClientEvent; 1]>::try_from(events(&mut client)).unwrap()
    else {
        panic!()
    };
    assert_eq!(c.version(), Version::V1_0);
    // Read with 1.2 rules before negotiation: no trimming yet.
    assert!(c.session().unwrap() == " <session-id>");
    client
        .send(T0, "/queue/a", b"hello queue a", SendOptions::new())
        .unwrap();
    assert_eq!(
        transmitted(&mut client),
        b"SEND\ndestination:/queue/a\ncontent-length:13\n\nhello queue a\0"
    );
    client
        .subscribe(
            T0,
            "/queue/foo",
            SubscribeOptions::new().ack(AckMode::Client),
        )
        .unwrap();
    let _ = transmitted(&mut client);
    // A 1.0 server pads and may leave out `subscription`.
    let m = message_event(
        &mut client,
        b"MESSAGE\ndestination:/queue/foo\nmessage-id: <message-identifier>\n\nhello queue a\0",
    );
    client.ack(T0, &m, None, Receipt::None).unwrap();
    assert_eq!(
        transmitted(&mut client),
        b"ACK\nmessage-id:<message-identifier>\n\n\0"
    );
    client.handle_input(
        T0,
        b"ERROR\nmessage: malformed packet received\n\nThe message:\n-----\nMESSAGE\n\
destined:/queue/a\n\nHello queue a!\n-----\nDid not contain a destination header, \
which is required \nfor message propagation.\n\0",
    );
    let [ClientEvent::Error(e)] = <[ClientEvent; 1]>::try_from(events(&mut client)).unwrap() else {
        panic!()
    };
    assert!(e.message().unwrap() == "malformed packet received");
    assert!(client.is_closed());
}

/// A stream of server frames after CONNECTED: MESSAGEs for subscription 0 (one with an
/// escaped header, one with a NUL in its body), heart-beats, a RECEIPT, and, when `bad`, a
/// malformed frame that closes the session, followed by more input.
fn server_stream(bad: bool) -> Vec<u8> {
    let mut wire = Vec::new();
    wire.extend_from_slice(b"MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/q/a\n\nhi\0\n");
    wire.extend_from_slice(
        b"MESSAGE\nsubscription:0\nmessage-id:2\ndestination:/q/a\nnote:a\\cb\n\
          content-length:3\n\na\0b\0\r\n",
    );
    wire.extend_from_slice(b"RECEIPT\nreceipt-id:r-1\n\n\0");
    wire.extend_from_slice(b"MESSAGE\nsubscription:1\nmessage-id:3\ndestination:/q/b\n\n\0");
    if bad {
        wire.extend_from_slice(b"MESSAGE\nbad header line\n\n\0");
        wire.extend_from_slice(b"MESSAGE\nsubscription:0\nmessage-id:4\ndestination:/q/a\n\n\0");
    }
    wire
}

/// A 1.2 client subscribed to /q/a as `0`, waiting for the receipt `r-1`.
fn subscribed_client() -> Client {
    let mut client = connected(Version::V1_2);
    client
        .subscribe(
            T0,
            "/q/a",
            SubscribeOptions::new().with_receipt(Receipt::Id("r-1")),
        )
        .unwrap();
    let _ = transmitted(&mut client);
    client
}

#[test]
fn input_as_bytes_gives_the_events_input_as_a_slice_gives_in_any_chunking() {
    for bad in [false, true] {
        let wire = server_stream(bad);
        let mut by_slice = subscribed_client();
        by_slice.handle_input(T0, &wire);
        let expected = events(&mut by_slice);
        assert!(expected.len() >= 4, "{expected:?}");
        for split in 0..=wire.len() {
            for shared in [false, true] {
                let mut client = subscribed_client();
                let mut got = Vec::new();
                for part in [&wire[..split], &wire[split..]] {
                    let bytes = BytesMut::from(part).freeze();
                    // A clone kept alive makes the chunk shared: it must be copied.
                    let keep = shared.then(|| bytes.clone());
                    client.handle_input_bytes(T0, bytes);
                    got.extend(events(&mut client));
                    drop(keep);
                }
                assert_eq!(
                    got, expected,
                    "split at {split}, shared {shared}, bad {bad}"
                );
                assert_eq!(client.is_closed(), bad);
            }
        }
    }
}

#[test]
fn input_as_unique_bytes_is_decoded_in_place() {
    let mut client = subscribed_client();
    let wire = BytesMut::from(&server_stream(false)[..]).freeze();
    let range = wire.as_ptr_range();
    client.handle_input_bytes(T0, wire);
    let ev = events(&mut client);
    let ClientEvent::Message(message) = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(message.body(), b"hi");
    // The body is a slice of the buffer handed over: nothing was copied.
    assert!(range.contains(&message.body().as_ptr()));

    // Shared, it is copied.
    let mut client = subscribed_client();
    let wire = BytesMut::from(&server_stream(false)[..]).freeze();
    let keep = wire.clone();
    client.handle_input_bytes(T0, wire);
    let ev = events(&mut client);
    let ClientEvent::Message(message) = &ev[0] else {
        panic!("{ev:?}")
    };
    assert!(!keep.as_ptr_range().contains(&message.body().as_ptr()));
}
