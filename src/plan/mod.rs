//! The planner: a pure function from desired, last-applied and (optionally) live settings
//! to a [`Plan`]. No I/O, no async, no clock — every rule of SPEC §4 lives in [`compute`]
//! and is covered by the table-driven tests at the bottom.
//!
//! Secrets: desired secret values arrive as fingerprints (or as "not checked" when they
//! could not be resolved); a live value of a code managed as a secret is fingerprinted
//! here and only ever appears in the plan as [`Value::Hidden`].

pub mod document;
pub mod drift;
pub mod objects;
pub mod risk;
pub mod saved;
mod saved_file;
pub mod scope;
mod value;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::codes::CompactString;
use crate::fingerprint::{Fingerprint, Fingerprinter};
pub use crate::model::Names;
use crate::model::{Desired, Live, Location, SettingValue, Target};
use crate::secrets::SecretRef;
use crate::state::{Recorded, RecordedSettings, RecordedValue};
use crate::untrusted::live_text;
pub use value::Value;
pub(crate) use value::live_equals_recorded;
use value::{equals_recorded, live_equals_value};

/// What apply does with one code.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// In the manifest, not in the state: written.
    Add,
    /// In both, values differ: written.
    Update,
    /// `--refresh`: live differs from the state for a managed code: written back.
    Drift,
    /// In the state, gone from the manifest: forgotten in the state, left on the portal.
    Forget,
    /// `--refresh`: live already equals desired: recorded in the state, nothing sent.
    Record,
    /// A secret whose reference is unchanged but whose value could not be read now:
    /// apply resolves it and writes it only if its fingerprint changed.
    Unchecked,
}

impl Action {
    /// Whether the action (certainly) sends the code to the portal.
    pub fn writes(self) -> bool {
        matches!(self, Action::Add | Action::Update | Action::Drift)
    }
}

/// One code's entry in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Inline ([`CompactString`]): a plan may hold a million codes (issue 22.2).
    pub code: CompactString,
    pub action: Action,
    /// `file:line` where the code is declared, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Location>,
    /// The value being replaced: recorded (state) or live (drift); absent for `add`.
    /// Boxed: most changes of a large plan are additions, and a `Value` inline is about
    /// 100 bytes each of them would carry empty (issue 13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Box<Value>>,
    /// The desired value; absent for `forget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// The plan for one target; only targets with at least one change appear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetPlan {
    #[serde(flatten)]
    pub target: Target,
    /// `file:line` of the manifest document, when the target is still declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Location>,
    /// How the manifest names it, when by reference (`xmlId:acme_card/1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Sorted by code.
    pub changes: Vec<Change>,
}

#[cfg(test)]
impl Change {
    /// A change declared nowhere, for tests.
    pub(crate) fn new(
        code: &str,
        action: Action,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Change {
        Change {
            code: code.into(),
            action,
            at: None,
            before: before.map(Box::new),
            after,
        }
    }
}

impl TargetPlan {
    /// The manifest file of the target's document, when it is still declared.
    pub fn file(&self) -> Option<&Path> {
        Some(&self.manifest.as_ref()?.file)
    }

    /// Where `change` is declared: `file:line` of its code, or of the target's document
    /// (a forgotten code), or `None` (a target no longer declared).
    pub fn location<'a>(&'a self, change: &'a Change) -> Option<&'a Location> {
        change.at.as_ref().or(self.manifest.as_ref())
    }
}

impl TargetPlan {
    /// Whether apply sends anything for this target (certainly, or after checking a secret).
    pub fn may_write(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.action.writes() || c.action == Action::Unchecked)
    }
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Where, by what and from what the plan was made (its header in every format).
    pub about: About,
    /// Whether live settings were read (`--refresh`).
    pub refreshed: bool,
    /// Sorted by target.
    pub targets: Vec<TargetPlan>,
    /// The names of the pay systems and payer types this run knows (state, `--refresh`).
    pub names: Names,
    /// What a reviewer should know that is not a change (shown in every format).
    pub warnings: Vec<String>,
    /// Targets named by a reference not resolved yet (offline, never applied, or a
    /// pay system this apply creates): their desired settings, each an `add`; apply
    /// resolves them on the portal.
    pub unresolved: Vec<TargetPlan>,
    /// The handlers and pay systems to create, adopt, update, delete or forget
    /// (issue 24), handlers first.
    pub objects: Vec<objects::ObjectPlan>,
}

