//! The `paysync` binary: parse arguments, set up logging, run, exit with the code.
//!
//! Usage errors exit 64 (not clap's default 2, which means "changes present" for
//! `plan --detailed-exitcode`); `--help` and `--version` exit 0.

use clap::Parser;
use paysync::cli::{Cli, LogFormat};
use paysync::error::exit;
use paysync::render::progress::LogWriter;
use paysync::render::terminal::{ProgressMode, Terminal};
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let term = Terminal::new(cli.global.no_color).with_progress(ProgressMode::choose(
        cli.global.quiet,
        cli.global.log_format == LogFormat::Json,
    ));
    init_logging(&cli, &term);
    std::process::exit(paysync::run(cli, &term));
}

/// Logs go to stderr. `-q` errors only, default info, `-v` debug, `-vv` trace; `RUST_LOG`
/// overrides. The HTTP stack's own crates are capped at `info` whatever is asked, because
/// at debug and trace they print request details (URLs carry the webhook code).
fn init_logging(cli: &Cli, term: &Terminal) {
    let level = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let base = std::env::var("RUST_LOG").unwrap_or_else(|_| format!("warn,paysync={level}"));
    let filter = EnvFilter::builder().parse_lossy(format!(
        "{base},reqwest=info,hyper=info,hyper_util=info,h2=info,rustls=info,tower=info"
    ));
    // `LogWriter` is stderr with any progress bar suspended while a line is written.
    match cli.global.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(LogWriter)
            .with_ansi(term.color_stderr())
            .with_target(false)
            .without_time()
            .init(),
        // For log collectors: a timestamp, flattened fields, no colour.
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(filter)
            .with_writer(LogWriter)
            .with_ansi(false)
            .with_target(false)
            .init(),
    }
}
