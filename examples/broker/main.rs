//! The demo broker: STOMP 1.0/1.1/1.2 over TCP and over WebSocket, built only on the
//! crate's sans-IO server session, with the greeting web app.
//!
//! ```text
//! cargo run --release --example broker -- [--tcp 127.0.0.1:61613] [--ws 127.0.0.1:15674]
//!     [--login USER:PASS] [--heart-beat MS] [--max-frame BYTES] [--max-body BYTES]
//!     [--max-headers N] [--max-header-line BYTES]
//!     [--relay HOST:PORT [--relay-login USER] [--relay-passcode PASS] [--relay-host VHOST]
//!      [--relay-heart-beat MS]]
//! ```
//!
//! - `/topic/NAME` fans out to every subscriber; `/queue/NAME` hands each message to one
//!   subscriber, round robin, with `auto`, `client` and `client-individual` acks, NACK and
//!   redelivery (`redelivered:true`) when a consumer leaves with messages unacknowledged.
//! - A SEND to `/app/hello` with `{"name": "..."}` is answered by the greeting app with
//!   `{"content": "Hello, <name>!"}` on `/topic/greetings`.
//! - `http://127.0.0.1:15674/` serves the greeting page, which uses `@stomp/stompjs` (run
//!   `npm install @stomp/stompjs` in the repository root first, or set `STOMPJS_PATH`).
//!
//! With `--relay`, broker destinations live on an upstream STOMP broker (RabbitMQ) instead:
//! see `relay.rs` and the README's "Scaling out with a broker relay".
//!
//! Modules: `broker` (the core: destinations, acks, transactions; no runtime), `greeting`
//! (the `/app/hello` handler), `connection` (one session per connection, driven by a tokio
//! task), `websocket` (HTTP on the WebSocket port: page, upgrade, subprotocols), `listen`
//! (ports, accept loops, shutdown), `relay` (the broker relay).

mod broker;
mod connection;
mod greeting;
mod listen;
mod relay;
mod websocket;

use std::process::ExitCode;
use std::time::Duration;

use stomp_proto::Limits;

use crate::listen::Config;
use crate::relay::{Relay, RelayConfig};

const USAGE: &str = "\
usage: broker [--tcp ADDR] [--ws ADDR] [--login USER:PASS] [--heart-beat MS]
              [--max-frame BYTES] [--max-body BYTES] [--max-headers N] [--max-header-line BYTES]
              [--delivery-backlog N] [--write-timeout MS]
              [--relay HOST:PORT [--relay-login USER] [--relay-passcode PASS]
               [--relay-host VHOST] [--relay-heart-beat MS]]

  --tcp ADDR          STOMP over TCP (default 127.0.0.1:61613; port 0 picks one)
  --ws ADDR           STOMP over WebSocket and the greeting page (default 127.0.0.1:15674)
  --login USER:PASS   accept only this login (default: any login)
  --heart-beat MS     the server's heart-beat offer, both ways (default 10000; 0: none)
  --max-frame BYTES   largest frame (default 4 MiB + 64 KiB)
  --max-body BYTES    largest body (default 4 MiB)
  --max-headers N     most headers in a frame (default 100)
  --max-header-line BYTES  longest header line (default 8 KiB)
  --delivery-backlog N  messages that may wait for one connection (default 1024); past that
                      a topic subscriber is disconnected as too slow, queue messages wait
                      in their queue
  --write-timeout MS  give up a connection whose client takes longer to take one write
                      (default 30000)
  --relay HOST:PORT   relay /topic/ and /queue/ destinations to this STOMP broker (RabbitMQ)
                      instead of the in-memory broker; /app/ stays here
  --relay-login USER  upstream login (default guest)
  --relay-passcode PASS  upstream passcode (default guest)
  --relay-host VHOST  upstream virtual host (default /)
  --relay-heart-beat MS  heart-beats with the upstream broker, both ways (default 10000)";

