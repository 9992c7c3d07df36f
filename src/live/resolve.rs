//! Connected steps of a plan: the references the manifests use resolved against the
//! portal's catalog, the manifests checked against what it declares, and the live
//! settings of the targets read and sorted (settings, unreadable answers, refusals).
//! Reads only.

use std::collections::BTreeMap;

use super::catalog::Catalog;
use super::check::check;
use super::read::{ReadError, Reads, fetch, fetch_with_reads, read_settings};
use crate::bitrix::{Client, ClientError, PortalError};
use crate::manifest::{self, Code, Diagnostic, Diagnostics, Resolution};
use crate::model::{
    Desired, Live, LiveSettings, Names, Origin, PaySystemRef, PersonTypeRef, Target, TargetRef,
};
use crate::plan::{DesiredValues, Plan};

/// Why a connected step could not be done.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A reference that resolves to no target or several, or a manifest the portal's
    /// declarations refuse: located, like any manifest problem.
    #[error("{0}")]
    Manifests(Diagnostics),
    /// The portal refused to read a target's settings.
    #[error("cannot read live settings of {target}: {error}")]
    Refused { target: Target, error: PortalError },
}

/// Targets whose `settings.get` answer had an unexpected shape, with what was wrong.
pub type Unreadable = BTreeMap<Target, String>;

/// The live settings of the targets read, and the targets whose answer could not be
/// read (with what was wrong): those are never compared, planned or written.
pub type LiveRead = (BTreeMap<Target, LiveSettings>, Unreadable);

/// Connected: the references resolved against the portal's catalog (an unknown or
/// ambiguous one is a located error); a reference `known` (the state's resolutions)
/// records for another target (the pay system was re-created) is said in a warning,
/// and planned for the new one.
fn resolve_live(
    desired: &mut Desired,
    catalog: &Catalog,
    known: &BTreeMap<&str, Target>,
    warnings: &mut Vec<String>,
) -> Result<(), LiveError> {
    // A pay system the manifests declare and the portal does not hold yet is created by
    // this apply: its targets stay to be resolved then (planned in full).
    let created: Vec<String> = desired
        .objects
        .pay_systems
        .values()
        .filter(|p| !p.delete)
        .map(|p| p.xml_id.clone())
        .filter(|x| {
            !catalog
                .pay_systems
                .values()
                .any(|p| p.xml_id.as_deref() == Some(x.as_str()))
        })
        .collect();
    manifest::resolve(desired, |r| {
        if let PaySystemRef::XmlId(x) = &r.pay_system
            && created.contains(x)
        {
            return Resolution::Unknown;
        }
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
    .map_err(LiveError::Manifests)
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
/// manifests use any). `known`: the state's resolutions.
pub async fn resolve_connected(
    client: &Client,
    desired: &mut Desired,
    known: &BTreeMap<&str, Target>,
    warnings: &mut Vec<String>,
) -> Result<Names, LiveError> {
    if desired.pending.is_empty() {
        return Ok(Names::default());
    }
    let catalog = fetch(client, needs_person_types(desired)).await?;
    resolve_live(desired, &catalog, known, warnings)?;
    Ok(catalog.names())
}

/// What [`check_live_reading`] reads beside the catalog.
pub enum Prefetch<'a> {
    /// Nothing: the catalog only.
    None,
    /// The settings of the declared targets that `--target` selects (all of them without
    /// `--target`), for [`read_live`].
    Selected(&'a [TargetRef]),
}

/// Live validation: the references resolved, then the manifests checked against what
/// the portal declares; any problem is a manifest error (exit 3), located. Returns the
/// names of pay systems and payer types read. With [`Prefetch::Selected`] (`--refresh`,
/// and no reference to resolve first) the settings of the first declared targets it
/// selects are read in the catalog's batch, for [`read_live`]. A `--target` naming a
/// target by reference selects nothing yet (the catalog resolves it): those are read
/// afterwards.
pub async fn check_live_reading(
    client: &Client,
    desired: &mut Desired,
    known: &BTreeMap<&str, Target>,
    warnings: &mut Vec<String>,
    prefetch: Prefetch<'_>,
) -> Result<(Names, Reads), LiveError> {
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
    let (catalog, reads) = fetch_with_reads(client, needs_person_types(desired), &targets).await?;
    resolve_live(desired, &catalog, known, warnings)?;
    let problems = check(desired, &catalog);
    if problems.0.is_empty() {
        Ok((catalog.names(), reads))
    } else {
        Err(LiveError::Manifests(problems))
    }
}

/// Reads the live settings of `targets`, batched; a target the portal refuses to read
/// stops the command, one whose answer cannot be read is set aside (the others go on).
pub async fn read_targets(client: &Client, targets: &[Target]) -> Result<LiveRead, LiveError> {
    tracing::info!(targets = targets.len(), "reading live settings");
    sort_reads(read_settings(client, targets).await?)
}

/// Reads sorted into settings, unreadable targets (set aside, warned) and refusals (the
/// first stops the command).
fn sort_reads(reads: Reads) -> Result<LiveRead, LiveError> {
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
            Err(ReadError::Refused(error)) => return Err(LiveError::Refused { target, error }),
        }
    }
    Ok((live, unreadable))
}

/// Reads the live settings of the declared targets (`--refresh`); those `prefetched` in
/// the catalog's batch are not read again.
pub async fn read_live(
    client: &Client,
    desired: &DesiredValues,
    mut prefetched: Reads,
) -> Result<(Live, Unreadable), LiveError> {
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
        reads.extend(read_settings(client, &rest).await?);
    }
    let (targets, unreadable) = sort_reads(reads)?;
    let live = Live { targets };
    for warning in crate::plan::scope::not_returned(desired, &live) {
        tracing::warn!("{warning}");
    }
    Ok((live, unreadable))
}

/// Resolves the targets `plan` names by a reference not resolved when it was made, on
/// the portal of `client`, and makes them ordinary targets of the plan (every setting
/// an `add`, as planned). Returns the names read.
pub async fn resolve_planned(client: &Client, plan: &mut Plan) -> Result<Names, LiveError> {
    let catalog = fetch(client, true).await?;
    let mut problems = Vec::new();
    for mut target in std::mem::take(&mut plan.unresolved) {
        let written = target.reference.clone().unwrap_or_default();
        let at = || match &target.manifest {
            Some(m) => Origin {
                file: m.file.clone(),
                line: Origin::narrow(m.line),
                column: 1,
                len: 0,
            },
            None => Origin {
                line: 1,
                column: 1,
                ..Origin::default()
            },
        };
        let found = TargetRef::parse(&written)
            .map(|r| catalog.resolve(&r))
            .unwrap_or_else(Resolution::Refused);
        match found {
            Resolution::Found(resolved) if plan.targets.iter().all(|t| t.target != resolved) => {
                target.target = resolved;
                plan.targets.push(target);
            }
            Resolution::Found(resolved) => problems.push(Diagnostic::new(
                Code::DuplicateTarget,
                at(),
                format!("{written} is {resolved}, which the plan also names by ID"),
            )),
            Resolution::Refused(why) => problems.push(manifest::unknown_reference(at(), why)),
            Resolution::Unknown => {}
        }
    }
    if !problems.is_empty() {
        return Err(LiveError::Manifests(Diagnostics(problems)));
    }
    plan.targets.sort_by_key(|t| t.target);
    Ok(catalog.names())
}
