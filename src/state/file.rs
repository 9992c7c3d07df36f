//! The state file on disk: reading, atomic writes and the apply lock.
//!
//! Writes go to a temporary file in the same directory, are flushed with `fsync`, then
//! renamed over the old file (and the directory is synced), so a reader or a crash sees
//! either the old state or the new one, never half of either ([`write_atomically_with`]). A
//! state path that is a symlink is written through: the link stays a link.
//!
//! The lock is an OS file lock (`File::try_lock`, released by the kernel when the process
//! dies) on `<state>.lock` next to the file the path finally names, which also holds a
//! line saying who took it. A second apply fails at once with that line instead of
//! waiting. The holder of the lock first [prepares](FileBackend::prepare_writes) the
//! state for writing: it removes temporary files a killed run left behind and proves, by
//! creating one, that the directory is writable, before anything is sent to the portal.
//!
//! The state file is read only if it is a regular file of at most [`MAX_STATE_BYTES`].
//!
//! # The journal
//!
//! An apply does not rewrite the whole state after every confirmed request (that cost
//! grew as N²: 40,000 targets wrote 2.9 GB for a 7.3 MB state). It appends one line to
//! `<state>.journal` (next to the file the state path finally names, like the lock): a
//! [`JournalEntry`] holding the confirmed targets as the state now records them, with the
//! state's header and the serial bumped by one — exactly as the full write it replaces
//! would have bumped it. Each line is written whole and `fsync`ed before the next answer
//! is looked at, so lines are in the order the answers completed. At the end of the run
//! the state (its serial that of the last line) is written once, atomically, and the
//! journal removed ([`Journal::finish`]).
//!
//! Reading: [`FileBackend::load`] replays the journal over the state file in memory, so
//! every reader (plan, drift, show, and the writers) sees what a killed run confirmed.
//! A line whose serial is not above the state's is already in it (a full write that
//! happened before the journal was removed) and is skipped: replaying is idempotent.
//! Every writer, under the lock and before it reads the state, folds a journal it finds
//! into the state file ([`FileBackend::prepare_writes`]), so the next run appends to an
//! empty journal.
//!
//! A torn last line (no newline: the run was killed while writing it) is ignored. Its
//! batch was confirmed by the portal but its record never completed: the state misses
//! it exactly as it did before the journal when a kill landed between the portal's
//! answer and the state write, so the next plan shows those targets again and the next
//! apply re-sends them (an idempotent upsert). A complete line that is not a journal
//! entry, or one of another lineage than the state, is an error: the journal is not
//! this state's, and nothing guesses.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::backend::{HistoryEntry, Journal, LockRequest, StateBackend, StateLock};
use super::error::StateError;
use super::format::{JournalEntry, LastApplied};
use super::location::StateLocation;
use super::replay::{ReplayRefusal, read_state, replay_entries, write_state};
use crate::files::{
    open_regular, probe_writable, read_regular, remove_stale_temps, resolve_links,
    write_atomically_with,
};
use crate::model::Target;

/// The largest state file read (a million settings take about 150 MB).
pub const MAX_STATE_BYTES: u64 = 1 << 30;

/// The state in a local file ([`StateLocation::File`]).
#[derive(Debug, Clone)]
pub struct FileBackend {
    path: PathBuf,
    location: StateLocation,
}

