//! The retry decision, kept apart from the call (kube-rs's `error_policy`): which
//! [`ClientError`]s are worth another attempt, and how long to wait before it.
//!
//! This is the simple bounded version: a few attempts with doubling delays. The
//! leaky-bucket throttle, waiting for `operating_reset_at` on `OPERATION_TIME_LIMIT`,
//! jitter and OAuth refresh come later and slot in here and around `Client::send`.
//! Everything here is pure and synchronous.

use std::time::Duration;

use super::client::ClientError;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Transient: the same request may succeed later.
    Retry,
    /// Permanent: report the error.
    Fail,
}

/// Classifies an error (bitrix24-api.md §3, §9; SPEC §7): the rate limits
/// (`QUERY_LIMIT_EXCEEDED`, `OPERATION_TIME_LIMIT`), server faults (5xx, including
/// non-JSON 5xx pages from proxies), timeouts and transport failures are retried;
/// `OVERLOAD_LIMIT` (a manual block) and `PORTAL_DELETED`, auth, permission and
/// validation errors, redirects and local mistakes are not.
///
/// Retrying a write is safe for paysync: `settings.update` is idempotent.
pub fn error_policy(error: &ClientError) -> Decision {
    match error {
        ClientError::Portal { error, .. } => match error.code.as_str() {
            "QUERY_LIMIT_EXCEEDED" | "OPERATION_TIME_LIMIT" => Decision::Retry,
            "OVERLOAD_LIMIT" | "PORTAL_DELETED" => Decision::Fail,
            _ if error.http_status.is_some_and(|s| s >= 500) => Decision::Retry,
            _ => Decision::Fail,
        },
        ClientError::Unreadable { status, .. } if *status >= 500 || *status == 429 => {
            Decision::Retry
        }
        ClientError::Timeout { .. } | ClientError::Transport { .. } => Decision::Retry,
        _ => Decision::Fail,
    }
}

/// How many attempts a call gets and how long to wait between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included; 1 means no retry.
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles for each later one.
    pub first_delay: Duration,
    /// The longest single wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts, waiting 0.5 s and then 1 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// One attempt only.
    pub const fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            first_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    /// The wait before attempt number `attempt` (2 for the first retry), or None when the
    /// policy allows no such attempt.
    pub fn delay_before(&self, attempt: u32) -> Option<Duration> {
        if attempt < 2 || attempt > self.max_attempts {
            return None;
        }
        let factor = 1u32.checked_shl(attempt - 2).unwrap_or(u32::MAX);
        Some(
            self.first_delay
                .checked_mul(factor)
                .unwrap_or(self.max_delay)
                .min(self.max_delay),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitrix::envelope::{CallError, PortalError};

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

    #[test]
    fn transient_errors_are_retried() {
        for e in [
            portal("QUERY_LIMIT_EXCEEDED", Some(503)),
            portal("OPERATION_TIME_LIMIT", Some(429)),
            portal("INTERNAL_SERVER_ERROR", Some(500)),
            portal("ERROR_UNEXPECTED_ANSWER", Some(500)),
            ClientError::Timeout { method: "m".into() },
            ClientError::Unreadable {
                method: "m".into(),
                status: 502,
                source: CallError::NotJson { status: 502 },
            },
        ] {
            assert_eq!(error_policy(&e), Decision::Retry, "{e:?}");
        }
    }

    #[test]
    fn permanent_errors_are_not() {
        for e in [
            portal("OVERLOAD_LIMIT", Some(503)),
            portal("PORTAL_DELETED", Some(500)),
            portal("ACCESS_DENIED", Some(403)),
            portal("NO_AUTH_FOUND", Some(401)),
            portal("expired_token", Some(401)),
            portal("ERROR_CHECK_FAILURE", Some(400)),
            portal("ERROR_UNEXPECTED_ANSWER", Some(400)),
            portal("200040300010", Some(400)),
            ClientError::Unreadable {
                method: "m".into(),
                status: 404,
                source: CallError::NotJson { status: 404 },
            },
            ClientError::Moved {
                location_host: "new.example".into(),
            },
            ClientError::Decode {
                method: "m".into(),
                detail: "x".into(),
            },
        ] {
            assert_eq!(error_policy(&e), Decision::Fail, "{e:?}");
        }
    }

    #[test]
    fn delays_double_and_are_bounded() {
        let p = RetryPolicy {
            max_attempts: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(3),
        };
        assert_eq!(p.delay_before(1), None);
        assert_eq!(p.delay_before(2), Some(Duration::from_secs(1)));
        assert_eq!(p.delay_before(3), Some(Duration::from_secs(2)));
        assert_eq!(p.delay_before(4), Some(Duration::from_secs(3)));
        assert_eq!(p.delay_before(5), Some(Duration::from_secs(3)));
        assert_eq!(p.delay_before(6), None);
        assert_eq!(RetryPolicy::none().delay_before(2), None);
        let huge = RetryPolicy {
            max_attempts: u32::MAX,
            ..p
        };
        assert_eq!(huge.delay_before(200), Some(Duration::from_secs(3)));
    }
}
