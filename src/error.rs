//! The program's operational errors and the one place that maps them to exit codes.
//!
//! User mistakes in manifests are [`Diagnostics`] (collected, located, all shown);
//! everything else is a typed variant.
//!
//! One convention for every error type of the crate: **a message is complete and names
//! its cause** (`cannot read state file X: permission denied`), on one line. So no error
//! returns from `source()` a cause its message already shows: wrappers are
//! `#[error(transparent)]`, and causes are plain fields (named `error`, not `source`,
//! which thiserror would make a source), never `#[source]`. An error is shown by
//! printing it, once ([`crate::commands`]).

use std::path::PathBuf;

use crate::bitrix::{ClientError, ConfigError, PortalError};
use crate::interrupt::Signal;
use crate::manifest::Diagnostics;
use crate::model::Target;
use crate::plan::saved::{SavedPlanError, Staleness};
use crate::secrets::Unresolved;
use crate::state::{StateError, StateLocation};
use crate::wording::plural;

/// Documented exit codes (docs/exit-codes.md, `paysync --help`).
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const CHANGES_PRESENT: i32 = 2;
    pub const INVALID_INPUT: i32 = 3;
    pub const LOCKED: i32 = 4;
    pub const STALE_PLAN: i32 = 5;
    pub const PARTIAL_APPLY: i32 = 6;
    pub const DRIFT_FOUND: i32 = 7;
    /// `plan --refresh` or `drift` could not compare some targets (their live settings
    /// could not be read): a gate never passes on what it did not compare.
    pub const NOT_COMPARED: i32 = 8;
    pub const USAGE: i32 = 64;
    /// Stopped by SIGINT (128 + 2).
    pub const INTERRUPTED: i32 = crate::interrupt::Signal::Interrupt.exit_code();
    /// Stopped by SIGTERM (128 + 15).
    pub const TERMINATED: i32 = crate::interrupt::Signal::Terminate.exit_code();
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    AuthRefresh(#[from] AuthRefreshError),
    #[error("{0}")]
    Manifests(Diagnostics),
    /// The command line and the project file do not fit together (no `--env` where the
    /// project has environments, an unknown environment, a PATH or `--target` that
    /// matches nothing, ...): a usage error.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// Apply wrote the others, but left these out: their answers could not be read.
    #[error(
        "{} not written: the portal's answer for {} could not be read ({}; see the warning above); \
         the other targets were applied",
        plural(targets.len(), "target"),
        if targets.len() == 1 { "it" } else { "them" },
        targets.join(", ")
    )]
    NotWritten { targets: Vec<String> },
    /// `plan --refresh` or `drift` could not read the live settings of these targets, so
    /// they were not compared (the output above says which, and why).
    #[error(
        "{} not compared: the portal's answer for {} could not be read ({}; see above); \
         the comparison is incomplete",
        plural(targets.len(), "target"),
        if targets.len() == 1 { "it" } else { "them" },
        targets.join(", ")
    )]
    NotCompared { targets: Vec<String> },
    /// `apply --verify` found written codes the portal does not hold as sent.
    #[error(
        "{} not kept by the portal as sent (see above); apply is incomplete",
        plural(*codes, "setting")
    )]
    NotKept { codes: usize },
    /// `import` of a target whose answer cannot be read.
    #[error("cannot import {target}: the portal's answer cannot be read ({why})")]
    UnreadableTarget {
        target: crate::model::Target,
        why: String,
    },
    /// `apply` without `--plan` in a protected environment.
    #[error(
        "environment {env} is protected: apply a reviewed saved plan (`paysync plan --env {env} \
         --out plan.json`, then `paysync apply --env {env} --plan plan.json`); nothing was sent"
    )]
    Protected { env: String },
    /// A saved plan made for another environment (or portal).
    #[error(
        "saved plan {} was made for {}, not {}: plan again for it; nothing was sent",
        path.display(),
        describe_env(planned.as_deref()),
        describe_env(current.as_deref())
    )]
    OtherEnvironment {
        path: PathBuf,
        planned: Option<String>,
        current: Option<String>,
    },
    /// A saved plan made for another portal than the credentials point at.
    #[error(
        "saved plan {} was made for the portal {planned}, but the credentials ({variable}) \
         point at {portal}: plan again against that portal; nothing was sent",
        path.display()
    )]
    PlanForOtherPortal {
        path: PathBuf,
        planned: String,
        portal: String,
        variable: String,
    },
    #[error(transparent)]
    Objects(Box<crate::apply::objects::ObjectError>),
    /// Objects written whose fields the portal did not keep.
    #[error(
        "the portal did not keep {fields} field(s) of the handlers and pay systems written; \
         they are planned again"
    )]
    ObjectsNotKept { fields: usize },
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{}", secrets_message(.0))]
    Secrets(Vec<Unresolved>),
    /// `plan` found secrets set but empty: the plan is shown, but apply would refuse it.
    #[error(
        "{} {} empty: {}; apply sends nothing while a secret it needs is empty. Set {}, or \
         write a literal `value: \"\"` to clear a key on purpose",
        plural(references.len(), "secret"),
        if references.len() == 1 { "is" } else { "are" },
        references.join(", "),
        if references.len() == 1 { "it" } else { "them" }
    )]
    EmptySecrets { references: Vec<String> },
    /// `state move-portal URL` with credentials that point elsewhere.
    #[error(
        "the credentials ({variable}) point at {credentials}, not at {requested}: set them to \
         the portal's new address first, then run `paysync state move-portal` again"
    )]
    CredentialsElsewhere {
        requested: String,
        credentials: String,
        variable: String,
    },
    /// A command that works on recorded state (drift, state move-portal) found none.
    #[error(
        "there is no state file {state}: nothing has been applied with it, so there is \
         nothing to {needed_for} (check --state or PAYSYNC_STATE)"
    )]
    NoStateFile {
        state: StateLocation,
        needed_for: StateNeededFor,
    },
    /// The new portal did not answer a read with the credentials.
    #[error("the portal at {portal} did not answer with these credentials: {error}")]
    NotAnswering { portal: String, error: ClientError },
    /// `state push` or `state migrate` refused: the message says why and what to do.
    #[error("{message}")]
    StateTool { message: String },
    #[error(transparent)]
    SavedPlan(#[from] SavedPlanError),
    #[error("saved plan {} is stale: {reason}; run `paysync plan --out` again", path.display())]
    StalePlan { path: PathBuf, reason: Staleness },
    #[error(
        "apply needs confirmation: not on a terminal, so pass --auto-approve or apply a saved plan (--plan FILE)"
    )]
    NeedsApproval,
    #[error("apply cancelled; nothing was sent")]
    Cancelled,
    /// The state's (or the saved plan's) fingerprints are keyed and the key is not set;
    /// `variable` is where it is read from (`PAYSYNC_FINGERPRINT_KEY`, or the variable
    /// the environment maps it to).
    #[error(
        "this state's secret fingerprints are keyed with {variable}, which is not set (or \
         empty): set it to the key used before; nothing was sent to the portal"
    )]
    FingerprintKeyMissing { variable: String },
    /// SIGINT or SIGTERM stopped a command before it finished: nothing was written.
    #[error("stopped by {0} before it finished; nothing was written")]
    Interrupted(Signal),
    /// SIGINT or SIGTERM stopped an apply (the report says what was done).
    #[error(
        "apply stopped by {0}; the state records what the portal confirmed: re-run apply to \
         send the rest"
    )]
    ApplyInterrupted(Signal),
    #[error("cannot read live settings of {target}: {error}")]
    Refresh { target: Target, error: PortalError },
    /// The state could not be written during an apply (a full disk, a file-size limit):
    /// the run stopped sending.
    #[error(
        "apply stopped: {error}; {} confirmed by the portal but not recorded, so the next \
         plan shows {} again and the next apply re-sends {}",
        plural(*not_recorded, "target"),
        if *not_recorded == 1 { "it" } else { "them" },
        if *not_recorded == 1 { "it" } else { "them" }
    )]
    NotRecorded {
        error: StateError,
        not_recorded: usize,
    },
    #[error(
        "apply incomplete: {failed} of {total} targets not confirmed (failed, unknown or not \
         sent); the state records what the portal confirmed, re-run to retry the rest"
    )]
    PartialApply { failed: usize, total: usize },
    #[error("cannot write {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    /// Arguments clap accepted that do not go together.
    #[error(transparent)]
    Args(#[from] crate::cli::ArgsError),
}

