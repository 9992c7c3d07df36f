//! A whole format-2 state in and out of JSON without a second copy of it (issue 22.2):
//! read straight into [`LastApplied`]'s keyed maps, one target at a time (no generic JSON
//! tree, no list of every target beside the maps: [`super::StateFile`]'s targets), and
//! written from borrowed views of it (no owned copy of every target to serialise). No
//! I/O here.

use std::fmt;

use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::format::{Keyed, LastApplied, PortalMove, RecordedTarget, STATE_FORMAT, without_legacy};
use super::settings::RecordedSettings;
use crate::fingerprint::FingerprintScheme;

impl<'de> Deserialize<'de> for Keyed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Targets;
        impl<'de> Visitor<'de> for Targets {
            type Value = Keyed;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of recorded targets")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Keyed, A::Error> {
                let mut keyed = Keyed::default();
                while let Some(target) = seq.next_element::<RecordedTarget>()? {
                    keyed.insert(target);
                }
                Ok(keyed)
            }
        }
        deserializer.deserialize_seq(Targets)
    }
}

/// A state as its format-2 file is written, borrowed from it. A fingerprint only the
/// format-1 key could check is not written (the key never is): that secret is written at
/// the next apply.
#[derive(Serialize)]
pub struct StateFileView<'a> {
    format: u32,
    lineage: &'a str,
    serial: u64,
    portal: Option<&'a str>,
    fingerprints: &'a FingerprintScheme,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    portal_moves: &'a [PortalMove],
    targets: TargetsView<'a>,
    #[serde(skip_serializing_if = "super::objects::RecordedObjects::is_empty")]
    objects: &'a super::objects::RecordedObjects,
}

impl<'a> StateFileView<'a> {
    pub fn new(state: &'a LastApplied) -> StateFileView<'a> {
        StateFileView {
            format: STATE_FORMAT,
            lineage: &state.lineage,
            serial: state.serial,
            portal: state.portal.as_deref(),
            fingerprints: &state.fingerprints,
            portal_moves: &state.portal_moves,
            targets: TargetsView(state),
            objects: &state.objects,
        }
    }
}

struct TargetsView<'a>(&'a LastApplied);

impl Serialize for TargetsView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let state = self.0;
        serializer.collect_seq(state.targets.iter().map(|(target, settings)| {
            let record = state.records.get(target);
            TargetView {
                pay_system: target.pay_system,
                person_type: target.person_type,
                pay_system_name: state.names.pay_system(target.pay_system),
                person_type_name: state.names.person_type(target.person_type),
                reference: record.and_then(|r| r.reference.as_deref()),
                manifest: record.and_then(|r| r.manifest.as_deref()),
                settings: SettingsView(settings),
            }
        }))
    }
}

/// [`RecordedTarget`], borrowed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetView<'a> {
    pay_system: u64,
    person_type: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pay_system_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    person_type_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest: Option<&'a str>,
    settings: SettingsView<'a>,
}

struct SettingsView<'a>(&'a RecordedSettings);

impl Serialize for SettingsView<'_> {
    /// As written in format 2: a format-1 fingerprint is not written (see
    /// [`LastApplied::to_file`]).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (code, value) in self.0.iter() {
            map.serialize_entry(code, &without_legacy(value))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::{Fingerprinter, cheap_scheme};
    use crate::model::Target;
    use crate::secrets::Redacted;
    use crate::state::{RecordedValue, TargetRecord};

    /// A state with every part a file can hold: names, references, manifests, portal
    /// moves, plain values, secrets with and without fingerprints, an empty target.
    fn full_state() -> LastApplied {
        let fp = Fingerprinter::new(cheap_scheme(), None, None);
        let mut state = LastApplied {
            fingerprints: cheap_scheme(),
            portal: Some("https://shop.example".into()),
            serial: 7,
            lineage: "00000000-0000-4000-8000-000000000007".into(),
            ..LastApplied::new()
        };
        state.portal_moves.push(PortalMove {
            from: None,
            to: "https://shop.example".into(),
            at: "2026-12-06T00:00:00Z".into(),
        });
        let plain = |v: &str| RecordedValue::Plain {
            source: "VALUE".into(),
            value: v.into(),
        };
        let secret = |r: &str, f| RecordedValue::Secret {
            source: "VALUE".into(),
            secret: Box::new(r.parse().unwrap()),
            fingerprint: f,
        };
        let t = |pay_system| Target {
            pay_system,
            person_type: 1,
        };
        state.targets.insert(
            t(11),
            RecordedSettings::from([
                (
                    "B",
                    plain("a value longer than twenty-four bytes, kept on the heap"),
                ),
                (
                    "A",
                    secret("env:KEY", fp.fingerprint(&Redacted::new("k".into()))),
                ),
                ("C", secret("vault:kv/shop#key", None)),
            ]),
        );
        state.targets.insert(t(12), RecordedSettings::default());
        state.names.pay_systems.insert(11, "Card \"quoted\"".into());
        state.names.person_types.insert(1, "Individual".into());
        state.records.insert(
            t(11),
            TargetRecord {
                reference: Some("xmlId:card/1".into()),
                manifest: Some("manifests/card.yaml".into()),
            },
        );
        state
    }

    /// The file as the owned state file of format 2 was written before the borrowed
    /// view replaced it (issue 22.2), field for field.
    const FULL_STATE: &str = r#"{"format":2,"lineage":"00000000-0000-4000-8000-000000000007","serial":7,"portal":"https://shop.example","fingerprints":{"algorithm":"argon2id","version":19,"m_cost":8,"t_cost":1,"p_cost":1,"salt":"30313233343536373839616263646566","keyed":false},"portal_moves":[{"from":null,"to":"https://shop.example","at":"2026-12-06T00:00:00Z"}],"targets":[{"paySystem":11,"personType":1,"paySystemName":"Card \"quoted\"","personTypeName":"Individual","reference":"xmlId:card/1","manifest":"manifests/card.yaml","settings":{"A":{"type":"VALUE","secret":"env:KEY","fingerprint":"argon2id:dd8e98e9dc6353b763a2348e8c927487e5fb52033c624d8acf508591ae2edae5"},"B":{"type":"VALUE","value":"a value longer than twenty-four bytes, kept on the heap"},"C":{"type":"VALUE","secret":"vault:kv/shop#key"}}},{"paySystem":12,"personType":1,"personTypeName":"Individual","settings":{}}]}"#;

    #[test]
    fn the_borrowed_view_writes_what_the_owned_file_did() {
        let viewed = serde_json::to_string(&StateFileView::new(&full_state())).unwrap();
        assert_eq!(viewed, FULL_STATE);
    }

    #[test]
    fn a_state_read_straight_into_its_maps_is_the_state_written() {
        let state = full_state();
        let text = serde_json::to_string_pretty(&StateFileView::new(&state)).unwrap();
        let read =
            LastApplied::from(serde_json::from_str::<super::super::StateFile>(&text).unwrap());
        assert_eq!(read, state);
    }
}
