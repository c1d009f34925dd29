#![cfg(feature = "alloc")]
//! A [`Client`] and a [`Server`] driven against each other in memory under virtual time (the
//! quinn `tests/util.rs::Pair` pattern), with a tiny in-test broker as the server's
//! application, in STOMP 1.0, 1.1 and 1.2.
//!
//! The [`Pair`] holds both sessions, a virtual clock and the bytes in flight each way. Bytes
//! can be delivered whole, a byte at a time or in random-sized chunks, after a latency, or
//! not at all (to make a side go silent). [`Pair::drive`] shuttles bytes and events until
//! nothing moves; [`Pair::advance`] moves the clock forward, stopping at every instant a
//! session asked for in `poll_timeout` or a byte in flight is due, so heart-beats are sent and
//! judged at their exact instants.

use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};
use stomp_proto::codec::{Decoder, OwnedFrame, OwnedItem};
use stomp_proto::session::client::{Receipt, SendOptions, SubscribeOptions};
use stomp_proto::session::{
    self, Client, ClientConfig, ClientEvent, CloseReason, MessageId, Server, ServerConfig,
    ServerEvent, SessionError,
};
use stomp_proto::time::{Duration, Instant};
use stomp_proto::{AckMode, Command, HeartBeat, Limits, Parser, Version, Versions};

// ---- the pair -------------------------------------------------------------------------------

/// How bytes in flight are cut into `handle_input` calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunking {
    /// Each `poll_transmit` chunk as it came.
    Whole,
    /// One byte per call.
    Bytewise,
    /// Random sizes from 1 to 64, from this seed.
    Random(u64),
}

/// One direction of the connection.
#[derive(Debug, Default)]
pub struct Link {
    /// Bytes in flight and the instant they arrive.
    in_flight: VecDeque<(Instant, Bytes)>,
    /// While set, bytes written this way are lost (the peer hears nothing).
    pub blocked: bool,
    /// Every chunk written this way, with the instant it was written.
    pub log: Vec<(Instant, Bytes)>,
}

impl Link {
    /// Everything written this way, concatenated.
    pub fn wire(&self) -> Vec<u8> {
        self.log
            .iter()
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }

    /// The instants at which a lone heart-beat EOL was written.
    pub fn heart_beats(&self) -> Vec<Instant> {
        self.log
            .iter()
            .filter(|(_, b)| &b[..] == b"\n")
            .map(|(t, _)| *t)
            .collect()
    }
}

/// The server's application: accepts or rejects CONNECT, routes SEND to the subscriptions of
/// its destination (on this connection), holds transactional SENDs until COMMIT, and writes
/// receipts once a frame is processed.
#[derive(Debug, Default)]
pub struct Broker {
    /// Accept only these credentials; `None` accepts anyone.
    pub credentials: Option<(Vec<u8>, Vec<u8>)>,
    /// Answer a SEND to this destination with an ERROR instead of routing it.
    pub forbidden: Option<Vec<u8>>,
    /// Hold receipts instead of writing them at once (released by [`Pair::release_receipts`]).
    pub hold_receipts: bool,
    pub held_receipts: Vec<Bytes>,
    /// The CONNECT requests seen.
    pub connects: Vec<session::ConnectRequest>,
    /// subscription id → destination.
    pub subscriptions: BTreeMap<Bytes, Bytes>,
    /// Open transactions and their SENDs (destination, headers, body).
    pub transactions: BTreeMap<Bytes, Vec<Routed>>,
    /// What was delivered: (subscription, message id, body).
    pub delivered: Vec<(Bytes, MessageId, Bytes)>,
    /// ACKs and NACKs: (nack?, subscription, ids, transaction).
    pub acks: Vec<(bool, Bytes, Vec<MessageId>, Option<Bytes>)>,
    /// Transactions committed and aborted (explicitly, or implicitly at close).
    pub committed: Vec<Bytes>,
    pub aborted: Vec<Bytes>,
    pub implicitly_aborted: Vec<Bytes>,
    pub closed: Option<CloseReason>,
}

/// A SEND waiting to be routed: destination, decoded user headers, body.
#[derive(Clone, Debug)]
pub struct Routed {
    destination: Bytes,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Bytes,
}

impl Routed {
    fn from_frame(destination: Bytes, frame: &OwnedFrame) -> Routed {
        let escaping = frame.escaping();
        let skip: [&[u8]; 4] = [
            b"destination",
            b"transaction",
            b"receipt",
            b"content-length",
        ];
        let headers = frame
            .headers()
            .map(|h| {
                let name = stomp_proto::Value::new(h.name, escaping).decode().unwrap();
                let value = stomp_proto::Value::new(h.value, escaping).decode().unwrap();
                (name.into_owned(), value.into_owned())
            })
            .filter(|(n, _)| !skip.contains(&&n[..]))
            .collect();
        Routed {
            destination,
            headers,
            body: frame.body_bytes(),
        }
    }
}

pub struct Pair {
    pub now: Instant,
    pub client: Client,
    pub server: Server,
    pub to_server: Link,
    pub to_client: Link,
    pub latency: Duration,
    pub chunking: Chunking,
    rng: u64,
    pub client_events: Vec<ClientEvent>,
    pub server_events: Vec<ServerEvent>,
    pub broker: Broker,
}

impl Pair {
    pub fn new(client: ClientConfig, server: ServerConfig) -> Pair {
        Pair {
            now: Instant::ZERO,
            client: Client::new(client),
            server: Server::new(server, Instant::ZERO),
            to_server: Link::default(),
            to_client: Link::default(),
            latency: Duration::ZERO,
            chunking: Chunking::Whole,
            rng: 0x9E37_79B9_7F4A_7C15,
            client_events: Vec::new(),
            server_events: Vec::new(),
            broker: Broker::default(),
        }
    }

    /// A pair that negotiated `version`, with the given heart-beats, connected.
    pub fn connected(version: Version, client_hb: HeartBeat, server_hb: HeartBeat) -> Pair {
        let mut pair = Pair::new(
            ClientConfig::new("vhost")
                .accept_versions(Versions::EMPTY.with(version))
                .heart_beat(client_hb),
            ServerConfig::new().heart_beat(server_hb),
        );
        pair.connect();
        assert_eq!(pair.client.version(), Some(version));
        assert_eq!(pair.server.version(), Some(version));
        let events = pair.take_client_events();
        assert!(
            matches!(&events[..], [ClientEvent::Connected(_)]),
            "{events:?}"
        );
        pair
    }

    /// Connects and drives until CONNECTED (or ERROR) arrived.
    pub fn connect(&mut self) {
        self.client.connect(self.now).unwrap();
        self.drive();
        while self.client.state() == session::client::ClientState::Connecting
            && self.next_arrival().is_some()
        {
            let at = self.next_arrival().unwrap();
            self.advance_to(at);
        }
    }

