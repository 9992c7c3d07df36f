//! The file of a saved plan (`paysync.saved-plan/4`, issue 22.3): compact JSON written
//! from the plan one target at a time, and read back into the plan one target at a
//! time, never holding the whole document beside the plan.
//!
//! Nothing is repeated that the target or the file already says: no risk (derived from
//! the actions), no names per target (the plan's names once), and a change declared in
//! its target's manifest file keeps only its `line`; values are the plan document's
//! (`{"type", "value"}`, `{"type", "secret", "checked"}`, ...). The fingerprints of the
//! secrets checked are kept once each (`secret_fingerprints`), before the targets.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::document::{DocumentValue, SavedFingerprint, plan_value};
use super::objects::ObjectPlan;
use super::{About, Action, Change, Names, Plan, TargetPlan};
use crate::fingerprint::FingerprintScheme;
use crate::model::{Location, Target};

/// What a saved plan records besides the plan: its format, and the state it was made
/// from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    pub format: String,
    /// The paysync version that made it (informational).
    pub paysync_version: String,
    #[serde(flatten)]
    pub state: SavedPlanHead,
}

/// What a saved plan records of the state it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedPlanHead {
    /// Lineage of the state the plan was made from; `None` when there was no state yet.
    pub lineage: Option<String>,
    /// Serial of that state (0 when there was none).
    pub serial: u64,
    /// The portal the state belongs to, if known.
    pub portal: Option<String>,
    /// How the plan's secret fingerprints were made (the state's scheme: parameters and
    /// salt, no key material).
    pub fingerprints: FingerprintScheme,
}

/// Where, by what and from what the plan was made ([`About`]).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedAbout {
    portal: Option<String>,
    environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_url: Option<String>,
}

/// Writes the file of `plan` with `head` to `out`, streamed.
pub fn write(head: &Head, plan: &Plan, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct File<'a> {
        #[serde(flatten)]
        head: &'a Head,
        secret_fingerprints: Vec<SavedFingerprint>,
        about: SavedAbout,
        refreshed: bool,
        warnings: &'a [String],
        names: &'a Names,
        targets: TargetsOut<'a>,
        #[serde(skip_serializing_if = "TargetsOut::is_empty")]
        unresolved: TargetsOut<'a>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        objects: Vec<SavedObject>,
    }
    let about = &plan.about;
    let file = File {
        head,
        secret_fingerprints: SavedFingerprint::of(plan),
        about: SavedAbout {
            portal: about.portal.clone(),
            environment: about.environment.clone(),
            commit: about.commit.clone(),
            run_url: about.run_url.clone(),
        },
        refreshed: plan.refreshed,
        warnings: &plan.warnings,
        names: &plan.names,
        targets: TargetsOut(&plan.targets),
        unresolved: TargetsOut(&plan.unresolved),
        objects: plan.objects.iter().map(SavedObject::from).collect(),
    };
    let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, out);
    serde_json::to_writer(&mut buffered, &file).map_err(std::io::Error::other)?;
    std::io::Write::write_all(&mut buffered, b"\n")?;
    std::io::Write::flush(&mut buffered)
}

/// A handler's or pay system's plan as a saved plan keeps it: with what apply sends.
#[derive(Serialize, Deserialize)]
struct SavedObject {
    #[serde(flatten)]
    plan: ObjectPlan,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    send: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    person_type: Option<String>,
}

impl From<&ObjectPlan> for SavedObject {
    fn from(plan: &ObjectPlan) -> SavedObject {
        SavedObject {
            send: plan.send.clone(),
            person_type: plan.person_type.clone(),
            plan: plan.clone(),
        }
    }
}

impl From<SavedObject> for ObjectPlan {
    fn from(saved: SavedObject) -> ObjectPlan {
        ObjectPlan {
            send: saved.send,
            person_type: saved.person_type,
            ..saved.plan
        }
    }
}

/// Targets of a plan, each written as it is serialised.
struct TargetsOut<'a>(&'a [TargetPlan]);

impl TargetsOut<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for TargetsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|t| {
            let file = t.manifest.as_ref().map(|m| &m.file);
            TargetOut {
                pay_system: t.target.pay_system,
                person_type: t.target.person_type,
                manifest: t.manifest.as_ref().map(ToString::to_string),
                reference: t.reference.as_deref(),
                changes: ChangesOut(&t.changes, file),
            }
        }))
    }
}

#[derive(Serialize)]
struct TargetOut<'a> {
    #[serde(rename = "paySystem")]
    pay_system: u64,
    #[serde(rename = "personType")]
    person_type: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    changes: ChangesOut<'a>,
}

