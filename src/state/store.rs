//! The state file on disk: reading, atomic writes and the apply lock.
//!
//! Writes go to a temporary file in the same directory, are flushed with `fsync`, then
//! renamed over the old file (and the directory is synced), so a reader or a crash sees
//! either the old state or the new one, never half of either ([`write_atomically`]). A
//! state path that is a symlink is written through: the link stays a link.
//!
//! The lock is an OS file lock (`File::try_lock`, released by the kernel when the process
//! dies) on `<state>.lock` next to the file the path finally names, which also holds a
//! line saying who took it. A second apply fails at once with that line instead of
//! waiting. The holder of the lock first [prepares](StateStore::prepare_writes) the
//! state for writing: it removes temporary files a killed run left behind and proves, by
//! creating one, that the directory is writable, before anything is sent to the portal.
//!
//! The state file is read only if it is a regular file of at most [`MAX_STATE_BYTES`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{LEGACY_STATE_FORMAT, LastApplied, STATE_FORMAT, StateFileV1};
use crate::files::{
    ReadError, probe_writable, read_regular, remove_stale_temps, resolve_links, write_atomically,
};

/// The largest state file read (a million settings take about 150 MB).
pub const MAX_STATE_BYTES: u64 = 1 << 30;

/// Operational failures of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file {}: {error}", path.display())]
    Read { path: PathBuf, error: ReadError },
    #[error("state file {} is not valid paysync state (line {line}, column {column}): {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "state file {} has format {found}, but this paysync reads formats {LEGACY_STATE_FORMAT} \
         and {STATE_FORMAT}; use a matching paysync version",
        path.display()
    )]
    UnsupportedFormat { path: PathBuf, found: u64 },
    /// The recorded fingerprint scheme cannot be used.
    #[error("state file {} has unusable `fingerprints`: {error}", path.display())]
    Scheme {
        path: PathBuf,
        error: crate::fingerprint::SchemeError,
    },
    #[error("cannot write state file {}: {error}", path.display())]
    Write { path: PathBuf, error: io::Error },
    /// Found before anything is sent: the directory does not take new files.
    #[error(
        "cannot write state file {}: its directory {} does not take new files ({error}); \
         nothing was sent to the portal",
        path.display(),
        dir.display()
    )]
    NotWritable {
        path: PathBuf,
        dir: PathBuf,
        error: io::Error,
    },
    /// Found before anything is sent: the file is marked read-only.
    #[error(
        "state file {} is read-only; make it writable (or use another --state); nothing was \
         sent to the portal",
        path.display()
    )]
    ReadOnly { path: PathBuf },
    /// The path names something other than a regular file.
    #[error("state file {} is {kind}, not a regular file", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    /// The serial cannot be bumped any further (a state file edited by hand, or a hostile
    /// one): it never wraps around.
    #[error(
        "state file {} has serial {serial}, which cannot be bumped {}; start a new state \
         file (import --adopt) or fix the serial",
        path.display(),
        crate::wording::plural(*more, "more time")
    )]
    SerialOverflow {
        path: PathBuf,
        serial: u64,
        more: u64,
    },
    #[error("state file {} is locked by another paysync run ({holder}); wait for it to finish", path.display())]
    Locked { path: PathBuf, holder: String },
    #[error("cannot lock state file {}: {error}", path.display())]
    Lock { path: PathBuf, error: io::Error },
}

/// The state file at one path.
#[derive(Debug, Clone)]
pub struct StateStore {
    path: PathBuf,
}

