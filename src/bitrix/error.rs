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
    /// before the answer). `error` has no URL; `portal` is the portal's `host[:port]` and
    /// `variable` the environment variable that holds its address, for the hint.
    #[error("{}", transport_message(method, portal, variable, error, None))]
    Transport {
        method: String,
        portal: String,
        variable: String,
        error: reqwest::Error,
    },
    /// The portal refused the credentials, or what they may do: a wrong or revoked webhook
    /// code or access token (401), a missing scope, a user without the rights. Says what
    /// to check; never shows the credentials.
    #[error("{}", refusal_message(*refusal, credential, error))]
    Refused {
        method: String,
        refusal: Refusal,
        credential: Box<Credential>,
        error: PortalError,
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
        variable: String,
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

/// What the portal refused ([`ClientError::Refused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 401 (`NO_AUTH_FOUND`, an expired webhook or token that could not be renewed): the
    /// credentials themselves.
    Credentials,
    /// 403 `insufficient_scope`: the webhook or app lacks the method's scope.
    Scope,
    /// 403 `INVALID_CREDENTIALS`, `user_access_error`: the user behind the credentials
    /// lacks the rights.
    Rights,
    /// 403 `ACCESS_DENIED` for the method itself (every target refused alike, or the
    /// portal's plan has no REST access).
    Method,
    /// 500 `PORTAL_DELETED`: the portal (or its public part) is closed. Nothing was
    /// written; no retry will change it.
    PortalClosed,
}

impl Refusal {
    /// The refusal a portal error is, if it is one (bitrix24-api.md §2.4).
    pub fn of(error: &PortalError) -> Option<Refusal> {
        match error.code.as_str() {
            "insufficient_scope" => Some(Refusal::Scope),
            "INVALID_CREDENTIALS" | "user_access_error" => Some(Refusal::Rights),
            "NO_AUTH_FOUND" => Some(Refusal::Credentials),
            "PORTAL_DELETED" => Some(Refusal::PortalClosed),
            _ if error.http_status == Some(401) => Some(Refusal::Credentials),
            _ => None,
        }
    }

    /// The refusal a command's error inside a `batch` is when every call of the run
    /// would get it too (the credentials, their scope or their user's rights): apply
    /// stops after that batch instead of failing every target batch after batch.
    /// `ACCESS_DENIED` alone concerns one pay system (another app's handler, bitrix24-api.md
    /// §5); it stops the run when every command of the batch got it (`all_denied`) or
    /// when the portal says REST itself is not available.
    pub fn of_run(error: &PortalError, all_denied: bool) -> Option<Refusal> {
        match error.code.as_str() {
            "ACCESS_DENIED"
                if all_denied || error.description.contains("only on commercial plans") =>
            {
                Some(Refusal::Method)
            }
            "ACCESS_DENIED" | "PORTAL_DELETED" => None,
            _ => Refusal::of(error),
        }
    }
}

/// Which credentials were sent, with the variables that hold them (as read: the
/// environment's names under `--env`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An incoming webhook: the code in `variable`.
    Webhook { variable: String },
    /// An OAuth access token, from `token` or the token file (`token_file`), for the
    /// portal in `portal`.
    AccessToken {
        token: String,
        token_file: String,
        portal: String,
    },
}

/// What a refusal says. It does not start with the method (`batch: ...`): the
/// credentials are refused whatever the call, and the method says nothing a user can act
/// on.
fn refusal_message(refusal: Refusal, credential: &Credential, error: &PortalError) -> String {
    let (what, owner) = match credential {
        Credential::Webhook { .. } => ("webhook code", "webhook"),
        Credential::AccessToken { .. } => ("access token", "app"),
    };
    match (refusal, credential) {
        (Refusal::Credentials, Credential::Webhook { variable }) => format!(
            "the portal refused the {what} ({error}): check the webhook code in {variable} (a \
             webhook that was deleted, edited by another user or expired has a new code or \
             none)"
        ),
        (
            Refusal::Credentials,
            Credential::AccessToken {
                token, token_file, ..
            },
        ) => format!(
            "the portal refused the {what} ({error}): check {token} (or the tokens in \
             {token_file}), or re-authorise the app"
        ),
        (Refusal::Scope, _) => format!(
            "the portal refused the {what}: the {owner} lacks this method's scope ({error}); \
             paysync needs the pay_system and sale scopes"
        ),
        (Refusal::Rights, _) => format!(
            "the portal refused the {what}: its user lacks the rights ({error}); paysync needs \
             a CRM administrator allowed to modify settings"
        ),
        (Refusal::Method, _) => format!(
            "the portal refused the method for every target ({error}): the {owner}'s user \
             lacks the rights to change pay-system settings, or the portal's plan has no REST \
             access"
        ),
        (Refusal::PortalClosed, Credential::Webhook { variable })
        | (
            Refusal::PortalClosed,
            Credential::AccessToken {
                portal: variable, ..
            },
        ) => format!(
            "the portal is closed ({error}): it was deleted, or its public part was closed; \
             nothing was written. Check the portal's address in {variable} with its \
             administrator"
        ),
    }
}