/// Where, by what and from what a plan (or report) was made. The portal is
/// `scheme://host[:port]`, never credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct About {
    pub portal: Option<String>,
    /// The environment the plan is for, when there is one.
    pub environment: Option<String>,
    /// The commit the manifests were read at (from the CI's variables).
    pub commit: Option<String>,
    /// The CI run (pipeline) that made the plan, a link.
    pub run_url: Option<String>,
}

impl About {
    /// The portal's host (and port), for headers: `example.bitrix24.ru`.
    pub fn host(&self) -> Option<&str> {
        let portal = self.portal.as_deref()?;
        let rest = portal.split_once("://").map_or(portal, |(_, rest)| rest);
        Some(rest.split(['/', '?', '#']).next().unwrap_or(rest))
    }
}

/// Counts for the summary line.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Summary {
    /// Targets with at least one setting to write.
    pub targets_to_change: usize,
    pub to_add: usize,
    /// Includes drift corrections.
    pub to_change: usize,
    /// Of `to_change`, how many correct changes made outside paysync.
    pub drifted: usize,
    pub no_longer_managed: usize,
    pub not_checked: usize,
    /// Codes recorded in the state without a write (live already equals desired).
    pub to_record: usize,
    /// Settings whose secret was found empty at plan time: apply refuses to run until
    /// they are set.
    pub empty_secrets: usize,
    /// Targets named by a reference not resolved yet: apply resolves them and writes
    /// their settings.
    #[serde(default)]
    pub to_resolve: usize,
    /// Handlers and pay systems to create.
    #[serde(default)]
    pub objects_to_create: usize,
    /// Handlers and pay systems found on the portal by identity, not recorded: taken
    /// over (and updated where they differ).
    #[serde(default)]
    pub objects_to_adopt: usize,
    /// Handlers and pay systems to update.
    #[serde(default)]
    pub objects_to_update: usize,
    /// Handlers and pay systems to delete (`delete: true`).
    #[serde(default)]
    pub objects_to_delete: usize,
    /// Handlers and pay systems gone from the manifests: forgotten, left on the portal.
    #[serde(default)]
    pub objects_no_longer_managed: usize,
}

impl Summary {
    /// Whether the plan changes the portal or the state in a way a reviewer must see
    /// (this drives `--detailed-exitcode`).
    pub fn has_changes(&self) -> bool {
        self.to_add
            + self.to_change
            + self.no_longer_managed
            + self.to_resolve
            + self.objects_to_create
            + self.objects_to_adopt
            + self.objects_to_update
            + self.objects_to_delete
            + self.objects_no_longer_managed
            > 0
    }

