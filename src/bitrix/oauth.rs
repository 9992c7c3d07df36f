//! OAuth token refresh (bitrix24-api.md §2.3; SPEC §3, §7): the refresh exchange, the
//! single-flight token store and the token file.
//!
//! # Expected flow
//! 1. A call fails with 401 `expired_token` (or `invalid_token`, §2.4).
//! 2. The client asks [`TokenStore::refresh_after`] for a token newer than the one the
//!    call used. The first caller takes the refresh gate and sends **one** GET to the
//!    token endpoint (`grant_type=refresh_token&client_id&client_secret&refresh_token`);
//!    callers that failed at the same time wait on the gate and then reuse the new token
//!    (a generation counter says whether a refresh happened meanwhile).
//! 3. The new pair replaces the old one — the refresh token rotates, and the old one
//!    stops working — and is written to the token file, if one is configured.
//! 4. The call is sent again, once, with the new token.
//!
//! # Guarantees
//! - At most one refresh request is in flight; a refresh the endpoint refused
//!   (`invalid_grant`, `invalid_client`, ...) is remembered for that generation, so the
//!   callers waiting behind it get the same error without another request.
//! - Tokens, the client secret and the refresh token never reach a log, an error or a
//!   `Debug`: they live in [`Redacted`], reqwest errors are stripped of the URL (the
//!   token endpoint's query holds the secrets), and the endpoint's error descriptions
//!   are scrubbed of them.
//!
//! # Errors
//! [`RefreshError`]: refused (permanent, needs a human), or the endpoint unreachable or
//! failing (transient, the caller's retry policy may try again).
//!
//! # The token file
//! Every refreshed pair is written to the token file ([`super::token_file`]), if one is
//! configured, with when the refresh token was obtained and the REST base the answer
//! named (`client_endpoint`, once [`accept_client_endpoint`] accepted it). If it cannot
//! be written, the run goes on with the new tokens (they are valid for an hour) and the
//! failure is logged as an error: the next run would need re-authorisation, and stopping
//! now would not avoid that (`paysync auth refresh` fails instead: writing the file is
//! its whole job).
//!
//! # `client_endpoint`
//! The refresh answer names the REST base for the following calls. The client checks it
//! with [`accept_client_endpoint`] (https, the configured portal's host or a move between
//! Bitrix24 cloud portals): accepted, the following calls go there and the token file
//! keeps it for later runs; refused, a warning names the offered host and calls stay
//! where they were.
//!
//! # The refresh token's age
//! A refresh token lives 180 days; an integration that never refreshes must do so
//! before then. [`warn_about_refresh_token_age`] warns when the token file's refresh
//! token is older than 150 days.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;

use serde_json::Value;

use reqwest::Url;

use super::body::{BodyError, read_bounded};
#[cfg(doc)]
use super::credentials::accept_client_endpoint;
use super::credentials::{
    ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_REFRESH_TOKEN, RefreshConfig, RefreshOrigin,
};
use super::token_file::{StoredTokens, unix_seconds, write_token_file};
use crate::secrets::Redacted;

/// The largest answer read from the token endpoint.
const MAX_TOKEN_ANSWER_BYTES: u64 = 1 << 20;

