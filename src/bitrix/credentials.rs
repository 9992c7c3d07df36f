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

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

use reqwest::Url;

use super::token_file::{TokenFileError, read_token_file};
use crate::secrets::Redacted;
pub use crate::variables::Variables;

/// The environment variable holding an incoming-webhook URL.
pub const ENV_WEBHOOK_URL: &str = "PAYSYNC_WEBHOOK_URL";
/// The environment variable holding the portal address for OAuth calls.
pub const ENV_PORTAL_URL: &str = "PAYSYNC_PORTAL_URL";
/// The environment variable holding an OAuth access token.
pub const ENV_ACCESS_TOKEN: &str = "PAYSYNC_ACCESS_TOKEN";
/// The environment variable holding an OAuth refresh token.
pub const ENV_REFRESH_TOKEN: &str = "PAYSYNC_REFRESH_TOKEN";
/// The environment variable holding the OAuth app's client ID.
pub const ENV_CLIENT_ID: &str = "PAYSYNC_CLIENT_ID";
/// The environment variable holding the OAuth app's client secret.
pub const ENV_CLIENT_SECRET: &str = "PAYSYNC_CLIENT_SECRET";
/// The environment variable overriding the OAuth token endpoint.
pub const ENV_OAUTH_URL: &str = "PAYSYNC_OAUTH_URL";
pub use super::token_file::ENV_TOKEN_FILE;
/// The token endpoint the docs recommend for cloud and on-premise portals (§2.3).
pub const DEFAULT_TOKEN_URL: &str = "https://oauth.bitrix.info/oauth/token/";

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

/// Why credentials could not be taken from the environment or a URL. Never carries a
/// webhook code or a token: URLs are shown through `masked`. Variables are named as read
/// ([`Variables::shown`]: `TEST_WEBHOOK_URL` under `--env test`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No credentials: the variables read (`None`: an environment that does not map it)
    /// are unset or empty.
    #[error("{}", missing_message(environment.as_deref(), webhook.as_deref(), portal.as_deref(), token.as_deref()))]
    Missing {
        /// The environment whose mapping was read, if any.
        environment: Option<String>,
        webhook: Option<String>,
        portal: Option<String>,
        token: Option<String>,
    },
    #[error("{var} is empty")]
    Empty { var: String },
    #[error(
        "{set} set but {missing} not: refreshing the access token needs \
         {refresh_token} (or a token file), {client_id} and {client_secret}"
    )]
    IncompleteRefresh {
        set: String,
        missing: String,
        refresh_token: String,
        client_id: String,
        client_secret: String,
    },
    /// The token file exists but is not usable.
    #[error(transparent)]
    TokenFile(#[from] TokenFileError),
    #[error("{var} is not valid UTF-8")]
    NotUnicode { var: String },
    /// `reason` is the URL parser's fixed message; the input itself is not shown.
    #[error("{var} is not a valid URL ({reason})")]
    InvalidUrl { var: String, reason: String },
    #[error(
        "{var} ({shown}) must use https; plain http is allowed only for loopback addresses \
         (127.0.0.0/8, ::1, localhost)"
    )]
    InsecureScheme { var: String, shown: String },
    #[error("{var} ({shown}) must not contain a user name, password, query or fragment")]
    UnexpectedUrlParts { var: String, shown: String },
    #[error(
        "{var} ({shown}) is not an incoming-webhook URL: expected \
         https://<portal>/rest/<user_id>/<code>/ with nothing after the code"
    )]
    BadWebhookPath { var: String, shown: String },
    #[error("{var} ({shown}) must be the portal's address, e.g. https://example.bitrix24.com")]
    BadPortalPath { var: String, shown: String },
    #[error("{token} is set but {portal} is not")]
    MissingPortalUrl { portal: String, token: String },
    #[error("{portal} is set but {token} is not (nor is there a token file, {token_file})")]
    MissingAccessToken {
        portal: String,
        token: String,
        token_file: String,
    },
    /// The environment pins its portal (`portal:` in the project file) and the
    /// credentials point at another one: refused before the first request.
    #[error(
        "environment {environment} is pinned to the portal {pinned} (`portal:` in the project \
         file), but {var} points at {found}: nothing was sent; set {var} to that portal's \
         credentials (or change the pin if the portal really moved)"
    )]
    OtherPortal {
        environment: String,
        pinned: String,
        var: String,
        found: String,
    },
}

fn missing_message(
    environment: Option<&str>,
    webhook: Option<&str>,
    portal: Option<&str>,
    token: Option<&str>,
) -> String {
    let shape = "https://<portal>/rest/<user_id>/<code>/";
    let oauth = match (portal, token) {
        (Some(portal), Some(token)) => Some(format!("{portal} and {token}")),
        _ => None,
    };
    let wanted = match (webhook, oauth) {
        (Some(webhook), Some(oauth)) => format!("set {webhook} ({shape}), or {oauth}"),
        (Some(webhook), None) => format!("set {webhook} ({shape})"),
        (None, Some(oauth)) => format!("set {oauth}"),
        (None, None) => String::new(),
    };
    match environment {
        None => format!("no portal credentials: {wanted}"),
        Some(env) if wanted.is_empty() => format!(
            "environment {env} maps no portal credentials, and no other variable is read under \
             it: map {ENV_WEBHOOK_URL} (or {ENV_PORTAL_URL} and {ENV_ACCESS_TOKEN}) to the \
             variables holding its portal's in its `credentials` in the project file"
        ),
        Some(env) => format!(
            "no portal credentials for environment {env}: {wanted} (unset and empty are the \
             same; no other variable is read under an environment)"
        ),
    }
}

