//! Messages per second through the two session state machines, in memory: a publishing client
//! SENDs, its server session reports the `Send`, the application delivers it to a subscriber's
//! server session, and the subscribing client reads the MESSAGE.
//!
//! ```text
//! publisher Client ──SEND──▶ Server (publisher side) ──Send event──▶ deliver()
//!     ──▶ Server (subscriber side) ──MESSAGE──▶ subscriber Client ──Message event
//! ```
//!
//! One iteration is a batch of [`BATCH`] SENDs with 200-octet bodies, all sent, then every
//! transmit chunk shuttled and every event drained, as a transport loop would do after each
//! read. `Throughput::Elements` counts messages, so criterion reports messages per second.
//!
//! Two input paths are measured:
//!
//! - `send_deliver_message_200B_x1000`: each `poll_transmit` chunk goes to the peer with
//!   `handle_input_bytes`, which decodes it in place when the chunk is its memory's only
//!   reference (as it is here, and for any caller that hands over a `BytesMut` of its own);
//! - `send_deliver_message_200B_x1000_slice_input`: with `handle_input(&[u8])`, which copies
//!   the chunk into the session's read buffer (what a caller reading into a reused buffer
//!   does).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stomp_proto::session::client::{SendOptions, SubscribeOptions};
use stomp_proto::session::{
    Client, ClientConfig, ClientEvent, Message, Server, ServerConfig, ServerEvent,
};
use stomp_proto::time::Instant;
use stomp_proto::{Version, Versions};

/// Messages per iteration.
const BATCH: usize = 1000;

/// A 200-octet JSON body, as in the parse benches.
const BODY: &[u8; 200] = br#"{"symbol":"ACME","venue":"XPAR","bid":101.25,"ask":101.27,"bidSize":1200,"askSize":800,"ts":1700000000123,"seq":48213377,"flags":["firm","lit"],"currency":"EUR","isin":"FR0000120271","note":"ok.1234"}"#;

const DESTINATION: &str = "/topic/market.prices";

/// How transmit chunks are handed to the peer session.
#[derive(Clone, Copy)]
enum Input {
    /// `handle_input_bytes(now, chunk)`: decoded in place when the chunk is unique.
    Bytes,
    /// `handle_input(now, &chunk)`: copied into the read buffer.
    Slice,
}

/// The four sessions of the path, connected (STOMP 1.2) and subscribed.
struct Path {
    input: Input,
    publisher: Client,
    publisher_server: Server,
    subscriber_server: Server,
    subscriber: Client,
    /// The subscriber's subscription id, as the subscriber-side server knows it.
    subscription: bytes::Bytes,
}

/// Moves everything `client` wants sent into `server`.
fn client_to_server(input: Input, now: Instant, client: &mut Client, server: &mut Server) {
    while let Some(bytes) = client.poll_transmit() {
        match input {
            Input::Bytes => server.handle_input_bytes(now, bytes),
            Input::Slice => server.handle_input(now, &bytes),
        }
    }
}

/// Moves everything `server` wants sent into `client`.
fn server_to_client(input: Input, now: Instant, server: &mut Server, client: &mut Client) {
    while let Some(bytes) = server.poll_transmit() {
        match input {
            Input::Bytes => client.handle_input_bytes(now, bytes),
            Input::Slice => client.handle_input(now, &bytes),
        }
    }
}

fn connect(now: Instant) -> (Client, Server) {
    let mut client = Client::new(
        ClientConfig::new("bench").accept_versions(Versions::EMPTY.with(Version::V1_2)),
    );
    let mut server = Server::new(ServerConfig::new(), now);
    client.connect(now).unwrap();
    client_to_server(Input::Slice, now, &mut client, &mut server);
    let Some(ServerEvent::Connect(_)) = server.poll_event() else {
        panic!("no CONNECT")
    };
    server.accept(Some("bench")).unwrap();
    server_to_client(Input::Slice, now, &mut server, &mut client);
    let Some(ClientEvent::Connected(_)) = client.poll_event() else {
        panic!("not connected")
    };
    (client, server)
}

