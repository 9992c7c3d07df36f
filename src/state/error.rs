//! Why the state could not be read, written or locked: one error type for every
//! backend ([`super::backend`]). Variants about the state itself name its
//! [`StateLocation`]; those about a file kept next to it (the file backend's journal,
//! lock and temporary files) name that file.

use std::io;
use std::path::PathBuf;

use super::format::{LEGACY_STATE_FORMAT, STATE_FORMAT};
use super::location::StateLocation;
use crate::files::ReadError;

/// Operational failures of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file {}: {error}", state)]
    Read {
        state: StateLocation,
        error: ReadError,
    },
    #[error(
        "state file {} is not valid paysync state{}: {message}",
        state,
        at(*line, *column)
    )]
    Parse {
        state: StateLocation,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "state file {} has format {found}, but this paysync reads formats {LEGACY_STATE_FORMAT} \
         and {STATE_FORMAT}; use a matching paysync version",
        state
    )]
    UnsupportedFormat { state: StateLocation, found: u64 },
    /// The recorded fingerprint scheme cannot be used.
    #[error("state file {} has unusable `fingerprints`: {error}", state)]
    Scheme {
        state: StateLocation,
        error: crate::fingerprint::SchemeError,
    },
    #[error("cannot write state file {}: {error}", path.display())]
    Write { path: PathBuf, error: io::Error },
    /// Found before anything is sent: the directory does not take new files.
    #[error(
        "cannot write state file {}: its directory {} does not take new files ({error}); \
         nothing was sent to the portal",
        state,
        dir.display()
    )]
    NotWritable {
        state: StateLocation,
        dir: PathBuf,
        error: io::Error,
    },
    /// Found before anything is sent: the file is marked read-only.
    #[error(
        "state file {} is read-only; make it writable (or use another --state); nothing was \
         sent to the portal",
        state
    )]
    ReadOnly { state: StateLocation },
    /// The path names something other than a regular file.
    #[error("state file {} is {kind}, not a regular file", state)]
    NotRegular {
        state: StateLocation,
        kind: &'static str,
    },
    /// The serial cannot be bumped any further (a state file edited by hand, or a hostile
    /// one): it never wraps around.
    #[error(
        "state file {} has serial {serial}, which cannot be bumped {}; start a new state \
         file (import --adopt) or fix the serial",
        state,
        crate::wording::plural(*more, "more time")
    )]
    SerialOverflow {
        state: StateLocation,
        serial: u64,
        more: u64,
    },
    /// The journal next to the state cannot be read or replayed.
    #[error("state journal {} {message}", path.display())]
    Journal { path: PathBuf, message: String },
    /// A file paysync keeps next to the state (journal, lock, temporary file) is a
    /// symlink: never followed, since a planted link would make paysync write state
    /// content wherever it points.
    #[error(
        "{what} {} is a symbolic link; paysync never follows links for the files it keeps \
         next to the state (one could make it write anywhere): remove it{}",
        path.display(),
        if *what == "state journal" {
            ", after checking that it is not a journal a stopped run left (a real one is a \
             regular file)"
        } else {
            ""
        }
    )]
    Symlink { path: PathBuf, what: &'static str },
    #[error(
        "the state file {state} was made for {state_portal}, but the credentials point at {portal}; \
         use the state file of that portal (--state), or, if the portal has moved to \
         {portal}, run `paysync state move-portal {portal}`"
    )]
    ForeignPortal {
        state: StateLocation,
        state_portal: String,
        portal: String,
    },
    #[error(
        "state file {} is locked by another paysync run ({holder}); wait for it to finish",
        state
    )]
    Locked {
        state: StateLocation,
        holder: String,
    },
    #[error("cannot lock state file {}: {error}", state)]
    Lock {
        state: StateLocation,
        error: io::Error,
    },
    /// A request to the store of a remote state failed (the message names the operation
    /// and the store's answer: a status and an error code, never a credential or a
    /// signed address).
    #[error("state store {state}: {message}")]
    Store {
        state: StateLocation,
        message: String,
    },
    /// The store's credentials or settings are missing or unusable; nothing was sent.
    #[error("state store {state}: {message}")]
    StoreConfig {
        state: StateLocation,
        message: String,
    },
    /// A conditional write was refused: the state (or its lock) changed since this run
    /// read it. Nothing was overwritten.
    #[error(
        "state {state} changed since this run read it ({what}): nothing was overwritten. \
         Another run took the state's lock (its lease ran out, or it was removed with \
         `paysync state unlock`); what this run confirmed before is recorded. Plan and apply \
         again"
    )]
    Conflict {
        state: StateLocation,
        what: &'static str,
    },
    /// The store accepted a write it had to refuse: locks on it would be a fiction.
    #[error(
        "state store {state} does not enforce conditional writes ({what}), so its locks \
         would not protect the state; paysync refuses to write state there. Use a store \
         that answers 412 to a second `If-None-Match: *` create (AWS S3, MinIO, SeaweedFS, \
         Ceph RGW, Cloudflare R2)"
    )]
    NotConforming {
        state: StateLocation,
        what: &'static str,
    },
    /// A remote journal (records a stopped run left in the store) cannot be replayed.
    #[error("state journal of {state}: {message}")]
    RemoteJournal {
        state: StateLocation,
        message: String,
    },
    /// `state unlock` with an ID that is not the lock's.
    #[error("state {state}: {message}")]
    Unlock {
        state: StateLocation,
        message: String,
    },
}

/// ` (line L, column C)`; empty when the position is not known (0: an error found in a
/// value already parsed, such as a secret reference paysync cannot read).
fn at(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" (line {line}, column {column})")
    }
}