impl FileBackend {
    pub fn new(path: impl Into<PathBuf>) -> FileBackend {
        let path = path.into();
        FileBackend {
            location: StateLocation::File(path.clone()),
            path,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal of this state: `<state>.journal` next to the file the path finally
    /// names.
    pub fn journal_path(&self) -> PathBuf {
        let target = resolve_links(&self.path);
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(".journal");
        target.with_file_name(name)
    }

    /// Reads the state with its journal replayed (see the module docs); `Ok(None)` when
    /// neither exists yet.
    pub fn load(&self) -> Result<Option<LastApplied>, StateError> {
        let base = self.load_file()?;
        Ok(self.replay_journal(base)?.0)
    }

    /// Replays the journal, if any, over `state`. Returns the state and whether a
    /// journal file was found.
    fn replay_journal(
        &self,
        mut state: Option<LastApplied>,
    ) -> Result<(Option<LastApplied>, bool), StateError> {
        let path = self.journal_path();
        refuse_link(&path, "state journal")?;
        let bytes = match read_regular(&path, MAX_STATE_BYTES) {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => return Ok((state, false)),
            Err(e) => {
                return Err(StateError::Journal {
                    path,
                    message: format!("cannot be read: {e}"),
                });
            }
        };
        let (entries, torn) =
            parse_journal(&bytes).map_err(|(line, message)| StateError::Journal {
                path: path.clone(),
                message: format!("line {line} is not a journal entry: {message}"),
            })?;
        if torn > 0 {
            tracing::warn!(
                path = %path.display(),
                bytes = torn,
                "ignored the torn last line of the state journal (a run was stopped while \
                 recording a batch: the next plan shows its targets again)"
            );
        }
        let replayed =
            replay_entries(&mut state, entries).map_err(|(line, refusal)| StateError::Journal {
                path: path.clone(),
                message: match refusal {
                    ReplayRefusal::NoState => format!(
                        "records confirmed requests, but its state file {} is missing: restore \
                         the state file (from a backup, or where your CI keeps it) and run \
                         again; if the state was removed on purpose, remove the journal too",
                        self.path.display()
                    ),
                    ReplayRefusal::Lineage { entry, state } => format!(
                        "is of lineage {entry}, but the state file {} is of lineage {state}; it \
                         belongs to another state: move it away",
                        self.path.display(),
                    ),
                    ReplayRefusal::Portal { entry, state } => format!(
                        "line {line} records writes to {entry}, but the state file {} is of \
                         {state}: it belongs to another state; move it away",
                        self.path.display(),
                    ),
                    ReplayRefusal::Gap { entry, state } => format!(
                        "line {line} has serial {entry}, but the state is at {state}: the \
                         entries in between are missing (a journal of another copy of this \
                         state, or an edited one); restore the state file that goes with it, or \
                         move the journal away to discard what it records"
                    ),
                },
            })?;
        if replayed > 0 {
            tracing::info!(
                path = %path.display(),
                entries = replayed,
                "replayed the state journal a stopped run left"
            );
        }
        Ok((state, true))
    }

    /// Reads the state file alone; `Ok(None)` when it does not exist yet.
    fn load_file(&self) -> Result<Option<LastApplied>, StateError> {
        let file = match open_regular(&self.path, MAX_STATE_BYTES) {
            Ok(file) => file,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(source) => {
                return Err(StateError::Read {
                    state: self.location.clone(),
                    error: source,
                });
            }
        };
        read_state(&file, &self.location).map(Some)
    }

    /// Writes `state` atomically, streamed to the file (neither a copy of the state nor
    /// its whole text is held).
    fn write_whole(&self, state: &LastApplied) -> Result<(), StateError> {
        write_atomically_with(&self.path, |out| write_state(state, out)).map_err(|source| {
            StateError::Write {
                path: self.path.clone(),
                error: source,
            }
        })
    }

    /// Bumps the serial and writes the state atomically. The serial never wraps: a
    /// state at `u64::MAX` is an error, and the state in memory is left as it was.
    pub fn save(&self, state: &mut LastApplied) -> Result<(), StateError> {
        self.check_serial(state, 1)?;
        state.serial += 1;
        self.write_whole(state)
    }

    /// Writes `state` atomically as it is, its serial unchanged (the journal entries it
    /// folds bumped it already), then removes the journal: every entry is in the file.
    fn write_folded(&self, state: &LastApplied) -> Result<(), StateError> {
        self.write_whole(state)?;
        self.remove_journal()
    }

    fn remove_journal(&self) -> Result<(), StateError> {
        let path = self.journal_path();
        match fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(&path);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StateError::Write { path, error: e }),
        }
    }

