//! Why a call to the portal failed ([`ClientError`]) and what a failure says about the
//! request: the portal's error, whether the request may have reached the portal although
//! no answer says so, which bound ended the retries.
//!
//! Errors never carry the webhook code, a token, a request body or a response body.

use std::fmt;
use std::time::Duration;

use super::cause::root_cause;
use super::envelope::{CallError, PortalError};
use super::oauth::RefreshError;
use super::request::MAX_BATCH;
use crate::wording::plural;

/// Why a call to the portal failed. Never carries the webhook code, a token, a request
/// body or a response body.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot set up the HTTP client: {}", root_cause(error))]
    Setup { error: reqwest::Error },
    /// The portal answered with an error envelope.
    #[error("{method}: {error}")]
    Portal { method: String, error: PortalError },
    /// The request could not be sent or the answer not received (refused, reset, closed
    /// before the answer). `error` has no URL.
    #[error("{method}: cannot reach the portal: {}", root_cause(error))]
    Transport {
        method: String,
        error: reqwest::Error,
    },
    /// No answer within the request timeout (`after`).
    #[error("{method}: the portal did not answer within {} seconds", after.as_secs())]
    Timeout { method: String, after: Duration },
    /// The answer is not an envelope (an HTML error page, an empty body, ...).
    #[error("{method}: {error}")]
    Unreadable {
        method: String,
        status: u16,
        error: CallError,
    },
    /// The envelope's `result` does not have the documented shape.
    #[error("{method}: {detail}")]
    Decode { method: String, detail: String },
    /// The answer is longer than the client reads (`limit`); reading stopped there.
    #[error(
        "{method}: the portal's answer is larger than {}; paysync stops reading there",
        crate::files::size_text(*limit)
    )]
    TooLarge { method: String, limit: u64 },
    /// The portal answered with a redirect to another origin (scheme, host or port): a
    /// moved portal (bitrix24-api.md §1.1), or anything pretending to be one. Nothing is
    /// sent there — every request carries credentials, and writes carry settings — so
    /// the run stops and says how to move the state. Only the new origin is kept (the
    /// full `Location` may hold the webhook code).
    #[error(
        "{method}: the portal answered with a redirect to another address, {new_address}; \
         paysync sends no credentials or settings there. If the portal has moved, set \
         {variable} to the new address and run `paysync state move-portal {new_address}` \
         to point the state file at it"
    )]
    Moved {
        method: String,
        new_address: String,
        variable: &'static str,
    },
    /// A redirect within the portal's origin that was not followed: a second one in a
    /// row, or one without a usable `Location`.
    #[error(
        "{method}: the portal answered with a redirect that paysync does not follow (HTTP {status})"
    )]
    Redirected { method: String, status: u16 },
    /// A method name that is not `[a-z0-9._]` (it is appended to the URL).
    #[error("invalid REST method name {method:?}")]
    InvalidMethod { method: String },
    /// More than [`MAX_BATCH`] commands for one `batch`.
    #[error("a batch takes at most {MAX_BATCH} commands, got {count}")]
    BatchTooLarge { count: usize },
    /// Two commands of one `batch` share a key.
    #[error("batch key {key:?} used twice")]
    DuplicateBatchKey { key: String },
    /// The OAuth access token was refused and could not be refreshed.
    #[error(transparent)]
    Refresh(RefreshError),
    /// Retryable failures went on past the [`RetryConfig`](super::RetryConfig) bounds; `last` is the last one.
    #[error("{}", gave_up_message(*attempts, *elapsed, *reason, last))]
    GaveUp {
        attempts: u32,
        /// From the first attempt to the give-up, on the client's clock.
        elapsed: Duration,
        reason: GiveUp,
        /// Whether an attempt may have reached the portal (its answer was lost).
        maybe_delivered: bool,
        last: Box<ClientError>,
    },
    /// The request was refused, but an earlier attempt's answer had been lost: it may
    /// have been applied then.
    #[error(
        "{last} (after {attempts} attempts; an earlier answer was lost, so the request may \
         have been applied)"
    )]
    Unconfirmed {
        attempts: u32,
        last: Box<ClientError>,
    },
    /// SIGINT or SIGTERM was received: no new request or attempt was started.
    #[error("{method}: stopped by a signal before an answer was received")]
    Interrupted {
        method: String,
        /// Whether an earlier attempt may have reached the portal.
        maybe_delivered: bool,
    },
}

