//! The raw command line: every clap type of every command (their help is paysync's
//! `--help`). [`super::settings`] resolves them into what each command runs with.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

use crate::bitrix::Rate;
use crate::model::{Target, TargetRef};
use crate::state::StateLocation;

/// Keep Bitrix24 pay-system settings in Git: plan and apply YAML manifests.
#[derive(Debug, Parser)]
#[command(name = "paysync", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 success (no changes with --detailed-exitcode), 1 error, \
2 changes present (plan --detailed-exitcode), 3 invalid input, 4 state locked, 5 saved plan \
stale, 6 partial apply, 7 drift found, 8 not compared (plan --refresh or drift could not read some \
targets' live settings), 64 usage error, 130 interrupted (SIGINT), 143 terminated (SIGTERM).\n\nCredentials come from the environment (under --env, only \
through the variables the environment maps): PAYSYNC_WEBHOOK_URL (incoming webhook) or PAYSYNC_PORTAL_URL + PAYSYNC_ACCESS_TOKEN (OAuth; \
add PAYSYNC_REFRESH_TOKEN, PAYSYNC_CLIENT_ID and PAYSYNC_CLIENT_SECRET to refresh an expired \
token, PAYSYNC_TOKEN_FILE to keep the rotated tokens, PAYSYNC_OAUTH_URL for another token \
endpoint; `paysync auth refresh` renews them on demand). PAYSYNC_FINGERPRINT_KEY, a secret \
of your own, keys the secrets' fingerprints in the state and saved plans."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options every command takes, shown under their own heading ("Global options") after
/// each command's own.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// More log output on stderr: -v info (a line per batch), -vv debug (each request),
    /// -vvv trace. The default is warnings and errors. RUST_LOG overrides.
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
    /// The environment of the project file (paysync.yaml) to work on: its manifests,
    /// state, credentials and rate.
    #[arg(long = "env", value_name = "NAME", global = true, env = "PAYSYNC_ENV")]
    pub env: Option<String>,
    /// The project file (default: paysync.yaml in the current directory or the nearest
    /// parent).
    #[arg(long, value_name = "FILE", global = true)]
    pub project: Option<PathBuf>,
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
    /// Print a JSON Schema: of the manifests (default) or of an output document.
    Schema(SchemaArgs),
    /// Show a saved plan (from `plan --out`) in text, JSON or markdown. Reads the file only.
    Show(ShowArgs),
    /// Compare live settings with the last-applied state (read-only; for schedules).
    Drift(DriftArgs),
    /// Read live settings and write manifests (and optionally adopt them as state).
    Import(ImportArgs),
    /// Work on the state itself: show, copy, replace or unlock it, read its audit trail.
    #[command(subcommand)]
    State(StateCommand),
    /// The environments of the project file (paysync.yaml).
    #[command(subcommand)]
    Env(EnvCommand),
    /// OAuth tokens: refresh the pair on demand (for a scheduled job).
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the man page (roff), or one subcommand's, or write them all (--dir).
    Man(ManArgs),
}

/// `paysync env ...`.
#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// List the environments: sources, state, credentials' variables, protection.
    List,
}

/// `paysync auth ...`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Refresh the OAuth token pair now and save it to the token file
    /// (PAYSYNC_TOKEN_FILE), so that an idle integration keeps a working refresh token.
    Refresh(AuthRefreshArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Bitrix24 refresh tokens stop working 180 days after they were issued, and \
every refresh rotates them. A run that finds its access token expired refreshes on its own; an \
integration that runs rarely, or only plans offline, needs this command from a scheduled job \
(monthly is plenty; every run that connects warns once the stored refresh token is older than 150 \
days). It needs OAuth credentials that can refresh (PAYSYNC_PORTAL_URL, PAYSYNC_CLIENT_ID, \
PAYSYNC_CLIENT_SECRET and a refresh token) and PAYSYNC_TOKEN_FILE: the old refresh token stops \
working once the new one is issued, so the new pair is written there atomically (mode 0600). It \
sends one request to the token endpoint, none to the portal, and prints no token. Exit codes: 0 \
refreshed (or not due with --if-older-than), 1 refused, unreachable, not configured, or the token \
file could not be written."
)]
pub struct AuthRefreshArgs {
    /// Refresh only when the token file's refresh token is at least DAYS old (as the file
    /// records; a file that does not say is refreshed). Without it, always refresh.
    #[arg(long, value_name = "DAYS")]
    pub if_older_than: Option<u32>,
}