/// Why the access token could not be refreshed. Never holds a token or the secret.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The portal reported the token expired and no refresh credentials are configured.
    #[error(
        "the access token was refused ({code}) and cannot be refreshed: set \
         {}, {} and {} to refresh it automatically, or a fresh {}",
        names.refresh_token, names.client_id, names.client_secret, names.access_token
    )]
    NotConfigured {
        code: String,
        names: Box<RefreshNames>,
    },
    /// `invalid_grant`: the refresh token is invalid, expired or already used.
    #[error(
        "the refresh token was rejected (invalid_grant): re-authorise the app and set {} / \
         the token file ({})",
        names.refresh_token, names.token_file
    )]
    InvalidGrant { names: Box<RefreshNames> },
    /// `invalid_client`: wrong client ID or secret, or the app is not installed.
    #[error(
        "the app's credentials were rejected (invalid_client): check {} and {}, and that the \
         app is still installed on the portal",
        names.client_id, names.client_secret
    )]
    InvalidClient { names: Box<RefreshNames> },
    /// Another error from the token endpoint, e.g. `PAYMENT_REQUIRED` (the app's paid
    /// period ended) or `invalid_request`.
    #[error("the OAuth server refused to refresh the access token: {code}{}", describe(.description))]
    Refused { code: String, description: String },
    /// An answer without a usable token (not JSON, no `access_token`, ...).
    #[error("the OAuth token endpoint answered HTTP {status} without a usable token")]
    Unreadable { status: u16 },
    /// No answer within the request timeout.
    #[error("the OAuth token endpoint did not answer in time")]
    Timeout,
    /// The request could not be sent or the answer not received. `error` has no URL.
    #[error(
        "cannot reach the OAuth token endpoint: {}",
        super::cause::root_cause(error)
    )]
    Transport { error: reqwest::Error },
    /// The token file could not be locked for the refresh (or re-read under the lock).
    #[error(
        "cannot refresh the access token with the token file {} ({error}); nothing was \
         refreshed, so the refresh token still works",
        path.display()
    )]
    TokenFile {
        path: std::path::PathBuf,
        error: String,
    },
}

/// How refresh errors name the variables involved: paysync's own names, or an
/// environment's ([`RefreshError::named`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshNames {
    pub refresh_token: String,
    pub client_id: String,
    pub client_secret: String,
    pub access_token: String,
    pub token_file: String,
}

impl Default for RefreshNames {
    fn default() -> RefreshNames {
        RefreshNames::from(&crate::variables::Variables::own())
    }
}

impl From<&crate::variables::Variables> for Box<RefreshNames> {
    fn from(vars: &crate::variables::Variables) -> Box<RefreshNames> {
        Box::new(RefreshNames::from(vars))
    }
}

impl From<&crate::variables::Variables> for RefreshNames {
    fn from(vars: &crate::variables::Variables) -> RefreshNames {
        RefreshNames {
            refresh_token: vars.shown(ENV_REFRESH_TOKEN),
            client_id: vars.shown(ENV_CLIENT_ID),
            client_secret: vars.shown(ENV_CLIENT_SECRET),
            access_token: vars.shown(super::credentials::ENV_ACCESS_TOKEN),
            token_file: vars.shown(super::credentials::ENV_TOKEN_FILE),
        }
    }
}

fn describe(description: &str) -> String {
    if description.is_empty() {
        String::new()
    } else {
        format!(" ({description})")
    }
}

impl RefreshError {
    /// The same error naming the variables as `vars` reads them (an environment's).
    pub fn named(self, vars: &crate::variables::Variables) -> RefreshError {
        match self {
            RefreshError::NotConfigured { code, .. } => RefreshError::NotConfigured {
                code,
                names: vars.into(),
            },
            RefreshError::InvalidGrant { .. } => RefreshError::InvalidGrant { names: vars.into() },
            RefreshError::InvalidClient { .. } => {
                RefreshError::InvalidClient { names: vars.into() }
            }
            other => other,
        }
    }

