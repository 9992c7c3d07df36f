//! The retry decision, kept apart from the call (kube-rs's `error_policy`): which
//! [`ClientError`]s are worth another attempt, how long to wait, and when to give up.
//!
//! - [`error_policy`] classifies an error into a [`Decision`] (a pure table, tested as one).
//! - [`RetryConfig`] bounds the retries: at most `max_attempts` attempts **and** at most
//!   `max_total_wait` of waiting between them. The backoff series itself is backon's
//!   `ExponentialBuilder` with jitter ([`RetryConfig::backoff`]); the client plugs
//!   `error_policy` into backon's `.when()`, [`RetryBudget::next_wait`] into `.adjust()`
//!   (where a 429 wait becomes "until `operating_reset_at`") and logs each wait with
//!   [`retry_reason`] in `.notify()`.
//!
//! # Bounds (defaults)
//! 6 attempts; backoff 1 s doubling to at most 30 s, each wait stretched by a random
//! 0–100 % (backon's jitter), so the five backoff waits add up to 31–62 s; at most 10
//! minutes of waiting per call. A 429 waits until the `operating_reset_at` of the last
//! response for that method (plus 1 s), or 60 s when that is unknown or past (the
//! portal's buckets are one minute long, so a minute always frees one); such a wait is
//! at most 10 min 1 s. The **first** operating wait of a call may go over the 10-minute
//! budget (it cannot be shortened: the portal will refuse the method until then), so the
//! worst case for one call is about 20 minutes; every later wait must fit in the budget.
//! When a bound is hit, the error says so: "gave up after 6 attempts over 2m10s: ...".
//!
//! Everything here is pure and synchronous.

use std::time::Duration;

use backon::ExponentialBuilder;

use super::envelope::CallError;
use super::error::{ClientError, GiveUp};

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// 503 `QUERY_LIMIT_EXCEEDED`: the portal's request bucket is full. Mark ours full
    /// and back off with jitter.
    RateLimited,
    /// 429 `OPERATION_TIME_LIMIT`: the method's time budget is spent. Wait until its
    /// `operating_reset_at`.
    OperatingLimited,
    /// A transient fault (5xx, non-JSON answer, timeout, connection failure): bounded
    /// exponential backoff.
    Backoff,
    /// 401 `expired_token` / `invalid_token`: refresh the OAuth token once and send the
    /// call again (inside the same attempt; not a backoff retry).
    RefreshToken,
    /// Permanent: report the error.
    Fail,
}

impl Decision {
    /// True for the decisions the backoff loop retries.
    pub fn is_retry(self) -> bool {
        matches!(
            self,
            Decision::RateLimited | Decision::OperatingLimited | Decision::Backoff
        )
    }
}

/// Classifies an error (bitrix24-api.md §2.4, §3, §9; SPEC §7):
///
/// | error | decision |
/// |---|---|
/// | `QUERY_LIMIT_EXCEEDED` | RateLimited |
/// | `OPERATION_TIME_LIMIT` | OperatingLimited |
/// | `expired_token`, `invalid_token` | RefreshToken |
/// | `OVERLOAD_LIMIT` (a manual block), `PORTAL_DELETED` | Fail |
/// | any other portal error with HTTP ≥ 500 | Backoff |
/// | non-JSON or empty answer with HTTP 2xx, 429 or ≥ 500; any unreadable 5xx | Backoff |
/// | a refused connection (nothing listens at the portal's address) | Fail, at once |
/// | timeout, other transport failures (reset, closed before the answer, host not found) | Backoff |
/// | token endpoint unreachable or failing (5xx) | Backoff |
/// | every other 4xx, auth and permission errors, a refused refresh, redirects, local mistakes, an exhausted retry budget | Fail |
///
/// Retrying a write is safe for paysync: `settings.update` is an idempotent upsert
/// (bitrix24-api.md §5.10).
pub fn error_policy(error: &ClientError) -> Decision {
    match error {
        ClientError::Portal { error, .. } => match error.code.as_str() {
            "QUERY_LIMIT_EXCEEDED" => Decision::RateLimited,
            "OPERATION_TIME_LIMIT" => Decision::OperatingLimited,
            "expired_token" | "invalid_token" => Decision::RefreshToken,
            "OVERLOAD_LIMIT" | "PORTAL_DELETED" => Decision::Fail,
            _ if error.http_status.is_some_and(|s| s >= 500) => Decision::Backoff,
            _ => Decision::Fail,
        },
        ClientError::Unreadable { status, error, .. } => {
            let no_envelope = matches!(
                error,
                CallError::NotJson { .. } | CallError::EmptyBody { .. }
            );
            let transient_status = (200..300).contains(status) || *status == 429;
            if *status >= 500 || (no_envelope && transient_status) {
                Decision::Backoff
            } else {
                Decision::Fail
            }
        }
        // Nothing listens there: a minute of backoff would only delay the report (a
        // refused connection is not a rate-limit storm; nothing was sent, a re-run is
        // safe).
        e @ ClientError::Transport { .. } if e.is_connection_refused() => Decision::Fail,
        ClientError::Timeout { .. } | ClientError::Transport { .. } => Decision::Backoff,
        ClientError::Refresh(e) if e.is_transient() => Decision::Backoff,
        _ => Decision::Fail,
    }
}

