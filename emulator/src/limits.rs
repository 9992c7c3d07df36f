//! The cloud limits of bitrix24-api.md §9: the request-rate leaky bucket (§9.1,
//! [`RateLimit`]) and the per-method execution-time budget (§9.2, [`OperatingLimit`]).
//!
//! Both are off by default and read the portal's [`crate::Clock`] (callers pass `now`
//! in). This module holds the arithmetic only; the HTTP layer decides which requests
//! reach the bucket and `methods::execute` charges and checks operating time.
//!
//! **The bucket rule.** One bucket per portal, shared by every caller (the docs do not
//! pin the key down, §11 item 15; paysync talks to a portal from one place anyway).
//! On each request: `level = max(0, level - elapsed * drain_per_sec)`; if
//! `level >= capacity` the request is refused (503) and **not** added; otherwise
//! `level += 1` and it passes. So from an empty bucket `capacity` requests in a burst
//! all pass, the next one is refused, and after that one request every
//! `1 / drain_per_sec` seconds always passes.
//!
//! **The operating rule.** Per (caller, method): one-minute buckets, each starting at
//! the first call charged in its minute and living 10 minutes (`now < start + 600 s`).
//! Before a call: if the live sum is already `> limit_secs`, the call is refused (429)
//! and not charged. After a call runs (success or method error) its `cost_secs` is
//! added. So the call that crosses the limit finishes; the next one is refused.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The §9.1 request-rate limit: a counter that every HTTP request raises by 1 and that
/// drains continuously by `drain_per_sec`; at `capacity` requests are refused with
/// HTTP 503 `QUERY_LIMIT_EXCEEDED`. See the module docs for the exact rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// The threshold X: a full bucket refuses requests.
    pub capacity: u32,
    /// The drain rate Y, requests per second.
    pub drain_per_sec: f64,
}

impl RateLimit {
    /// Every plan but Enterprise: 50 requests, draining 2 per second.
    pub const STANDARD: RateLimit = RateLimit {
        capacity: 50,
        drain_per_sec: 2.0,
    };
    /// Enterprise: 250 requests, draining 5 per second.
    pub const ENTERPRISE: RateLimit = RateLimit {
        capacity: 250,
        drain_per_sec: 5.0,
    };

    /// `true` when the numbers make sense (a finite, non-negative drain rate).
    pub(crate) fn is_valid(&self) -> bool {
        self.drain_per_sec.is_finite() && self.drain_per_sec >= 0.0
    }
}

/// Why a `--rate` value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected CAPACITY/DRAIN_PER_SEC (e.g. 50/2), `standard` or `enterprise`, got {0:?}")]
pub struct ParseRateLimitError(String);

impl FromStr for RateLimit {
    type Err = ParseRateLimitError;

    /// `50/2`, `250/5`, `standard` or `enterprise`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.eq_ignore_ascii_case("standard") {
            return Ok(RateLimit::STANDARD);
        }
        if text.eq_ignore_ascii_case("enterprise") {
            return Ok(RateLimit::ENTERPRISE);
        }
        let bad = || ParseRateLimitError(s.to_owned());
        let (capacity, drain) = text.split_once('/').ok_or_else(bad)?;
        let limit = RateLimit {
            capacity: capacity.trim().parse().map_err(|_| bad())?,
            drain_per_sec: drain.trim().parse().map_err(|_| bad())?,
        };
        if limit.is_valid() {
            Ok(limit)
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.capacity, self.drain_per_sec)
    }
}

/// The §9.2 execution-time budget per (app or webhook, method) over 10 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatingLimit {
    /// Calls are refused (429) while the 10-minute sum is above this.
    pub limit_secs: f64,
    /// The simulated execution time each call adds.
    pub cost_secs: f64,
}

impl OperatingLimit {
    /// The docs' worked example: 480 s per 10 minutes, 20 s per call.
    pub const DOCS_EXAMPLE: OperatingLimit = OperatingLimit {
        limit_secs: 480.0,
        cost_secs: 20.0,
    };

    /// `true` when both numbers are finite and non-negative.
    pub(crate) fn is_valid(&self) -> bool {
        [self.limit_secs, self.cost_secs]
            .iter()
            .all(|n| n.is_finite() && *n >= 0.0)
    }
}

/// The portal's leaky bucket state.
#[derive(Debug, Default)]
pub(crate) struct LeakyBucket {
    level: f64,
    last: Option<Duration>,
}

impl LeakyBucket {
    /// Drains to `now`, then admits (adding 1) or refuses (adding nothing).
    pub(crate) fn admit(&mut self, limit: &RateLimit, now: Duration) -> bool {
        if let Some(last) = self.last {
            // A clock that went backwards drains nothing.
            let elapsed = now.saturating_sub(last).as_secs_f64();
            self.level = (self.level - elapsed * limit.drain_per_sec).max(0.0);
        }
        self.last = Some(now);
        if self.level >= f64::from(limit.capacity) {
            return false;
        }
        self.level += 1.0;
        true
    }
}