impl From<crate::variables::NotUnicode> for ConfigError {
    fn from(e: crate::variables::NotUnicode) -> ConfigError {
        ConfigError::NotUnicode { var: e.var }
    }
}

/// Reads credentials from paysync's own variables (see the module docs): no environment.
pub fn credentials_from_env() -> Result<Credentials, ConfigError> {
    credentials_from_variables(&Variables::own(), None)
}

/// Reads credentials from the variables `vars` names (an environment's mapping: a
/// variable it does not map is not read). With `pin` (the environment's `portal:`), the
/// credentials must point at that portal, the token file's `client_endpoint` included.
/// A webhook URL wins over OAuth variables; empty variables count as unset. For OAuth,
/// an existing token file supplies both tokens in place of the access and refresh
/// tokens: it is newer, since the refresh token rotates.
pub fn credentials_from_variables(
    vars: &Variables,
    pin: Option<&str>,
) -> Result<Credentials, ConfigError> {
    let credentials = credentials_from_lookup(vars, |var| vars.read(var).map_err(Into::into))?;
    match (pin, vars.environment()) {
        (Some(pin), environment) => credentials.pinned_to(pin, environment.unwrap_or_default()),
        (None, _) => Ok(credentials),
    }
}

/// [`credentials_from_variables`] over any variable lookup (paysync's variable → its
/// value, unset, empty and unmapped as `None`), so it is testable without touching the
/// process environment.
fn credentials_from_lookup(
    vars: &Variables,
    lookup: impl Fn(&'static str) -> Result<Option<String>, ConfigError>,
) -> Result<Credentials, ConfigError> {
    let get = |var| lookup(var).map(|v| v.filter(|s| !s.trim().is_empty()));
    let shown = |var| vars.shown(var);
    if let Some(url) = get(ENV_WEBHOOK_URL)? {
        return webhook(url.trim(), &shown(ENV_WEBHOOK_URL), vars);
    }
    let token_file = get(ENV_TOKEN_FILE)?.map(|p| PathBuf::from(p.trim()));
    let stored = match &token_file {
        Some(path) => read_token_file(path)?,
        None => None,
    };
    let portal = get(ENV_PORTAL_URL)?;
    let access = match &stored {
        Some(stored) => Some(stored.access_token.expose().clone()),
        None => get(ENV_ACCESS_TOKEN)?,
    };
    let (portal, access) = match (portal, access) {
        (Some(portal), Some(access)) => (portal, access),
        (None, Some(_)) => {
            return Err(ConfigError::MissingPortalUrl {
                portal: shown(ENV_PORTAL_URL),
                token: shown(ENV_ACCESS_TOKEN),
            });
        }
        (Some(_), None) => {
            return Err(ConfigError::MissingAccessToken {
                portal: shown(ENV_PORTAL_URL),
                token: shown(ENV_ACCESS_TOKEN),
                token_file: shown(ENV_TOKEN_FILE),
            });
        }
        (None, None) => {
            let mapped = |var| vars.name(var).map(str::to_owned);
            return Err(ConfigError::Missing {
                environment: vars.environment().map(str::to_owned),
                webhook: mapped(ENV_WEBHOOK_URL),
                portal: mapped(ENV_PORTAL_URL),
                token: mapped(ENV_ACCESS_TOKEN),
            });
        }
    };
    let refresh_token = match &stored {
        Some(stored) => Some(stored.refresh_token.expose().clone()),
        None => get(ENV_REFRESH_TOKEN)?,
    };
    let parts = [
        (ENV_REFRESH_TOKEN, refresh_token),
        (ENV_CLIENT_ID, get(ENV_CLIENT_ID)?),
        (ENV_CLIENT_SECRET, get(ENV_CLIENT_SECRET)?),
    ];
    let refresh = match parts {
        [
            (_, Some(refresh_token)),
            (_, Some(client_id)),
            (_, Some(client_secret)),
        ] => {
            let mut config =
                RefreshConfig::new(&client_id, &client_secret, &refresh_token)?.named(vars);
            if let Some(url) = get(ENV_OAUTH_URL)? {
                config = config.with_token_url_from(&url, &shown(ENV_OAUTH_URL))?;
            }
            if let Some(path) = &token_file {
                config = config.with_token_file(path.clone());
            }
            if let Some(stored) = &stored {
                config = config.with_refresh_obtained_at(stored.refresh_obtained_at);
            }
            Some(config)
        }
        [(_, None), (_, None), (_, None)] => None,
        // The token file's refresh token alone, without the app's credentials, is not
        // an attempt at configuring refresh: the file may come from another tool.
        [_, (_, None), (_, None)] if stored.is_some() => None,
        parts => {
            let names = |present: bool| {
                parts
                    .iter()
                    .filter(|(_, v)| v.is_some() == present)
                    .map(|(name, _)| shown(name))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let (set, missing) = (names(true), names(false));
            let verb = |names: &str| if names.contains(',') { "are" } else { "is" };
            return Err(ConfigError::IncompleteRefresh {
                set: format!("{set} {}", verb(&set)),
                missing: format!("{missing} {}", verb(&missing)),
                refresh_token: shown(ENV_REFRESH_TOKEN),
                client_id: shown(ENV_CLIENT_ID),
                client_secret: shown(ENV_CLIENT_SECRET),
            });
        }
    };
    let mut credentials = oauth(
        portal.trim(),
        access.trim(),
        refresh,
        &shown(ENV_PORTAL_URL),
        vars,
    )?;
    if let (Some(raw), Credentials::AccessToken { base, endpoint, .. }) = (
        stored.as_ref().and_then(|s| s.client_endpoint.as_deref()),
        &mut credentials,
    ) {
        match accept_client_endpoint(base, raw) {
            Ok(url) => *endpoint = Some(url),
            Err(refusal) => tracing::warn!(
                "the token file's client_endpoint is not used: {refusal}; calls go to {}",
                host_port(base)
            ),
        }
    }
    Ok(credentials)
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

fn webhook(s: &str, var: &str, vars: &Variables) -> Result<Credentials, ConfigError> {
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

fn oauth(
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

/// `host[:port]` of a URL (the port only when it is not the scheme's default).
pub(crate) fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The zones of Bitrix24's cloud: a cloud portal is `<name>.bitrix24.<zone>`.
pub const BITRIX24_CLOUD_ZONES: &[&str] = &[
    "com", "ru", "de", "eu", "es", "fr", "it", "pl", "by", "kz", "ua", "uk", "co.uk", "in", "cn",
    "jp", "vn", "id", "co", "mx", "com.br", "com.tr",
];

/// Whether `host` is a Bitrix24 cloud portal's host (`<name>.bitrix24.<zone>`, one of
/// [`BITRIX24_CLOUD_ZONES`]).
pub fn is_bitrix24_cloud_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    BITRIX24_CLOUD_ZONES.iter().any(|zone| {
        host.strip_suffix(&format!(".bitrix24.{zone}"))
            .is_some_and(|name| !name.is_empty() && !name.contains('.'))
    })
}

/// Why a `client_endpoint` from a refresh answer (or the token file) is not used. Shows
/// the offered host only (escaped), never the rest of the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointRefusal {
    #[error("the client_endpoint the OAuth server named is not a URL")]
    NotAUrl,
    #[error(
        "client_endpoint {host} is not https (plain http only on loopback, for a loopback portal)"
    )]
    Insecure { host: String },
    #[error("client_endpoint {host} has a user name, password, query or fragment")]
    UnexpectedParts { host: String },
    #[error("client_endpoint {host} is not a REST base (…/rest/)")]
    NotRest { host: String },
    #[error(
        "client_endpoint {host} is another host than the portal {portal}, and not a move \
         between Bitrix24 cloud portals"
    )]
    OtherHost { host: String, portal: String },
}

