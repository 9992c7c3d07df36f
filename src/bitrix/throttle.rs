//! The request-rate throttle: a local copy of the portal's leaky bucket
//! (bitrix24-api.md §9.1; SPEC §7), so that normal runs never see `QUERY_LIMIT_EXCEEDED`.
//!
//! The portal counts every HTTP request (a `batch` is one) into a bucket of `capacity`
//! that drains continuously by `per_second`; a request that would overflow it is refused
//! with 503. [`LeakyBucket`] keeps the same count on our side: before each request,
//! [`LeakyBucket::reserve`] adds 1 and says how long to wait first so that the level
//! never goes above `capacity`. Reservations are taken in order, so concurrent callers
//! queue up behind each other. Since our request reaches the portal no earlier than our
//! reservation, the portal's bucket is never fuller than ours — provided nobody else
//! sends to the portal from the same bucket (the portal's key is not documented, §11.15).
//! When the portal still answers 503, [`LeakyBucket::fill`] marks ours full.
//!
//! Our rule (wait until level + 1 ≤ capacity) is at most one request stricter than a
//! portal that refuses a request arriving at level ≥ capacity: from an empty bucket both
//! let `capacity` requests through at once and then one every `1 / per_second` seconds.
//!
//! [`LeakyBucket`] is pure arithmetic on a caller-supplied "now", tested table-style
//! without waiting; [`Throttle`] shares one bucket between the clones of a client and
//! sleeps on the client's [`Clock`].

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::clock::Clock;

/// A leaky-bucket rate: at most `capacity` requests in the bucket, draining by
/// `per_second` requests per second. Written `CAPACITY/PER_SECOND`, e.g. `50/2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// The bucket's size: the burst the portal tolerates (X in §9.1).
    pub capacity: u32,
    /// How many requests drain out per second (Y in §9.1).
    pub per_second: f64,
}

impl Rate {
    /// Every plan but Enterprise: 50, draining 2 per second.
    pub const STANDARD: Rate = Rate {
        capacity: 50,
        per_second: 2.0,
    };
    /// Enterprise: 250, draining 5 per second.
    pub const ENTERPRISE: Rate = Rate {
        capacity: 250,
        per_second: 5.0,
    };
}

impl Default for Rate {
    fn default() -> Self {
        Rate::STANDARD
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.capacity, self.per_second)
    }
}

/// Why a `CAPACITY/PER_SECOND` text is not a [`Rate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateParseError {
    #[error(
        "expected CAPACITY/PER_SECOND, e.g. 50/2 (the default) or 250/5 (Enterprise), got {0:?}"
    )]
    Format(String),
    #[error("the capacity must be a whole number of requests from 1 up, got {0:?}")]
    Capacity(String),
    #[error("the drain rate must be a number of requests per second above 0, got {0:?}")]
    PerSecond(String),
}

impl FromStr for Rate {
    type Err = RateParseError;

    fn from_str(s: &str) -> Result<Rate, RateParseError> {
        let Some((capacity, per_second)) = s.trim().split_once('/') else {
            return Err(RateParseError::Format(s.to_owned()));
        };
        let (capacity, per_second) = (capacity.trim(), per_second.trim());
        let capacity = capacity
            .parse::<u32>()
            .ok()
            .filter(|c| *c >= 1)
            .ok_or_else(|| RateParseError::Capacity(capacity.to_owned()))?;
        let per_second = per_second
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r > 0.0)
            .ok_or_else(|| RateParseError::PerSecond(per_second.to_owned()))?;
        Ok(Rate {
            capacity,
            per_second,
        })
    }
}

/// Our count of the portal's bucket. `level` may exceed `capacity`: the excess is
/// requests that have reserved a slot and are waiting for it.
#[derive(Debug, Clone)]
pub(crate) struct LeakyBucket {
    rate: Rate,
    level: f64,
    /// When `level` was last brought up to date; None before the first request.
    at: Option<Duration>,
}

impl LeakyBucket {
    /// An empty bucket.
    pub(crate) fn new(rate: Rate) -> LeakyBucket {
        LeakyBucket {
            rate,
            level: 0.0,
            at: None,
        }
    }

    pub(crate) fn rate(&self) -> Rate {
        self.rate
    }

    /// Drains the bucket up to `now` (a time before the last update counts as no time).
    fn drain(&mut self, now: Duration) {
        if let Some(at) = self.at {
            let elapsed = now.saturating_sub(at).as_secs_f64();
            self.level = (self.level - elapsed * self.rate.per_second).max(0.0);
        }
        self.at = Some(self.at.map_or(now, |at| at.max(now)));
    }

    /// Reserves a slot for one request about to be sent at `now`, and returns how long to
    /// wait before sending it: zero while the bucket has room, otherwise until enough
    /// has drained for the level (this request included) to be at most `capacity`. The
    /// wait is rounded up to the millisecond, so float rounding never makes us early.
    pub(crate) fn reserve(&mut self, now: Duration) -> Duration {
        self.drain(now);
        self.level += 1.0;
        let excess = self.level - f64::from(self.rate.capacity);
        if excess <= 0.0 {
            return Duration::ZERO;
        }
        let millis = (excess / self.rate.per_second * 1000.0).ceil();
        Duration::from_millis(millis as u64)
    }

