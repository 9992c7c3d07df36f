//! OAuth token refresh for the [`Client`]: single-flight within a client
//! ([`TokenStore::refresh_after`]), one run at a time across runs sharing a token file
//! (its lock), the new pair reported to the client's secret sink before anything else sees
//! it, and the `client_endpoint` a refresh answer names accepted only as
//! [`accept_client_endpoint`] allows (never another origin for a pinned portal).
//! `paysync auth refresh` runs [`Client::refresh_now`].

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::Url;

use super::{Client, lock};
use crate::bitrix::credentials::accept_client_endpoint;
use crate::bitrix::error::ClientError;
use crate::bitrix::oauth::{NewTokens, RefreshError, TokenStore, request_refresh, save_tokens};
use crate::bitrix::stats::bump;
use crate::bitrix::transport::same_origin;
use crate::secrets::Redacted;

/// How long a refresh waits for another run's refresh of the same token file.
const TOKEN_FILE_PATIENCE: Duration = Duration::from_secs(90);

/// Under the token file's lock: the pair in the file, when another run refreshed since
/// this one read its refresh token (the file's refresh token is another one), so this run
/// takes it instead of spending its own, which the refresh rotated away.
fn refreshed_meanwhile(
    config: &crate::bitrix::credentials::RefreshConfig,
    ours: &Redacted<String>,
) -> Result<Option<NewTokens>, RefreshError> {
    let Some(path) = config.token_file() else {
        return Ok(None);
    };
    let stored =
        crate::bitrix::token_file::read_token_file(path).map_err(|e| RefreshError::TokenFile {
            path: path.to_owned(),
            error: e.reason,
        })?;
    Ok(stored
        .filter(|s| s.refresh_token.expose() != ours.expose())
        .map(|s| NewTokens {
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            expires: s.expires,
            refresh_obtained_at: s.refresh_obtained_at,
            client_endpoint: s.client_endpoint,
            endpoint: None,
        }))
}

impl Client {
    /// A token newer than `generation`: refreshed by this caller, or by another one that
    /// got there first.
    pub(super) async fn refresh_token(
        &self,
        tokens: &TokenStore,
        generation: u64,
        code: &str,
    ) -> Result<Redacted<String>, ClientError> {
        self.refresh_exchange(tokens, generation, code)
            .await
            .map(|(token, _)| token)
    }

    /// [`Client::refresh_token`], also returning this caller's refresh, when it ran it:
    /// the new pair (with the endpoint now in use) and whether the token file was saved.
    async fn refresh_exchange(
        &self,
        tokens: &TokenStore,
        generation: u64,
        code: &str,
    ) -> Result<(Redacted<String>, Option<(NewTokens, std::io::Result<()>)>), ClientError> {
        let config = self.credentials.refresh();
        let (http, counters) = (self.transport.http(), &self.counters);
        let ran = Mutex::new(None);
        let ran_ref = &ran;
        let token = tokens
            .refresh_after(generation, code, move |refresh_token| async move {
                let Some(config) = config else {
                    return Err(RefreshError::NotConfigured {
                        code: code.to_owned(),
                        names: Default::default(),
                    });
                };
                // Runs sharing a token file refresh one at a time; the one that waited
                // takes the pair the other saved instead of spending its own (rotated,
                // now dead) refresh token.
                let _turn = match config.token_file() {
                    Some(path) => Some(
                        crate::bitrix::token_file::lock_token_file(path, TOKEN_FILE_PATIENCE)
                            .await
                            .map_err(|e| RefreshError::TokenFile {
                                path: path.to_owned(),
                                error: e.to_string(),
                            })?,
                    ),
                    None => None,
                };
                if let Some(saved) = refreshed_meanwhile(config, &refresh_token)? {
                    tracing::info!(
                        "another run sharing the token file refreshed the access token: using its pair"
                    );
                    let mut new = saved;
                    self.remember(&new);
                    new.endpoint = self.checked_endpoint(tokens, new.client_endpoint.as_deref());
                    *lock(ran_ref) = Some((new.clone(), Ok(())));
                    return Ok(new);
                }
                bump(&counters.refreshes);
                let mut new = request_refresh(http, config, &refresh_token).await?;
                self.remember(&new);
                new.endpoint = self.checked_endpoint(tokens, new.client_endpoint.as_deref());
                let saved = save_tokens(config.token_file.as_ref(), &new);
                tracing::info!("refreshed the OAuth access token");
                *lock(ran_ref) = Some((new.clone(), saved));
                Ok(new)
            })
            .await
            .map(|(_, token)| token)
            .map_err(|e| ClientError::Refresh(e.named(self.credentials.vars())))?;
        Ok((
            token,
            ran.into_inner().unwrap_or_else(PoisonError::into_inner),
        ))
    }

