//! The commands, one file each ([`steps`] holds what they share), and the dispatch.
//!
//! `main.rs` parses the arguments and calls [`run`], which dispatches to a command. A
//! command resolves its arguments ([`crate::cli`]), does its work through the layers below
//! (manifests, state, planner, live reads, apply) and decides what is shown, through the
//! [`Terminal`] only. Errors are rendered here, once.
//!
//! Commands reach the portal through their [`Context`]: the credentials in the
//! environment, or a client the caller configured (tests and benchmarks run the real
//! command path with a virtual clock or exact retries).
//!
//! Nothing below this module imports it.

pub mod apply;
pub mod drift;
pub mod import;
pub mod manuals;
pub mod plan;
pub mod schema;
pub mod show;
pub mod state;
mod steps;
pub mod validate;

pub use steps::{Context, Portal};

use crate::cli::{Cli, Command, StateCommand};
use crate::error::Error;
use crate::render::terminal::Terminal;

/// Runs one command and returns its exit code; errors are rendered here.
///
/// Commands that may take time take over SIGINT and SIGTERM ([`crate::interrupt`]): the
/// first stops them cleanly, with exit code 130 or 143 (whatever else went wrong), the
/// second at once.
pub fn run(cli: Cli, term: &Terminal) -> i32 {
    if !matches!(
        cli.command,
        Command::Schema(_) | Command::Completions(_) | Command::Man(_) | Command::Show(_)
    ) {
        crate::interrupt::install();
    }
    let ctx = Context {
        term,
        portal: Portal::Environment,
    };
    let result = match cli.command {
        Command::Validate(args) => validate::run(&args.resolve(), &ctx),
        Command::Plan(args) => plan::run(&args.resolve(), &ctx),
        Command::Apply(args) => apply::run(&args.resolve(), &ctx),
        Command::Drift(args) => drift::run(&args.resolve(), &ctx),
        Command::Import(args) => args
            .resolve()
            .map_err(Error::from)
            .and_then(|settings| import::run(&settings, &ctx)),
        Command::State(StateCommand::MovePortal(args)) => state::move_portal(&args.resolve(), &ctx),
        Command::Completions(args) => manuals::completions(args.shell, &ctx),
        Command::Man(args) => manuals::man(&args, &ctx),
        Command::Schema(args) => schema::run(args.kind, &ctx),
        Command::Show(args) => show::run(&args.plan, args.format, &ctx),
    };
    let signal = crate::interrupt::received();
    match (result, signal) {
        (Ok(code), None) => code,
        (Ok(_), Some(signal)) => {
            let code = signal.exit_code();
            term.message(
                "ERROR",
                &format!("stopped by {signal}\n"),
                serde_json::json!({ "exit_code": code }),
            );
            code
        }
        (Err(e), signal) => {
            let code = signal.map_or_else(|| e.exit_code(), crate::interrupt::Signal::exit_code);
            show_error(&e, code, term);
            code
        }
    }
}

/// An error on stderr: located diagnostics for manifests, otherwise its message, which
/// names its cause ([`crate::error`]: each cause is said once). With JSON messages,
/// one object a line: a diagnostic each, or the error.
fn show_error(e: &Error, code: i32, term: &Terminal) {
    match e {
        Error::Manifests(diags) if term.json_messages() => {
            term.err(&crate::render::diagnostics::json_lines(diags));
        }
        Error::Manifests(diags) => {
            term.err(&crate::render::diagnostics::render(
                diags,
                term.color_stderr(),
            ));
        }
        e => term.message(
            "ERROR",
            &format!("error: {e}\n"),
            serde_json::json!({ "exit_code": code }),
        ),
    }
}