/// The command line and the project file do not fit together (exit 64).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// `PAYSYNC_STATE` (used without an environment) names no state.
    #[error("PAYSYNC_STATE: {0}")]
    ExportedState(crate::state::LocationError),
    #[error("no project file (paysync.yaml in this directory or a parent, or --project FILE)")]
    NoProject,
    #[error(
        "--env {name}: no project file declares environments here (paysync.yaml in this \
         directory or a parent, or --project FILE)"
    )]
    EnvWithoutProject { name: String },
    #[error("{} has no environment {name:?}; it has: {names}", project.display())]
    UnknownEnvironment {
        project: PathBuf,
        name: String,
        names: String,
    },
    #[error(
        "{} declares environments ({names}): choose one with --env NAME (or PAYSYNC_ENV)",
        project.display()
    )]
    EnvironmentNeeded { project: PathBuf, names: String },
    /// A PATH given with `--env` outside the environment's sources.
    #[error(
        "{} is not among the environment's sources ({sources}): with --env, a PATH selects \
         targets of the environment's own manifests",
        path.display()
    )]
    OutsideSources { path: PathBuf, sources: String },
    /// `show --rollup` with nothing to show.
    #[error("show --rollup needs saved plans (or --failed ENV, --pending ENV) to tabulate")]
    EmptyRollup,
    /// `show --rollup --format json`: the roll-up is a table for people.
    #[error(
        "show --rollup writes text or markdown, not json: for JSON, show each plan with --format json"
    )]
    RollupAsJson,
    /// `--target` naming no target of the manifests or the state.
    #[error(transparent)]
    NoSuchTarget(#[from] crate::plan::scope::NoSuchTarget),
}