/// Why the next wait happens, for the warn log: "portal rate limit
/// (QUERY_LIMIT_EXCEEDED)", "server error (HTTP 500 INTERNAL_SERVER_ERROR)", ...
pub fn retry_reason(error: &ClientError) -> String {
    match error {
        ClientError::Portal { error, .. } => match error.code.as_str() {
            "QUERY_LIMIT_EXCEEDED" => "portal rate limit (QUERY_LIMIT_EXCEEDED)".into(),
            "OPERATION_TIME_LIMIT" => {
                "method time budget used up (OPERATION_TIME_LIMIT), waiting for its reset".into()
            }
            code => match error.http_status {
                Some(status) => format!("server error (HTTP {status} {code})"),
                None => format!("server error ({code})"),
            },
        },
        ClientError::Unreadable { status, .. } => format!("unreadable answer (HTTP {status})"),
        ClientError::Timeout { .. } => "no answer in time".into(),
        ClientError::Transport { .. } => error
            .connect_failure()
            .unwrap_or_else(|| "the connection to the portal failed".into()),
        ClientError::Refresh(_) => "the OAuth token endpoint failed".into(),
        other => other.to_string(),
    }
}

/// How many attempts a call gets and how long it may wait between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts in total, the first included; 1 means no retry.
    pub max_attempts: u32,
    /// The first backoff wait; it doubles for each later one.
    pub base_delay: Duration,
    /// The longest backoff wait (before jitter).
    pub max_delay: Duration,
    /// The most a call may wait between attempts in total (see the module docs for the
    /// one exception).
    pub max_total_wait: Duration,
    /// The wait after a 429 when no future `operating_reset_at` is known.
    pub operating_default_wait: Duration,
    /// Stretch each backoff wait by a random 0–100 % (off for exact tests).
    pub jitter: bool,
}