    pub fn with_chunking(mut self, chunking: Chunking) -> Pair {
        self.chunking = chunking;
        if let Chunking::Random(seed) = chunking {
            self.rng = seed | 1;
        }
        self
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn chunk_len(&mut self, left: usize) -> usize {
        match self.chunking {
            Chunking::Whole => left,
            Chunking::Bytewise => 1,
            Chunking::Random(_) => (1 + (self.next_random() % 64) as usize).min(left),
        }
    }

    /// Moves bytes and events until nothing changes at the current instant.
    pub fn drive(&mut self) {
        loop {
            let mut moved = false;
            while let Some(bytes) = self.client.poll_transmit() {
                assert!(!bytes.is_empty());
                moved = true;
                self.to_server.log.push((self.now, bytes.clone()));
                if !self.to_server.blocked {
                    self.to_server
                        .in_flight
                        .push_back((self.now + self.latency, bytes));
                }
            }
            while let Some(bytes) = self.server.poll_transmit() {
                assert!(!bytes.is_empty());
                moved = true;
                self.to_client.log.push((self.now, bytes.clone()));
                if !self.to_client.blocked {
                    self.to_client
                        .in_flight
                        .push_back((self.now + self.latency, bytes));
                }
            }
            while let Some(event) = self.client.poll_event() {
                moved = true;
                self.client_events.push(event);
            }
            while let Some(event) = self.server.poll_event() {
                moved = true;
                self.on_server_event(event.clone());
                self.server_events.push(event);
            }
            if self.deliver_due() {
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    /// Hands the bytes that have arrived by now to their sessions.
    fn deliver_due(&mut self) -> bool {
        let mut moved = false;
        while self
            .to_server
            .in_flight
            .front()
            .is_some_and(|(t, _)| *t <= self.now)
        {
            let (_, bytes) = self.to_server.in_flight.pop_front().unwrap();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = self.chunk_len(rest.len());
                self.server.handle_input(self.now, &rest[..n]);
                rest = &rest[n..];
            }
            moved = true;
        }
        while self
            .to_client
            .in_flight
            .front()
            .is_some_and(|(t, _)| *t <= self.now)
        {
            let (_, bytes) = self.to_client.in_flight.pop_front().unwrap();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = self.chunk_len(rest.len());
                self.client.handle_input(self.now, &rest[..n]);
                rest = &rest[n..];
            }
            moved = true;
        }
        moved
    }

    fn next_arrival(&self) -> Option<Instant> {
        let a = self.to_server.in_flight.front().map(|(t, _)| *t);
        let b = self.to_client.in_flight.front().map(|(t, _)| *t);
        a.into_iter().chain(b).min()
    }

    /// The next instant at which something happens by itself.
    pub fn next_event_time(&self) -> Option<Instant> {
        [
            self.client.poll_timeout(),
            self.server.poll_timeout(),
            self.next_arrival(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Moves the clock to `target`, stopping at every timeout and arrival on the way.
    pub fn advance_to(&mut self, target: Instant) {
        loop {
            self.drive();
            let step = match self.next_event_time() {
                Some(t) if t <= target => t.max(self.now),
                _ => break,
            };
            self.now = step;
            // Bytes due now arrive first; then each side's timeout, one at a time, with what
            // it sends delivered before the other side judges.
            self.drive();
            if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
                self.client.handle_timeout(self.now);
                self.drive();
            }
            if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
                self.server.handle_timeout(self.now);
            }
            self.drive();
        }
        self.now = self.now.max(target);
        self.drive();
    }

    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        self.advance_to(target);
    }

    /// Lets everything in flight arrive.
    pub fn settle(&mut self) {
        self.drive();
        while let Some(t) = self.next_arrival() {
            self.advance_to(t);
        }
        self.drive();
    }

    /// Tells the server the time before the application acts outside an event (its API
    /// calls take no `now`: bytes they queue count as sent at the latest instant it was
    /// given, and `handle_timeout` is the documented way to give it one).
    pub fn server_clock(&mut self) {
        self.server.handle_timeout(self.now);
    }

    pub fn release_receipts(&mut self) {
        self.server_clock();
        for id in std::mem::take(&mut self.broker.held_receipts) {
            let _ = self.server.receipt(&id);
        }
        self.drive();
    }

    fn receipt(&mut self, receipt: Option<Bytes>) {
        if let Some(id) = receipt {
            if self.broker.hold_receipts {
                self.broker.held_receipts.push(id);
            } else if let Err(e) = self.server.receipt(&id) {
                // Only a session that closed since (an ERROR, say) refuses a receipt.
                assert!(self.server.is_closed(), "receipt refused: {e:?}");
            }
        }
    }

    fn route(&mut self, routed: &Routed) {
        let subs: Vec<Bytes> = self
            .broker
            .subscriptions
            .iter()
            .filter(|(_, d)| **d == routed.destination)
            .map(|(s, _)| s.clone())
            .collect();
        for sub in subs {
            let mut message = session::Message::new(&routed.destination, routed.body.clone());
            for (n, v) in &routed.headers {
                message = message.header(n, v);
            }
            match self.server.deliver(&sub, &message) {
                Ok(id) => self
                    .broker
                    .delivered
                    .push((sub.clone(), id, routed.body.clone())),
                // The session reads a whole input before the application sees its events:
                // an UNSUBSCRIBE behind the SEND may have closed the subscription already.
                Err(SessionError::UnknownSubscription) => {}
                // Events queued before a DISCONNECT or ERROR are still reported after it.
                Err(e) => assert!(!self.server.is_connected(), "deliver refused: {e:?}"),
            }
        }
    }

    /// The in-test broker: the server's application.
    fn on_server_event(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::Connect(request) => {
                let ok = match &self.broker.credentials {
                    None => true,
                    Some((login, passcode)) => {
                        request.login.as_deref() == Some(&login[..])
                            && request.passcode.as_deref() == Some(&passcode[..])
                    }
                };
                self.broker.connects.push(request);
                if ok {
                    self.server.accept(Some("session-1")).unwrap();
                } else {
                    self.server.reject("bad credentials").unwrap();
                }
            }
            ServerEvent::Send {
                destination,
                transaction,
                receipt,
                frame,
            } => {
                if self.broker.forbidden.as_deref() == Some(&destination[..]) {
                    let _ = self.server.error(
                        "forbidden destination",
                        receipt.as_deref(),
                        b"you may not send there",
                    );
                    return;
                }
                let routed = Routed::from_frame(destination, &frame);
                match transaction {
                    Some(t) => self.broker.transactions.get_mut(&t).unwrap().push(routed),
                    None => self.route(&routed),
                }
                self.receipt(receipt);
            }
            ServerEvent::Subscribe {
                subscription,
                destination,
                receipt,
                ..
            } => {
                self.broker.subscriptions.insert(subscription, destination);
                self.receipt(receipt);
            }
            ServerEvent::Unsubscribe {
                subscription,
                receipt,
                ..
            } => {
                self.broker.subscriptions.remove(&subscription);
                self.receipt(receipt);
            }
            ServerEvent::Ack {
                subscription,
                message_ids,
                transaction,
                receipt,
            } => {
                self.broker
                    .acks
                    .push((false, subscription, message_ids, transaction));
                self.receipt(receipt);
            }
            ServerEvent::Nack {
                subscription,
                message_ids,
                transaction,
                receipt,
            } => {
                self.broker
                    .acks
                    .push((true, subscription, message_ids, transaction));
                self.receipt(receipt);
            }
            ServerEvent::Begin {
                transaction,
                receipt,
            } => {
                self.broker.transactions.insert(transaction, Vec::new());
                self.receipt(receipt);
            }
            ServerEvent::Commit {
                transaction,
                receipt,
            } => {
                for routed in self.broker.transactions.remove(&transaction).unwrap() {
                    self.route(&routed);
                }
                self.broker.committed.push(transaction);
                self.receipt(receipt);
            }
            ServerEvent::Abort {
                transaction,
                receipt,
            } => {
                self.broker.transactions.remove(&transaction).unwrap();
                self.broker.aborted.push(transaction);
                self.receipt(receipt);
            }
            ServerEvent::Disconnect { receipt } => self.receipt(receipt),
            ServerEvent::TransactionAborted { transaction } => {
                self.broker.transactions.remove(&transaction);
                self.broker.implicitly_aborted.push(transaction);
            }
            ServerEvent::Closed { reason } => {
                assert!(self.broker.closed.is_none(), "Closed reported twice");
                self.broker.closed = Some(reason);
            }
            other => panic!("unexpected server event {other:?}"),
        }
    }

    /// The client's events since the last call.
    pub fn take_client_events(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.client_events)
    }

    /// The bodies of the MESSAGE events since the last call, consumed.
    pub fn take_messages(&mut self) -> Vec<session::client::Message> {
        let mut out = Vec::new();
        self.client_events.retain(|e| match e {
            ClientEvent::Message(m) => {
                out.push(m.clone());
                false
            }
            _ => true,
        });
        out
    }

    /// The receipts the client got since the last call, consumed.
    pub fn take_receipts(&mut self) -> Vec<(String, Command)> {
        let mut out = Vec::new();
        self.client_events.retain(|e| match e {
            ClientEvent::Receipt {
                receipt_id,
                command,
            } => {
                out.push((receipt_id.clone(), *command));
                false
            }
            _ => true,
        });
        out
    }
}

/// Parses a whole byte stream as its receiver would: the first frame (CONNECT / CONNECTED /
/// ERROR) with 1.2 rules, the rest with `version`'s. Every byte must belong to a frame or a
/// heart-beat. Heart-beats come back as `None`.
pub fn reparse(wire: &[u8], version: Version) -> Vec<Option<OwnedFrame>> {
    let mut decoder = Decoder::with_parser(
        Parser::new()
            .with_version(Version::V1_2)
            .with_limits(Limits::UNLIMITED),
    );
    let mut buf = BytesMut::from(wire);
    let mut out = Vec::new();
    while let Some(item) = decoder.decode(&mut buf).expect("transmitted bytes parse") {
        match item {
            OwnedItem::Frame(frame) => {
                if frame.command().is_connect() || frame.command() == Command::Connected {
                    decoder.set_version(version);
                }
                out.push(Some(frame));
            }
            OwnedItem::HeartBeat => out.push(None),
        }
    }
    assert!(buf.is_empty(), "trailing partial frame: {buf:?}");
    out
}

pub fn commands(wire: &[u8], version: Version) -> Vec<Command> {
    reparse(wire, version)
        .into_iter()
        .flatten()
        .map(|f| f.command())
        .collect()
}

pub fn versions(list: &[Version]) -> Versions {
    list.iter().copied().collect()
}

pub const HB_NONE: HeartBeat = HeartBeat::NONE;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn at(n: u64) -> Instant {
    Instant::from_millis(n)
}

