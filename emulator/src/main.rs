//! The `paysync-emulator` binary: serve an emulated Bitrix24 portal until Ctrl-C.
//!
//! Prints one line to stdout, `export PAYSYNC_WEBHOOK_URL=...`, so a shell can
//! `eval "$(paysync-emulator &)"`-style pick it up; logs each call (method name and
//! status only, never the webhook secret) to stderr at info level.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use paysync_emulator::{EmulatorHandle, Seed};

/// A local Bitrix24 portal (pay systems, settings, person types, batch) for paysync.
#[derive(Debug, Parser)]
#[command(name = "paysync-emulator", version)]
struct Args {
    /// Seed file (YAML, or JSON with a .json extension); the built-in demo portal if absent.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8099")]
    listen: SocketAddr,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let seed = match &args.seed {
        Some(path) => match Seed::from_path(path) {
            Ok(seed) => seed,
            Err(error) => {
                tracing::error!("{}", error_chain(&error));
                return ExitCode::from(2);
            }
        },
        None => Seed::demo(),
    };
    let portal = match EmulatorHandle::start_async(seed, args.listen).await {
        Ok(portal) => portal,
        Err(error) => {
            tracing::error!("cannot listen on {}: {error}", args.listen);
            return ExitCode::from(1);
        }
    };
    // main.rs is the one place that writes to stdout (STYLE.md convention 3).
    let mut stdout = std::io::stdout().lock();
    let announced = writeln!(
        stdout,
        "export PAYSYNC_WEBHOOK_URL={}",
        portal.webhook_url()
    )
    .and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(error) = announced {
        tracing::warn!("cannot write the webhook URL to stdout: {error}");
    }
    tracing::info!(addr = %portal.addr(), "emulator listening; Ctrl-C to stop");
    if let Err(error) = tokio::signal::ctrl_c().await {
        tracing::error!("cannot wait for Ctrl-C: {error}");
    }
    portal.shutdown();
    ExitCode::SUCCESS
}

/// `error: cause: cause` on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