    /// Folds a journal a stopped run left into the state file (one atomic write, the
    /// serial that of its last entry) and removes it. Only the lock holder calls this,
    /// before it reads the state; [`FileBackend::prepare_writes`] does.
    fn fold_journal(&self) -> Result<(), StateError> {
        let base = self.load_file()?;
        let base_serial = base.as_ref().map(|s| s.serial);
        let (state, found) = self.replay_journal(base)?;
        if !found {
            return Ok(());
        }
        match state {
            Some(state) if Some(state.serial) != base_serial => {
                tracing::info!(
                    path = %self.path.display(),
                    serial = state.serial,
                    "folded the state journal a stopped run left into the state file"
                );
                self.write_folded(&state)
            }
            // Nothing the state file lacks (entries already folded, or only a torn line).
            _ => self.remove_journal(),
        }
    }

    /// A journal to record an apply's confirmed requests in, one line each.
    pub fn journal(&self) -> FileJournal {
        FileJournal {
            store: self.clone(),
            file: None,
            entries: 0,
        }
    }

    /// What the lock holder does before anything is sent: removes the temporary files a
    /// killed run left next to the state, and proves that the state can be written —
    /// the directory takes a new file (by creating one), and an existing state file is a
    /// regular file not marked read-only — whatever lock file exists.
    ///
    /// Last, a journal a stopped run left is folded into the state file (see the module
    /// docs), so whatever reads the state next reads one file and the journal this run
    /// appends to starts empty.
    pub fn prepare_writes(&self) -> Result<(), StateError> {
        self.check_writable()?;
        self.fold_journal()
    }