    /// Worth trying again later: the endpoint was unreachable, slow, or failing (5xx).
    /// A refused refresh needs a human.
    pub fn is_transient(&self) -> bool {
        match self {
            RefreshError::Timeout | RefreshError::Transport { .. } => true,
            RefreshError::Unreadable { status } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// A copy of a permanent error, to hand to the callers waiting behind the refresh.
    fn permanent_copy(&self) -> Option<RefreshError> {
        match self {
            RefreshError::NotConfigured { code, names } => Some(RefreshError::NotConfigured {
                code: code.clone(),
                names: names.clone(),
            }),
            RefreshError::InvalidGrant { names } => Some(RefreshError::InvalidGrant {
                names: names.clone(),
            }),
            RefreshError::InvalidClient { names } => Some(RefreshError::InvalidClient {
                names: names.clone(),
            }),
            RefreshError::Refused { code, description } => Some(RefreshError::Refused {
                code: code.clone(),
                description: description.clone(),
            }),
            RefreshError::Unreadable { status } if !self.is_transient() => {
                Some(RefreshError::Unreadable { status: *status })
            }
            _ => None,
        }
    }
}

/// How long a refresh token lives (bitrix24-api.md §2.2).
pub const REFRESH_TOKEN_LIFETIME_DAYS: i64 = 180;
/// From this age on, a stored refresh token is warned about.
pub const REFRESH_TOKEN_WARN_DAYS: i64 = 150;
const DAY: i64 = 86_400;

/// A successful refresh.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct NewTokens {
    pub access_token: Redacted<String>,
    pub refresh_token: Redacted<String>,
    /// Unix time the access token expires: `expires`, or now + `expires_in`.
    pub expires: Option<i64>,
    /// Unix time the refresh token was obtained: now when the answer carried a new one.
    pub refresh_obtained_at: Option<i64>,
    /// `client_endpoint` as the answer gave it (untrusted, unchecked).
    pub client_endpoint: Option<String>,
    /// The REST base calls go to from now on, once checked (set by the client): the
    /// accepted `client_endpoint`, else the one in use before.
    pub endpoint: Option<Url>,
}

impl fmt::Debug for NewTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewTokens")
            .field("expires", &self.expires)
            .field("refresh_obtained_at", &self.refresh_obtained_at)
            .field("endpoint", &self.endpoint.as_ref().map(Url::as_str))
            .finish_non_exhaustive()
    }
}

/// Reads the token endpoint's answer (§2.3). Its HTTP status for errors is not
/// documented, so an `error` field decides at any status. `secrets` are cut out of any
/// description the endpoint sends back. `old_refresh` is kept when the answer carries no
/// new refresh token (the docs say it always does).
pub(crate) fn parse_refresh_answer(
    status: u16,
    body: &[u8],
    old_refresh: &Redacted<String>,
    secrets: &[&str],
) -> Result<NewTokens, RefreshError> {
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => object,
        _ => return Err(RefreshError::Unreadable { status }),
    };
    if let Some(code) = object.get("error").filter(|e| !e.is_null()) {
        let code = match code {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return Err(match code.as_str() {
            "invalid_grant" => RefreshError::InvalidGrant {
                names: Default::default(),
            },
            "invalid_client" => RefreshError::InvalidClient {
                names: Default::default(),
            },
            _ => RefreshError::Refused {
                code: scrub(&code, secrets),
                description: object
                    .get("error_description")
                    .and_then(Value::as_str)
                    .map(|d| scrub(d, secrets))
                    .unwrap_or_default(),
            },
        });
    }
    let text = |name: &str| {
        object
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Redacted::new(s.to_owned()))
    };
    let Some(access_token) = text("access_token").filter(|_| (200..300).contains(&status)) else {
        return Err(RefreshError::Unreadable { status });
    };
    let int = |name: &str| object.get(name).and_then(Value::as_i64);
    let now = unix_seconds();
    let expires = int("expires").or_else(|| int("expires_in").map(|s| now + s));
    let new_refresh = text("refresh_token");
    Ok(NewTokens {
        access_token,
        refresh_obtained_at: new_refresh.as_ref().map(|_| now),
        refresh_token: new_refresh.unwrap_or_else(|| old_refresh.clone()),
        expires,
        client_endpoint: object
            .get("client_endpoint")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        endpoint: None,
    })
}

/// Portal text ([`crate::untrusted::portal_text`]: every secret paysync holds scrubbed,
/// cut, escaped), with `secrets` (here also the client ID) replaced by `<redacted>` too.
fn scrub(text: &str, secrets: &[&str]) -> String {
    let text = secrets
        .iter()
        .filter(|s| s.len() >= crate::untrusted::MIN_SCRUBBED_CHARS)
        .fold(text.to_owned(), |t, s| {
            t.replace(s, crate::untrusted::REDACTED)
        });
    crate::untrusted::portal_text(&text)
}

