//! The plan as a documented JSON document: what `plan --format json` and `show --format
//! json` print (a saved plan keeps the plan in a leaner form of its own, with the same
//! values: [`super::saved_file`]), described by
//! `schema/plan.schema.json`. Format version 2; fields may be added within it, a removal
//! or a change of meaning bumps `format_version`.
//!
//! Every key of paysync's JSON documents is `snake_case` (`pay_system`, `person_type`,
//! `format_version`); version 1 of this document spelled the target's keys in camel case
//! (`paySystem`), which is still read (from saved plans of format 3). Each change has an
//! `address`, one string naming its target and code, as Terraform's resource addresses
//! do: `pay_system[11].person_type[1].settings["PS_WORK_MODE_IFRAME"]`, or for a target
//! named by a reference not resolved yet `reference["xmlId:acme_card/1"].settings["CODE"]`.
//!
//! Values are `{"type", "value"}` (a live value's `type` may be null when the portal did
//! not report it, and `value` null when unset), `{"type", "secret": "env:NAME", "checked"}`
//! for secrets (with `path`, where the file is read from, for `file:` references), and
//! `{"type", "hidden": true}` for the live value of a secret code. Fingerprints and secret
//! values are never included: a saved plan keeps the fingerprints beside the targets.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::objects::ObjectPlan;
use super::risk::Risk;
use super::{About, Action, Change, Names, Plan, Summary, TargetPlan, Value};
use crate::fingerprint::Fingerprint;
use crate::model::objects::ObjectKind;
use crate::model::{Location, Target};
use crate::secrets::SecretRef;

/// The version of the plan document's format.
pub const FORMAT_VERSION: u32 = 2;

/// The address of a setting: its target (or, not resolved yet, the reference naming it)
/// and its code, JSON-quoted (see the module docs).
pub fn address(target: Option<&Target>, reference: Option<&str>, code: &str) -> String {
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match (target, reference) {
        (None, Some(r)) => format!("reference[{}].settings[{}]", quoted(r), quoted(code)),
        (t, _) => {
            let t = t.copied().unwrap_or(Target {
                pay_system: 0,
                person_type: 0,
            });
            format!(
                "pay_system[{}].person_type[{}].settings[{}]",
                t.pay_system,
                t.person_type,
                quoted(code)
            )
        }
    }
}

/// A plan, as tools read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "paysync plan",
    description = "A paysync plan (`paysync plan --format json`, `paysync show --format json`)."
)]
pub struct PlanDocument {
    #[serde(flatten)]
    pub header: Header,
    /// Whether live settings were read (`--refresh`).
    pub refreshed: bool,
    pub summary: DocumentSummary,
    /// What a reviewer should know that is not a change.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Targets with at least one change, sorted by pay system and payer type.
    pub targets: Vec<DocumentTarget>,
    /// Targets named by a reference not resolved yet (offline, never applied), with
    /// every desired setting as an `add`; `pay_system` and `person_type` are null until
    /// apply resolves `reference` on the portal. Counted in the summary's `to_resolve`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<DocumentTarget>,
    /// Handlers and pay systems to create, adopt, update, delete or forget, handlers
    /// first; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<DocumentObject>,
}

/// A handler's or pay system's entry in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentObject {
    /// `handler["acmepay"]` or `pay_system["acme_card"]` (by XML_ID).
    pub address: String,
    #[serde(flatten)]
    pub plan: ObjectPlan,
}

/// The address of an object (see [`DocumentObject::address`]).
pub fn object_address(kind: ObjectKind, identity: &str) -> String {
    let quoted = serde_json::to_string(identity).unwrap_or_default();
    match kind {
        ObjectKind::Handler => format!("handler[{quoted}]"),
        ObjectKind::PaySystem => format!("pay_system[{quoted}]"),
    }
}

impl From<&ObjectPlan> for DocumentObject {
    fn from(plan: &ObjectPlan) -> DocumentObject {
        DocumentObject {
            address: object_address(plan.kind, &plan.identity),
            plan: plan.clone(),
        }
    }
}

/// What every paysync JSON document begins with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Header {
    /// The version of this document's format.
    pub format_version: u32,
    /// The paysync version that wrote it.
    pub paysync_version: String,
    /// The portal, `scheme://host[:port]` (never credentials); null when not known.
    pub portal: Option<String>,
    /// The environment, when there is one.
    pub environment: Option<String>,
    /// The commit the manifests were read at, from the CI's variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// A link to the CI run that made the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
}

