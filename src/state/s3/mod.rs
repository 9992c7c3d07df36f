//! The state in an S3-compatible store ([`StateLocation::S3`]): `s3://BUCKET/KEY`.
//!
//! Objects, all next to the state's key:
//!
//! - `KEY`: the whole state, written only conditionally — `If-Match` on the ETag this run
//!   read (`If-None-Match: *` for the first), so a run whose lock was broken can never
//!   overwrite a newer state ([`StateError::Conflict`]);
//! - `KEY.journal/<serial>`: one immutable object per confirmed request of an apply,
//!   created with `If-None-Match: *` before the next answer is looked at, so a runner
//!   killed mid-apply (which keeps nothing local) never loses what the portal confirmed.
//!   Every reader replays them over `KEY` exactly like the file journal's lines; the next
//!   lock holder folds them into `KEY` and removes them;
//! - `KEY.lock`: the writer's lock, with a lease ([`lock`]);
//! - `KEY.history/<serial>-<id>`: the audit trail, one object per apply;
//! - `KEY.probe/<id>`: short-lived, the conformance probe of [`lock`].
//!
//! Requests ([`store`]) run on the backend's worker ([`crate::state::remote::Worker`]).

mod lock;
pub mod store;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use self::lock::Held;
use self::store::{Condition, Store, Written};
use super::backend::{HistoryEntry, Journal, LockRequest, StateBackend, StateLock, wait_for_lock};
use super::error::StateError;
use super::file::MAX_STATE_BYTES;
use super::format::{JournalEntry, LastApplied};
use super::location::StateLocation;
use super::remote::{Worker, locked};
use super::replay::{ReplayRefusal, parse_state, replay_entries, state_bytes};
use crate::model::Target;
use crate::variables::Variables;

pub use lock::{DEFAULT_LEASE, ENV_LEASE};

/// The largest audit record read, in bytes.
const MAX_HISTORY_BYTES: u64 = 64 << 20;

/// The state in an S3-compatible store.
#[derive(Debug)]
pub struct S3Backend {
    location: StateLocation,
    key: String,
    store: Arc<Store>,
    worker: Arc<Worker>,
    /// The ETag of the whole state as this run last read or wrote it (`None`: there is
    /// no state object yet).
    etag: Mutex<Option<String>>,
    /// The lock this run holds, if any.
    held: Arc<Mutex<Option<Arc<Held>>>>,
    lease: Duration,
}

/// What a read of the store found: the whole state with its ETag, and the journal's
/// entries with their object names, in serial order.
struct Found {
    state: Option<(LastApplied, String)>,
    journal: Vec<(String, JournalEntry)>,
}

impl S3Backend {
    pub fn new(
        vars: &Variables,
        location: &StateLocation,
        bucket: &str,
        key: &str,
    ) -> Result<S3Backend, StateError> {
        Ok(S3Backend {
            location: location.clone(),
            key: key.to_owned(),
            store: Arc::new(Store::new(vars, location, bucket)?),
            worker: Arc::new(Worker::new(location)?),
            etag: Mutex::new(None),
            held: Arc::new(Mutex::new(None)),
            lease: lock::lease_from_env(location)?,
        })
    }

    fn journal_prefix(&self) -> String {
        format!("{}.journal/", self.key)
    }

    /// Reads the whole state and the journal objects.
    fn read(&self) -> Result<Found, StateError> {
        let (store, key, prefix) = (self.store.clone(), self.key.clone(), self.journal_prefix());
        let location = self.location.clone();
        self.worker.run(&self.location, async move {
            let state = match store.get(&key, MAX_STATE_BYTES, "read the state").await? {
                Some(object) => Some((parse_state(object.body, &location)?, object.etag)),
                None => None,
            };
            let mut journal = Vec::new();
            for name in store.list(&prefix, "list the state journal").await? {
                let Some(object) = store
                    .get(&name, MAX_STATE_BYTES, "read the state journal")
                    .await?
                else {
                    continue; // folded and removed since the listing
                };
                let entry: JournalEntry = serde_json::from_slice(&object.body).map_err(|e| {
                    StateError::RemoteJournal {
                        state: location.clone(),
                        message: format!(
                            "the object {} is not a journal entry: {e}",
                            crate::untrusted::portal_text(&name)
                        ),
                    }
                })?;
                journal.push((name, entry));
            }
            journal.sort_by_key(|(_, entry)| entry.serial);
            Ok(Found { state, journal })
        })
    }