/// Sends the refresh request: `GET <token_url>?grant_type=refresh_token&client_id&
/// client_secret&refresh_token`. The URL holds secrets: it is never logged, and errors
/// are stripped of it.
pub(crate) async fn request_refresh(
    http: &reqwest::Client,
    config: &RefreshConfig,
    refresh_token: &Redacted<String>,
) -> Result<NewTokens, RefreshError> {
    let strip = |e: reqwest::Error| {
        let e = e.without_url();
        if e.is_timeout() {
            RefreshError::Timeout
        } else {
            RefreshError::Transport { error: e }
        }
    };
    let mut url = config.token_url.clone();
    url.query_pairs_mut()
        .append_pair("grant_type", "refresh_token")
        .append_pair("client_id", &config.client_id)
        .append_pair("client_secret", config.client_secret.expose())
        .append_pair("refresh_token", refresh_token.expose());
    let response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(strip)?;
    let status = response.status().as_u16();
    let body = read_bounded(response, MAX_TOKEN_ANSWER_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::Transport(e) => strip(e),
            BodyError::TooLarge { .. } => RefreshError::Unreadable { status },
        })?;
    tracing::debug!(status, "the OAuth token endpoint answered");
    parse_refresh_answer(
        status,
        &body,
        refresh_token,
        &[
            config.client_secret.expose(),
            refresh_token.expose(),
            &config.client_id,
        ],
    )
}

/// Saves a refreshed pair to the token file, if one is configured. A failure is logged
/// (the run goes on, see the module docs) and returned, for the caller whose whole job
/// was the refresh.
pub(crate) fn save_tokens(path: Option<&PathBuf>, tokens: &NewTokens) -> std::io::Result<()> {
    let Some(path) = path else { return Ok(()) };
    let stored = StoredTokens {
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone(),
        expires: tokens.expires,
        saved_at: Some(unix_seconds()),
        refresh_obtained_at: tokens.refresh_obtained_at,
        client_endpoint: tokens.endpoint.as_ref().map(Url::to_string),
    };
    let written = write_token_file(path, &stored);
    match &written {
        Ok(()) => tracing::debug!(path = %path.display(), "saved the refreshed tokens"),
        Err(e) => tracing::error!(
            path = %path.display(),
            "cannot save the refreshed OAuth tokens: {e}; the old refresh token no longer \
             works, so the next run will need a re-authorised token"
        ),
    }
    written
}

/// The age of the stored refresh token, as a warning (or, for a token file that does
/// not record it, an info note) to log. `None`: nothing to say (young, from the
/// environment, or an obtained-at in the future).
pub(crate) fn refresh_token_age_note(
    config: &RefreshConfig,
    now: i64,
) -> Option<(tracing::Level, String)> {
    let RefreshOrigin::TokenFile { obtained_at } = config.refresh_origin() else {
        return None;
    };
    let file = config
        .token_file()
        .map_or_else(String::new, |p| format!(" ({})", p.display()));
    let Some(obtained_at) = obtained_at else {
        return Some((
            tracing::Level::INFO,
            format!(
                "the token file{file} does not record when its refresh token was obtained, so \
                 paysync cannot warn before its {REFRESH_TOKEN_LIFETIME_DAYS} days run out; \
                 the next refresh records it (`paysync auth refresh`)"
            ),
        ));
    };
    let age = (now - obtained_at).div_euclid(DAY);
    if age < REFRESH_TOKEN_WARN_DAYS {
        return None;
    }
    let message = if age < REFRESH_TOKEN_LIFETIME_DAYS {
        let left = REFRESH_TOKEN_LIFETIME_DAYS - age;
        format!(
            "the OAuth refresh token in the token file{file} was obtained {age} days ago; \
             Bitrix24 refresh tokens stop working after {REFRESH_TOKEN_LIFETIME_DAYS} days \
             (about {left} left): renew it with `paysync auth refresh` (for instance from a \
             scheduled job)"
        )
    } else {
        format!(
            "the OAuth refresh token in the token file{file} was obtained {age} days ago, \
             more than the {REFRESH_TOKEN_LIFETIME_DAYS} days Bitrix24 refresh tokens live: \
             it has probably expired; if refreshing fails (invalid_grant), re-authorise the app"
        )
    };
    Some((tracing::Level::WARN, message))
}

