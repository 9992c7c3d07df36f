//! `paysync auth refresh`: refresh the OAuth token pair on demand and save it to the
//! token file, for a scheduled job (Bitrix24 refresh tokens stop working after 180
//! days; bitrix24-api.md §2.3).
//!
//! One request to the token endpoint, none to the portal. It refuses before sending
//! anything when the credentials cannot refresh or there is no token file (the old
//! refresh token stops working once the new one is issued, so the new pair must be kept),
//! and fails (exit 1) when the new pair cannot be written. It prints no token.

use std::time::{Duration, UNIX_EPOCH};

use super::steps::{Context, runtime};
use crate::bitrix::credentials::{
    ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_REFRESH_TOKEN, ENV_TOKEN_FILE,
};
use crate::bitrix::oauth::REFRESH_TOKEN_LIFETIME_DAYS;
use crate::bitrix::{Rate, RefreshOrigin};
use crate::cli::AuthRefreshArgs;
use crate::error::{AuthRefreshError, Error, exit};

const DAY: i64 = 86_400;

/// `paysync auth refresh [--if-older-than DAYS]`.
pub fn refresh(args: &AuthRefreshArgs, ctx: &Context<'_>) -> Result<i32, Error> {
    let client = ctx.connect(Rate::default())?;
    if !client.uses_oauth() {
        return Err(AuthRefreshError::Webhook {
            variable: client.address_variable(),
        }
        .into());
    }
    let var = |name| client.shown_variable(name);
    let Some(config) = client.refresh_config() else {
        return Err(AuthRefreshError::NotRefreshable {
            refresh_token: var(ENV_REFRESH_TOKEN),
            client_id: var(ENV_CLIENT_ID),
            client_secret: var(ENV_CLIENT_SECRET),
        }
        .into());
    };
    let Some(file) = config.token_file().map(|p| p.display().to_string()) else {
        return Err(AuthRefreshError::NoTokenFile {
            token_file: var(ENV_TOKEN_FILE),
        }
        .into());
    };
    let now = crate::bitrix::token_file::unix_seconds();
    if let (
        Some(min_days),
        RefreshOrigin::TokenFile {
            obtained_at: Some(obtained_at),
        },
    ) = (args.if_older_than, config.refresh_origin())
    {
        let age = (now - obtained_at).div_euclid(DAY);
        if age < i64::from(min_days) {
            ctx.term.out(&format!(
                "The refresh token in {file} is {age} days old (obtained {}), younger than \
                 --if-older-than {min_days}: not refreshed.\n",
                date(obtained_at)
            ));
            return Ok(exit::SUCCESS);
        }
    }
    let refreshed = runtime()?.block_on(client.refresh_now())?;
    if let Err(e) = &refreshed.saved {
        return Err(AuthRefreshError::NotSaved {
            file,
            error: e.clone(),
        }
        .into());
    }
    let mut text = format!(
        "Refreshed the OAuth tokens for {} and saved them to {file}.\n",
        client.host()
    );
    if let Some(expires) = refreshed.expires {
        text.push_str(&format!(
            "The access token is valid until {}.\n",
            date(expires)
        ));
    }
    if let Some(obtained) = refreshed.refresh_obtained_at {
        text.push_str(&format!(
            "The refresh token works until about {} ({REFRESH_TOKEN_LIFETIME_DAYS} days).\n",
            date(obtained + REFRESH_TOKEN_LIFETIME_DAYS * DAY)
        ));
    }
    if !crate::bitrix::same_portal(&refreshed.endpoint, &client.portal()) {
        text.push_str(&format!(
            "Calls go to {} (the REST address the OAuth server named).\n",
            refreshed.endpoint
        ));
    }
    ctx.term.out(&text);
    Ok(exit::SUCCESS)
}

/// A Unix time as RFC 3339, to the second.
fn date(unix: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(time.max(UNIX_EPOCH)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(date(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(date(-5), "1970-01-01T00:00:00Z");
    }
}
