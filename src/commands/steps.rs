//! The steps commands share: how they reach the portal ([`Context`]), their runtime, the
//! points where a signal stops them, loading manifests, checking the state's portal,
//! live validation and reads, showing a plan, and the secrets manifests declare.

use std::path::PathBuf;

use crate::bitrix::{self, Client, Rate};
use crate::cli::Format;
use crate::error::{Error, UsageError};
use crate::fingerprint::ENV_FINGERPRINT_KEY;
use crate::fingerprint::Fingerprinter;
use crate::live::Reads;
use crate::manifest;
use crate::manifest::Resolution;
use crate::model::{Desired, Live};
use crate::plan::{DesiredValues, Plan};
use crate::render::progress::ReadingLive;
use crate::render::terminal::Terminal;
use crate::render::{plan_json, plan_markdown, plan_text};
use crate::secrets::Redacted;
use crate::state::LastApplied;

/// How a command reaches the portal.
#[derive(Debug, Clone)]
pub enum Portal {
    /// The credentials in paysync's own variables (SPEC §3), at the command's `--rate`.
    Environment,
    /// A client the caller configured; `--rate` is the client's own.
    Client(Client),
    /// The credentials in the variables an environment maps (and only those: SPEC §8),
    /// checked against the portal it pins (`pin`), at the command's `--rate`.
    Named {
        vars: crate::variables::Variables,
        pin: Option<String>,
    },
}

/// What a command runs with besides its settings: where output goes, how to reach the
/// portal.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub term: &'a Terminal,
    pub portal: Portal,
    /// The commands `exec:` secrets ask, with the environment and its pinned portal.
    pub secrets: crate::secrets::exec::ExecContext,
}

impl Context<'_> {
    /// Where paysync's variables are read from: their own names, or only the
    /// environment's mapping.
    fn vars(&self) -> crate::variables::Variables {
        match &self.portal {
            Portal::Named { vars, .. } => vars.clone(),
            Portal::Environment | Portal::Client(_) => crate::variables::Variables::own(),
        }
    }

    /// How messages name the variable the fingerprint key is read from:
    /// `PAYSYNC_FINGERPRINT_KEY`, or the one the environment's `credentials` map it to
    /// (each portal its own key; an environment that does not map it reads none).
    pub fn fingerprint_key_variable(&self) -> String {
        self.vars().shown(ENV_FINGERPRINT_KEY)
    }

    /// The fingerprint key, read as [`Context::fingerprint_key_variable`] says.
    pub fn fingerprint_key(&self) -> Option<Redacted<Vec<u8>>> {
        crate::fingerprint::key_from(&self.vars())
    }

    /// [`Error::FingerprintKeyMissing`] naming where the key is read from.
    pub fn fingerprint_key_missing(&self) -> Error {
        Error::FingerprintKeyMissing {
            variable: self.fingerprint_key_variable(),
        }
    }

    /// Reads secrets for this run, the variables of `sops:` and `vault:` through the
    /// environment's mapping.
    pub fn secret_resolver(&self) -> crate::secrets::Resolver {
        crate::secrets::Resolver::new(self.vars()).with_commands(self.secrets.clone())
    }

    /// The store of the state at `location`, its credentials read like the portal's
    /// (only through the environment's mapping under `--env`).
    pub fn open_state(
        &self,
        location: &crate::state::StateLocation,
    ) -> Result<Box<dyn crate::state::StateBackend>, Error> {
        Ok(crate::state::open(location, &self.vars())?)
    }

    /// A client for the portal, keeping to `rate` (`--rate`) when it comes from the
    /// environment.
    pub fn connect(&self, rate: Rate) -> Result<Client, Error> {
        match &self.portal {
            Portal::Environment => {
                let credentials = bitrix::credentials_from_env()?;
                Ok(program_client(credentials)?.with_rate(rate))
            }
            Portal::Client(client) => Ok(client.clone()),
            Portal::Named { vars, pin } => {
                let credentials = bitrix::credentials_from_variables(vars, pin.as_deref())?;
                Ok(program_client(credentials)?.with_rate(rate))
            }
        }
    }
}

