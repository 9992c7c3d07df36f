//! Drift: live settings compared with the last-applied state (`paysync drift`).
//!
//! Pure, like the planner: the targets and codes compared are those recorded in the state
//! (manifests take no part: drift is what changed on the portal since paysync last wrote
//! it), with the planner's rule ([`super::live_equals_recorded`]): a secret is compared by
//! its keyed fingerprint and never shown. A recorded code the portal does not return
//! cannot be compared: it is listed as not returned, and is not drift.

use std::collections::BTreeMap;

use super::live_equals_recorded;
use crate::fingerprint::Fingerprinter;
use crate::model::{LiveSetting, LiveSettings, Target};
use crate::state::{LastApplied, RecordedSettings, RecordedValue};
use crate::untrusted::live_text;

/// One recorded setting whose live value differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drifted {
    pub target: Target,
    pub code: String,
    pub recorded: RecordedValue,
    pub live: LiveSetting,
}

/// What `paysync drift` found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DriftReport {
    /// `scheme://host[:port]` of the portal read (no credentials).
    pub portal: String,
    /// The names of pay systems and payer types the state recorded.
    pub names: crate::model::Names,
    /// Targets with at least one recorded setting.
    pub targets_checked: usize,
    /// Recorded settings compared (those the portal returned).
    pub settings_checked: usize,
    /// Sorted by target, then code.
    pub drifted: Vec<Drifted>,
    /// Recorded codes the portal did not return: not compared.
    pub not_returned: Vec<(Target, String)>,
    /// Targets whose live settings could not be read, with why: not compared at all.
    pub not_compared: Vec<(Target, String)>,
    /// Handlers and pay systems the state records, compared with the portal's.
    pub objects_checked: usize,
    /// Their fields changed outside paysync, and those no longer on the portal.
    pub objects: Vec<ObjectDrift>,
}

/// A recorded handler's or pay system's field that the portal holds otherwise, or the
/// object itself gone from the portal (`field` `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDrift {
    pub kind: crate::model::objects::ObjectKind,
    pub identity: String,
    pub id: u64,
    /// The portal's field path; `None`: the object is no longer on the portal.
    pub field: Option<String>,
    /// As recorded (`None`: a handler settings key only the portal has).
    pub recorded: Option<String>,
    /// As the portal holds it (`None`: no longer there).
    pub live: Option<String>,
}

impl ObjectDrift {
    /// `handler acmepay`, `pay system xmlId:acme_card`.
    pub fn name(&self) -> String {
        self.kind.name(&self.identity)
    }
}

/// Compares the handlers and pay systems the state records (not those it remembers as
/// deleted) with the portal's: the number compared, and what differs. A pay system's
/// logo is not returned by the portal: not compared.
pub fn objects(
    recorded: &crate::state::RecordedObjects,
    live: &super::objects::LiveObjects,
) -> (usize, Vec<ObjectDrift>) {
    let mut checked = 0;
    let mut drifted = Vec::new();
    for (kind, identity, record) in recorded.held() {
        checked += 1;
        let one = |field: Option<String>, was: Option<String>, now: Option<String>| ObjectDrift {
            kind,
            identity: identity.clone(),
            id: record.id,
            field,
            recorded: was,
            live: now,
        };
        let held = live.all(kind, identity).iter().find(|l| l.id == record.id);
        let Some(held) = held else {
            drifted.push(one(None, None, None));
            continue;
        };
        // The recorded fields are what paysync last wrote: compared as the read-back
        // after an apply compares what it sent.
        for change in super::objects::unheld(kind, &record.fields, &held.fields) {
            drifted.push(one(Some(change.field), change.after, change.before));
        }
    }
    (checked, drifted)
}

impl DriftReport {
    pub fn has_drift(&self) -> bool {
        !self.drifted.is_empty() || !self.objects.is_empty()
    }

    /// Handlers and pay systems with at least one field changed (or gone).
    pub fn objects_drifted(&self) -> usize {
        let mut names: Vec<String> = self.objects.iter().map(ObjectDrift::name).collect();
        names.dedup();
        names.len()
    }