impl Header {
    pub fn new(format_version: u32, about: &About) -> Header {
        Header {
            format_version,
            paysync_version: env!("CARGO_PKG_VERSION").to_owned(),
            portal: about.portal.clone(),
            environment: about.environment.clone(),
            commit: about.commit.clone(),
            run_url: about.run_url.clone(),
        }
    }

    pub fn about(&self) -> About {
        About {
            portal: self.portal.clone(),
            environment: self.environment.clone(),
            commit: self.commit.clone(),
            run_url: self.run_url.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentSummary {
    /// Whether the plan changes the portal or the state (`--detailed-exitcode` exits 2).
    pub has_changes: bool,
    /// How many changes need a reviewer's attention (risk `empty_secret` to `key_or_mode`).
    pub needs_attention: usize,
    #[serde(flatten)]
    pub counts: Summary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentTarget {
    /// The pay system's ID; null for a target named by a reference not resolved yet.
    #[serde(alias = "paySystem")]
    pub pay_system: Option<u64>,
    /// The payer type's ID; null for a target named by a reference not resolved yet.
    #[serde(alias = "personType")]
    pub person_type: Option<u64>,
    /// The pay system's name, when known (state, `--refresh`).
    #[serde(
        alias = "paySystemName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pay_system_name: Option<String>,
    /// The payer type's name, when known.
    #[serde(
        alias = "personTypeName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub person_type_name: Option<String>,
    /// `file:line` of the target's manifest document; absent when no longer declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// How the manifest names the target, when by reference (`xmlId:acme_card/1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The most serious risk among the changes.
    pub risk: Risk,
    /// Sorted by code.
    pub changes: Vec<DocumentChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentChange {
    /// The target and code as one string (see the module docs):
    /// `pay_system[11].person_type[1].settings["CODE"]`.
    #[serde(default)]
    pub address: String,
    pub code: String,
    pub action: Action,
    pub risk: Risk,
    /// `file:line` where the code is declared (for a code no longer managed: its target's
    /// document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The value being replaced: recorded, or live (drift); absent for `add`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<DocumentValue>,
    /// The desired value; absent for `forget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<DocumentValue>,
}

/// A setting's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DocumentValue {
    /// A secret reference; its value is never included.
    Secret {
        #[serde(rename = "type")]
        source: String,
        /// The reference as written: `env:NAME` or `file:PATH`.
        secret: String,
        /// For `file:` references: the file read (the manifest's directory joined with
        /// the path as written).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// Whether the value was read and compared at plan time.
        checked: bool,
        /// Present (true) only for a secret found empty at plan time.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        empty: bool,
    },
    /// The live value of a secret code: never shown.
    Hidden {
        #[serde(rename = "type")]
        source: Option<String>,
        hidden: bool,
    },
    /// A literal value or a field source (`type` is the source); from the portal, either
    /// may be null (not reported, unset).
    Plain {
        #[serde(rename = "type")]
        source: Option<String>,
        value: Option<String>,
    },
}

impl From<&Value> for DocumentValue {
    fn from(v: &Value) -> Self {
        match v {
            Value::Plain { source, value } => DocumentValue::Plain {
                source: Some(source.to_string()),
                value: Some(value.to_string()),
            },
            Value::Live { source, value } => DocumentValue::Plain {
                source: source.as_ref().map(ToString::to_string),
                value: value.as_ref().map(ToString::to_string),
            },
            Value::Secret {
                source,
                secret,
                fingerprint,
                empty,
            } => DocumentValue::Secret {
                source: source.to_string(),
                secret: secret.to_string(),
                path: secret.path().map(|p| p.display().to_string()),
                checked: fingerprint.is_some(),
                empty: *empty,
            },
            Value::Hidden { source } => DocumentValue::Hidden {
                source: source.as_ref().map(ToString::to_string),
                hidden: true,
            },
        }
    }
}

impl From<&Plan> for PlanDocument {
    fn from(plan: &Plan) -> Self {
        PlanDocument {
            targets: plan
                .targets
                .iter()
                .map(|t| document_target(plan, t, true))
                .collect(),
            unresolved: plan
                .unresolved
                .iter()
                .map(|t| document_target(plan, t, false))
                .collect(),
            ..PlanDocument::head(plan)
        }
    }
}

impl PlanDocument {
    /// The document of `plan` without its targets.
    fn head(plan: &Plan) -> PlanDocument {
        let summary = plan.summary();
        PlanDocument {
            header: Header::new(FORMAT_VERSION, &plan.about),
            refreshed: plan.refreshed,
            summary: DocumentSummary {
                has_changes: summary.has_changes(),
                needs_attention: plan.attention().count(),
                counts: summary,
            },
            warnings: plan.warnings.clone(),
            targets: Vec::new(),
            unresolved: Vec::new(),
            objects: plan.objects.iter().map(DocumentObject::from).collect(),
        }
    }
}

/// The document of a plan (the JSON of [`PlanDocument::from`], field for field) made one
/// target at a time as it is serialised, rather than built whole first: the document of
/// a plan of 200,000 targets was a second copy of the plan (issue 13).
pub struct StreamedDocument<'a>(pub &'a Plan);

impl Serialize for StreamedDocument<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap};
        let plan = self.0;
        // Every field but the targets comes from the document itself, in its order, so
        // the two cannot differ; the targets (empty there) are put in their place.
        let head = serde_json::to_value(PlanDocument::head(plan)).map_err(S::Error::custom)?;
        let serde_json::Value::Object(fields) = head else {
            return Err(S::Error::custom("a plan document is an object"));
        };
        let mut map = s.serialize_map(Some(fields.len() + 1))?;
        for (key, value) in &fields {
            match key.as_str() {
                "targets" => map.serialize_entry(key, &Targets(plan, &plan.targets, true))?,
                _ => map.serialize_entry(key, value)?,
            }
        }
        // Last, and only when there are some (`skip_serializing_if` in the document).
        if !plan.unresolved.is_empty() {
            map.serialize_entry("unresolved", &Targets(plan, &plan.unresolved, false))?;
        }
        map.end()
    }
}

