//! Why credentials could not be read: [`ConfigError`]. Never carries a webhook code or a
//! token; variables are named as read.

use super::names::{ENV_ACCESS_TOKEN, ENV_PORTAL_URL, ENV_WEBHOOK_URL};
use crate::bitrix::token_file::TokenFileError;

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
