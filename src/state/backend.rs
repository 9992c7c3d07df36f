//! The seam every store of a state plugs into: [`StateBackend`], built from a
//! [`StateLocation`] in one place ([`super::open`]), with a file on the local disk as its first
//! implementation ([`super::file::FileBackend`]).
//!
//! # Contract
//!
//! A backend keeps one state (a [`LastApplied`]) and what an apply confirmed so far,
//! for any number of readers and one writer at a time:
//!
//! - [`StateBackend::load`] gives the state **as every reader must see it**: the last
//!   whole state written, with everything recorded since (a journal) replayed over it in
//!   memory. `Ok(None)` when there is no state yet. A reader never writes.
//! - [`StateBackend::lock`] takes the writer's lock or fails at once naming its holder
//!   ([`StateError::Locked`]); it is held until the returned [`StateLock`] is dropped,
//!   and released by the store if the process dies (an OS lock, a lease).
//! - [`StateBackend::prepare_writes`], by the lock holder before anything is sent to the
//!   portal: prove the state can be written, and fold what a stopped run recorded into
//!   the whole state, so the run starts from one object and an empty record.
//! - [`StateBackend::save`] bumps the serial and writes the whole state, all or nothing
//!   (a reader sees the old state or the new one). A store without rename writes it
//!   conditionally (only over the object it read), so a broken lock can never overwrite
//!   a newer state.
//! - [`StateBackend::journal`] records an apply's confirmed requests as they come, one
//!   [`Journal::append`] each, durable before the next answer is looked at (so a killed
//!   run never leaves a state behind what the portal holds), each bumping the serial by
//!   one; [`Journal::finish`] writes the whole state once at the end. A store that
//!   cannot append (an object store) writes each record as an object of its own
//!   (`<key>.journal/<serial>`) and `load` lists and replays them; the cost must stay
//!   linear in the number of records, not quadratic.
//!
//! A record is replayed only over the state it follows: same lineage, same portal, the
//! next serial; anything else is an error naming where it is, never folded silently.
//!
//! # Adding a backend
//!
//! A variant of [`StateLocation`] (how it is written in `--state` and `state:`), a file
//! here implementing [`StateBackend`] and [`Journal`], and its arm in [`super::open`]. Its
//! errors are [`StateError`] variants naming the [`StateLocation`].

use std::fmt;

use super::error::StateError;
use super::format::LastApplied;
use super::location::StateLocation;
use crate::model::Target;

/// One store of one state (see the module docs for the contract).
pub trait StateBackend: fmt::Debug {
    /// Where the state lives.
    fn location(&self) -> &StateLocation;

    /// The state with everything recorded since its last whole write replayed over it;
    /// `Ok(None)` when there is none yet.
    fn load(&self) -> Result<Option<LastApplied>, StateError>;

    /// Bumps the serial and writes the whole state, all or nothing. The serial never
    /// wraps: at its largest, this is an error and the state in memory is unchanged.
    fn save(&self, state: &mut LastApplied) -> Result<(), StateError>;

    /// Whether `state`'s serial can be bumped `saves` more times.
    fn check_serial(&self, state: &LastApplied, saves: u64) -> Result<(), StateError> {
        match state.serial.checked_add(saves) {
            Some(_) => Ok(()),
            None => Err(StateError::SerialOverflow {
                state: self.location().clone(),
                serial: state.serial,
                more: saves,
            }),
        }
    }

    /// Takes the writer's lock, waiting up to `request.timeout` (with backoff) while
    /// another run holds it; then fails naming its holder ([`StateError::Locked`]).
    fn lock(&self, request: &LockRequest) -> Result<StateLock, StateError>;

    /// Removes the lock `id` if it is still the one held (`paysync state unlock`); a
    /// store whose lock is released by the OS when its holder dies has nothing to remove.
    fn unlock(&self, id: &str) -> Result<(), StateError>;

    /// Records what an apply did in the state's audit trail (kept beside the state).
    fn record_history(&self, entry: &HistoryEntry) -> Result<(), StateError>;

    /// The audit trail, oldest first.
    fn history(&self) -> Result<Vec<HistoryEntry>, StateError>;

    /// By the lock holder, before anything is sent: proves the state can be written and
    /// folds what a stopped run recorded into the whole state.
    fn prepare_writes(&self) -> Result<(), StateError>;

