//! Portal credentials: where to send requests and how to authenticate them.
//!
//! Credentials come from the environment only (SPEC §3): an incoming webhook URL
//! (`PAYSYNC_WEBHOOK_URL`, the secret code is part of its path) or an OAuth access token
//! (`PAYSYNC_PORTAL_URL` + `PAYSYNC_ACCESS_TOKEN`), refreshable when
//! `PAYSYNC_REFRESH_TOKEN`, `PAYSYNC_CLIENT_ID` and `PAYSYNC_CLIENT_SECRET` are all set
//! (`PAYSYNC_OAUTH_URL` overrides the token endpoint; `PAYSYNC_TOKEN_FILE` keeps the
//! rotated tokens between runs and, when it exists, wins over the environment's tokens).
//!
//! This module validates those values and owns the rule that HTTPS is required except for
//! loopback addresses (the portal and the token endpoint alike). It must never show a
//! secret: the webhook code, the tokens and the client secret live in [`Redacted`], and
//! error messages show URLs through `masked`, which replaces every path segment that
//! could be the code with `***`. It does no I/O besides reading the environment and the
//! token file.
//!
//! Files: [`names`] (the variables), [`error`] ([`ConfigError`]), [`lookup`] (reading
//! them from the environment), [`url`] (the URL policy and masking); the credential
//! types are here.

pub mod error;
pub mod lookup;
pub mod names;
pub mod url;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use reqwest::Url;

pub use self::error::ConfigError;
pub use self::names::{
    DEFAULT_TOKEN_URL, ENV_ACCESS_TOKEN, ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_OAUTH_URL,
    ENV_PORTAL_URL, ENV_REFRESH_TOKEN, ENV_TOKEN_FILE, ENV_WEBHOOK_URL,
};
pub use self::url::{
    BITRIX24_CLOUD_ZONES, EndpointRefusal, accept_client_endpoint, is_bitrix24_cloud_host,
    portal_address, same_portal,
};
pub(crate) use self::url::{host_port, is_loopback, masked, parse_checked};
use crate::secrets::Redacted;
pub use crate::variables::Variables;

/// What it takes to refresh an expired OAuth access token (bitrix24-api.md §2.3).
///
/// Built with [`RefreshConfig::new`] (the default token endpoint, no token file), then
/// optionally [`RefreshConfig::with_token_url`] and [`RefreshConfig::with_token_file`].
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshConfig {
    pub(crate) client_id: String,
    pub(crate) client_secret: Redacted<String>,
    pub(crate) refresh_token: Redacted<String>,
    pub(crate) token_url: Url,
    pub(crate) token_file: Option<PathBuf>,
    /// Where the refresh token came from, and when it was obtained if known.
    pub(crate) refresh_origin: RefreshOrigin,
    /// Where the variables were read from, for messages.
    pub(crate) vars: Variables,
}

/// Where the current refresh token came from (for the warning before it expires).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOrigin {
    /// The environment (`PAYSYNC_REFRESH_TOKEN`): its age is unknown.
    Environment,
    /// The token file, which records when it was obtained (Unix time) or, when written
    /// by an older paysync, does not (`None`).
    TokenFile { obtained_at: Option<i64> },
}

