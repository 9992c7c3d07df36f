//! The steps commands share: how they reach the portal ([`Context`]), their runtime, the
//! points where a signal stops them, loading manifests, checking the state's portal,
//! live validation and reads, showing a plan, and the secrets manifests declare.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::bitrix::{self, Client, Rate};
use crate::cli::Format;
use crate::error::{Error, UsageError};
use crate::fingerprint::ENV_FINGERPRINT_KEY;
use crate::live::{Catalog, ReadError, Reads};
use crate::manifest;
use crate::manifest::Resolution;
use crate::model::{Desired, Live, LiveSetting, Names, PersonTypeRef, Target, TargetRef};
use crate::plan::{DesiredValues, Plan};
use crate::render::progress::ReadingLive;
use crate::render::terminal::Terminal;
use crate::render::{plan_json, plan_markdown, plan_text};
use crate::secrets::Redacted;
use crate::state::LastApplied;
use crate::state::StateBackend;

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

    /// A client for the portal, keeping to `rate` (`--rate`) when it comes from the
    /// environment.
    pub fn connect(&self, rate: Rate) -> Result<Client, Error> {
        match &self.portal {
            Portal::Environment => {
                let credentials = bitrix::credentials_from_env()?;
                Ok(Client::new(credentials)?.with_rate(rate))
            }
            Portal::Client(client) => Ok(client.clone()),
            Portal::Named { vars, pin } => {
                let credentials = bitrix::credentials_from_variables(vars, pin.as_deref())?;
                Ok(Client::new(credentials)?.with_rate(rate))
            }
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
        None => Resolution::Unknown,
    })
    .map_err(Error::Manifests)
}

/// Connected: the references resolved against the portal's catalog (an unknown or
/// ambiguous one is a located error); a reference the state recorded for another target
/// (the pay system was re-created) is said in a warning, and planned for the new one.
fn resolve_live(
    desired: &mut Desired,
    catalog: &Catalog,
    state: &LastApplied,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    let known = state.resolutions();
    manifest::resolve(desired, |r| {
        let found = catalog.resolve(r);
        if let (Resolution::Found(now), Some(before)) = (&found, known.get(r.to_string().as_str()))
            && now != before
        {
            warnings.push(format!(
                "{r} is now {now} (the state recorded {before}): its settings are planned for \
                 {now}; {before} is no longer managed"
            ));
        }
        found
    })
    .map_err(Error::Manifests)
}

/// Whether reading the catalog needs the payer types: a target names one other than 0,
/// or by `xmlId`/`code`.
fn needs_person_types(desired: &Desired) -> bool {
    desired.targets.keys().any(|t| t.person_type != 0)
        || desired.pending.iter().any(|d| {
            !matches!(
                d.reference.as_ref().map(|r| &r.person_type),
                Some(PersonTypeRef::Id(0))
            )
        })
}

/// Connected, without `--refresh`: the catalog read only to resolve references (when the
/// manifests use any).
pub(crate) async fn resolve_connected(
    client: &Client,
    desired: &mut Desired,
    state: &LastApplied,
    warnings: &mut Vec<String>,
) -> Result<Names, Error> {
    if desired.pending.is_empty() {
        return Ok(Names::default());
    }
    let catalog = crate::live::fetch(client, needs_person_types(desired)).await?;
    resolve_live(desired, &catalog, state, warnings)?;
    Ok(catalog.names())
}

