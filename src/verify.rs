//! `apply --verify`: what the portal holds after the writes, compared with what was sent.
//!
//! `sale.paysystem.settings.update` answers `true` for a code its handler does not declare
//! (stored, never read back) and may answer `false` after writing some codes
//! (bitrix24-api.md §5.10). Reading the written targets back is the only way to know. A
//! code that differs is taken out of the state, so the next plan shows it again (as a
//! code to add) rather than trusting a write the portal did not keep. No I/O here.

use std::collections::BTreeMap;

use crate::fingerprint::Fingerprinter;
use crate::model::{LiveSettings, Target};
use crate::plan::{Plan, live_equals_recorded};
use crate::state::{LastApplied, RecordedValue};
use crate::untrusted::live_text;

/// One code the portal does not hold as it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub target: Target,
    pub code: String,
    /// `file:line` where the code is declared.
    pub at: Option<String>,
    /// What the portal holds, as shown (never a secret's value).
    pub found: Found,
}

/// What the portal holds for a code that does not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The code is not in the answer: its handler does not declare it, so the portal
    /// keeps it where nothing reads it.
    Missing,
    /// Another value (portal text, cut and scrubbed).
    Other(String),
    /// A secret code's value that is not the one sent (never shown).
    OtherSecret,
    /// The target's answer could not be read: what was wrong.
    Unreadable(String),
}

/// What was read back for each written target: its settings, or why they could not be
/// read.
pub type ReadBack = BTreeMap<Target, Result<LiveSettings, String>>;

/// The targets `confirmed` by the portal, and for each the codes `plan` wrote to it.
pub fn written<'a>(
    plan: &'a Plan,
    confirmed: &[Target],
) -> Vec<(Target, Vec<&'a crate::plan::Change>)> {
    plan.targets
        .iter()
        .filter(|t| confirmed.contains(&t.target))
        .map(|t| {
            let codes = t
                .changes
                .iter()
                .filter(|c| c.action.writes() || c.action == crate::plan::Action::Unchecked)
                .collect();
            (t.target, codes)
        })
        .filter(|(_, codes): &(Target, Vec<_>)| !codes.is_empty())
        .collect()
}

/// Every written code the portal does not hold as sent. What was sent is what the state
/// records after the apply (for a secret, its fingerprint, also when the plan could not
/// check it).
pub fn compare(
    plan: &Plan,
    confirmed: &[Target],
    read: &ReadBack,
    state: &LastApplied,
    fp: &Fingerprinter,
) -> Vec<Mismatch> {
    let mut found = Vec::new();
    for (target, changes) in written(plan, confirmed) {
        let location = |c: &crate::plan::Change| {
            plan.targets
                .iter()
                .find(|t| t.target == target)
                .and_then(|t| t.location(c))
                .map(ToString::to_string)
        };
        for change in changes {
            let Some(sent) = state.targets.get(&target).and_then(|s| s.get(&change.code)) else {
                continue;
            };
            let mismatch = |found| Mismatch {
                target,
                code: change.code.to_string(),
                at: location(change),
                found,
            };
            let live = match read.get(&target) {
                Some(Ok(settings)) => settings.get(&change.code),
                Some(Err(why)) => {
                    found.push(mismatch(Found::Unreadable(why.clone())));
                    continue;
                }
                None => None,
            };
            let Some(live) = live else {
                found.push(mismatch(Found::Missing));
                continue;
            };
            // `None` (cannot tell: a fingerprint this run cannot check) is not a mismatch.
            if live_equals_recorded(sent, live, fp) == Some(false) {
                found.push(mismatch(match sent {
                    RecordedValue::Secret { .. } => Found::OtherSecret,
                    _ => Found::Other(
                        live.value
                            .as_deref()
                            .map_or_else(|| "(unset)".to_owned(), live_text),
                    ),
                }));
            }
        }
    }
    found
}

/// Takes the codes the portal does not hold out of the state, so the next plan shows
/// them again.
pub fn forget_mismatches(state: &mut LastApplied, mismatches: &[Mismatch]) {
    for m in mismatches {
        if let Some(settings) = state.targets.get_mut(&m.target) {
            settings.remove(&m.code);
            if settings.is_empty() {
                state.targets.remove(&m.target);
                state.records.remove(&m.target);
            }
        }
    }
}