impl Path {
    fn new(input: Input) -> Path {
        let now = Instant::ZERO;
        let (publisher, publisher_server) = connect(now);
        let (mut subscriber, mut subscriber_server) = connect(now);
        subscriber
            .subscribe(now, DESTINATION, SubscribeOptions::new())
            .unwrap();
        client_to_server(input, now, &mut subscriber, &mut subscriber_server);
        let Some(ServerEvent::Subscribe { subscription, .. }) = subscriber_server.poll_event()
        else {
            panic!("no SUBSCRIBE")
        };
        Path {
            input,
            publisher,
            publisher_server,
            subscriber_server,
            subscriber,
            subscription,
        }
    }

    /// Sends `BATCH` messages through the whole path; returns how many MESSAGE events the
    /// subscriber got and the total body length, so the work cannot be optimised away.
    #[inline(never)] // a symbol of its own, for profilers
    fn run_batch(&mut self, now: Instant) -> (usize, usize) {
        for _ in 0..BATCH {
            self.publisher
                .send(now, DESTINATION, BODY, SendOptions::new())
                .unwrap();
        }
        client_to_server(
            self.input,
            now,
            &mut self.publisher,
            &mut self.publisher_server,
        );
        while let Some(event) = self.publisher_server.poll_event() {
            let ServerEvent::Send {
                destination, frame, ..
            } = event
            else {
                panic!("unexpected event {event:?}")
            };
            let message = Message::new(&destination, frame.body_bytes());
            self.subscriber_server
                .deliver(&self.subscription, &message)
                .unwrap();
        }
        server_to_client(
            self.input,
            now,
            &mut self.subscriber_server,
            &mut self.subscriber,
        );
        let (mut count, mut bytes) = (0, 0);
        while let Some(event) = self.subscriber.poll_event() {
            if let ClientEvent::Message(message) = event {
                count += 1;
                bytes += black_box(message.body()).len();
            }
        }
        (count, bytes)
    }
}

fn check(path: &mut Path) {
    let now = Instant::ZERO;
    for _ in 0..3 {
        path.publisher
            .send(now, DESTINATION, BODY, SendOptions::new())
            .unwrap();
    }
    client_to_server(
        path.input,
        now,
        &mut path.publisher,
        &mut path.publisher_server,
    );
    let mut delivered = 0;
    while let Some(ServerEvent::Send {
        destination, frame, ..
    }) = path.publisher_server.poll_event()
    {
        assert_eq!(&destination[..], DESTINATION.as_bytes());
        assert_eq!(frame.body(), BODY);
        let message = Message::new(&destination, frame.body_bytes());
        path.subscriber_server
            .deliver(&path.subscription, &message)
            .unwrap();
        delivered += 1;
    }
    assert_eq!(delivered, 3);
    server_to_client(
        path.input,
        now,
        &mut path.subscriber_server,
        &mut path.subscriber,
    );
    let mut received = 0;
    while let Some(event) = path.subscriber.poll_event() {
        let ClientEvent::Message(message) = event else {
            panic!("unexpected event {event:?}")
        };
        assert_eq!(message.body(), BODY);
        assert!(message.destination().unwrap() == DESTINATION);
        received += 1;
    }
    assert_eq!(received, 3);
    assert_eq!(path.run_batch(now), (BATCH, BATCH * BODY.len()));
}

fn bench_session(c: &mut Criterion) {
    let mut group = c.benchmark_group("session");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, input) in [
        ("send_deliver_message_200B_x1000", Input::Bytes),
        ("send_deliver_message_200B_x1000_slice_input", Input::Slice),
    ] {
        let mut path = Path::new(input);
        check(&mut path);
        group.bench_function(name, |b| {
            let now = Instant::ZERO;
            b.iter(|| {
                let (count, _) = path.run_batch(now);
                assert_eq!(count, BATCH);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_session);
criterion_main!(benches);
