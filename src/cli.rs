//! Command-line arguments (clap derive) and their resolution into settings.
//!
//! Raw arguments live here; nothing in this module touches the network or the state.
//! Credentials never come from flags (SPEC §3): only from the environment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::bitrix::Rate;

/// Keep Bitrix24 pay-system settings in Git: plan and apply YAML manifests.
#[derive(Debug, Parser)]
#[command(name = "paysync", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 success (no changes with --detailed-exitcode), 1 error, \
2 changes present (plan --detailed-exitcode), 3 invalid input, 4 state locked, 5 saved plan \
stale, 6 partial apply, 7 drift found, 64 usage error, 130 interrupted (SIGINT), 143 terminated \
(SIGTERM).\n\nCredentials come from the environment: \
PAYSYNC_WEBHOOK_URL (incoming webhook) or PAYSYNC_PORTAL_URL + PAYSYNC_ACCESS_TOKEN (OAuth; \
add PAYSYNC_REFRESH_TOKEN, PAYSYNC_CLIENT_ID and PAYSYNC_CLIENT_SECRET to refresh an expired \
token, PAYSYNC_TOKEN_FILE to keep the rotated tokens, PAYSYNC_OAUTH_URL for another token \
endpoint). PAYSYNC_FINGERPRINT_KEY, a secret of your own, keys the secrets' fingerprints in \
the state and saved plans."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Never use colour (also when NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Log format on stderr: text for people, json (one object per line) for CI log
    /// collectors.
    #[arg(
        long,
        value_enum,
        global = true,
        default_value_t = LogFormat::Text,
        env = "PAYSYNC_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
}

/// How log lines on stderr are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `LEVEL message key=value`, coloured on a terminal.
    Text,
    /// One JSON object per line (timestamp, level, fields), never coloured.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check manifests (offline unless --live).
    Validate(ValidateArgs),
    /// Show what apply would change; offline unless --refresh.
    Plan(PlanArgs),
    /// Compute the plan, show it, apply it and record the new state.
    Apply(ApplyArgs),
    /// Print the manifest JSON Schema.
    Schema,
    /// Compare live settings with the last-applied state (read-only; for schedules).
    Drift(crate::drift::DriftArgs),
    /// Read live settings and write manifests (and optionally adopt them as state).
    Import(crate::import::ImportArgs),
    /// Work on the state file itself.
    #[command(subcommand)]
    State(StateCommand),
    /// Print a shell completion script.
    Completions(crate::render::manuals::CompletionsArgs),
    /// Print the man page (roff).
    Man,
}

/// `paysync state ...`.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Point the state file at the portal's new address, after the portal moved.
    MovePortal(MovePortalArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "When a portal moves, it answers with a redirect to its new address, which \
paysync never follows with credentials or settings. Set the credentials (PAYSYNC_WEBHOOK_URL, or \
PAYSYNC_PORTAL_URL and the token) to the new address, then run this command: it checks that the \
portal answers there with those credentials, records the new address in the state file (under the \
state lock, bumping the serial, so plans made before are refused as stale) and writes nothing to the \
portal."
)]
pub struct MovePortalArgs {
    /// The portal's new address, e.g. https://new.bitrix24.com (only the scheme, host and
    /// port are kept); the credentials in the environment must point at it.
    #[arg(value_name = "URL")]
    pub url: String,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub portal: PortalArgs,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files or directories (searched recursively for .yaml/.yml).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Also check the manifests against the portal (only reads): codes the pay system's
    /// handler declares, ENUM and Y/N values, pay systems and payer types.
    #[arg(long)]
    pub live: bool,
    #[command(flatten)]
    pub portal: PortalArgs,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// The state file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "paysync.state.json",
        env = "PAYSYNC_STATE"
    )]
    pub state: PathBuf,
}

#[derive(Debug, Args)]
pub struct PortalArgs {
    /// The portal's request-rate limit as CAPACITY/PER_SECOND: a burst of CAPACITY
    /// requests, then PER_SECOND per second (Bitrix24's leaky bucket). 50/2 fits every
    /// plan but Enterprise, which allows 250/5.
    #[arg(
        long,
        value_name = "CAPACITY/PER_SECOND",
        default_value = "50/2",
        env = "PAYSYNC_RATE"
    )]
    pub rate: Rate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: one line per setting.
    Text,
    /// Versioned, for programs (see the README).
    Json,
    /// For a pull-request comment.
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Manifest files or directories (searched recursively for .yaml/.yml).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub state: StateArgs,
    /// Read live settings from the portal and show changes made outside paysync.
    #[arg(long)]
    pub refresh: bool,
    #[command(flatten)]
    pub portal: PortalArgs,
    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also save the plan to FILE, for `apply --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when there are changes, 0 when there are none.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifest files or directories (searched recursively for .yaml/.yml).
    #[arg(value_name = "PATH", default_value = ".", conflicts_with = "plan")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub state: StateArgs,
    /// Read live settings first and also correct changes made outside paysync.
    #[arg(long, conflicts_with = "plan")]
    pub refresh: bool,
    #[command(flatten)]
    pub portal: PortalArgs,
    /// Output format of the plan shown before applying.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Apply exactly this saved plan (from `plan --out`) instead of reading manifests.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation (needed when not on a terminal).
    #[arg(long)]
    pub auto_approve: bool,
}