pub const ALL_CHUNKINGS: [Chunking; 3] = [Chunking::Whole, Chunking::Bytewise, Chunking::Random(7)];

// ---- version negotiation --------------------------------------------------------------------

fn all_version_sets() -> Vec<Versions> {
    (1u8..8)
        .map(|bits| {
            Version::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, v)| *v)
                .collect()
        })
        .collect()
}

#[test]
fn every_client_version_set_meets_every_server_version_set() {
    for client_set in all_version_sets() {
        for server_set in all_version_sets() {
            let mut pair = Pair::new(
                ClientConfig::new("vhost").accept_versions(client_set),
                ServerConfig::new().versions(server_set),
            );
            pair.connect();
            let expected = client_set.intersection(server_set).highest();
            let what = format!("client {client_set:?} server {server_set:?}");
            match expected {
                Some(version) => {
                    assert_eq!(pair.client.version(), Some(version), "{what}");
                    assert_eq!(pair.server.version(), Some(version), "{what}");
                    assert_eq!(pair.broker.connects[0].version, version, "{what}");
                    let events = pair.take_client_events();
                    let [ClientEvent::Connected(c)] = &events[..] else {
                        panic!("{what}: {events:?}")
                    };
                    assert_eq!(c.version(), version);
                    assert!(c.session().unwrap() == "session-1");
                    assert!(pair.server.is_connected());
                }
                None => {
                    // ERROR on both sides: the server reports the violation and closes; the
                    // client reads the ERROR and closes.
                    assert!(pair.broker.connects.is_empty(), "{what}");
                    assert_eq!(
                        pair.broker.closed,
                        Some(CloseReason::ProtocolError(
                            session::ProtocolError::NoCommonVersion
                        )),
                        "{what}"
                    );
                    let events = pair.take_client_events();
                    let [ClientEvent::Error(error)] = &events[..] else {
                        panic!("{what}: {events:?}")
                    };
                    assert!(error.message().unwrap() == "no common protocol version");
                    assert!(pair.client.is_closed() && pair.server.is_closed(), "{what}");
                    let wire = pair.to_client.wire();
                    assert_eq!(commands(&wire, Version::V1_2), [Command::Error], "{what}");
                }
            }
        }
    }
}

#[test]
fn stomp_command_connects_in_1_1_and_1_2() {
    for version in [Version::V1_1, Version::V1_2] {
        let mut pair = Pair::new(
            ClientConfig::new("vhost")
                .accept_versions(Versions::EMPTY.with(version))
                .stomp_command(true),
            ServerConfig::new(),
        );
        pair.connect();
        assert_eq!(pair.broker.connects[0].command, Command::Stomp);
        assert_eq!(pair.client.version(), Some(version));
    }
}

#[test]
fn host_login_and_passcode_reach_the_server_application() {
    for version in Version::ALL {
        for chunking in ALL_CHUNKINGS {
            let mut pair = Pair::new(
                ClientConfig::new("broker.example")
                    .accept_versions(Versions::EMPTY.with(version))
                    .login("guest", "s3cret")
                    .header("client-id", "sensor-7"),
                ServerConfig::new(),
            )
            .with_chunking(chunking);
            pair.broker.credentials = Some((b"guest".to_vec(), b"s3cret".to_vec()));
            pair.connect();
            let request = &pair.broker.connects[0];
            assert_eq!(request.host.as_deref(), Some(&b"broker.example"[..]));
            assert_eq!(request.login.as_deref(), Some(&b"guest"[..]));
            assert_eq!(request.passcode.as_deref(), Some(&b"s3cret"[..]));
            assert!(request.frame.header("client-id").unwrap() == "sensor-7");
            assert_eq!(pair.client.version(), Some(version));
        }
    }
}

#[test]
fn wrong_credentials_are_rejected_with_error_on_both_sides() {
    for version in Version::ALL {
        let mut pair = Pair::new(
            ClientConfig::new("vhost")
                .accept_versions(Versions::EMPTY.with(version))
                .login("guest", "wrong"),
            ServerConfig::new(),
        );
        pair.broker.credentials = Some((b"guest".to_vec(), b"s3cret".to_vec()));
        pair.connect();
        assert_eq!(pair.broker.closed, Some(CloseReason::Rejected));
        let events = pair.take_client_events();
        let [ClientEvent::Error(error)] = &events[..] else {
            panic!("{events:?}")
        };
        assert!(error.message().unwrap() == "bad credentials");
        assert!(pair.client.is_closed() && pair.server.is_closed());
        assert_eq!(
            pair.client
                .send(pair.now, "/queue/a", b"x", SendOptions::new()),
            Err(SessionError::Closed)
        );
        // Nothing after the ERROR, however long we wait.
        let sent = pair.to_client.log.len();
        pair.advance(ms(60_000));
        assert_eq!(pair.to_client.log.len(), sent);
        assert_eq!(pair.to_server.log.len(), 1);
    }
}

// ---- heart-beats ----------------------------------------------------------------------------

#[test]
fn heart_beats_negotiate_to_the_larger_value_each_way() {
    for version in [Version::V1_1, Version::V1_2] {
        let pair = Pair::connected(
            version,
            HeartBeat::new(1_000, 3_000),
            HeartBeat::new(2_000, 500),
        );
        // Client sends every max(1000, 500), expects every max(3000, 2000).
        assert_eq!(
            pair.client.heart_beat_intervals(),
            (Some(ms(1_000)), Some(ms(3_000)))
        );
        assert_eq!(
            pair.server.heart_beat_intervals(),
            (Some(ms(3_000)), Some(ms(1_000)))
        );
        // Zero on either side switches that direction off.
        let pair = Pair::connected(
            version,
            HeartBeat::new(0, 3_000),
            HeartBeat::new(2_000, 500),
        );
        assert_eq!(pair.client.heart_beat_intervals(), (None, Some(ms(3_000))));
        assert_eq!(pair.server.heart_beat_intervals(), (Some(ms(3_000)), None));
    }
}

#[test]
fn stomp_1_0_has_no_heart_beats() {
    let mut pair = Pair::connected(
        Version::V1_0,
        HeartBeat::new(1_000, 1_000),
        HeartBeat::new(1_000, 1_000),
    );
    assert_eq!(pair.client.heart_beat_intervals(), (None, None));
    assert_eq!(pair.server.heart_beat_intervals(), (None, None));
    assert_eq!(pair.client.poll_timeout(), None);
    assert_eq!(pair.server.poll_timeout(), None);
    let (c, s) = (pair.to_server.log.len(), pair.to_client.log.len());
    pair.advance(ms(3_600_000));
    assert_eq!((pair.to_server.log.len(), pair.to_client.log.len()), (c, s));
    assert!(pair.client.is_connected() && pair.server.is_connected());
}

#[test]
fn idle_sides_send_heart_beats_exactly_at_the_interval() {
    for version in [Version::V1_1, Version::V1_2] {
        for chunking in ALL_CHUNKINGS {
            let mut pair = Pair::connected(
                version,
                HeartBeat::new(1_000, 1_000),
                HeartBeat::new(700, 700),
            )
            .with_chunking(chunking);
            // Client sends every 1000 (its cx vs server's cy 700); the server too.
            for t in (100..=5_000).step_by(100) {
                pair.advance_to(at(t));
                let expected: Vec<Instant> = (1..=t / 1_000).map(|k| at(k * 1_000)).collect();
                assert_eq!(pair.to_server.heart_beats(), expected, "client at {t}");
                assert_eq!(pair.to_client.heart_beats(), expected, "server at {t}");
            }
            assert!(pair.client.is_connected() && pair.server.is_connected());
        }
    }
}

#[test]
fn heart_beats_are_sent_only_when_idle_and_never_early() {
    for version in [Version::V1_1, Version::V1_2] {
        let mut pair = Pair::connected(version, HeartBeat::new(1_000, 0), HeartBeat::new(0, 1_000));
        // Only the client sends heart-beats. A SEND at 600 and 1900 pushes them back.
        pair.advance_to(at(600));
        pair.client
            .send(pair.now, "/queue/a", b"x", SendOptions::new())
            .unwrap();
        pair.advance_to(at(1_599));
        assert!(pair.to_server.heart_beats().is_empty());
        pair.advance_to(at(1_600));
        assert_eq!(pair.to_server.heart_beats(), [at(1_600)]);
        pair.advance_to(at(1_900));
        pair.client
            .send(pair.now, "/queue/a", b"y", SendOptions::new())
            .unwrap();
        pair.advance_to(at(2_899));
        assert_eq!(pair.to_server.heart_beats(), [at(1_600)]);
        pair.advance_to(at(3_900));
        assert_eq!(
            pair.to_server.heart_beats(),
            [at(1_600), at(2_900), at(3_900)]
        );
        assert!(pair.to_client.heart_beats().is_empty());
        // The server's frames push its own heart-beats back the same way.
        let mut pair = Pair::connected(version, HeartBeat::new(0, 1_000), HeartBeat::new(1_000, 0));
        pair.client
            .subscribe(pair.now, "/queue/a", SubscribeOptions::new())
            .unwrap();
        pair.advance_to(at(500));
        pair.client
            .send(pair.now, "/queue/a", b"x", SendOptions::new())
            .unwrap();
        pair.drive();
        assert_eq!(pair.take_messages().len(), 1);
        pair.advance_to(at(2_600));
        assert_eq!(pair.to_client.heart_beats(), [at(1_500), at(2_500)]);
        assert!(pair.to_server.heart_beats().is_empty());
    }
}