/// `paysync state ...`.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Point the state file at the portal's new address, after the portal moved.
    MovePortal(MovePortalArgs),
    /// Print the state as JSON (with what a stopped run recorded replayed over it).
    Pull(StateReadArgs),
    /// Replace the state with FILE (a pulled state, or an errored-state file a failed push
    /// left), under the lock.
    Push(StatePushArgs),
    /// Copy the state, with its lineage and serial, to another location (a committed file
    /// to S3 or GitLab, say).
    Migrate(StateMigrateArgs),
    /// List the targets and setting codes the state records.
    List(StateListArgs),
    /// Remove a lock a dead run left, if it is still held under LOCK_ID.
    Unlock(StateUnlockArgs),
    /// Show the audit trail: who applied what, and when (never a value).
    History(StateListArgs),
}

#[derive(Debug, Args)]
pub struct StateReadArgs {
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "The pushed state must be of the same lineage as the one it replaces, with a \
higher serial (a state pulled earlier and edited gets its serial bumped by push). --force skips \
both checks: DANGEROUS, it can replace a newer state or another portal's, and the next plan then \
compares against whatever FILE says."
)]
pub struct StatePushArgs {
    /// The state to push (JSON, as `state pull` prints it).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Push even when FILE is of another lineage or not newer (dangerous, see below).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "The destination must hold no state yet. The source is left as it was; remove it once the \
destination is in use (point `state:` in paysync.yaml or --state at it)."
)]
pub struct StateMigrateArgs {
    /// Where the state goes: a file, s3://BUCKET/KEY or an https:// state address.
    #[arg(long, value_name = "LOCATION", value_parser = parse_location)]
    pub to: StateLocation,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// How `state list` and `state history` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct StateListArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "A run that finds the state locked names the holder and its lock ID. An S3 \
lock whose holder died is taken over by the next run once its lease runs out; a GitLab \
(HTTP backend) lock has no lease and stays until it is removed here. Remove a lock only when \
its holder is dead: a run whose lock was removed can no longer write the state (its writes are \
refused), but what it sends to the portal meanwhile is not recorded."
)]
pub struct StateUnlockArgs {
    /// The lock's ID, as the message of the run that found it names it.
    #[arg(value_name = "LOCK_ID")]
    pub id: String,
    #[command(flatten)]
    pub state: StateArgs,
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
    #[command(flatten)]
    pub lock: LockArgs,
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
    /// Also prove that every secret the manifests reference resolves (every source,
    /// `exec:` commands included), naming each that does not; nothing is sent to the
    /// portal and no value is shown.
    #[arg(long)]
    pub secrets: bool,
    #[command(flatten)]
    pub portal: PortalArgs,
    /// How problems are reported: text on stderr for people; json (one document on
    /// stdout) for programs; github (workflow commands on stdout, shown inline on the
    /// pull request's diff).
    #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
    pub format: ValidateFormat,
}

/// Output formats of `paysync validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// Located diagnostics with the line and a caret, on stderr.
    Text,
    /// One JSON document on stdout: valid or not, and every diagnostic.
    Json,
    /// GitHub Actions workflow commands (`::error file=…,line=…,col=…::…`) on stdout.
    Github,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// Where the state is: a file, s3://BUCKET/KEY (an S3-compatible store) or an https://
    /// address of a Terraform-HTTP-backend service such as GitLab-managed state. Default:
    /// the selected environment's state; without one, PAYSYNC_STATE, else
    /// paysync.state.json. This flag overrides an environment's state (said in a
    /// warning); PAYSYNC_STATE does not.
    #[arg(long, value_name = "LOCATION", value_parser = parse_location)]
    pub state: Option<StateLocation>,
}

