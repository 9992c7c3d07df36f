//! Saved plans (`plan --out FILE`, `apply --plan FILE`).
//!
//! A saved plan pins the state it was made from (`lineage`, `serial`) and the portal, and
//! carries the fingerprints of every secret it checked and how they were made (the
//! state's scheme: Argon2id parameters and salt), so apply can refuse a plan whose state
//! moved on or whose secrets changed since. It never holds a secret value or key
//! material (see [`crate::fingerprint`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::document::{PlanDocument, SavedFingerprint, StreamedDocument};
use super::{Plan, Value};
use crate::fingerprint::{FingerprintScheme, Fingerprinter};
use crate::secrets::{Redacted, SecretRef};
use crate::state::LastApplied;

/// The largest saved plan read.
pub const MAX_SAVED_PLAN_BYTES: u64 = 1 << 30;

/// The format tag of saved plans written by this version.
pub const SAVED_PLAN_FORMAT: &str = "paysync.saved-plan/3";

/// A saved plan in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedPlan {
    pub format: String,
    /// The paysync version that made it (informational).
    pub paysync_version: String,
    /// Lineage of the state the plan was made from; `None` when there was no state yet.
    pub lineage: Option<String>,
    /// Serial of that state (0 when there was none).
    pub serial: u64,
    /// The portal the state belongs to, if known.
    pub portal: Option<String>,
    /// How the plan's secret fingerprints were made (the state's scheme: parameters and
    /// salt, no key material).
    pub fingerprints: FingerprintScheme,
    pub plan: Plan,
}

/// A saved plan as written: the plan is the documented plan JSON ([`PlanDocument`],
/// `schema/plan.schema.json`); the fingerprints of the secrets it checked are kept beside
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedPlanFile {
    format: String,
    paysync_version: String,
    lineage: Option<String>,
    serial: u64,
    portal: Option<String>,
    fingerprints: FingerprintScheme,
    /// The fingerprint of every checked secret the plan writes.
    secret_fingerprints: Vec<SavedFingerprint>,
    plan: PlanDocument,
}

/// What a saved plan records besides its plan: the state it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedPlanHead {
    /// Lineage of the state the plan was made from; `None` when there was no state yet.
    pub lineage: Option<String>,
    /// Serial of that state (0 when there was none).
    pub serial: u64,
    pub portal: Option<String>,
    pub fingerprints: FingerprintScheme,
}

/// The file as written, borrowing the plan: its document made one target at a time
/// ([`StreamedDocument`]), so writing a saved plan never holds a second copy of the plan
/// or the whole text. Field for field [`SavedPlanFile`].
#[derive(Serialize)]
struct SavedPlanOut<'a> {
    format: &'a str,
    paysync_version: &'a str,
    lineage: &'a Option<String>,
    serial: u64,
    portal: &'a Option<String>,
    fingerprints: &'a FingerprintScheme,
    secret_fingerprints: Vec<SavedFingerprint>,
    plan: StreamedDocument<'a>,
}

impl SavedPlanHead {
    /// Writes the saved plan of `plan` (this version's format) to `out`, streamed.
    pub fn write(&self, plan: &Plan, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let file = SavedPlanOut {
            format: SAVED_PLAN_FORMAT,
            paysync_version: env!("CARGO_PKG_VERSION"),
            lineage: &self.lineage,
            serial: self.serial,
            portal: &self.portal,
            fingerprints: &self.fingerprints,
            secret_fingerprints: SavedFingerprint::of(plan),
            plan: StreamedDocument(plan),
        };
        serde_json::to_writer_pretty(&mut *out, &file).map_err(std::io::Error::other)?;
        out.write_all(b"\n")
    }
}

/// Why a saved plan cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot read saved plan {path}: {error}")]
    Read {
        path: String,
        error: crate::files::ReadError,
    },
    #[error("saved plan {path} is not UTF-8 text")]
    NotText { path: String },
    #[error("{path} is not a paysync saved plan (line {line}, column {column}): {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "saved plan {path} has format {found:?}; this paysync reads {SAVED_PLAN_FORMAT:?}: \
         make the plan again with this version (`paysync plan --out`)"
    )]
    Format { path: String, found: String },
    #[error("saved plan {path} has an unusable plan: {error}")]
    Document {
        path: String,
        error: super::document::DocumentError,
    },
    #[error("saved plan {path} has unusable `fingerprints`: {error}")]
    Scheme {
        path: String,
        error: crate::fingerprint::SchemeError,
    },
}

/// Why a saved plan no longer applies: what it was made from has moved on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Staleness {
    #[error("it was made from state serial {planned}, the state is now at serial {current}")]
    Serial { planned: u64, current: u64 },
    #[error("it was made from a different state file (lineage differs)")]
    Lineage,
    #[error("it was made when there was no state file; one exists now")]
    StateCreated,
    #[error("the state file it was made from no longer exists")]
    StateRemoved,
    #[error("its secret fingerprints were made another way than the state's")]
    Fingerprints,
    /// Secrets (references as written) whose value is not the one the plan checked.
    #[error("secret {} changed since the plan was made", .0.join(", "))]
    SecretsChanged(Vec<String>),
}