    /// The state with the journal replayed, and the journal objects found.
    fn load_found(&self) -> Result<(Option<LastApplied>, Vec<String>), StateError> {
        let found = self.read()?;
        let (mut state, etag) = match found.state {
            Some((state, etag)) => (Some(state), Some(etag)),
            None => (None, None),
        };
        *locked(&self.etag) = etag;
        let names: Vec<String> = found.journal.iter().map(|(n, _)| n.clone()).collect();
        let replayed = replay_entries(&mut state, found.journal).map_err(|(name, refusal)| {
            let name = crate::untrusted::portal_text(&name);
            StateError::RemoteJournal {
                state: self.location.clone(),
                message: match refusal {
                    ReplayRefusal::NoState => format!(
                        "{name} records confirmed requests, but the state object {} is missing: \
                         restore it (a bucket with versioning keeps it) and run again; if it was \
                         removed on purpose, remove the journal objects too",
                        self.location
                    ),
                    ReplayRefusal::Lineage { entry, state } => format!(
                        "{name} is of lineage {entry}, but the state is of lineage {state}: it \
                         belongs to another state; remove it"
                    ),
                    ReplayRefusal::Portal { entry, state } => format!(
                        "{name} records writes to {entry}, but the state is of {state}: it \
                         belongs to another state; remove it"
                    ),
                    ReplayRefusal::Gap { entry, state } => format!(
                        "{name} has serial {entry}, but the state is at {state}: the records in \
                         between are missing; restore them, or remove the journal objects to \
                         discard what they record"
                    ),
                },
            }
        })?;
        if replayed > 0 {
            tracing::info!(
                state = %self.location,
                entries = replayed,
                "replayed the state journal a stopped run left in the store"
            );
        }
        Ok((state, names))
    }

    /// Writes `bytes` as the whole state, over the object this run read.
    fn write_whole(&self, bytes: Vec<u8>) -> Result<(), StateError> {
        let etag = locked(&self.etag).clone();
        let (store, key) = (self.store.clone(), self.key.clone());
        let written = self.worker.run(&self.location, async move {
            let condition = match &etag {
                Some(etag) => Condition::Over(etag),
                None => Condition::Create,
            };
            store.put(&key, bytes, condition, "write the state").await
        })?;
        match written {
            Written::Done(etag) => {
                *locked(&self.etag) = Some(etag);
                Ok(())
            }
            Written::Refused => Err(StateError::Conflict {
                state: self.location.clone(),
                what: "the state object is no longer the one it read",
            }),
        }
    }

    fn remove(&self, names: Vec<String>) -> Result<(), StateError> {
        let store = self.store.clone();
        self.worker.run(&self.location, async move {
            for name in names {
                store
                    .delete(&name, None, "remove a folded journal record")
                    .await?;
            }
            Ok(())
        })
    }

    /// Renews the lock this run holds, if any (before each journal record).
    fn renew(&self) -> Result<(), StateError> {
        let Some(held) = locked(&self.held).clone() else {
            return Ok(());
        };
        let store = self.store.clone();
        self.worker
            .run(&self.location, async move { held.renew(&store).await })
    }
}

impl StateBackend for S3Backend {
    fn location(&self) -> &StateLocation {
        &self.location
    }

    fn load(&self) -> Result<Option<LastApplied>, StateError> {
        Ok(self.load_found()?.0)
    }

    fn save(&self, state: &mut LastApplied) -> Result<(), StateError> {
        self.check_serial(state, 1)?;
        state.serial += 1;
        let result = self.write_whole(state_bytes(state));
        if result.is_err() {
            state.serial -= 1;
        }
        result
    }

    fn lock(&self, request: &LockRequest) -> Result<StateLock, StateError> {
        let (store, key) = (self.store.clone(), format!("{}.lock", self.key));
        {
            let store = store.clone();
            let key = self.key.clone();
            self.worker.run(
                &self.location,
                async move { lock::probe(&store, &key).await },
            )?;
        }
        let lease = self.lease;
        let held = wait_for_lock(request.timeout, || {
            let (store, key, request) = (store.clone(), key.clone(), request.clone());
            self.worker.run(&self.location, async move {
                lock::acquire(&store, &key, &request, lease).await
            })
        })?;
        let renewal = self
            .worker
            .spawn(lock::keep_renewing(store.clone(), held.clone()));
        *locked(&self.held) = Some(held.clone());
        Ok(StateLock::new(S3Lock {
            store,
            worker: self.worker.clone(),
            held,
            slot: self.held.clone(),
            renewal,
            location: self.location.clone(),
        }))
    }

    fn unlock(&self, id: &str) -> Result<(), StateError> {
        let (store, key, id) = (
            self.store.clone(),
            format!("{}.lock", self.key),
            id.to_owned(),
        );
        let location = self.location.clone();
        self.worker.run(&self.location, async move {
            let refuse = |message: String| StateError::Unlock {
                state: location.clone(),
                message,
            };
            let Some(found) = store
                .get(&key, super::remote::MAX_LOCK_BYTES, "read the state lock")
                .await?
            else {
                return Err(refuse("no run holds its lock; nothing to unlock".into()));
            };
            let holder: Option<super::remote::LockInfo> = serde_json::from_slice(&found.body).ok();
            match holder {
                Some(h) if h.id == id => {}
                Some(h) => {
                    return Err(refuse(format!(
                        "the lock is held by {}, not under ID {}; nothing was removed",
                        h.holder(),
                        crate::untrusted::portal_text(&id)
                    )));
                }
                None => {
                    return Err(refuse(
                        "its lock object is not paysync's; nothing was removed".into(),
                    ));
                }
            }
            match store
                .delete(&key, Some(&found.etag), "remove the state lock")
                .await?
            {
                Written::Done(_) => Ok(()),
                Written::Refused => Err(refuse(
                    "the lock changed while it was being removed; nothing was removed".into(),
                )),
            }
        })
    }

