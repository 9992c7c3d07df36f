//! Saved plans (`plan --out FILE`, `apply --plan FILE`).
//!
//! A saved plan pins the state it was made from (`lineage`, `serial`) and the portal, and
//! carries the fingerprints of every secret it checked and how they were made (the
//! state's scheme: Argon2id parameters and salt), so apply can refuse a plan whose state
//! moved on or whose secrets changed since. It never holds a secret value or key
//! material (see [`crate::fingerprint`]). Its file format is `saved_file`'s.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::saved_file;
use super::{Plan, Value};
use crate::fingerprint::{FingerprintScheme, Fingerprinter};
use crate::json;
use crate::secrets::{Redacted, SecretRef};
use crate::state::LastApplied;

/// The largest saved plan read.
pub const MAX_SAVED_PLAN_BYTES: u64 = 1 << 30;

/// The format tag of saved plans written by this version.
pub const SAVED_PLAN_FORMAT: &str = "paysync.saved-plan/4";

pub use super::saved_file::{Head as SavedFileHead, SavedPlanHead};

/// A saved plan in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedPlan {
    /// What the file says besides the plan: its format, and the state it was made from.
    pub file: SavedFileHead,
    pub plan: Plan,
}

/// The format of the saved plans before issue 22.3, still read (and applied).
const PREVIOUS_SAVED_PLAN_FORMAT: &str = "paysync.saved-plan/3";

/// A saved plan of [`PREVIOUS_SAVED_PLAN_FORMAT`]: the plan document embedded, the
/// fingerprints of the secrets it checked beside it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedPlanFileV3 {
    format: String,
    paysync_version: String,
    lineage: Option<String>,
    serial: u64,
    portal: Option<String>,
    fingerprints: FingerprintScheme,
    secret_fingerprints: Vec<super::document::SavedFingerprint>,
    plan: super::document::PlanDocument,
}

impl SavedPlanHead {
    /// Writes the saved plan of `plan` (this version's format) to `out`, streamed.
    pub fn write(&self, plan: &Plan, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let head = saved_file::Head {
            format: SAVED_PLAN_FORMAT.to_owned(),
            paysync_version: env!("CARGO_PKG_VERSION").to_owned(),
            state: self.clone(),
        };
        saved_file::write(&head, plan, out)
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
    #[error("{path} is not a paysync saved plan (line {line}, column {column}): {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "saved plan {path} has format {found:?}; this paysync reads {SAVED_PLAN_FORMAT:?} \
         (and {PREVIOUS_SAVED_PLAN_FORMAT:?}): make the plan again with this version \
         (`paysync plan --out`)"
    )]
    Format { path: String, found: String },
    /// A plan of the previous format whose document does not make a plan.
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
        match (current, &self.file.state.lineage) {
            (None, None) => Ok(LastApplied {
                fingerprints: FingerprintScheme {
                    keyed: false,
                    ..self.file.state.fingerprints.clone()
                },
                portal: self.file.state.portal.clone(),
                ..LastApplied::new()
            }),
            (Some(s), Some(lineage))
                if *lineage == s.lineage && self.file.state.serial == s.serial =>
            {
                Ok(s.clone())
            }
            (Some(s), Some(lineage)) if *lineage == s.lineage => Err(Staleness::Serial {
                planned: self.file.state.serial,
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
        [
            self.file.state.portal.as_deref(),
            self.plan.about.portal.as_deref(),
        ]
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

    /// What the file says of the state the plan was made from.
    pub fn head(&self) -> SavedPlanHead {
        self.file.state.clone()
    }

    /// Reads a saved plan file: a regular file of at most [`MAX_SAVED_PLAN_BYTES`], parsed
    /// as it is read (its text is never held whole beside the plan, issue 22.3).
    pub fn read(path: &std::path::Path) -> Result<SavedPlan, SavedPlanError> {
        let shown = path.display().to_string();
        let read_error = |source: crate::files::ReadError| SavedPlanError::Read {
            path: shown.clone(),
            error: source,
        };
        let file = crate::files::open_regular(path, MAX_SAVED_PLAN_BYTES).map_err(read_error)?;
        SavedPlan::parse(&shown, || {
            json::from_start(&file).map_err(|e| read_error(e.into()))
        })
    }

    pub fn from_json(path: &str, text: &str) -> Result<SavedPlan, SavedPlanError> {
        SavedPlan::parse(path, || Ok(serde_json::de::SliceRead::new(text.as_bytes())))
    }

    /// Parses a saved plan from `source`, which gives its text from the start each time
    /// it is called: once, straight into the plan, each target as it is read; again for
    /// its format only when that fails (so a plan of another version gets a clear message
    /// rather than a complaint about a field).
    fn parse<'de, R: serde_json::de::Read<'de>>(
        path: &str,
        mut source: impl FnMut() -> Result<R, SavedPlanError>,
    ) -> Result<SavedPlan, SavedPlanError> {
        let parse = |e: serde_json::Error| SavedPlanError::Parse {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: json::message(&e),
        };
        use json::one;
        let read = one::<_, saved_file::Read>(source()?);
        let found = match &read {
            Ok(read) => read.head.format.clone(),
            Err(_) => {
                #[derive(Deserialize)]
                struct FormatOnly {
                    #[serde(default)]
                    format: Option<serde_json::Value>,
                }
                let found: FormatOnly = one(source()?).map_err(parse)?;
                let format = found.format.as_ref().and_then(|f| f.as_str());
                format.unwrap_or_default().to_owned()
            }
        };
        if found == PREVIOUS_SAVED_PLAN_FORMAT {
            // Saved before issue 22.3 (the plan document embedded): still applies.
            let file: SavedPlanFileV3 = one(source()?).map_err(parse)?;
            let plan = file
                .plan
                .to_plan(&file.secret_fingerprints)
                .map_err(|error| SavedPlanError::Document {
                    path: path.to_owned(),
                    error,
                })?;
            return SavedPlan::checked(
                path,
                saved_file::Head {
                    format: file.format,
                    paysync_version: file.paysync_version,
                    state: SavedPlanHead {
                        lineage: file.lineage,
                        serial: file.serial,
                        portal: file.portal,
                        fingerprints: file.fingerprints,
                    },
                },
                plan,
            );
        }
        if found != SAVED_PLAN_FORMAT {
            return Err(SavedPlanError::Format {
                path: path.to_owned(),
                found,
            });
        }
        let saved_file::Read { head, plan } = read.map_err(parse)?;
        SavedPlan::checked(path, head, plan)
    }

    /// The saved plan of `head` and `plan`, if its fingerprint scheme is one paysync can
    /// use.
    fn checked(
        path: &str,
        head: saved_file::Head,
        plan: Plan,
    ) -> Result<SavedPlan, SavedPlanError> {
        let saved = SavedPlan { file: head, plan };
        saved
            .file
            .state
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
    for change in plan
        .targets
        .iter()
        .chain(&plan.unresolved)
        .flat_map(|t| &t.changes)
    {
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