impl SavedPlan {
    /// The state this plan applies on: `current` if it is the one the plan was made from,
    /// a new state (with the plan's fingerprint scheme and portal) if the plan was made
    /// without one and there still is none. (Whether the fingerprints were made the same
    /// way is checked after the portal: [`Staleness::Fingerprints`].)
    pub fn base_state(&self, current: Option<&LastApplied>) -> Result<LastApplied, Staleness> {
        match (current, &self.lineage) {
            (None, None) => Ok(LastApplied {
                fingerprints: FingerprintScheme {
                    keyed: false,
                    ..self.fingerprints.clone()
                },
                portal: self.portal.clone(),
                ..LastApplied::new()
            }),
            (Some(s), Some(lineage)) if *lineage == s.lineage && self.serial == s.serial => {
                Ok(s.clone())
            }
            (Some(s), Some(lineage)) if *lineage == s.lineage => Err(Staleness::Serial {
                planned: self.serial,
                current: s.serial,
            }),
            (Some(_), Some(_)) => Err(Staleness::Lineage),
            (Some(_), None) => Err(Staleness::StateCreated),
            (None, Some(_)) => Err(Staleness::StateRemoved),
        }
    }

    /// The portal the plan was made for (its state's, or the one it read with
    /// `--refresh`) when that is not `portal`: such a plan is never applied there.
    pub fn made_for_another_portal(&self, portal: &str) -> Option<&str> {
        [self.portal.as_deref(), self.plan.about.portal.as_deref()]
            .into_iter()
            .flatten()
            .find(|planned| !crate::bitrix::same_portal(planned, portal))
    }

    pub fn to_json(&self) -> String {
        let mut bytes = Vec::new();
        self.head()
            .write(&self.plan, &mut bytes)
            .expect("writing to memory does not fail");
        String::from_utf8(bytes).expect("JSON is UTF-8")
    }

    /// What the file says besides the plan.
    pub fn head(&self) -> SavedPlanHead {
        SavedPlanHead {
            lineage: self.lineage.clone(),
            serial: self.serial,
            portal: self.portal.clone(),
            fingerprints: self.fingerprints.clone(),
        }
    }

    /// Reads a saved plan file: a regular file of at most [`MAX_SAVED_PLAN_BYTES`].
    pub fn read(path: &std::path::Path) -> Result<SavedPlan, SavedPlanError> {
        let shown = path.display().to_string();
        let bytes = crate::files::read_regular(path, MAX_SAVED_PLAN_BYTES).map_err(|source| {
            SavedPlanError::Read {
                path: shown.clone(),
                error: source,
            }
        })?;
        let text = String::from_utf8(bytes).map_err(|_| SavedPlanError::NotText {
            path: shown.clone(),
        })?;
        SavedPlan::from_json(&shown, &text)
    }

    pub fn from_json(path: &str, text: &str) -> Result<SavedPlan, SavedPlanError> {
        let parse = |e: serde_json::Error| SavedPlanError::Parse {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        };
        // The format first (a scan that keeps nothing else), so a plan of another version
        // gets a clear message rather than a complaint about a field; then the file straight
        // into its types, never through a generic JSON tree (which cost several times the
        // file's size).
        #[derive(Deserialize)]
        struct FormatOnly {
            #[serde(default)]
            format: Option<serde_json::Value>,
        }
        let found: FormatOnly = serde_json::from_str(text).map_err(parse)?;
        let format = found.format.as_ref().and_then(|f| f.as_str()).unwrap_or("");
        if format != SAVED_PLAN_FORMAT {
            return Err(SavedPlanError::Format {
                path: path.to_owned(),
                found: format.to_owned(),
            });
        }
        let file: SavedPlanFile = serde_json::from_str(text).map_err(parse)?;
        let plan = file
            .plan
            .to_plan(&file.secret_fingerprints)
            .map_err(|error| SavedPlanError::Document {
                path: path.to_owned(),
                error,
            })?;
        let saved = SavedPlan {
            format: file.format,
            paysync_version: file.paysync_version,
            lineage: file.lineage,
            serial: file.serial,
            portal: file.portal,
            fingerprints: file.fingerprints,
            plan,
        };
        saved
            .fingerprints
            .check()
            .map_err(|source| SavedPlanError::Scheme {
                path: path.to_owned(),
                error: source,
            })?;
        Ok(saved)
    }
}

/// The secrets (references as written, sorted) checked at plan time whose value is no
/// longer the one the reviewer approved; `None` when a fingerprint cannot be checked
/// (keyed, and the key is not set).
pub fn changed_secrets(
    plan: &Plan,
    secrets: &BTreeMap<SecretRef, Redacted<String>>,
    fingerprinter: &Fingerprinter,
) -> Option<Vec<String>> {
    let mut changed = std::collections::BTreeSet::new();
    for change in plan.targets.iter().flat_map(|t| &t.changes) {
        if let Some(Value::Secret {
            secret,
            fingerprint: Some(planned),
            ..
        }) = &change.after
            && let Some(value) = secrets.get(secret)
        {
            match fingerprinter.matches(planned, value) {
                Some(true) => {}
                Some(false) => {
                    changed.insert(secret.to_string());
                }
                None => return None,
            }
        }
    }
    Some(changed.into_iter().collect())
}
