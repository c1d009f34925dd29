//! A blocking `std::net` STOMP client built on the sans-IO client session: connects,
//! subscribes, sends, receives, acknowledges and disconnects with a receipt.
//!
//! ```text
//! cargo run --example client -- [--addr 127.0.0.1:61613] [--login guest --passcode guest]
//!                               [--vhost /] [--version 1.2] [--destination /queue/demo]
//!                               [--count 3]
//! ```
//!
//! Works against the demo broker and against RabbitMQ (whose `host` header names a virtual
//! host, `/` by default).

#[path = "support/args.rs"]
mod args;
#[path = "support/blocking.rs"]
mod blocking;

use args::{number, Target};

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::Duration;

use stomp_proto::session::client::{Message, Receipt, SendOptions, SubscribeOptions};
use stomp_proto::session::ClientEvent;
use stomp_proto::{AckMode, HeartBeat, Version};

struct Args {
    target: Target,
    count: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut count = 3;
    let target = Target::parse("/queue/demo".into(), |flag, value| {
        match flag {
            "--count" => count = number(flag, value()?)?,
            "-h" | "--help" => return Err("see the header of examples/client.rs".into()),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Args { target, count })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let config = args
        .target
        .config()
        .heart_beat(HeartBeat::new(5_000, 5_000));
    let (mut conn, connected) = blocking::Connection::open(&args.target.addr, config)?;
    let ClientEvent::Connected(connected) = connected else {
        unreachable!()
    };
    let version = connected.version();
    println!(
        "connected to {} with STOMP {version}, server {:?}, heart-beats {:?}",
        args.target.addr,
        connected
            .server()
            .map(|s| String::from_utf8_lossy(s.raw()).into_owned()),
        connected.heart_beat_intervals(),
    );

    let wait = Duration::from_secs(10);
    let ack = if version == Version::V1_0 {
        AckMode::Client
    } else {
        AckMode::ClientIndividual
    };
    let now = conn.now();
    let sub = conn.client.subscribe(
        now,
        &args.target.destination,
        SubscribeOptions::new().ack(ack).receipt(),
    )?;
    conn.flush()?;
    println!(
        "subscribed to {} as {} ({ack})",
        args.target.destination, sub.id
    );
    // Messages may overtake receipts: keep them until their turn.
    let mut messages = VecDeque::new();
    expect_receipt(&mut conn, wait, &mut messages)?;

    for i in 0..args.count {
        let body = format!("hello {i}");
        let now = conn.now();
        conn.client.send(
            now,
            &args.target.destination,
            body.as_bytes(),
            SendOptions::new().text().receipt(),
        )?;
        conn.flush()?;
        expect_receipt(&mut conn, wait, &mut messages)?;
        println!("sent {body:?} (receipt confirmed)");
    }

    let mut received = 0;
    while received < args.count {
        let event = match messages.pop_front() {
            Some(message) => ClientEvent::Message(message),
            None => conn.next_event(wait)?,
        };
        match event {
            ClientEvent::Message(message) => {
                received += 1;
                println!(
                    "received {:?} on subscription {}",
                    String::from_utf8_lossy(message.body()),
                    message.subscription()
                );
                let now = conn.now();
                conn.client.ack(now, &message, None, Receipt::None)?;
                conn.flush()?;
            }
            ClientEvent::Receipt { .. } => {}
            other => return Err(format!("unexpected event {other:?}").into()),
        }
    }

    let now = conn.now();
    let receipt = conn.client.disconnect(now)?;
    conn.flush()?;
    match conn.next_event(wait)? {
        ClientEvent::Disconnected { receipt_id } if receipt_id == receipt => {
            println!("disconnected (receipt {receipt_id})");
            Ok(())
        }
        other => Err(format!("expected the DISCONNECT receipt, got {other:?}").into()),
    }
}

fn expect_receipt(
    conn: &mut blocking::Connection,
    wait: Duration,
    messages: &mut VecDeque<Message>,
) -> Result<(), String> {
    loop {
        match conn.next_event(wait).map_err(|e| e.to_string())? {
            ClientEvent::Receipt { .. } => return Ok(()),
            ClientEvent::Message(message) => messages.push_back(message),
            other => return Err(format!("expected a RECEIPT, got {other:?}")),
        }
    }
}