struct ChangesOut<'a>(&'a [Change], Option<&'a Arc<Path>>);

impl Serialize for ChangesOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let file = self.1;
        s.collect_seq(self.0.iter().map(|c| {
            // In the target's file: its line; elsewhere (a layered overlay): file:line.
            let (line, manifest) = match &c.at {
                Some(at) if file.is_some_and(|f| **f == *at.file) => (Some(at.line), None),
                Some(at) => (None, Some(at.to_string())),
                None => (None, None),
            };
            ChangeOut {
                code: &c.code,
                action: c.action,
                line,
                manifest,
                before: c.before.as_deref().map(DocumentValue::from),
                after: c.after.as_ref().map(DocumentValue::from),
            }
        }))
    }
}

#[derive(Serialize)]
struct ChangeOut<'a> {
    code: &'a str,
    action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<DocumentValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<DocumentValue>,
}

/// A target as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetIn {
    #[serde(rename = "paySystem")]
    pay_system: u64,
    #[serde(rename = "personType")]
    person_type: u64,
    #[serde(default)]
    manifest: Option<String>,
    #[serde(default)]
    reference: Option<String>,
    changes: Vec<ChangeIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeIn {
    code: String,
    action: Action,
    #[serde(default)]
    line: Option<usize>,
    #[serde(default)]
    manifest: Option<String>,
    #[serde(default)]
    before: Option<DocumentValue>,
    #[serde(default)]
    after: Option<DocumentValue>,
}

/// The files of the plan's places, each path held once.
#[derive(Default)]
struct Files(HashMap<Arc<Path>, ()>);

impl Files {
    fn location(&mut self, text: &str) -> Option<Location> {
        let parsed = Location::parse(text)?;
        Some(Location {
            file: self.shared(parsed.file),
            line: parsed.line,
        })
    }

    fn shared(&mut self, file: Arc<Path>) -> Arc<Path> {
        match self.0.get_key_value(&file) {
            Some((held, ())) => held.clone(),
            None => {
                self.0.insert(file.clone(), ());
                file
            }
        }
    }
}

/// Reads the targets of a list, each into its plan as it is read.
struct TargetsIn<'a> {
    fingerprints: &'a [SavedFingerprint],
    files: &'a mut Files,
}

impl TargetsIn<'_> {
    fn target(&mut self, t: TargetIn) -> Result<TargetPlan, super::document::DocumentError> {
        let target = Target {
            pay_system: t.pay_system,
            person_type: t.person_type,
        };
        let manifest = t.manifest.as_deref().and_then(|m| self.files.location(m));
        let mut changes = Vec::with_capacity(t.changes.len());
        for c in t.changes {
            let at = match (c.line, &c.manifest, &manifest) {
                (Some(line), _, Some(m)) => Some(Location {
                    file: m.file.clone(),
                    line,
                }),
                (_, Some(text), _) => self.files.location(text),
                _ => None,
            };
            let value =
                |v: &DocumentValue, live| plan_value(v, target, &c.code, live, self.fingerprints);
            let before = match &c.before {
                Some(v) => Some(Box::new(value(v, c.action == Action::Drift)?)),
                None => None,
            };
            let after = match &c.after {
                Some(v) => Some(value(v, false)?),
                None => None,
            };
            changes.push(Change {
                code: c.code.into(),
                action: c.action,
                at,
                before,
                after,
            });
        }
        Ok(TargetPlan {
            target,
            manifest,
            reference: t.reference,
            changes,
        })
    }
}

impl<'de> DeserializeSeed<'de> for TargetsIn<'_> {
    type Value = Vec<TargetPlan>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<TargetPlan>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TargetsIn<'_> {
    type Value = Vec<TargetPlan>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of planned targets")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Vec<TargetPlan>, A::Error> {
        let mut targets = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(t) = seq.next_element::<TargetIn>()? {
            targets.push(self.target(t).map_err(de::Error::custom)?);
        }
        Ok(targets)
    }
}

/// A saved plan as read: its head and its plan.
pub struct Read {
    pub head: Head,
    pub plan: Plan,
}

impl<'de> Deserialize<'de> for Read {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Read, D::Error> {
        d.deserialize_map(FileIn)
    }
}

struct FileIn;

const FIELDS: &[&str] = &[
    "format",
    "paysync_version",
    "lineage",
    "serial",
    "portal",
    "fingerprints",
    "secret_fingerprints",
    "about",
    "refreshed",
    "warnings",
    "names",
    "targets",
    "unresolved",
    "objects",
];

