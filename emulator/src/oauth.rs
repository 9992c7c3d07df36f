//! OAuth 2.0 (bitrix24-api.md §2.2–2.4, §10 item 3): the access tokens `/rest/<method>`
//! accepts, their expiry, and the token endpoint `GET /oauth/token/?grant_type=refresh_token`
//! that issues new pairs and rotates refresh tokens.
//!
//! Owns the credentials; knows nothing of HTTP (the server hands in decoded parameters
//! and gets a status and a JSON body back) and never logs or records a secret.
//!
//! Rules:
//! - seed access tokens (`oauth_tokens`) never expire unless `expire_*` is called;
//!   tokens issued by the endpoint expire `token_lifetime` after issue, by the clock;
//! - a refresh token works once: refreshing replaces it with the new one (rotation); the
//!   previous access token stays valid until it expires;
//! - a refresh token lives `refresh_token_lifetime` (180 days, §2.2) from its issue, by
//!   the clock; seeded ones count from the portal's start;
//! - errors: missing parameters or another grant type → 400 `invalid_request`; unknown
//!   client or wrong secret → 401 `invalid_client`; unknown, reused or another app's
//!   refresh token → 400 `invalid_grant`.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::envelope::ApiError;
use crate::php;
use crate::seed::{OAuthAppSeed, OAuthTokenSeed, Seed};

/// The default lifetime of an issued access token (`expires_in`).
pub(crate) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The lifetime of a refresh token (bitrix24-api.md §2.2: 180 days).
pub(crate) const DEFAULT_REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(180 * 86_400);

/// The stable portal identifier the token endpoint reports.
const MEMBER_ID: &str = "7f3c1b9a2d4e4f60a8b5c6d7e8f90123";

/// The method name token-endpoint requests get in the request log and in fault filters.
pub(crate) const TOKEN_METHOD: &str = "oauth.token";

/// Parameters whose values never reach the request log.
pub(crate) const SECRET_PARAMS: &[&str] = &["client_secret", "refresh_token", "code", "auth"];

/// An access token `/rest/<method>` accepts.
#[derive(Clone)]
pub(crate) struct AccessToken {
    pub(crate) token: String,
    pub(crate) client_id: Option<String>,
    pub(crate) scopes: Option<Vec<String>>,
    /// Unix time (since the epoch) from which the token is expired; `None`: never.
    pub(crate) expires_at: Option<Duration>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("client_id", &self.client_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl From<OAuthTokenSeed> for AccessToken {
    fn from(seed: OAuthTokenSeed) -> Self {
        AccessToken {
            token: seed.access_token,
            client_id: seed.client_id,
            scopes: seed.scopes,
            expires_at: None,
        }
    }
}

/// Who a refresh token belongs to, and until when it works.
#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    user_id: u64,
    /// Unix time (since the epoch) from which the refresh token is expired.
    expires_at: Duration,
}

/// Applications, live refresh tokens, issued access tokens and counters.
#[derive(Debug)]
pub(crate) struct OAuth {
    pub(crate) tokens: Vec<AccessToken>,
    apps: Vec<OAuthAppSeed>,
    /// Live refresh token → its grant. Debug prints the map; see the `Debug` impl.
    refresh: Secrets<Grant>,
    pub(crate) token_lifetime: Duration,
    /// How long a refresh token works after its issue.
    pub(crate) refresh_token_lifetime: Duration,
    /// Successful refreshes.
    pub(crate) refreshes: u64,
    /// Every request to the token endpoint.
    pub(crate) requests: u64,
}

/// A map keyed by secrets whose `Debug` shows only the values.
struct Secrets<T>(BTreeMap<String, T>);

impl<T: std::fmt::Debug> std::fmt::Debug for Secrets<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.values()).finish()
    }
}

/// What the token endpoint computed.
pub(crate) struct TokenResponse {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl OAuth {
    /// The seed's tokens and apps; seeded refresh tokens count as issued at `now`.
    pub(crate) fn from_seed(seed: &Seed, now: Duration) -> OAuth {
        let refresh_token_lifetime = seed
            .refresh_token_lifetime
            .map_or(DEFAULT_REFRESH_TOKEN_LIFETIME, Duration::from_secs);
        let refresh = seed
            .oauth_refresh_tokens
            .iter()
            .map(|t| {
                let grant = Grant {
                    client_id: t.client_id.clone(),
                    user_id: t.user_id.unwrap_or(seed.webhook.user_id),
                    expires_at: now + refresh_token_lifetime,
                };
                (t.refresh_token.clone(), grant)
            })
            .collect();
        OAuth {
            tokens: seed
                .oauth_tokens
                .iter()
                .cloned()
                .map(AccessToken::from)
                .collect(),
            apps: seed.oauth_apps.clone(),
            refresh: Secrets(refresh),
            token_lifetime: seed
                .token_lifetime
                .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs),
            refresh_token_lifetime,
            refreshes: 0,
            requests: 0,
        }
    }

