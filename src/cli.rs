//! Command-line arguments (clap derive) and their resolution into settings.
//!
//! Every clap type of every command lives here (raw arguments); each command's arguments
//! resolve, in one step (`resolve`), into the settings its command runs with
//! ([`Inputs`] is what plan and apply share). Nothing in this module touches the network
//! or the state. Credentials never come from flags (SPEC §3): only from the environment.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

use crate::bitrix::Rate;
use crate::model::{Target, TargetRef};
use crate::project::Environment;
use crate::state::StateLocation;
use crate::wording::plural;

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
    /// Work on the state file itself.
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
    /// The state file (default: the environment's with --env; else PAYSYNC_STATE, else
    /// paysync.state.json). Under --env, --state overrides the environment's state file
    /// (said in a warning); PAYSYNC_STATE does not.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

/// The state file without `--state`.
pub const DEFAULT_STATE: &str = "paysync.state.json";
/// The variable naming the state file when there is no environment.
pub const ENV_STATE: &str = "PAYSYNC_STATE";

impl StateArgs {
    /// `--state`; else the environment's; else, without an environment, `PAYSYNC_STATE`
    /// or [`DEFAULT_STATE`]. An environment's state is its own: an exported
    /// `PAYSYNC_STATE` (another environment's, say) never replaces it.
    pub fn location(&self, env: Option<&Environment>) -> StateLocation {
        self.location_from(env, std::env::var_os(ENV_STATE))
    }

    fn location_from(
        &self,
        env: Option<&Environment>,
        exported: Option<std::ffi::OsString>,
    ) -> StateLocation {
        let exported = exported.filter(|v| !v.is_empty()).map(PathBuf::from);
        match (&self.state, env) {
            (Some(given), _) => StateLocation::parse(given.clone()),
            (None, Some(e)) => e.state.clone(),
            (None, None) => {
                StateLocation::parse(exported.unwrap_or_else(|| PathBuf::from(DEFAULT_STATE)))
            }
        }
    }

    /// What to tell the user about the state file chosen under an environment: `--state`
    /// replacing the environment's (an explicit override, named in the output), or an
    /// exported `PAYSYNC_STATE` that is not used.
    pub fn notes(&self, env: Option<&Environment>) -> Vec<String> {
        self.notes_from(env, std::env::var_os(ENV_STATE))
    }

    /// [`StateArgs::notes`], logged (for the commands that show no plan).
    pub fn log_notes(&self, env: Option<&Environment>) {
        for note in self.notes(env) {
            tracing::warn!("{note}");
        }
    }

    fn notes_from(
        &self,
        env: Option<&Environment>,
        exported: Option<std::ffi::OsString>,
    ) -> Vec<String> {
        let Some(env) = env else {
            return Vec::new();
        };
        let mut notes = Vec::new();
        if let Some(given) = self
            .state
            .as_ref()
            .filter(|given| StateLocation::parse((*given).clone()) != env.state)
        {
            notes.push(format!(
                "--state {} replaces environment {}'s state file {}",
                given.display(),
                env.name,
                env.state
            ));
        }
        if let Some(exported) = exported
            .filter(|v| !v.is_empty())
            .filter(|v| StateLocation::parse(PathBuf::from(v)) != env.state)
        {
            notes.push(format!(
                "{ENV_STATE}={} is not used: environment {} keeps its state in {} (--state \
                 FILE overrides it)",
                Path::new(&exported).display(),
                env.name,
                env.state
            ));
        }
        notes
    }
}

#[derive(Debug, Args)]
pub struct PortalArgs {
    /// The portal's request-rate limit as CAPACITY/PER_SECOND: a burst of CAPACITY
    /// requests, then PER_SECOND per second (Bitrix24's leaky bucket). 50/2 fits every
    /// plan but Enterprise, which allows 250/5.
    /// Default 50/2, or the environment's `rate`.
    #[arg(long, value_name = "CAPACITY/PER_SECOND", env = "PAYSYNC_RATE")]
    pub rate: Option<Rate>,
}

impl PortalArgs {
    /// `--rate`, else the environment's, else 50/2.
    pub fn rate(&self, env: Option<&Environment>) -> Rate {
        self.rate
            .or_else(|| env.and_then(|e| e.rate))
            .unwrap_or_default()
    }
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
    /// Send up to K write requests (batches of 50 targets) at once, still within the
    /// portal's request bucket (--rate) and time budget; the state is saved after each
    /// confirmed one, in whatever order they complete. 1 sends them one after another.
    #[arg(
        long,
        value_name = "K",
        env = "PAYSYNC_PARALLELISM",
        default_value_t = crate::apply::DEFAULT_PARALLELISM,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64)
    )]
    pub parallelism: usize,
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
        }
    }
}