fn gave_up_message(attempts: u32, elapsed: Duration, reason: GiveUp, last: &ClientError) -> String {
    let attempts = plural(attempts, "attempt");
    match reason {
        GiveUp::Attempts => {
            format!("gave up after {attempts} over {}: {last}", human(elapsed))
        }
        GiveUp::TotalWait { next, budget } => format!(
            "gave up after {attempts} over {} (waiting {} more would exceed the {} retry \
             budget): {last}",
            human(elapsed),
            human(next),
            human(budget)
        ),
    }
}

impl ClientError {
    /// Whether the request may have reached the portal and been applied although no
    /// answer says so: an answer lost, cut off, unreadable or a server error. `false`
    /// means it certainly was not applied (refused before sending, refused by the
    /// portal with a 4xx or a limit, redirected).
    pub fn may_have_reached_portal(&self) -> bool {
        match self {
            ClientError::Transport { error, .. } => !error.is_connect(),
            ClientError::Timeout { .. }
            | ClientError::TooLarge { .. }
            | ClientError::Decode { .. }
            | ClientError::Unconfirmed { .. } => true,
            ClientError::Unreadable { status, .. } => *status >= 500 || (200..300).contains(status),
            ClientError::Portal { error, .. } => {
                error.http_status.is_some_and(|s| s >= 500)
                    && !matches!(
                        error.code.as_str(),
                        "QUERY_LIMIT_EXCEEDED" | "OVERLOAD_LIMIT" | "OPERATION_TIME_LIMIT"
                    )
            }
            ClientError::GaveUp {
                maybe_delivered, ..
            }
            | ClientError::Interrupted {
                maybe_delivered, ..
            } => *maybe_delivered,
            ClientError::Setup { .. }
            | ClientError::Moved { .. }
            | ClientError::Redirected { .. }
            | ClientError::InvalidMethod { .. }
            | ClientError::BatchTooLarge { .. }
            | ClientError::DuplicateBatchKey { .. }
            | ClientError::Refresh(_) => false,
        }
    }

    /// The portal's error, when the portal reported one (the last one, after retries).
    pub fn portal_error(&self) -> Option<&PortalError> {
        match self {
            ClientError::Portal { error, .. } => Some(error),
            ClientError::GaveUp { last, .. } | ClientError::Unconfirmed { last, .. } => {
                last.portal_error()
            }
            _ => None,
        }
    }
}

/// Which bound ended the retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// `max_attempts` attempts were made.
    Attempts,
    /// The next wait would have taken the call's waiting over `max_total_wait`.
    TotalWait { next: Duration, budget: Duration },
}

/// A duration the way people read it: `850ms`, `1.4s`, `2m10s`, `1h0m5s`.
pub fn human(d: Duration) -> HumanDuration {
    HumanDuration(d)
}

/// See [`human`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d < Duration::from_secs(1) {
            return write!(f, "{}ms", d.as_millis());
        }
        if d < Duration::from_secs(60) {
            let tenths = (d.as_millis() + 50) / 100;
            return if tenths.is_multiple_of(10) {
                write!(f, "{}s", tenths / 10)
            } else {
                write!(f, "{}.{}s", tenths / 10, tenths % 10)
            };
        }
        let secs = (d.as_millis() + 500) / 1000;
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h{m}m{s}s")
        } else {
            write!(f, "{m}m{s}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        let cases = [
            (Duration::from_millis(850), "850ms"),
            (Duration::from_millis(1400), "1.4s"),
            (Duration::from_millis(1449), "1.4s"),
            (Duration::from_secs(2), "2s"),
            (Duration::from_millis(59_940), "59.9s"),
            (Duration::from_secs(130), "2m10s"),
            (Duration::from_secs(600), "10m0s"),
            (Duration::from_secs(3605), "1h0m5s"),
        ];
        for (d, expected) in cases {
            assert_eq!(human(d).to_string(), expected, "{d:?}");
        }
    }
}
