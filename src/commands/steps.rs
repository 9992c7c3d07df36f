//! The steps commands share: how they reach the portal ([`Context`]), their runtime, the
//! points where a signal stops them, loading manifests, checking the state's portal,
//! live validation and reads, showing a plan, and the secrets manifests declare.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::bitrix::{self, Client, Rate};
use crate::cli::Format;
use crate::error::Error;
use crate::manifest;
use crate::model::{Desired, Live, LiveSetting, Names, SettingValue, Target};
use crate::plan::{About, DesiredValues, Plan};
use crate::render::progress::ReadingLive;
use crate::render::terminal::Terminal;
use crate::render::{plan_json, plan_markdown, plan_text};
use crate::secrets::{Redacted, SecretRef};
use crate::state::store::StateStore;
use crate::state::{LastApplied, RecordedValue};

/// How a command reaches the portal.
#[derive(Debug, Clone)]
pub enum Portal {
    /// The credentials in the environment (SPEC §3), at the command's `--rate`.
    Environment,
    /// A client the caller configured; `--rate` is the client's own.
    Client(Client),
}

/// What a command runs with besides its settings: where output goes, how to reach the
/// portal.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub term: &'a Terminal,
    pub portal: Portal,
}

impl Context<'_> {
    /// A client for the portal, keeping to `rate` (`--rate`) when it comes from the
    /// environment.
    pub fn connect(&self, rate: Rate) -> Result<Client, Error> {
        match &self.portal {
            Portal::Environment => {
                let credentials = bitrix::credentials_from_env()?;
                Ok(Client::new(credentials)?.with_rate(rate))
            }
            Portal::Client(client) => Ok(client.clone()),
        }
    }
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

/// Loads the manifests; a signal received meanwhile stops the command here.
pub(crate) fn load_manifests(paths: &[PathBuf]) -> Result<Desired, Error> {
    let desired = manifest::load(paths).map_err(Error::Manifests)?;
    not_interrupted()?;
    Ok(desired)
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
/// is a manifest error (exit 3), located. Returns the names of pay systems and payer
/// types read.
pub(crate) async fn check_live(client: &Client, desired: &Desired) -> Result<Names, Error> {
    let (problems, names) = crate::live::validate(client, desired).await?;
    if problems.0.is_empty() {
        Ok(names)
    } else {
        Err(Error::Manifests(problems))
    }
}

/// Reads the live settings of `targets`, batched; a target the portal refuses to read
/// stops the command.
pub(crate) async fn read_targets(
    client: &Client,
    targets: &[Target],
) -> Result<BTreeMap<Target, BTreeMap<String, LiveSetting>>, Error> {
    tracing::info!(targets = targets.len(), "reading live settings");
    let mut live = BTreeMap::new();
    for (target, result) in crate::live::read_settings(client, targets).await? {
        match result {
            Ok(settings) => {
                live.insert(target, settings);
            }
            Err(error) => return Err(Error::Refresh { target, error }),
        }
    }
    Ok(live)
}

/// Reads the live settings of the declared targets (`--refresh`).
pub(crate) async fn read_live(client: &Client, desired: &DesiredValues) -> Result<Live, Error> {
    let targets: Vec<Target> = desired.targets.keys().copied().collect();
    let live = Live {
        targets: read_targets(client, &targets).await?,
    };
    for warning in not_returned(desired, &live) {
        tracing::warn!("{warning}");
    }
    Ok(live)
}

/// A managed code the portal does not return is not compared: one warning per code (for
/// the log and the plan).
pub(crate) fn not_returned(desired: &DesiredValues, live: &Live) -> Vec<String> {
    let mut warnings = Vec::new();
    for (target, d) in &desired.targets {
        if let Some(got) = live.targets.get(target) {
            for code in d.settings.keys().filter(|c| !got.contains_key(*c)) {
                warnings.push(format!(
                    "{target}: the portal did not return {}; its handler may not declare it, so \
                     drift cannot be checked",
                    crate::untrusted::escape_controls(code)
                ));
            }
        }
    }
    warnings
}

/// What a plan says about where it was made: the portal (`scheme://host[:port]`) and, in
/// CI, the commit and a link to the run (GitHub Actions' and GitLab CI's standard
/// variables).
pub(crate) fn about(portal: Option<String>) -> About {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let github_run = match (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    ) {
        (Some(server), Some(repository), Some(run)) => Some(format!(
            "{}/{repository}/actions/runs/{run}",
            server.trim_end_matches('/')
        )),
        _ => None,
    };
    About {
        portal,
        environment: None,
        commit: var("GITHUB_SHA").or_else(|| var("CI_COMMIT_SHA")),
        run_url: github_run.or_else(|| var("CI_PIPELINE_URL")),
    }
}

/// `--refresh`: the manifests checked against what the portal declares (mistakes only the
/// portal can show: undeclared codes, bad ENUM or Y/N values, unknown or built-in pay
/// systems, unknown payer types; exit 3), then the live settings of the declared targets,
/// with a spinner on a terminal; and the names of pay systems and payer types read.
pub(crate) fn refresh(
    rt: &Runtime,
    client: &Client,
    desired: &Desired,
    values: &DesiredValues,
    term: &Terminal,
) -> Result<(Live, Names), Error> {
    let names = rt.block_on(check_live(client, desired))?;
    let _reading = ReadingLive::start(term, values.targets.len());
    Ok((rt.block_on(read_live(client, values))?, names))
}

/// The plan in the chosen format.
pub(crate) fn render_plan(plan: &Plan, format: Format, term: &Terminal) -> String {
    match format {
        Format::Text => plan_text::render(plan, term.color_stdout()),
        Format::Json => plan_json::render(plan),
        Format::Markdown => plan_markdown::render(plan),
    }
}

/// Every secret reference the manifests declare, each once.
pub(crate) fn declared_secrets(desired: &Desired) -> Vec<&SecretRef> {
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
pub(crate) fn declared_value<'a>(
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