    /// A record of an apply's confirmed requests.
    fn journal(&self) -> Box<dyn Journal + '_>;

    /// By the lock holder of a store that holds no state yet (`state migrate`): writes
    /// `state` as it is, its serial unchanged, so a copy is byte-equal to its source.
    fn write_copy(&self, state: &LastApplied) -> Result<(), StateError>;
}

/// An apply's record of confirmed requests (see the module docs).
pub trait Journal {
    /// Records `targets` (just committed to `state`): bumps the serial and makes the
    /// record durable before returning. On failure the serial is left as it was.
    fn append(&mut self, state: &mut LastApplied, targets: &[Target]) -> Result<(), StateError>;

    /// Ends the record: when it holds entries, `state` (which holds them all) is written
    /// whole with the serial of the last one, and the record is cleared.
    fn finish(self: Box<Self>, state: &LastApplied) -> Result<(), StateError>;

    /// Records appended so far.
    fn entries(&self) -> u64;
}

/// Who asks for the writer's lock, and how long to wait for it.
#[derive(Debug, Clone)]
pub struct LockRequest {
    /// What the run does: `apply`, `import`, `state push`...
    pub operation: String,
    /// The user and host (`ci@runner-7`).
    pub who: String,
    /// The process, the CI run and the plan applied, for the holder's description.
    pub info: String,
    /// How long to wait while another run holds the lock (zero: fail at once).
    pub timeout: std::time::Duration,
}

impl LockRequest {
    /// A request that fails at once when the lock is held (tests, tools).
    pub fn immediate(operation: &str) -> LockRequest {
        LockRequest {
            operation: operation.to_owned(),
            who: "paysync".to_owned(),
            info: format!("pid {}", std::process::id()),
            timeout: std::time::Duration::ZERO,
        }
    }
}

/// One apply in the audit trail: who applied what, never a value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// When the apply ended (RFC 3339).
    pub at: String,
    /// `apply`, `import --adopt`, `state push`...
    pub operation: String,
    pub who: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The hash of the plan applied (a saved plan's, or the one made for this apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    pub serial_before: u64,
    pub serial_after: u64,
    /// The targets written, each with the codes sent (never their values).
    #[serde(default)]
    pub written: Vec<WrittenTarget>,
}

/// A target an apply wrote and the codes it sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrittenTarget {
    pub target: String,
    /// Inline ([`compact_str::CompactString`]): an apply of a million settings lists a
    /// million codes.
    pub codes: Vec<compact_str::CompactString>,
}

/// The writer's lock, held until dropped.
pub struct StateLock(#[allow(dead_code)] Box<dyn std::any::Any>);

impl StateLock {
    /// A lock that a backend releases when `held` is dropped.
    pub fn new(held: impl std::any::Any) -> StateLock {
        StateLock(Box::new(held))
    }
}

impl fmt::Debug for StateLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateLock")
    }
}

/// Tries `attempt` until it does not fail with [`StateError::Locked`], waiting with
/// exponential backoff (jittered, at most ten seconds between tries) for up to `timeout`
/// in all; then the last error. A signal (SIGINT, SIGTERM) ends the wait.
pub(crate) fn wait_for_lock<L>(
    timeout: std::time::Duration,
    mut attempt: impl FnMut() -> Result<L, StateError>,
) -> Result<L, StateError> {
    use backon::BackoffBuilder;
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(250))
        .with_max_delay(std::time::Duration::from_secs(10))
        .with_jitter()
        .with_max_times(usize::MAX)
        .with_total_delay(Some(timeout))
        .build();
    loop {
        match attempt() {
            Err(StateError::Locked { state, holder }) => {
                let Some(delay) = delays.next().filter(|_| !timeout.is_zero()) else {
                    return Err(StateError::Locked { state, holder });
                };
                if crate::interrupt::received().is_some() {
                    return Err(StateError::Locked { state, holder });
                }
                tracing::info!(
                    state = %state,
                    holder = %holder,
                    retry_in = %humantime::format_duration(delay),
                    "the state is locked by another run; waiting (--lock-timeout)"
                );
                // In slices, so a signal ends the wait at once.
                let until = std::time::Instant::now() + delay;
                while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
                    if crate::interrupt::received().is_some() {
                        return Err(StateError::Locked { state, holder });
                    }
                    std::thread::sleep(left.min(std::time::Duration::from_millis(100)));
                }
            }
            other => return other,
        }
    }
}