impl RefreshConfig {
    /// The app's client ID and secret and the current refresh token; none may be empty.
    /// The token endpoint is [`DEFAULT_TOKEN_URL`].
    pub fn new(
        client_id: &str,
        client_secret: &str,
        refresh_token: &str,
    ) -> Result<RefreshConfig, ConfigError> {
        let non_empty = |value: &str, var: &'static str| {
            let value = value.trim();
            if value.is_empty() {
                Err(ConfigError::Empty {
                    var: var.to_owned(),
                })
            } else {
                Ok(value.to_owned())
            }
        };
        let client_secret = non_empty(client_secret, ENV_CLIENT_SECRET)?;
        let refresh_token = non_empty(refresh_token, ENV_REFRESH_TOKEN)?;
        Ok(RefreshConfig {
            client_id: non_empty(client_id, ENV_CLIENT_ID)?,
            client_secret: Redacted::new(client_secret),
            refresh_token: Redacted::new(refresh_token),
            token_url: Url::parse(DEFAULT_TOKEN_URL).expect("the default token URL is valid"),
            token_file: None,
            refresh_origin: RefreshOrigin::Environment,
            vars: Variables::own(),
        })
    }

    /// The same, read from `vars` (messages name the variables read there).
    pub fn named(self, vars: &Variables) -> RefreshConfig {
        RefreshConfig {
            vars: vars.clone(),
            ..self
        }
    }

    /// Another token endpoint (an on-premise portal's, or an emulator's): https, or
    /// plain http to a loopback address; no user info, query or fragment.
    pub fn with_token_url(self, url: &str) -> Result<RefreshConfig, ConfigError> {
        self.with_token_url_from(url, ENV_OAUTH_URL)
    }

    /// [`RefreshConfig::with_token_url`], read from the variable `var` (named in errors).
    pub fn with_token_url_from(self, url: &str, var: &str) -> Result<RefreshConfig, ConfigError> {
        Ok(RefreshConfig {
            token_url: parse_checked(url.trim(), var)?,
            ..self
        })
    }

    /// How messages name paysync's `var` (see [`Variables::shown`]).
    pub fn shown(&self, var: &str) -> String {
        self.vars.shown(var)
    }

    /// Save every refreshed token pair to `path` (see [`super::oauth`]).
    pub fn with_token_file(self, path: impl Into<PathBuf>) -> RefreshConfig {
        RefreshConfig {
            token_file: Some(path.into()),
            ..self
        }
    }

    /// The token endpoint (it holds no secret; the secrets go in the query).
    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    /// The token file, if any.
    pub fn token_file(&self) -> Option<&Path> {
        self.token_file.as_deref()
    }

    /// The refresh token was read from the token file, which says when it was obtained
    /// (`None`: a file written before paysync recorded it).
    pub fn with_refresh_obtained_at(self, obtained_at: Option<i64>) -> RefreshConfig {
        RefreshConfig {
            refresh_origin: RefreshOrigin::TokenFile { obtained_at },
            ..self
        }
    }

    /// Where the refresh token came from, and when it was obtained if known.
    pub fn refresh_origin(&self) -> RefreshOrigin {
        self.refresh_origin
    }
}

impl fmt::Debug for RefreshConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshConfig")
            .field("client_id", &"<redacted>")
            .field("client_secret", &self.client_secret)
            .field("refresh_token", &self.refresh_token)
            .field("token_url", &self.token_url.as_str())
            .field("token_file", &self.token_file)
            .field("refresh_origin", &self.refresh_origin)
            .finish()
    }
}

/// How paysync authenticates to the portal.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// An incoming webhook: `base` is `https://portal/rest/<user_id>/<code>/` (with the
    /// trailing slash); a method name is appended to it. `vars`: where it was read from.
    Webhook {
        base: Redacted<Url>,
        vars: Variables,
    },
    /// An OAuth access token, sent as `auth` in every JSON body (bitrix24-api.md §2.2).
    /// `base` is `https://portal/rest/`, the configured portal (its identity in the state
    /// file). `endpoint` is the REST base a refresh answer named (`client_endpoint`,
    /// kept in the token file) when it passed [`accept_client_endpoint`]: calls go there
    /// instead of `base`. With `refresh`, an expired token is refreshed once and the call
    /// retried; without, `expired_token` ends the run with a message naming the
    /// variables to set. `pinned`: the environment pins the portal, so no
    /// `client_endpoint` may move calls to another origin.
    AccessToken {
        base: Url,
        token: Redacted<String>,
        refresh: Option<Box<RefreshConfig>>,
        endpoint: Option<Url>,
        vars: Variables,
        pinned: bool,
    },
}

impl Credentials {
    /// Validates an incoming-webhook URL: `https` (or `http` to a loopback address), path
    /// `/rest/<digits>/<code>/`; the trailing slash is added when missing.
    pub fn from_webhook_url(s: &str) -> Result<Credentials, ConfigError> {
        webhook(s.trim(), "webhook URL", &Variables::own())
    }

