//! The writer's lock of an S3 state: an object `<key>.lock` holding a [`LockInfo`] with a
//! lease, created with `If-None-Match: *` (of two runs creating it at once, the store lets
//! exactly one win).
//!
//! **Leases.** The holder renews the lock while it runs: a conditional overwrite of its
//! own lock object (`If-Match` on the ETag it wrote last), in the background every third
//! of the lease and before every journal record. A lock whose lease ran out (its holder
//! was killed: a cancelled CI job keeps nothing) is taken over by the next run with
//! `If-Match` on the stale lock's ETag, so of two contenders only one wins, with a
//! warning naming the dead holder. The age of a lock is measured by the store's clock
//! alone (its `Date` answer minus the object's `Last-Modified`), so no two machines'
//! clocks are compared.
//!
//! A holder that was only paused (not dead) and lost its lock finds out at its next
//! renewal or write: the renewal is refused (the object changed), it stops recording,
//! and its whole-state write is conditional on the state's ETag too, so it can never
//! overwrite what the new holder wrote.
//!
//! **The conformance probe.** Before a lock is taken, the store must prove that it
//! enforces conditional writes: a second `If-None-Match: *` create of one object and a
//! write under an ETag that is not the object's must both be refused. A store that
//! accepts either (`rclone serve s3`, some gateways) would make every lock a fiction, and
//! is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::store::{Condition, Store, Written};
use crate::state::backend::LockRequest;
use crate::state::error::StateError;
use crate::state::location::StateLocation;
use crate::state::remote::{LockInfo, MAX_LOCK_BYTES};

/// The lease of a lock without `PAYSYNC_STATE_LEASE`.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// The variable setting the lease of the locks this run takes (`90s`, `5m`).
pub const ENV_LEASE: &str = "PAYSYNC_STATE_LEASE";
/// The bounds of a lease, this run's or one read from a lock object.
const MIN_LEASE: Duration = Duration::from_secs(1);
const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);

/// The lease this run's locks get: `PAYSYNC_STATE_LEASE`, within 1 second and 24 hours.
pub fn lease_from_env(state: &StateLocation) -> Result<Duration, StateError> {
    match std::env::var(ENV_LEASE) {
        Ok(text) if !text.trim().is_empty() => humantime::parse_duration(text.trim())
            .ok()
            .filter(|d| (MIN_LEASE..=MAX_LEASE).contains(d))
            .ok_or_else(|| StateError::StoreConfig {
                state: state.clone(),
                message: format!(
                    "{ENV_LEASE} must be a duration between 1s and 24h, such as 90s or 5m"
                ),
            }),
        _ => Ok(DEFAULT_LEASE),
    }
}

/// A lock this run holds.
#[derive(Debug)]
pub struct Held {
    pub key: String,
    pub info: LockInfo,
    /// The ETag of the lock object as this run last wrote it; held across a renewal so
    /// two renewals never race each other.
    pub etag: tokio::sync::Mutex<String>,
    /// Set when a renewal was refused: another run holds the lock now.
    pub lost: AtomicBool,
    pub lease: Duration,
}

impl Held {
    fn body(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.info).expect("lock info serialises")
    }

    /// Renews the lease (a conditional overwrite of the lock object). Refused: the lock
    /// is lost ([`StateError::Conflict`]), and stays lost.
    pub async fn renew(&self, store: &Store) -> Result<(), StateError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(lost(store));
        }
        let mut etag = self.etag.lock().await;
        match store
            .put(
                &self.key,
                self.body(),
                Condition::Over(&etag),
                "renew the state lock",
            )
            .await?
        {
            Written::Done(new) => {
                *etag = new;
                Ok(())
            }
            Written::Refused => {
                self.lost.store(true, Ordering::SeqCst);
                tracing::warn!(
                    lock = %self.info.id,
                    "the state lock was taken over or removed by someone else; this run \
                     records nothing more"
                );
                Err(lost(store))
            }
        }
    }

    /// Removes the lock object if it is still this run's.
    pub async fn release(&self, store: &Store) {
        let etag = self.etag.lock().await;
        if self.lost.load(Ordering::SeqCst) {
            return;
        }
        match store
            .delete(&self.key, Some(&etag), "release the state lock")
            .await
        {
            Ok(Written::Done(_)) => {}
            Ok(Written::Refused) => tracing::warn!(
                lock = %self.info.id,
                "the state lock changed before this run released it; left as it is"
            ),
            Err(e) => tracing::warn!("the state lock could not be released: {e}"),
        }
    }
}