impl StateStore {
    pub fn new(path: impl Into<PathBuf>) -> StateStore {
        StateStore { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state; `Ok(None)` when the file does not exist yet.
    pub fn load(&self) -> Result<Option<LastApplied>, StateError> {
        let bytes = match read_regular(&self.path, MAX_STATE_BYTES) {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(source) => {
                return Err(StateError::Read {
                    path: self.path.clone(),
                    error: source,
                });
            }
        };
        let text = String::from_utf8(bytes).map_err(|_| StateError::Parse {
            path: self.path.clone(),
            line: 1,
            column: 1,
            message: "not UTF-8 text".into(),
        })?;
        // Check the format first so a newer file gets a clear message rather than a
        // complaint about an unknown field.
        let parse_error = |e: serde_json::Error| StateError::Parse {
            path: self.path.clone(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        };
        let raw: serde_json::Value = serde_json::from_str(&text).map_err(parse_error)?;
        let state = match raw.get("format").and_then(serde_json::Value::as_u64) {
            Some(f) if f == u64::from(STATE_FORMAT) => {
                LastApplied::from_file(serde_json::from_value(raw).map_err(parse_error)?)
            }
            Some(f) if f == u64::from(LEGACY_STATE_FORMAT) => {
                let file: StateFileV1 = serde_json::from_value(raw).map_err(parse_error)?;
                tracing::info!(
                    path = %self.path.display(),
                    "state file of format 1: read, and written as format {STATE_FORMAT} by the next apply"
                );
                LastApplied::from_v1(file)
            }
            Some(found) => {
                return Err(StateError::UnsupportedFormat {
                    path: self.path.clone(),
                    found,
                });
            }
            None => {
                return Err(StateError::Parse {
                    path: self.path.clone(),
                    line: 1,
                    column: 1,
                    message: "missing numeric `format`".into(),
                });
            }
        };
        state
            .fingerprints
            .check()
            .map_err(|source| StateError::Scheme {
                path: self.path.clone(),
                error: source,
            })?;
        Ok(Some(state))
    }

    /// Bumps the serial and writes the state atomically. The serial never wraps: a
    /// state at `u64::MAX` is an error, and the state in memory is left as it was.
    pub fn save(&self, state: &mut LastApplied) -> Result<(), StateError> {
        self.check_serial(state, 1)?;
        state.serial += 1;
        let mut bytes = serde_json::to_vec_pretty(&state.to_file()).expect("state serialises");
        bytes.push(b'\n');
        write_atomically(&self.path, &bytes).map_err(|source| StateError::Write {
            path: self.path.clone(),
            error: source,
        })
    }

    /// Whether `state`'s serial can be bumped `saves` more times.
    pub fn check_serial(&self, state: &LastApplied, saves: u64) -> Result<(), StateError> {
        match state.serial.checked_add(saves) {
            Some(_) => Ok(()),
            None => Err(StateError::SerialOverflow {
                path: self.path.clone(),
                serial: state.serial,
                more: saves,
            }),
        }
    }

    /// What the lock holder does before anything is sent: removes the temporary files a
    /// killed run left next to the state, and proves that the state can be written —
    /// the directory takes a new file (by creating one), and an existing state file is a
    /// regular file not marked read-only — whatever lock file exists.
    pub fn prepare_writes(&self) -> Result<(), StateError> {
        let target = resolve_links(&self.path);
        let dir = crate::files::parent_dir(&target).to_path_buf();
        let not_writable = |source| StateError::NotWritable {
            path: self.path.clone(),
            dir: dir.clone(),
            error: source,
        };
        match remove_stale_temps(&target) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                path = %self.path.display(),
                removed = n,
                "removed temporary files a stopped run left next to the state file"
            ),
            Err(e) => return Err(not_writable(e)),
        }
        probe_writable(&target).map_err(not_writable)?;
        match fs::metadata(&target) {
            Ok(meta) if !meta.is_file() => Err(StateError::NotRegular {
                path: self.path.clone(),
                kind: if meta.is_dir() {
                    "a directory"
                } else {
                    "a special file"
                },
            }),
            Ok(meta) if meta.permissions().readonly() => Err(StateError::ReadOnly {
                path: self.path.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Takes the apply lock or fails at once, naming the holder. The lock file is next to
    /// the file the state path finally names, so two links to one state share one lock.
    pub fn lock(&self) -> Result<StateLock, StateError> {
        let lock_path = lock_path(&resolve_links(&self.path));
        let err = |source| StateError::Lock {
            path: self.path.clone(),
            error: source,
        };
        // An environment's state may live in a directory of its own (`state/prod.state.json`):
        // created on the first write.
        if let Some(parent) = lock_path.parent()
            && !parent.as_os_str().is_empty()
            && !parent.exists()
        {
            fs::create_dir_all(parent).map_err(err)?;
        }
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_path)
                .map_err(err)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim();
                    return Err(StateError::Locked {
                        path: self.path.clone(),
                        holder: if holder.is_empty() {
                            "holder unknown".into()
                        } else {
                            holder.to_owned()
                        },
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(err(e)),
            }
            // The previous holder removes the lock file on release; if we locked a file
            // that was unlinked meanwhile, someone else may lock the new one: try again.
            if !same_file(&file, &lock_path) {
                continue;
            }
            file.set_len(0).map_err(err)?;
            let holder = format!(
                "pid {} user {} since {}",
                std::process::id(),
                std::env::var("USER")
                    .or_else(|_| std::env::var("USERNAME"))
                    .unwrap_or_else(|_| "unknown".into()),
                humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            );
            file.write_all(holder.as_bytes()).map_err(err)?;
            file.sync_all().map_err(err)?;
            return Ok(StateLock {
                file,
                path: lock_path,
            });
        }
    }
}

/// Holds the apply lock until dropped.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Remove the file while still holding the lock, then release it.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    state.with_file_name(name)
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_loads_as_none_and_save_bumps_serial() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join("s.json"));
        assert!(store.load().unwrap().is_none());
        let mut state = LastApplied::new();
        store.save(&mut state).unwrap();
        store.save(&mut state).unwrap();
        let back = store.load().unwrap().unwrap();
        assert_eq!(back.serial, 2);
        assert_eq!(back, state);
        // No temporary files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn second_lock_fails_at_once_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join("s.json"));
        let held = store.lock().unwrap();
        match store.lock() {
            Err(StateError::Locked { holder, .. }) => {
                assert!(
                    holder.contains(&format!("pid {}", std::process::id())),
                    "{holder}"
                )
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(held);
        let _again = store.lock().unwrap();
    }

    #[test]
    fn rejects_other_formats_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let store = StateStore::new(&path);
        fs::write(&path, r#"{"format": 99}"#).unwrap();
        assert!(matches!(
            store.load(),
            Err(StateError::UnsupportedFormat { found: 99, .. })
        ));
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(store.load(), Err(StateError::Parse { .. })));
    }
}