    /// Looks a token up: its index, or `NO_AUTH_FOUND` / `expired_token`.
    pub(crate) fn check(&self, token: &str, now: Duration) -> Result<usize, ApiError> {
        let index = self
            .tokens
            .iter()
            .position(|t| t.token == token)
            .ok_or_else(ApiError::no_auth)?;
        if self.tokens[index]
            .expires_at
            .is_some_and(|expiry| now >= expiry)
        {
            return Err(ApiError::expired_token());
        }
        Ok(index)
    }

    /// Makes one token (or every token, with `None`) expired from `now` on.
    pub(crate) fn expire(&mut self, token: Option<&str>, now: Duration) -> bool {
        let mut found = false;
        for t in &mut self.tokens {
            if token.is_none_or(|wanted| wanted == t.token) {
                t.expires_at = Some(t.expires_at.map_or(now, |e| e.min(now)));
                found = true;
            }
        }
        found
    }

    /// `GET /oauth/token/?grant_type=refresh_token&client_id&client_secret&refresh_token`.
    /// `client_endpoint` is the portal's `/rest/` URL.
    pub(crate) fn refresh(
        &mut self,
        params: &Map<String, Value>,
        now: Duration,
        client_endpoint: &str,
    ) -> TokenResponse {
        match self.try_refresh(params, now, client_endpoint) {
            Ok(body) => {
                self.refreshes += 1;
                TokenResponse { status: 200, body }
            }
            Err(error) => TokenResponse {
                status: error.status,
                body: error.body(),
            },
        }
    }

    fn try_refresh(
        &mut self,
        params: &Map<String, Value>,
        now: Duration,
        client_endpoint: &str,
    ) -> Result<Value, ApiError> {
        let get = |key: &str| {
            params
                .get(key)
                .and_then(php::string)
                .filter(|v| !v.is_empty())
        };
        let grant_type = get("grant_type").ok_or_else(|| missing("grant_type"))?;
        if grant_type != "refresh_token" {
            return Err(ApiError::new(
                400,
                "invalid_request",
                "Only grant_type=refresh_token is supported",
            ));
        }
        let client_id = get("client_id").ok_or_else(|| missing("client_id"))?;
        let client_secret = get("client_secret").ok_or_else(|| missing("client_secret"))?;
        let refresh_token = get("refresh_token").ok_or_else(|| missing("refresh_token"))?;
        let app = self
            .apps
            .iter()
            .find(|a| a.client_id == client_id && a.client_secret == client_secret)
            .cloned()
            .ok_or_else(|| {
                ApiError::new(401, "invalid_client", "Invalid client_id or client_secret")
            })?;
        let grant = self
            .refresh
            .0
            .get(&refresh_token)
            .filter(|g| g.client_id == app.client_id && now < g.expires_at)
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    400,
                    "invalid_grant",
                    "Invalid refresh token (unknown, already used or expired)",
                )
            })?;
        // Rotation: the old refresh token stops working now.
        self.refresh.0.remove(&refresh_token);
        let access_token = random_token();
        let new_refresh = random_token();
        let expires_at = now + self.token_lifetime;
        self.tokens.push(AccessToken {
            token: access_token.clone(),
            client_id: Some(app.client_id.clone()),
            scopes: app.scopes.clone(),
            expires_at: Some(expires_at),
        });
        let grant = Grant {
            expires_at: now + self.refresh_token_lifetime,
            ..grant
        };
        self.refresh.0.insert(new_refresh.clone(), grant.clone());
        let scope = match &app.scopes {
            Some(scopes) => scopes.join(","),
            None => crate::seed::KNOWN_SCOPES.join(","),
        };
        Ok(json!({
            "access_token": access_token,
            "expires": expires_at.as_secs(),
            "expires_in": self.token_lifetime.as_secs(),
            "scope": scope,
            "domain": "oauth.bitrix.info",
            "server_endpoint": "https://oauth.bitrix.info/rest/",
            "status": "L",
            "client_endpoint": client_endpoint,
            "member_id": MEMBER_ID,
            "user_id": grant.user_id,
            "refresh_token": new_refresh,
        }))
    }
}

