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

#[path = "support/blocking.rs"]
mod blocking;

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use stomp_proto::session::client::{SendOptions, SubscribeOptions};
use stomp_proto::session::{ClientConfig, ClientEvent};

struct Args {
    addr: String,
    login: Option<(String, String)>,
    vhost: String,
    messages: usize,
    size: usize,
    destination: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:61613".into(),
        login: None,
        vhost: "/".into(),
        messages: 200_000,
        size: 200,
        destination: format!("/queue/throughput-{}", std::process::id()),
    };
    let (mut login, mut passcode) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?,
            "--login" => login = Some(value()?),
            "--passcode" => passcode = Some(value()?),
            "--vhost" => args.vhost = value()?,
            "--destination" => args.destination = value()?,
            "--messages" => {
                args.messages = value()?.parse().map_err(|e| format!("--messages: {e}"))?
            }
            "--size" => args.size = value()?.parse().map_err(|e| format!("--size: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if let Some(login) = login {
        args.login = Some((login, passcode.unwrap_or_default()));
    }
    Ok(args)
}

fn config(args: &Args) -> ClientConfig {
    let config = ClientConfig::new(&args.vhost);
    match &args.login {
        Some((login, passcode)) => config.login(login, passcode),
        None => config,
    }
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
    let (mut subscriber, _) = blocking::Connection::open(&args.addr, config(&args))?;
    let now = subscriber.now();
    let sub =
        subscriber
            .client
            .subscribe(now, &args.destination, SubscribeOptions::new().receipt())?;
    subscriber.flush()?;
    match subscriber.next_event(Duration::from_secs(10))? {
        ClientEvent::Receipt { .. } => {}
        other => return Err(format!("expected the SUBSCRIBE receipt, got {other:?}").into()),
    }
    let _ = sub;

    let (mut publisher, _) = blocking::Connection::open(&args.addr, config(&args))?;
    let body = vec![b'x'; args.size];
    let total = args.messages;
    let destination = args.destination.clone();
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
        total, args.size, args.addr, elapsed, rate
    );
    Ok(())
}

use blocking::Connection;
