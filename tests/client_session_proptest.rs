#![cfg(feature = "alloc")]
//! Random interleavings of API calls, server input (valid frames split anywhere, and random
//! bytes) and clock jumps never panic the client, and everything it transmits re-parses as
//! valid client frames under the version in force.

use bytes::BytesMut;
use proptest::prelude::*;
use stomp_proto::codec::{Decoder, OwnedItem};
use stomp_proto::session::client::{Message, Receipt, SendOptions, SubscribeOptions};
use stomp_proto::session::{Client, ClientConfig, ClientEvent};
use stomp_proto::time::{Duration, Instant};
use stomp_proto::{AckMode, HeartBeat, Parser, Version, Versions};

#[derive(Clone, Debug)]
enum Op {
    /// Server bytes, fed in these chunks.
    Input(Vec<Vec<u8>>),
    Advance(u64),
    Timeout,
    Send(u8, bool),
    Subscribe(u8, AckMode, bool),
    Unsubscribe(u8),
    Ack(bool, bool),
    Begin(u8),
    Commit(u8),
    Abort(u8),
    Disconnect,
}

fn server_frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec!["1.0", "1.1", "1.2", "", "2.0"]).prop_flat_map(|v| {
            (0u32..3000, 0u32..3000).prop_map(move |(sx, sy)| {
                let version = if v.is_empty() {
                    String::new()
                } else {
                    format!("version:{v}\n")
                };
                format!("CONNECTED\n{version}heart-beat:{sx},{sy}\n\n\0").into_bytes()
            })
        }),
        (0u8..4, 0u8..4, "[a-z ]{0,12}").prop_map(|(sub, ack, body)| format!(
            "MESSAGE\nsubscription:{sub}\nmessage-id:m{ack}\nack:a{ack}\ndestination:/q/{sub}\n\
content-length:{}\n\n{body}\0\n",
            body.len()
        )
        .into_bytes()),
        (0u8..6).prop_map(|n| format!("RECEIPT\nreceipt-id:receipt-{n}\n\n\0").into_bytes()),
        Just(b"ERROR\nmessage:bye\n\nbody\0".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..24),
    ]
}

/// Splits `bytes` at the given cut points.
fn chunked() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (
        prop::collection::vec(server_frame(), 1..4),
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    )
        .prop_map(|(frames, cuts)| {
            let bytes = frames.concat();
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut out = Vec::new();
            let mut start = 0;
            for p in points {
                out.push(bytes[start..p].to_vec());
                start = p;
            }
            out.push(bytes[start..].to_vec());
            out
        })
}

fn ack_mode() -> impl Strategy<Value = AckMode> {
    prop::sample::select(vec![
        AckMode::Auto,
        AckMode::Client,
        AckMode::ClientIndividual,
    ])
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => chunked().prop_map(Op::Input),
        2 => (0u64..5000).prop_map(Op::Advance),
        2 => Just(Op::Timeout),
        2 => (0u8..3, any::<bool>()).prop_map(|(t, r)| Op::Send(t, r)),
        1 => (0u8..4, ack_mode(), any::<bool>()).prop_map(|(i, a, r)| Op::Subscribe(i, a, r)),
        1 => (0u8..4).prop_map(Op::Unsubscribe),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(n, t)| Op::Ack(n, t)),
        1 => (0u8..3).prop_map(Op::Begin),
        1 => (0u8..3).prop_map(Op::Commit),
        1 => (0u8..3).prop_map(Op::Abort),
        1 => Just(Op::Disconnect),
    ]
}

fn config() -> impl Strategy<Value = (Versions, ClientConfig)> {
    let timeouts = (prop::option::of(0u64..5000), prop::option::of(0u64..5000));
    (
        1u8..8,
        0u32..3000,
        0u32..3000,
        any::<bool>(),
        100u32..300,
        timeouts,
    )
        .prop_map(|(bits, cx, cy, stomp, grace, (connect, disconnect))| {
            let versions: Versions = Version::ALL
                .into_iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, v)| v)
                .collect();
            let config = ClientConfig::new("h")
                .accept_versions(versions)
                .heart_beat(HeartBeat::new(cx, cy))
                .stomp_command(stomp)
                .grace_percent(grace);
            let config = match connect {
                Some(ms) => config.connect_timeout(Duration::from_millis(ms)),
                None => config,
            };
            let config = match disconnect {
                Some(ms) => config.disconnect_timeout(Duration::from_millis(ms)),
                None => config,
            };
            (versions, config)
        })
}

