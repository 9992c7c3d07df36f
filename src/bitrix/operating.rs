//! The per-method execution-time budget ("operating", bitrix24-api.md §9.2).
//!
//! The portal sums each method's execution time per app or webhook over a sliding
//! 10-minute window and refuses further calls of a method whose sum went over the limit
//! (429 `OPERATION_TIME_LIMIT`) until enough one-minute buckets expire. Every success
//! envelope reports the sum (`time.operating`) and when the oldest bucket expires
//! (`time.operating_reset_at`). [`OperatingBudget`] remembers the last report per method
//! and answers two questions:
//!
//! - before a call: is a method's last known sum within [`OPERATING_MARGIN`] of the
//!   limit (480 s unless configured, the docs' figure; the cloud value is not published)
//!   with its reset still ahead? Then pause until the reset instead of being refused;
//! - after a 429: how long until the reset the last response announced?
//!
//! What it cannot see (kept modest on purpose): a `batch`'s outer `time` covers the batch
//! call, which the portal does not charge; its sub-calls are charged to their own methods
//! but their `result_time` entries carry no operating fields. paysync sends its reads and
//! writes in batches, so the sums it sees are mostly the batch's own; the figures of
//! direct calls are exact. A sub-call refused with `OPERATION_TIME_LIMIT` inside a batch
//! marks its method exhausted for a default wait ([`OperatingBudget::mark_exhausted`]),
//! so the next request carrying that method pauses first.
//!
//! Pure: "now" is passed in; nothing here sleeps or reads a clock.

use std::collections::BTreeMap;
use std::time::Duration;

use super::envelope::Timing;

/// The limit assumed when none is configured: 480 s per 10 minutes (bitrix24-api.md §9.2).
pub const DEFAULT_OPERATING_LIMIT: Duration = Duration::from_secs(480);
/// Pause before a call once a method's sum is within this fraction of the limit.
pub const OPERATING_MARGIN: f64 = 0.10;
/// Added to every wait for `operating_reset_at` (an integer second), so we arrive after
/// the bucket has expired, not at the same instant.
pub const RESET_SAFETY: Duration = Duration::from_secs(1);
/// The longest one wait for a reset can be: the window is 10 minutes, plus the safety.
pub const MAX_OPERATING_WAIT: Duration = Duration::from_secs(601);

/// A pause before a call, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pause {
    pub method: String,
    /// The method's last known sum, in seconds (infinite when marked exhausted).
    pub operating: f64,
    pub wait: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Record {
    operating: Option<f64>,
    reset_at: Option<f64>,
}

/// The last `operating` report per method (method names lower-case).
#[derive(Debug, Clone)]
pub(crate) struct OperatingBudget {
    limit: f64,
    methods: BTreeMap<String, Record>,
}

impl OperatingBudget {
    pub(crate) fn new(limit: Duration) -> OperatingBudget {
        OperatingBudget {
            limit: limit.as_secs_f64(),
            methods: BTreeMap::new(),
        }
    }

    pub(crate) fn limit(&self) -> Duration {
        Duration::from_secs_f64(self.limit)
    }

    /// Remembers a success envelope's figures for `method`; absent fields keep the
    /// previous ones.
    pub(crate) fn record(&mut self, method: &str, timing: Timing) {
        if timing.operating.is_none() && timing.operating_reset_at.is_none() {
            return;
        }
        let record = self.methods.entry(method.to_ascii_lowercase()).or_default();
        if timing.operating.is_some() {
            record.operating = timing.operating;
        }
        if timing.operating_reset_at.is_some() {
            record.reset_at = timing.operating_reset_at;
        }
    }

    /// A sub-call of `method` was refused with `OPERATION_TIME_LIMIT`: treat the method as
    /// exhausted until `until` (Unix time).
    pub(crate) fn mark_exhausted(&mut self, method: &str, until: f64) {
        let record = self.methods.entry(method.to_ascii_lowercase()).or_default();
        record.operating = Some(f64::INFINITY);
        record.reset_at = Some(record.reset_at.map_or(until, |r| r.max(until)));
    }

    /// The pause needed before a request running `methods` at `unix_now`: the longest
    /// wait until the reset of a method whose last known sum is at or above
    /// `limit × (1 − margin)`. None when no method is near its limit, or its reset is
    /// unknown or already past.
    pub(crate) fn pause_before(&self, methods: &[String], unix_now: f64) -> Option<Pause> {
        let threshold = self.limit * (1.0 - OPERATING_MARGIN);
        methods
            .iter()
            .filter_map(|method| {
                let record = self.methods.get(&method.to_ascii_lowercase())?;
                let operating = record.operating.filter(|o| *o >= threshold)?;
                let wait = wait_until(record.reset_at?, unix_now)?;
                Some(Pause {
                    method: method.to_ascii_lowercase(),
                    operating,
                    wait,
                })
            })
            .max_by_key(|pause| pause.wait)
    }

    /// After a 429 for a request running `methods`: the wait until the latest known
    /// future reset among them, or None when none is known (the caller then uses a
    /// default: buckets are one minute long, so 60 s always frees one).
    pub(crate) fn reset_wait(&self, methods: &[String], unix_now: f64) -> Option<Duration> {
        methods
            .iter()
            .filter_map(|m| self.methods.get(&m.to_ascii_lowercase())?.reset_at)
            .filter_map(|reset_at| wait_until(reset_at, unix_now))
            .max()
    }
}

