//! The state file: what paysync last applied, per target and code.
//!
//! Format (JSON, `format: 1`): `lineage` (random, fixed at creation), `serial` (bumped on
//! every write), `portal` (scheme://host\[:port\] of the portal it was applied to, never
//! credentials), the secret-fingerprint key, and per target the recorded settings. Secret
//! values are never stored: a secret setting records its reference and a keyed fingerprint.
//!
//! [`store`] owns the file system side (atomic writes, the apply lock); this module owns the
//! format and must not do I/O.

pub mod store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Target;
use crate::secrets::{Fingerprint, FingerprintKey};

/// The only state format this version reads and writes.
pub const STATE_FORMAT: u32 = 1;

/// A recorded (last-applied) setting value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RecordedValue {
    /// A secret: its reference as written (`env:NAME`, `file:PATH`) and its fingerprint.
    Secret {
        #[serde(rename = "type")]
        source: String,
        secret: String,
        fingerprint: Fingerprint,
    },
    /// A literal value or a field source.
    Plain {
        #[serde(rename = "type")]
        source: String,
        value: String,
    },
}

/// The settings recorded for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedTarget {
    pub pay_system: u64,
    pub person_type: u64,
    pub settings: BTreeMap<String, RecordedValue>,
}

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    pub format: u32,
    pub lineage: String,
    pub serial: u64,
    /// `scheme://host[:port]` of the portal this state was applied to; `None` before the
    /// first apply.
    pub portal: Option<String>,
    pub fingerprint_key: FingerprintKey,
    pub targets: Vec<RecordedTarget>,
}

/// The last-applied settings in memory, keyed for the planner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastApplied {
    pub lineage: String,
    pub serial: u64,
    pub portal: Option<String>,
    pub fingerprint_key: FingerprintKey,
    pub targets: BTreeMap<Target, BTreeMap<String, RecordedValue>>,
}

impl LastApplied {
    /// A brand-new, empty state with a fresh lineage and fingerprint key.
    pub fn new() -> LastApplied {
        LastApplied {
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            portal: None,
            fingerprint_key: FingerprintKey::generate(),
            targets: BTreeMap::new(),
        }
    }

    pub fn from_file(file: StateFile) -> LastApplied {
        LastApplied {
            lineage: file.lineage,
            serial: file.serial,
            portal: file.portal,
            fingerprint_key: file.fingerprint_key,
            targets: file
                .targets
                .into_iter()
                .map(|t| {
                    (
                        Target {
                            pay_system: t.pay_system,
                            person_type: t.person_type,
                        },
                        t.settings,
                    )
                })
                .collect(),
        }
    }

    pub fn to_file(&self) -> StateFile {
        StateFile {
            format: STATE_FORMAT,
            lineage: self.lineage.clone(),
            serial: self.serial,
            portal: self.portal.clone(),
            fingerprint_key: self.fingerprint_key.clone(),
            targets: self
                .targets
                .iter()
                .map(|(target, settings)| RecordedTarget {
                    pay_system: target.pay_system,
                    person_type: target.person_type,
                    settings: settings.clone(),
                })
                .collect(),
        }
    }
}

impl Default for LastApplied {
    fn default() -> Self {
        LastApplied::new()
    }
}