/// Targets of a plan, each made into its document as it is serialised.
/// (The bool: whether the targets are resolved, not named by a reference yet.)
struct Targets<'a>(&'a Plan, &'a [TargetPlan], bool);

impl Serialize for Targets<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.1.iter().map(|t| document_target(self.0, t, self.2)))
    }
}

fn document_target(plan: &Plan, t: &TargetPlan, resolved: bool) -> DocumentTarget {
    let target = resolved.then_some(&t.target);
    DocumentTarget {
        pay_system: target.map(|t| t.pay_system),
        person_type: target.map(|t| t.person_type),
        pay_system_name: plan.names.pay_system(t.target.pay_system).map(Into::into),
        person_type_name: plan.names.person_type(t.target.person_type).map(Into::into),
        manifest: t.manifest.as_ref().map(ToString::to_string),
        reference: t.reference.clone(),
        risk: t.risk(),
        changes: t
            .changes
            .iter()
            .map(|c| DocumentChange {
                address: address(target, t.reference.as_deref(), &c.code),
                code: c.code.to_string(),
                action: c.action,
                risk: c.risk(),
                manifest: t.location(c).map(ToString::to_string),
                before: c.before.as_deref().map(DocumentValue::from),
                after: c.after.as_ref().map(DocumentValue::from),
            })
            .collect(),
    }
}

/// A secret's fingerprint as a saved plan keeps it, beside the targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedFingerprint {
    /// The reference as written.
    pub secret: String,
    /// For `file:` references, the file read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub fingerprint: Fingerprint,
}