/// `--state`'s value.
fn parse_location(text: &str) -> Result<StateLocation, String> {
    StateLocation::parse(text).map_err(|e| e.reason)
}

/// How many requests a command keeps in flight.
#[derive(Debug, Args)]
pub struct ParallelismArgs {
    /// Keep up to K requests (batches of 50 targets: reads, and apply's writes) in flight
    /// at once, still within the portal's request bucket (--rate) and time budget; apply
    /// saves the state after each confirmed write, in whatever order they complete. 1
    /// sends them one after another.
    #[arg(
        long,
        value_name = "K",
        env = "PAYSYNC_PARALLELISM",
        default_value_t = crate::apply::DEFAULT_PARALLELISM,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64)
    )]
    pub parallelism: usize,
}

/// How long a command that writes the state waits for its lock.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// While another run holds the state's lock, wait up to DURATION for it (retrying with
    /// backoff), e.g. 30s or 5m; by default fail at once (exit 4) naming the holder.
    #[arg(long, value_name = "DURATION", env = "PAYSYNC_LOCK_TIMEOUT", value_parser = parse_duration, default_value = "0s")]
    pub lock_timeout: std::time::Duration,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (a duration such as 30s or 5m)"))
}

/// The state file without `--state`.
pub const DEFAULT_STATE: &str = "paysync.state.json";
/// The variable naming the state file when there is no environment.
pub const ENV_STATE: &str = "PAYSYNC_STATE";

#[derive(Debug, Args)]
pub struct PortalArgs {
    /// The portal's request-rate limit as CAPACITY/PER_SECOND: a burst of CAPACITY
    /// requests, then PER_SECOND per second (Bitrix24's leaky bucket). 50/2 fits every
    /// plan but Enterprise, which allows 250/5.
    /// Default 50/2, or the environment's `rate`.
    #[arg(long, value_name = "CAPACITY/PER_SECOND", env = "PAYSYNC_RATE")]
    pub rate: Option<Rate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: one line per setting.
    Text,
    /// Versioned, for programs (docs/json.md).
    Json,
    /// For a pull-request comment.
    Markdown,
}

/// What plan and apply share: the manifests, the state, the portal and the output format.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Manifest files or directories (searched recursively for .yaml/.yml).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub state: StateArgs,
    /// Read live settings from the portal and show (and, for apply, correct) changes made
    /// outside paysync.
    #[arg(long)]
    pub refresh: bool,
    #[command(flatten)]
    pub portal: PortalArgs,
    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Plan (and apply) only this target, repeatable: `11:1`, or a reference such as
    /// `xmlId:acme_card/1` or `xmlId:acme_card/fiz`; targets outside are left alone.
    #[arg(long = "target", value_name = "TARGET", value_parser = TargetRef::parse)]
    pub targets: Vec<TargetRef>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Also save the plan to FILE, for `apply --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when there are changes, 0 when there are none (8 when, with --refresh,
    /// some targets could not be compared: never 0 or 2 then).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also read secrets whose source runs a command (`exec:`), to check them. Without it
    /// a plan never runs a command, so a pull-request plan cannot make paysync run one.
    #[arg(long)]
    pub resolve_secrets: bool,
    /// Also write the plan as pull-request comments to DIR: 1.md, then 2.md, … for the
    /// details that do not fit in one (each at most 65,535 characters, the first as
    /// --format markdown prints it). The paysync Action posts and updates them.
    #[arg(long, value_name = "DIR")]
    pub comment_parts: Option<PathBuf>,
    #[command(flatten)]
    pub parallel: ParallelismArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Apply exactly this saved plan (from `plan --out`) instead of reading manifests.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["paths", "refresh"])]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation (needed when not on a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// After the writes, read back every written target (one batched settings.get per
    /// 50 targets) and report each code the portal does not hold as sent (exit 6).
    #[arg(long, env = "PAYSYNC_VERIFY")]
    pub verify: bool,
    #[command(flatten)]
    pub parallel: ParallelismArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// Arguments of `paysync schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema: of the manifests, of the project file, or of the JSON output of
    /// plan, drift, apply or validate.
    #[arg(value_enum, default_value_t = SchemaKind::Manifest)]
    pub kind: SchemaKind,
}

