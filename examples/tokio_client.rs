//! An asynchronous STOMP client on tokio, built on the sans-IO client session: connects,
//! subscribes, sends, receives, acknowledges and disconnects with a receipt. Heart-beats are
//! driven by the session's `poll_timeout`: the read loop sleeps until that instant and calls
//! `handle_timeout`, which sends an EOL when the client has been quiet and declares the
//! server dead when it has.
//!
//! ```text
//! cargo run --example tokio_client -- [--addr 127.0.0.1:61613] [--login guest --passcode guest]
//!                                     [--vhost /] [--version 1.2] [--destination /queue/demo]
//!                                     [--count 3] [--heart-beat 1000] [--idle 3000]
//! ```
//!
//! `--idle MS` keeps the connection quiet for that long before disconnecting, so the
//! heart-beats can be watched (`--heart-beat` sets both directions, in milliseconds).

#[path = "support/args.rs"]
mod args;

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::Duration;

use args::{number, Target};

use stomp_proto::session::client::{Message, Receipt, SendOptions, SubscribeOptions};
use stomp_proto::session::{Client, ClientConfig, ClientEvent};
use stomp_proto::time::Instant;
use stomp_proto::{AckMode, HeartBeat, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The client session on a tokio TCP stream.
struct Connection {
    stream: TcpStream,
    client: Client,
    origin: tokio::time::Instant,
    events: VecDeque<ClientEvent>,
}

impl Connection {
    async fn open(addr: &str, config: ClientConfig) -> Result<(Connection, ClientEvent), String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut conn = Connection {
            stream,
            client: Client::new(config),
            origin: tokio::time::Instant::now(),
            events: VecDeque::new(),
        };
        let now = conn.now();
        conn.client.connect(now).map_err(|e| e.to_string())?;
        conn.flush().await?;
        match conn.next_event(Duration::from_secs(10)).await? {
            event @ ClientEvent::Connected(_) => Ok((conn, event)),
            other => Err(format!("expected CONNECTED, got {other:?}")),
        }
    }

    /// The session's clock: time since the connection opened.
    fn now(&self) -> Instant {
        Instant::from_std(self.origin.into_std(), std::time::Instant::now())
    }

    /// The tokio instant of a session instant.
    fn deadline(&self, at: Instant) -> tokio::time::Instant {
        self.origin + Duration::from_micros(at.total_micros())
    }

    /// Writes what the session wants sent and collects its events.
    async fn flush(&mut self) -> Result<(), String> {
        while let Some(bytes) = self.client.poll_transmit() {
            self.stream
                .write_all(&bytes)
                .await
                .map_err(|e| e.to_string())?;
        }
        while let Some(event) = self.client.poll_event() {
            self.events.push_back(event);
        }
        Ok(())
    }

    /// Reads and fires timers until an event arrives, or `wait` passes (`Ok(None)`).
    async fn poll(&mut self, wait: Duration) -> Result<Option<ClientEvent>, String> {
        let give_up = tokio::time::Instant::now() + wait;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(Some(event));
            }
            let timer = self.client.poll_timeout().map(|at| self.deadline(at));
            let wake = timer.map_or(give_up, |t| t.min(give_up));
            tokio::select! {
                read = self.stream.read(&mut buf) => {
                    let n = read.map_err(|e| e.to_string())?;
                    if n == 0 {
                        return Err("the server closed the connection".into());
                    }
                    let now = self.now();
                    self.client.handle_input(now, &buf[..n]);
                }
                _ = tokio::time::sleep_until(wake) => {
                    if timer.is_some_and(|t| t <= tokio::time::Instant::now()) {
                        let now = self.now();
                        self.client.handle_timeout(now);
                    } else if tokio::time::Instant::now() >= give_up {
                        self.flush().await?;
                        return Ok(self.events.pop_front());
                    }
                }
            }
            self.flush().await?;
        }
    }

    async fn next_event(&mut self, wait: Duration) -> Result<ClientEvent, String> {
        self.poll(wait)
            .await?
            .ok_or_else(|| "no event in time".to_string())
    }
}

