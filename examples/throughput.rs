//! Messages per second through a STOMP broker: one publisher and one subscriber on loopback,
//! both driven by stomp-proto's client session over blocking TCP.
//!
//! ```text
//! cargo run --release --example throughput -- [--addr 127.0.0.1:61613] [--login guest --passcode guest]
//!     [--vhost /] [--messages 200000] [--size 200] [--destination /queue/throughput]
//! ```
//!
//! Run it against the demo broker and against RabbitMQ's STOMP plugin with the same load to
//! compare them (see the README). Not run by CI: it measures, it does not test.

#[path = "support/args.rs"]
mod args;
#[path = "support/blocking.rs"]
mod blocking;

use args::{number, Target};

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use stomp_proto::session::client::{SendOptions, SubscribeOptions};
use stomp_proto::session::ClientEvent;

struct Args {
    target: Target,
    messages: usize,
    size: usize,
}

fn parse_args() -> Result<Args, String> {
    let (mut messages, mut size) = (200_000, 200);
    let destination = format!("/queue/throughput-{}", std::process::id());
    let target = Target::parse(destination, |flag, value| {
        match flag {
            "--messages" => messages = number(flag, value()?)?,
            "--size" => size = number(flag, value()?)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Args {
        target,
        messages,
        size,
    })
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
    let (mut subscriber, _) = blocking::Connection::open(&args.target.addr, args.target.config())?;
    let now = subscriber.now();
    let sub = subscriber.client.subscribe(
        now,
        &args.target.destination,
        SubscribeOptions::new().receipt(),
    )?;
    subscriber.flush()?;
    match subscriber.next_event(Duration::from_secs(10))? {
        ClientEvent::Receipt { .. } => {}
        other => return Err(format!("expected the SUBSCRIBE receipt, got {other:?}").into()),
    }
    let _ = sub;

    let (mut publisher, _) = blocking::Connection::open(&args.target.addr, args.target.config())?;
    let body = vec![b'x'; args.size];
    let total = args.messages;
    let destination = args.target.destination.clone();
    let start = Instant::now();
    let sender = thread::spawn(move || -> Result<Connection, String> {
        for i in 0..total {
            let now = publisher.now();
            publisher
                .client
                .send(now, &destination, &body, SendOptions::new())
                .map_err(|e| e.to_string())?;
            // Write in batches, as a real producer's buffered writer would.
            if i % 64 == 63 {
                publisher.flush().map_err(|e| e.to_string())?;
            }
        }
        publisher.flush().map_err(|e| e.to_string())?;
        Ok(publisher)
    });

    let mut received = 0;
    while received < total {
        match subscriber.next_event(Duration::from_secs(30))? {
            ClientEvent::Message(_) => received += 1,
            ClientEvent::Receipt { .. } => {}
            other => return Err(format!("unexpected event {other:?}").into()),
        }
    }
    let elapsed = start.elapsed();
    let publisher = sender.join().map_err(|_| "publisher thread panicked")??;
    drop(publisher);
    let rate = total as f64 / elapsed.as_secs_f64();
    println!(
        "{} messages of {} bytes through {} in {:.2?}: {:.0} messages/s",
        total, args.size, args.target.addr, elapsed, rate
    );
    Ok(())
}

use blocking::Connection;