/// Why `paysync auth refresh` cannot do its job (exit 1). `variables` are named as read
/// (an environment's, under `--env`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthRefreshError {
    #[error(
        "auth refresh is for OAuth credentials; these are an incoming webhook ({variable}), \
         which has no token to refresh"
    )]
    Webhook { variable: String },
    #[error(
        "cannot refresh the OAuth tokens: set {refresh_token} (or a token file), {client_id} \
         and {client_secret}; nothing was sent"
    )]
    NotRefreshable {
        refresh_token: String,
        client_id: String,
        client_secret: String,
    },
    #[error(
        "auth refresh needs {token_file}: the refresh token rotates, so the new pair must be \
         saved (the old refresh token stops working once it is issued); nothing was sent"
    )]
    NoTokenFile { token_file: String },
    #[error(
        "refreshed the OAuth tokens, but cannot write the token file {file}: {error}; the old \
         refresh token no longer works, so the app must be re-authorised unless this is fixed \
         and a run refreshes within the hour"
    )]
    NotSaved { file: String, error: String },
}

impl From<crate::import::ReadFailure> for Error {
    fn from(e: crate::import::ReadFailure) -> Self {
        match e {
            crate::import::ReadFailure::Refused { target, error } => {
                Error::Refresh { target, error }
            }
            crate::import::ReadFailure::Unreadable { target, why } => Error::UnreadableTarget {
                target,
                why: crate::untrusted::escape_controls(&why).into_owned(),
            },
        }
    }
}

impl From<crate::live::LiveError> for Error {
    fn from(e: crate::live::LiveError) -> Error {
        match e {
            crate::live::LiveError::Client(error) => Error::Client(error),
            crate::live::LiveError::Manifests(diagnostics) => Error::Manifests(diagnostics),
            crate::live::LiveError::Refused { target, error } => Error::Refresh { target, error },
        }
    }
}

/// What a command needed the state file for ([`Error::NoStateFile`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateNeededFor {
    /// `paysync drift`: the recorded settings to compare the portal with.
    Drift,
    /// `paysync state move-portal`: the state to re-point.
    MovePortal,
    /// `paysync state pull`, `list`: the state to show.
    Show,
    /// `paysync state migrate`: the state to copy.
    Migrate,
}

impl std::fmt::Display for StateNeededFor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StateNeededFor::Drift => "compare",
            StateNeededFor::MovePortal => "move",
            StateNeededFor::Show => "show",
            StateNeededFor::Migrate => "migrate",
        })
    }
}

fn secrets_message(errors: &[Unresolved]) -> String {
    let mut s = format!(
        "{} could not be resolved; nothing was sent to the portal:",
        plural(errors.len(), "secret")
    );
    for e in errors {
        s.push_str("\n  - ");
        s.push_str(&e.to_string());
    }
    s
}

impl Error {
    /// The exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Manifests(_) | Error::SavedPlan(_) => exit::INVALID_INPUT,
            Error::State(StateError::Locked { .. }) => exit::LOCKED,
            Error::StalePlan { .. } => exit::STALE_PLAN,
            Error::PartialApply { .. }
            | Error::NotWritten { .. }
            | Error::NotKept { .. }
            | Error::NotRecorded { .. } => exit::PARTIAL_APPLY,
            Error::Args(_) | Error::Usage(_) => exit::USAGE,
            Error::NotCompared { .. } => exit::NOT_COMPARED,
            Error::Interrupted(signal) | Error::ApplyInterrupted(signal) => signal.exit_code(),
            _ => exit::ERROR,
        }
    }
}

fn describe_env(env: Option<&str>) -> String {
    match env {
        Some(name) => format!("environment {name}"),
        None => "no environment".to_owned(),
    }
}

impl From<crate::apply::objects::ObjectError> for Error {
    fn from(error: crate::apply::objects::ObjectError) -> Error {
        Error::Objects(Box::new(error))
    }
}