/// Who asks for the state's lock: the user and host, the process, the CI run and the plan
/// (shown to a run that finds the lock held, and kept in the lock object).
pub fn lock_request(
    operation: &str,
    plan: Option<&str>,
    timeout: std::time::Duration,
) -> crate::state::LockRequest {
    let about = crate::ci::about(None, None);
    let mut info = format!("pid {}", std::process::id());
    if let Some(run) = &about.run_url {
        info.push_str(&format!(", run {run}"));
    }
    if let Some(plan) = plan {
        info.push_str(&format!(", plan {plan}"));
    }
    crate::state::LockRequest {
        operation: operation.to_owned(),
        who: who(),
        info,
        timeout,
    }
}

/// `user@host`, as the lock and the audit trail name who ran paysync (the user as the
/// file lock's holder line finds it: also in a container without `$USER`).
fn who() -> String {
    let host = whoami::hostname().unwrap_or_else(|_| "an unknown host".into());
    format!("{}@{host}", crate::state::file::user_name())
}

/// Records `operation` in `store`'s audit trail (who, when, the CI run and commit, the
/// plan, the serials, what was written). A failure is reported and undoes nothing.
pub(crate) fn record_history(
    store: &dyn crate::state::StateBackend,
    operation: &str,
    plan: Option<String>,
    serials: (u64, u64),
    written: Vec<crate::state::WrittenTarget>,
) {
    let about = crate::ci::about(None, None);
    let entry = crate::state::HistoryEntry {
        at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        operation: operation.to_owned(),
        who: who(),
        run_url: about.run_url,
        commit: about.commit,
        plan,
        serial_before: serials.0,
        serial_after: serials.1,
        written,
    };
    if let Err(e) = store.record_history(&entry) {
        tracing::warn!("`{operation}` could not be recorded in the audit trail: {e}");
    }
}