impl Default for RetryConfig {
    /// 6 attempts, 1 s doubling to 30 s with jitter, 10 minutes in total, 60 s for an
    /// unknown operating reset.
    fn default() -> Self {
        RetryConfig {
            max_attempts: 6,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_total_wait: Duration::from_secs(600),
            operating_default_wait: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RetryConfig {
    /// One attempt only: every error is returned as it came (for tests that count
    /// requests exactly).
    pub fn none() -> Self {
        RetryConfig {
            max_attempts: 1,
            ..RetryConfig::default()
        }
    }

    /// backon's exponential backoff for these bounds: `max_attempts - 1` waits from
    /// `base_delay`, doubling to `max_delay`, jittered.
    ///
    /// The total-wait bound is not backon's `with_total_delay`: that counts only backon's
    /// own series, while the waits really taken include the operating waits that
    /// `.adjust()` substitutes, and it cannot say which wait overflowed.
    /// [`RetryBudget::next_wait`] enforces `max_total_wait` on the real waits instead.
    pub fn backoff(&self) -> ExponentialBuilder {
        let builder = ExponentialBuilder::new()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_total_delay(None);
        if self.jitter {
            builder.with_jitter()
        } else {
            builder
        }
    }
}

/// The retry bookkeeping of one call: attempts made, time waited, why it gave up.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    config: RetryConfig,
    attempts: u32,
    waited: Duration,
    operating_exemption_used: bool,
    gave_up: Option<GiveUp>,
}

impl RetryBudget {
    pub fn new(config: RetryConfig) -> RetryBudget {
        RetryBudget {
            config,
            attempts: 0,
            waited: Duration::ZERO,
            operating_exemption_used: false,
            gave_up: None,
        }
    }

    /// Counts an attempt about to be made.
    pub fn attempt(&mut self) {
        self.attempts += 1;
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The time waited between attempts so far.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Why the retries ended, if a bound ended them.
    pub fn gave_up(&self) -> Option<GiveUp> {
        self.gave_up
    }

    /// The wait before the next attempt after a retryable failure, or None to give up.
    /// `backoff` is backon's next wait (None when its series is spent, i.e. after
    /// `max_attempts`); `operating_wait` is the wait until the method's reset, used
    /// instead of `backoff` for [`Decision::OperatingLimited`].
    pub fn next_wait(
        &mut self,
        decision: Decision,
        backoff: Option<Duration>,
        operating_wait: Duration,
    ) -> Option<Duration> {
        let Some(backoff) = backoff else {
            self.gave_up = Some(GiveUp::Attempts);
            return None;
        };
        let (wait, exempt) = match decision {
            Decision::OperatingLimited => (operating_wait, !self.operating_exemption_used),
            _ => (backoff, false),
        };
        if !exempt && self.waited + wait > self.config.max_total_wait {
            self.gave_up = Some(GiveUp::TotalWait {
                next: wait,
                budget: self.config.max_total_wait,
            });
            return None;
        }
        if decision == Decision::OperatingLimited {
            self.operating_exemption_used = true;
        }
        self.waited += wait;
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use backon::BackoffBuilder;

    use super::*;
    use crate::bitrix::envelope::PortalError;
    use crate::bitrix::oauth::RefreshError;

    fn portal(code: &str, status: Option<u16>) -> ClientError {
        ClientError::Portal {
            method: "m".into(),
            error: PortalError {
                code: code.into(),
                description: String::new(),
                http_status: status,
            },
        }
    }

    fn unreadable(status: u16, source: CallError) -> ClientError {
        ClientError::Unreadable {
            method: "m".into(),
            status,
            error: source,
        }
    }

    #[test]
    fn error_policy_table() {
        use Decision::*;
        let cases: Vec<(ClientError, Decision)> = vec![
            (portal("QUERY_LIMIT_EXCEEDED", Some(503)), RateLimited),
            (portal("QUERY_LIMIT_EXCEEDED", Some(429)), RateLimited),
            (portal("OPERATION_TIME_LIMIT", Some(429)), OperatingLimited),
            (portal("expired_token", Some(401)), RefreshToken),
            (portal("invalid_token", Some(401)), RefreshToken),
            (portal("INTERNAL_SERVER_ERROR", Some(500)), Backoff),
            (portal("ERROR_UNEXPECTED_ANSWER", Some(500)), Backoff),
            (portal("BAD_GATEWAY", Some(502)), Backoff),
            (portal("GATEWAY_TIMEOUT", Some(504)), Backoff),
            (portal("OVERLOAD_LIMIT", Some(503)), Fail),
            (portal("PORTAL_DELETED", Some(500)), Fail),
            (portal("ACCESS_DENIED", Some(403)), Fail),
            (portal("NO_AUTH_FOUND", Some(401)), Fail),
            (portal("insufficient_scope", Some(403)), Fail),
            (portal("INVALID_CREDENTIALS", Some(403)), Fail),
            (portal("user_access_error", Some(403)), Fail),
            (portal("ERROR_CHECK_FAILURE", Some(400)), Fail),
            (portal("ERROR_UNEXPECTED_ANSWER", Some(400)), Fail),
            (portal("ERROR_METHOD_NOT_FOUND", Some(404)), Fail),
            (portal("INVALID_REQUEST", Some(400)), Fail),
            (portal("200040300010", Some(400)), Fail),
            (portal("INTERNAL_SERVER_ERROR", None), Fail),
            (unreadable(502, CallError::NotJson { status: 502 }), Backoff),
            (
                unreadable(500, CallError::NoResult { status: 500 }),
                Backoff,
            ),
            (
                unreadable(503, CallError::EmptyBody { status: 503 }),
                Backoff,
            ),
            (unreadable(200, CallError::NotJson { status: 200 }), Backoff),
            (
                unreadable(200, CallError::EmptyBody { status: 200 }),
                Backoff,
            ),
            (unreadable(429, CallError::NotJson { status: 429 }), Backoff),
            (unreadable(404, CallError::NotJson { status: 404 }), Fail),
            (unreadable(400, CallError::EmptyBody { status: 400 }), Fail),
            (unreadable(200, CallError::NoResult { status: 200 }), Fail),
            (
                ClientError::Timeout {
                    method: "m".into(),
                    after: Duration::from_secs(60),
                },
                Backoff,
            ),
            (
                ClientError::Refresh(RefreshError::Unreadable { status: 503 }),
                Backoff,
            ),
            (ClientError::Refresh(RefreshError::Timeout), Backoff),
            (
                ClientError::Refresh(RefreshError::InvalidGrant {
                    names: Default::default(),
                }),
                Fail,
            ),
            (
                ClientError::Refresh(RefreshError::InvalidClient {
                    names: Default::default(),
                }),
                Fail,
            ),
            (
                ClientError::Refresh(RefreshError::NotConfigured {
                    code: "expired_token".into(),
                    names: Default::default(),
                }),
                Fail,
            ),
            (
                ClientError::Moved {
                    method: "batch".into(),
                    new_address: "https://new.example".into(),
                    variable: "PAYSYNC_WEBHOOK_URL".into(),
                },
                Fail,
            ),
            (
                ClientError::Redirected {
                    method: "batch".into(),
                    status: 307,
                },
                Fail,
            ),
            (
                ClientError::Decode {
                    method: "m".into(),
                    detail: "x".into(),
                },
                Fail,
            ),
            (ClientError::InvalidMethod { method: "x".into() }, Fail),
            (ClientError::BatchTooLarge { count: 51 }, Fail),
            (
                ClientError::GaveUp {
                    attempts: 6,
                    elapsed: Duration::from_secs(60),
                    reason: GiveUp::Attempts,
                    maybe_delivered: false,
                    last: Box::new(portal("QUERY_LIMIT_EXCEEDED", Some(503))),
                },
                Fail,
            ),
            (
                ClientError::Interrupted {
                    method: "batch".into(),
                    maybe_delivered: true,
                },
                Fail,
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error_policy(&error), expected, "{error:?}");
        }
        assert!(Decision::RateLimited.is_retry());
        assert!(Decision::OperatingLimited.is_retry());
        assert!(Decision::Backoff.is_retry());
        assert!(!Decision::RefreshToken.is_retry());
        assert!(!Decision::Fail.is_retry());
    }

    #[test]
    fn reasons_name_the_cause() {
        assert_eq!(
            retry_reason(&portal("QUERY_LIMIT_EXCEEDED", Some(503))),
            "portal rate limit (QUERY_LIMIT_EXCEEDED)"
        );
        assert!(
            retry_reason(&portal("OPERATION_TIME_LIMIT", Some(429)))
                .contains("OPERATION_TIME_LIMIT")
        );
        assert_eq!(
            retry_reason(&portal("INTERNAL_SERVER_ERROR", Some(500))),
            "server error (HTTP 500 INTERNAL_SERVER_ERROR)"
        );
        assert_eq!(
            retry_reason(&unreadable(502, CallError::NotJson { status: 502 })),
            "unreadable answer (HTTP 502)"
        );
        assert_eq!(
            retry_reason(&ClientError::Timeout {
                method: "m".into(),
                after: Duration::from_secs(60),
            }),
            "no answer in time"
        );
    }

    #[test]
    fn the_default_backoff_series() {
        let config = RetryConfig {
            jitter: false,
            ..RetryConfig::default()
        };
        let waits: Vec<Duration> = config.backoff().build().collect();
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16]);
        assert!(RetryConfig::none().backoff().build().next().is_none());

        // With jitter each wait is in [d, 2d).
        let jittered: Vec<Duration> = RetryConfig::default().backoff().build().collect();
        assert_eq!(jittered.len(), 5);
        for (wait, base) in jittered.iter().zip(&waits) {
            assert!(*wait >= *base && *wait < *base * 2, "{wait:?} vs {base:?}");
        }

        let capped = RetryConfig {
            max_attempts: 10,
            max_delay: Duration::from_secs(5),
            jitter: false,
            ..RetryConfig::default()
        };
        let secs: Vec<u64> = capped.backoff().build().map(|d| d.as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 5, 5, 5, 5, 5, 5]);
    }

    /// Drives a budget like the client does: backon's series, then `next_wait`.
    fn drive(config: RetryConfig, decisions: &[Decision], operating: Duration) -> RetryBudget {
        let mut budget = RetryBudget::new(config);
        let mut series = config.backoff().build();
        for decision in decisions {
            budget.attempt();
            if budget
                .next_wait(*decision, series.next(), operating)
                .is_none()
            {
                break;
            }
        }
        budget
    }

    #[test]
    fn attempts_are_bounded() {
        let config = RetryConfig {
            jitter: false,
            ..RetryConfig::default()
        };
        let budget = drive(config, &[Decision::Backoff; 10], Duration::ZERO);
        assert_eq!(budget.attempts(), 6);
        assert_eq!(budget.waited(), Duration::from_secs(1 + 2 + 4 + 8 + 16));
        assert_eq!(budget.gave_up(), Some(GiveUp::Attempts));

        let budget = drive(RetryConfig::none(), &[Decision::Backoff; 3], Duration::ZERO);
        assert_eq!((budget.attempts(), budget.waited()), (1, Duration::ZERO));
        assert_eq!(budget.gave_up(), Some(GiveUp::Attempts));
    }

    #[test]
    fn total_wait_is_bounded() {
        let config = RetryConfig {
            max_attempts: 100,
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(10),
            max_total_wait: Duration::from_secs(35),
            jitter: false,
            ..RetryConfig::default()
        };
        let budget = drive(config, &[Decision::Backoff; 100], Duration::ZERO);
        assert_eq!(budget.attempts(), 4);
        assert_eq!(budget.waited(), Duration::from_secs(30));
        assert!(matches!(budget.gave_up(), Some(GiveUp::TotalWait { .. })));
    }

    #[test]
    fn one_operating_wait_may_exceed_the_budget_later_ones_may_not() {
        let config = RetryConfig {
            max_total_wait: Duration::from_secs(120),
            jitter: false,
            ..RetryConfig::default()
        };
        let mut budget = RetryBudget::new(config);
        budget.attempt();
        let reset = Duration::from_secs(300);
        assert_eq!(
            budget.next_wait(
                Decision::OperatingLimited,
                Some(Duration::from_secs(1)),
                reset
            ),
            Some(reset)
        );
        budget.attempt();
        assert_eq!(
            budget.next_wait(
                Decision::OperatingLimited,
                Some(Duration::from_secs(2)),
                reset
            ),
            None
        );
        assert_eq!(
            budget.gave_up(),
            Some(GiveUp::TotalWait {
                next: reset,
                budget: Duration::from_secs(120)
            })
        );
        assert_eq!(budget.waited(), reset);
    }

    #[test]
    fn an_operating_wait_replaces_the_backoff() {
        let config = RetryConfig {
            jitter: false,
            ..RetryConfig::default()
        };
        let mut budget = RetryBudget::new(config);
        budget.attempt();
        let wait = budget.next_wait(
            Decision::OperatingLimited,
            Some(Duration::from_secs(1)),
            Duration::from_secs(42),
        );
        assert_eq!(wait, Some(Duration::from_secs(42)));
        budget.attempt();
        let wait = budget.next_wait(
            Decision::RateLimited,
            Some(Duration::from_secs(2)),
            Duration::from_secs(42),
        );
        assert_eq!(wait, Some(Duration::from_secs(2)));
        assert_eq!(budget.waited(), Duration::from_secs(44));
    }
}