    /// Objects apply writes (creates, adoptions, updates, deletes).
    pub fn object_writes(&self) -> usize {
        self.objects_to_create
            + self.objects_to_adopt
            + self.objects_to_update
            + self.objects_to_delete
    }
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            to_resolve: self.unresolved.len(),
            ..Summary::default()
        };
        for o in &self.objects {
            match o.action {
                objects::ObjectAction::Create => s.objects_to_create += 1,
                objects::ObjectAction::Adopt => s.objects_to_adopt += 1,
                objects::ObjectAction::Update => s.objects_to_update += 1,
                objects::ObjectAction::Delete => s.objects_to_delete += 1,
                objects::ObjectAction::Forget => s.objects_no_longer_managed += 1,
            }
        }
        for t in &self.targets {
            if t.changes.iter().any(|c| c.action.writes()) {
                s.targets_to_change += 1;
            }
            for c in &t.changes {
                if c.after.as_ref().is_some_and(Value::is_empty_secret) {
                    s.empty_secrets += 1;
                }
                match c.action {
                    Action::Add => s.to_add += 1,
                    Action::Update => s.to_change += 1,
                    Action::Drift => {
                        s.to_change += 1;
                        s.drifted += 1
                    }
                    Action::Forget => s.no_longer_managed += 1,
                    Action::Record => s.to_record += 1,
                    Action::Unchecked => s.not_checked += 1,
                }
            }
        }
        s
    }

    /// Whether `target` (not resolved yet) names a pay system this plan creates or
    /// adopts by its `XML_ID`.
    pub fn creates_pay_system_of(&self, target: &TargetPlan) -> bool {
        let Some(Ok(reference)) = target
            .reference
            .as_deref()
            .map(crate::model::TargetRef::parse)
        else {
            return false;
        };
        let crate::model::PaySystemRef::XmlId(xml_id) = &reference.pay_system else {
            return false;
        };
        self.objects.iter().any(|o| {
            o.kind == crate::model::objects::ObjectKind::PaySystem
                && matches!(
                    o.action,
                    objects::ObjectAction::Create | objects::ObjectAction::Adopt
                )
                && o.identity == *xml_id
        })
    }

    /// Every secret reference a write of this plan may need.
    pub fn secret_refs(&self) -> Vec<&SecretRef> {
        let mut refs: Vec<&SecretRef> = self
            .targets
            .iter()
            .chain(&self.unresolved)
            .flat_map(|t| &t.changes)
            .filter(|c| c.action != Action::Forget)
            .filter_map(|c| match &c.after {
                Some(Value::Secret { secret, .. }) => Some(&**secret),
                _ => None,
            })
            .collect();
        refs.sort();
        refs.dedup();
        refs
    }

    /// The secret each change writes, by target and code: where a recorded reference's
    /// value is looked up when fingerprints are carried over
    /// ([`crate::state::LastApplied::carry_over`]).
    pub fn written_secrets(&self) -> BTreeMap<(Target, &str), &SecretRef> {
        self.targets
            .iter()
            .flat_map(|t| {
                t.changes.iter().filter_map(move |c| match &c.after {
                    Some(Value::Secret { secret, .. }) => {
                        Some(((t.target, c.code.as_str()), &**secret))
                    }
                    _ => None,
                })
            })
            .collect()
    }

    /// Where the plan's changes reference each secret (`file:line`), for messages.
    pub fn secret_places(&self) -> BTreeMap<SecretRef, Vec<String>> {
        let mut places: BTreeMap<SecretRef, Vec<String>> = BTreeMap::new();
        for change in self
            .targets
            .iter()
            .chain(&self.unresolved)
            .flat_map(|t| &t.changes)
        {
            if let (Some(Value::Secret { secret, .. }), Some(at)) = (&change.after, &change.at) {
                places
                    .entry((**secret).clone())
                    .or_default()
                    .push(at.to_string());
            }
        }
        for list in places.values_mut() {
            list.sort();
            list.dedup();
        }
        places
    }

    /// The secret references found empty at plan time, each once.
    pub fn empty_secret_refs(&self) -> Vec<&SecretRef> {
        let mut refs: Vec<&SecretRef> = self
            .targets
            .iter()
            .chain(&self.unresolved)
            .flat_map(|t| &t.changes)
            .filter_map(|c| match &c.after {
                Some(Value::Secret {
                    secret,
                    empty: true,
                    ..
                }) => Some(&**secret),
                _ => None,
            })
            .collect();
        refs.sort();
        refs.dedup();
        refs
    }
}

/// What plan time knows of a secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretCheck {
    /// Read, and fingerprinted.
    Checked(Fingerprint),
    /// Not readable now (not set, no file): "not checked".
    Unreadable,
    /// Set but empty: shown as such, and refused by apply.
    Empty,
}

/// The desired settings with secrets resolved to fingerprints where possible.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DesiredValues {
    pub targets: BTreeMap<Target, DesiredTargetValues>,
    /// Targets named by a reference not resolved yet, in the order declared.
    pub pending: Vec<DesiredTargetValues>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DesiredTargetValues {
    /// Where the target's document starts.
    pub manifest: Option<Location>,
    /// How the manifest names the target, when by reference.
    pub reference: Option<String>,
    /// Code → desired value, sorted by code. A list rather than a map: a map allocates
    /// room for 11 entries however few it holds, about 500 bytes per target of one code
    /// (issue 13).
    pub settings: Vec<(CompactString, Value)>,
    /// Where each code of `settings` is declared (with overlays, the source that set
    /// it), in the same order; may be shorter (the rest not known).
    pub origins: Vec<Location>,
}