    /// Reports a new token pair to the secret sink before anything else sees it.
    fn remember(&self, new: &NewTokens) {
        self.secrets.remember(new.access_token.expose());
        self.secrets.remember(new.refresh_token.expose());
    }

    /// The REST base after a refresh answer that named `client_endpoint`: it, when
    /// [`accept_client_endpoint`] accepts it (a warning when it moves calls to another
    /// origin); otherwise the one in use before (a warning names the refused host).
    fn checked_endpoint(&self, tokens: &TokenStore, offered: Option<&str>) -> Option<Url> {
        let before = tokens.endpoint();
        let Some(offered) = offered else {
            return before;
        };
        let base = self.credentials.base();
        match accept_client_endpoint(base, offered) {
            // A pinned portal is never left for another origin, whatever the answer.
            Ok(url) if self.credentials.is_pinned() && !same_origin(base, &url) => {
                tracing::warn!(
                    "ignored the refresh answer's client_endpoint {}: the environment pins the \
                     portal {}; calls stay there",
                    crate::bitrix::credentials::host_port(&url),
                    crate::bitrix::credentials::host_port(base)
                );
                before
            }
            Ok(url) => {
                let current = before.as_ref().unwrap_or(base);
                if !same_origin(current, &url) {
                    tracing::warn!(
                        "the OAuth server named the portal's REST address {} \
                         (client_endpoint): the following calls go there",
                        crate::bitrix::credentials::host_port(&url)
                    );
                }
                Some(url)
            }
            Err(refusal) => {
                tracing::warn!(
                    "ignored the refresh answer's client_endpoint: {refusal}; calls stay on {}",
                    crate::bitrix::credentials::host_port(before.as_ref().unwrap_or(base))
                );
                before
            }
        }
    }

    /// Refreshes the OAuth token pair now, whether or not the access token expired
    /// (`paysync auth refresh`), and saves it to the token file. One request to the token
    /// endpoint, no retry. Only for OAuth credentials with refresh configured (the
    /// caller checks; otherwise [`RefreshError::NotConfigured`]).
    pub async fn refresh_now(&self) -> Result<Refreshed, ClientError> {
        let Some(tokens) = &self.tokens else {
            return Err(ClientError::Refresh(RefreshError::NotConfigured {
                code: "auth refresh".to_owned(),
                names: self.credentials.vars().into(),
            }));
        };
        let (generation, _) = tokens.current();
        let (_, ran) = self
            .refresh_exchange(tokens, generation, "auth refresh")
            .await?;
        let (new, saved) = ran.ok_or_else(|| {
            // Only when another caller of this client refreshed at the same time.
            ClientError::Refresh(RefreshError::Unreadable { status: 0 })
        })?;
        Ok(Refreshed {
            expires: new.expires,
            refresh_obtained_at: new.refresh_obtained_at,
            endpoint: new
                .endpoint
                .as_ref()
                .unwrap_or(self.credentials.base())
                .origin()
                .ascii_serialization(),
            saved: saved.map_err(|e| e.to_string()),
        })
    }
}

/// What [`Client::refresh_now`] did. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// Unix time the new access token expires, when the answer said.
    pub expires: Option<i64>,
    /// Unix time the new refresh token was obtained (now), when the answer had one.
    pub refresh_obtained_at: Option<i64>,
    /// The origin (`scheme://host[:port]`) calls go to from now on.
    pub endpoint: String,
    /// Whether the token file was written (the error's text when not).
    pub saved: Result<(), String>,
}