#[test]
fn heart_beats_start_when_connected_arrives_under_latency() {
    let mut pair = Pair::new(
        ClientConfig::new("vhost").heart_beat(HeartBeat::new(1_000, 1_000)),
        ServerConfig::new().heart_beat(HeartBeat::new(1_000, 1_000)),
    );
    pair.latency = ms(30);
    pair.connect();
    // CONNECT arrives at 30 (the server starts then), CONNECTED at 60 (the client starts).
    assert_eq!(pair.now, at(60));
    pair.advance_to(at(3_100));
    assert_eq!(
        pair.to_client.heart_beats(),
        [at(1_030), at(2_030), at(3_030)]
    );
    assert_eq!(
        pair.to_server.heart_beats(),
        [at(1_060), at(2_060), at(3_060)]
    );
    assert!(pair.client.is_connected() && pair.server.is_connected());
}

#[test]
fn server_declares_a_silent_client_dead_within_the_grace_window_never_early() {
    for version in [Version::V1_1, Version::V1_2] {
        for grace in [150, 200] {
            let mut pair = Pair::new(
                ClientConfig::new("vhost")
                    .accept_versions(Versions::EMPTY.with(version))
                    .heart_beat(HeartBeat::new(1_000, 0)),
                ServerConfig::new()
                    .heart_beat(HeartBeat::new(0, 1_000))
                    .grace_percent(grace),
            );
            pair.connect();
            pair.advance_to(at(2_500));
            // The client's beats at 1000 and 2000 kept it alive.
            assert!(pair.server.is_connected());
            assert_eq!(pair.to_server.heart_beats(), [at(1_000), at(2_000)]);
            pair.to_server.blocked = true;
            let dead_at = 2_000 + 1_000 * u64::from(grace) / 100;
            pair.advance_to(at(dead_at - 1));
            assert!(pair.server.is_connected(), "grace {grace}: dead early");
            assert_eq!(pair.broker.closed, None);
            pair.advance_to(at(dead_at));
            assert_eq!(
                pair.broker.closed,
                Some(CloseReason::HeartBeatTimeout),
                "grace {grace}"
            );
            assert!(pair.server.is_closed());
        }
    }
}

#[test]
fn client_declares_a_silent_server_dead_within_the_grace_window_never_early() {
    for version in [Version::V1_1, Version::V1_2] {
        for grace in [150, 300] {
            let mut pair = Pair::new(
                ClientConfig::new("vhost")
                    .accept_versions(Versions::EMPTY.with(version))
                    .heart_beat(HeartBeat::new(0, 1_000))
                    .grace_percent(grace),
                ServerConfig::new().heart_beat(HeartBeat::new(1_000, 0)),
            );
            pair.connect();
            pair.advance_to(at(1_500));
            assert!(pair.client.is_connected());
            pair.to_client.blocked = true;
            let dead_at = 1_000 + 1_000 * u64::from(grace) / 100;
            pair.advance_to(at(dead_at - 1));
            assert!(pair.client.is_connected(), "grace {grace}: dead early");
            pair.advance_to(at(dead_at));
            let events = pair.take_client_events();
            assert!(
                matches!(events.last(), Some(ClientEvent::HeartBeatTimeout)),
                "grace {grace}: {events:?}"
            );
            assert!(pair.client.is_closed());
            // A dead session sends nothing more.
            let sent = pair.to_server.log.len();
            pair.advance(ms(10_000));
            assert_eq!(pair.to_server.log.len(), sent);
        }
    }
}

#[test]
fn any_byte_counts_as_a_sign_of_life_under_random_chunking() {
    let mut pair = Pair::connected(
        Version::V1_2,
        HeartBeat::new(1_000, 1_000),
        HeartBeat::new(1_000, 1_000),
    )
    .with_chunking(Chunking::Random(99));
    pair.latency = ms(200);
    pair.advance_to(at(60_000));
    assert!(pair.client.is_connected() && pair.server.is_connected());
    assert!(pair.broker.closed.is_none());
}

// ---- send, subscribe, unsubscribe -----------------------------------------------------------

#[test]
fn send_subscribe_unsubscribe_in_every_version_and_chunking() {
    for version in Version::ALL {
        for chunking in ALL_CHUNKINGS {
            let mut pair = Pair::connected(version, HB_NONE, HB_NONE).with_chunking(chunking);
            let now = pair.now;
            // Nothing subscribed: the message goes nowhere.
            pair.client
                .send(now, "/queue/a", b"lost", SendOptions::new())
                .unwrap();
            let sub = pair
                .client
                .subscribe(now, "/queue/a", SubscribeOptions::new().id("s1"))
                .unwrap();
            assert_eq!(sub.id, "s1");
            pair.client
                .send(now, "/queue/a", b"one", SendOptions::new().text())
                .unwrap();
            pair.client
                .send(now, "/queue/b", b"other", SendOptions::new())
                .unwrap();
            pair.drive();
            let messages = pair.take_messages();
            assert_eq!(messages.len(), 1, "{version:?} {chunking:?}");
            let m = &messages[0];
            assert_eq!(m.body(), b"one");
            assert_eq!(m.subscription(), "s1");
            assert!(m.destination().unwrap() == "/queue/a");
            assert!(m.content_type().unwrap() == "text/plain;charset=utf-8");
            assert!(m.message_id().unwrap() == "1");
            pair.client
                .unsubscribe(pair.now, "s1", Receipt::None)
                .unwrap();
            pair.client
                .send(pair.now, "/queue/a", b"after", SendOptions::new())
                .unwrap();
            pair.drive();
            assert!(pair.take_messages().is_empty());
            assert!(pair.broker.subscriptions.is_empty());
            assert!(pair.take_client_events().is_empty());
            reparse(&pair.to_server.wire(), version);
            reparse(&pair.to_client.wire(), version);
        }
    }
}

#[test]
fn a_1_0_subscription_may_route_without_an_explicit_id() {
    // The client always sends an id; the broker routes by it, and MESSAGE carries it.
    let mut pair = Pair::connected(Version::V1_0, HB_NONE, HB_NONE);
    let sub = pair
        .client
        .subscribe(pair.now, "/topic/x", SubscribeOptions::new())
        .unwrap();
    pair.client
        .send(pair.now, "/topic/x", b"hi", SendOptions::new())
        .unwrap();
    pair.drive();
    let messages = pair.take_messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].subscription(), sub.id);
}

#[test]
fn a_message_in_flight_when_unsubscribing_is_unexpected_not_lost_or_fatal() {
    for version in Version::ALL {
        let mut pair = Pair::connected(version, HB_NONE, HB_NONE);
        pair.latency = ms(10);
        pair.client
            .subscribe(pair.now, "/queue/a", SubscribeOptions::new().id("s"))
            .unwrap();
        pair.advance(ms(20));
        pair.client
            .send(pair.now, "/queue/a", b"late", SendOptions::new())
            .unwrap();
        // The SEND reaches the server at +10, the MESSAGE comes back at +20; unsubscribe at +15.
        pair.advance(ms(15));
        pair.client
            .unsubscribe(pair.now, "s", Receipt::None)
            .unwrap();
        pair.settle();
        let events = pair.take_client_events();
        let [ClientEvent::UnexpectedMessage(frame)] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!(frame.body(), b"late");
        assert!(pair.client.is_connected() && pair.server.is_connected());
    }
}

// ---- acknowledgments ------------------------------------------------------------------------

/// Subscribes with `mode` and gets three messages.
fn three_messages(
    version: Version,
    mode: AckMode,
    chunking: Chunking,
) -> (Pair, Vec<session::client::Message>) {
    let mut pair = Pair::connected(version, HB_NONE, HB_NONE).with_chunking(chunking);
    pair.client
        .subscribe(
            pair.now,
            "/queue/a",
            SubscribeOptions::new().id("s").ack(mode),
        )
        .unwrap();
    for body in [&b"m1"[..], b"m2", b"m3"] {
        pair.client
            .send(pair.now, "/queue/a", body, SendOptions::new())
            .unwrap();
    }
    pair.drive();
    let messages = pair.take_messages();
    assert_eq!(messages.len(), 3);
    for (m, body) in messages.iter().zip([&b"m1"[..], b"m2", b"m3"]) {
        assert_eq!(m.body(), body);
        assert_eq!(m.ack_mode(), mode);
    }
    (pair, messages)
}

