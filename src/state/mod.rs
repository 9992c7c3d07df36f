//! The state file: what paysync last applied, per target and code.
//!
//! Format (JSON, `format: 2`): `lineage` (random, fixed at creation), `serial` (bumped on
//! every write, and by every [`JournalEntry`] an apply appends: the state file written at
//! the end of the run, or folding a journal a kill left, keeps the last entry's serial,
//! so serials are those a save per confirmed request would give), `portal` (scheme://host\[:port\] of the portal it was applied to, never
//! credentials), `fingerprints` (how secret fingerprints are made: Argon2id parameters
//! and the per-state salt, see [`crate::fingerprint`]), `portal_moves` (the addresses the
//! state was moved from with `paysync state move-portal`) and per target the recorded
//! settings. Secret values are never stored: a secret setting records its reference and
//! its fingerprint (or none, when it is not known: it is then written at the next apply).
//!
//! Format 1 (an HMAC key in the file, HMAC-SHA256 fingerprints) is still read. Its key is
//! kept in memory to compare its fingerprints, never written; the salt of the new scheme
//! is derived from the file, so every run reading it agrees. The first write turns it
//! into format 2: fingerprints that run could verify against the secret's value are
//! carried over, the others are dropped and shown as not checked until the next apply.
//!
//! [`backend`] is the seam every store of a state plugs into (its contract is written
//! there); [`location`] says where a state lives and [`open`] builds its backend:
//! [`file`] for a local file (atomic writes, the journal, the apply lock), [`s3`] for an
//! S3-compatible store (conditional writes, lease locks, journal objects) and [`http`]
//! for a Terraform-HTTP-backend service such as GitLab-managed state; `remote` holds what
//! the remote two share. [`replay`] parses a whole state and replays journal entries the
//! same way for every backend. [`format`] owns the format and must not do I/O.

pub mod backend;
pub mod error;
pub mod file;
pub mod format;
pub mod http;
pub mod location;
pub mod objects;
mod remote;
pub mod replay;
pub mod s3;
pub mod settings;
mod whole;

pub use backend::{HistoryEntry, Journal, LockRequest, StateBackend, StateLock, WrittenTarget};
pub use error::StateError;
pub use format::*;
pub use location::{LocationError, StateLocation};
pub use objects::{RecordedObject, RecordedObjects};
pub use whole::StateFileView;

/// The backend of `location`, its credentials read through `vars` (the environment's
/// mapping): the one place a store is built from configuration. Nothing is sent yet.
pub fn open(
    location: &StateLocation,
    vars: &crate::variables::Variables,
) -> Result<Box<dyn StateBackend>, StateError> {
    Ok(match location {
        StateLocation::File(path) => Box::new(file::FileBackend::new(path.clone())),
        StateLocation::S3 { bucket, key } => {
            Box::new(s3::S3Backend::new(vars, location, bucket, key)?)
        }
        StateLocation::Http(url) => Box::new(http::HttpBackend::new(vars, location, url)?),
    })
}

impl LastApplied {
    /// Refuses a state made for another portal than `portal` (the credentials'), kept at
    /// `location`.
    pub fn check_portal(&self, location: &StateLocation, portal: &str) -> Result<(), StateError> {
        match &self.portal {
            Some(recorded) if !crate::bitrix::same_portal(recorded, portal) => {
                Err(StateError::ForeignPortal {
                    state: location.clone(),
                    state_portal: recorded.clone(),
                    portal: portal.to_owned(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Points the state at the portal's new address `to`, recording the move (from the
    /// portal it recorded, at `at`, RFC 3339); returns the address it pointed at before.
    pub fn move_portal(&mut self, to: String, at: String) -> Option<String> {
        let before = self.portal.replace(to.clone());
        self.portal_moves.push(PortalMove {
            from: before.clone(),
            to,
            at,
        });
        before
    }

    /// Records, for each target `desired` declares that the state holds, its reference
    /// and manifest file, as later plans show them.
    pub fn record_declared(&mut self, desired: &crate::model::Desired) {
        for (target, d) in &desired.targets {
            if self.targets.contains_key(target) {
                self.records.insert(
                    *target,
                    TargetRecord {
                        reference: d.reference.as_ref().map(ToString::to_string),
                        manifest: Some(d.origin.file.display().to_string()),
                    },
                );
            }
        }
    }
}