struct Args {
    target: Target,
    count: usize,
    heart_beat: u32,
    idle: u64,
}

fn parse_args() -> Result<Args, String> {
    let (mut count, mut heart_beat, mut idle) = (3, 1_000, 3_000);
    let target = Target::parse("/queue/demo".into(), |flag, value| {
        match flag {
            "--count" => count = number(flag, value()?)?,
            "--heart-beat" => heart_beat = number(flag, value()?)?,
            "--idle" => idle = number(flag, value()?)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Args {
        target,
        count,
        heart_beat,
        idle,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let args = parse_args()?;
    let heart_beat = HeartBeat::new(args.heart_beat, args.heart_beat);
    let config = args.target.config().heart_beat(heart_beat);
    let (mut conn, connected) = Connection::open(&args.target.addr, config).await?;
    let ClientEvent::Connected(connected) = connected else {
        unreachable!()
    };
    let version = connected.version();
    println!(
        "connected to {} with STOMP {version}; heart-beats (send, expect): {:?}",
        args.target.addr,
        connected.heart_beat_intervals()
    );

    let wait = Duration::from_secs(10);
    let ack = if version == Version::V1_0 {
        AckMode::Client
    } else {
        AckMode::ClientIndividual
    };
    let now = conn.now();
    let sub = conn
        .client
        .subscribe(
            now,
            &args.target.destination,
            SubscribeOptions::new().ack(ack).receipt(),
        )
        .map_err(|e| e.to_string())?;
    conn.flush().await?;
    let mut messages: VecDeque<Message> = VecDeque::new();
    await_receipt(&mut conn, sub.receipt.as_deref(), &mut messages, wait).await?;
    println!(
        "subscribed to {} as {} ({ack})",
        args.target.destination, sub.id
    );

    for i in 0..args.count {
        let body = format!("hello {i}");
        let now = conn.now();
        let receipt = conn
            .client
            .send(
                now,
                &args.target.destination,
                body.as_bytes(),
                SendOptions::new().text().receipt(),
            )
            .map_err(|e| e.to_string())?;
        conn.flush().await?;
        await_receipt(&mut conn, receipt.as_deref(), &mut messages, wait).await?;
        println!("sent {body:?} (receipt confirmed)");
    }
    for _ in 0..args.count {
        let message = match messages.pop_front() {
            Some(message) => message,
            None => match conn.next_event(wait).await? {
                ClientEvent::Message(message) => message,
                other => return Err(format!("expected a MESSAGE, got {other:?}")),
            },
        };
        println!("received {:?}", String::from_utf8_lossy(message.body()));
        let now = conn.now();
        conn.client
            .ack(now, &message, None, Receipt::None)
            .map_err(|e| e.to_string())?;
        conn.flush().await?;
    }

    // Quiet time: only heart-beats cross, both ways, on poll_timeout's schedule.
    if args.idle > 0 {
        println!("idle for {} ms (heart-beats only)", args.idle);
        if let Some(event) = conn.poll(Duration::from_millis(args.idle)).await? {
            return Err(format!("unexpected event while idle: {event:?}"));
        }
    }

    let now = conn.now();
    let receipt = conn.client.disconnect(now).map_err(|e| e.to_string())?;
    conn.flush().await?;
    match conn.next_event(wait).await? {
        ClientEvent::Disconnected { receipt_id } if receipt_id == receipt => {
            println!("disconnected (receipt {receipt_id})");
            Ok(())
        }
        other => Err(format!("expected the DISCONNECT receipt, got {other:?}")),
    }
}

/// Waits for the RECEIPT with `id`, keeping messages that overtake it.
async fn await_receipt(
    conn: &mut Connection,
    id: Option<&str>,
    messages: &mut VecDeque<Message>,
    wait: Duration,
) -> Result<(), String> {
    let id = id.ok_or("no receipt id")?;
    loop {
        match conn.next_event(wait).await? {
            ClientEvent::Receipt { receipt_id, .. } if receipt_id == id => return Ok(()),
            ClientEvent::Message(message) => messages.push_back(message),
            other => return Err(format!("waiting for receipt {id}, got {other:?}")),
        }
    }
}