/// Refuses state made for another portal.
pub(crate) fn check_portal(
    store: &dyn StateBackend,
    state: &LastApplied,
    portal: &str,
) -> Result<(), Error> {
    match &state.portal {
        Some(recorded) if !bitrix::same_portal(recorded, portal) => Err(Error::ForeignPortal {
            state: store.location().clone(),
            state_portal: recorded.clone(),
            portal: portal.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Live validation: the references resolved, then the manifests checked against what
/// the portal declares; any problem is a manifest error (exit 3), located. Returns the
/// names of pay systems and payer types read.
pub(crate) async fn check_live(
    client: &Client,
    desired: &mut Desired,
    state: &LastApplied,
    warnings: &mut Vec<String>,
) -> Result<Names, Error> {
    Ok(
        check_live_reading(client, desired, state, warnings, Prefetch::None)
            .await?
            .0,
    )
}

/// What [`check_live_reading`] reads beside the catalog.
pub(crate) enum Prefetch<'a> {
    /// Nothing: the catalog only.
    None,
    /// The settings of the declared targets that `--target` selects (all of them without
    /// `--target`), for [`refresh`].
    Selected(&'a [TargetRef]),
}

/// [`check_live`]; with [`Prefetch::Selected`] (`--refresh`, and no reference to resolve
/// first) the settings of the first declared targets it selects are read in the
/// catalog's batch, for [`refresh`]. A `--target` naming a target by reference selects
/// nothing yet (the catalog resolves it): those are read afterwards.
pub(crate) async fn check_live_reading(
    client: &Client,
    desired: &mut Desired,
    state: &LastApplied,
    warnings: &mut Vec<String>,
    prefetch: Prefetch<'_>,
) -> Result<(Names, Reads), Error> {
    let targets: Vec<Target> = match prefetch {
        Prefetch::Selected(selected) if desired.pending.is_empty() => {
            match selected
                .iter()
                .map(TargetRef::ids)
                .collect::<Option<Vec<_>>>()
            {
                Some(ids) => desired
                    .targets
                    .keys()
                    .filter(|t| ids.is_empty() || ids.contains(t))
                    .copied()
                    .collect(),
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    let (catalog, reads) =
        crate::live::fetch_with_reads(client, needs_person_types(desired), &targets).await?;
    resolve_live(desired, &catalog, state, warnings)?;
    let problems = crate::live::check(desired, &catalog);
    if problems.0.is_empty() {
        Ok((catalog.names(), reads))
    } else {
        Err(Error::Manifests(problems))
    }
}

/// The live settings of the targets read, and the targets whose answer could not be
/// read (with what was wrong): those are never compared, planned or written.
pub(crate) type LiveRead = (BTreeMap<Target, BTreeMap<String, LiveSetting>>, Unreadable);

/// Targets whose `settings.get` answer had an unexpected shape, with what was wrong.
pub(crate) type Unreadable = BTreeMap<Target, String>;

/// Reads the live settings of `targets`, batched; a target the portal refuses to read
/// stops the command, one whose answer cannot be read is set aside (the others go on).
pub(crate) async fn read_targets(client: &Client, targets: &[Target]) -> Result<LiveRead, Error> {
    tracing::info!(targets = targets.len(), "reading live settings");
    sort_reads(crate::live::read_settings(client, targets).await?)
}

/// Reads sorted into settings, unreadable targets (set aside, warned) and refusals (the
/// first stops the command).
fn sort_reads(reads: Reads) -> Result<LiveRead, Error> {
    let mut live = BTreeMap::new();
    let mut unreadable = BTreeMap::new();
    for (target, result) in reads {
        match result {
            Ok(settings) => {
                live.insert(target, settings);
            }
            Err(ReadError::Unreadable(why)) => {
                let _span = target.span().entered();
                tracing::warn!("the portal's answer for this target cannot be read: {why}");
                unreadable.insert(target, why);
            }
            Err(ReadError::Refused(error)) => return Err(Error::Refresh { target, error }),
        }
    }
    Ok((live, unreadable))
}

/// Reads the live settings of the declared targets (`--refresh`); those `prefetched` in
/// the catalog's batch are not read again.
pub(crate) async fn read_live(
    client: &Client,
    desired: &DesiredValues,
    mut prefetched: Reads,
) -> Result<(Live, Unreadable), Error> {
    prefetched.retain(|target, _| desired.targets.contains_key(target));
    let rest: Vec<Target> = desired
        .targets
        .keys()
        .filter(|t| !prefetched.contains_key(*t))
        .copied()
        .collect();
    tracing::info!(targets = desired.targets.len(), "reading live settings");
    let mut reads = prefetched;
    if !rest.is_empty() {
        reads.extend(crate::live::read_settings(client, &rest).await?);
    }
    let (targets, unreadable) = sort_reads(reads)?;
    let live = Live { targets };
    for warning in crate::plan::scope::not_returned(desired, &live) {
        tracing::warn!("{warning}");
    }
    Ok((live, unreadable))
}

/// `--refresh`, after [`check_live`]: the live settings of the declared targets, with a
/// spinner on a terminal, and the targets whose answer could not be read.
pub(crate) fn refresh(
    rt: &Runtime,
    client: &Client,
    values: &DesiredValues,
    prefetched: Reads,
    term: &Terminal,
) -> Result<(Live, Unreadable), Error> {
    let _reading = ReadingLive::start(term, values.targets.len());
    rt.block_on(read_live(client, values, prefetched))
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
