//! The state's format: [`LastApplied`] (what paysync last applied, per target and code),
//! its file shapes (format 2 and the legacy format 1), the journal entry, and the rules
//! that work on them in memory (replay, fingerprint carry-over). No I/O.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::settings::{RecordedSettings, RecordedValue};

use crate::fingerprint::{FingerprintScheme, Fingerprinter, LegacyKey};
use crate::model::{Names, Target};
use crate::secrets::{Redacted, SecretRef};

/// The state format this version writes.
pub const STATE_FORMAT: u32 = 2;
/// The older format this version still reads (and migrates when it writes).
pub const LEGACY_STATE_FORMAT: u32 = 1;

/// The settings recorded for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedTarget {
    pub pay_system: u64,
    pub person_type: u64,
    /// The pay system's name when it was last read from the portal (shown in plans).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_system_name: Option<String>,
    /// The payer type's name, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_type_name: Option<String>,
    /// How the manifest names the target when not by IDs (`xmlId:acme_card/1`): the
    /// resolution offline plans use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The manifest file that declares it (as read), so that planning a subset of the
    /// files forgets only targets of the files read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    pub settings: RecordedSettings,
}

/// What the state knows of a target besides its settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetRecord {
    /// The reference the manifest named it by (see [`RecordedTarget::reference`]).
    pub reference: Option<String>,
    /// The manifest file that declared it.
    pub manifest: Option<String>,
}

/// One `paysync state move-portal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalMove {
    /// The address before (none when no portal was recorded).
    pub from: Option<String>,
    pub to: String,
    /// When, RFC 3339 (UTC).
    pub at: String,
}

/// The whole state file, format 2, as read: its targets keyed as they are read (written
/// from a borrowed [`super::StateFileView`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateFile {
    pub(crate) format: u32,
    pub(crate) lineage: String,
    pub(crate) serial: u64,
    /// `scheme://host[:port]` of the portal this state was applied to; `None` before the
    /// first apply.
    pub(crate) portal: Option<String>,
    pub(crate) fingerprints: FingerprintScheme,
    #[serde(default)]
    pub(crate) portal_moves: Vec<PortalMove>,
    pub(crate) targets: Keyed,
    /// The handlers and pay systems created or adopted (issue 24).
    #[serde(default)]
    pub(crate) objects: super::objects::RecordedObjects,
}

/// One line of the state journal (`<state>.journal`, see [`super::file`]): what one confirmed
/// request of an apply recorded. The header (lineage, serial, portal, fingerprint scheme)
/// is the state's after the entry, so a journal left without a state file still rebuilds
/// one; `targets` are the confirmed targets as the state records them afterwards (whole,
/// like in the state file), `removed` those it no longer records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalEntry {
    pub lineage: String,
    /// The state's serial after this entry: one more than before it, exactly as the
    /// full write it replaces would have bumped it.
    pub serial: u64,
    pub portal: Option<String>,
    pub fingerprints: FingerprintScheme,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<RecordedTarget>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<JournalTarget>,
}

/// A target a journal entry no longer records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JournalTarget {
    pub pay_system: u64,
    pub person_type: u64,
}

/// A state file of format 1, as read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFileV1 {
    pub format: u32,
    pub lineage: String,
    pub serial: u64,
    pub portal: Option<String>,
    pub fingerprint_key: LegacyKey,
    pub targets: Vec<RecordedTarget>,
}

/// The last-applied settings in memory, keyed for the planner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastApplied {
    pub lineage: String,
    pub serial: u64,
    pub portal: Option<String>,
    pub fingerprints: FingerprintScheme,
    /// The HMAC key of a format-1 file: compares its fingerprints; never written.
    pub legacy_key: Option<LegacyKey>,
    pub portal_moves: Vec<PortalMove>,
    pub targets: BTreeMap<Target, RecordedSettings>,
    /// The names of the pay systems and payer types of recorded targets, as last read.
    pub names: Names,
    /// Per recorded target: its reference and manifest file.
    pub records: BTreeMap<Target, TargetRecord>,
    /// The handlers and pay systems paysync created or adopted, with their IDs here.
    pub objects: super::objects::RecordedObjects,
}

/// The recorded settings of some targets, borrowed from a [`LastApplied`]: what the
/// planner compares against, without a copy of the state (issue 22.2).
pub type Recorded<'a> = BTreeMap<Target, &'a RecordedSettings>;