/// Arguments of `paysync show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The saved plan, as written by `plan --out FILE`.
    #[arg(value_name = "PLANFILE")]
    pub plan: PathBuf,
    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Output formats of `paysync drift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriftFormat {
    /// For people: one line per drifted setting.
    Text,
    /// Versioned, for alerting (see the README).
    Json,
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
    /// Every pay system backed by a REST handler × personType 0 and every payer type;
    /// targets with nothing set are skipped.
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
    #[command(flatten)]
    pub state: StateArgs,
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
fn parse_target(text: &str) -> Result<Target, String> {
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
#[command(
    after_help = "Examples:\n  paysync completions bash > ~/.local/share/bash-completion/completions/paysync\n  \
paysync completions zsh > \"${fpath[1]}/_paysync\"\n  \
paysync completions fish > ~/.config/fish/completions/paysync.fish"
)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `paysync man`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  paysync man > paysync.1 && man ./paysync.1\n  \
paysync man state move-portal | man -l -\n  \
paysync man --dir ~/.local/share/man/man1    # paysync.1, paysync-plan.1, ..."
)]
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

// ---- Resolved settings ----

/// What plan and apply run with, resolved from [`InputArgs`].
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub paths: Vec<PathBuf>,
    /// Whether each path is a source of its own, later ones patching earlier ones (an
    /// environment's `sources`); otherwise all paths are one source.
    pub layered: bool,
    /// PATHs given with `--env`: only the targets their documents declare, from the
    /// environment's layered sources (`paths`).
    pub subset: Option<Vec<PathBuf>>,
    pub state: StateLocation,
    /// What to say about the state file chosen ([`StateArgs::notes`]).
    pub notes: Vec<String>,
    pub refresh: bool,
    pub rate: Rate,
    pub format: Format,
    /// `--target`: only these targets (empty: all).
    pub targets: Vec<TargetRef>,
    /// The environment (`--env`), when there is one.
    pub environment: Option<String>,
}

impl InputArgs {
    /// The inputs, in `env` when one is selected: its sources (PATHs select a subset of
    /// their targets), its state unless `--state`, its rate unless `--rate`.
    pub fn resolve(&self, env: Option<&Environment>) -> Inputs {
        let (paths, layered, subset) = sources(&self.paths, env);
        Inputs {
            paths,
            layered,
            subset,
            state: self.state.location(env),
            notes: self.state.notes(env),
            refresh: self.refresh,
            rate: self.portal.rate(env),
            format: self.format,
            targets: self.targets.clone(),
            environment: env.map(|e| e.name.clone()),
        }
    }
}

/// The manifest sources: an environment's, layered, with the PATHs given (if any) as the
/// subset to plan; without an environment, the PATHs as one source.
fn sources(
    given: &[PathBuf],
    env: Option<&Environment>,
) -> (Vec<PathBuf>, bool, Option<Vec<PathBuf>>) {
    let default_paths = given == [PathBuf::from(".")];
    match env {
        Some(e) if default_paths => (e.sources.clone(), true, None),
        Some(e) => (e.sources.clone(), true, Some(given.to_vec())),
        None => (given.to_vec(), false, None),
    }
}

/// `paysync plan`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSettings {
    pub inputs: Inputs,
    pub out: Option<PathBuf>,
    pub detailed_exitcode: bool,
}

impl PlanArgs {
    pub fn resolve(&self, env: Option<&Environment>) -> PlanSettings {
        PlanSettings {
            inputs: self.inputs.resolve(env),
            out: self.out.clone(),
            detailed_exitcode: self.detailed_exitcode,
        }
    }
}

/// `paysync apply`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplySettings {
    pub inputs: Inputs,
    /// A saved plan to apply instead of the manifests.
    pub plan: Option<PathBuf>,
    pub auto_approve: bool,
    /// The environment is `protected`: apply only from a saved plan.
    pub protected: bool,
    /// Read back what was written and compare.
    pub verify: bool,
    /// Write requests in flight at once (`--parallelism`, at least 1).
    pub parallelism: usize,
}

impl ApplyArgs {
    pub fn resolve(&self, env: Option<&Environment>) -> ApplySettings {
        ApplySettings {
            inputs: self.inputs.resolve(env),
            plan: self.plan.clone(),
            auto_approve: self.auto_approve,
            protected: env.is_some_and(|e| e.protected),
            verify: self.verify,
            parallelism: self.parallelism,
        }
    }
}

/// `paysync validate`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidateSettings {
    pub paths: Vec<PathBuf>,
    /// See [`Inputs::layered`].
    pub layered: bool,
    /// See [`Inputs::subset`].
    pub subset: Option<Vec<PathBuf>>,
    pub live: bool,
    pub rate: Rate,
    pub format: ValidateFormat,
    pub environment: Option<String>,
}

impl ValidateArgs {
    pub fn resolve(&self, env: Option<&Environment>) -> ValidateSettings {
        let (paths, layered, subset) = sources(&self.paths, env);
        ValidateSettings {
            paths,
            layered,
            subset,
            live: self.live,
            rate: self.portal.rate(env),
            format: self.format,
            environment: env.map(|e| e.name.clone()),
        }
    }
}

/// `paysync drift`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftSettings {
    pub state: StateLocation,
    pub rate: Rate,
    pub format: DriftFormat,
    pub environment: Option<String>,
}

impl DriftArgs {
    pub fn resolve(&self, env: Option<&Environment>) -> DriftSettings {
        self.state.log_notes(env);
        DriftSettings {
            state: self.state.location(env),
            rate: self.portal.rate(env),
            format: self.format,
            environment: env.map(|e| e.name.clone()),
        }
    }
}

/// `paysync state move-portal`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct MovePortalSettings {
    /// The new address as given (checked by the command).
    pub url: String,
    pub state: StateLocation,
    pub rate: Rate,
}

impl MovePortalArgs {
    pub fn resolve(&self, env: Option<&Environment>) -> MovePortalSettings {
        self.state.log_notes(env);
        MovePortalSettings {
            url: self.url.clone(),
            state: self.state.location(env),
            rate: self.portal.rate(env),
        }
    }
}

/// Arguments clap accepts but that do not make sense together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error(
        "--pay-system was given {} and --person-type {}; give them in pairs (or use \
         --target PAY_SYSTEM:PERSON_TYPE)",
        plural(*pay_systems, "time"),
        plural(*person_types, "time")
    )]
    UnpairedTargets {
        pay_systems: usize,
        person_types: usize,
    },
    /// `paysync man NAME` for a command paysync does not have.
    #[error("paysync has no command `{name}`, so no page for it (see `paysync --help`)")]
    NoSuchCommand { name: String },
}

/// `paysync import`, resolved: the targets named (pairs and `--target`, in order).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSettings {
    pub targets: Vec<Target>,
    pub all: bool,
    pub out: PathBuf,
    pub force: bool,
    /// Setting codes also treated as secrets, upper-cased.
    pub secrets: Vec<String>,
    pub include_inherited: bool,
    pub adopt: bool,
    pub state: StateLocation,
    pub rate: Rate,
    pub schema_ref: String,
    /// Write `xmlId` references instead of IDs where the portal has them.
    pub portable: bool,
}

impl ImportArgs {
    pub fn resolve(&self, env: Option<&Environment>) -> Result<ImportSettings, ArgsError> {
        if self.pay_system.len() != self.person_type.len() {
            return Err(ArgsError::UnpairedTargets {
                pay_systems: self.pay_system.len(),
                person_types: self.person_type.len(),
            });
        }
        let mut targets: Vec<Target> = self
            .pay_system
            .iter()
            .zip(&self.person_type)
            .map(|(ps, pt)| Target {
                pay_system: *ps,
                person_type: *pt,
            })
            .collect();
        targets.extend(self.target.iter().copied());
        self.state.log_notes(env);
        Ok(ImportSettings {
            targets,
            all: self.all,
            out: self.out.clone(),
            force: self.force,
            secrets: self.secrets.iter().map(|c| c.to_uppercase()).collect(),
            include_inherited: self.include_inherited,
            adopt: self.adopt,
            state: self.state.location(env),
            rate: self.portal.rate(env),
            schema_ref: self.schema_ref.clone(),
            portable: self.portable,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn import_targets_parse() {
        assert_eq!(
            parse_target("11:0"),
            Ok(Target {
                pay_system: 11,
                person_type: 0
            })
        );
        assert!(parse_target("0:1").is_err());
        assert!(parse_target("11").is_err());
    }

    #[test]
    fn plan_and_apply_resolve_the_same_inputs() {
        let plan =
            Cli::try_parse_from(["paysync", "plan", "--refresh", "--rate", "250/5", "m"]).unwrap();
        let apply =
            Cli::try_parse_from(["paysync", "apply", "--refresh", "--rate", "250/5", "m"]).unwrap();
        match (plan.command, apply.command) {
            (Command::Plan(p), Command::Apply(a)) => {
                assert_eq!(p.resolve(None).inputs, a.resolve(None).inputs);
            }
            _ => panic!("parsed other commands"),
        }
        assert!(Cli::try_parse_from(["paysync", "apply", "--plan", "p.json", "m"]).is_err());
        assert!(
            Cli::try_parse_from(["paysync", "apply", "--plan", "p.json", "--refresh"]).is_err()
        );
    }
}
