//! What a plan covers and what it leaves out: the subset rule ([`Scope`]: `--target`,
//! the manifest files read) and the targets set aside because their live settings could
//! not be read. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::DesiredValues;
use crate::manifest;
use crate::model::{Desired, Live, Target, TargetRef};
use crate::state::{LastApplied, Recorded};

/// `--target` naming no target of the manifests or the state: an error naming the
/// nearest that exist (a usage error for the command), never a silent "No changes.".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--target {target} matches no target of the manifests or the state ({hint}); nothing was \
     planned"
)]
pub struct NoSuchTarget {
    pub target: String,
    pub hint: String,
}

fn no_such_target(wanted: &TargetRef, desired: &Desired, state: &LastApplied) -> NoSuchTarget {
    let ids = |t: &Target| format!("{}:{}", t.pay_system, t.person_type);
    let mut known: Vec<String> = desired.targets.keys().map(ids).collect();
    known.extend(state.targets.keys().map(ids));
    known.extend(
        desired
            .targets
            .values()
            .filter_map(|d| d.reference.as_ref())
            .chain(desired.pending.iter().filter_map(|d| d.reference.as_ref()))
            .map(ToString::to_string),
    );
    known.extend(state.records.values().filter_map(|r| r.reference.clone()));
    let shown = match wanted.ids() {
        Some(t) => ids(&t),
        None => wanted.to_string(),
    };
    let nearest = crate::wording::nearest(&shown, known.iter().map(String::as_str), 3, false);
    let hint = if nearest.is_empty() {
        "the manifests and the state declare none".to_owned()
    } else {
        format!("the nearest declared: {}", nearest.join(", "))
    };
    NoSuchTarget {
        target: shown,
        hint,
    }
}

/// What a plan covers: with `--target`, only those targets; otherwise every declared
/// target, and of the recorded ones only those whose manifest file was among the files
/// read (a file given, or one under a directory given) or that the state does not know
/// the file of. A recorded target outside the scope is left alone: never planned as no
/// longer managed.
pub struct Scope {
    /// `--target`, resolved to targets (`None`: no `--target`).
    selected: Option<BTreeSet<Target>>,
    /// References of `--target` that match targets not resolved yet.
    selected_pending: Vec<TargetRef>,
    paths: Vec<PathBuf>,
}

impl Scope {
    /// The scope of `targets` (`--target`, empty: none) over the manifest files `read`
    /// (with `--env` and PATHs, the subset's: a recorded target of another of the
    /// environment's files is not forgotten).
    pub fn new(
        targets: &[TargetRef],
        read: &[PathBuf],
        desired: &Desired,
        state: &LastApplied,
    ) -> Result<Scope, NoSuchTarget> {
        let paths = read.iter().map(|p| manifest::normalized(p)).collect();
        if targets.is_empty() {
            return Ok(Scope {
                selected: None,
                selected_pending: Vec::new(),
                paths,
            });
        }
        let mut selected = BTreeSet::new();
        let mut selected_pending = Vec::new();
        for wanted in targets {
            // Whether `wanted` names anything: a target the manifests or the state have
            // by these IDs (or may, while a reference is not resolved yet, offline), or
            // one they name by this reference.
            let mut found = false;
            if let Some(target) = wanted.ids() {
                selected.insert(target);
                found = desired.targets.contains_key(&target)
                    || state.targets.contains_key(&target)
                    || !desired.pending.is_empty();
            }
            let named = |reference: Option<&str>| {
                reference
                    .and_then(|r| TargetRef::parse(r).ok())
                    .is_some_and(|r| wanted.names(&r))
            };
            for (target, d) in &desired.targets {
                if d.reference.as_ref().is_some_and(|r| wanted.names(r)) {
                    selected.insert(*target);
                    found = true;
                }
            }
            for (target, record) in &state.records {
                if named(record.reference.as_deref()) {
                    selected.insert(*target);
                    found = true;
                }
            }
            for d in &desired.pending {
                if let Some(r) = d.reference.as_ref().filter(|r| wanted.names(r)) {
                    selected_pending.push((**r).clone());
                    found = true;
                }
            }
            if !found {
                return Err(no_such_target(wanted, desired, state));
            }
        }
        Ok(Scope {
            selected: Some(selected),
            selected_pending,
            paths,
        })
    }