    /// Validates a portal address and pairs it with an OAuth access token that is not
    /// refreshed. The address may be given as `https://portal`, `https://portal/` or
    /// `https://portal/rest/`.
    pub fn from_access_token(portal: &str, token: &str) -> Result<Credentials, ConfigError> {
        Credentials::oauth(portal, token, None)
    }

    /// OAuth credentials: a portal address (as for [`Credentials::from_access_token`]),
    /// an access token and, to refresh it when it expires, a [`RefreshConfig`].
    pub fn oauth(
        portal: &str,
        access_token: &str,
        refresh: Option<RefreshConfig>,
    ) -> Result<Credentials, ConfigError> {
        oauth(
            portal.trim(),
            access_token.trim(),
            refresh,
            "portal URL",
            &Variables::own(),
        )
    }

    /// These credentials, checked against the portal an environment pins (`pin`, any
    /// address whose origin is the portal's): the webhook or portal URL and an accepted
    /// `client_endpoint` of the token file must have the pin's origin (scheme, host,
    /// port). Refused otherwise, naming both origins, before anything is sent.
    pub fn pinned_to(self, pin: &str, environment: &str) -> Result<Credentials, ConfigError> {
        let refuse = |var: String, found: &Url| ConfigError::OtherPortal {
            environment: environment.to_owned(),
            pinned: crate::untrusted::portal_text(pin),
            var,
            found: found.origin().ascii_serialization(),
        };
        if !same_portal(&self.portal(), pin) {
            return Err(refuse(self.vars().shown(self.address_key()), self.base()));
        }
        match self {
            Credentials::AccessToken {
                endpoint: Some(endpoint),
                ref vars,
                ..
            } if !same_portal(&endpoint.origin().ascii_serialization(), pin) => Err(refuse(
                format!(
                    "the client_endpoint of the token file ({})",
                    vars.shown(ENV_TOKEN_FILE)
                ),
                &endpoint,
            )),
            Credentials::AccessToken {
                base,
                token,
                refresh,
                endpoint,
                vars,
                ..
            } => Ok(Credentials::AccessToken {
                base,
                token,
                refresh,
                endpoint,
                vars,
                pinned: true,
            }),
            webhook => Ok(webhook),
        }
    }