fn numbers(ids: &[MessageId]) -> Vec<u64> {
    ids.iter().map(|id| id.get()).collect()
}

#[test]
fn auto_ack_needs_no_acknowledgment() {
    for version in Version::ALL {
        let (mut pair, messages) = three_messages(version, AckMode::Auto, Chunking::Whole);
        assert_eq!(
            pair.client.ack(pair.now, &messages[0], None, Receipt::None),
            Err(SessionError::AckNotExpected)
        );
        assert_eq!(pair.server.unacknowledged("s"), Some(vec![]));
        // 1.2 MESSAGEs of an auto subscription carry no ack header.
        assert!(messages[0].ack_id().is_none());
    }
}

#[test]
fn client_ack_is_cumulative_in_every_version() {
    for version in Version::ALL {
        for chunking in ALL_CHUNKINGS {
            let (mut pair, messages) = three_messages(version, AckMode::Client, chunking);
            assert_eq!(
                pair.server.unacknowledged("s").map(|v| numbers(&v)),
                Some(vec![1, 2, 3])
            );
            pair.client
                .ack(pair.now, &messages[1], None, Receipt::None)
                .unwrap();
            pair.drive();
            let (nack, sub, acked, tx) = pair.broker.acks.pop().unwrap();
            assert!(!nack);
            assert_eq!(&sub[..], b"s");
            assert_eq!(numbers(&acked), [1, 2], "{version:?}");
            assert_eq!(tx, None);
            assert_eq!(
                pair.server.unacknowledged("s").map(|v| numbers(&v)),
                Some(vec![3])
            );
            pair.client
                .ack(pair.now, &messages[2], None, Receipt::None)
                .unwrap();
            pair.drive();
            assert_eq!(numbers(&pair.broker.acks.pop().unwrap().2), [3]);
            assert_eq!(pair.server.unacknowledged("s"), Some(vec![]));
            assert!(pair.client.is_connected() && pair.server.is_connected());
        }
    }
}

#[test]
fn client_individual_ack_and_nack_name_one_message() {
    for version in [Version::V1_1, Version::V1_2] {
        for chunking in ALL_CHUNKINGS {
            let (mut pair, messages) = three_messages(version, AckMode::ClientIndividual, chunking);
            pair.client
                .ack(pair.now, &messages[1], None, Receipt::None)
                .unwrap();
            pair.client
                .nack(pair.now, &messages[2], None, Receipt::None)
                .unwrap();
            pair.drive();
            let acks = std::mem::take(&mut pair.broker.acks);
            assert_eq!(acks.len(), 2);
            assert!(!acks[0].0 && acks[1].0);
            assert_eq!(numbers(&acks[0].2), [2]);
            assert_eq!(numbers(&acks[1].2), [3]);
            assert_eq!(
                pair.server.unacknowledged("s").map(|v| numbers(&v)),
                Some(vec![1])
            );
            // 1.2 acknowledges by the MESSAGE's ack header.
            if version == Version::V1_2 {
                assert!(messages[0].ack_id().unwrap() == "1");
            }
        }
    }
}

#[test]
fn nack_in_client_mode_is_cumulative() {
    for version in [Version::V1_1, Version::V1_2] {
        let (mut pair, messages) = three_messages(version, AckMode::Client, Chunking::Whole);
        pair.client
            .nack(pair.now, &messages[2], None, Receipt::None)
            .unwrap();
        pair.drive();
        let (nack, _, ids, _) = pair.broker.acks.pop().unwrap();
        assert!(nack);
        assert_eq!(numbers(&ids), [1, 2, 3]);
    }
}

#[test]
fn stomp_1_0_has_neither_nack_nor_client_individual() {
    let (mut pair, messages) = three_messages(Version::V1_0, AckMode::Client, Chunking::Whole);
    assert_eq!(
        pair.client
            .nack(pair.now, &messages[0], None, Receipt::None),
        Err(SessionError::NackNotInVersion)
    );
    assert_eq!(
        pair.client.subscribe(
            pair.now,
            "/queue/b",
            SubscribeOptions::new().ack(AckMode::ClientIndividual)
        ),
        Err(SessionError::AckModeNotInVersion)
    );
    pair.drive();
    assert!(pair.broker.acks.is_empty());
    assert!(pair.client.is_connected() && pair.server.is_connected());
}

#[test]
fn unsubscribing_reports_the_unacknowledged_messages_to_the_server() {
    for version in Version::ALL {
        let (mut pair, messages) = three_messages(version, AckMode::Client, Chunking::Whole);
        pair.client
            .ack(pair.now, &messages[0], None, Receipt::None)
            .unwrap();
        pair.client
            .unsubscribe(pair.now, "s", Receipt::None)
            .unwrap();
        pair.drive();
        let unacked = pair.server_events.iter().find_map(|e| match e {
            ServerEvent::Unsubscribe { unacknowledged, .. } => Some(numbers(unacknowledged)),
            _ => None,
        });
        assert_eq!(unacked, Some(vec![2, 3]));
    }
}

// ---- receipts -------------------------------------------------------------------------------

#[test]
fn every_client_frame_that_can_carry_a_receipt_gets_one() {
    for version in Version::ALL {
        for chunking in ALL_CHUNKINGS {
            let mut pair = Pair::connected(version, HB_NONE, HB_NONE).with_chunking(chunking);
            let now = pair.now;
            let c = &mut pair.client;
            let mut expected = Vec::new();
            let sub = c
                .subscribe(
                    now,
                    "/queue/a",
                    SubscribeOptions::new()
                        .id("s")
                        .ack(AckMode::Client)
                        .receipt(),
                )
                .unwrap();
            expected.push((sub.receipt.unwrap(), Command::Subscribe));
            let r = c
                .send(now, "/queue/a", b"1", SendOptions::new().receipt())
                .unwrap();
            expected.push((r.unwrap(), Command::Send));
            let r = c
                .send(
                    now,
                    "/queue/a",
                    b"2",
                    SendOptions::new().with_receipt(Receipt::Id("mine")),
                )
                .unwrap();
            assert_eq!(r.as_deref(), Some("mine"));
            expected.push((r.unwrap(), Command::Send));
            let r = c.begin(now, "tx", Receipt::Generated).unwrap();
            expected.push((r.unwrap(), Command::Begin));
            let r = c.commit(now, "tx", Receipt::Generated).unwrap();
            expected.push((r.unwrap(), Command::Commit));
            let r = c.begin(now, "tx2", Receipt::Generated).unwrap();
            expected.push((r.unwrap(), Command::Begin));
            let r = c.abort(now, "tx2", Receipt::Generated).unwrap();
            expected.push((r.unwrap(), Command::Abort));
            pair.drive();
            let messages = pair.take_messages();
            assert_eq!(messages.len(), 2);
            let c = &mut pair.client;
            if version != Version::V1_0 {
                let r = c.nack(now, &messages[0], None, Receipt::Generated).unwrap();
                expected.push((r.unwrap(), Command::Nack));
            }
            let r = c.ack(now, &messages[1], None, Receipt::Generated).unwrap();
            expected.push((r.unwrap(), Command::Ack));
            let r = c.unsubscribe(now, "s", Receipt::Generated).unwrap();
            expected.push((r.unwrap(), Command::Unsubscribe));
            pair.drive();
            assert_eq!(pair.take_receipts(), expected, "{version:?} {chunking:?}");
            assert!(pair.client.outstanding_receipts().next().is_none());
            // DISCONNECT's receipt closes the session.
            let receipt = pair.client.disconnect(pair.now).unwrap();
            pair.drive();
            let events = pair.take_client_events();
            assert_eq!(
                events,
                [ClientEvent::Disconnected {
                    receipt_id: receipt
                }]
            );
            assert_eq!(pair.broker.closed, Some(CloseReason::Disconnected));
        }
    }
}

#[test]
fn receipts_arrive_when_the_application_writes_them_in_any_order() {
    for version in Version::ALL {
        let mut pair = Pair::connected(version, HB_NONE, HB_NONE);
        pair.broker.hold_receipts = true;
        let now = pair.now;
        let a = pair
            .client
            .send(now, "/q", b"a", SendOptions::new().receipt())
            .unwrap()
            .unwrap();
        let b = pair
            .client
            .send(now, "/q", b"b", SendOptions::new().receipt())
            .unwrap()
            .unwrap();
        assert_ne!(a, b);
        pair.drive();
        assert!(pair.take_receipts().is_empty());
        assert_eq!(pair.client.outstanding_receipts().count(), 2);
        pair.broker.held_receipts.reverse();
        pair.release_receipts();
        assert_eq!(
            pair.take_receipts(),
            [(b, Command::Send), (a, Command::Send)]
        );
    }
}