fn missing(param: &str) -> ApiError {
    ApiError::new(
        400,
        "invalid_request",
        format!("Missing parameter: {param}"),
    )
}

/// 32 hex digits from std's randomly keyed SipHash (no extra dependency; unique through
/// the counter, unpredictable enough for a test portal).
fn random_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let a = RandomState::new().hash_one(n);
    let b = RandomState::new().hash_one((n, a));
    format!("{a:016x}{b:016x}")
}

/// The token-endpoint parameters as the request log may show them: secret values replaced.
pub(crate) fn redact(params: &mut Map<String, Value>) {
    for key in SECRET_PARAMS {
        if let Some(value) = params.get_mut(*key) {
            *value = json!("<redacted>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::OAuthRefreshTokenSeed;

    fn params(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs.iter().map(|(k, v)| ((*k).into(), json!(v))).collect()
    }

    #[test]
    fn refreshing_rotates_and_issued_tokens_expire() {
        let mut seed = Seed::demo();
        seed.oauth_apps.push(OAuthAppSeed {
            client_id: "app.1".into(),
            client_secret: "cs".into(),
            scopes: Some(vec!["pay_system".into()]),
        });
        seed.oauth_refresh_tokens.push(OAuthRefreshTokenSeed {
            refresh_token: "rt-1".into(),
            client_id: "app.1".into(),
            user_id: None,
        });
        let now = Duration::from_secs(1_000);
        let mut oauth = OAuth::from_seed(&seed, now);
        let request = params(&[
            ("grant_type", "refresh_token"),
            ("client_id", "app.1"),
            ("client_secret", "cs"),
            ("refresh_token", "rt-1"),
        ]);
        let ok = oauth.refresh(&request, now, "http://x/rest/");
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(ok.body["expires"], 4_600);
        assert_eq!(ok.body["scope"], "pay_system");
        assert_eq!(ok.body["user_id"], 1);
        let again = oauth.refresh(&request, now, "http://x/rest/");
        assert_eq!(
            (again.status, &again.body["error"]),
            (400, &json!("invalid_grant"))
        );
        let token = ok.body["access_token"].as_str().unwrap_or_default();
        assert!(oauth.check(token, now).is_ok());
        let expired = oauth.check(token, now + DEFAULT_TOKEN_LIFETIME);
        assert_eq!(
            expired.map_err(|e| e.code.to_string()),
            Err("expired_token".into())
        );
        assert_eq!(oauth.refreshes, 1);
        assert_ne!(random_token(), random_token());
    }

    /// Refresh tokens live 180 days from their issue (seeded ones: from the start).
    #[test]
    fn refresh_tokens_expire_after_180_days() {
        let mut seed = Seed::demo();
        seed.oauth_apps.push(OAuthAppSeed {
            client_id: "app.1".into(),
            client_secret: "cs".into(),
            scopes: None,
        });
        for token in ["rt-old", "rt-young"] {
            seed.oauth_refresh_tokens.push(OAuthRefreshTokenSeed {
                refresh_token: token.into(),
                client_id: "app.1".into(),
                user_id: None,
            });
        }
        let start = Duration::from_secs(1_767_225_600);
        let mut oauth = OAuth::from_seed(&seed, start);
        let day = Duration::from_secs(86_400);
        let request = |token: &str| {
            params(&[
                ("grant_type", "refresh_token"),
                ("client_id", "app.1"),
                ("client_secret", "cs"),
                ("refresh_token", token),
            ])
        };
        let expired = oauth.refresh(&request("rt-old"), start + 180 * day, "http://x/rest/");
        assert_eq!(
            (expired.status, &expired.body["error"]),
            (400, &json!("invalid_grant"))
        );
        // A day before the end it works, and the new token lives 180 days from now.
        let ok = oauth.refresh(&request("rt-young"), start + 179 * day, "http://x/rest/");
        assert_eq!(ok.status, 200, "{}", ok.body);
        let rotated = ok.body["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let later = start + (179 + 179) * day;
        let ok = oauth.refresh(&request(&rotated), later, "http://x/rest/");
        assert_eq!(ok.status, 200, "{}", ok.body);
        let rotated = ok.body["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let too_late = later + 180 * day;
        let expired = oauth.refresh(&request(&rotated), too_late, "http://x/rest/");
        assert_eq!(expired.status, 400, "{}", expired.body);
        assert_eq!(oauth.refreshes, 2);
    }
}
