//! Credentials read from the environment: paysync's own variables, or only those an
//! environment maps ([`Variables`]), checked against the portal it pins.

use std::path::PathBuf;

use super::error::ConfigError;
use super::names::*;
use super::url::{accept_client_endpoint, host_port};
use super::{Credentials, RefreshConfig, oauth, webhook};
use crate::bitrix::token_file::read_token_file;
use crate::variables::Variables;

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
pub(super) fn credentials_from_lookup(
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