// ---- transactions ---------------------------------------------------------------------------

#[test]
fn committed_transactions_deliver_and_aborted_ones_do_not() {
    for version in Version::ALL {
        for chunking in ALL_CHUNKINGS {
            let mut pair = Pair::connected(version, HB_NONE, HB_NONE).with_chunking(chunking);
            let now = pair.now;
            pair.client
                .subscribe(
                    now,
                    "/queue/a",
                    SubscribeOptions::new().id("s").ack(AckMode::Client),
                )
                .unwrap();
            pair.client.begin(now, "t1", Receipt::None).unwrap();
            pair.client.begin(now, "t2", Receipt::None).unwrap();
            pair.client
                .send(
                    now,
                    "/queue/a",
                    b"in t1",
                    SendOptions::new().transaction("t1"),
                )
                .unwrap();
            pair.client
                .send(
                    now,
                    "/queue/a",
                    b"in t2",
                    SendOptions::new().transaction("t2"),
                )
                .unwrap();
            pair.drive();
            assert!(pair.take_messages().is_empty(), "held until COMMIT");
            assert_eq!(pair.server.transactions().count(), 2);
            pair.client.abort(pair.now, "t2", Receipt::None).unwrap();
            pair.client.commit(pair.now, "t1", Receipt::None).unwrap();
            pair.drive();
            let messages = pair.take_messages();
            assert_eq!(messages.len(), 1);
            assert_eq!(messages[0].body(), b"in t1");
            assert_eq!(pair.broker.committed, [Bytes::from_static(b"t1")]);
            assert_eq!(pair.broker.aborted, [Bytes::from_static(b"t2")]);
            assert_eq!(pair.server.transactions().count(), 0);
            // An ACK inside a transaction is reported with it.
            pair.client.begin(pair.now, "t3", Receipt::None).unwrap();
            pair.client
                .ack(pair.now, &messages[0], Some("t3"), Receipt::None)
                .unwrap();
            pair.client.commit(pair.now, "t3", Receipt::None).unwrap();
            pair.drive();
            let (_, _, acked, tx) = pair.broker.acks.pop().unwrap();
            assert_eq!(numbers(&acked), [1]);
            assert_eq!(tx.as_deref(), Some(&b"t3"[..]));
            // Misuse is refused by the client before anything is sent.
            assert_eq!(
                pair.client.commit(pair.now, "t3", Receipt::None),
                Err(SessionError::UnknownTransaction)
            );
            assert_eq!(
                pair.client
                    .send(pair.now, "/q", b"", SendOptions::new().transaction("nope")),
                Err(SessionError::UnknownTransaction)
            );
            assert!(pair.client.is_connected() && pair.server.is_connected());
        }
    }
}

#[test]
fn open_transactions_are_aborted_when_the_session_closes() {
    for version in Version::ALL {
        // By a graceful DISCONNECT.
        let mut pair = Pair::connected(version, HB_NONE, HB_NONE);
        pair.client
            .subscribe(pair.now, "/queue/a", SubscribeOptions::new())
            .unwrap();
        pair.client.begin(pair.now, "open", Receipt::None).unwrap();
        pair.client
            .send(
                pair.now,
                "/queue/a",
                b"never",
                SendOptions::new().transaction("open"),
            )
            .unwrap();
        pair.client.disconnect(pair.now).unwrap();
        assert!(!pair.client.has_transaction("open"));
        pair.drive();
        assert_eq!(
            pair.broker.implicitly_aborted,
            [Bytes::from_static(b"open")]
        );
        assert_eq!(pair.broker.closed, Some(CloseReason::Disconnected));
        assert!(pair.take_messages().is_empty());
        // By the transport closing.
        let mut pair = Pair::connected(version, HB_NONE, HB_NONE);
        pair.client.begin(pair.now, "a", Receipt::None).unwrap();
        pair.client.begin(pair.now, "b", Receipt::None).unwrap();
        pair.drive();
        pair.server.handle_close(pair.now);
        pair.drive();
        assert_eq!(
            pair.broker.implicitly_aborted,
            [Bytes::from_static(b"a"), Bytes::from_static(b"b")]
        );
        assert_eq!(pair.broker.closed, Some(CloseReason::TransportClosed));
        // By a heart-beat timeout.
        if version != Version::V1_0 {
            let mut pair =
                Pair::connected(version, HeartBeat::new(1_000, 0), HeartBeat::new(0, 1_000));
            pair.client.begin(pair.now, "hb", Receipt::None).unwrap();
            pair.drive();
            pair.to_server.blocked = true;
            pair.advance(ms(5_000));
            assert_eq!(pair.broker.implicitly_aborted, [Bytes::from_static(b"hb")]);
            assert_eq!(pair.broker.closed, Some(CloseReason::HeartBeatTimeout));
        }
    }
}

// ---- ERROR and DISCONNECT -------------------------------------------------------------------

#[test]
fn an_error_from_the_server_closes_the_client() {
    for version in Version::ALL {
        for chunking in ALL_CHUNKINGS {
            let mut pair = Pair::connected(
                version,
                HeartBeat::new(1_000, 1_000),
                HeartBeat::new(1_000, 1_000),
            )
            .with_chunking(chunking);
            pair.broker.forbidden = Some(b"/secret".to_vec());
            let receipt = pair
                .client
                .send(pair.now, "/secret", b"psst", SendOptions::new().receipt())
                .unwrap();
            pair.drive();
            let events = pair.take_client_events();
            let [ClientEvent::Error(error)] = &events[..] else {
                panic!("{events:?}")
            };
            assert!(error.message().unwrap() == "forbidden destination");
            assert!(error.receipt_id().unwrap() == receipt.as_deref().unwrap());
            assert_eq!(error.command(), Some(Command::Send));
            assert_eq!(error.body(), b"you may not send there");
            assert!(pair.client.is_closed() && pair.server.is_closed());
            assert_eq!(pair.broker.closed, Some(CloseReason::Error));
            assert_eq!(
                pair.client.send(pair.now, "/q", b"", SendOptions::new()),
                Err(SessionError::Closed)
            );
            // Neither side sends anything more: no heart-beats, no frames.
            let (c, s) = (pair.to_server.log.len(), pair.to_client.log.len());
            pair.advance(ms(10_000));
            assert_eq!((pair.to_server.log.len(), pair.to_client.log.len()), (c, s));
            assert_eq!(pair.client.poll_timeout(), None);
            assert_eq!(pair.server.poll_timeout(), None);
        }
    }
}

#[test]
fn graceful_disconnect_waits_for_the_receipt_and_nothing_is_sent_after() {
    for version in Version::ALL {
        for chunking in ALL_CHUNKINGS {
            let mut pair =
                Pair::connected(version, HeartBeat::new(500, 500), HeartBeat::new(500, 500))
                    .with_chunking(chunking);
            pair.latency = ms(50);
            pair.broker.hold_receipts = true;
            pair.client
                .subscribe(pair.now, "/queue/a", SubscribeOptions::new().id("s"))
                .unwrap();
            pair.advance(ms(200));
            pair.client
                .send(pair.now, "/queue/a", b"last words", SendOptions::new())
                .unwrap();
            // The SEND reaches the server at +50, its MESSAGE the client at +100: DISCONNECT
            // goes out in between.
            pair.advance(ms(60));
            let receipt = pair.client.disconnect(pair.now).unwrap();
            assert_eq!(
                pair.client
                    .send(pair.now, "/queue/a", b"", SendOptions::new()),
                Err(SessionError::Closed)
            );
            pair.drive();
            let client_sent = pair.to_server.log.len();
            // The server holds the receipt for 2 s: the client sends no heart-beat meanwhile,
            // but keeps reading (the MESSAGE still arrives).
            pair.advance(ms(2_000));
            assert_eq!(pair.to_server.log.len(), client_sent);
            assert!(!pair.client.is_closed());
            let messages = pair.take_messages();
            assert_eq!(messages.len(), 1);
            assert_eq!(messages[0].body(), b"last words");
            pair.release_receipts();
            pair.settle();
            let events = pair.take_client_events();
            assert_eq!(
                events,
                [ClientEvent::Disconnected {
                    receipt_id: receipt.clone()
                }]
            );
            assert!(pair.client.is_closed() && pair.server.is_closed());
            // The RECEIPT is the server's last frame, DISCONNECT the client's.
            let server_frames = commands(&pair.to_client.wire(), version);
            assert_eq!(server_frames.last(), Some(&Command::Receipt));
            let client_frames = commands(&pair.to_server.wire(), version);
            assert_eq!(client_frames.last(), Some(&Command::Disconnect));
            let (c, s) = (pair.to_server.log.len(), pair.to_client.log.len());
            pair.advance(ms(10_000));
            assert_eq!((pair.to_server.log.len(), pair.to_client.log.len()), (c, s));
        }
    }
}