    fn check_writable(&self) -> Result<(), StateError> {
        let target = resolve_links(&self.path);
        let dir = crate::files::parent_dir(&target).to_path_buf();
        let not_writable = |source| StateError::NotWritable {
            state: self.location.clone(),
            dir: dir.clone(),
            error: source,
        };
        match crate::files::temp_links(&target) {
            Ok(links) if !links.is_empty() => {
                return Err(StateError::Symlink {
                    path: links[0].clone(),
                    what: "temporary file",
                });
            }
            Ok(_) => {}
            Err(e) => return Err(not_writable(e)),
        }
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
                state: self.location.clone(),
                kind: if meta.is_dir() {
                    "a directory"
                } else {
                    "a special file"
                },
            }),
            Ok(meta) if meta.permissions().readonly() => Err(StateError::ReadOnly {
                state: self.location.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Takes the apply lock, waiting up to `timeout` while another run holds it.
    pub fn lock_waiting(&self, timeout: std::time::Duration) -> Result<FileLock, StateError> {
        super::backend::wait_for_lock(timeout, || self.lock())
    }

    /// The audit trail: `<state>.history`, one JSON line per apply.
    pub fn history_path(&self) -> PathBuf {
        let target = resolve_links(&self.path);
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(".history");
        target.with_file_name(name)
    }

    /// Takes the apply lock or fails at once, naming the holder. The lock file is next to
    /// the file the state path finally names, so two links to one state share one lock.
    pub fn lock(&self) -> Result<FileLock, StateError> {
        let lock_path = lock_path(&resolve_links(&self.path));
        let err = |source| StateError::Lock {
            state: self.location.clone(),
            error: source,
        };
        refuse_link(&lock_path, "lock file")?;
        // An environment's state may live in a directory of its own (`state/prod.state.json`):
        // created on the first write.
        if let Some(parent) = lock_path.parent()
            && !parent.as_os_str().is_empty()
            && !parent.exists()
        {
            fs::create_dir_all(parent).map_err(err)?;
        }
        loop {
            let mut options = OpenOptions::new();
            options.read(true).write(true).create(true).truncate(false);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.custom_flags(libc::O_NOFOLLOW);
            }
            let mut file = options.open(&lock_path).map_err(err)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim();
                    return Err(StateError::Locked {
                        state: self.location.clone(),
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
                "pid {} user {} on {} since {}",
                std::process::id(),
                user_name(),
                whoami::hostname().unwrap_or_else(|_| "an unknown host".into()),
                humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            );
            file.write_all(holder.as_bytes()).map_err(err)?;
            file.sync_all().map_err(err)?;
            return Ok(FileLock {
                file,
                path: lock_path,
            });
        }
    }
}

/// The journal an apply appends its confirmed requests to ([`FileBackend::journal`]).
#[derive(Debug)]
pub struct FileJournal {
    store: FileBackend,
    file: Option<File>,
    entries: u64,
}

impl FileJournal {
    /// Records `targets` (just committed to `state`) as one journal line: bumps the
    /// serial, appends the line and syncs it before returning. On failure the serial is
    /// left as it was. A state that has no file yet (its first apply) is written whole
    /// instead: a journal always follows a state file, so a journal without one is an
    /// error, never a state rebuilt from it.
    pub fn append(
        &mut self,
        state: &mut LastApplied,
        targets: impl IntoIterator<Item = Target>,
    ) -> Result<(), StateError> {
        if self.file.is_none() && !resolve_links(&self.store.path).exists() {
            return self.store.save(state);
        }
        self.store.check_serial(state, 1)?;
        state.serial += 1;
        let result = self.write_line(state, targets);
        if result.is_err() {
            state.serial -= 1;
        } else {
            self.entries += 1;
        }
        result
    }

    fn write_line(
        &mut self,
        state: &LastApplied,
        targets: impl IntoIterator<Item = Target>,
    ) -> Result<(), StateError> {
        let path = self.store.journal_path();
        let err = |error| StateError::Write {
            path: path.clone(),
            error,
        };
        let mut line = serde_json::to_vec(&state.journal_entry(targets)).expect("entry serialises");
        line.push(b'\n');
        if self.file.is_none() {
            self.file = Some(open_journal(&path).map_err(err)?);
        }
        let file = self.file.as_mut().expect("opened above");
        // Written in one call where possible; a short write (a full disk) leaves a torn
        // line, which readers ignore.
        file.write_all(&line).map_err(err)?;
        file.sync_data().map_err(err)
    }

    /// Entries appended so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Ends the run's journal: when it holds entries, `state` (which holds them all) is
    /// written once, atomically, with the serial of the last entry, and the journal is
    /// removed.
    pub fn finish(mut self, state: &LastApplied) -> Result<(), StateError> {
        drop(self.file.take());
        if self.entries == 0 {
            return Ok(());
        }
        self.store.write_folded(state)
    }
}

/// Opens the journal for appending; a new one is created private (0600 on Unix: it holds
/// what the state holds) and its directory entry synced. A torn last line left by a
/// stopped run (the lock holder folds the journal first, so only a caller that did not
/// would meet one) is cut off, so the next line does not join it.
fn open_journal(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Never through a symlink (checked before, and refused here by the kernel too).
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let existed = path.exists();
    let mut file = options.open(path)?;
    if existed {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if keep < bytes.len() {
            file.set_len(keep as u64)?;
        }
    } else {
        sync_dir(path);
    }
    Ok(file)
}

/// The complete lines of a journal, parsed, and how many bytes a torn last line (one
/// without its newline) holds; an error names the first complete line that is not an
/// entry (1-based).
/// The entries of a journal, each with its line number (1-based).
type NumberedEntries = Vec<(usize, JournalEntry)>;

/// Each entry comes with its line number (1-based).
fn parse_journal(bytes: &[u8]) -> Result<(NumberedEntries, usize), (usize, String)> {
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut entries = Vec::new();
    for (i, line) in bytes[..complete].split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let entry = serde_json::from_slice(line).map_err(|e| (i + 1, e.to_string()))?;
        entries.push((i + 1, entry));
    }
    Ok((entries, bytes.len() - complete))
}

/// Refuses `path` when it is a symbolic link (dangling or not): see
/// [`StateError::Symlink`].
fn refuse_link(path: &Path, what: &'static str) -> Result<(), StateError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(StateError::Symlink {
            path: path.to_owned(),
            what,
        }),
        _ => Ok(()),
    }
}

fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(crate::files::parent_dir(path)) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Who runs paysync, for the lock's holder line: the OS's name for the user (a CI
/// container often has no `$USER`), else `$USER`/`$USERNAME`, else the user ID.
pub(crate) fn user_name() -> String {
    whoami::username()
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|n| !n.is_empty()))
        .or_else(|| std::env::var("USERNAME").ok().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| {
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                if let Ok(meta) = fs::metadata("/proc/self") {
                    return format!("with uid {}", meta.uid());
                }
            }
            "unknown".to_owned()
        })
}