/// Checks a `client_endpoint` (bitrix24-api.md §2.3: the REST base for the calls after
/// a refresh) against the configured portal `base` before any token is sent there. An
/// attacker who controls the refresh answer (a hostile proxy, a misconfigured
/// `PAYSYNC_OAUTH_URL`) could otherwise send every later call, token and settings
/// included, to a host of their choosing. Accepted only when all of these hold:
///
/// - it is an `https` URL (plain `http` only to a loopback address when the configured
///   portal is itself on loopback: tests and local emulators) with no user info, query or
///   fragment, and its path is `/rest/` (`/rest` is completed);
/// - its host is the configured portal's host (any port, case-insensitive), **or** both
///   hosts are Bitrix24 cloud portals (`<name>.bitrix24.<zone>`, [`BITRIX24_CLOUD_ZONES`]):
///   a cloud portal renamed within the cloud. An on-premise portal's endpoint can only
///   keep its host.
pub fn accept_client_endpoint(base: &Url, raw: &str) -> Result<Url, EndpointRefusal> {
    let mut url = Url::parse(raw.trim()).map_err(|_| EndpointRefusal::NotAUrl)?;
    let Some(host) = url.host_str().filter(|h| !h.is_empty()).map(str::to_owned) else {
        return Err(EndpointRefusal::NotAUrl);
    };
    let shown = crate::untrusted::portal_text(&host);
    let secure = match url.scheme() {
        "https" => true,
        "http" => is_loopback(&url) && is_loopback(base),
        _ => false,
    };
    if !secure {
        return Err(EndpointRefusal::Insecure { host: shown });
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(EndpointRefusal::UnexpectedParts { host: shown });
    }
    match url.path() {
        "/rest/" => {}
        "/rest" => url.set_path("/rest/"),
        _ => return Err(EndpointRefusal::NotRest { host: shown }),
    }
    let portal = base.host_str().unwrap_or_default();
    let same_host = host.eq_ignore_ascii_case(portal);
    let cloud_move = is_bitrix24_cloud_host(portal) && is_bitrix24_cloud_host(&host);
    if !(same_host || cloud_move) {
        return Err(EndpointRefusal::OtherHost {
            host: shown,
            portal: portal.to_owned(),
        });
    }
    Ok(url)
}