    /// Targets with at least one drifted setting.
    pub fn targets_drifted(&self) -> usize {
        let mut targets: Vec<Target> = self.drifted.iter().map(|d| d.target).collect();
        targets.dedup();
        targets.len()
    }
}

/// The targets drift reads: those the state records at least one setting of.
pub fn targets(state: &LastApplied) -> Vec<Target> {
    state
        .targets
        .iter()
        .filter(|(_, settings)| !settings.is_empty())
        .map(|(target, _)| *target)
        .collect()
}

/// The drift report of `state` against what was read of `portal`: the targets whose
/// answer could not be read (`unreadable`, with why) are not compared at all, the
/// others are with [`compare`]; the names are the state's. The targets of the pay
/// systems in `gone` (recorded objects no longer on the portal: their own drift) are
/// not compared.
pub fn report(
    state: &LastApplied,
    live: &BTreeMap<Target, LiveSettings>,
    unreadable: BTreeMap<Target, String>,
    fp: &Fingerprinter,
    portal: String,
    gone: &[u64],
) -> DriftReport {
    // Borrowed, not copied: the state may hold a million settings (issue 22.2).
    let recorded: BTreeMap<Target, &RecordedSettings> = state
        .targets
        .iter()
        .filter(|(target, _)| !unreadable.contains_key(target))
        .filter(|(target, _)| !gone.contains(&target.pay_system))
        .map(|(target, settings)| (*target, settings))
        .collect();
    let mut report = compare(&recorded, live, fp);
    report.not_compared = unreadable.into_iter().collect();
    report.portal = portal;
    report.names = state.names.clone();
    report
}