/// Logs [`refresh_token_age_note`], if any.
pub(crate) fn warn_about_refresh_token_age(config: &RefreshConfig, now: i64) {
    match refresh_token_age_note(config, now) {
        Some((tracing::Level::WARN, message)) => tracing::warn!("{message}"),
        Some((_, message)) => tracing::info!("{message}"),
        None => {}
    }
}

/// The current token pair and its generation (bumped on every refresh), and the REST
/// base calls go to (`None`: the configured portal's).
#[derive(Clone)]
struct Current {
    generation: u64,
    access: Redacted<String>,
    refresh: Option<Redacted<String>>,
    endpoint: Option<Url>,
}

/// The OAuth tokens of one client, shared by its clones, refreshed single-flight.
pub(crate) struct TokenStore {
    current: std::sync::Mutex<Current>,
    /// Held while a refresh is in flight; holds the permanent failure of the current
    /// generation's refresh, if it failed.
    gate: tokio::sync::Mutex<Option<RefreshError>>,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field("generation", &self.lock().generation)
            .finish_non_exhaustive()
    }
}

impl TokenStore {
    #[cfg(test)]
    pub(crate) fn new(access: Redacted<String>, refresh: Option<Redacted<String>>) -> TokenStore {
        TokenStore::with_endpoint(access, refresh, None)
    }