/// Holds the apply lock until dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl Drop for FileLock {
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

impl StateBackend for FileBackend {
    fn location(&self) -> &StateLocation {
        &self.location
    }

    fn load(&self) -> Result<Option<LastApplied>, StateError> {
        FileBackend::load(self)
    }

    fn save(&self, state: &mut LastApplied) -> Result<(), StateError> {
        FileBackend::save(self, state)
    }

    fn lock(&self, request: &LockRequest) -> Result<StateLock, StateError> {
        self.lock_waiting(request.timeout).map(StateLock::new)
    }

    fn unlock(&self, _id: &str) -> Result<(), StateError> {
        Err(StateError::Unlock {
            state: self.location.clone(),
            message: "a state file's lock is an OS lock, released by the system when its \
                      holder exits; there is nothing to remove (a lock file left behind is not \
                      a lock)"
                .into(),
        })
    }

    fn write_copy(&self, state: &LastApplied) -> Result<(), StateError> {
        self.write_whole(state)
    }

    fn record_history(&self, entry: &HistoryEntry) -> Result<(), StateError> {
        let path = self.history_path();
        refuse_link(&path, "audit trail")?;
        let mut line = serde_json::to_vec(entry).expect("history entry serialises");
        line.push(b'\n');
        let err = |error| StateError::Write {
            path: path.clone(),
            error,
        };
        let mut file = open_journal(&path).map_err(err)?;
        file.write_all(&line).map_err(err)?;
        file.sync_data().map_err(err)
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        let path = self.history_path();
        refuse_link(&path, "audit trail")?;
        let bytes = match read_regular(&path, MAX_STATE_BYTES) {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => {
                return Err(StateError::Journal {
                    path,
                    message: format!("cannot be read: {e}"),
                });
            }
        };
        let mut entries = Vec::new();
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            entries.push(
                serde_json::from_slice(line).map_err(|e| StateError::Journal {
                    path: path.clone(),
                    message: format!("line {} is not an audit record: {e}", i + 1),
                })?,
            );
        }
        Ok(entries)
    }

    fn prepare_writes(&self) -> Result<(), StateError> {
        FileBackend::prepare_writes(self)
    }

    fn journal(&self) -> Box<dyn Journal + '_> {
        Box::new(FileBackend::journal(self))
    }
}

impl Journal for FileJournal {
    fn append(&mut self, state: &mut LastApplied, targets: &[Target]) -> Result<(), StateError> {
        FileJournal::append(self, state, targets.iter().copied())
    }

    fn finish(self: Box<Self>, state: &LastApplied) -> Result<(), StateError> {
        FileJournal::finish(*self, state)
    }