    fn prepare_writes(&self) -> Result<(), StateError> {
        let (state, names) = self.load_found()?;
        if names.is_empty() {
            return Ok(());
        }
        if let Some(state) = state {
            tracing::info!(
                state = %self.location,
                serial = state.serial,
                "folded the state journal a stopped run left into the state"
            );
            self.write_whole(state_bytes(&state))?;
        }
        self.remove(names)
    }

    fn journal(&self) -> Box<dyn Journal + '_> {
        Box::new(S3Journal {
            backend: self,
            written: Vec::new(),
        })
    }

    fn write_copy(&self, state: &LastApplied) -> Result<(), StateError> {
        self.write_whole(state_bytes(state))
    }

    fn record_history(&self, entry: &HistoryEntry) -> Result<(), StateError> {
        let name = format!(
            "{}.history/{:020}-{}",
            self.key,
            entry.serial_after,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let body = serde_json::to_vec(entry).expect("history entry serialises");
        let store = self.store.clone();
        self.worker.run(&self.location, async move {
            store
                .put(
                    &name,
                    body,
                    Condition::Create,
                    "record the apply in the audit trail",
                )
                .await
                .map(drop)
        })
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        let (store, prefix) = (self.store.clone(), format!("{}.history/", self.key));
        let location = self.location.clone();
        self.worker.run(&self.location, async move {
            let mut entries = Vec::new();
            for name in store.list(&prefix, "list the audit trail").await? {
                let Some(object) = store
                    .get(&name, MAX_HISTORY_BYTES, "read the audit trail")
                    .await?
                else {
                    continue;
                };
                let entry: HistoryEntry =
                    serde_json::from_slice(&object.body).map_err(|e| StateError::Store {
                        state: location.clone(),
                        message: format!(
                            "the audit record {} cannot be read: {e}",
                            crate::untrusted::portal_text(&name)
                        ),
                    })?;
                entries.push(entry);
            }
            Ok(entries)
        })
    }
}

/// The journal of an apply to an S3 state: one object per confirmed request.
struct S3Journal<'a> {
    backend: &'a S3Backend,
    written: Vec<String>,
}

impl Journal for S3Journal<'_> {
    fn append(&mut self, state: &mut LastApplied, targets: &[Target]) -> Result<(), StateError> {
        let backend = self.backend;
        // A journal follows a whole state: the first record of a new state is the state.
        if locked(&backend.etag).is_none() {
            return backend.save(state);
        }
        // Still the lock holder (and the lease renewed) before recording.
        backend.renew()?;
        backend.check_serial(state, 1)?;
        state.serial += 1;
        let name = format!("{}{:020}", backend.journal_prefix(), state.serial);
        let body = serde_json::to_vec(&state.journal_entry(targets.iter().copied()))
            .expect("entry serialises");
        let store = backend.store.clone();
        let key = name.clone();
        let written = backend.worker.run(&backend.location, async move {
            store
                .put(&key, body, Condition::Create, "record confirmed requests")
                .await
        });
        match written {
            Ok(Written::Done(_)) => {
                self.written.push(name);
                Ok(())
            }
            Ok(Written::Refused) => {
                state.serial -= 1;
                Err(StateError::Conflict {
                    state: backend.location.clone(),
                    what: "a record of this serial exists already",
                })
            }
            Err(e) => {
                state.serial -= 1;
                Err(e)
            }
        }
    }

    fn finish(self: Box<Self>, state: &LastApplied) -> Result<(), StateError> {
        if self.written.is_empty() {
            return Ok(());
        }
        self.backend.write_whole(state_bytes(state))?;
        self.backend.remove(self.written)
    }

    fn entries(&self) -> u64 {
        self.written.len() as u64
    }
}

/// The lock an S3 state's writer holds: renewed in the background, released on drop.
struct S3Lock {
    store: Arc<Store>,
    worker: Arc<Worker>,
    held: Arc<Held>,
    slot: Arc<Mutex<Option<Arc<Held>>>>,
    renewal: tokio::task::JoinHandle<()>,
    location: StateLocation,
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        self.renewal.abort();
        locked(&self.slot).take();
        let (store, held) = (self.store.clone(), self.held.clone());
        let _ = self.worker.run(&self.location, async move {
            held.release(&store).await;
            Ok(())
        });
    }
}