// ---- escaping and binary bodies -------------------------------------------------------------

#[test]
fn escaped_headers_travel_end_to_end_in_1_1_and_1_2() {
    for version in [Version::V1_1, Version::V1_2] {
        for chunking in ALL_CHUNKINGS {
            let mut pair = Pair::connected(version, HB_NONE, HB_NONE).with_chunking(chunking);
            let now = pair.now;
            let destination = "/queue/a:b\\c";
            let cr = if version == Version::V1_2 { "\r" } else { "" };
            let value = format!("line1\nline2:with colon\\and backslash{cr}");
            let extra = [("x-key:colon", value.as_str()), ("plain", "v")];
            pair.client
                .subscribe(now, destination, SubscribeOptions::new().id("sub:1"))
                .unwrap();
            pair.client
                .send(
                    now,
                    destination,
                    b"body",
                    SendOptions::new().headers(&extra),
                )
                .unwrap();
            pair.drive();
            let messages = pair.take_messages();
            assert_eq!(messages.len(), 1, "{version:?} {chunking:?}");
            let m = &messages[0];
            assert_eq!(m.subscription(), "sub:1");
            assert!(m.destination().unwrap() == destination);
            assert!(m.header("x-key:colon").unwrap() == value.as_str());
            assert!(m.header("plain").unwrap() == "v");
            // On the wire they were escaped.
            let wire = pair.to_client.wire();
            assert!(wire.windows(12).any(|w| w == br"x-key\ccolon"));
            // ACKs name the escaped subscription correctly too.
            assert!(pair.client.is_connected() && pair.server.is_connected());
        }
    }
}

#[test]
fn stomp_1_0_refuses_headers_it_cannot_encode() {
    let mut pair = Pair::connected(Version::V1_0, HB_NONE, HB_NONE);
    let extra = [("x", "a\nb")];
    assert!(matches!(
        pair.client
            .send(pair.now, "/q", b"", SendOptions::new().headers(&extra)),
        Err(SessionError::Serialize(_))
    ));
    // A colon in a 1.0 value is fine (the first colon splits name and value).
    let extra = [("x", "a:b")];
    pair.client
        .subscribe(pair.now, "/q", SubscribeOptions::new())
        .unwrap();
    pair.client
        .send(pair.now, "/q", b"", SendOptions::new().headers(&extra))
        .unwrap();
    pair.drive();
    let messages = pair.take_messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].header("x").unwrap() == "a:b");
}

#[test]
fn binary_bodies_with_nuls_travel_end_to_end() {
    let mut body: Vec<u8> = (0..=255u8).collect();
    body.extend_from_slice(b"\0\0\n\0\r\n");
    body.extend(std::iter::repeat_n(0u8, 3000)); // long: shared, not copied, by the server
    for version in Version::ALL {
        for chunking in ALL_CHUNKINGS {
            let mut pair = Pair::connected(version, HB_NONE, HB_NONE).with_chunking(chunking);
            pair.client
                .subscribe(pair.now, "/bin", SubscribeOptions::new())
                .unwrap();
            for b in [&body[..], b"\0", b"", &body[..10]] {
                pair.client
                    .send(
                        pair.now,
                        "/bin",
                        b,
                        SendOptions::new().content_type("application/octet-stream"),
                    )
                    .unwrap();
            }
            pair.drive();
            let messages = pair.take_messages();
            let bodies: Vec<&[u8]> = messages.iter().map(|m| m.body()).collect();
            assert_eq!(
                bodies,
                [&body[..], b"\0", b"", &body[..10]],
                "{version:?} {chunking:?}"
            );
            reparse(&pair.to_client.wire(), version);
        }
    }
}

// ---- everything re-parses -------------------------------------------------------------------

#[test]
fn a_full_conversation_re_parses_in_its_version_with_heart_beats_and_latency() {
    for version in Version::ALL {
        let mut pair = Pair::connected(version, HeartBeat::new(300, 300), HeartBeat::new(300, 300))
            .with_chunking(Chunking::Random(3));
        pair.latency = ms(7);
        let mut sent = 0;
        pair.client
            .subscribe(
                pair.now,
                "/q",
                SubscribeOptions::new().ack(AckMode::Client).receipt(),
            )
            .unwrap();
        for i in 0..50u64 {
            pair.advance(ms(37 * (i % 13)));
            let body = format!("message {i}");
            pair.client
                .send(pair.now, "/q", body.as_bytes(), SendOptions::new())
                .unwrap();
            sent += 1;
        }
        pair.settle();
        let messages = pair.take_messages();
        assert_eq!(messages.len(), sent);
        pair.client
            .ack(pair.now, messages.last().unwrap(), None, Receipt::Generated)
            .unwrap();
        pair.client.disconnect(pair.now).unwrap();
        pair.settle();
        assert!(pair.client.is_closed() && pair.server.is_closed());
        let client_frames = reparse(&pair.to_server.wire(), version);
        let server_frames = reparse(&pair.to_client.wire(), version);
        assert_eq!(client_frames.iter().flatten().count(), 1 + 1 + 50 + 1 + 1);
        // SUBSCRIBE receipt, 50 MESSAGEs, ACK receipt, DISCONNECT receipt, CONNECTED.
        assert_eq!(server_frames.iter().flatten().count(), 1 + 1 + 50 + 1 + 1);
    }
}

// ---- random conversations -------------------------------------------------------------------