/// Why a connection failed, in words: `connection refused`, `host not found`, ... (the
/// root cause as it is when none fits).
fn connect_reason(error: &reqwest::Error) -> String {
    let cause = root_cause(error);
    let lower = cause.to_ascii_lowercase();
    let known = [
        ("connection refused", "connection refused"),
        ("failed to lookup address", "host not found"),
        ("name or service not known", "host not found"),
        ("no such host", "host not found"),
        ("dns error", "host not found"),
        ("network is unreachable", "network unreachable"),
        ("no route to host", "no route to host"),
        ("timed out", "connection timed out"),
    ];
    known
        .iter()
        .find(|(needle, _)| lower.contains(needle))
        .map_or(cause, |(_, reason)| (*reason).to_owned())
}

/// `batch: cannot connect to portal 127.0.0.1:9 (connection refused): check
/// PAYSYNC_WEBHOOK_URL and the network`; `retries` adds what was tried
/// (`6 attempts over 51s`) inside the parentheses.
fn transport_message(
    method: &str,
    portal: &str,
    variable: &str,
    error: &reqwest::Error,
    retries: Option<String>,
) -> String {
    let retries = retries.map_or_else(String::new, |r| format!("; {r}"));
    if error.is_connect() {
        // Not prefixed with the method: a portal that cannot be reached is so for every
        // call, and `batch:` says nothing a user can act on.
        format!(
            "cannot connect to portal {portal} ({}{retries}): check {variable} and the network",
            connect_reason(error)
        )
    } else {
        format!(
            "{method}: the connection to portal {portal} failed ({}{retries})",
            root_cause(error)
        )
    }
}

impl ClientError {
    /// Whether nothing listens at the portal's address (the connection was refused):
    /// not a transient fault worth a minute of backoff, and nothing was sent.
    pub fn is_connection_refused(&self) -> bool {
        matches!(self, ClientError::Transport { error, .. }
            if error.is_connect() && connect_reason(error) == "connection refused")
    }

    /// For the retry log: why the connection failed, with the portal's host.
    pub(super) fn connect_failure(&self) -> Option<String> {
        match self {
            ClientError::Transport { portal, error, .. } if error.is_connect() => Some(format!(
                "cannot connect to portal {portal} ({})",
                connect_reason(error)
            )),
            _ => None,
        }
    }
}

fn gave_up_message(attempts: u32, elapsed: Duration, reason: GiveUp, last: &ClientError) -> String {
    let attempts = plural(attempts, "attempt");
    // A portal that could not be reached: what to check first, the attempts after.
    if let (
        ClientError::Transport {
            method,
            portal,
            variable,
            error,
        },
        GiveUp::Attempts,
    ) = (last, reason)
    {
        let tried = format!("gave up after {attempts} over {}", human(elapsed));
        return transport_message(method, portal, variable, error, Some(tried));
    }
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
            | ClientError::Refused { .. }
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
            ClientError::Portal { error, .. } | ClientError::Refused { error, .. } => Some(error),
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
    fn refusals_say_what_to_check() {
        let error = |code: &str, status| PortalError {
            code: code.into(),
            description: "text".into(),
            http_status: Some(status),
        };
        let webhook = || Credential::Webhook {
            variable: "TEST_WEBHOOK_URL".into(),
        };
        let refused = |code, status, credential| {
            let error = error(code, status);
            ClientError::Refused {
                method: "batch".into(),
                refusal: Refusal::of(&error).expect("a refusal"),
                credential: Box::new(credential),
                error,
            }
            .to_string()
        };
        assert!(refused("NO_AUTH_FOUND", 401, webhook()).starts_with(
            "the portal refused the webhook code (NO_AUTH_FOUND: text): check the \
                 webhook code in TEST_WEBHOOK_URL"
        ));
        assert!(
            refused(
                "expired_token",
                401,
                Credential::AccessToken {
                    token: "PAYSYNC_ACCESS_TOKEN".into(),
                    token_file: "PAYSYNC_TOKEN_FILE".into(),
                    portal: "PAYSYNC_PORTAL_URL".into(),
                }
            )
            .contains("refused the access token (expired_token: text): check PAYSYNC_ACCESS_TOKEN")
        );
        assert!(
            refused("insufficient_scope", 403, webhook()).contains("pay_system and sale scopes")
        );
        assert!(
            refused("INVALID_CREDENTIALS", 403, webhook())
                .contains("its user lacks the rights (INVALID_CREDENTIALS: text)")
        );
        assert_eq!(Refusal::of(&error("ACCESS_DENIED", 403)), None);
    }

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
