//! The commands: each turns resolved arguments into work on manifests, state and portal,
//! and decides what is shown. Output goes through [`Terminal`] only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::apply::{self, ResolvedSecrets};
use crate::bitrix::{self, Client, Rate};
use crate::cli::{
    ApplyArgs, Cli, Command, Format, MovePortalArgs, PlanArgs, StateCommand, ValidateArgs,
};
use crate::error::{Error, exit};
use crate::files::write_atomically;
use crate::fingerprint::{self, ENV_FINGERPRINT_KEY, FingerprintScheme, Fingerprinter};
use crate::manifest;
use crate::model::SettingValue;
use crate::model::{Desired, Live, Target};
use crate::plan::saved::{SAVED_PLAN_FORMAT, SavedPlan};
use crate::plan::{self, DesiredValues, Plan, SecretCheck, Value};
use crate::render::progress::{ApplyProgress, ReadingLive};
use crate::render::terminal::Terminal;
use crate::render::{apply_report, plan_json, plan_markdown, plan_text};
use crate::secrets::{Redacted, SecretRef};
use crate::state::store::StateStore;
use crate::state::{LastApplied, RecordedValue};

/// Runs one command and returns its exit code; errors are rendered here.
///
/// Commands that may take time take over SIGINT and SIGTERM ([`crate::interrupt`]): the
/// first stops them cleanly, with exit code 130 or 143 (whatever else went wrong), the
/// second at once.
pub fn run(cli: Cli, term: &Terminal) -> i32 {
    if !matches!(
        cli.command,
        Command::Schema | Command::Completions(_) | Command::Man
    ) {
        crate::interrupt::install();
    }
    let result = match cli.command {
        Command::Validate(args) => validate(&args, term),
        Command::Plan(args) => plan(&args, term),
        Command::Apply(args) => apply(&args, term),
        Command::Drift(args) => crate::drift::run(&args, term),
        Command::Import(args) => crate::import::run(&args, term),
        Command::State(StateCommand::MovePortal(args)) => move_portal(&args, term),
        Command::Completions(args) => crate::render::manuals::completions(&args, term),
        Command::Man => crate::render::manuals::man(term),
        Command::Schema => {
            let mut s =
                serde_json::to_string_pretty(&manifest::json_schema()).expect("schema serialises");
            s.push('\n');
            term.out(&s);
            Ok(exit::SUCCESS)
        }
    };
    let signal = crate::interrupt::received();
    match (result, signal) {
        (Ok(code), None) => code,
        (Ok(_), Some(signal)) => {
            term.err(&format!("stopped by {signal}\n"));
            signal.exit_code()
        }
        (Err(e), signal) => {
            term.err(&render_error(&e, term));
            signal.map_or_else(|| e.exit_code(), crate::interrupt::Signal::exit_code)
        }
    }
}

fn render_error(e: &Error, term: &Terminal) -> String {
    if let Error::Manifests(diags) = e {
        return crate::render::diagnostics::render(diags, term.color_stderr());
    }
    let mut text = format!("error: {e}");
    let mut source = std::error::Error::source(e);
    // Variants that are transparent already print their source's message.
    if matches!(
        e,
        Error::State(_) | Error::Config(_) | Error::SavedPlan(_) | Error::Client(_)
    ) {
        source = source.and_then(std::error::Error::source);
    }
    while let Some(s) = source {
        // Some messages already quote their cause (a retry that gave up names the last
        // error); say each thing once.
        let cause = s.to_string();
        if !text.contains(&cause) {
            text.push_str(&format!("\n  caused by: {cause}"));
        }
        source = s.source();
    }
    text.push('\n');
    text
}

/// Loads the manifests; a signal received meanwhile stops the command here.
pub(crate) fn load_manifests(paths: &[PathBuf]) -> Result<Desired, Error> {
    let desired = manifest::load(paths).map_err(Error::Manifests)?;
    not_interrupted()?;
    Ok(desired)
}