fn parse_args() -> Result<(Config, Option<RelayConfig>), String> {
    let mut config = Config::default();
    let mut relay: Option<String> = None;
    let mut relay_config = RelayConfig::new("");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let number = |text: String| {
            text.parse::<usize>()
                .map_err(|e| format!("{flag}: {text:?}: {e}"))
        };
        match flag.as_str() {
            "--tcp" => config.tcp = value()?,
            "--ws" => config.ws = value()?,
            "--login" => {
                let text = value()?;
                let (user, pass) = text.split_once(':').ok_or("--login takes USER:PASS")?;
                config.login = Some((user.to_owned(), pass.to_owned()));
            }
            "--heart-beat" => {
                let text = value()?;
                config.heart_beat_ms = text
                    .parse()
                    .map_err(|e| format!("--heart-beat: {text:?}: {e}"))?;
            }
            "--max-frame" => config.limits.max_frame_len = number(value()?)?,
            "--max-body" => config.limits.max_body_len = number(value()?)?,
            "--max-headers" => config.limits.max_headers = number(value()?)?,
            "--max-header-line" => config.limits.max_header_line_len = number(value()?)?,
            "--delivery-backlog" => config.delivery_backlog = number(value()?)?,
            "--write-timeout" => {
                config.write_timeout = Duration::from_millis(number(value()?)? as u64)
            }
            "--relay" => relay = Some(value()?),
            "--relay-login" => relay_config.login = value()?,
            "--relay-passcode" => relay_config.passcode = value()?,
            "--relay-host" => relay_config.host = value()?,
            "--relay-heart-beat" => {
                let text = value()?;
                relay_config.heart_beat_ms = text
                    .parse()
                    .map_err(|e| format!("--relay-heart-beat: {text:?}: {e}"))?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let relay = relay.map(|addr| RelayConfig {
        addr,
        ..relay_config
    });
    Ok((config, relay))
}

fn main() -> ExitCode {
    let (config, relay) = match parse_args() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, relay)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut config: Config, relay: Option<RelayConfig>) -> std::io::Result<()> {
    let relay_addr = relay.as_ref().map(|r| r.addr.clone());
    if let Some(relay) = relay {
        config.upstream = Some(Relay::start(relay));
    }
    let login = config.login.clone();
    let limits: Limits = config.limits;
    let running = listen::start(config).await?;
    println!("stomp-proto demo broker");
    println!("  STOMP over TCP:       {}", running.tcp_addr);
    println!(
        "  STOMP over WebSocket: ws://{}/ws (subprotocols v12.stomp, v11.stomp, v10.stomp)",
        running.ws_addr
    );
    println!("  greeting page:        http://{}/", running.ws_addr);
    match websocket::find_stompjs() {
        Some(path) => println!("  stompjs bundle:       {}", path.display()),
        None => println!(
            "  stompjs bundle:       not found; run `npm install @stomp/stompjs` in the \
             repository root (or set STOMPJS_PATH) for the page to work"
        ),
    }
    match &login {
        Some((user, _)) => println!("  login:                only {user:?} with its passcode"),
        None => println!("  login:                any"),
    }
    match &relay_addr {
        Some(addr) => println!(
            "  destinations:         relayed to the STOMP broker at {addr} (/app/ handled here)"
        ),
        None => println!("  destinations:         in memory"),
    }
    println!(
        "  limits:               frame {} B, body {} B, {} headers, header line {} B",
        limits.max_frame_len, limits.max_body_len, limits.max_headers, limits.max_header_line_len
    );
    println!(
        "try: cargo run --example client -- --addr {} --destination /queue/demo",
        running.tcp_addr
    );
    println!("Ctrl-C stops the broker.");
    tokio::signal::ctrl_c().await?;
    println!("shutting down: closing sessions");
    running.shutdown(Duration::from_secs(5)).await;
    println!("bye");
    Ok(())
}