/// Compares live settings with the recorded ones. Pure: no I/O.
pub fn compare(
    recorded: &BTreeMap<Target, &RecordedSettings>,
    live: &BTreeMap<Target, LiveSettings>,
    fp: &Fingerprinter,
) -> DriftReport {
    let empty = LiveSettings::default();
    let mut report = DriftReport::default();
    for (target, settings) in recorded {
        if settings.is_empty() {
            continue;
        }
        report.targets_checked += 1;
        let got = live.get(target).unwrap_or(&empty);
        for (code, rec) in settings.iter() {
            let Some(l) = got.get(code) else {
                report.not_returned.push((*target, code.to_owned()));
                continue;
            };
            report.settings_checked += 1;
            if live_equals_recorded(rec, l, fp) == Some(false) {
                // Portal text: scrubbed of secrets and cut before it is reported.
                report.drifted.push(Drifted {
                    target: *target,
                    code: code.to_owned(),
                    recorded: rec.clone(),
                    live: LiveSetting {
                        source: l.source.as_deref().map(|s| live_text(s).into()),
                        value: l.value.as_deref().map(|v| live_text(v).into()),
                        source_known: l.source_known,
                    },
                });
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_recorded_object_gone_or_changed_on_the_portal_is_drift() {
        use crate::model::objects::{Fields, ObjectKind};
        use crate::plan::objects::{LiveObject, LiveObjects};
        use crate::state::{RecordedObject, RecordedObjects};
        let fields = |name: &str| Fields::from([("NAME".to_owned(), name.to_owned())]);
        let record = |id, name: &str, deleted| RecordedObject {
            id,
            fields: fields(name),
            manifest: None,
            deleted,
        };
        let mut recorded = RecordedObjects::default();
        recorded
            .pay_systems
            .insert("kept".into(), record(1, "A", false));
        recorded
            .pay_systems
            .insert("renamed".into(), record(2, "B", false));
        recorded
            .pay_systems
            .insert("gone".into(), record(3, "C", false));
        recorded
            .pay_systems
            .insert("deleted".into(), record(4, "D", true));
        let mut live = LiveObjects::default();
        let held = |id, name: &str| {
            vec![LiveObject {
                id,
                fields: fields(name),
            }]
        };
        live.pay_systems.insert("kept".into(), held(1, "A"));
        live.pay_systems.insert("renamed".into(), held(2, "B2"));
        let (checked, drifted) = super::objects(&recorded, &live);
        assert_eq!(checked, 3);
        let found: Vec<(String, Option<String>, Option<String>)> = drifted
            .iter()
            .map(|d| (d.identity.clone(), d.field.clone(), d.live.clone()))
            .collect();
        assert_eq!(
            found,
            [
                ("gone".into(), None, None),
                ("renamed".into(), Some("NAME".into()), Some("B2".into()))
            ]
        );
        assert!(drifted.iter().all(|d| d.kind == ObjectKind::PaySystem));
    }

    use super::*;
    use crate::secrets::Redacted;

    fn borrowed(
        recorded: &BTreeMap<Target, RecordedSettings>,
    ) -> BTreeMap<Target, &RecordedSettings> {
        recorded.iter().map(|(t, s)| (*t, s)).collect()
    }

    fn t(pay_system: u64, person_type: u64) -> Target {
        Target {
            pay_system,
            person_type,
        }
    }

    fn plain(source: &str, value: &str) -> RecordedValue {
        RecordedValue::Plain {
            source: source.into(),
            value: value.into(),
        }
    }

    fn live(source: Option<&str>, value: Option<&str>) -> LiveSetting {
        LiveSetting {
            source: source.map(Into::into),
            value: value.map(Into::into),
            source_known: true,
        }
    }

    #[test]
    fn finds_changed_values_sources_and_secrets() {
        let key = Fingerprinter::new(crate::fingerprint::cheap_scheme(), None, None);
        let secret = RecordedValue::Secret {
            source: "VALUE".into(),
            secret: Box::new("env:ACME_KEY".parse().unwrap()),
            fingerprint: key.fingerprint(&Redacted::new("k-1".to_owned())),
        };
        let recorded = BTreeMap::from([
            (
                t(11, 1),
                RecordedSettings::from([
                    ("A".to_owned(), plain("VALUE", "x")),
                    ("B".to_owned(), plain("VALUE", "y")),
                    ("C".to_owned(), plain("PAYMENT", "ID")),
                    ("K".to_owned(), secret.clone()),
                    ("GONE".to_owned(), plain("VALUE", "z")),
                ]),
            ),
            (t(12, 0), RecordedSettings::from([("K", secret.clone())])),
            (t(13, 0), RecordedSettings::default()),
        ]);
        let livemap = BTreeMap::from([
            (
                t(11, 1),
                LiveSettings::from([
                    ("A".to_owned(), live(Some("VALUE"), Some("x"))),
                    ("B".to_owned(), live(Some("VALUE"), Some("changed"))),
                    ("C".to_owned(), live(Some("ORDER"), Some("ID"))),
                    ("K".to_owned(), live(Some("VALUE"), Some("k-2"))),
                ]),
            ),
            (
                t(12, 0),
                LiveSettings::from([("K", live(Some("VALUE"), Some("k-1")))]),
            ),
        ]);
        let report = compare(&borrowed(&recorded), &livemap, &key);
        let drifted: Vec<(Target, &str)> = report
            .drifted
            .iter()
            .map(|d| (d.target, d.code.as_str()))
            .collect();
        assert_eq!(drifted, [(t(11, 1), "B"), (t(11, 1), "C"), (t(11, 1), "K")]);
        assert_eq!(report.not_returned, [(t(11, 1), "GONE".to_owned())]);
        assert_eq!(report.targets_checked, 2);
        assert_eq!(report.settings_checked, 5);
        assert_eq!(report.targets_drifted(), 1);
        assert!(report.has_drift());
    }

    #[test]
    fn plain_string_shape_compares_values_only() {
        let key = Fingerprinter::new(crate::fingerprint::cheap_scheme(), None, None);
        let recorded = BTreeMap::from([(
            t(11, 1),
            RecordedSettings::from([("A", plain("VALUE", "x"))]),
        )]);
        let l = LiveSetting {
            source: None,
            value: Some("x".into()),
            source_known: false,
        };
        let livemap = BTreeMap::from([(t(11, 1), LiveSettings::from([("A", l)]))]);
        assert!(!compare(&borrowed(&recorded), &livemap, &key).has_drift());
    }
}