    /// Drops the declared targets outside a `--target` selection.
    pub fn narrow(&self, desired: &mut Desired) {
        if let Some(selected) = &self.selected {
            desired.targets.retain(|t, _| selected.contains(t));
            desired.pending.retain(|d| {
                d.reference
                    .as_ref()
                    .is_some_and(|r| self.selected_pending.contains(r))
            });
        }
    }

    /// The recorded settings of the targets in scope, for the planner: every declared
    /// target's (wherever the state says it was declared: an overlay of a subset, a
    /// document moved to another file), and those the scope covers.
    pub fn recorded<'s>(&self, state: &'s LastApplied, declared: &DesiredValues) -> Recorded<'s> {
        // Borrowed from the state, not copied (issue 22.2).
        state
            .targets
            .iter()
            .filter(|(target, _)| {
                declared.targets.contains_key(*target) || self.covers(state, **target)
            })
            .map(|(target, settings)| (*target, settings))
            .collect()
    }

    /// Whether a recorded handler or pay system declared in `file` (as the state
    /// recorded it; `None`: not known) is in scope: its file was among those read.
    pub fn covers_manifest(&self, file: Option<&str>) -> bool {
        match file {
            Some(file) => {
                let file = manifest::normalized(Path::new(file));
                self.paths.iter().any(|p| file.starts_with(p))
            }
            None => true,
        }
    }

    fn covers(&self, state: &LastApplied, target: Target) -> bool {
        if let Some(selected) = &self.selected {
            return selected.contains(&target);
        }
        self.covers_manifest(
            state
                .records
                .get(&target)
                .and_then(|r| r.manifest.as_deref()),
        )
    }
}

/// Sets aside the targets whose answer could not be read: out of the desired values and
/// the recorded settings the planner sees (so nothing is planned or written for them),
/// each said in a warning with its manifest place.
pub fn set_aside(
    unreadable: &BTreeMap<Target, String>,
    values: &mut DesiredValues,
    recorded: &mut Recorded<'_>,
    warnings: &mut Vec<String>,
) {
    for (target, why) in unreadable {
        let place = values
            .targets
            .remove(target)
            .and_then(|d| d.manifest)
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        recorded.remove(target);
        warnings.push(format!(
            "{target}{place}: the portal's answer cannot be read ({}): not planned, nothing is \
             written to it",
            crate::untrusted::escape_controls(why)
        ));
    }
}

/// A managed code the portal does not return is not compared: one warning per code (for
/// the log and the plan).
pub fn not_returned(desired: &DesiredValues, live: &Live) -> Vec<String> {
    // One warning per code, not per target: a code the handler does not declare is
    // missing from every target of that handler (issue 23: thousands of lines).
    let mut missing: BTreeMap<&str, Vec<Target>> = BTreeMap::new();
    for (target, d) in &desired.targets {
        if let Some(got) = live.targets.get(target) {
            for (code, _) in d.settings.iter().filter(|(c, _)| !got.contains_key(c)) {
                missing.entry(code).or_default().push(*target);
            }
        }
    }
    missing
        .into_iter()
        .map(|(code, targets)| not_returned_warning(code, &targets))
        .collect()
}

/// The warning for a code the portal did not return for `targets` (at least one).
fn not_returned_warning(code: &str, targets: &[Target]) -> String {
    const NAMED: usize = 3;
    let code = crate::untrusted::escape_controls(code);
    if let [target] = targets {
        return format!(
            "{target}: the portal did not return {code}; its handler may not declare it, so \
             drift cannot be checked"
        );
    }
    let named: Vec<String> = targets
        .iter()
        .take(NAMED)
        .map(ToString::to_string)
        .collect();
    let more = targets.len().saturating_sub(NAMED);
    format!(
        "the portal did not return {code} for {} targets ({}{}); their handler may not \
         declare it, so drift cannot be checked",
        targets.len(),
        named.join(", "),
        if more > 0 {
            format!(", and {more} more")
        } else {
            String::new()
        }
    )
}