impl SavedFingerprint {
    /// Every checked secret the plan will write, each once.
    pub fn of(plan: &Plan) -> Vec<SavedFingerprint> {
        let mut out: Vec<SavedFingerprint> = plan
            .targets
            .iter()
            .chain(&plan.unresolved)
            .flat_map(|t| &t.changes)
            .filter_map(|c| match &c.after {
                Some(
                    v @ Value::Secret {
                        fingerprint: Some(fingerprint),
                        ..
                    },
                ) => match DocumentValue::from(v) {
                    DocumentValue::Secret { secret, path, .. } => Some(SavedFingerprint {
                        secret,
                        path,
                        fingerprint: fingerprint.clone(),
                    }),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| (&a.secret, &a.path).cmp(&(&b.secret, &b.path)));
        out.dedup_by(|a, b| a.secret == b.secret && a.path == b.path);
        out
    }
}

/// Why a plan document cannot be turned back into a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("format_version {0} is not one this paysync reads (1, 2)")]
    Version(u32),
    #[error("{:?} is not a secret reference ({})", .0, crate::secrets::forms())]
    Reference(String),
    #[error("the value of {code} of {target} has no type")]
    NoType { target: Target, code: String },
}

impl PlanDocument {
    /// The plan this document describes; the fingerprints of checked secrets come from
    /// `fingerprints` (a saved plan's), the others are "not checked".
    pub fn to_plan(&self, fingerprints: &[SavedFingerprint]) -> Result<Plan, DocumentError> {
        if !(1..=FORMAT_VERSION).contains(&self.header.format_version) {
            return Err(DocumentError::Version(self.header.format_version));
        }
        let mut names = Names::default();
        let mut all = Vec::with_capacity(self.targets.len() + self.unresolved.len());
        for t in self.targets.iter().chain(&self.unresolved) {
            // A target not resolved yet is 0/0 in a plan, as in version 1 of the document.
            let target = Target {
                pay_system: t.pay_system.unwrap_or_default(),
                person_type: t.person_type.unwrap_or_default(),
            };
            if let Some(n) = &t.pay_system_name {
                names.pay_systems.insert(target.pay_system, n.clone());
            }
            if let Some(n) = &t.person_type_name {
                names.person_types.insert(target.person_type, n.clone());
            }
            let value = |v: &DocumentValue, code: &str, live: bool| {
                plan_value(v, target, code, live, fingerprints)
            };
            let mut changes = Vec::with_capacity(t.changes.len());
            for c in &t.changes {
                let at = match c.action {
                    Action::Forget => None,
                    _ => c.manifest.as_deref().and_then(Location::parse),
                };
                changes.push(Change {
                    code: c.code.as_str().into(),
                    action: c.action,
                    at,
                    before: c
                        .before
                        .as_ref()
                        .map(|v| value(v, &c.code, c.action == Action::Drift).map(Box::new))
                        .transpose()?,
                    after: c
                        .after
                        .as_ref()
                        .map(|v| value(v, &c.code, false))
                        .transpose()?,
                });
            }
            all.push(TargetPlan {
                target,
                manifest: t.manifest.as_deref().and_then(Location::parse),
                reference: t.reference.clone(),
                changes,
            });
        }
        let unresolved = all.split_off(self.targets.len());
        let targets = all;
        Ok(Plan {
            about: self.header.about(),
            refreshed: self.refreshed,
            targets,
            names,
            warnings: self.warnings.clone(),
            unresolved,
            objects: self.objects.iter().map(|o| o.plan.clone()).collect(),
        })
    }
}

/// The plan value of a document value of `target`'s `code` (`live`: the live value of a
/// drift, whose type may be unknown); a checked secret's fingerprint comes from
/// `fingerprints` (a saved plan's).
pub(super) fn plan_value(
    v: &DocumentValue,
    target: Target,
    code: &str,
    live: bool,
    fingerprints: &[SavedFingerprint],
) -> Result<Value, DocumentError> {
    Ok(match v {
        DocumentValue::Secret {
            source,
            secret,
            path,
            checked,
            empty,
        } => Value::Secret {
            source: source.as_str().into(),
            secret: Box::new(reference(secret, path.as_deref())?),
            fingerprint: checked
                .then(|| {
                    fingerprints
                        .iter()
                        .find(|f| f.secret == *secret && f.path == *path)
                        .map(|f| f.fingerprint.clone())
                })
                .flatten(),
            empty: *empty,
        },
        DocumentValue::Hidden { source, .. } => Value::Hidden {
            source: source.as_deref().map(Into::into),
        },
        DocumentValue::Plain { source, value } if live => Value::Live {
            source: source.as_deref().map(Into::into),
            value: value.as_deref().map(Into::into),
        },
        DocumentValue::Plain {
            source: Some(source),
            value,
        } => Value::Plain {
            source: source.as_str().into(),
            value: value.as_deref().unwrap_or_default().into(),
        },
        DocumentValue::Plain { source: None, .. } => {
            return Err(DocumentError::NoType {
                target,
                code: code.to_owned(),
            });
        }
    })
}

/// A reference as a plan document writes it (`secret`, with the `path` read for a
/// `file:` one), parsed by the one grammar.
fn reference(secret: &str, path: Option<&str>) -> Result<SecretRef, DocumentError> {
    let bad = || DocumentError::Reference(secret.to_owned());
    let parsed: SecretRef = secret.parse().map_err(|_| bad())?;
    match parsed.path() {
        Some(_) => Ok(parsed.with_path(PathBuf::from(path.ok_or_else(bad)?))),
        None => Ok(parsed),
    }
}