    /// Every secret these credentials hold (the webhook code; the access token, the
    /// refresh token and the client secret), for the program to keep out of what it
    /// prints. The client reports those it learns later to its
    /// [`super::SecretSink`].
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Credentials::Webhook { base, .. } => base
                .expose()
                .path_segments()
                .and_then(|mut segments| segments.nth(2))
                .filter(|code| !code.is_empty())
                .into_iter()
                .collect(),
            Credentials::AccessToken { token, refresh, .. } => {
                let mut secrets = vec![token.expose().as_str()];
                if let Some(refresh) = refresh {
                    secrets.push(refresh.client_secret.expose());
                    secrets.push(refresh.refresh_token.expose());
                }
                secrets
            }
        }
    }

    /// Where these credentials were read from.
    pub fn vars(&self) -> &Variables {
        match self {
            Credentials::Webhook { vars, .. } | Credentials::AccessToken { vars, .. } => vars,
        }
    }

    /// Whether an environment pins the portal (no `client_endpoint` may move calls to
    /// another origin).
    pub(crate) fn is_pinned(&self) -> bool {
        matches!(self, Credentials::AccessToken { pinned: true, .. })
    }

    /// The portal's address, `scheme://host[:port]`, with no path and no credentials. It is
    /// recorded in the state file and compared to refuse state made for another portal.
    pub fn portal(&self) -> String {
        self.base().origin().ascii_serialization()
    }

    /// The portal's host and, when it is not the scheme's default, port (`example.bitrix24.ru`,
    /// `127.0.0.1:8099`): how the portal is named to people (prompts, connection errors).
    /// No scheme, path or credentials.
    pub fn host(&self) -> String {
        host_port(self.base())
    }

    /// The REST base URL that method names are appended to. Holds the webhook code: the
    /// caller must never show or log it.
    pub(crate) fn base(&self) -> &Url {
        match self {
            Credentials::Webhook { base, .. } => base.expose(),
            Credentials::AccessToken { base, .. } => base,
        }
    }

    /// The REST base calls go to at first: the accepted `client_endpoint` of the token
    /// file, else [`Credentials::base`]. Holds the webhook code: never show or log it.
    pub(crate) fn endpoint(&self) -> &Url {
        match self {
            Credentials::AccessToken {
                endpoint: Some(endpoint),
                ..
            } => endpoint,
            _ => self.base(),
        }
    }

    /// The initial access token to put in request bodies, if any (the client keeps the
    /// refreshed ones).
    pub(crate) fn access_token(&self) -> Option<&Redacted<String>> {
        match self {
            Credentials::Webhook { .. } => None,
            Credentials::AccessToken { token, .. } => Some(token),
        }
    }

    /// How to refresh the access token, if that is configured.
    pub fn refresh(&self) -> Option<&RefreshConfig> {
        match self {
            Credentials::Webhook { .. } => None,
            Credentials::AccessToken { refresh, .. } => refresh.as_deref(),
        }
    }

    /// paysync's variable holding the portal's address in these credentials.
    fn address_key(&self) -> &'static str {
        match self {
            Credentials::Webhook { .. } => ENV_WEBHOOK_URL,
            Credentials::AccessToken { .. } => ENV_PORTAL_URL,
        }
    }

    /// The environment variable a user would update when the portal moves, as read
    /// (`TEST_WEBHOOK_URL` under an environment that maps it so).
    pub(crate) fn address_variable(&self) -> String {
        self.vars().shown(self.address_key())
    }

    /// True when the portal is on a loopback address (tests, local emulators).
    pub(crate) fn is_loopback(&self) -> bool {
        is_loopback(self.base())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Webhook { .. } => f
                .debug_struct("Webhook")
                .field("portal", &self.portal())
                .field("code", &"<redacted>")
                .finish(),
            Credentials::AccessToken { token, refresh, .. } => f
                .debug_struct("AccessToken")
                .field("portal", &self.portal())
                .field("token", token)
                .field("refresh", refresh)
                .finish(),
        }
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Webhook { .. } => write!(f, "incoming webhook on {}", self.portal()),
            Credentials::AccessToken { refresh: None, .. } => {
                write!(f, "OAuth access token for {}", self.portal())
            }
            Credentials::AccessToken {
                refresh: Some(_), ..
            } => {
                write!(f, "OAuth access token (refreshable) for {}", self.portal())
            }
        }
    }
}

pub(super) fn webhook(s: &str, var: &str, vars: &Variables) -> Result<Credentials, ConfigError> {
    let mut url = parse_checked(s, var)?;
    let segments: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    let code = match segments.as_slice() {
        ["rest", user, code] | ["rest", user, code, ""]
            if !user.is_empty()
                && user.bytes().all(|b| b.is_ascii_digit())
                && !code.is_empty()
                && code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Some(())
        }
        _ => None,
    };
    if code.is_none() {
        return Err(ConfigError::BadWebhookPath {
            var: var.to_owned(),
            shown: masked(&url),
        });
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(Credentials::Webhook {
        base: Redacted::new(url),
        vars: vars.clone(),
    })
}

pub(super) fn oauth(
    portal: &str,
    token: &str,
    refresh: Option<RefreshConfig>,
    var: &str,
    vars: &Variables,
) -> Result<Credentials, ConfigError> {
    if token.is_empty() {
        return Err(ConfigError::MissingAccessToken {
            portal: vars.shown(ENV_PORTAL_URL),
            token: vars.shown(ENV_ACCESS_TOKEN),
            token_file: vars.shown(ENV_TOKEN_FILE),
        });
    }
    let mut url = parse_checked(portal, var)?;
    if !matches!(url.path(), "" | "/" | "/rest" | "/rest/") {
        return Err(ConfigError::BadPortalPath {
            var: var.to_owned(),
            shown: masked(&url),
        });
    }
    url.set_path("/rest/");
    Ok(Credentials::AccessToken {
        base: url,
        token: Redacted::new(token.to_owned()),
        refresh: refresh.map(Box::new),
        endpoint: None,
        vars: vars.clone(),
        pinned: false,
    })
}