/// The 10-minute window of §9.2.
const WINDOW: Duration = Duration::from_secs(600);
/// One bucket collects the calls of this long after its first call.
const BUCKET_SPAN: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct MinuteBucket {
    start: Duration,
    secs: f64,
}

/// What the `time` object reports for one (caller, method).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct OperatingReport {
    /// Seconds over the live buckets.
    pub(crate) operating: f64,
    /// Unix time (rounded up) when the oldest live bucket expires.
    pub(crate) reset_at: u64,
}

/// Operating buckets per (caller key, method).
#[derive(Debug, Default)]
pub(crate) struct OperatingLedger {
    buckets: BTreeMap<(String, String), VecDeque<MinuteBucket>>,
}

impl OperatingLedger {
    fn live(&mut self, caller: &str, method: &str, now: Duration) -> &mut VecDeque<MinuteBucket> {
        let buckets = self
            .buckets
            .entry((caller.to_owned(), method.to_owned()))
            .or_default();
        while buckets.front().is_some_and(|b| now >= b.start + WINDOW) {
            buckets.pop_front();
        }
        buckets
    }

    /// The sum over the live buckets.
    pub(crate) fn used(&mut self, caller: &str, method: &str, now: Duration) -> f64 {
        self.live(caller, method, now).iter().map(|b| b.secs).sum()
    }

    /// Adds `cost` to the current minute's bucket (opening one if needed).
    pub(crate) fn charge(&mut self, caller: &str, method: &str, cost: f64, now: Duration) {
        let buckets = self.live(caller, method, now);
        match buckets.back_mut() {
            Some(bucket) if now < bucket.start + BUCKET_SPAN => bucket.secs += cost,
            _ => buckets.push_back(MinuteBucket {
                start: now,
                secs: cost,
            }),
        }
    }

    /// `operating` and `operating_reset_at`; `None` when nothing is live.
    pub(crate) fn report(
        &mut self,
        caller: &str,
        method: &str,
        now: Duration,
    ) -> Option<OperatingReport> {
        let buckets = self.live(caller, method, now);
        let oldest = buckets.front()?;
        Some(OperatingReport {
            operating: buckets.iter().map(|b| b.secs).sum(),
            reset_at: (oldest.start + WINDOW).as_secs_f64().ceil() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64) -> Duration {
        Duration::from_secs_f64(1_000.0 + secs)
    }

    #[test]
    fn a_burst_of_capacity_passes_then_the_drain_rate_is_sustained() {
        let limit = RateLimit {
            capacity: 3,
            drain_per_sec: 2.0,
        };
        let mut bucket = LeakyBucket::default();
        let passed: Vec<bool> = (0..4).map(|_| bucket.admit(&limit, at(0.0))).collect();
        assert_eq!(passed, [true, true, true, false]);
        for step in 1..=1000 {
            assert!(bucket.admit(&limit, at(f64::from(step) * 0.5)), "{step}");
        }
        assert!(!bucket.admit(&limit, at(500.0)));
        assert!(bucket.admit(&limit, at(502.0)));
    }

    #[test]
    fn rate_limits_parse() {
        assert_eq!("50/2".parse(), Ok(RateLimit::STANDARD));
        assert_eq!(" Enterprise ".parse(), Ok(RateLimit::ENTERPRISE));
        assert_eq!(
            "10/0.5".parse(),
            Ok(RateLimit {
                capacity: 10,
                drain_per_sec: 0.5
            })
        );
        for bad in ["50", "x/2", "50/-1", "50/inf", ""] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
        assert_eq!(RateLimit::STANDARD.to_string(), "50/2");
    }

    #[test]
    fn the_docs_worked_example() {
        let limit = OperatingLimit::DOCS_EXAMPLE;
        let mut ledger = OperatingLedger::default();
        let call = |ledger: &mut OperatingLedger, now: Duration| {
            if ledger.used("app", "m", now) > limit.limit_secs {
                return false;
            }
            ledger.charge("app", "m", limit.cost_secs, now);
            true
        };
        // Two calls in the first minute, 23 in the second: 500 s.
        assert!(call(&mut ledger, at(0.0)) && call(&mut ledger, at(1.0)));
        for _ in 0..23 {
            assert!(call(&mut ledger, at(70.0)));
        }
        let report = ledger.report("app", "m", at(70.0));
        assert_eq!(
            report,
            Some(OperatingReport {
                operating: 500.0,
                reset_at: 1_600
            })
        );
        assert!(!call(&mut ledger, at(599.0)), "blocked");
        assert_eq!(ledger.used("other-app", "m", at(599.0)), 0.0);
        // The oldest bucket (40 s) expires at 1600: 460 left, calls resume.
        assert_eq!(ledger.used("app", "m", at(600.0)), 460.0);
        assert!(call(&mut ledger, at(600.0)));
        assert!(call(&mut ledger, at(600.0)), "480 is not above the limit");
        assert!(!call(&mut ledger, at(600.0)));
        assert_eq!(ledger.report("app", "m", at(2_000.0)), None);
    }
}