/// From `unix_now` to `reset_at` plus [`RESET_SAFETY`], at most [`MAX_OPERATING_WAIT`];
/// None when `reset_at` is not ahead.
fn wait_until(reset_at: f64, unix_now: f64) -> Option<Duration> {
    let ahead = reset_at - unix_now;
    if ahead.is_nan() || ahead <= 0.0 {
        return None;
    }
    let wait = Duration::try_from_secs_f64(ahead).unwrap_or(MAX_OPERATING_WAIT) + RESET_SAFETY;
    // Whole milliseconds keep logs and virtual clocks tidy.
    let wait = Duration::from_millis(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
    Some(wait.min(MAX_OPERATING_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_700_000_000.0;

    fn timing(operating: Option<f64>, reset_at: Option<f64>) -> Timing {
        Timing {
            operating,
            operating_reset_at: reset_at,
            ..Timing::default()
        }
    }

    fn methods(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn pauses_only_near_the_limit_with_a_reset_ahead() {
        let mut budget = OperatingBudget::new(DEFAULT_OPERATING_LIMIT);
        let m = methods(&["sale.paysystem.settings.update"]);
        // (operating, reset_at relative to now, expected pause)
        let cases: &[(Option<f64>, Option<f64>, Option<Duration>)] = &[
            (None, None, None),
            (Some(100.0), Some(30.0), None),
            (Some(431.9), Some(30.0), None),
            (Some(432.0), Some(30.0), Some(Duration::from_secs(31))),
            (Some(470.0), Some(12.5), Some(Duration::from_millis(13_500))),
            (Some(500.0), Some(30.0), Some(Duration::from_secs(31))),
            (Some(500.0), None, None),
            (Some(500.0), Some(0.0), None),
            (Some(500.0), Some(-10.0), None),
            (Some(500.0), Some(3600.0), Some(MAX_OPERATING_WAIT)),
        ];
        for (operating, reset, expected) in cases {
            let mut b = OperatingBudget::new(DEFAULT_OPERATING_LIMIT);
            b.record(&m[0], timing(*operating, reset.map(|r| NOW + r)));
            assert_eq!(
                b.pause_before(&m, NOW).map(|p| p.wait),
                *expected,
                "operating {operating:?}, reset {reset:?}"
            );
        }
        // Unknown methods never pause.
        budget.record("batch", timing(Some(479.0), Some(NOW + 5.0)));
        assert_eq!(budget.pause_before(&m, NOW), None);
        let pause = budget.pause_before(&methods(&["BATCH"]), NOW).unwrap();
        assert_eq!(pause.method, "batch");
        assert_eq!(pause.operating, 479.0);
        assert_eq!(pause.wait, Duration::from_secs(6));
    }

    #[test]
    fn a_configured_limit_moves_the_threshold() {
        let mut budget = OperatingBudget::new(Duration::from_secs(100));
        assert_eq!(budget.limit(), Duration::from_secs(100));
        budget.record("m", timing(Some(90.0), Some(NOW + 1.0)));
        assert!(budget.pause_before(&methods(&["m"]), NOW).is_some());
        budget.record("m", timing(Some(89.0), None));
        assert!(budget.pause_before(&methods(&["m"]), NOW).is_none());
    }

    #[test]
    fn absent_fields_keep_the_previous_report() {
        let mut budget = OperatingBudget::new(DEFAULT_OPERATING_LIMIT);
        budget.record("m", timing(Some(450.0), Some(NOW + 20.0)));
        budget.record("m", timing(None, None));
        budget.record("m", timing(Some(460.0), None));
        let pause = budget.pause_before(&methods(&["m"]), NOW).unwrap();
        assert_eq!(
            (pause.operating, pause.wait),
            (460.0, Duration::from_secs(21))
        );
    }

    #[test]
    fn the_longest_pause_of_a_batch_wins() {
        let mut budget = OperatingBudget::new(DEFAULT_OPERATING_LIMIT);
        budget.record("a", timing(Some(450.0), Some(NOW + 20.0)));
        budget.record("b", timing(Some(450.0), Some(NOW + 40.0)));
        budget.record("c", timing(Some(10.0), Some(NOW + 90.0)));
        let pause = budget
            .pause_before(&methods(&["batch", "a", "b", "c"]), NOW)
            .unwrap();
        assert_eq!(
            (pause.method.as_str(), pause.wait),
            ("b", Duration::from_secs(41))
        );
    }

    #[test]
    fn reset_wait_uses_the_last_reported_reset() {
        let mut budget = OperatingBudget::new(DEFAULT_OPERATING_LIMIT);
        let m = methods(&["m"]);
        assert_eq!(budget.reset_wait(&m, NOW), None);
        budget.record("m", timing(Some(10.0), Some(NOW + 42.0)));
        assert_eq!(budget.reset_wait(&m, NOW), Some(Duration::from_secs(43)));
        // A reset already past is no help: the caller falls back to its default.
        assert_eq!(budget.reset_wait(&m, NOW + 50.0), None);
        assert_eq!(budget.reset_wait(&methods(&["other"]), NOW), None);
        budget.record("n", timing(None, Some(NOW + 100.0)));
        assert_eq!(
            budget.reset_wait(&methods(&["m", "n"]), NOW),
            Some(Duration::from_secs(101))
        );
    }

    #[test]
    fn exhausted_methods_pause_until_the_given_time() {
        let mut budget = OperatingBudget::new(DEFAULT_OPERATING_LIMIT);
        budget.mark_exhausted("Sale.PaySystem.Settings.Update", NOW + 60.0);
        let m = methods(&["batch", "sale.paysystem.settings.update"]);
        let pause = budget.pause_before(&m, NOW).unwrap();
        assert_eq!(pause.wait, Duration::from_secs(61));
        assert!(pause.operating.is_infinite());
        assert_eq!(budget.pause_before(&m, NOW + 61.0), None);
        // A later report replaces the mark.
        budget.record(&m[1], timing(Some(3.0), Some(NOW + 500.0)));
        assert_eq!(budget.pause_before(&m, NOW), None);
    }
}