fn validate(args: &ValidateArgs, term: &Terminal) -> Result<i32, Error> {
    let desired = load_manifests(&args.paths)?;
    if args.live {
        let client = connect(args.portal.rate)?;
        runtime()?.block_on(check_live(&client, &desired))?;
    }
    let settings: usize = desired.targets.values().map(|t| t.settings.len()).sum();
    let files: std::collections::BTreeSet<&Path> = desired
        .targets
        .values()
        .map(|t| t.origin.file.as_path())
        .collect();
    term.out(&format!(
        "Valid: {} target{} with {} setting{} in {} file{}.\n",
        desired.targets.len(),
        plural(desired.targets.len()),
        settings,
        plural(settings),
        files.len(),
        plural(files.len()),
    ));
    Ok(exit::SUCCESS)
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The async runtime of one command.
pub(crate) struct Runtime(tokio::runtime::Runtime);

impl Runtime {
    /// Runs `work` to its end, unless SIGINT/SIGTERM comes first: then it is dropped
    /// (for reads: nothing is written) and the result is [`Error::Interrupted`].
    pub(crate) fn block_on<T, E: Into<Error>>(
        &self,
        work: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, Error> {
        self.0.block_on(async {
            tokio::select! {
                result = work => result.map_err(Into::into),
                signal = crate::interrupt::wait() => Err(Error::Interrupted(signal)),
            }
        })
    }

    /// Runs `work` to its end; it handles SIGINT/SIGTERM itself (apply).
    pub(crate) fn block_on_uninterrupted<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        self.0.block_on(work)
    }
}

pub(crate) fn runtime() -> Result<Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(Runtime)
        .map_err(Error::Runtime)
}

/// `Err(Interrupted)` once SIGINT/SIGTERM was received: for the points between steps
/// where a command may stop cleanly (before it writes files, say).
pub(crate) fn not_interrupted() -> Result<(), Error> {
    match crate::interrupt::received() {
        Some(signal) => Err(Error::Interrupted(signal)),
        None => Ok(()),
    }
}

/// A client for the portal in the environment's credentials, keeping to `rate` (`--rate`).
pub(crate) fn connect(rate: Rate) -> Result<Client, Error> {
    let credentials = bitrix::credentials_from_env()?;
    Ok(Client::new(credentials)?.with_rate(rate))
}

