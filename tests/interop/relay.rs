//! The demo broker in relay mode against a real RabbitMQ: two relay instances (in-process, on
//! port 0) pointed at one RabbitMQ, driven by raw STOMP clients over TCP.
//!
//! `.ci/run` starts RabbitMQ (`.ci/rabbitmq.sh start`) and runs
//! `cargo test --features _interop --test interop_relay`. Each test fails loudly when RabbitMQ
//! is not reachable at `STOMP_RABBITMQ_ADDR` (default `127.0.0.1:61623`, guest/guest,
//! virtual host `/`): nothing here is skipped. Killing RabbitMQ is tested on its own, in
//! `relay_failover.rs`, so that it does not disturb these.

#[path = "../../examples/broker/broker.rs"]
mod broker;
#[path = "../../examples/broker/connection.rs"]
mod connection;
#[path = "../../examples/broker/greeting.rs"]
mod greeting;
#[path = "../../examples/broker/listen.rs"]
mod listen;
#[path = "../../examples/broker/relay.rs"]
mod relay;
#[path = "relay_harness.rs"]
mod relay_harness;
#[path = "../../examples/broker/websocket.rs"]
mod websocket;

use std::time::Duration;

use stomp_proto::Command;

use crate::relay_harness::{body, frame, header, require_rabbitmq, unique, Instance, Peer};

/// Heart-beats of the tests' relay instances, both legs.
const HEART_BEAT_MS: u32 = 1000;

async fn two_instances() -> (Instance, Instance) {
    require_rabbitmq().await;
    (
        Instance::start(HEART_BEAT_MS).await,
        Instance::start(HEART_BEAT_MS).await,
    )
}

#[tokio::test]
async fn a_topic_message_published_on_one_instance_reaches_a_subscriber_on_the_other() {
    let (a, b) = two_instances().await;
    let topic = format!("/topic/{}", unique("relay-topic-"));
    let mut subscriber = Peer::connected(b.addr(), "0,1000").await;
    subscriber.subscribe("mine-7", &topic, "auto").await;
    let mut publisher = Peer::connected(a.addr(), "0,1000").await;
    publisher
        .publish(
            &topic,
            "across instances",
            &[("content-type", "text/plain"), ("x-trace", "t-42")],
        )
        .await;

    let message = subscriber.expect(Command::Message).await;
    assert_eq!(body(&message), "across instances");
    assert_eq!(header(&message, "subscription").as_deref(), Some("mine-7"));
    assert_eq!(header(&message, "destination").as_deref(), Some(&*topic));
    assert_eq!(
        header(&message, "content-type").as_deref(),
        Some("text/plain")
    );
    assert_eq!(header(&message, "x-trace").as_deref(), Some("t-42"));
    assert!(header(&message, "message-id").is_some());
    // The relay's own upstream receipt id (RabbitMQ copies it onto MESSAGE) stays upstream.
    assert_eq!(header(&message, "receipt"), None);
    // A topic message reaches each subscription once.
    subscriber.expect_quiet(Duration::from_millis(300)).await;
    publisher.disconnect().await;
    subscriber.disconnect().await;
}