impl LastApplied {
    /// A brand-new, empty state with a fresh lineage and fingerprint scheme.
    pub fn new() -> LastApplied {
        LastApplied {
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            portal: None,
            fingerprints: FingerprintScheme::generate(),
            legacy_key: None,
            portal_moves: Vec::new(),
            targets: BTreeMap::new(),
            names: Names::default(),
            records: BTreeMap::new(),
            objects: Default::default(),
        }
    }

    /// A format-1 state, migrated in memory (see the module docs).
    pub fn from_v1(file: StateFileV1) -> LastApplied {
        let Keyed {
            targets,
            names,
            records,
        } = file.targets.into_iter().collect();
        LastApplied {
            fingerprints: FingerprintScheme::migrated(&file.lineage, &file.fingerprint_key),
            lineage: file.lineage,
            serial: file.serial,
            portal: file.portal,
            legacy_key: Some(file.fingerprint_key),
            portal_moves: Vec::new(),
            targets,
            names,
            records,
            objects: Default::default(),
        }
    }

    /// What the state records for `target`, as written in the file (none when it records
    /// nothing for it).
    pub fn recorded_target(&self, target: Target) -> Option<RecordedTarget> {
        let settings = self.targets.get(&target)?;
        Some(RecordedTarget {
            pay_system: target.pay_system,
            person_type: target.person_type,
            pay_system_name: self.names.pay_system(target.pay_system).map(Into::into),
            person_type_name: self.names.person_type(target.person_type).map(Into::into),
            reference: self.records.get(&target).and_then(|r| r.reference.clone()),
            manifest: self.records.get(&target).and_then(|r| r.manifest.clone()),
            settings: settings
                .iter()
                .map(|(code, value)| (code, without_legacy(value).into_owned()))
                .collect(),
        })
    }

    /// The journal entry that records `targets` as the state holds them now, and bumps
    /// the serial to `self.serial` (the caller bumped it). See [`JournalEntry`].
    pub fn journal_entry(&self, targets: impl IntoIterator<Item = Target>) -> JournalEntry {
        let mut recorded = Vec::new();
        let mut removed = Vec::new();
        for target in targets {
            match self.recorded_target(target) {
                Some(t) => recorded.push(t),
                None => removed.push(JournalTarget {
                    pay_system: target.pay_system,
                    person_type: target.person_type,
                }),
            }
        }
        JournalEntry {
            lineage: self.lineage.clone(),
            serial: self.serial,
            portal: self.portal.clone(),
            fingerprints: self.fingerprints.clone(),
            targets: recorded,
            removed,
        }
    }

    /// Replays one journal entry: its targets replace the recorded ones, its removed
    /// targets go, the header (serial, portal, fingerprint scheme) is taken over.
    /// Returns false, changing nothing, when the entry is already in the state (its
    /// serial is not above the state's: a full write after it) — replaying is idempotent.
    pub fn replay(&mut self, entry: JournalEntry) -> bool {
        if entry.serial <= self.serial {
            return false;
        }
        self.serial = entry.serial;
        self.portal = entry.portal;
        self.fingerprints = entry.fingerprints;
        for t in entry.removed {
            let target = Target {
                pay_system: t.pay_system,
                person_type: t.person_type,
            };
            self.targets.remove(&target);
            self.records.remove(&target);
        }
        let Keyed {
            targets,
            names,
            records,
        } = entry.targets.into_iter().collect();
        for (target, settings) in targets {
            self.records.remove(&target);
            self.targets.insert(target, settings);
        }
        self.records.extend(records);
        self.names.pay_systems.extend(names.pay_systems);
        self.names.person_types.extend(names.person_types);
        true
    }

    /// The targets the state records for references, by reference (`xmlId:acme_card/1`).
    pub fn resolutions(&self) -> BTreeMap<&str, Target> {
        self.records
            .iter()
            .filter_map(|(t, r)| Some((r.reference.as_deref()?, *t)))
            .collect()
    }

    /// A fingerprinter for this state's scheme, keyed when `key` is given
    /// (`PAYSYNC_FINGERPRINT_KEY`).
    pub fn fingerprinter(&self, key: Option<Redacted<Vec<u8>>>) -> Fingerprinter {
        Fingerprinter::new(self.fingerprints.clone(), key, self.legacy_key.clone())
    }