    fn entries(&self) -> u64 {
        FileJournal::entries(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_loads_as_none_and_save_bumps_serial() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBackend::new(dir.path().join("s.json"));
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
        let store = FileBackend::new(dir.path().join("s.json"));
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

    fn target(pay_system: u64) -> Target {
        Target {
            pay_system,
            person_type: 1,
        }
    }

    fn record(state: &mut LastApplied, pay_system: u64, value: &str) {
        state.targets.insert(
            target(pay_system),
            super::super::RecordedSettings::from([(
                "CODE",
                super::super::format::RecordedValue::Plain {
                    source: "VALUE".into(),
                    value: value.into(),
                },
            )]),
        );
    }

    /// A state saved once (serial 1), then two journal entries (serials 2 and 3), left
    /// as a killed run leaves them. Returns the state in memory after both entries.
    fn killed_run(store: &FileBackend) -> LastApplied {
        let mut state = LastApplied::new();
        record(&mut state, 1, "old");
        store.save(&mut state).unwrap();
        let mut journal = store.journal();
        record(&mut state, 2, "a");
        journal.append(&mut state, [target(2)]).unwrap();
        record(&mut state, 1, "b");
        state.targets.remove(&target(3));
        journal.append(&mut state, [target(1), target(3)]).unwrap();
        assert_eq!(journal.entries(), 2);
        drop(journal);
        state
    }

    #[test]
    fn journal_entries_are_replayed_by_every_load_and_folded_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let store = FileBackend::new(&path);
        let expected = killed_run(&store);
        assert_eq!(expected.serial, 3);
        // The file is at serial 1; a reader sees the journal too.
        let on_disk: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(on_disk["serial"], 1);
        assert_eq!(store.load().unwrap().unwrap(), expected);
        // The lock holder folds it: one write, serial unchanged, journal gone.
        let _lock = store.lock().unwrap();
        store.prepare_writes().unwrap();
        assert!(!store.journal_path().exists());
        let on_disk: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(on_disk["serial"], 3);
        assert_eq!(store.load().unwrap().unwrap(), expected);
    }

    #[test]
    fn entries_already_in_the_state_file_are_not_replayed_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBackend::new(dir.path().join("s.json"));
        let mut expected = killed_run(&store);
        // A full write happened after the entries, but the run was killed before the
        // journal was removed: the entries are skipped, not re-applied over newer data.
        let journal = fs::read(store.journal_path()).unwrap();
        record(&mut expected, 2, "newer");
        store.save(&mut expected).unwrap();
        fs::write(store.journal_path(), journal).unwrap();
        assert_eq!(store.load().unwrap().unwrap(), expected);
        store.prepare_writes().unwrap();
        assert!(!store.journal_path().exists());
        assert_eq!(store.load().unwrap().unwrap(), expected);
    }