fn lost(store: &Store) -> StateError {
    StateError::Conflict {
        state: store_state(store),
        what: "its lock is held by another run now",
    }
}

fn store_state(store: &Store) -> StateLocation {
    store.location().clone()
}

/// One attempt at the lock: created, taken over from a holder whose lease ran out, or
/// [`StateError::Locked`] naming the holder.
pub async fn acquire(
    store: &Store,
    key: &str,
    request: &LockRequest,
    lease: Duration,
) -> Result<Arc<Held>, StateError> {
    let state = store_state(store);
    let info = LockInfo::new(request, &state, Some(lease));
    let body = serde_json::to_vec_pretty(&info).expect("lock info serialises");
    let held = |etag: String| {
        Arc::new(Held {
            key: key.to_owned(),
            info: info.clone(),
            etag: tokio::sync::Mutex::new(etag),
            lost: AtomicBool::new(false),
            lease,
        })
    };
    // A lock released between our refused create and our read: try again (a few times).
    for _ in 0..5 {
        match store
            .put(key, body.clone(), Condition::Create, "take the state lock")
            .await?
        {
            Written::Done(etag) => return Ok(held(etag)),
            Written::Refused => {}
        }
        let Some(found) = store
            .get(key, MAX_LOCK_BYTES, "read the state lock")
            .await?
        else {
            continue;
        };
        let holder: Option<LockInfo> = serde_json::from_slice(&found.body).ok();
        let shown = holder.as_ref().map_or_else(
            || "a holder paysync cannot read".to_owned(),
            LockInfo::holder,
        );
        let their_lease = holder
            .as_ref()
            .and_then(|h| h.lease_seconds)
            .map_or(DEFAULT_LEASE, Duration::from_secs)
            .clamp(MIN_LEASE, MAX_LEASE);
        let expired = found.age.is_some_and(|age| age > their_lease.as_secs());
        if !expired {
            return Err(StateError::Locked {
                state,
                holder: match found.age {
                    Some(age) => format!(
                        "{shown}; renewed {age}s ago, lease {}s",
                        their_lease.as_secs()
                    ),
                    None => format!("{shown}; the store does not date it, so it never expires"),
                },
            });
        }
        match store
            .put(
                key,
                body.clone(),
                Condition::Over(&found.etag),
                "take over the state lock",
            )
            .await?
        {
            Written::Done(etag) => {
                tracing::warn!(
                    state = %state,
                    "took over the state lock of {shown}: its lease ran out {}s ago (its run \
                     was killed or lost the store); whatever it recorded is kept",
                    found.age.unwrap_or_default().saturating_sub(their_lease.as_secs())
                );
                return Ok(held(etag));
            }
            // Another contender won the takeover: look again.
            Written::Refused => {}
        }
    }
    Err(StateError::Store {
        state,
        message: "cannot take the state lock: it keeps changing under this run".into(),
    })
}

/// Proves that the store enforces conditional writes (see the module docs).
pub async fn probe(store: &Store, key: &str) -> Result<(), StateError> {
    let object = format!("{key}.probe/{}", uuid::Uuid::new_v4());
    let body = b"paysync conformance probe: safe to delete\n".to_vec();
    let doing = "check that the store enforces conditional writes";
    let result = async {
        let Written::Done(etag) = store
            .put(&object, body.clone(), Condition::Create, doing)
            .await?
        else {
            return Err(StateError::NotConforming {
                state: store_state(store),
                what: "it refused to create a new object",
            });
        };
        if store
            .put(&object, body.clone(), Condition::Create, doing)
            .await?
            != Written::Refused
        {
            return Err(StateError::NotConforming {
                state: store_state(store),
                what: "it accepted a second `If-None-Match: *` create of one object",
            });
        }
        let other = format!("\"{}\"", "0".repeat(32));
        if etag != other
            && store
                .put(&object, body, Condition::Over(&other), doing)
                .await?
                != Written::Refused
        {
            return Err(StateError::NotConforming {
                state: store_state(store),
                what: "it accepted a write under an `If-Match` ETag the object does not have",
            });
        }
        Ok(())
    }
    .await;
    let _ = store.delete(&object, None, doing).await;
    result
}

/// Renews `held` every third of its lease until the worker stops or the lock is lost.
pub async fn keep_renewing(store: Arc<Store>, held: Arc<Held>) {
    let every = held.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        match held.renew(&store).await {
            Ok(()) => {}
            Err(StateError::Conflict { .. }) => return,
            // A store that does not answer now may answer at the next renewal.
            Err(e) => tracing::warn!("could not renew the state lock's lease: {e}"),
        }
    }
}