/// Decodes everything the client transmits, checking it is whole, valid client frames.
struct Wire {
    decoder: Decoder,
    buf: BytesMut,
}

impl Wire {
    fn check(&mut self, client: &mut Client) -> Result<(), TestCaseError> {
        if let Some(v) = client.version() {
            self.decoder.set_version(v);
        }
        while let Some(chunk) = client.poll_transmit() {
            prop_assert!(!client.is_closed(), "a closed session transmitted");
            self.buf.extend_from_slice(&chunk);
            loop {
                match self.decoder.decode(&mut self.buf) {
                    Ok(Some(OwnedItem::Frame(f))) => {
                        prop_assert!(f.command().is_client_command(), "{f:?}");
                    }
                    Ok(Some(OwnedItem::HeartBeat)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        return Err(TestCaseError::fail(format!(
                            "transmitted bytes do not parse: {e}: {:?}",
                            self.buf
                        )))
                    }
                }
            }
            prop_assert!(self.buf.is_empty(), "partial frame sent: {:?}", self.buf);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_sessions_never_panic_and_send_only_valid_frames(
        (versions, config) in config(),
        ops in prop::collection::vec(op(), 0..40),
    ) {
        // Before CONNECTED the client writes with the highest version it offers.
        let highest = versions.highest().unwrap_or(Version::V1_2);
        let mut client = Client::new(config);
        let mut wire = Wire {
            decoder: Decoder::with_parser(Parser::new().with_version(highest)),
            buf: BytesMut::new(),
        };
        let mut now = Instant::from_secs(1);
        client.connect(now).unwrap();
        wire.check(&mut client)?;
        let mut last_message: Option<Message> = None;
        let mut closed_seen = false;
        for op in ops {
            let receipt = |r: bool| if r { Receipt::Generated } else { Receipt::None };
            match op {
                Op::Input(chunks) => {
                    for c in chunks {
                        client.handle_input(now, &c);
                    }
                }
                Op::Advance(ms) => now += Duration::from_millis(ms),
                Op::Timeout => {
                    if let Some(t) = client.poll_timeout() {
                        now = now.max(t);
                    }
                    client.handle_timeout(now);
                }
                Op::Send(t, r) => {
                    let tx = format!("tx{t}");
                    let options = SendOptions::new().with_receipt(receipt(r));
                    let options = if t > 0 { options.transaction(&tx) } else { options };
                    let _ = client.send(now, "/q/a:b", b"x\0y", options);
                }
                Op::Subscribe(id, ack, r) => {
                    let id = id.to_string();
                    let _ = client.subscribe(
                        now,
                        &format!("/q/{id}"),
                        SubscribeOptions::new().id(&id).ack(ack).with_receipt(receipt(r)),
                    );
                }
                Op::Unsubscribe(id) => {
                    let _ = client.unsubscribe(now, &id.to_string(), Receipt::None);
                }
                Op::Ack(nack, tx) => {
                    if let Some(m) = &last_message {
                        let tx = tx.then_some("tx1");
                        let _ = if nack {
                            client.nack(now, m, tx, Receipt::Generated)
                        } else {
                            client.ack(now, m, tx, Receipt::None)
                        };
                    }
                }
                Op::Begin(t) => {
                    let _ = client.begin(now, &format!("tx{t}"), Receipt::None);
                }
                Op::Commit(t) => {
                    let _ = client.commit(now, &format!("tx{t}"), Receipt::Generated);
                }
                Op::Abort(t) => {
                    let _ = client.abort(now, &format!("tx{t}"), Receipt::None);
                }
                Op::Disconnect => {
                    let _ = client.disconnect(now);
                }
            }
            wire.check(&mut client)?;
            while let Some(event) = client.poll_event() {
                prop_assert!(!closed_seen, "event after the closing one: {event:?}");
                match event {
                    ClientEvent::Message(m) => last_message = Some(m),
                    ClientEvent::Disconnected { .. }
                    | ClientEvent::Error(_)
                    | ClientEvent::HeartBeatTimeout
                    | ClientEvent::ConnectTimeout
                    | ClientEvent::DisconnectTimeout
                    | ClientEvent::ProtocolError(_) => closed_seen = true,
                    _ => {}
                }
            }
            prop_assert_eq!(closed_seen, client.is_closed());
            if let Some(t) = client.poll_timeout() {
                // A deadline already passed is allowed (the caller is late), but it is never
                // further than the longest interval (< 3 s) × grace (< 300 %).
                prop_assert!(t <= now + Duration::from_secs(9));
            }
        }
    }
}