/// Refuses state made for another portal.
pub(crate) fn check_portal(
    store: &StateStore,
    state: &LastApplied,
    portal: &str,
) -> Result<(), Error> {
    match &state.portal {
        Some(recorded) if !bitrix::same_portal(recorded, portal) => Err(Error::ForeignPortal {
            state: store.path().to_owned(),
            state_portal: recorded.clone(),
            portal: portal.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Live validation: the manifests checked against what the portal declares; any problem
/// is a manifest error (exit 3), located.
pub(crate) async fn check_live(client: &Client, desired: &Desired) -> Result<(), Error> {
    let problems = crate::live::validate(client, desired).await?;
    if problems.0.is_empty() {
        Ok(())
    } else {
        Err(Error::Manifests(problems))
    }
}

/// Reads the live settings of the declared targets.
pub(crate) async fn read_live(client: &Client, desired: &DesiredValues) -> Result<Live, Error> {
    let targets: Vec<Target> = desired.targets.keys().copied().collect();
    tracing::info!(targets = targets.len(), "reading live settings");
    let read = crate::live::read_settings(client, &targets).await?;
    let mut live = Live::default();
    for (target, result) in read {
        match result {
            Ok(settings) => {
                live.targets.insert(target, settings);
            }
            Err(error) => return Err(Error::Refresh { target, error }),
        }
    }
    // A managed code the portal does not return is not compared; say so once per code.
    for (target, d) in &desired.targets {
        if let Some(got) = live.targets.get(target) {
            for code in d.settings.keys().filter(|c| !got.contains_key(*c)) {
                tracing::warn!(%target, code, "the portal did not return this code; its handler may not declare it, so drift cannot be checked");
            }
        }
    }
    Ok(live)
}

pub(crate) fn render_plan(plan: &Plan, format: Format, term: &Terminal) -> String {
    match format {
        Format::Text => plan_text::render(plan, term.color_stdout()),
        Format::Json => plan_json::render(plan),
        Format::Markdown => plan_markdown::render(plan),
    }
}

fn plan(args: &PlanArgs, term: &Terminal) -> Result<i32, Error> {
    let desired = load_manifests(&args.paths)?;
    let store = StateStore::new(&args.state.state);
    let existing = store.load()?;
    let had_state = existing.is_some();
    let mut last = existing.unwrap_or_default();
    let fingerprinter = last.fingerprinter(fingerprint::key_from_env());
    if !fingerprinter.can_fingerprint() {
        tracing::warn!(
            "this state's secret fingerprints are keyed with {ENV_FINGERPRINT_KEY}, which is \
             not set: secrets are not checked"
        );
    }
    // Secrets that can be read now are compared by fingerprint; the others are "not
    // checked", and an empty one is shown as such and ends the plan with an error.
    let mut resolved = BTreeMap::new();
    let mut empty = BTreeSet::new();
    for r in declared_secrets(&desired) {
        match r.resolve() {
            Ok(value) => {
                resolved.insert(r.clone(), value);
            }
            Err(e) if e.is_empty_value() => {
                empty.insert(r.clone());
            }
            Err(_) => {}
        }
    }
    last.carry_over(&fingerprinter, |target, code, recorded| {
        declared_value(&desired, target, code, recorded, &resolved)
    });
    let values = DesiredValues::new(&desired, |r| match resolved.get(r) {
        Some(v) => fingerprinter
            .fingerprint(v)
            .map_or(SecretCheck::Unreadable, SecretCheck::Checked),
        None if empty.contains(r) => SecretCheck::Empty,
        None => SecretCheck::Unreadable,
    });
    let live = if args.refresh {
        let client = connect(args.portal.rate)?;
        check_portal(&store, &last, &client.portal())?;
        let rt = runtime()?;
        // Manifest mistakes only the portal can show (undeclared codes, bad ENUM or Y/N
        // values, unknown or built-in pay systems, unknown payer types): exit 3.
        rt.block_on(check_live(&client, &desired))?;
        let _reading = ReadingLive::start(term, values.targets.len());
        Some(rt.block_on(read_live(&client, &values))?)
    } else {
        None
    };
    let plan = plan::compute(&values, &last.targets, live.as_ref(), &fingerprinter);
    term.out(&render_plan(&plan, args.format, term));
    // GitHub Actions: the markdown plan also goes to the job summary, whatever --format.
    // A summary that cannot be written is worth a warning, not a failed plan.
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        use std::io::Write as _;
        let markdown = format!("\n{}", plan_markdown::render(&plan));
        let markdown = crate::untrusted::scrub(&markdown);
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(markdown.as_bytes()));
        if let Err(error) = appended {
            tracing::warn!(
                path = %Path::new(&path).display(),
                %error,
                "cannot append the plan to GITHUB_STEP_SUMMARY"
            );
        }
    }
    // An empty secret is not hidden behind exit code 0 (or 2): the plan above shows where
    // it is used, and no saved plan is written that apply would refuse.
    not_interrupted()?;
    let empty = plan.empty_secret_refs();
    if !empty.is_empty() {
        return Err(Error::EmptySecrets {
            references: empty.iter().map(ToString::to_string).collect(),
        });
    }
    if let Some(out) = &args.out {
        let saved = SavedPlan {
            format: SAVED_PLAN_FORMAT.to_owned(),
            paysync_version: env!("CARGO_PKG_VERSION").to_owned(),
            lineage: had_state.then(|| last.lineage.clone()),
            serial: if had_state { last.serial } else { 0 },
            portal: last.portal.clone(),
            fingerprints: FingerprintScheme {
                keyed: last.fingerprints.keyed || fingerprinter.is_keyed(),
                ..last.fingerprints.clone()
            },
            plan: plan.clone(),
        };
        write_atomically(out, saved.to_json().as_bytes()).map_err(|source| Error::Write {
            path: out.clone(),
            source,
        })?;
        tracing::info!(path = %out.display(), "saved plan");
    }
    Ok(if args.detailed_exitcode && plan.summary().has_changes() {
        exit::CHANGES_PRESENT
    } else {
        exit::SUCCESS
    })
}

fn apply(args: &ApplyArgs, term: &Terminal) -> Result<i32, Error> {
    match &args.plan {
        Some(path) => apply_saved(args, path, term),
        None => apply_manifests(args, term),
    }
}

fn apply_manifests(args: &ApplyArgs, term: &Terminal) -> Result<i32, Error> {
    let desired = load_manifests(&args.paths)?;
    if !args.auto_approve && !term.interactive() {
        return Err(Error::NeedsApproval);
    }
    let client = connect(args.portal.rate)?;
    let store = StateStore::new(&args.state.state);
    let _lock = store.lock()?;
    store.prepare_writes()?;
    let mut state = store.load()?.unwrap_or_default();
    check_portal(&store, &state, &client.portal())?;

    // Every secret is resolved before the first request.
    let refs = declared_secrets(&desired);
    let secrets = ResolvedSecrets::resolve(refs.iter().copied()).map_err(Error::Secrets)?;
    let fingerprinter = fingerprinter_for_writing(&state, !refs.is_empty())?;
    state.carry_over(&fingerprinter, |target, code, recorded| {
        declared_value(&desired, target, code, recorded, secrets.values())
    });
    let values = DesiredValues::new(&desired, |r| {
        secrets
            .fingerprint(r, &fingerprinter)
            .map_or(SecretCheck::Unreadable, SecretCheck::Checked)
    });

    let rt = runtime()?;
    let live = if args.refresh {
        rt.block_on(check_live(&client, &desired))?;
        let _reading = ReadingLive::start(term, values.targets.len());
        Some(rt.block_on(read_live(&client, &values))?)
    } else {
        None
    };
    let plan = plan::compute(&values, &state.targets, live.as_ref(), &fingerprinter);
    term.out(&render_plan(&plan, args.format, term));
    if plan.targets.is_empty() {
        return Ok(exit::SUCCESS);
    }
    if plan.summary().has_changes() && !args.auto_approve {
        let approved = term
            .confirm("Do you want to apply these changes?")
            .map_err(|source| Error::Read {
                path: PathBuf::from("<stdin>"),
                source,
            })?;
        if !approved {
            // A signal at the prompt is a "no" that says so.
            not_interrupted()?;
            return Err(Error::Cancelled);
        }
    }
    let apply = Applying {
        store: &store,
        client: &client,
        secrets: &secrets,
        fingerprinter: &fingerprinter,
    };
    execute_and_report(&rt, &plan, &mut state, &apply, term)
}

/// What an apply writes with.
struct Applying<'a> {
    store: &'a StateStore,
    client: &'a Client,
    secrets: &'a ResolvedSecrets,
    fingerprinter: &'a Fingerprinter,
}

/// Every secret reference the manifests declare, each once.
fn declared_secrets(desired: &Desired) -> Vec<&SecretRef> {
    let refs: BTreeSet<&SecretRef> = desired
        .targets
        .values()
        .flat_map(|t| t.settings.values())
        .filter_map(|s| match &s.value {
            SettingValue::Secret(r) => Some(r),
            SettingValue::Plain(_) => None,
        })
        .collect();
    refs.into_iter().collect()
}

/// The value this run read for the secret a manifest declares at `target`/`code`, if it
/// is still the one recorded (`recorded`, the reference as written).
fn declared_value<'a>(
    desired: &Desired,
    target: Target,
    code: &str,
    recorded: &str,
    values: &'a BTreeMap<SecretRef, Redacted<String>>,
) -> Option<&'a Redacted<String>> {
    let setting = desired.targets.get(&target)?.settings.get(code)?;
    match &setting.value {
        SettingValue::Secret(r) if r.to_string() == recorded => values.get(r),
        _ => None,
    }
}