#[tokio::test]
async fn app_hello_on_one_instance_greets_subscribers_on_both() {
    let (a, b) = two_instances().await;
    let mut on_a = Peer::connected(a.addr(), "0,1000").await;
    let mut on_b = Peer::connected(b.addr(), "0,1000").await;
    on_a.subscribe("g", "/topic/greetings", "auto").await;
    on_b.subscribe("g", "/topic/greetings", "auto").await;

    let name = unique("relay-");
    let request = format!("{{\"name\": \"{name}\"}}");
    on_a.send(&frame(
        "SEND",
        &[
            ("destination", "/app/hello"),
            ("content-type", "application/json"),
            ("receipt", "hello-1"),
        ],
        request.as_bytes(),
    ))
    .await;
    let expected = format!("{{\"content\":\"Hello, {name}!\"}}");
    // The RECEIPT comes once RabbitMQ confirmed the greeting, so the greeting may arrive
    // before or after it.
    let mut receipt_seen = false;
    let mut greeting = None;
    while !(receipt_seen && greeting.is_some()) {
        let next = on_a.frame().await;
        match next.command() {
            Command::Receipt => {
                assert_eq!(header(&next, "receipt-id").as_deref(), Some("hello-1"));
                receipt_seen = true;
            }
            Command::Message if body(&next) == expected => greeting = Some(next),
            Command::Message => {} // another test's greeting
            other => panic!("unexpected {other:?}: {next:?}"),
        }
    }
    let on_b_greeting = on_b.message_where(|b| b == expected).await;
    for message in [greeting.unwrap(), on_b_greeting] {
        assert_eq!(
            header(&message, "content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(header(&message, "subscription").as_deref(), Some("g"));
        assert_eq!(
            header(&message, "destination").as_deref(),
            Some("/topic/greetings")
        );
    }
    on_a.disconnect().await;
    on_b.disconnect().await;
}

#[tokio::test]
async fn client_individual_ack_and_nack_pass_through_to_rabbitmq() {
    let (a, b) = two_instances().await;
    let queue = format!("/queue/{}", unique("relay-queue-"));
    let mut consumer = Peer::connected(a.addr(), "0,1000").await;
    consumer.subscribe("q", &queue, "client-individual").await;
    let mut producer = Peer::connected(b.addr(), "0,1000").await;
    for text in ["one", "two", "three"] {
        producer.publish(&queue, text, &[]).await;
    }

    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(consumer.expect(Command::Message).await);
    }
    let bodies: Vec<String> = got.iter().map(body).collect();
    assert_eq!(bodies, ["one", "two", "three"]);
    for message in &got {
        assert_eq!(header(message, "subscription").as_deref(), Some("q"));
        assert!(
            header(message, "ack").is_some(),
            "1.2 MESSAGE needs an ack id"
        );
    }
    let ack_id = |m: &stomp_proto::codec::OwnedFrame| header(m, "ack").unwrap();

    // ACK "one", NACK "two": RabbitMQ requeues a NACKed message and redelivers it.
    consumer
        .send(&frame(
            "ACK",
            &[("id", &ack_id(&got[0])), ("receipt", "ack-1")],
            b"",
        ))
        .await;
    consumer.expect_receipt("ack-1").await;
    consumer
        .send(&frame(
            "NACK",
            &[("id", &ack_id(&got[1])), ("receipt", "nack-2")],
            b"",
        ))
        .await;
    let mut redelivered = None;
    let mut receipt_seen = false;
    while !(receipt_seen && redelivered.is_some()) {
        let next = consumer.frame().await;
        match next.command() {
            Command::Receipt => {
                assert_eq!(header(&next, "receipt-id").as_deref(), Some("nack-2"));
                receipt_seen = true;
            }
            Command::Message => redelivered = Some(next),
            other => panic!("unexpected {other:?}: {next:?}"),
        }
    }
    let redelivered = redelivered.unwrap();
    assert_eq!(body(&redelivered), "two");
    assert_eq!(header(&redelivered, "redelivered").as_deref(), Some("true"));
    assert_ne!(
        ack_id(&redelivered),
        ack_id(&got[1]),
        "a new delivery, a new ack id"
    );
    consumer
        .send(&frame(
            "ACK",
            &[("id", &ack_id(&redelivered)), ("receipt", "ack-2")],
            b"",
        ))
        .await;
    consumer.expect_receipt("ack-2").await;

    // "three" is left unacknowledged: when the consumer leaves, RabbitMQ gives it to the next
    // one (on the other instance), and only it: "one" and "two" were acknowledged.
    consumer.disconnect().await;
    let mut next_consumer = Peer::connected(b.addr(), "0,1000").await;
    next_consumer
        .subscribe("q2", &queue, "client-individual")
        .await;
    let again = next_consumer.expect(Command::Message).await;
    assert_eq!(body(&again), "three");
    assert_eq!(header(&again, "redelivered").as_deref(), Some("true"));
    assert_eq!(header(&again, "subscription").as_deref(), Some("q2"));
    next_consumer
        .send(&frame(
            "ACK",
            &[("id", &ack_id(&again)), ("receipt", "ack-3")],
            b"",
        ))
        .await;
    next_consumer.expect_receipt("ack-3").await;
    next_consumer.expect_quiet(Duration::from_millis(300)).await;
    next_consumer.disconnect().await;
    producer.disconnect().await;
}

#[tokio::test]
async fn client_mode_ack_is_cumulative_through_the_relay() {
    let (a, _b) = two_instances().await;
    let queue = format!("/queue/{}", unique("relay-client-"));
    let mut consumer = Peer::connected(a.addr(), "0,1000").await;
    consumer.subscribe("c", &queue, "client").await;
    let mut producer = Peer::connected(a.addr(), "0,1000").await;
    for text in ["a", "b", "c"] {
        producer.publish(&queue, text, &[]).await;
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(consumer.expect(Command::Message).await);
    }
    // ACK of "b" acknowledges "a" too; "c" stays unacknowledged and comes back.
    let id_b = header(&got[1], "ack").unwrap();
    consumer
        .send(&frame("ACK", &[("id", &id_b), ("receipt", "ack-b")], b""))
        .await;
    consumer.expect_receipt("ack-b").await;
    consumer.disconnect().await;
    let mut next = Peer::connected(a.addr(), "0,1000").await;
    next.subscribe("c2", &queue, "auto").await;
    let again = next.expect(Command::Message).await;
    assert_eq!(body(&again), "c");
    next.expect_quiet(Duration::from_millis(300)).await;
    next.disconnect().await;
    producer.disconnect().await;
}

#[tokio::test]
async fn a_transaction_passes_through() {
    let (a, b) = two_instances().await;
    let queue = format!("/queue/{}", unique("relay-tx-"));
    let mut consumer = Peer::connected(b.addr(), "0,1000").await;
    consumer.subscribe("t", &queue, "auto").await;
    let mut producer = Peer::connected(a.addr(), "0,1000").await;
    producer
        .send(&frame(
            "BEGIN",
            &[("transaction", "tx1"), ("receipt", "b")],
            b"",
        ))
        .await;
    producer.expect_receipt("b").await;
    producer
        .send(&frame(
            "SEND",
            &[
                ("destination", &queue),
                ("transaction", "tx1"),
                ("receipt", "s"),
            ],
            b"in a transaction",
        ))
        .await;
    // RabbitMQ acts on a transaction's frames, and confirms them, at COMMIT: so does the
    // relay, which passes the upstream RECEIPT on.
    producer.expect_quiet(Duration::from_millis(500)).await;
    consumer.expect_quiet(Duration::from_millis(10)).await;
    producer
        .send(&frame(
            "COMMIT",
            &[("transaction", "tx1"), ("receipt", "c")],
            b"",
        ))
        .await;
    let mut receipts = Vec::new();
    for _ in 0..2 {
        let receipt = producer.expect(Command::Receipt).await;
        receipts.push(header(&receipt, "receipt-id").unwrap());
    }
    receipts.sort();
    assert_eq!(receipts, ["c", "s"]);
    let message = consumer.expect(Command::Message).await;
    assert_eq!(body(&message), "in a transaction");
    producer.disconnect().await;
    consumer.disconnect().await;
}

#[tokio::test]
async fn what_rabbitmq_refuses_is_an_error_not_a_receipt() {
    let (a, _b) = two_instances().await;
    let mut client = Peer::connected(a.addr(), "0,1000").await;
    let exchange = format!("/exchange/{}", unique("no-such-exchange-"));
    client
        .send(&frame(
            "SEND",
            &[("destination", &exchange), ("receipt", "mine-9")],
            b"nowhere",
        ))
        .await;
    // RabbitMQ's ERROR names no receipt-id here; the relay passes its message and body on.
    let error = client.expect(Command::Error).await;
    let message = header(&error, "message").expect("a message header");
    assert_eq!(message, "upstream broker: not_found");
    assert!(body(&error).contains("no exchange"), "{error:?}");
    client.expect_closed().await;
}

#[tokio::test]
async fn destinations_outside_the_broker_and_app_prefixes_are_refused() {
    let (a, _b) = two_instances().await;
    let mut client = Peer::connected(a.addr(), "0,1000").await;
    client
        .send(&frame(
            "SUBSCRIBE",
            &[("id", "x"), ("destination", "/app/hello"), ("receipt", "r")],
            b"",
        ))
        .await;
    let error = client.expect(Command::Error).await;
    assert_eq!(header(&error, "receipt-id").as_deref(), Some("r"));
    client.expect_closed().await;
}

#[tokio::test]
async fn an_unreachable_upstream_answers_connect_with_an_error() {
    // A port with nothing listening: bound, then released.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let instance = Instance::start_to(&port.to_string(), HEART_BEAT_MS, false).await;
    let mut client = Peer::tcp(instance.addr()).await;
    client
        .send(&frame(
            "CONNECT",
            &[("accept-version", "1.2"), ("host", "/")],
            b"",
        ))
        .await;
    let error = client.expect(Command::Error).await;
    let message = header(&error, "message").expect("a message header");
    assert!(message.contains("upstream broker unavailable"), "{message}");
    client.expect_closed().await;
}

#[tokio::test]
async fn disconnect_is_confirmed_after_the_application_messages_before_it() {
    let (a, _b) = two_instances().await;
    let mut client = Peer::connected(a.addr(), "0,1000").await;
    let mut bytes = frame(
        "SEND",
        &[("destination", "/app/hello"), ("receipt", "hello")],
        br#"{"name": "pipelined"}"#,
    );
    bytes.extend(frame("DISCONNECT", &[("receipt", "bye")], b""));
    client.send(&bytes).await;
    client.expect_receipt("hello").await;
    client.expect_receipt("bye").await;
    client.expect_closed().await;
}

#[tokio::test]
async fn a_silent_downstream_client_is_closed_by_its_own_heart_beats_and_its_messages_return() {
    let (a, b) = two_instances().await;
    let queue = format!("/queue/{}", unique("relay-silent-"));
    // It promises a heart-beat every 1000 ms, then sends nothing at all.
    let mut silent = Peer::connected(a.addr(), "1000,0").await;
    silent.subscribe("s", &queue, "client-individual").await;
    let mut producer = Peer::connected(b.addr(), "0,1000").await;
    producer.publish(&queue, "unacknowledged", &[]).await;
    let message = silent.expect(Command::Message).await;
    assert_eq!(body(&message), "unacknowledged");
    // The downstream leg declares it dead (the upstream leg is healthy all along) and the
    // relay leaves RabbitMQ, which redelivers the message to the next consumer.
    loop {
        match silent.next(relay_harness::WAIT).await {
            relay_harness::Next::Closed => break,
            relay_harness::Next::Frame(frame) if frame.command() == Command::Error => {}
            other => panic!("expected the relay to close the silent client, got {other:?}"),
        }
    }
    let mut next = Peer::connected(b.addr(), "0,1000").await;
    next.subscribe("n", &queue, "auto").await;
    let again = next.expect(Command::Message).await;
    assert_eq!(body(&again), "unacknowledged");
    assert_eq!(header(&again, "redelivered").as_deref(), Some("true"));
    next.disconnect().await;
    producer.disconnect().await;
}
