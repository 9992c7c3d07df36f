//! What a client has done ([`ClientStats`]): requests, retries, limits seen and time
//! spent waiting, counted across a client and its clones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What a client has done so far (all its clones together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests actually sent to the portal (a batch is one; a followed redirect
    /// is two; token refreshes are not counted here).
    pub requests: u64,
    /// Waits before another attempt (one per retry).
    pub retries: u64,
    /// 503 `QUERY_LIMIT_EXCEEDED` answers seen.
    pub rate_limited: u64,
    /// 429 `OPERATION_TIME_LIMIT` answers seen, and batch sub-calls refused with it.
    pub operating_limited: u64,
    /// Refresh requests sent to the OAuth token endpoint.
    pub refreshes: u64,
    /// Time spent waiting for the rate-limit throttle.
    pub throttle_wait: Duration,
    /// Time spent waiting between attempts.
    pub retry_wait: Duration,
    /// Time spent pausing before calls for a method's time budget to reset.
    pub operating_wait: Duration,
}

/// The counters behind [`ClientStats`], shared by a client's clones.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) requests: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) rate_limited: AtomicU64,
    pub(super) operating_limited: AtomicU64,
    pub(super) refreshes: AtomicU64,
    pub(super) throttle_wait_ns: AtomicU64,
    pub(super) retry_wait_ns: AtomicU64,
    pub(super) operating_wait_ns: AtomicU64,
}

pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(super) fn add_time(counter: &AtomicU64, d: Duration) {
    counter.fetch_add(
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

pub(super) fn read_time(counter: &AtomicU64) -> Duration {
    Duration::from_nanos(counter.load(Ordering::Relaxed))
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Counters {
    /// A snapshot.
    pub(super) fn stats(&self) -> ClientStats {
        ClientStats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            operating_limited: self.operating_limited.load(Ordering::Relaxed),
            refreshes: self.refreshes.load(Ordering::Relaxed),
            throttle_wait: read_time(&self.throttle_wait_ns),
            retry_wait: read_time(&self.retry_wait_ns),
            operating_wait: read_time(&self.operating_wait_ns),
        }
    }
}