mod random {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Send {
            dest: u8,
            len: u16,
            tx: Option<u8>,
            receipt: bool,
        },
        Subscribe {
            dest: u8,
            ack: u8,
            receipt: bool,
        },
        Unsubscribe {
            which: u8,
            receipt: bool,
        },
        Ack {
            which: u8,
            nack: bool,
            tx: Option<u8>,
            receipt: bool,
        },
        Begin {
            receipt: bool,
        },
        End {
            which: u8,
            commit: bool,
            receipt: bool,
        },
        Advance(u16),
        Chunking(u8, u64),
        HoldReceipts(bool),
        ReleaseReceipts,
        ServerError,
        Disconnect,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..3, 0u16..300, proptest::option::of(any::<u8>()), any::<bool>())
                .prop_map(|(dest, len, tx, receipt)| Op::Send { dest, len, tx, receipt }),
            3 => (0u8..3, 0u8..3, any::<bool>())
                .prop_map(|(dest, ack, receipt)| Op::Subscribe { dest, ack, receipt }),
            1 => (any::<u8>(), any::<bool>())
                .prop_map(|(which, receipt)| Op::Unsubscribe { which, receipt }),
            3 => (any::<u8>(), any::<bool>(), proptest::option::of(any::<u8>()), any::<bool>())
                .prop_map(|(which, nack, tx, receipt)| Op::Ack { which, nack, tx, receipt }),
            1 => any::<bool>().prop_map(|receipt| Op::Begin { receipt }),
            1 => (any::<u8>(), any::<bool>(), any::<bool>())
                .prop_map(|(which, commit, receipt)| Op::End { which, commit, receipt }),
            4 => (0u16..5_000).prop_map(Op::Advance),
            1 => (0u8..3, any::<u64>()).prop_map(|(k, seed)| Op::Chunking(k, seed)),
            1 => any::<bool>().prop_map(Op::HoldReceipts),
            1 => Just(Op::ReleaseReceipts),
            1 => Just(Op::ServerError),
            1 => Just(Op::Disconnect),
        ]
    }

    #[derive(Clone, Debug)]
    struct Setup {
        client_versions: u8,
        server_versions: u8,
        client_hb: (u32, u32),
        server_hb: (u32, u32),
        latency: u64,
        bad_login: bool,
    }

    fn interval() -> impl Strategy<Value = u32> {
        prop_oneof![Just(0u32), Just(200), Just(500), Just(1_000)]
    }

    fn setup() -> impl Strategy<Value = Setup> {
        (
            1u8..8,
            1u8..8,
            (interval(), interval()),
            (interval(), interval()),
            0u64..=40,
            proptest::bool::weighted(0.1),
        )
            .prop_map(|(cv, sv, client_hb, server_hb, latency, bad_login)| Setup {
                client_versions: cv,
                server_versions: sv,
                client_hb,
                server_hb,
                latency,
                bad_login,
            })
    }

    fn set(bits: u8) -> Versions {
        Version::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, v)| *v)
            .collect()
    }

    const DESTINATIONS: [&str; 3] = ["/queue/a", "/topic/b:c", "/queue/\u{e9}"];

    /// A body that names its message: the tag, then filler with NULs and line feeds.
    fn body(tag: u64, len: u16) -> Vec<u8> {
        let mut body = tag.to_le_bytes().to_vec();
        body.extend((0..len).map(|i| [0u8, b'\n', b'x', 0xff][usize::from(i % 4)]));
        body
    }

    fn tag(body: &[u8]) -> u64 {
        u64::from_le_bytes(body[..8].try_into().unwrap())
    }

    fn run(setup: Setup, ops: Vec<Op>) -> Result<(), TestCaseError> {
        let client_versions = set(setup.client_versions);
        let server_versions = set(setup.server_versions);
        let mut pair = Pair::new(
            ClientConfig::new("vhost")
                .accept_versions(client_versions)
                .login("user", if setup.bad_login { "nope" } else { "pw" })
                .heart_beat(HeartBeat::new(setup.client_hb.0, setup.client_hb.1)),
            ServerConfig::new()
                .versions(server_versions)
                .heart_beat(HeartBeat::new(setup.server_hb.0, setup.server_hb.1)),
        );
        pair.broker.credentials = Some((b"user".to_vec(), b"pw".to_vec()));
        pair.latency = Duration::from_millis(setup.latency);
        pair.connect();
        let negotiated = client_versions.intersection(server_versions).highest();
        prop_assert_eq!(
            pair.client.version(),
            negotiated.filter(|_| !setup.bad_login)
        );
        let version = pair.client.version().unwrap_or(Version::V1_2);
        let client_send_every = pair.client.heart_beat_intervals().0;
        let server_send_every = pair.server.heart_beat_intervals().0;

        let mut next_tag = 0u64;
        let mut subs: Vec<String> = Vec::new();
        let mut transactions: Vec<String> = Vec::new();
        let mut next_tx = 0;
        // Messages the client may still acknowledge: (subscription, mode, message).
        let mut unacked: Vec<(String, AckMode, session::client::Message)> = Vec::new();
        let mut received: Vec<(String, u64)> = Vec::new();

        let collect = |pair: &mut Pair,
                       unacked: &mut Vec<(String, AckMode, session::client::Message)>,
                       received: &mut Vec<(String, u64)>| {
            for event in pair.take_client_events() {
                match event {
                    ClientEvent::Message(m) => {
                        received.push((m.subscription().to_string(), tag(m.body())));
                        if m.ack_mode() != AckMode::Auto {
                            unacked.push((m.subscription().to_string(), m.ack_mode(), m));
                        }
                    }
                    ClientEvent::UnexpectedMessage(frame) => {
                        let sub = frame.subscription().unwrap().decode().unwrap();
                        received.push((
                            String::from_utf8(sub.into_owned()).unwrap(),
                            tag(frame.body()),
                        ));
                    }
                    ClientEvent::HeartBeatTimeout | ClientEvent::ProtocolError(_) => {
                        panic!("client failed: {event:?}")
                    }
                    _ => {}
                }
            }
        };

        for op in ops {
            let now = pair.now;
            let receipt_of = |r: bool| if r { Receipt::Generated } else { Receipt::None };
            match op {
                Op::Send {
                    dest,
                    len,
                    tx,
                    receipt,
                } => {
                    let tx = tx.and_then(|i| {
                        (!transactions.is_empty())
                            .then(|| transactions[usize::from(i) % transactions.len()].clone())
                    });
                    let mut options = SendOptions::new().with_receipt(receipt_of(receipt));
                    if let Some(tx) = &tx {
                        options = options.transaction(tx);
                    }
                    let b = body(next_tag, len);
                    next_tag += 1;
                    let _ = pair
                        .client
                        .send(now, DESTINATIONS[usize::from(dest)], &b, options);
                }
                Op::Subscribe { dest, ack, receipt } => {
                    let mode = [AckMode::Auto, AckMode::Client, AckMode::ClientIndividual]
                        [usize::from(ack)];
                    let options = SubscribeOptions::new()
                        .ack(mode)
                        .with_receipt(receipt_of(receipt));
                    if let Ok(sub) =
                        pair.client
                            .subscribe(now, DESTINATIONS[usize::from(dest)], options)
                    {
                        subs.push(sub.id);
                    }
                }
                Op::Unsubscribe { which, receipt } => {
                    if !subs.is_empty() {
                        let id = subs.remove(usize::from(which) % subs.len());
                        let _ = pair.client.unsubscribe(now, &id, receipt_of(receipt));
                        unacked.retain(|(s, _, _)| *s != id);
                    }
                }
                Op::Ack {
                    which,
                    nack,
                    tx,
                    receipt,
                } => {
                    if !unacked.is_empty() {
                        let index = usize::from(which) % unacked.len();
                        let tx = tx.and_then(|i| {
                            (!transactions.is_empty())
                                .then(|| transactions[usize::from(i) % transactions.len()].clone())
                        });
                        let (sub, mode, message) = unacked[index].clone();
                        let result = if nack {
                            pair.client
                                .nack(now, &message, tx.as_deref(), receipt_of(receipt))
                        } else {
                            pair.client
                                .ack(now, &message, tx.as_deref(), receipt_of(receipt))
                        };
                        if result.is_ok() {
                            if mode == AckMode::Client {
                                // Cumulative: this one and every earlier one of the subscription.
                                let mut seen = false;
                                let mut i = 0;
                                unacked.retain(|(s, _, _)| {
                                    let keep = seen || *s != sub;
                                    if i == index {
                                        seen = true;
                                    }
                                    i += 1;
                                    keep
                                });
                            } else {
                                unacked.remove(index);
                            }
                        }
                    }
                }
                Op::Begin { receipt } => {
                    let id = format!("tx-{next_tx}");
                    next_tx += 1;
                    if pair.client.begin(now, &id, receipt_of(receipt)).is_ok() {
                        transactions.push(id);
                    }
                }
                Op::End {
                    which,
                    commit,
                    receipt,
                } => {
                    if !transactions.is_empty() {
                        let id = transactions.remove(usize::from(which) % transactions.len());
                        let _ = if commit {
                            pair.client.commit(now, &id, receipt_of(receipt))
                        } else {
                            pair.client.abort(now, &id, receipt_of(receipt))
                        };
                    }
                }
                Op::Advance(ms) => pair.advance(Duration::from_millis(u64::from(ms))),
                Op::Chunking(kind, seed) => {
                    pair.chunking = [Chunking::Whole, Chunking::Bytewise, Chunking::Random(seed)]
                        [usize::from(kind)];
                    pair.rng = seed | 1;
                }
                Op::HoldReceipts(hold) => pair.broker.hold_receipts = hold,
                Op::ReleaseReceipts => pair.release_receipts(),
                Op::ServerError => {
                    pair.server_clock();
                    let _ = pair.server.error("application error", None, b"");
                }
                Op::Disconnect => {
                    if pair.client.disconnect(now).is_ok() {
                        transactions.clear();
                    }
                }
            }
            pair.drive();
            collect(&mut pair, &mut unacked, &mut received);
        }
        pair.broker.hold_receipts = false;
        pair.release_receipts();
        pair.settle();
        collect(&mut pair, &mut unacked, &mut received);

        // Every byte either side wrote parses in the negotiated version.
        let client_wire = pair.to_server.wire();
        let server_wire = pair.to_client.wire();
        reparse(&client_wire, version);
        reparse(&server_wire, version);

        // The client never broke the protocol (it refuses misuse itself).
        prop_assert!(
            !matches!(pair.broker.closed, Some(CloseReason::ProtocolError(e)) if e != session::ProtocolError::NoCommonVersion),
            "server closed with {:?}",
            pair.broker.closed
        );
        prop_assert_ne!(pair.broker.closed, Some(CloseReason::HeartBeatTimeout));

        // Every message the broker delivered arrived exactly once, and nothing else arrived.
        let mut delivered: Vec<(String, u64)> = pair
            .broker
            .delivered
            .iter()
            .map(|(s, _, b)| (String::from_utf8(s.to_vec()).unwrap(), tag(b)))
            .collect();
        delivered.sort();
        received.sort();
        prop_assert_eq!(delivered, received);

        // Heart-beats: never early, never later than the interval plus the round trip.
        for (link, every) in [
            (&pair.to_server, client_send_every),
            (&pair.to_client, server_send_every),
        ] {
            for window in link.log.windows(2) {
                let ((prev, _), (t, bytes)) = (&window[0], &window[1]);
                if &bytes[..] == b"\n" {
                    let every = every.expect("heart-beat without negotiated interval");
                    let gap = *t - *prev;
                    prop_assert!(gap >= every, "early heart-beat: {:?} after {:?}", gap, prev);
                    prop_assert!(
                        gap <= every + 2 * pair.latency,
                        "late heart-beat: {:?} after {:?}",
                        gap,
                        prev
                    );
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn random_conversations_keep_both_sides_consistent(
            setup in setup(),
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            run(setup, ops)?;
        }
    }
}
