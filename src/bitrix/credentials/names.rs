//! The names of paysync's credential variables (each may be mapped to another name by
//! an environment: [`crate::variables`]) and the default token endpoint.

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
pub use crate::bitrix::token_file::ENV_TOKEN_FILE;
/// The token endpoint the docs recommend for cloud and on-premise portals (§2.3).
pub const DEFAULT_TOKEN_URL: &str = "https://oauth.bitrix.info/oauth/token/";