impl DesiredValues {
    /// Turns declared settings into plan values. `check` says what is known of a
    /// secret's value now.
    ///
    /// Takes the declarations by value: codes, sources and values move into the plan's
    /// inputs rather than being copied (issue 13: two to three allocations per setting).
    pub fn new(
        desired: Desired,
        mut check: impl FnMut(&SecretRef) -> SecretCheck,
    ) -> DesiredValues {
        let mut values = |d: crate::model::DesiredTarget| {
            let mut origins = Vec::with_capacity(d.settings.len());
            // Into a list of its own, of exact room: collected from the declarations'
            // list, the values would be written into its allocation in place, keeping room
            // sized for a declaration (about 160 bytes) per value (88): 158 MB instead of
            // 88 at 1M settings (issue 22).
            let mut settings = Vec::with_capacity(d.settings.len());
            settings.extend(d.settings.into_iter().map(|(code, setting, at)| {
                let value = match setting.value {
                    SettingValue::Plain(value) => Value::Plain {
                        source: setting.source,
                        value,
                    },
                    SettingValue::Secret(secret) => {
                        let (fingerprint, empty) = match check(&secret) {
                            SecretCheck::Checked(f) => (Some(f), false),
                            SecretCheck::Unreadable => (None, false),
                            SecretCheck::Empty => (None, true),
                        };
                        Value::Secret {
                            source: setting.source,
                            secret,
                            fingerprint,
                            empty,
                        }
                    }
                };
                origins.push(Location::from(&at));
                (code, value)
            }));
            DesiredTargetValues {
                manifest: Some(Location::from(&d.origin)),
                reference: d.reference.as_ref().map(ToString::to_string),
                settings,
                origins,
            }
        };
        // Inserted one by one, in order: collecting would first gather every target in a
        // list (22 MB for 200,000 targets) and then build the map beside it (issue 13).
        let mut targets = BTreeMap::new();
        for (target, d) in desired.targets {
            targets.insert(target, values(*d));
        }
        let pending = desired.pending.into_iter().map(values).collect();
        DesiredValues { targets, pending }
    }
}

/// A target's desired settings, each with where it is declared when that is known.
fn located(
    settings: Vec<(CompactString, Value)>,
    origins: Vec<Location>,
) -> impl Iterator<Item = ((CompactString, Value), Option<Location>)> {
    settings
        .into_iter()
        .zip(origins.into_iter().map(Some).chain(std::iter::repeat(None)))
}