    /// The `env:` secrets the state records, each once: for carrying their fingerprints
    /// over where no manifest names them (a `file:` path is relative to a manifest the
    /// state does not name), and so that their values are scrubbed from what the portal
    /// sends.
    pub fn env_secrets(&self) -> Vec<&SecretRef> {
        let refs: std::collections::BTreeSet<&SecretRef> = self
            .targets
            .values()
            .flat_map(|settings| settings.values())
            .filter_map(|v| match v {
                RecordedValue::Secret { secret, .. }
                    if matches!(**secret, SecretRef::Env { .. }) =>
                {
                    Some(&**secret)
                }
                _ => None,
            })
            .collect();
        refs.into_iter().collect()
    }

    /// Carries recorded fingerprints of another kind (format 1, or unkeyed now that the
    /// key is set) over to the kind `fingerprinter` makes, for every secret whose value
    /// this run knows (`value_of(target, code, reference)`): a fingerprint that matches
    /// the value is replaced by the current one; one that does not match, or that this
    /// run cannot check (a keyed one without the key), stays as it is.
    pub fn carry_over<'a>(
        &mut self,
        fingerprinter: &Fingerprinter,
        value_of: impl Fn(Target, &str, &SecretRef) -> Option<&'a Redacted<String>>,
    ) {
        for (target, settings) in &mut self.targets {
            for (code, recorded) in settings.iter_mut() {
                let RecordedValue::Secret {
                    secret,
                    fingerprint: Some(old),
                    ..
                } = recorded
                else {
                    continue;
                };
                if fingerprinter.is_current(old) {
                    continue;
                }
                let Some(value) = value_of(*target, code, secret) else {
                    continue;
                };
                if fingerprinter.matches(old, value) != Some(true) {
                    continue;
                }
                let Some(current) = fingerprinter.fingerprint(value) else {
                    continue;
                };
                if let RecordedValue::Secret { fingerprint, .. } = recorded {
                    *fingerprint = Some(current);
                }
            }
        }
    }
}

/// The targets of a state, keyed as [`LastApplied`] holds them.
#[derive(Default)]
pub(crate) struct Keyed {
    pub(crate) targets: BTreeMap<Target, RecordedSettings>,
    pub(crate) names: Names,
    pub(crate) records: BTreeMap<Target, TargetRecord>,
}

impl Keyed {
    /// Adds one target as written in a file or a journal entry; a target given twice
    /// keeps the later one (as a map would).
    pub(crate) fn insert(&mut self, t: RecordedTarget) {
        if let Some(name) = t.pay_system_name {
            self.names.pay_systems.insert(t.pay_system, name);
        }
        if let Some(name) = t.person_type_name {
            self.names.person_types.insert(t.person_type, name);
        }
        let target = Target {
            pay_system: t.pay_system,
            person_type: t.person_type,
        };
        if t.reference.is_some() || t.manifest.is_some() {
            self.records.insert(
                target,
                TargetRecord {
                    reference: t.reference,
                    manifest: t.manifest,
                },
            );
        } else {
            self.records.remove(&target);
        }
        self.targets.insert(target, t.settings);
    }
}

impl From<StateFile> for LastApplied {
    /// A format-2 state as read (its `format` checked by the caller).
    fn from(file: StateFile) -> LastApplied {
        LastApplied {
            lineage: file.lineage,
            serial: file.serial,
            portal: file.portal,
            fingerprints: file.fingerprints,
            legacy_key: None,
            portal_moves: file.portal_moves,
            targets: file.targets.targets,
            names: file.targets.names,
            records: file.targets.records,
            objects: file.objects,
        }
    }
}

impl FromIterator<RecordedTarget> for Keyed {
    fn from_iter<I: IntoIterator<Item = RecordedTarget>>(iter: I) -> Self {
        let mut keyed = Keyed::default();
        for t in iter {
            keyed.insert(t);
        }
        keyed
    }
}

/// A recorded value as written in format 2: a format-1 fingerprint becomes unknown.
pub(crate) fn without_legacy(value: &RecordedValue) -> Cow<'_, RecordedValue> {
    match value {
        RecordedValue::Secret {
            source,
            secret,
            fingerprint: Some(f),
        } if f.is_legacy() => Cow::Owned(RecordedValue::Secret {
            source: source.clone(),
            secret: secret.clone(),
            fingerprint: None,
        }),
        other => Cow::Borrowed(other),
    }
}