    /// The portal said its bucket is full (503 `QUERY_LIMIT_EXCEEDED`): ours is at least
    /// full too, so the next request waits for one slot to drain.
    pub(crate) fn fill(&mut self, now: Duration) {
        self.drain(now);
        self.level = self.level.max(f64::from(self.rate.capacity));
    }

    /// The level at `now`, without changing the bucket.
    #[cfg(test)]
    pub(crate) fn level(&self, now: Duration) -> f64 {
        let mut copy = self.clone();
        copy.drain(now);
        copy.level
    }
}

/// One portal's bucket, shared by every clone of a client.
#[derive(Debug, Clone)]
pub(crate) struct Throttle(Arc<Mutex<LeakyBucket>>);

impl Throttle {
    pub(crate) fn new(rate: Rate) -> Throttle {
        Throttle(Arc::new(Mutex::new(LeakyBucket::new(rate))))
    }

    pub(crate) fn rate(&self) -> Rate {
        self.lock().rate()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LeakyBucket> {
        // The bucket holds plain numbers, valid even if a holder panicked.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a slot for one HTTP request, waiting on `clock` until it fits; returns the
    /// time waited.
    pub(crate) async fn acquire(&self, clock: &dyn Clock) -> Duration {
        let wait = self.lock().reserve(clock.now());
        if !wait.is_zero() {
            tracing::debug!(
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "throttle: waiting {:.1}s",
                wait.as_secs_f64()
            );
            clock.sleep(wait).await;
        }
        wait
    }

    /// See [`LeakyBucket::fill`].
    pub(crate) fn fill(&self, clock: &dyn Clock) {
        self.lock().fill(clock.now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitrix::clock::SystemClock;

    /// Seconds, to the millisecond (the throttle's resolution).
    fn secs(s: f64) -> Duration {
        Duration::from_millis((s * 1000.0).round() as u64)
    }

    #[test]
    fn rates_parse() {
        assert_eq!("50/2".parse::<Rate>().unwrap(), Rate::STANDARD);
        assert_eq!("250/5".parse::<Rate>().unwrap(), Rate::ENTERPRISE);
        assert_eq!(
            " 10 / 0.5 ".parse::<Rate>().unwrap(),
            Rate {
                capacity: 10,
                per_second: 0.5
            }
        );
        assert_eq!(Rate::STANDARD.to_string(), "50/2");
        assert_eq!(Rate::ENTERPRISE.to_string(), "250/5");
        assert_eq!(
            Rate {
                capacity: 3,
                per_second: 0.25
            }
            .to_string(),
            "3/0.25"
        );
        assert_eq!(Rate::default(), Rate::STANDARD);
    }

    #[test]
    fn bad_rates_say_what_is_wrong() {
        let cases = [
            ("50", "expected CAPACITY/PER_SECOND"),
            ("", "expected CAPACITY/PER_SECOND"),
            ("fast", "expected CAPACITY/PER_SECOND"),
            ("0/2", "capacity"),
            ("-1/2", "capacity"),
            ("1.5/2", "capacity"),
            ("x/2", "capacity"),
            ("50/0", "drain rate"),
            ("50/-1", "drain rate"),
            ("50/inf", "drain rate"),
            ("50/NaN", "drain rate"),
            ("50/", "drain rate"),
            ("50/2/3", "drain rate"),
        ];
        for (text, expected) in cases {
            let err = text.parse::<Rate>().unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        assert!(
            "50".parse::<Rate>()
                .unwrap_err()
                .to_string()
                .contains("250/5")
        );
    }

    /// (time of the request in seconds, expected wait in seconds), from an empty bucket.
    fn run(rate: Rate, requests: &[(f64, f64)]) {
        let mut bucket = LeakyBucket::new(rate);
        for (i, (at, expected)) in requests.iter().enumerate() {
            let wait = bucket.reserve(secs(*at));
            assert_eq!(wait, secs(*expected), "request {i} at {at}s");
        }
    }

    #[test]
    fn a_burst_up_to_capacity_passes_then_requests_are_spaced() {
        let rate = Rate {
            capacity: 3,
            per_second: 2.0,
        };
        // Three at once fit; the 4th waits for one slot (0.5 s), the 5th for two (1 s).
        run(
            rate,
            &[(0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.5), (0.0, 1.0)],
        );
    }

    #[test]
    fn the_bucket_drains_between_requests() {
        let rate = Rate {
            capacity: 2,
            per_second: 1.0,
        };
        run(
            rate,
            &[
                (0.0, 0.0),   // level 1
                (0.0, 0.0),   // level 2 (full)
                (0.25, 0.75), // drained to 1.75, +1 = 2.75: wait 0.75 s
                (10.0, 0.0),  // long idle: empty again, level 1
                (10.0, 0.0),  // level 2
                (11.0, 0.0),  // drained to 1, level 2
                (11.0, 1.0),  // level 3: one second
            ],
        );
    }

    #[test]
    fn sustained_use_at_the_drain_rate_never_waits() {
        let mut bucket = LeakyBucket::new(Rate::STANDARD);
        for i in 0..1000 {
            assert_eq!(bucket.reserve(secs(f64::from(i) * 0.5)), Duration::ZERO);
        }
        assert!(bucket.level(secs(999.0 * 0.5)) <= 1.0 + 1e-9);
    }

    #[test]
    fn queued_reservations_wait_in_turn() {
        // Capacity 50, 2/s: 50 go at once, then one every 0.5 s.
        let mut bucket = LeakyBucket::new(Rate::STANDARD);
        let waits: Vec<Duration> = (0..60).map(|_| bucket.reserve(Duration::ZERO)).collect();
        assert!(waits[..50].iter().all(|w| w.is_zero()));
        for (k, wait) in waits[50..].iter().enumerate() {
            assert_eq!(*wait, secs(0.5 * (k as f64 + 1.0)), "request {}", 50 + k);
        }
    }

    #[test]
    fn waits_are_rounded_up_to_the_millisecond() {
        let rate = Rate {
            capacity: 1,
            per_second: 3.0,
        };
        // 1/3 s is 333.33 ms: never early, so 334 ms.
        run(rate, &[(0.0, 0.0), (0.0, 0.334)]);
    }

    #[test]
    fn fill_marks_the_bucket_full() {
        let rate = Rate {
            capacity: 10,
            per_second: 2.0,
        };
        let mut bucket = LeakyBucket::new(rate);
        assert_eq!(bucket.reserve(secs(0.0)), Duration::ZERO);
        bucket.fill(secs(1.0));
        assert_eq!(bucket.level(secs(1.0)), 10.0);
        // Full: the next request waits for one slot.
        assert_eq!(bucket.reserve(secs(1.0)), secs(0.5));
        // Filling never forgets requests already queued beyond capacity.
        bucket.reserve(secs(1.0));
        bucket.fill(secs(1.0));
        assert_eq!(bucket.level(secs(1.0)), 12.0);
        assert_eq!(bucket.rate(), rate);
    }

    #[test]
    fn time_going_backwards_counts_as_no_time() {
        let rate = Rate {
            capacity: 1,
            per_second: 1.0,
        };
        let mut bucket = LeakyBucket::new(rate);
        bucket.reserve(secs(5.0));
        assert_eq!(bucket.reserve(secs(4.0)), secs(1.0));
    }

    /// On tokio's paused clock: 50/2 lets 50 requests through at once, then one every
    /// half second, so 60 acquisitions take 5 s of virtual time.
    #[tokio::test(start_paused = true)]
    async fn acquisitions_take_the_expected_virtual_time() {
        let clock = SystemClock::new();
        let throttle = Throttle::new(Rate::STANDARD);
        let start = tokio::time::Instant::now();
        let mut waited = Duration::ZERO;
        for _ in 0..50 {
            waited += throttle.acquire(&clock).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..10 {
            waited += throttle.acquire(&clock).await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        assert_eq!(waited, Duration::from_secs(5));

        // Clones share the bucket: it is full now, so a clone waits too.
        let clone = throttle.clone();
        assert_eq!(clone.acquire(&clock).await, Duration::from_millis(500));
        assert_eq!(clone.rate(), Rate::STANDARD);
    }

    /// Concurrent callers (apply's batches in flight) share one bucket: 4 tasks taking 15
    /// slots each wait exactly as 60 sequential acquisitions do, never going over the
    /// burst: 50 at once, then one every half second.
    #[tokio::test(start_paused = true)]
    async fn concurrent_acquisitions_share_the_bucket() {
        let clock = Arc::new(SystemClock::new());
        let throttle = Throttle::new(Rate::STANDARD);
        let start = tokio::time::Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (throttle, clock) = (throttle.clone(), Arc::clone(&clock));
                tokio::spawn(async move {
                    let mut sent_at = Vec::new();
                    for _ in 0..15 {
                        throttle.acquire(clock.as_ref()).await;
                        sent_at.push(start.elapsed());
                    }
                    sent_at
                })
            })
            .collect();
        let mut sent_at = Vec::new();
        for task in tasks {
            sent_at.extend(task.await.unwrap());
        }
        sent_at.sort();
        assert!(sent_at[..50].iter().all(Duration::is_zero));
        for (k, at) in sent_at[50..].iter().enumerate() {
            assert_eq!(*at, secs(0.5 * (k as f64 + 1.0)), "request {}", 50 + k);
        }
    }

    /// After a 503 the next request waits for a slot, even from an idle bucket.
    #[tokio::test(start_paused = true)]
    async fn fill_makes_the_next_request_wait() {
        let clock = SystemClock::new();
        let throttle = Throttle::new(Rate::ENTERPRISE);
        assert_eq!(throttle.acquire(&clock).await, Duration::ZERO);
        throttle.fill(&clock);
        let start = tokio::time::Instant::now();
        assert_eq!(throttle.acquire(&clock).await, Duration::from_millis(200));
        assert_eq!(start.elapsed(), Duration::from_millis(200));
    }
}