/// A client for the program: stopped by SIGINT/SIGTERM, reporting the secrets it holds
/// and learns to the scrubber of everything paysync prints.
fn program_client(credentials: bitrix::Credentials) -> Result<Client, Error> {
    for secret in credentials.secrets() {
        crate::untrusted::remember_secret(secret);
    }
    Ok(Client::new(credentials)?
        .with_cancel(crate::interrupt::token())
        .with_secret_sink(bitrix::SecretSink::new(crate::untrusted::remember_secret)))
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

/// Loads the manifests (with `layered`, each path a source laid over the ones before;
/// with `subset`, only the targets those files declare); a signal received meanwhile
/// stops the command here. A subset PATH outside the sources is a usage error.
pub(crate) fn load_manifests(
    paths: &[PathBuf],
    layered: bool,
    subset: Option<&[PathBuf]>,
) -> Result<Desired, Error> {
    let subset = subset
        .map(|given| manifest::Subset::new(given, paths))
        .transpose()
        .map_err(|e| match e {
            manifest::SubsetError::Outside { path } => UsageError::OutsideSources {
                path,
                sources: paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
            .into(),
            manifest::SubsetError::Manifests(diagnostics) => Error::Manifests(diagnostics),
        })?;
    let desired = if layered {
        manifest::load_layers(paths, subset.as_ref())
    } else {
        manifest::load(paths)
    }
    .map_err(Error::Manifests)?;
    not_interrupted()?;
    Ok(desired)
}

/// What is said about the state file chosen (`--state` replacing an environment's, an
/// exported `PAYSYNC_STATE` not used): logged, and returned as the plan's first warnings,
/// so that a reviewer sees a plan made against another state file.
pub(crate) fn state_notes(inputs: &crate::cli::Inputs) -> Vec<String> {
    for note in &inputs.notes {
        tracing::warn!("{note}");
    }
    inputs.notes.clone()
}

/// Offline: the references the manifests use, resolved as the state recorded them;
/// the others stay pending ("resolved at apply").
pub(crate) fn resolve_recorded(desired: &mut Desired, state: &LastApplied) -> Result<(), Error> {
    let known = state.resolutions();
    manifest::resolve(desired, |r| match known.get(r.to_string().as_str()) {
        Some(target) => Resolution::Found(*target),
        // A pay system paysync created or adopted: its recorded ID (the payer type
        // named by ID).
        None => match (&r.pay_system, &r.person_type) {
            (crate::model::PaySystemRef::XmlId(x), crate::model::PersonTypeRef::Id(pt)) => {
                match state.objects.pay_systems.get(x).and_then(|r| r.held()) {
                    Some(recorded) => Resolution::Found(crate::model::Target {
                        pay_system: recorded.id,
                        person_type: *pt,
                    }),
                    None => Resolution::Unknown,
                }
            }
            _ => Resolution::Unknown,
        },
    })
    .map_err(Error::Manifests)
}

/// `--refresh`: the live settings of the declared targets, with a spinner on a
/// terminal, and the targets whose answer could not be read.
pub(crate) fn refresh(
    rt: &Runtime,
    client: &Client,
    values: &DesiredValues,
    prefetched: Reads,
    term: &Terminal,
) -> Result<(Live, crate::live::Unreadable), Error> {
    let _reading = ReadingLive::start(term, values.targets.len());
    rt.block_on(crate::live::read_live(client, values, prefetched))
}

/// Shows the plan on stdout in the chosen format; text and JSON are written in parts as
/// they are made.
pub(crate) fn show_plan(plan: &Plan, format: Format, term: &Terminal) {
    match format {
        Format::Text => {
            plan_text::render_in_parts(plan, term.color_stdout(), |part| term.out(part))
        }
        Format::Json => plan_json::render_in_parts(plan, |part| term.out(part)),
        Format::Markdown => term.out(&plan_markdown::render(plan)),
    }
}

/// Writes the plan as pull-request comments: `DIR/1.md`, `2.md`, … (each replaced whole),
/// and removes the numbered parts an earlier plan left there beyond the last.
pub(crate) fn write_comment_parts(plan: &Plan, dir: &std::path::Path) -> Result<(), Error> {
    let failed = |path: std::path::PathBuf| move |error| Error::Write { path, error };
    std::fs::create_dir_all(dir).map_err(failed(dir.to_path_buf()))?;
    let parts = plan_markdown::render_parts(plan);
    for (i, part) in parts.iter().enumerate() {
        let path = dir.join(format!("{}.md", i + 1));
        crate::files::write_atomically(&path, part.as_bytes()).map_err(failed(path))?;
    }
    let entries = std::fs::read_dir(dir).map_err(failed(dir.to_path_buf()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = name
            .to_str()
            .and_then(|n| n.strip_suffix(".md"))
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n > parts.len());
        if stale {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(failed(path))?;
        }
    }
    Ok(())
}

/// The fingerprinter an apply (or an adopting import) records with. A state whose fingerprints are keyed is never
/// written without the key (nor quietly back to unkeyed fingerprints): when secrets are
/// involved and the key is missing, nothing is sent.
pub(super) fn fingerprinter_for_writing(
    state: &LastApplied,
    secrets: bool,
    ctx: &Context<'_>,
) -> Result<Fingerprinter, Error> {
    let fingerprinter = state.fingerprinter(ctx.fingerprint_key());
    if secrets && !fingerprinter.can_fingerprint() {
        return Err(ctx.fingerprint_key_missing());
    }
    Ok(fingerprinter)
}

/// GitHub Actions: `markdown` (the plan, whatever `--format`; what an apply did) is
/// appended to the job summary. A summary that cannot be written is worth a warning, not
/// a failed command.
pub(crate) fn append_job_summary(markdown: &str) {
    use std::io::Write as _;
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let markdown = crate::untrusted::scrub(markdown);
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(markdown.as_bytes()));
    if let Err(error) = appended {
        tracing::warn!(
            path = %std::path::Path::new(&path).display(),
            %error,
            "cannot append the plan to GITHUB_STEP_SUMMARY"
        );
    }
}