impl Default for LastApplied {
    fn default() -> Self {
        LastApplied::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::{Fingerprint, cheap_scheme};

    fn r(s: &str) -> Redacted<String> {
        Redacted::new(s.to_owned())
    }

    fn secret(reference: &str, fingerprint: Option<Fingerprint>) -> RecordedValue {
        RecordedValue::Secret {
            source: "VALUE".into(),
            secret: Box::new(reference.parse().unwrap()),
            fingerprint,
        }
    }

    fn fingerprint_of(state: &LastApplied, code: &str) -> Option<Fingerprint> {
        match &state.targets[&T][code] {
            RecordedValue::Secret { fingerprint, .. } => fingerprint.clone(),
            RecordedValue::Plain { .. } => None,
        }
    }

    const T: Target = Target {
        pay_system: 11,
        person_type: 1,
    };

    #[test]
    fn carry_over_converts_what_it_can_verify_and_keeps_the_rest() {
        let key = || Some(Redacted::new(b"k".to_vec()));
        let unkeyed = Fingerprinter::new(cheap_scheme(), None, None);
        let keyed = Fingerprinter::new(cheap_scheme(), key(), None);
        let mut state = LastApplied {
            fingerprints: cheap_scheme(),
            ..LastApplied::new()
        };
        let old_a = unkeyed.fingerprint(&r("a")).unwrap();
        let old_b = unkeyed.fingerprint(&r("b")).unwrap();
        let keyed_c = keyed.fingerprint(&r("c")).unwrap();
        state.targets.insert(
            T,
            RecordedSettings::from([
                ("A".to_owned(), secret("env:A", Some(old_a))),
                ("B".to_owned(), secret("env:B", Some(old_b.clone()))),
                ("C".to_owned(), secret("env:C", Some(keyed_c.clone()))),
                ("D".to_owned(), secret("env:D", None)),
            ]),
        );
        // With the key: A matches and is re-made keyed; B changed (no match) and stays.
        let values: BTreeMap<SecretRef, _> = BTreeMap::from([
            ("env:A".parse().unwrap(), r("a")),
            ("env:B".parse().unwrap(), r("b2")),
            ("env:C".parse().unwrap(), r("c")),
            ("env:D".parse().unwrap(), r("d")),
        ]);
        let mut with_key = state.clone();
        with_key.carry_over(&keyed, |_, _, reference| values.get(reference));
        assert_eq!(fingerprint_of(&with_key, "A"), keyed.fingerprint(&r("a")));
        assert_eq!(fingerprint_of(&with_key, "B"), Some(old_b));
        assert_eq!(fingerprint_of(&with_key, "C"), Some(keyed_c.clone()));
        assert_eq!(fingerprint_of(&with_key, "D"), None);
        // Without the key a keyed fingerprint is never dropped.
        let mut without = state.clone();
        without.carry_over(&unkeyed, |_, _, reference| values.get(reference));
        assert_eq!(fingerprint_of(&without, "C"), Some(keyed_c));
    }

    #[test]
    fn format_1_is_migrated_and_its_key_never_written() {
        let v1: StateFileV1 = serde_json::from_value(serde_json::json!({
            "format": 1, "lineage": "l-1", "serial": 4, "portal": null,
            "fingerprint_key": "00ff", "targets": [
                {"paySystem": 11, "personType": 1, "settings": {
                    "K": {"type": "VALUE", "secret": "env:K", "fingerprint": "hmac-sha256:ab"}}}]
        }))
        .unwrap();
        let state = LastApplied::from_v1(v1);
        assert!(state.legacy_key.is_some());
        let file = serde_json::to_string(&super::super::StateFileView::new(&state)).unwrap();
        assert!(!file.contains("00ff"), "{file}");
        assert!(!file.contains("hmac-sha256"), "{file}");
        assert!(file.contains("\"format\":2"), "{file}");
        // Every run reading the same file migrates it the same way.
        let again: StateFileV1 = serde_json::from_value(serde_json::json!({
            "format": 1, "lineage": "l-1", "serial": 4, "portal": null,
            "fingerprint_key": "00ff", "targets": []
        }))
        .unwrap();
        assert_eq!(LastApplied::from_v1(again).fingerprints, state.fingerprints);
    }
}
