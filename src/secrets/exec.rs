//! `exec:NAME` (or `exec:NAME#ARGUMENT`): a secret a command declared in `paysync.yaml`
//! answers, never one a manifest names: `secrets: { exec: { NAME: { command: [...],
//! timeout: 10s } } }`. The bridge to 1Password, cloud secret managers and anything else,
//! by the convention of kubectl credential plugins and git credential helpers.
//!
//! Protocol: the command (argv only, no shell) gets one JSON request on stdin,
//! `{"reference": "exec:NAME#ARGUMENT", "name": NAME, "argument": ARGUMENT or null,
//! "environment": the --env name or null, "portal": the pinned portal or null}`, and
//! answers `{"value": "..."}` on stdout (at most 1 MiB) before its timeout (default
//! 10 s), exit code 0. A non-zero exit is an error showing its stderr, scrubbed and
//! bounded; a hang past the timeout kills it. A command never runs for a pull-request
//! plan: `exec:` is read by `apply`, and by `plan` only with `--resolve-secrets`.

use std::time::Duration;

use super::command::{self, RunError};
use super::redacted::Redacted;

/// The timeout of a command that declares none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read, in bytes.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// A command declared in `paysync.yaml`'s `secrets.exec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    /// The program and its arguments.
    pub argv: Vec<String>,
    pub timeout: Duration,
}

/// What a run asks its commands in: the declared commands, the environment and its
/// pinned portal.
#[derive(Debug, Clone, Default)]
pub struct ExecContext {
    pub commands: std::sync::Arc<std::collections::BTreeMap<String, ExecCommand>>,
    pub environment: Option<String>,
    pub portal: Option<String>,
}

/// Why an `exec:` secret could not be read. Never carries a value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("secret {reference}: {message}")]
pub struct ExecError {
    pub reference: String,
    pub message: String,
}

/// Asks the command `name` for the secret `reference` (with `argument`).
pub(super) fn ask(
    context: &ExecContext,
    reference: &str,
    name: &str,
    argument: Option<&str>,
) -> Result<Redacted<String>, ExecError> {
    let fail = |message: String| ExecError {
        reference: reference.to_owned(),
        message,
    };
    let Some(declared) = context.commands.get(name) else {
        let known: Vec<&str> = context.commands.keys().map(String::as_str).collect();
        return Err(fail(format!(
            "no command {name:?} is declared in paysync.yaml's `secrets.exec`{}",
            crate::wording::did_you_mean(name, known.iter().copied())
        )));
    };
    let (program, args) = declared
        .argv
        .split_first()
        .ok_or_else(|| fail("its command is empty".to_owned()))?;
    let request = serde_json::json!({
        "reference": reference,
        "name": name,
        "argument": argument,
        "environment": context.environment,
        "portal": context.portal,
    });
    let mut command = tokio::process::Command::new(program);
    command.args(args);
    let finished = command::run(
        command,
        Some(request.to_string().into_bytes()),
        declared.timeout,
        MAX_ANSWER_BYTES,
    )
    .map_err(|e| {
        fail(match e {
            RunError::Timeout { .. } => format!(
                "the command {program:?} did not answer within {}; it was stopped",
                humantime::format_duration(declared.timeout)
            ),
            other => other.to_string(),
        })
    })?;
    if !finished.success {
        return Err(fail(format!(
            "the command {program:?} exited with {}: {}",
            finished
                .code
                .map_or("a signal".to_owned(), |c| format!("code {c}")),
            command::stderr_text(&finished.stderr)
        )));
    }
    let answer: serde_json::Value = serde_json::from_slice(&finished.stdout)
        .map_err(|_| fail(format!("the command {program:?} did not answer with JSON")))?;
    match answer.get("value") {
        Some(serde_json::Value::String(value)) => {
            crate::untrusted::remember_secret(value);
            Ok(Redacted::new(value.clone()))
        }
        _ => Err(fail(format!(
            "the command {program:?} answered without a text `value`"
        ))),
    }
}