impl<'de> Visitor<'de> for FileIn {
    type Value = Read;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a paysync saved plan")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Read, A::Error> {
        let (mut format, mut version, mut lineage, mut serial, mut portal) =
            (None, None, None, None, None);
        let (mut scheme, mut about, mut refreshed) = (None, None, None);
        let mut fingerprints: Option<Vec<SavedFingerprint>> = None;
        let (mut warnings, mut names, mut targets, mut unresolved) = (None, None, None, None);
        let mut objects: Option<Vec<SavedObject>> = None;
        let mut files = Files::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" => format = Some(map.next_value()?),
                "paysync_version" => version = Some(map.next_value()?),
                "lineage" => lineage = Some(map.next_value()?),
                "serial" => serial = Some(map.next_value()?),
                "portal" => portal = Some(map.next_value()?),
                "fingerprints" => scheme = Some(map.next_value()?),
                "secret_fingerprints" => fingerprints = Some(map.next_value()?),
                "about" => about = Some(map.next_value::<SavedAbout>()?),
                "refreshed" => refreshed = Some(map.next_value()?),
                "warnings" => warnings = Some(map.next_value()?),
                "names" => names = Some(map.next_value()?),
                "objects" => objects = Some(map.next_value()?),
                "targets" | "unresolved" => {
                    // Written before the targets, so that each is read into its plan at
                    // once (a checked secret takes its fingerprint from them).
                    let Some(fingerprints) = fingerprints.as_deref() else {
                        return Err(de::Error::custom(
                            "`secret_fingerprints` must come before the targets",
                        ));
                    };
                    let seed = TargetsIn {
                        fingerprints,
                        files: &mut files,
                    };
                    let read = Some(map.next_value_seed(seed)?);
                    if key == "targets" {
                        targets = read;
                    } else {
                        unresolved = read;
                    }
                }
                other => return Err(de::Error::unknown_field(other, FIELDS)),
            }
        }
        let about: SavedAbout = about.ok_or_else(|| de::Error::missing_field("about"))?;
        Ok(Read {
            head: Head {
                format: format.ok_or_else(|| de::Error::missing_field("format"))?,
                paysync_version: version
                    .ok_or_else(|| de::Error::missing_field("paysync_version"))?,
                state: SavedPlanHead {
                    lineage: lineage.ok_or_else(|| de::Error::missing_field("lineage"))?,
                    serial: serial.ok_or_else(|| de::Error::missing_field("serial"))?,
                    portal: portal.ok_or_else(|| de::Error::missing_field("portal"))?,
                    fingerprints: scheme.ok_or_else(|| de::Error::missing_field("fingerprints"))?,
                },
            },
            plan: Plan {
                about: About {
                    portal: about.portal,
                    environment: about.environment,
                    commit: about.commit,
                    run_url: about.run_url,
                },
                refreshed: refreshed.ok_or_else(|| de::Error::missing_field("refreshed"))?,
                targets: targets.ok_or_else(|| de::Error::missing_field("targets"))?,
                names: names.unwrap_or_default(),
                warnings: warnings.unwrap_or_default(),
                unresolved: unresolved.unwrap_or_default(),
                objects: objects
                    .unwrap_or_default()
                    .into_iter()
                    .map(ObjectPlan::from)
                    .collect(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::{Fingerprinter, cheap_scheme};
    use crate::plan::Value;
    use crate::secrets::Redacted;

    fn at(file: &Arc<Path>, line: usize) -> Option<Location> {
        Some(Location {
            file: file.clone(),
            line,
        })
    }

    /// A plan of every kind of change: declared in the target's file and in an overlay,
    /// a forget, a drift with a live value, a checked and an unchecked secret, names, a
    /// target no longer declared and one not resolved yet.
    fn plan() -> Plan {
        let fp = Fingerprinter::new(cheap_scheme(), None, None);
        let base: Arc<Path> = Arc::from(Path::new("m/base.yaml"));
        let overlay: Arc<Path> = Arc::from(Path::new("m/prod/overlay.yaml"));
        let plain = |v: &str| Value::Plain {
            source: "VALUE".into(),
            value: v.into(),
        };
        let secret = |r: &str, checked: bool| Value::Secret {
            source: "VALUE".into(),
            secret: Box::new(r.parse().unwrap()),
            fingerprint: checked
                .then(|| fp.fingerprint(&Redacted::new("k".into())))
                .flatten(),
            empty: false,
        };
        let change = |code: &str, action, at, before: Option<Value>, after| Change {
            code: code.into(),
            action,
            at,
            before: before.map(Box::new),
            after,
        };
        let t = |pay_system| Target {
            pay_system,
            person_type: 1,
        };
        let mut names = Names::default();
        names.pay_systems.insert(11, "Card \"b2c\"".into());
        Plan {
            about: About {
                portal: Some("https://shop.example".into()),
                environment: Some("prod".into()),
                commit: Some("abc123".into()),
                run_url: None,
            },
            refreshed: true,
            names,
            warnings: vec!["a warning".into()],
            targets: vec![
                TargetPlan {
                    target: t(11),
                    manifest: at(&base, 4),
                    reference: Some("xmlId:card/1".into()),
                    changes: vec![
                        change("A", Action::Add, at(&base, 7), None, Some(plain("1"))),
                        change(
                            "B",
                            Action::Update,
                            at(&overlay, 3),
                            Some(plain("0")),
                            Some(plain("2")),
                        ),
                        change("C", Action::Forget, None, Some(plain("old")), None),
                        change(
                            "D",
                            Action::Drift,
                            at(&base, 9),
                            Some(Value::Live {
                                source: None,
                                value: Some("live".into()),
                            }),
                            Some(plain("4")),
                        ),
                        change(
                            "K",
                            Action::Update,
                            at(&base, 10),
                            None,
                            Some(secret("env:K", true)),
                        ),
                        change(
                            "L",
                            Action::Unchecked,
                            at(&base, 11),
                            None,
                            Some(secret("file:l.txt", false)),
                        ),
                    ],
                },
                TargetPlan {
                    target: t(12),
                    manifest: None,
                    reference: None,
                    changes: vec![change("X", Action::Forget, None, Some(plain("x")), None)],
                },
            ],
            unresolved: vec![TargetPlan {
                target: Target {
                    pay_system: 0,
                    person_type: 0,
                },
                manifest: at(&base, 20),
                reference: Some("xmlId:new/1".into()),
                changes: vec![change(
                    "A",
                    Action::Add,
                    at(&base, 23),
                    None,
                    Some(plain("n")),
                )],
            }],
            objects: vec![crate::plan::objects::ObjectPlan {
                kind: crate::model::objects::ObjectKind::PaySystem,
                identity: "new".into(),
                action: crate::plan::objects::ObjectAction::Create,
                id: None,
                at: at(&base, 30),
                changes: vec![crate::plan::objects::FieldChange {
                    field: "NAME".into(),
                    before: None,
                    after: Some("Card".into()),
                }],
                note: None,
                send: Some(
                    serde_json::json!({"NAME": "Card", "XML_ID": "new"})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                ),
                person_type: Some("xmlId:fiz".into()),
            }],
        }
    }

    fn head() -> Head {
        Head {
            format: "paysync.saved-plan/4".into(),
            paysync_version: "0.0.0".into(),
            state: SavedPlanHead {
                lineage: Some("l-1".into()),
                serial: 3,
                portal: Some("https://shop.example".into()),
                fingerprints: cheap_scheme(),
            },
        }
    }

    #[test]
    fn a_saved_plan_reads_back_as_the_plan_it_was_written_from() {
        let plan = plan();
        let mut bytes = Vec::new();
        write(&head(), &plan, &mut bytes).unwrap();
        let read: Read = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(read.head, head());
        assert_eq!(read.plan, plan);
        // Places in one file share its path.
        let t = &read.plan.targets[0];
        let manifest = &t.manifest.as_ref().unwrap().file;
        assert!(Arc::ptr_eq(
            manifest,
            &t.changes[0].at.as_ref().unwrap().file
        ));
    }

    #[test]
    fn a_saved_plan_repeats_nothing_its_target_says() {
        let mut bytes = Vec::new();
        write(&head(), &plan(), &mut bytes).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains("risk"), "{text}");
        assert!(!text.contains("paySystemName"), "{text}");
        // The base file once per target (its manifest) and per object, the overlay where
        // it is used.
        assert_eq!(text.matches("m/base.yaml").count(), 3, "{text}");
        assert_eq!(text.matches("m/prod/overlay.yaml:3").count(), 1, "{text}");
        assert_eq!(text.lines().count(), 1, "compact: {text}");
    }

    #[test]
    fn a_saved_plan_with_its_targets_before_the_fingerprints_is_refused() {
        let mut bytes = Vec::new();
        write(&head(), &plan(), &mut bytes).unwrap();
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let fingerprints = value
            .as_object_mut()
            .unwrap()
            .remove("secret_fingerprints")
            .unwrap();
        value["secret_fingerprints"] = fingerprints;
        let error = serde_json::from_value::<Read>(value).err().unwrap();
        assert!(
            error
                .to_string()
                .contains("`secret_fingerprints` must come before the targets"),
            "{error}"
        );
    }
}
