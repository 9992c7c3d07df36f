//! The `paysync` binary: parse arguments, set up logging, run, exit with the code.
//!
//! Usage errors exit 64 (not clap's default 2, which means "changes present" for
//! `plan --detailed-exitcode`); `--help` and `--version` exit 0.

use paysync::cli::{Cli, LogFormat};
use paysync::error::exit;
use paysync::render::progress::LogWriter;
use paysync::render::terminal::{ProgressMode, Terminal};
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = match paysync::cli::parse() {
        Ok(cli) => cli,
        Err(e) => {
            if !e.use_stderr() {
                // --help, --version
                let _ = e.print();
                std::process::exit(exit::SUCCESS);
            }
            if json_logs_asked() {
                // Like every other stderr line with --log-format json: one JSON object.
                Terminal::new(true).with_json_messages(true).message(
                    "ERROR",
                    &e.render().to_string(),
                    serde_json::json!({ "exit_code": exit::USAGE }),
                );
            } else {
                let _ = e.print();
            }
            std::process::exit(exit::USAGE);
        }
    };
    let json_logs = cli.global.log_format == LogFormat::Json;
    let term = Terminal::new(cli.global.no_color)
        .with_progress(ProgressMode::choose(cli.global.quiet))
        .with_json_messages(json_logs);
    init_logging(&cli, &term);
    std::process::exit(paysync::run(cli, &term));
}

/// Whether the command line (or `PAYSYNC_LOG_FORMAT`) asks for JSON logs, read without
/// clap: for reporting a usage error clap could not parse past.
fn json_logs_asked() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let flag = args
        .windows(2)
        .any(|w| w[0] == "--log-format" && w[1] == "json")
        || args.iter().any(|a| a == "--log-format=json");
    flag || std::env::var("PAYSYNC_LOG_FORMAT").is_ok_and(|v| v == "json")
}

/// Logs go to stderr. `-q` errors only, default warnings and errors, `-v` info (a line
/// per batch, what was read and saved), `-vv` debug (each request: method, status, sizes,
/// time), `-vvv` trace; `RUST_LOG` overrides. Progress and the apply report are not logs:
/// they show at the default level (see `render::progress`). The HTTP stack's own crates are capped at `info` whatever is asked, because
/// at debug and trace they print request details (URLs carry the webhook code).
fn init_logging(cli: &Cli, term: &Terminal) {
    let level = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
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