/// The JSON Schemas paysync publishes (committed under `schema/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// Manifest documents (`schema/paysync.schema.json`).
    Manifest,
    /// The project file, paysync.yaml (`schema/project.schema.json`).
    Project,
    /// The plan (`schema/plan.schema.json`), also embedded in saved plans.
    Plan,
    /// The drift report (`schema/drift.schema.json`).
    Drift,
    /// The apply result (`schema/apply.schema.json`).
    Apply,
    /// Validation output (`schema/validation.schema.json`).
    Validation,
    /// `state list --format json` (`schema/state-list.schema.json`).
    StateList,
    /// `state history --format json` (`schema/state-history.schema.json`).
    StateHistory,
}

impl SchemaKind {
    /// The committed file, relative to the repository root.
    pub fn file(self) -> &'static str {
        match self {
            SchemaKind::Manifest => "schema/paysync.schema.json",
            SchemaKind::Project => "schema/project.schema.json",
            SchemaKind::Plan => "schema/plan.schema.json",
            SchemaKind::Drift => "schema/drift.schema.json",
            SchemaKind::Apply => "schema/apply.schema.json",
            SchemaKind::Validation => "schema/validation.schema.json",
            SchemaKind::StateList => "schema/state-list.schema.json",
            SchemaKind::StateHistory => "schema/state-history.schema.json",
        }
    }
}

/// Arguments of `paysync show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The saved plan, as written by `plan --out FILE`.
    #[arg(value_name = "PLANFILE", required_unless_present = "rollup")]
    pub plan: Option<PathBuf>,
    /// Instead of one plan, the table of several environments' saved plans: environment,
    /// portal, changes, needs attention, result (the first comment of a pull request that
    /// plans several environments).
    #[arg(long, value_name = "PLANFILE", num_args = 0.., conflicts_with_all = ["plan", "comment_parts"])]
    pub rollup: Vec<PathBuf>,
    /// With --rollup: an environment whose plan failed (no saved plan), shown as such.
    #[arg(long, value_name = "ENV", requires = "rollup")]
    pub failed: Vec<String>,
    /// With --rollup: an environment still being planned, shown as such (the roll-up
    /// posted first, before the plans, and updated in place once they are made).
    #[arg(long, value_name = "ENV", requires = "rollup")]
    pub pending: Vec<String>,
    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the plan as pull-request comments to DIR/1.md, 2.md, … (as `plan
    /// --comment-parts`).
    #[arg(long, value_name = "DIR")]
    pub comment_parts: Option<PathBuf>,
}

/// Output formats of `paysync drift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriftFormat {
    /// For people: one line per drifted setting.
    Text,
    /// Versioned, for alerting (docs/json.md, docs/drift.md).
    Json,
    /// For an issue or an alert: what drifted, as a table (`<!-- paysync-drift -->`
    /// first, so that a job updates its own issue).
    Markdown,
}

/// Arguments of `paysync drift`.
#[derive(Debug, Args)]
#[command(
    after_help = "Compares the portal with the state file only (the settings paysync last applied); \
manifests are not read. Takes no lock, writes nothing, sends only reads.\n\nExit codes: 0 no drift, \
7 drift found, 8 some targets not compared (their live settings could not be read), 1 error."
)]
pub struct DriftArgs {
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub portal: PortalArgs,
    #[command(flatten)]
    pub parallel: ParallelismArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DriftFormat::Text)]
    pub format: DriftFormat,
}

/// Arguments of `paysync import`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("selection").required(true).multiple(true)
    .args(["pay_system", "target", "all"]))]