/// The fingerprinter an apply records with. A state whose fingerprints are keyed is never
/// written without the key (nor quietly back to unkeyed fingerprints): when secrets are
/// involved and the key is missing, nothing is sent.
fn fingerprinter_for_writing(state: &LastApplied, secrets: bool) -> Result<Fingerprinter, Error> {
    let fingerprinter = state.fingerprinter(fingerprint::key_from_env());
    if secrets && !fingerprinter.can_fingerprint() {
        return Err(Error::FingerprintKeyMissing);
    }
    Ok(fingerprinter)
}

/// The values of the `env:` secrets the state records that the environment has, by
/// reference as written: for carrying fingerprints over where no manifest names the
/// secret (a `file:` path is relative to a manifest the state does not name), and so that
/// they are scrubbed from what the portal sends.
pub(crate) fn recorded_env_secrets(state: &LastApplied) -> BTreeMap<String, Redacted<String>> {
    state
        .targets
        .values()
        .flat_map(|settings| settings.values())
        .filter_map(|v| match v {
            RecordedValue::Secret { secret, .. } if secret.starts_with("env:") => {
                let r = SecretRef::parse(secret, Path::new("")).ok()?;
                Some((secret.clone(), r.resolve().ok()?))
            }
            _ => None,
        })
        .collect()
}

