//! The relay when RabbitMQ fails: a hang (the node frozen with SIGSTOP: only heart-beats can
//! tell), a crash (SIGKILL: the connections drop) and the return (RabbitMQ started again).
//!
//! It drives RabbitMQ itself through `.ci/rabbitmq.sh freeze|thaw|kill|start`, so it has a
//! test binary of its own, which `.ci/run` runs after the other RabbitMQ tests:
//! `cargo test --features _interop --test interop_relay_failover`. It expects RabbitMQ up at
//! the start (`bash .ci/rabbitmq.sh start`) and leaves it up. Restarting RabbitMQ takes
//! 5 to 15 s.

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

use std::time::{Duration, Instant};

use stomp_proto::Command;

use crate::relay_harness::{body, frame, header, require_rabbitmq, unique, Instance, Peer};

/// Heart-beats on both legs, in milliseconds.
const HEART_BEAT_MS: u32 = 1000;

/// The heart-beat window: the upstream broker is declared dead after its interval times the
/// client session's default grace (150 %) of silence.
const WINDOW: Duration = Duration::from_millis(HEART_BEAT_MS as u64 * 3 / 2);

/// The bound on detection asserted: the window, plus generous slack for a loaded machine
/// (this bounds detection; it is not a performance figure).
const BOUND: Duration = Duration::from_millis(HEART_BEAT_MS as u64 * 3 / 2 * 2 + 2000);

/// Runs `.ci/rabbitmq.sh ACTION`, failing the test if it fails.
async fn rabbitmq(action: &'static str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/rabbitmq.sh");
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg(script)
            .arg(action)
            .status()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(status.success(), "{script} {action} failed: {status}");
}

/// Thaws RabbitMQ should the test fail while it is frozen.
struct Thaw;

impl Drop for Thaw {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/rabbitmq.sh");
        let _ = std::process::Command::new("bash")
            .arg(script)
            .arg("thaw")
            .status();
    }
}

/// Waits for the ERROR and the close that an upstream failure gives a downstream client;
/// returns the ERROR's `message` and how long it took.
async fn error_and_close(client: &mut Peer, since: Instant) -> (String, Duration) {
    let error = client.expect(Command::Error).await;
    let took = since.elapsed();
    client.expect_closed().await;
    (header(&error, "message").expect("a message header"), took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_clients_get_error_and_close_when_rabbitmq_hangs_or_dies_and_service_resumes() {
    require_rabbitmq().await;
    let instance = Instance::start(HEART_BEAT_MS).await;
    let queue = format!("/queue/{}", unique("relay-failover-"));

    // A hang: RabbitMQ frozen, its sockets open. Only the upstream heart-beats tell.
    let mut client = Peer::connected(instance.addr(), "0,1000").await;
    client.subscribe("s", &queue, "client-individual").await;
    client
        .send(&frame(
            "SEND",
            &[("destination", &queue), ("receipt", "r")],
            b"before the hang",
        ))
        .await;
    for _ in 0..2 {
        let next = client.frame().await;
        match next.command() {
            Command::Receipt => {}
            Command::Message => assert_eq!(body(&next), "before the hang"),
            other => panic!("unexpected {other:?}: {next:?}"),
        }
    }
    let thaw = Thaw;
    rabbitmq("freeze").await;
    let (message, took) = error_and_close(&mut client, Instant::now()).await;
    println!(
        "hang: downstream ERROR after {} ms: {message}",
        took.as_millis()
    );
    assert!(message.contains("heart-beat timeout"), "{message}");
    assert!(
        took <= BOUND,
        "ERROR after {took:?}, beyond the heart-beat window {WINDOW:?} plus slack"
    );
    drop(thaw);

    // Service goes on once it answers again.
    let mut client = Peer::connected(instance.addr(), "0,1000").await;
    client.subscribe("t", "/topic/failover", "auto").await;

    // A crash: the node killed, its connections dropped.
    rabbitmq("kill").await;
    let (message, took) = error_and_close(&mut client, Instant::now()).await;
    println!(
        "crash: downstream ERROR after {} ms: {message}",
        took.as_millis()
    );
    assert!(
        message.contains("upstream broker connection lost"),
        "{message}"
    );
    assert!(took <= BOUND, "ERROR after {took:?}");

    // While it is down, CONNECT gets an ERROR at once, not a hang.
    let mut refused = Peer::tcp(instance.addr()).await;
    refused
        .send(&frame(
            "CONNECT",
            &[("accept-version", "1.2"), ("host", "/")],
            b"",
        ))
        .await;
    let error = refused.expect(Command::Error).await;
    let message = header(&error, "message").unwrap();
    assert!(message.contains("upstream broker unavailable"), "{message}");
    refused.expect_closed().await;

    // The return: the system connection reconnects (with backoff) and new connections are
    // served, application messages included.
    let restarted = Instant::now();
    rabbitmq("start").await;
    assert!(
        instance.relay.wait_system(Duration::from_secs(30)).await,
        "the system connection did not come back"
    );
    println!(
        "return: system connection up {} ms after `rabbitmq.sh start` was called",
        restarted.elapsed().as_millis()
    );
    let mut client = Peer::connected(instance.addr(), "0,1000").await;
    client.subscribe("g", "/topic/greetings", "auto").await;
    let name = unique("back-");
    client
        .send(&frame(
            "SEND",
            &[("destination", "/app/hello"), ("receipt", "hello")],
            format!("{{\"name\": \"{name}\"}}").as_bytes(),
        ))
        .await;
    let expected = format!("{{\"content\":\"Hello, {name}!\"}}");
    let (mut greeted, mut confirmed) = (false, false);
    while !(greeted && confirmed) {
        let next = client.frame().await;
        match next.command() {
            Command::Receipt => confirmed = true,
            Command::Message => greeted |= body(&next) == expected,
            other => panic!("unexpected {other:?}: {next:?}"),
        }
    }
    client.disconnect().await;
}