    #[test]
    fn a_torn_last_journal_line_is_ignored_and_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBackend::new(dir.path().join("s.json"));
        let complete = killed_run(&store);
        let journal_path = store.journal_path();
        let mut bytes = fs::read(&journal_path).unwrap();
        let lines = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        assert_eq!(lines, 2);
        // Kill mid-write of a third entry: half a line, no newline.
        let mut next = complete.clone();
        record(&mut next, 4, "torn");
        next.serial += 1;
        let line = serde_json::to_vec(&next.journal_entry([target(4)])).unwrap();
        bytes.extend_from_slice(&line[..line.len() / 2]);
        fs::write(&journal_path, &bytes).unwrap();
        // Every reader sees the two complete entries, not the torn one.
        assert_eq!(store.load().unwrap().unwrap(), complete);
        // An append after it (by a caller that did not fold first) does not join it.
        let mut state = complete.clone();
        record(&mut state, 5, "after");
        store.journal().append(&mut state, [target(5)]).unwrap();
        assert_eq!(state.serial, 4);
        assert_eq!(store.load().unwrap().unwrap(), state);
        // Folding leaves the state without the torn entry.
        store.prepare_writes().unwrap();
        let folded = store.load().unwrap().unwrap();
        assert_eq!(folded, state);
        assert!(!folded.targets.contains_key(&target(4)));
    }

    #[test]
    fn the_first_record_of_a_new_state_is_the_state_file_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBackend::new(dir.path().join("s.json"));
        let mut state = LastApplied::new();
        state.portal = Some("https://example.bitrix24.ru".into());
        record(&mut state, 7, "x");
        let mut journal = store.journal();
        journal.append(&mut state, [target(7)]).unwrap();
        assert!(store.path().exists() && !store.journal_path().exists());
        assert_eq!(store.load().unwrap().unwrap(), state);
        record(&mut state, 8, "y");
        journal.append(&mut state, [target(8)]).unwrap();
        assert!(store.journal_path().exists());
        assert_eq!(store.load().unwrap().unwrap(), state);
        assert_eq!(state.serial, 2);
    }

    /// Regression: a deleted state was rebuilt from a leftover journal, a serial gap or a
    /// line of another portal was folded silently.
    #[test]
    fn journal_replay_is_strict_about_a_missing_state_a_serial_gap_and_another_portal() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBackend::new(dir.path().join("s.json"));
        killed_run(&store);
        let journal = fs::read(store.journal_path()).unwrap();
        // The state file deleted: the journal is not rebuilt into a state.
        fs::remove_file(store.path()).unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.contains("its state file") && err.contains("is missing: restore the state file"),
            "{err}"
        );
        assert!(store.prepare_writes().is_err());
        assert!(!store.path().exists());
        // A gap: the first entry (serial 2) gone.
        let state = killed_run(&FileBackend::new(dir.path().join("t.json")));
        let other = FileBackend::new(dir.path().join("t.json"));
        let text = String::from_utf8(fs::read(other.journal_path()).unwrap()).unwrap();
        let second = text.lines().nth(1).unwrap();
        fs::write(other.journal_path(), format!("{second}\n")).unwrap();
        let err = other.load().unwrap_err().to_string();
        assert!(
            err.contains(
                "line 1 has serial 3, but the state is at 1: the entries in between are missing"
            ),
            "{err}"
        );
        assert_eq!(state.serial, 3);
        // A line of another portal than the state file's.
        let store = FileBackend::new(dir.path().join("u.json"));
        let mut state = LastApplied::new();
        state.portal = Some("https://one.bitrix24.com".into());
        store.save(&mut state).unwrap();
        let mut line: serde_json::Value =
            serde_json::from_slice(journal.split(|b| *b == b'\n').next().unwrap()).unwrap();
        line["lineage"] = state.lineage.clone().into();
        line["portal"] = "https://two.bitrix24.com".into();
        fs::write(store.journal_path(), format!("{line}\n")).unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.contains("line 1 records writes to https://two.bitrix24.com, but the state file"),
            "{err}"
        );
    }

    /// Regression: a planted dangling link as `<state>.journal` made apply create the
    /// link's target anywhere and fill it with state content.
    #[cfg(unix)]
    #[test]
    fn links_next_to_the_state_are_refused_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBackend::new(dir.path().join("s.json"));
        let mut state = LastApplied::new();
        store.save(&mut state).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, store.journal_path()).unwrap();
        let err = store.load().unwrap_err();
        assert!(
            matches!(
                err,
                StateError::Symlink {
                    what: "state journal",
                    ..
                }
            ),
            "{err}"
        );
        assert!(store.prepare_writes().is_err());
        record(&mut state, 1, "x");
        assert!(store.journal().append(&mut state, [target(1)]).is_err());
        assert!(!elsewhere.exists(), "the link was followed");
        fs::remove_file(store.journal_path()).unwrap();
        // The lock file.
        let lock = lock_path(store.path());
        std::os::unix::fs::symlink(&elsewhere, &lock).unwrap();
        let err = store.lock().unwrap_err();
        assert!(
            matches!(
                err,
                StateError::Symlink {
                    what: "lock file",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!elsewhere.exists(), "the link was followed");
        fs::remove_file(&lock).unwrap();
        // A temporary file's name.
        let temp = dir.path().join(".s.json.paysync-abc123.tmp");
        std::os::unix::fs::symlink(&elsewhere, &temp).unwrap();
        let err = store.prepare_writes().unwrap_err();
        assert!(
            matches!(
                err,
                StateError::Symlink {
                    what: "temporary file",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!elsewhere.exists(), "the link was followed");
    }

    #[test]
    fn a_journal_of_another_lineage_or_a_corrupt_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBackend::new(dir.path().join("s.json"));
        killed_run(&store);
        // Another state file (a new lineage) put in place of the old one.
        let mut other = LastApplied::new();
        store.save(&mut other).unwrap();
        let err = store.load().unwrap_err();
        assert!(
            matches!(&err, StateError::Journal { message, .. } if message.contains("lineage")),
            "{err}"
        );
        assert!(store.prepare_writes().is_err());
        // A complete line that is not an entry.
        fs::write(store.journal_path(), b"{\"half\": 1}\n").unwrap();
        assert!(matches!(store.load(), Err(StateError::Journal { .. })));
    }

    #[test]
    fn rejects_other_formats_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let store = FileBackend::new(&path);
        fs::write(&path, r#"{"format": 99}"#).unwrap();
        assert!(matches!(
            store.load(),
            Err(StateError::UnsupportedFormat { found: 99, .. })
        ));
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(store.load(), Err(StateError::Parse { .. })));
    }
}