/// Applies `plan` with progress on stderr, then reports how it went.
fn execute_and_report(
    rt: &Runtime,
    plan: &Plan,
    state: &mut LastApplied,
    with: &Applying<'_>,
    term: &Terminal,
) -> Result<i32, Error> {
    let mut progress = ApplyProgress::new(term);
    let report = rt.block_on_uninterrupted(apply::execute(
        plan,
        state,
        with.store,
        with.client,
        with.secrets,
        with.fingerprinter,
        &mut progress,
    ))?;
    drop(progress);
    finish(report, term)
}

fn finish(mut report: apply::ApplyReport, term: &Terminal) -> Result<i32, Error> {
    if report.is_complete() {
        term.out(&apply_report::render(&report));
        Ok(exit::SUCCESS)
    } else if let Some(signal) = report.interrupted {
        term.err(&apply_report::render(&report));
        Err(Error::ApplyInterrupted(signal))
    } else if report.applied.is_empty()
        && report.failed.is_empty()
        && report.unknown.is_empty()
        && report.aborted.is_some()
    {
        // Nothing reached the portal: this is the request-level error itself (exit 1),
        // not a partial apply.
        let error = report.aborted.take().expect("checked above");
        term.err(&apply_report::render(&report));
        Err(Error::Client(error))
    } else {
        let text = apply_report::render(&report);
        term.err(&text);
        let not_done = report.failed.len() + report.unknown.len() + report.not_attempted.len();
        Err(Error::PartialApply {
            failed: not_done,
            total: not_done + report.applied.len(),
        })
    }
}

