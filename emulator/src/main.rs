//! The `paysync-emulator` binary: serve an emulated Bitrix24 portal until Ctrl-C.
//!
//! Prints one line to stdout, `export PAYSYNC_WEBHOOK_URL=...`, so a shell can
//! `eval "$(paysync-emulator &)"`-style pick it up; logs each call (method name and
//! status only, never the webhook secret) to stderr at info level. `--rate` and
//! `--operating-limit`/`--operating-cost` turn the §9 limits on (over the seed's).

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use paysync_emulator::{EmulatorHandle, OperatingLimit, RateLimit, Seed};

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
    /// Leaky bucket: CAPACITY/DRAIN_PER_SEC (e.g. 50/2), `standard` or `enterprise`.
    #[arg(long, value_name = "CAP/DRAIN")]
    rate: Option<RateLimit>,
    /// Operating-time budget per (caller, method) over 10 minutes, in seconds [default: 480].
    #[arg(long, value_name = "SECS", value_parser = non_negative)]
    operating_limit: Option<f64>,
    /// Simulated execution time of each call, in seconds [default: 20].
    #[arg(long, value_name = "SECS", value_parser = non_negative)]
    operating_cost: Option<f64>,
}

fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!(
            "expected a non-negative number of seconds, got {text:?}"
        )),
    }
}

impl Args {
    /// Applies the limit flags over the seed's settings.
    fn apply_limits(&self, seed: &mut Seed) {
        if let Some(rate) = self.rate {
            seed.rate_limit = Some(rate);
        }
        if self.operating_limit.is_some() || self.operating_cost.is_some() {
            let base = seed.operating_limit.unwrap_or(OperatingLimit::DOCS_EXAMPLE);
            seed.operating_limit = Some(OperatingLimit {
                limit_secs: self.operating_limit.unwrap_or(base.limit_secs),
                cost_secs: self.operating_cost.unwrap_or(base.cost_secs),
            });
        }
    }
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
    let mut seed = match &args.seed {
        Some(path) => match Seed::from_path(path) {
            Ok(seed) => seed,
            Err(error) => {
                tracing::error!("{}", error_chain(&error));
                return ExitCode::from(2);
            }
        },
        None => Seed::demo(),
    };
    args.apply_limits(&mut seed);
    let limits = (seed.rate_limit, seed.operating_limit);
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
    if let Some(rate) = limits.0 {
        tracing::info!(%rate, "leaky bucket on (capacity/drain per second)");
    }
    if let Some(operating) = limits.1 {
        tracing::info!(
            limit_secs = operating.limit_secs,
            cost_secs = operating.cost_secs,
            "operating-time limit on"
        );
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