/// Computes the plan. `live` is `Some` with `--refresh`; a code missing from a live
/// target's map was not reported by the portal and is not compared.
pub fn compute(
    desired: DesiredValues,
    last_applied: &Recorded<'_>,
    live: Option<&Live>,
    fp: &Fingerprinter,
) -> Plan {
    // The desired values are taken by value: each change moves its code, value and
    // location out of them instead of copying them (issue 13).
    let DesiredValues {
        targets: desired_targets,
        pending,
    } = desired;
    let empty = RecordedSettings::default();
    let mut targets = Vec::new();
    // Every target declared or recorded, in order: the two sorted maps walked side by
    // side, the declared one consumed as it goes (no third set of every target).
    let mut declared = desired_targets.into_iter().peekable();
    let mut recorded_targets = last_applied.iter().peekable();
    loop {
        let next_declared = declared.peek().map(|(t, _)| *t);
        let next_recorded = recorded_targets.peek().map(|(t, _)| **t);
        let target = match (next_declared, next_recorded) {
            (Some(d), Some(r)) => d.min(r),
            (Some(d), None) => d,
            (None, Some(r)) => r,
            (None, None) => break,
        };
        let recorded = recorded_targets
            .next_if(|(t, _)| **t == target)
            .map_or(&empty, |(_, r)| r);
        let live_target = live.and_then(|l| l.targets.get(&target));
        let (manifest, reference, wanted, origins) = match declared.next_if(|(t, _)| *t == target) {
            Some((_, d)) => (d.manifest, d.reference, Some(d.settings), d.origins),
            None => (None, None, None, Vec::new()),
        };
        // Room for the usual cases (every code added, or every code forgotten) at once: a
        // `Change` is over 200 bytes, and growing by doubling left 12 of 32 places unused
        // for 20 codes, 27 MB on the 10,000-target benchmark (`cargo bench --bench paysync
        // -- offline`).
        let mut changes =
            Vec::with_capacity(wanted.as_ref().map_or(0, Vec::len).max(recorded.len()));
        for (code, rec) in recorded {
            if wanted
                .as_ref()
                .is_none_or(|w| w.binary_search_by(|(c, _)| c.as_str().cmp(code)).is_err())
            {
                changes.push(Change {
                    code: code.into(),
                    action: Action::Forget,
                    at: None,
                    before: Some(Box::new(Value::from_recorded(rec))),
                    after: None,
                });
            }
        }
        if let Some(wanted) = wanted {
            for ((code, want), at) in located(wanted, origins) {
                let live_setting = live_target.and_then(|m| m.get(&code));
                let live_eq_want = live_setting.and_then(|l| live_equals_value(&want, l, fp));
                let decided = match recorded.get(&code) {
                    None if live_eq_want == Some(true) => Some((Action::Record, None)),
                    None => Some((Action::Add, None)),
                    Some(rec) => match equals_recorded(&want, rec) {
                        Some(false) if live_eq_want == Some(true) => {
                            Some((Action::Record, Some(Value::from_recorded(rec))))
                        }
                        Some(false) => Some((Action::Update, Some(Value::from_recorded(rec)))),
                        Some(true) => {
                            // Compare live with what we last applied.
                            if let Some(l) = live_setting
                                && live_equals_recorded(rec, l, fp) == Some(false)
                            {
                                let hidden =
                                    want.is_secret() || matches!(rec, RecordedValue::Secret { .. });
                                // Portal text: scrubbed of secrets and cut before it
                                // becomes part of a plan (and of a saved plan).
                                let source = l.source.as_deref().map(|s| live_text(s).into());
                                let before = if hidden {
                                    Value::Hidden { source }
                                } else {
                                    Value::Live {
                                        source,
                                        value: l.value.as_deref().map(|v| live_text(v).into()),
                                    }
                                };
                                Some((Action::Drift, Some(before)))
                            } else if let Value::Secret { secret, .. } = &want
                                && let RecordedValue::Secret {
                                    secret: rec_ref, ..
                                } = rec
                                && !secret.same_as_written(rec_ref)
                            {
                                // Same value under a new reference: record it.
                                Some((Action::Record, Some(Value::from_recorded(rec))))
                            } else {
                                None
                            }
                        }
                        None => {
                            let same_ref = matches!(
                                (&want, rec),
                                (Value::Secret { secret, .. }, RecordedValue::Secret { secret: r, .. })
                                    if secret.same_as_written(r)
                            );
                            let action = if same_ref {
                                Action::Unchecked
                            } else {
                                Action::Update
                            };
                            Some((action, Some(Value::from_recorded(rec))))
                        }
                    },
                };
                if let Some((action, before)) = decided {
                    let before = before.map(Box::new);
                    changes.push(Change {
                        code,
                        action,
                        at,
                        before,
                        after: Some(want),
                    });
                }
            }
        }
        if !changes.is_empty() {
            changes.sort_by(|a, b| a.code.cmp(&b.code));
            targets.push(TargetPlan {
                target,
                manifest,
                reference,
                changes,
            });
        }
    }
    // Targets whose reference is not resolved yet: every setting is added.
    let unresolved = pending
        .into_iter()
        .map(|d| TargetPlan {
            target: Target {
                pay_system: 0,
                person_type: 0,
            },
            manifest: d.manifest,
            reference: d.reference,
            changes: located(d.settings, d.origins)
                .map(|((code, value), at)| Change {
                    at,
                    code,
                    action: Action::Add,
                    before: None,
                    after: Some(value),
                })
                .collect(),
        })
        .collect();
    Plan {
        refreshed: live.is_some(),
        targets,
        unresolved,
        ..Plan::default()
    }
}

#[cfg(test)]
mod tests;