    /// A store whose calls go to `endpoint` (`None`: the configured portal's REST base).
    pub(crate) fn with_endpoint(
        access: Redacted<String>,
        refresh: Option<Redacted<String>>,
        endpoint: Option<Url>,
    ) -> TokenStore {
        TokenStore {
            current: std::sync::Mutex::new(Current {
                generation: 0,
                access,
                refresh,
                endpoint,
            }),
            gate: tokio::sync::Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The access token to use now and its generation.
    pub(crate) fn current(&self) -> (u64, Redacted<String>) {
        let current = self.lock();
        (current.generation, current.access.clone())
    }

    /// The REST base calls go to now, when a refresh answer (or the token file) moved it
    /// from the configured portal's.
    pub(crate) fn endpoint(&self) -> Option<Url> {
        self.lock().endpoint.clone()
    }

    /// A token newer than generation `seen`. If a refresh happened since `seen`, its
    /// token at once; otherwise `refresh(refresh_token)` is run by exactly one caller
    /// while the others wait, and they all get its result. A permanent failure is
    /// remembered for this generation and returned to later callers without running
    /// `refresh` again. Without a refresh token, [`RefreshError::NotConfigured`].
    pub(crate) async fn refresh_after<F, Fut>(
        &self,
        seen: u64,
        code: &str,
        refresh: F,
    ) -> Result<(u64, Redacted<String>), RefreshError>
    where
        F: FnOnce(Redacted<String>) -> Fut,
        Fut: Future<Output = Result<NewTokens, RefreshError>>,
    {
        let mut gate = self.gate.lock().await;
        let refresh_token = {
            let current = self.lock();
            if current.generation != seen {
                return Ok((current.generation, current.access.clone()));
            }
            current.refresh.clone()
        };
        if let Some(failure) = gate.as_ref().and_then(RefreshError::permanent_copy) {
            return Err(failure);
        }
        let Some(refresh_token) = refresh_token else {
            return Err(RefreshError::NotConfigured {
                code: code.to_owned(),
                names: Default::default(),
            });
        };
        match refresh(refresh_token).await {
            Ok(new) => {
                let mut current = self.lock();
                current.generation += 1;
                current.access = new.access_token;
                current.refresh = Some(new.refresh_token);
                if new.endpoint.is_some() {
                    current.endpoint = new.endpoint;
                }
                *gate = None;
                Ok((current.generation, current.access.clone()))
            }
            Err(e) => {
                *gate = e.permanent_copy();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::*;

    const CANARY: &str = "CANARYSECRET42";

    fn r(s: &str) -> Redacted<String> {
        Redacted::new(s.to_owned())
    }

    fn new_tokens(access: &str, refresh: &str) -> NewTokens {
        NewTokens {
            access_token: r(access),
            refresh_token: r(refresh),
            expires: Some(1),
            refresh_obtained_at: Some(1),
            client_endpoint: None,
            endpoint: None,
        }
    }

    #[test]
    fn a_refresh_answer_is_read() {
        let body = br#"{"access_token":"A2","refresh_token":"R2","expires":1700003600,
            "expires_in":3600,"client_endpoint":"https://p.example/rest/","domain":"oauth.bitrix.info",
            "member_id":"m","scope":"pay_system,sale","status":"L","user_id":1}"#;
        let new = parse_refresh_answer(200, body, &r("R1"), &[]).unwrap();
        assert_eq!(new.access_token.expose(), "A2");
        assert_eq!(new.refresh_token.expose(), "R2");
        assert_eq!(new.expires, Some(1_700_003_600));
        assert_eq!(
            new.client_endpoint.as_deref(),
            Some("https://p.example/rest/")
        );
        assert!(new.refresh_obtained_at.unwrap() >= unix_seconds() - 5);
        assert_eq!(new.endpoint, None, "checked by the client, not here");

        // Only `expires_in`: expires is computed; no refresh token: the old one stays.
        let new = parse_refresh_answer(
            200,
            br#"{"access_token":"A3","expires_in":3600}"#,
            &r("R1"),
            &[],
        )
        .unwrap();
        assert_eq!(new.refresh_token.expose(), "R1");
        assert_eq!(
            new.refresh_obtained_at, None,
            "the old token's age is not known here"
        );
        assert!(new.expires.unwrap() > unix_seconds() + 3500);
    }

    #[test]
    fn refusals_and_odd_answers() {
        let cases: &[(u16, &[u8], &str)] = &[
            (
                400,
                br#"{"error":"invalid_grant","error_description":"Invalid refresh token"}"#,
                "InvalidGrant",
            ),
            (401, br#"{"error":"invalid_grant"}"#, "InvalidGrant"),
            (200, br#"{"error":"invalid_grant"}"#, "InvalidGrant"),
            (
                400,
                br#"{"error":"invalid_client","error_description":"x"}"#,
                "InvalidClient",
            ),
            (
                400,
                br#"{"error":"PAYMENT_REQUIRED","error_description":"Trial ended"}"#,
                "Refused",
            ),
            (400, br#"{"error":42}"#, "Refused"),
            (502, b"<html>Bad gateway</html>", "Unreadable"),
            (200, b"", "Unreadable"),
            (200, br#"{"access_token":""}"#, "Unreadable"),
            (200, br#"{"refresh_token":"x"}"#, "Unreadable"),
            (400, br#"{"access_token":"A"}"#, "Unreadable"),
            (200, br#"[1]"#, "Unreadable"),
        ];
        for (status, body, expected) in cases {
            let err = parse_refresh_answer(*status, body, &r("R"), &[]).unwrap_err();
            assert!(
                format!("{err:?}").starts_with(expected),
                "{status} {body:?}: {err:?}"
            );
        }
        let err =
            parse_refresh_answer(400, br#"{"error":"invalid_grant"}"#, &r("R"), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the refresh token was rejected (invalid_grant): re-authorise the app and set \
             PAYSYNC_REFRESH_TOKEN / the token file (PAYSYNC_TOKEN_FILE)"
        );
        let err =
            parse_refresh_answer(400, br#"{"error":"invalid_client"}"#, &r("R"), &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("PAYSYNC_CLIENT_ID and PAYSYNC_CLIENT_SECRET"),
            "{err}"
        );
        let err = parse_refresh_answer(
            400,
            br#"{"error":"PAYMENT_REQUIRED","error_description":"Trial ended"}"#,
            &r("R"),
            &[],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the OAuth server refused to refresh the access token: PAYMENT_REQUIRED (Trial ended)"
        );
    }

    #[test]
    fn transient_and_permanent_failures() {
        assert!(RefreshError::Timeout.is_transient());
        assert!(RefreshError::Unreadable { status: 503 }.is_transient());
        assert!(RefreshError::Unreadable { status: 429 }.is_transient());
        assert!(!RefreshError::Unreadable { status: 404 }.is_transient());
        assert!(
            !RefreshError::InvalidGrant {
                names: Default::default()
            }
            .is_transient()
        );
        assert!(
            !RefreshError::InvalidClient {
                names: Default::default()
            }
            .is_transient()
        );
        assert!(RefreshError::Timeout.permanent_copy().is_none());
        assert!(
            RefreshError::Unreadable { status: 503 }
                .permanent_copy()
                .is_none()
        );
        assert!(matches!(
            RefreshError::InvalidGrant {
                names: Default::default()
            }
            .permanent_copy(),
            Some(RefreshError::InvalidGrant { .. })
        ));
    }

    #[test]
    fn descriptions_are_scrubbed_of_secrets() {
        let body = format!(
            r#"{{"error":"invalid_request","error_description":"bad client_secret={CANARY}"}}"#
        );
        let err = parse_refresh_answer(400, body.as_bytes(), &r("R"), &[CANARY]).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains(CANARY), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn token_debug_is_redacted() {
        let stored = StoredTokens {
            access_token: r(CANARY),
            refresh_token: r(CANARY),
            expires: Some(5),
            saved_at: None,
            refresh_obtained_at: None,
            client_endpoint: None,
        };
        let new = new_tokens(CANARY, CANARY);
        let store = TokenStore::new(r(CANARY), Some(r(CANARY)));
        let text = format!("{stored:?} {stored:#?} {new:?} {store:?}");
        assert!(!text.contains(CANARY), "{text}");
    }

    #[test]
    fn the_refresh_token_age_is_warned_about_after_150_days() {
        let now = 1_800_000_000;
        let config = |obtained_at: Option<i64>| {
            RefreshConfig::new("app", CANARY, CANARY)
                .unwrap()
                .with_token_file("/run/tokens.json")
                .with_refresh_obtained_at(obtained_at)
        };
        let days = |d: i64| Some(now - d * DAY);
        assert_eq!(refresh_token_age_note(&config(days(149)), now), None);
        assert_eq!(refresh_token_age_note(&config(Some(now + DAY)), now), None);
        let (level, text) = refresh_token_age_note(&config(days(150)), now).unwrap();
        assert_eq!(level, tracing::Level::WARN);
        assert_eq!(
            text,
            "the OAuth refresh token in the token file (/run/tokens.json) was obtained 150 days \
             ago; Bitrix24 refresh tokens stop working after 180 days (about 30 left): renew it \
             with `paysync auth refresh` (for instance from a scheduled job)"
        );
        let (level, text) = refresh_token_age_note(&config(days(200)), now).unwrap();
        assert_eq!(level, tracing::Level::WARN);
        assert!(
            text.contains("200 days ago") && text.contains("re-authorise"),
            "{text}"
        );
        let (level, text) = refresh_token_age_note(&config(None), now).unwrap();
        assert_eq!(level, tracing::Level::INFO);
        assert!(text.contains("does not record"), "{text}");
        // From the environment: its age is unknown, and there is nothing to say.
        let from_env = RefreshConfig::new("app", CANARY, CANARY).unwrap();
        assert_eq!(refresh_token_age_note(&from_env, now), None);
        for d in [150, 200] {
            let (_, text) = refresh_token_age_note(&config(days(d)), now).unwrap();
            assert!(!text.contains(CANARY), "{text}");
        }
    }

    /// Two calls that failed with the same token at the same time: one refresh, both
    /// get its token.
    #[tokio::test(start_paused = true)]
    async fn concurrent_expirations_refresh_once() {
        let store = Arc::new(TokenStore::new(r("A0"), Some(r("R0"))));
        let refreshes = Arc::new(AtomicU32::new(0));
        let (seen, token) = store.current();
        assert_eq!((seen, token.expose().as_str()), (0, "A0"));
        let run = |store: Arc<TokenStore>, refreshes: Arc<AtomicU32>| async move {
            store
                .refresh_after(seen, "expired_token", |refresh_token| async move {
                    assert_eq!(refresh_token.expose(), "R0");
                    refreshes.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(new_tokens("A1", "R1"))
                })
                .await
        };
        let (a, b, c) = tokio::join!(
            run(store.clone(), refreshes.clone()),
            run(store.clone(), refreshes.clone()),
            run(store.clone(), refreshes.clone()),
        );
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);
        for result in [a, b, c] {
            let (generation, token) = result.unwrap();
            assert_eq!((generation, token.expose().as_str()), (1, "A1"));
        }
        assert_eq!(store.current().1.expose(), "A1");

        // The new token expires too: the next refresh uses the rotated refresh token.
        let (generation, token) = store
            .refresh_after(1, "expired_token", |refresh_token| async move {
                assert_eq!(refresh_token.expose(), "R1");
                Ok(new_tokens("A2", "R2"))
            })
            .await
            .unwrap();
        assert_eq!((generation, token.expose().as_str()), (2, "A2"));
    }

    /// A rejected refresh is not repeated for the callers waiting behind it.
    #[tokio::test(start_paused = true)]
    async fn a_rejected_refresh_is_not_repeated() {
        let store = Arc::new(TokenStore::new(r("A0"), Some(r("R0"))));
        let refreshes = Arc::new(AtomicU32::new(0));
        let run = |store: Arc<TokenStore>, refreshes: Arc<AtomicU32>| async move {
            store
                .refresh_after(0, "expired_token", |_| async move {
                    refreshes.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Err(RefreshError::InvalidGrant {
                        names: Default::default(),
                    })
                })
                .await
        };
        let (a, b) = tokio::join!(
            run(store.clone(), refreshes.clone()),
            run(store.clone(), refreshes.clone())
        );
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);
        assert!(matches!(a, Err(RefreshError::InvalidGrant { .. })));
        assert!(matches!(b, Err(RefreshError::InvalidGrant { .. })));
        assert!(matches!(
            run(store.clone(), refreshes.clone()).await,
            Err(RefreshError::InvalidGrant { .. })
        ));
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    }

    /// A transient failure is not remembered: the next caller tries again.
    #[tokio::test]
    async fn a_transient_failure_is_retried_by_the_next_caller() {
        let store = TokenStore::new(r("A0"), Some(r("R0")));
        let err = store
            .refresh_after(0, "expired_token", |_| async {
                Err(RefreshError::Unreadable { status: 503 })
            })
            .await
            .unwrap_err();
        assert!(err.is_transient());
        let (generation, _) = store
            .refresh_after(0, "expired_token", |_| async { Ok(new_tokens("A1", "R1")) })
            .await
            .unwrap();
        assert_eq!(generation, 1);
    }

    #[tokio::test]
    async fn without_a_refresh_token_the_error_names_the_variables() {
        let store = TokenStore::new(r("A0"), None);
        let err = store
            .refresh_after(0, "expired_token", |_| async { Ok(new_tokens("x", "y")) })
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("(expired_token)"), "{text}");
        for var in [
            "PAYSYNC_REFRESH_TOKEN",
            "PAYSYNC_CLIENT_ID",
            "PAYSYNC_CLIENT_SECRET",
        ] {
            assert!(text.contains(var), "{text}");
        }
    }
}