/// A portal address as recorded in a state file (`scheme://host[:port]`), checked like a
/// credentials URL (https, or http to a loopback address; no user info, query or
/// fragment) and reduced to its origin. Only the origin is ever shown.
pub fn portal_address(s: &str) -> Result<String, ConfigError> {
    let url = parse_checked(s.trim(), "the portal address")?;
    Ok(url.origin().ascii_serialization())
}

/// Whether two portal addresses name the same portal: same scheme, host (compared
/// without regard to case) and effective port (`https://Portal.example:443` is
/// `https://portal.example`). Addresses that do not parse are compared as written.
pub fn same_portal(a: &str, b: &str) -> bool {
    let identity = |s: &str| {
        Url::parse(s.trim()).ok().map(|u| {
            (
                u.scheme().to_owned(),
                u.host_str().map(str::to_ascii_lowercase),
                u.port_or_known_default(),
            )
        })
    };
    match (identity(a), identity(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Parses a URL and applies the rules shared by webhook and portal URLs: https or
/// loopback http, no user info, query or fragment.
fn parse_checked(s: &str, var: &str) -> Result<Url, ConfigError> {
    let var = var.to_owned();
    // The parser's messages are fixed texts ("relative URL without a base", ...) and
    // never quote the input.
    let url = Url::parse(s).map_err(|e| ConfigError::InvalidUrl {
        var: var.clone(),
        reason: e.to_string(),
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::InvalidUrl {
            var,
            reason: "no host".into(),
        });
    }
    let secure = match url.scheme() {
        "https" => true,
        "http" => is_loopback(&url),
        _ => false,
    };
    if !secure {
        return Err(ConfigError::InsecureScheme {
            var,
            shown: masked(&url),
        });
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(ConfigError::UnexpectedUrlParts {
            var,
            shown: masked(&url),
        });
    }
    Ok(url)
}

/// 127.0.0.0/8, ::1 or `localhost`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A URL safe to show: `scheme://host[:port]` and the path with every segment replaced
/// by `***` except a leading `rest` and the numeric user ID right after it; user info,
/// query and fragment are shown as `***` too. The webhook code can be any segment of a
/// malformed URL, so nothing else is kept.
pub(crate) fn masked(url: &Url) -> String {
    let mut shown = format!("{}://", url.scheme());
    if !url.username().is_empty() || url.password().is_some() {
        shown.push_str("***@");
    }
    shown.push_str(url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    let segments: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    let rest_first = segments.first() == Some(&"rest");
    for (i, segment) in segments.iter().enumerate() {
        shown.push('/');
        let keep = segment.is_empty()
            || (i == 0 && rest_first)
            || (i == 1 && rest_first && segment.bytes().all(|b| b.is_ascii_digit()));
        shown.push_str(if keep { segment } else { "***" });
    }
    if url.query().is_some() {
        shown.push_str("?***");
    }
    if url.fragment().is_some() {
        shown.push_str("#***");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARYCODE123";

    fn base_of(c: &Credentials) -> String {
        c.base().to_string()
    }

    #[test]
    fn https_webhook_is_accepted_and_gets_a_trailing_slash() {
        let c =
            Credentials::from_webhook_url("https://example.bitrix24.com/rest/1/abc123").unwrap();
        assert_eq!(base_of(&c), "https://example.bitrix24.com/rest/1/abc123/");
        assert_eq!(c.portal(), "https://example.bitrix24.com");
        let c =
            Credentials::from_webhook_url("https://example.bitrix24.com/rest/17/abc123/").unwrap();
        assert_eq!(base_of(&c), "https://example.bitrix24.com/rest/17/abc123/");
        let c = Credentials::from_webhook_url("https://portal.example:8443/rest/1/x/").unwrap();
        assert_eq!(c.portal(), "https://portal.example:8443");
    }

    #[test]
    fn http_is_accepted_only_for_loopback() {
        for ok in [
            "http://127.0.0.1:8080/rest/1/code/",
            "http://127.0.0.5/rest/1/code/",
            "http://[::1]:9000/rest/1/code/",
            "http://localhost:3000/rest/1/code/",
            "http://LOCALHOST/rest/1/code/",
        ] {
            let c = Credentials::from_webhook_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(c.is_loopback(), "{ok}");
        }
        let c = Credentials::from_webhook_url("http://127.0.0.1:8080/rest/1/code/").unwrap();
        assert_eq!(c.portal(), "http://127.0.0.1:8080");
        let c = Credentials::from_webhook_url("http://[::1]:9000/rest/1/code/").unwrap();
        assert_eq!(c.portal(), "http://[::1]:9000");

        for bad in [
            "http://example.bitrix24.com/rest/1/CANARYCODE123/",
            "http://10.0.0.1/rest/1/CANARYCODE123/",
            "http://128.0.0.1/rest/1/CANARYCODE123/",
            "http://[::2]/rest/1/CANARYCODE123/",
            "http://localhost.example.com/rest/1/CANARYCODE123/",
            "ftp://127.0.0.1/rest/1/CANARYCODE123/",
        ] {
            let err = Credentials::from_webhook_url(bad).unwrap_err();
            assert!(
                matches!(err, ConfigError::InsecureScheme { .. }),
                "{bad}: {err:?}"
            );
            let text = format!("{err} {err:?}");
            assert!(!text.contains(CANARY), "{text}");
            assert!(text.contains("/rest/1/***/"), "{text}");
        }
    }

    #[test]
    fn bad_paths_are_refused_without_showing_the_code() {
        for bad in [
            "https://example.bitrix24.com/",
            "https://example.bitrix24.com/rest/",
            "https://example.bitrix24.com/rest/1/",
            "https://example.bitrix24.com/rest/x/CANARYCODE123/",
            "https://example.bitrix24.com/rest/1/CANARYCODE123/profile",
            "https://example.bitrix24.com/rest/1/CANARYCODE123/crm.deal.add.json",
            "https://example.bitrix24.com/api/1/CANARYCODE123/",
            "https://example.bitrix24.com/CANARYCODE123",
            "https://example.bitrix24.com/rest/1/CANARY%20CODE123/",
        ] {
            let err = Credentials::from_webhook_url(bad).unwrap_err();
            assert!(
                matches!(err, ConfigError::BadWebhookPath { .. }),
                "{bad}: {err:?}"
            );
            let text = format!("{err} {err:?}");
            assert!(!text.contains("CANARY"), "{text}");
        }
        let err = Credentials::from_webhook_url(
            "https://example.bitrix24.com/rest/1/CANARYCODE123/profile",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("https://example.bitrix24.com/rest/1/***/***"),
            "{err}"
        );
    }

    #[test]
    fn a_numeric_code_is_masked_too() {
        let err =
            Credentials::from_webhook_url("http://example.com/rest/1/987654321/").unwrap_err();
        assert!(!err.to_string().contains("987654321"), "{err}");
        assert!(
            err.to_string().contains("http://example.com/rest/1/***/"),
            "{err}"
        );
    }

    #[test]
    fn user_info_query_and_fragment_are_refused_and_masked() {
        for bad in [
            "https://user:CANARYCODE123@example.com/rest/1/abc/",
            "https://example.com/rest/1/abc/?auth=CANARYCODE123",
            "https://example.com/rest/1/abc/#CANARYCODE123",
        ] {
            let err = Credentials::from_webhook_url(bad).unwrap_err();
            assert!(
                matches!(err, ConfigError::UnexpectedUrlParts { .. }),
                "{bad}: {err:?}"
            );
            assert!(!format!("{err} {err:?}").contains(CANARY), "{err}");
        }
    }

    #[test]
    fn unparsable_urls_are_not_echoed() {
        for bad in [
            "CANARYCODE123",
            "https://",
            "example.com/rest/1/CANARYCODE123/",
            "",
        ] {
            let err = Credentials::from_webhook_url(bad).unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidUrl { .. }),
                "{bad}: {err:?}"
            );
            assert!(!format!("{err} {err:?}").contains(CANARY), "{err}");
        }
    }

    #[test]
    fn credentials_never_show_the_code() {
        let c = Credentials::from_webhook_url("https://example.bitrix24.com/rest/1/CANARYCODE123/")
            .unwrap();
        let text = format!("{c} {c:?} {c:#?} {}", c.portal());
        assert!(!text.contains(CANARY), "{text}");
        assert!(text.contains("https://example.bitrix24.com"), "{text}");

        let t = Credentials::from_access_token("https://example.bitrix24.com", "CANARYCODE123")
            .unwrap();
        let text = format!("{t} {t:?} {t:#?} {}", t.portal());
        assert!(!text.contains(CANARY), "{text}");
    }

    #[test]
    fn access_token_portal_forms() {
        for ok in [
            "https://example.bitrix24.com",
            "https://example.bitrix24.com/",
            "https://example.bitrix24.com/rest/",
            "https://example.bitrix24.com/rest",
        ] {
            let c = Credentials::from_access_token(ok, "tok").unwrap();
            assert_eq!(base_of(&c), "https://example.bitrix24.com/rest/", "{ok}");
            assert_eq!(c.portal(), "https://example.bitrix24.com");
            assert_eq!(c.access_token().unwrap().expose(), "tok");
        }
        assert!(matches!(
            Credentials::from_access_token("https://example.bitrix24.com/other", "t"),
            Err(ConfigError::BadPortalPath { .. })
        ));
        assert!(matches!(
            Credentials::from_access_token("http://example.bitrix24.com", "t"),
            Err(ConfigError::InsecureScheme { .. })
        ));
        assert!(matches!(
            Credentials::from_access_token("https://example.bitrix24.com", " "),
            Err(ConfigError::MissingAccessToken { .. })
        ));
    }

    fn env(
        vars: &[(&'static str, &str)],
    ) -> impl Fn(&'static str) -> Result<Option<String>, ConfigError> {
        let vars: Vec<(&'static str, String)> =
            vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        move |name| {
            Ok(vars
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone()))
        }
    }

    #[test]
    fn environment_lookup() {
        let c = credentials_from_lookup(
            &Variables::own(),
            env(&[(ENV_WEBHOOK_URL, "https://p.example/rest/1/c")]),
        )
        .unwrap();
        assert!(matches!(c, Credentials::Webhook { .. }));

        // The webhook wins over OAuth variables.
        let c = credentials_from_lookup(
            &Variables::own(),
            env(&[
                (ENV_WEBHOOK_URL, "https://p.example/rest/1/c/"),
                (ENV_PORTAL_URL, "https://q.example"),
                (ENV_ACCESS_TOKEN, "tok"),
            ]),
        )
        .unwrap();
        assert_eq!(c.portal(), "https://p.example");

        let c = credentials_from_lookup(
            &Variables::own(),
            env(&[
                (ENV_WEBHOOK_URL, ""),
                (ENV_PORTAL_URL, "https://q.example"),
                (ENV_ACCESS_TOKEN, "tok"),
            ]),
        )
        .unwrap();
        assert!(matches!(c, Credentials::AccessToken { .. }));

        assert!(matches!(
            credentials_from_lookup(&Variables::own(), env(&[])),
            Err(ConfigError::Missing { .. })
        ));
        assert!(matches!(
            credentials_from_lookup(&Variables::own(), env(&[(ENV_ACCESS_TOKEN, "tok")])),
            Err(ConfigError::MissingPortalUrl { .. })
        ));
        assert!(matches!(
            credentials_from_lookup(
                &Variables::own(),
                env(&[(ENV_PORTAL_URL, "https://q.example")])
            ),
            Err(ConfigError::MissingAccessToken { .. })
        ));
        let err = credentials_from_lookup(
            &Variables::own(),
            env(&[(ENV_WEBHOOK_URL, "http://example.com/rest/1/CANARYCODE123/")]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("PAYSYNC_WEBHOOK_URL (http://example.com/rest/1/***/)")
        );
    }

    fn refresh_of(c: &Credentials) -> &RefreshConfig {
        c.refresh().expect("refresh configured")
    }

    #[test]
    fn oauth_refresh_from_the_environment() {
        let c = credentials_from_lookup(
            &Variables::own(),
            env(&[
                (ENV_PORTAL_URL, "https://q.example"),
                (ENV_ACCESS_TOKEN, "tok"),
                (ENV_REFRESH_TOKEN, "ref"),
                (ENV_CLIENT_ID, "app.1"),
                (ENV_CLIENT_SECRET, "sec"),
            ]),
        )
        .unwrap();
        let r = refresh_of(&c);
        assert_eq!(r.token_url().as_str(), DEFAULT_TOKEN_URL);
        assert_eq!(r.refresh_token.expose(), "ref");
        assert_eq!(r.client_secret.expose(), "sec");
        assert_eq!(r.client_id, "app.1");
        assert_eq!(r.token_file(), None);
        assert_eq!(
            c.to_string(),
            "OAuth access token (refreshable) for https://q.example"
        );

        let c = credentials_from_lookup(
            &Variables::own(),
            env(&[
                (ENV_PORTAL_URL, "http://127.0.0.1:8080"),
                (ENV_ACCESS_TOKEN, "tok"),
                (ENV_REFRESH_TOKEN, "ref"),
                (ENV_CLIENT_ID, "app.1"),
                (ENV_CLIENT_SECRET, "sec"),
                (ENV_OAUTH_URL, "http://127.0.0.1:8080/oauth/token/"),
                (ENV_TOKEN_FILE, "/nonexistent/dir/tokens.json"),
            ]),
        )
        .unwrap();
        let r = refresh_of(&c);
        assert_eq!(r.token_url().as_str(), "http://127.0.0.1:8080/oauth/token/");
        assert_eq!(
            r.token_file(),
            Some(Path::new("/nonexistent/dir/tokens.json"))
        );

        // No refresh variables: a plain access token.
        let c = credentials_from_lookup(
            &Variables::own(),
            env(&[
                (ENV_PORTAL_URL, "https://q.example"),
                (ENV_ACCESS_TOKEN, "tok"),
            ]),
        )
        .unwrap();
        assert!(c.refresh().is_none());
    }

    #[test]
    fn incomplete_refresh_variables_are_an_error() {
        let err = credentials_from_lookup(
            &Variables::own(),
            env(&[
                (ENV_PORTAL_URL, "https://q.example"),
                (ENV_ACCESS_TOKEN, "tok"),
                (ENV_REFRESH_TOKEN, "CANARYCODE123"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "PAYSYNC_REFRESH_TOKEN is set but PAYSYNC_CLIENT_ID, PAYSYNC_CLIENT_SECRET are not: \
             refreshing the access token needs PAYSYNC_REFRESH_TOKEN (or a token file), \
             PAYSYNC_CLIENT_ID and PAYSYNC_CLIENT_SECRET"
        );
        let err = credentials_from_lookup(
            &Variables::own(),
            env(&[
                (ENV_PORTAL_URL, "https://q.example"),
                (ENV_ACCESS_TOKEN, "tok"),
                (ENV_CLIENT_ID, "app"),
                (ENV_CLIENT_SECRET, "CANARYCODE123"),
            ]),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "PAYSYNC_CLIENT_ID, PAYSYNC_CLIENT_SECRET are set but PAYSYNC_REFRESH_TOKEN is not"
            ),
            "{err}"
        );
        assert!(!format!("{err} {err:?}").contains(CANARY));
    }

    #[test]
    fn the_token_endpoint_must_be_https_or_loopback() {
        let base = [
            (ENV_PORTAL_URL, "https://q.example"),
            (ENV_ACCESS_TOKEN, "tok"),
            (ENV_REFRESH_TOKEN, "ref"),
            (ENV_CLIENT_ID, "app"),
            (ENV_CLIENT_SECRET, "sec"),
        ];
        let with = |url: &'static str| {
            let mut vars = base.to_vec();
            vars.push((ENV_OAUTH_URL, url));
            credentials_from_lookup(&Variables::own(), env(&vars))
        };
        assert!(with("https://oauth.example/oauth/token/").is_ok());
        assert!(with("http://localhost:9000/oauth/token/").is_ok());
        assert!(matches!(
            with("http://oauth.example/oauth/token/"),
            Err(ConfigError::InsecureScheme { var, .. }) if var == ENV_OAUTH_URL
        ));
        assert!(matches!(
            with("https://oauth.example/oauth/token/?client_secret=CANARYCODE123"),
            Err(ConfigError::UnexpectedUrlParts { .. })
        ));
        assert!(matches!(
            RefreshConfig::new("app", " ", "ref"),
            Err(ConfigError::Empty { var }) if var == ENV_CLIENT_SECRET
        ));
    }

    #[test]
    fn the_token_file_wins_over_the_environment_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let path_text = path.display().to_string();
        let path_text = path_text.as_str();
        let vars = [
            (ENV_PORTAL_URL, "https://q.example"),
            (ENV_ACCESS_TOKEN, "env-access"),
            (ENV_REFRESH_TOKEN, "env-refresh"),
            (ENV_CLIENT_ID, "app"),
            (ENV_CLIENT_SECRET, "sec"),
            (ENV_TOKEN_FILE, path_text),
        ];
        // No file yet: the environment's tokens, and the file is where refreshes go.
        let c = credentials_from_lookup(&Variables::own(), env(&vars)).unwrap();
        assert_eq!(c.access_token().unwrap().expose(), "env-access");
        assert_eq!(refresh_of(&c).refresh_token.expose(), "env-refresh");
        assert_eq!(refresh_of(&c).token_file(), Some(path.as_path()));

        std::fs::write(
            &path,
            r#"{"access_token": "file-access", "refresh_token": "file-refresh", "expires": 1, "saved_at": 0}"#,
        )
        .unwrap();
        let c = credentials_from_lookup(&Variables::own(), env(&vars)).unwrap();
        assert_eq!(c.access_token().unwrap().expose(), "file-access");
        assert_eq!(refresh_of(&c).refresh_token.expose(), "file-refresh");

        // The file makes PAYSYNC_ACCESS_TOKEN and PAYSYNC_REFRESH_TOKEN optional.
        let c = credentials_from_lookup(
            &Variables::own(),
            env(&[
                (ENV_PORTAL_URL, "https://q.example"),
                (ENV_CLIENT_ID, "app"),
                (ENV_CLIENT_SECRET, "sec"),
                (ENV_TOKEN_FILE, path_text),
            ]),
        )
        .unwrap();
        assert_eq!(c.access_token().unwrap().expose(), "file-access");
        // A file alone, without the app's credentials: the token, not refreshable.
        let c = credentials_from_lookup(
            &Variables::own(),
            env(&[
                (ENV_PORTAL_URL, "https://q.example"),
                (ENV_TOKEN_FILE, path_text),
            ]),
        )
        .unwrap();
        assert!(c.refresh().is_none());

        // A file that exists but is not a token file is an error, not a fallback.
        std::fs::write(&path, "CANARYCODE123").unwrap();
        let err = credentials_from_lookup(&Variables::own(), env(&vars)).unwrap_err();
        assert!(matches!(err, ConfigError::TokenFile(_)), "{err:?}");
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("PAYSYNC_TOKEN_FILE") && text.contains("not valid JSON"),
            "{text}"
        );
        assert!(!text.contains(CANARY), "{text}");
    }

    #[test]
    fn client_endpoints_are_accepted_only_for_the_portal_or_a_cloud_move() {
        let cloud = Url::parse("https://acme.bitrix24.com/rest/").unwrap();
        let onprem = Url::parse("https://crm.acme.example/rest/").unwrap();
        let loopback = Url::parse("http://127.0.0.1:8080/rest/").unwrap();
        let ok = |base: &Url, raw: &str| {
            accept_client_endpoint(base, raw)
                .unwrap_or_else(|e| panic!("{raw}: {e}"))
                .to_string()
        };
        assert_eq!(
            ok(&cloud, "https://acme.bitrix24.com/rest/"),
            "https://acme.bitrix24.com/rest/"
        );
        assert_eq!(
            ok(&cloud, "https://ACME.bitrix24.com/rest"),
            "https://acme.bitrix24.com/rest/"
        );
        assert_eq!(
            ok(&cloud, "https://acme-new.bitrix24.de/rest/"),
            "https://acme-new.bitrix24.de/rest/"
        );
        assert_eq!(
            ok(&onprem, "https://crm.acme.example:8443/rest/"),
            "https://crm.acme.example:8443/rest/"
        );
        assert_eq!(
            ok(&loopback, "http://127.0.0.1:9000/rest/"),
            "http://127.0.0.1:9000/rest/"
        );

        let refused = |base: &Url, raw: &str| {
            let err = accept_client_endpoint(base, raw).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains(CANARY), "{text}");
            err
        };
        assert!(matches!(
            refused(&cloud, "https://evil.example/rest/"),
            EndpointRefusal::OtherHost { .. }
        ));
        // A cloud portal is not moved to a look-alike, nor an on-premise one into the cloud.
        assert!(matches!(
            refused(&cloud, "https://acme.bitrix24.com.evil.example/rest/"),
            EndpointRefusal::OtherHost { .. }
        ));
        assert!(matches!(
            refused(&cloud, "https://a.b.bitrix24.com/rest/"),
            EndpointRefusal::OtherHost { .. }
        ));
        assert!(matches!(
            refused(&onprem, "https://acme.bitrix24.com/rest/"),
            EndpointRefusal::OtherHost { .. }
        ));
        assert!(matches!(
            refused(&cloud, "http://acme.bitrix24.com/rest/"),
            EndpointRefusal::Insecure { .. }
        ));
        assert!(matches!(
            refused(&cloud, "http://127.0.0.1/rest/"),
            EndpointRefusal::Insecure { .. }
        ));
        assert!(matches!(
            refused(&loopback, "http://localhost:9000/rest/"),
            EndpointRefusal::OtherHost { .. }
        ));
        assert!(matches!(
            refused(&cloud, "ftp://acme.bitrix24.com/rest/"),
            EndpointRefusal::Insecure { .. }
        ));
        assert!(matches!(
            refused(&cloud, "https://acme.bitrix24.com/rest/1/CANARYCODE123/"),
            EndpointRefusal::NotRest { .. }
        ));
        assert!(matches!(
            refused(&cloud, "https://acme.bitrix24.com/rest/?auth=CANARYCODE123"),
            EndpointRefusal::UnexpectedParts { .. }
        ));
        assert!(matches!(
            refused(&cloud, "https://u:CANARYCODE123@acme.bitrix24.com/rest/"),
            EndpointRefusal::UnexpectedParts { .. }
        ));
        assert!(matches!(
            refused(&cloud, "CANARYCODE123"),
            EndpointRefusal::NotAUrl
        ));
        assert_eq!(
            refused(&cloud, "https://evil.example/rest/").to_string(),
            "client_endpoint evil.example is another host than the portal acme.bitrix24.com, \
             and not a move between Bitrix24 cloud portals"
        );
        assert!(is_bitrix24_cloud_host("acme.bitrix24.com.br"));
        assert!(!is_bitrix24_cloud_host("bitrix24.com"));
    }

    #[test]
    fn the_token_file_supplies_the_endpoint_and_the_refresh_token_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let path_text = path.display().to_string();
        let vars = [
            (ENV_PORTAL_URL, "https://acme.bitrix24.com"),
            (ENV_CLIENT_ID, "app"),
            (ENV_CLIENT_SECRET, "sec"),
            (ENV_TOKEN_FILE, path_text.as_str()),
        ];
        std::fs::write(
            &path,
            r#"{"access_token": "a", "refresh_token": "r", "refresh_token_obtained_at": 1700000000,
                "client_endpoint": "https://acme2.bitrix24.com/rest/"}"#,
        )
        .unwrap();
        let c = credentials_from_lookup(&Variables::own(), env(&vars)).unwrap();
        assert_eq!(c.endpoint().as_str(), "https://acme2.bitrix24.com/rest/");
        assert_eq!(
            c.portal(),
            "https://acme.bitrix24.com",
            "the portal stays as configured"
        );
        assert_eq!(
            refresh_of(&c).refresh_origin(),
            RefreshOrigin::TokenFile {
                obtained_at: Some(1_700_000_000)
            }
        );
        // An endpoint the rule refuses is not used; an older file: age unknown.
        std::fs::write(
            &path,
            r#"{"access_token": "a", "refresh_token": "r", "client_endpoint": "https://evil.example/rest/"}"#,
        )
        .unwrap();
        let c = credentials_from_lookup(&Variables::own(), env(&vars)).unwrap();
        assert_eq!(c.endpoint().as_str(), "https://acme.bitrix24.com/rest/");
        assert_eq!(
            refresh_of(&c).refresh_origin(),
            RefreshOrigin::TokenFile { obtained_at: None }
        );
        let c = credentials_from_lookup(
            &Variables::own(),
            env(&[
                (ENV_PORTAL_URL, "https://q.example"),
                (ENV_ACCESS_TOKEN, "tok"),
                (ENV_REFRESH_TOKEN, "ref"),
                (ENV_CLIENT_ID, "app.1"),
                (ENV_CLIENT_SECRET, "sec"),
            ]),
        )
        .unwrap();
        assert_eq!(refresh_of(&c).refresh_origin(), RefreshOrigin::Environment);
    }

    #[test]
    fn refresh_secrets_never_show() {
        let refresh = RefreshConfig::new("CANARYCODE123", "CANARYCODE123", "CANARYCODE123")
            .unwrap()
            .with_token_file("/tmp/tokens.json");
        let c = Credentials::oauth("https://q.example", "CANARYCODE123", Some(refresh)).unwrap();
        let text = format!("{c} {c:?} {c:#?} {:?}", c.refresh());
        assert!(!text.contains(CANARY), "{text}");
        assert!(text.contains("oauth.bitrix.info"), "{text}");
    }
}