pub struct ImportArgs {
    /// Pay system to import; repeatable, paired by position with --person-type.
    #[arg(long = "pay-system", value_name = "ID", requires = "person_type")]
    pub pay_system: Vec<u64>,
    /// Payer type for the --pay-system at the same position (0 = the pay system's defaults).
    #[arg(long = "person-type", value_name = "ID", requires = "pay_system")]
    pub person_type: Vec<u64>,
    /// A target as PAY_SYSTEM:PERSON_TYPE (repeatable), e.g. `--target 11:1 --target 12:0`.
    #[arg(long, value_name = "PAY_SYSTEM:PERSON_TYPE", value_parser = parse_target)]
    pub target: Vec<Target>,
    /// Every pay system backed by a REST handler × personType 0 and every payer type
    /// (targets with nothing set are skipped), and the handlers and pay systems
    /// themselves (`PaySystemHandler`, `PaySystem` documents; settings name pay systems
    /// by XML_ID): the portal cloned to Git.
    #[arg(long, conflicts_with_all = ["pay_system", "person_type", "target"])]
    pub all: bool,
    /// Directory the manifests are written to (one file per pay system).
    #[arg(long, value_name = "DIR", default_value = "manifests")]
    pub out: PathBuf,
    /// Overwrite manifest files that already exist.
    #[arg(long)]
    pub force: bool,
    /// Also treat this setting code as a secret (repeatable).
    #[arg(long = "secret", value_name = "CODE")]
    pub secrets: Vec<String>,
    /// Write every value settings.get returns, also those inherited from the pay
    /// system's defaults or the handler's DEFAULT.
    #[arg(long)]
    pub include_inherited: bool,
    /// Also record the imported values as last-applied state, so the first plan is empty.
    #[arg(long)]
    pub adopt: bool,
    /// How a secret found is referenced in the manifests written: any source, with
    /// {paySystem}, {personType}, {code} and (under --env) {env} filled per setting, e.g.
    /// 'sops:secrets/{env}.enc.yaml#{paySystem}.{code}' or 'vault:secret/paysync/{paySystem}#{code}'.
    /// Default: env:PAYSYNC_PS{paySystem}_PT{personType}_{code}.
    #[arg(long, value_name = "TEMPLATE")]
    pub secret_ref_template: Option<String>,
    #[command(flatten)]
    pub parallel: ParallelismArgs,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub lock: LockArgs,
    #[command(flatten)]
    pub portal: PortalArgs,
    /// Name pay systems by `xmlId` (and payer types by `xmlId` or `code`) where the
    /// portal has them, so the manifests work on another portal too.
    #[arg(long)]
    pub portable: bool,
    /// The `$schema` written in each file's yaml-language-server header.
    #[arg(
        long,
        value_name = "PATH_OR_URL",
        default_value = "../schema/paysync.schema.json"
    )]
    pub schema_ref: String,
}

/// `PAY_SYSTEM:PERSON_TYPE`, for `import --target`.
pub(super) fn parse_target(text: &str) -> Result<Target, String> {
    let (ps, pt) = text
        .split_once(':')
        .ok_or_else(|| format!("expected PAY_SYSTEM:PERSON_TYPE, got {text:?}"))?;
    let number = |s: &str, what: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("{what} in {text:?} is not a non-negative integer"))
    };
    let pay_system = number(ps, "the pay system")?;
    if pay_system == 0 {
        return Err(format!("the pay system in {text:?} must be positive"));
    }
    Ok(Target {
        pay_system,
        person_type: number(pt, "the payer type")?,
    })
}

/// Arguments of `paysync completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `paysync man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Print the page of this subcommand instead of paysync's own, e.g. `plan` or
    /// `state move-portal`.
    #[arg(value_name = "SUBCOMMAND")]
    pub command: Vec<String>,
    /// Write every page into DIR (created if missing): paysync.1 and paysync-<command>.1
    /// for each subcommand, nested ones as paysync-state-move-portal.1.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
}