fn apply_saved(args: &ApplyArgs, path: &Path, term: &Terminal) -> Result<i32, Error> {
    let saved = SavedPlan::read(path)?;
    let stale = |reason: String| Error::StalePlan {
        path: path.to_owned(),
        reason,
    };
    let client = connect(args.portal.rate)?;
    let store = StateStore::new(&args.state.state);
    let _lock = store.lock()?;
    store.prepare_writes()?;
    let current = store.load()?;
    let mut state = match (&current, &saved.lineage) {
        (None, None) => LastApplied {
            fingerprints: FingerprintScheme {
                keyed: false,
                ..saved.fingerprints.clone()
            },
            portal: saved.portal.clone(),
            ..LastApplied::new()
        },
        (Some(s), Some(lineage)) if *lineage == s.lineage && saved.serial == s.serial => s.clone(),
        (Some(s), Some(lineage)) if *lineage == s.lineage => {
            return Err(stale(format!(
                "it was made from state serial {}, the state is now at serial {}",
                saved.serial, s.serial
            )));
        }
        (Some(_), Some(_)) => {
            return Err(stale(
                "it was made from a different state file (lineage differs)".into(),
            ));
        }
        (Some(_), None) => {
            return Err(stale(
                "it was made when there was no state file; one exists now".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(stale(
                "the state file it was made from no longer exists".into(),
            ));
        }
    };
    check_portal(&store, &state, &client.portal())?;
    if !state.fingerprints.same_derivation(&saved.fingerprints) {
        return Err(stale(
            "its secret fingerprints were made another way than the state's".into(),
        ));
    }

    let refs = saved.plan.secret_refs();
    let secrets = ResolvedSecrets::resolve(refs.iter().copied()).map_err(Error::Secrets)?;
    // The plan's fingerprints were made keyed if its scheme says so: checking them, and
    // recording new ones, then needs the key.
    state.fingerprints.keyed |= saved.fingerprints.keyed;
    let fingerprinter = fingerprinter_for_writing(&state, !refs.is_empty())?;
    // A secret checked at plan time must still have the value the reviewer approved.
    let mut changed = BTreeSet::new();
    for change in saved.plan.targets.iter().flat_map(|t| &t.changes) {
        if let Some(Value::Secret {
            secret,
            fingerprint: Some(planned),
            ..
        }) = &change.after
            && let Some(value) = secrets.get(secret)
        {
            match fingerprinter.matches(planned, value) {
                Some(true) => {}
                Some(false) => {
                    changed.insert(secret.to_string());
                }
                None => return Err(Error::FingerprintKeyMissing),
            }
        }
    }
    if !changed.is_empty() {
        let names: Vec<String> = changed.into_iter().collect();
        return Err(stale(format!(
            "secret {} changed since the plan was made",
            names.join(", ")
        )));
    }
    term.out(&render_plan(&saved.plan, args.format, term));
    if saved.plan.targets.is_empty() {
        return Ok(exit::SUCCESS);
    }
    // Recorded fingerprints of another kind, for the secrets this plan writes.
    let planned: BTreeMap<(Target, &str), &SecretRef> = saved
        .plan
        .targets
        .iter()
        .flat_map(|t| {
            t.changes.iter().filter_map(move |c| match &c.after {
                Some(Value::Secret { secret, .. }) => Some(((t.target, c.code.as_str()), secret)),
                _ => None,
            })
        })
        .collect();
    let recorded_env = recorded_env_secrets(&state);
    state.carry_over(&fingerprinter, |target, code, recorded| {
        planned
            .get(&(target, code))
            .filter(|r| r.to_string() == recorded)
            .and_then(|r| secrets.get(r))
            .or_else(|| recorded_env.get(recorded))
    });
    let rt = runtime()?;
    let apply = Applying {
        store: &store,
        client: &client,
        secrets: &secrets,
        fingerprinter: &fingerprinter,
    };
    execute_and_report(&rt, &saved.plan, &mut state, &apply, term)
}

/// `paysync state move-portal URL`: re-points the state file at a portal's new address
/// (the credentials must already point there), after checking that the portal answers
/// there. Under the state lock; the serial is bumped, so plans made before are stale.
fn move_portal(args: &MovePortalArgs, term: &Terminal) -> Result<i32, Error> {
    let requested = bitrix::portal_address(&args.url)?;
    let client = connect(args.portal.rate)?;
    if !bitrix::same_portal(&client.portal(), &requested) {
        return Err(Error::CredentialsElsewhere {
            requested,
            credentials: client.portal(),
            variable: client.address_variable(),
        });
    }
    let store = StateStore::new(&args.state.state);
    let _lock = store.lock()?;
    store.prepare_writes()?;
    let Some(mut state) = store.load()? else {
        return Err(Error::NoStateFile {
            path: store.path().to_owned(),
        });
    };
    if let Some(recorded) = &state.portal
        && bitrix::same_portal(recorded, &requested)
    {
        term.out(&format!(
            "The state file {} already points at {recorded}; nothing to do.\n",
            store.path().display()
        ));
        return Ok(exit::SUCCESS);
    }
    // A read the portal answers only with working credentials and the pay_system scope.
    runtime()?.block_on(async {
        client
            .call(&bitrix::Request::handler_list())
            .await
            .map_err(|source| Error::NotAnswering {
                portal: requested.clone(),
                source,
            })
    })?;
    // A format-1 state is written as format 2 here: carry over what can be.
    let fingerprinter = state.fingerprinter(fingerprint::key_from_env());
    let recorded_env = recorded_env_secrets(&state);
    state.carry_over(&fingerprinter, |_, _, recorded| recorded_env.get(recorded));
    let before = state.portal.replace(requested.clone());
    state.portal_moves.push(crate::state::PortalMove {
        from: before.clone(),
        to: requested.clone(),
        at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    });
    store.save(&mut state)?;
    tracing::info!(
        from = before.as_deref().unwrap_or("(none)"),
        to = %requested,
        serial = state.serial,
        "moved the state file to the portal's new address"
    );
    term.out(&format!(
        "Moved the state file {} from {} to {requested} (serial {}). Plans made before the move \
         are stale; plan again.\n",
        store.path().display(),
        before.as_deref().unwrap_or("no portal"),
        state.serial
    ));
    Ok(exit::SUCCESS)
}
