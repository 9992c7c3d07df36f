//! The HTTP client: sends [`Request`]s to the portal and reads the answers.
//!
//! # Expected flow of a call
//! 1. [`Client::call`] / [`Client::batch`] run the retry loop (backon): attempts are
//!    retried as [`error_policy`] decides, waits are computed by [`RetryBudget`] within
//!    the [`RetryConfig`] bounds, each wait is logged at warn with its reason, and a
//!    call that runs out of attempts or waiting time fails with [`ClientError::GaveUp`].
//! 2. One attempt first pauses if a method of the request has nearly used its time budget
//!    ([`super::operating`]), then sends the request; on 401 `expired_token` /
//!    `invalid_token` with OAuth it refreshes the token (single-flight,
//!    [`super::oauth`]) and sends the request once more.
//! 3. Every HTTP request to the portal goes through one private `post`: it takes a slot
//!    from the leaky-bucket [`super::throttle`] (one bucket per client, shared by its
//!    clones) and hands the JSON parameters to [`super::transport`], which POSTs them to
//!    `<base><method>` and reads status and body (up to
//!    [`MAX_RESPONSE_BYTES`](super::transport::MAX_RESPONSE_BYTES)). A
//!    redirect (301/302/307/308) within the portal's origin is followed once by
//!    re-sending the same POST to the `Location`; a redirect to another origin (a moved
//!    portal, bitrix24-api.md §1.1, or anything pretending to be one) is never followed:
//!    every request carries credentials, and writes carry settings (SPEC §7).
//!
//! Around it: [`super::error`] (why a call failed), [`super::stats`] (what a client did),
//! [`super::batch`] (`batch` and its re-send policy).
//!
//! All waiting goes through the client's [`Clock`] (tests use a virtual one); only the
//! 60-second request timeout is reqwest's.
//!
//! Secrets: the request URL holds the webhook code, so it is never logged, every
//! `reqwest::Error` is stripped of it (`without_url`), reqwest never follows redirects
//! itself (their `Location` holds the code too; only its origin is logged or kept), and
//! request bodies (OAuth tokens, setting values) are never logged. Logs carry the method
//! name, status and timing only.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use backon::Retryable;
use reqwest::Url;
use serde_json::Value;

use super::cancel::{Cancel, SecretSink};
use super::clock::{Clock, ClockSleeper, SystemClock};
use super::credentials::Credentials;
use super::credentials::accept_client_endpoint;
use super::envelope::{Page, PortalError, Timing};
use super::error::{ClientError, Credential, Refusal, human};
use super::oauth::{
    NewTokens, RefreshError, TokenStore, request_refresh, save_tokens, warn_about_refresh_token_age,
};
use super::operating::{DEFAULT_OPERATING_LIMIT, OperatingBudget};
use super::request::Request;
use super::retry::{Decision, RetryBudget, RetryConfig, error_policy, retry_reason};
use super::stats::{ClientStats, Counters, add_time, bump, millis};
use super::throttle::{Rate, Throttle};
use super::token_file::unix_seconds;
use super::transport::{
    Answer, FOLLOWED_REDIRECTS, Transport, check_method, interpret, same_origin,
};
use crate::secrets::Redacted;
use crate::untrusted::portal_text;

/// How long a refresh waits for another run's refresh of the same token file.
const TOKEN_FILE_PATIENCE: Duration = Duration::from_secs(90);

/// Under the token file's lock: the pair in the file, when another run refreshed since
/// this one read its refresh token (the file's refresh token is another one), so this run
/// takes it instead of spending its own, which the refresh rotated away.
fn refreshed_meanwhile(
    config: &super::credentials::RefreshConfig,
    ours: &Redacted<String>,
) -> Result<Option<NewTokens>, RefreshError> {
    let Some(path) = config.token_file() else {
        return Ok(None);
    };
    let stored = super::token_file::read_token_file(path).map_err(|e| RefreshError::TokenFile {
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

/// A connection to one portal. Clones share the throttle bucket, the operating budget,
/// the OAuth tokens and the statistics; configure a client (`with_*`) before cloning it
/// or sending anything.
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    credentials: Arc<Credentials>,
    pub(super) retry: RetryConfig,
    pub(super) clock: Arc<dyn Clock>,
    throttle: Throttle,
    pub(super) operating: Arc<Mutex<OperatingBudget>>,
    tokens: Option<Arc<TokenStore>>,
    pub(super) counters: Arc<Counters>,
    /// What stops it: nothing new is sent once cancelled.
    pub(super) cancel: Cancel,
    /// Where the secrets it learns (refreshed tokens) are reported.
    secrets: SecretSink,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("credentials", &self.credentials)
            .field("retry", &self.retry)
            .field("rate", &self.throttle.rate())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the portal the credentials name: the [`super::transport`] settings
    /// (rustls, timeouts, redirects handled by the client, not reqwest), the default
    /// [`RetryConfig`], [`Rate::STANDARD`], the [`SystemClock`] and the default operating
    /// limit (480 s). Proxies from the environment are used except for loopback portals.
    pub fn new(credentials: Credentials) -> Result<Client, ClientError> {
        let transport = Transport::new(credentials.is_loopback(), credentials.address_variable())?;
        let tokens = credentials.access_token().map(|token| {
            let endpoint = credentials.endpoint();
            Arc::new(TokenStore::with_endpoint(
                token.clone(),
                credentials.refresh().map(|r| r.refresh_token.clone()),
                (endpoint != credentials.base()).then(|| endpoint.clone()),
            ))
        });
        if let Some(refresh) = credentials.refresh() {
            warn_about_refresh_token_age(refresh, unix_seconds());
        }
        Ok(Client {
            transport,
            credentials: Arc::new(credentials),
            retry: RetryConfig::default(),
            clock: Arc::new(SystemClock::new()),
            throttle: Throttle::new(Rate::STANDARD),
            operating: Arc::new(Mutex::new(OperatingBudget::new(DEFAULT_OPERATING_LIMIT))),
            tokens,
            counters: Arc::default(),
            cancel: Cancel::default(),
            secrets: SecretSink::default(),
        })
    }

    /// The same client stopping when `cancel` is cancelled: it sends nothing new, starts
    /// no new attempt and cuts its waits short (SIGINT/SIGTERM, for the program).
    pub fn with_cancel(mut self, cancel: Cancel) -> Client {
        self.cancel = cancel;
        self
    }

    /// The same client reporting the secrets it learns (refreshed tokens) to `sink`.
    pub fn with_secret_sink(mut self, sink: SecretSink) -> Client {
        self.secrets = sink;
        self
    }

    /// The same client reading answers of at most `bytes`
    /// ([`MAX_RESPONSE_BYTES`](super::transport::MAX_RESPONSE_BYTES) by default).
    pub fn with_max_response(mut self, bytes: u64) -> Client {
        self.transport = self.transport.with_max_response(bytes);
        self
    }

    /// The same client with the portal's request-rate limit (`--rate`), a fresh bucket.
    pub fn with_rate(mut self, rate: Rate) -> Client {
        self.throttle = Throttle::new(rate);
        self
    }

    /// The same client waiting on another clock (tests: a virtual clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Client {
        self.clock = clock;
        self
    }

    /// The same client with other retry bounds ([`RetryConfig::none`] in tests that
    /// count requests exactly).
    pub fn with_retry(mut self, retry: RetryConfig) -> Client {
        self.retry = retry;
        self
    }

    /// The same client assuming another per-method time budget (the cloud's is not
    /// published; 480 s per 10 minutes by default).
    pub fn with_operating_limit(mut self, limit: Duration) -> Client {
        self.operating = Arc::new(Mutex::new(OperatingBudget::new(limit)));
        self
    }

    /// The portal's address, `scheme://host[:port]` (see [`Credentials::portal`]).
    pub fn portal(&self) -> String {
        self.credentials.portal()
    }

    /// The portal's `host[:port]` (see [`Credentials::host`]).
    pub fn host(&self) -> String {
        self.credentials.host()
    }

    /// The environment variable that holds the portal's address in these credentials
    /// (`PAYSYNC_WEBHOOK_URL` or `PAYSYNC_PORTAL_URL`, or the environment's names).
    pub fn address_variable(&self) -> String {
        self.credentials.address_variable()
    }

    /// How messages name paysync's variable `var` for these credentials (see
    /// [`crate::variables::Variables::shown`]).
    pub fn shown_variable(&self, var: &str) -> String {
        self.credentials.vars().shown(var)
    }

    /// How the OAuth access token is refreshed, when these are refreshable OAuth
    /// credentials.
    pub fn refresh_config(&self) -> Option<&super::credentials::RefreshConfig> {
        self.credentials.refresh()
    }

    /// Whether the client authenticates with an OAuth access token (not a webhook).
    pub fn uses_oauth(&self) -> bool {
        self.tokens.is_some()
    }

    /// The request-rate limit the throttle keeps to.
    pub fn rate(&self) -> Rate {
        self.throttle.rate()
    }

    /// The retry bounds.
    pub fn retry_config(&self) -> RetryConfig {
        self.retry
    }

    /// What this client and its clones have done so far.
    pub fn stats(&self) -> ClientStats {
        self.counters.stats()
    }

    /// Calls one method and returns its `result`, retrying transient failures within the
    /// retry bounds.
    pub async fn call(&self, request: &Request) -> Result<Value, ClientError> {
        self.call_page(request).await.map(|(value, _)| value)
    }

    /// [`Client::call`], with the envelope's `next` and `total` (for list methods).
    pub async fn call_page(&self, request: &Request) -> Result<(Value, Page), ClientError> {
        check_method(&request.method)?;
        self.execute(request, &[request.method.to_ascii_lowercase()])
            .await
            .map(|(value, timing)| {
                (
                    value,
                    Page {
                        next: timing.next,
                        total: timing.total,
                    },
                )
            })
    }

    /// The retry loop around [`Client::attempt`]. `methods` are the (lower-case) methods
    /// the request runs: itself, or `batch` and its sub-calls' methods.
    ///
    /// Writes are retried too, including after a lost answer (a timeout, a connection
    /// closed before the response, a 5xx): the only write paysync sends,
    /// `sale.paysystem.settings.update`, is an idempotent upsert that does not rewrite an
    /// identical mapping (bitrix24-api.md §5.10), so sending it twice is harmless.
    pub(super) async fn execute(
        &self,
        request: &Request,
        methods: &[String],
    ) -> Result<(Value, Timing), ClientError> {
        let started = self.clock.now();
        let budget = Mutex::new(RetryBudget::new(self.retry));
        let max_attempts = self.retry.max_attempts;
        // Whether an attempt may have reached the portal although its answer was lost:
        // then the request's outcome is unknown whatever the later attempts say.
        let delivered = AtomicBool::new(false);
        let (this, budget_ref, delivered_ref) = (self, &budget, &delivered);
        let result = (move || async move {
            lock(budget_ref).attempt();
            let result = this.attempt(request, methods).await;
            if let Err(error) = &result
                && error.may_have_reached_portal()
            {
                delivered_ref.store(true, Ordering::SeqCst);
            }
            result
        })
        .retry(self.retry.backoff())
        .sleep(ClockSleeper(Arc::clone(&self.clock), self.cancel.clone()))
        // After SIGINT/SIGTERM no new attempt starts (see `crate::interrupt`).
        .when(|error: &ClientError| error_policy(error).is_retry() && !self.cancel.is_cancelled())
        .adjust(|error: &ClientError, backoff: Option<Duration>| {
            let decision = error_policy(error);
            let operating_wait = if decision == Decision::OperatingLimited {
                self.operating_reset_wait(methods)
            } else {
                Duration::ZERO
            };
            lock(&budget).next_wait(decision, backoff, operating_wait)
        })
        .notify(|error: &ClientError, wait: Duration| {
            bump(&self.counters.retries);
            add_time(&self.counters.retry_wait_ns, wait);
            let next = lock(&budget).attempts() + 1;
            tracing::warn!(
                method = %request.method,
                wait_ms = millis(wait),
                "{}: retrying in {} (attempt {next}/{max_attempts})",
                retry_reason(error),
                human(wait),
            );
        })
        .await;
        let error = match result {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let budget = budget.into_inner().unwrap_or_else(PoisonError::into_inner);
        let delivered = delivered.into_inner();
        let error = match (budget.gave_up(), error) {
            (_, ClientError::Interrupted { method, .. }) => ClientError::Interrupted {
                method,
                maybe_delivered: delivered,
            },
            (Some(reason), error) if max_attempts > 1 && error_policy(&error).is_retry() => {
                ClientError::GaveUp {
                    attempts: budget.attempts(),
                    elapsed: self.clock.now().saturating_sub(started),
                    reason,
                    maybe_delivered: delivered,
                    last: Box::new(error),
                }
            }
            // An earlier attempt's answer was lost: the request may have been applied,
            // whatever this last refusal says.
            (_, error) if delivered && !error.may_have_reached_portal() => {
                ClientError::Unconfirmed {
                    attempts: budget.attempts(),
                    last: Box::new(error),
                }
            }
            (_, error) => error,
        };
        tracing::debug!(method = %request.method, "{error}");
        Err(error)
    }

    /// One attempt ([`Client::attempt_once`]), a refusal of the credentials (after any
    /// token refresh) turned into [`ClientError::Refused`], which says what to check.
    async fn attempt(
        &self,
        request: &Request,
        methods: &[String],
    ) -> Result<(Value, Timing), ClientError> {
        self.attempt_once(request, methods)
            .await
            .map_err(|error| match error {
                ClientError::Portal { method, error } => match Refusal::of(&error) {
                    Some(refusal) => self.refused(method, refusal, error),
                    None => ClientError::Portal { method, error },
                },
                error => error,
            })
    }

    /// A refusal of these credentials (or of the portal itself), which says what to
    /// check, naming the variables as read.
    pub fn refused(&self, method: String, refusal: Refusal, error: PortalError) -> ClientError {
        ClientError::Refused {
            method,
            refusal,
            credential: Box::new(if self.tokens.is_some() {
                Credential::AccessToken {
                    token: self.shown_variable(super::credentials::ENV_ACCESS_TOKEN),
                    token_file: self.shown_variable(super::credentials::ENV_TOKEN_FILE),
                    portal: self.address_variable(),
                }
            } else {
                Credential::Webhook {
                    variable: self.address_variable(),
                }
            }),
            error,
        }
    }

    /// One attempt: pause for a nearly spent time budget, send, and on a refused OAuth
    /// token refresh it (single-flight) and send once more.
    async fn attempt_once(
        &self,
        request: &Request,
        methods: &[String],
    ) -> Result<(Value, Timing), ClientError> {
        self.pause_for_operating_budget(methods).await;
        self.not_interrupted(&request.method)?;
        let Some(tokens) = &self.tokens else {
            return self.exchange(request, None).await;
        };
        let (generation, token) = tokens.current();
        let refused = match self.exchange(request, Some(&token)).await {
            Err(error) if error_policy(&error) == Decision::RefreshToken => error,
            other => return other,
        };
        let code = refused
            .portal_error()
            .map_or_else(String::new, |e| e.code.clone());
        tracing::info!(method = %request.method, "the portal refused the access token ({code}); refreshing it");
        let token = self.refresh_token(tokens, generation, &code).await?;
        // Once: a token refused again right after a refresh is reported as it is.
        self.exchange(request, Some(&token)).await
    }

    /// A token newer than `generation`: refreshed by this caller, or by another one that
    /// got there first.
    async fn refresh_token(
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
                        super::token_file::lock_token_file(path, TOKEN_FILE_PATIENCE)
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
                    super::credentials::host_port(&url),
                    super::credentials::host_port(base)
                );
                before
            }
            Ok(url) => {
                let current = before.as_ref().unwrap_or(base);
                if !same_origin(current, &url) {
                    tracing::warn!(
                        "the OAuth server named the portal's REST address {} \
                         (client_endpoint): the following calls go there",
                        super::credentials::host_port(&url)
                    );
                }
                Some(url)
            }
            Err(refusal) => {
                tracing::warn!(
                    "ignored the refresh answer's client_endpoint: {refusal}; calls stay on {}",
                    super::credentials::host_port(before.as_ref().unwrap_or(base))
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

    /// Before an attempt: if a method of the request has nearly used its time budget,
    /// wait for its reset rather than be refused (see [`super::operating`]).
    async fn pause_for_operating_budget(&self, methods: &[String]) {
        let pause = lock(&self.operating).pause_before(methods, self.clock.unix_now());
        let Some(pause) = pause else { return };
        let used = if pause.operating.is_finite() {
            format!(
                "{:.0}s of {}s used in the last 10 minutes",
                pause.operating,
                lock(&self.operating).limit().as_secs()
            )
        } else {
            "used up by a batch sub-call".to_owned()
        };
        tracing::warn!(
            method = %pause.method,
            wait_ms = millis(pause.wait),
            "{}: time budget nearly spent ({used}): pausing {} until it resets",
            pause.method,
            human(pause.wait),
        );
        add_time(&self.counters.operating_wait_ns, pause.wait);
        // Cut short by SIGINT/SIGTERM: the attempt then stops before sending.
        tokio::select! {
            () = self.clock.sleep(pause.wait) => {}
            () = self.cancel.cancelled() => {}
        }
    }

    /// `Err(Interrupted)` once SIGINT/SIGTERM was received: nothing more is sent.
    fn not_interrupted(&self, method: &str) -> Result<(), ClientError> {
        if self.cancel.is_cancelled() {
            Err(ClientError::Interrupted {
                method: method.to_owned(),
                maybe_delivered: false,
            })
        } else {
            Ok(())
        }
    }

    /// The wait after a 429: until the last announced reset, or the configured default.
    fn operating_reset_wait(&self, methods: &[String]) -> Duration {
        lock(&self.operating)
            .reset_wait(methods, self.clock.unix_now())
            .unwrap_or(self.retry.operating_default_wait)
    }

    /// Sends a request with this token (OAuth) and reads the answer, following one
    /// redirect.
    async fn exchange(
        &self,
        request: &Request,
        token: Option<&Redacted<String>>,
    ) -> Result<(Value, Timing), ClientError> {
        let method = &request.method;
        // OAuth: the REST base a refresh answer (or the token file) named, if any.
        let endpoint = self.tokens.as_ref().and_then(|t| t.endpoint());
        let url = endpoint
            .as_ref()
            .unwrap_or(self.credentials.base())
            .join(&method.to_ascii_lowercase())
            .map_err(|_| ClientError::InvalidMethod {
                method: method.clone(),
            })?;
        let mut body = request.params.clone();
        if let (Some(token), Value::Object(map)) = (token, &mut body) {
            map.insert("auth".into(), Value::String(token.expose().clone()));
        }

        let mut answer = self.post(method, url.clone(), &body).await?;
        if (300..400).contains(&answer.status)
            && let Some(target) = answer.location.as_deref().and_then(|l| url.join(l).ok())
        {
            if !same_origin(&url, &target) {
                return Err(ClientError::Moved {
                    method: method.clone(),
                    new_address: portal_text(&target.origin().ascii_serialization()),
                    variable: self.credentials.address_variable(),
                });
            }
            if FOLLOWED_REDIRECTS.contains(&answer.status) {
                // The same POST, body and all, to the new path on the same origin. A
                // second redirect is not followed: `interpret` reports it.
                tracing::debug!(
                    status = answer.status,
                    "following a redirect within the portal"
                );
                answer = self.post(method, target, &body).await?;
            }
        }
        let result = interpret(method, answer.status, &answer.body);
        match &result {
            Ok((_, timing)) => lock(&self.operating).record(method, *timing),
            Err(ClientError::Portal { error, .. }) if error.code == "QUERY_LIMIT_EXCEEDED" => {
                bump(&self.counters.rate_limited);
                self.throttle.fill(self.clock.as_ref());
            }
            Err(ClientError::Portal { error, .. }) if error.code == "OPERATION_TIME_LIMIT" => {
                bump(&self.counters.operating_limited);
            }
            Err(_) => {}
        }
        result
    }

    /// One HTTP request, the only place a request leaves the process for the portal:
    /// waits for the throttle, then [`Transport::post`] sends it.
    async fn post(&self, method: &str, url: Url, body: &Value) -> Result<Answer, ClientError> {
        let waited = tokio::select! {
            waited = self.throttle.acquire(self.clock.as_ref()) => waited,
            () = self.cancel.cancelled() => Duration::ZERO,
        };
        add_time(&self.counters.throttle_wait_ns, waited);
        // Nothing is sent once SIGINT/SIGTERM was received.
        self.not_interrupted(method)?;
        bump(&self.counters.requests);
        self.transport.post(method, url, body).await
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

/// Locks a mutex holding plain bookkeeping, which stays valid even if a holder panicked.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::model::Target;

    /// One client is cancelled alone, through its own token (no process-wide signal):
    /// it sends nothing.
    #[tokio::test]
    async fn a_cancelled_client_sends_nothing() {
        let credentials = Credentials::from_webhook_url("http://127.0.0.1:1/rest/1/code/").unwrap();
        let cancel = Cancel::new();
        let client = Client::new(credentials)
            .unwrap()
            .with_cancel(cancel.clone());
        let other =
            Client::new(Credentials::from_webhook_url("http://127.0.0.1:1/rest/1/code/").unwrap())
                .unwrap();
        cancel.cancel();
        let err = client
            .call(&update(11, 1, "CODE", "value"))
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Interrupted { .. }), "{err:?}");
        assert_eq!(client.stats().requests, 0);
        assert!(
            !other.cancel.is_cancelled(),
            "another client is not cancelled"
        );
    }

    #[test]
    fn debug_of_the_client_hides_the_code() {
        let credentials =
            Credentials::from_webhook_url("https://example.bitrix24.com/rest/1/CANARYCODE123/")
                .unwrap();
        let client = Client::new(credentials).unwrap();
        let text = format!("{client:?} {client:#?} {}", client.portal());
        assert!(!text.contains(CANARY), "{text}");
        assert_eq!(client.portal(), "https://example.bitrix24.com");
    }

    /// Connection refused on loopback port 1: the error, its whole source chain and the
    /// trace-level log must not contain the webhook code or the secret parameter.
    #[tokio::test]
    async fn transport_errors_and_logs_never_show_the_code() {
        let logs = capture();

        let credentials =
            Credentials::from_webhook_url("http://127.0.0.1:1/rest/1/CANARYCODE123/").unwrap();
        let client = Client::new(credentials).unwrap().with_retry(RetryConfig {
            max_attempts: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
            ..RetryConfig::default()
        });
        let request = update(11, 1, "REST_SERVICE_KEY", "SECRETVALUE456");

        let err = client.call(&request).await.unwrap_err();
        // A refused connection is not retried: it is reported at once. (A machine where
        // the connect times out instead retries and gives up.)
        assert!(
            matches!(
                &err,
                ClientError::Transport { .. } | ClientError::GaveUp { attempts: 2, .. }
            ),
            "expected a refused connection, got {err:?}"
        );
        // The portal by host and port, the cause in words, what to check.
        let text = err.to_string();
        assert!(
            text == "cannot connect to portal 127.0.0.1:1 (connection refused): check \
                     PAYSYNC_WEBHOOK_URL and the network"
                || text.starts_with("gave up after 2 attempts over "),
            "{err}"
        );
        assert_eq!(
            client.stats().retries,
            0,
            "a refused connection is not retried"
        );
        let mut text = everything(&err);
        text.push_str(&format!("{request:?}"));

        let err = client
            .batch(&[("a".to_owned(), request.clone())], true)
            .await
            .unwrap_err();
        text.push_str(&everything(&err));

        let err = crate::live::read_settings(
            &client,
            &[Target {
                pay_system: 11,
                person_type: 0,
            }],
        )
        .await
        .unwrap_err();
        text.push_str(&everything(&err));

        let logged = logs.text();
        assert!(
            logged.contains("cannot connect to portal 127.0.0.1:1"),
            "the failure should be logged: {logged}"
        );
        text.push_str(&logged);
        assert!(!text.contains(CANARY), "{text}");
        assert!(!text.contains("SECRETVALUE456"), "{text}");
        assert!(text.contains("sale.paysystem.settings.update"), "{text}");
    }

    // ---- Over loopback HTTP with a fake clock: retries, throttle, redirects, OAuth ----

    use crate::bitrix::clock::fake::FakeClock;
    use crate::bitrix::credentials::RefreshConfig;
    use crate::bitrix::error::GiveUp;
    use crate::bitrix::testserver::{
        CANARY, FakeServer, Reply, Seen, UNIX, capture, everything, exact, scope, scripted, secs,
        update, webhook_client,
    };
    use crate::bitrix::throttle::Rate;

    #[test]
    fn clients_and_their_futures_can_cross_threads() {
        fn send_sync<T: Send + Sync + Clone + 'static>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<Client>();
        let client =
            Client::new(Credentials::from_webhook_url("http://127.0.0.1:1/rest/1/c/").unwrap())
                .unwrap();
        let request = scope();
        send(&client.call(&request));
        send(&client.batch(&[], false));
        send(&crate::live::read_settings(&client, &[]));
    }

    #[tokio::test]
    async fn rate_limited_calls_fill_the_bucket_and_back_off() {
        let server = FakeServer::start(scripted(vec![
            Reply::error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
            Reply::error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
            Reply::result(json!(["pay_system"])),
        ]))
        .await;
        let (client, clock) = webhook_client(&server);
        let client = client.with_rate(Rate {
            capacity: 2,
            per_second: 0.5,
        });
        let logs = capture();
        assert_eq!(client.call(&scope()).await.unwrap(), json!(["pay_system"]));
        // Backoff 1 s; the bucket was marked full, so the throttle adds 1 s (2.5 of 2 at
        // 0.5/s); backoff 2 s, after which the bucket has room.
        assert_eq!(clock.sleeps(), vec![secs(1), secs(1), secs(2)]);
        let stats = client.stats();
        assert_eq!(
            stats,
            ClientStats {
                requests: 3,
                retries: 2,
                rate_limited: 2,
                throttle_wait: secs(1),
                retry_wait: secs(3),
                ..ClientStats::default()
            }
        );
        let logged = logs.text();
        assert!(
            logged
                .contains("portal rate limit (QUERY_LIMIT_EXCEEDED): retrying in 1s (attempt 2/6)"),
            "{logged}"
        );
        assert!(logged.contains("retrying in 2s (attempt 3/6)"), "{logged}");
        assert!(logged.contains("throttle: waiting 1.0s"), "{logged}");
        assert!(!logged.contains(CANARY), "{logged}");
    }

    #[tokio::test]
    async fn server_errors_give_up_after_the_attempts() {
        let server = FakeServer::start(scripted(vec![Reply::error(
            500,
            "INTERNAL_SERVER_ERROR",
            "Internal server error",
        )]))
        .await;
        let (client, clock) = webhook_client(&server);
        let err = client.call(&scope()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "gave up after 6 attempts over 31s: scope: INTERNAL_SERVER_ERROR: Internal server error"
        );
        assert!(matches!(
            err,
            ClientError::GaveUp {
                attempts: 6,
                reason: GiveUp::Attempts,
                ..
            }
        ));
        assert_eq!(err.portal_error().unwrap().code, "INTERNAL_SERVER_ERROR");
        assert_eq!(error_policy(&err), Decision::Fail);
        assert_eq!(
            clock.sleeps(),
            vec![secs(1), secs(2), secs(4), secs(8), secs(16)]
        );
        assert_eq!(server.seen().len(), 6);
        assert_eq!(client.stats().retries, 5);
    }

    #[tokio::test]
    async fn jittered_waits_stay_within_their_bounds() {
        let server = FakeServer::start(scripted(vec![Reply::error(502, "BAD_GATEWAY", "")])).await;
        let (client, clock) = webhook_client(&server);
        let client = client.with_retry(RetryConfig::default());
        client.call(&scope()).await.unwrap_err();
        let sleeps = clock.sleeps();
        assert_eq!(sleeps.len(), 5);
        for (wait, base) in sleeps.iter().zip([1, 2, 4, 8, 16]) {
            assert!(*wait >= secs(base) && *wait < secs(2 * base), "{sleeps:?}");
        }
    }

    #[tokio::test]
    async fn the_total_wait_is_bounded() {
        let server = FakeServer::start(scripted(vec![Reply::html(502)])).await;
        let (client, clock) = webhook_client(&server);
        let client = client.with_retry(RetryConfig {
            max_total_wait: secs(5),
            ..exact()
        });
        let err = client.call(&scope()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "gave up after 3 attempts over 3s (waiting 4s more would exceed the 5s retry \
             budget): scope: portal answered HTTP 502 with a non-JSON body"
        );
        assert_eq!(clock.sleeps(), vec![secs(1), secs(2)]);
        assert_eq!(server.seen().len(), 3);
    }

    #[tokio::test]
    async fn a_429_waits_until_operating_reset_at() {
        let server = FakeServer::start(scripted(vec![
            Reply::json(
                200,
                json!({"result": 1, "time": {"operating": 12.5, "operating_reset_at": UNIX + 42.0}}),
            ),
            Reply::error(429, "OPERATION_TIME_LIMIT", "Method is blocked"),
            Reply::result(json!(2)),
        ]))
        .await;
        let (client, clock) = webhook_client(&server);
        let logs = capture();
        assert_eq!(client.call(&scope()).await.unwrap(), json!(1));
        clock.advance(secs(30));
        assert_eq!(client.call(&scope()).await.unwrap(), json!(2));
        // Until the announced reset (12 s ahead by now), plus one second.
        assert_eq!(clock.sleeps(), vec![secs(13)]);
        let stats = client.stats();
        assert_eq!((stats.operating_limited, stats.retries), (1, 1));
        assert!(
            logs.text().contains(
                "(OPERATION_TIME_LIMIT), waiting for its reset: retrying in 13s (attempt 2/6)"
            ),
            "{}",
            logs.text()
        );
    }

    #[tokio::test]
    async fn a_429_without_a_known_reset_waits_the_default() {
        let server = FakeServer::start(scripted(vec![
            Reply::error(429, "OPERATION_TIME_LIMIT", ""),
            Reply::error(429, "OPERATION_TIME_LIMIT", ""),
            Reply::result(json!(true)),
        ]))
        .await;
        let (client, clock) = webhook_client(&server);
        assert_eq!(client.call(&scope()).await.unwrap(), json!(true));
        assert_eq!(clock.sleeps(), vec![secs(60), secs(60)]);
    }

    #[tokio::test]
    async fn a_long_operating_wait_is_taken_once_beyond_the_budget() {
        let server = FakeServer::start(scripted(vec![
            Reply::json(
                200,
                json!({"result": 1, "time": {"operating": 100, "operating_reset_at": UNIX + 599.0}}),
            ),
            Reply::error(429, "OPERATION_TIME_LIMIT", ""),
        ]))
        .await;
        let (client, clock) = webhook_client(&server);
        let client = client.with_retry(RetryConfig {
            max_total_wait: secs(120),
            ..exact()
        });
        client.call(&scope()).await.unwrap();
        let err = client.call(&scope()).await.unwrap_err();
        // 600 s for the announced reset, then 60 s more would exceed the budget.
        assert_eq!(clock.sleeps(), vec![secs(600)]);
        assert!(
            err.to_string()
                .starts_with("gave up after 2 attempts over 10m0s (waiting 1m0s more"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn without_retries_errors_come_back_as_they_are() {
        let server = FakeServer::start(scripted(vec![Reply::error(
            503,
            "QUERY_LIMIT_EXCEEDED",
            "Too many requests",
        )]))
        .await;
        let (client, clock) = webhook_client(&server);
        let client = client.with_retry(RetryConfig::none());
        let err = client.call(&scope()).await.unwrap_err();
        assert!(matches!(err, ClientError::Portal { .. }), "{err:?}");
        assert_eq!(server.seen().len(), 1);
        assert!(clock.sleeps().is_empty());
        let stats = client.stats();
        assert_eq!(
            (stats.requests, stats.rate_limited, stats.retries),
            (1, 1, 0)
        );
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        for reply in [
            Reply::error(403, "ACCESS_DENIED", "Access denied"),
            Reply::error(503, "OVERLOAD_LIMIT", "REST API is blocked due to overload"),
            Reply::error(401, "NO_AUTH_FOUND", "Wrong authorization data"),
            Reply::error(
                401,
                "expired_token",
                "The access token provided has expired",
            ),
            Reply::html(404),
        ] {
            let server = FakeServer::start(scripted(vec![reply.clone()])).await;
            let (client, clock) = webhook_client(&server);
            let err = client.call(&scope()).await.unwrap_err();
            assert!(
                !matches!(err, ClientError::GaveUp { .. }),
                "{}: {err:?}",
                reply.body
            );
            assert_eq!(server.seen().len(), 1, "{}", reply.body);
            assert!(clock.sleeps().is_empty());
        }
    }

    #[tokio::test]
    async fn html_pages_and_lost_answers_are_retried() {
        let server = FakeServer::start(scripted(vec![
            Reply::html(502),
            Reply::hang_up(),
            Reply::html(200),
            Reply::result(json!("ok")),
        ]))
        .await;
        let (client, clock) = webhook_client(&server);
        assert_eq!(client.call(&scope()).await.unwrap(), json!("ok"));
        assert_eq!(clock.sleeps(), vec![secs(1), secs(2), secs(4)]);
        assert_eq!(client.stats().requests, 4);
    }

    /// A write whose answer was lost is sent again, unchanged (it is idempotent).
    #[tokio::test]
    async fn a_redirect_within_the_portal_is_followed_once_with_the_same_post() {
        let server = FakeServer::start(|seen: &Seen| {
            if seen.target.starts_with("/moved/") {
                Reply::result(json!("moved"))
            } else {
                Reply::redirect(302, "/moved/rest/1/CANARYCODE123/scope")
            }
        })
        .await;
        let (client, _clock) = webhook_client(&server);
        let logs = capture();
        let request = Request::new("scope", json!({"full": true}));
        assert_eq!(client.call(&request).await.unwrap(), json!("moved"));
        assert_eq!(client.call(&request).await.unwrap(), json!("moved"));
        let seen = server.seen();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[1].method, "POST");
        assert_eq!(seen[1].target, "/moved/rest/1/CANARYCODE123/scope");
        assert_eq!(seen[1].json(), json!({"full": true}));
        assert_eq!(client.stats().requests, 4);
        assert!(!logs.text().contains(CANARY), "{}", logs.text());
    }

    /// Regression (issue 7.4): a redirect to another origin used to be followed with the
    /// body (settings, tokens) re-sent there.
    #[tokio::test]
    async fn a_redirect_to_another_origin_is_never_followed() {
        let elsewhere = FakeServer::start(scripted(vec![Reply::result(json!("stolen"))])).await;
        for status in [301, 302, 303, 307, 308] {
            let location = format!("{}/rest/1/CANARYCODE123/scope", elsewhere.url);
            let server =
                FakeServer::start(scripted(vec![Reply::redirect(status, &location)])).await;
            let (client, _clock) = webhook_client(&server);
            let err = client.call(&scope()).await.unwrap_err();
            let ClientError::Moved {
                new_address,
                variable,
                ..
            } = &err
            else {
                panic!("{status}: expected Moved, got {err:?}");
            };
            assert_eq!(new_address, &elsewhere.url);
            assert_eq!(*variable, "PAYSYNC_WEBHOOK_URL");
            let text = everything(&err);
            assert!(!text.contains(CANARY), "{text}");
            assert!(text.contains("paysync state move-portal"), "{text}");
            assert_eq!(error_policy(&err), Decision::Fail);
            assert_eq!(server.seen().len(), 1);
        }
        for location in [
            "https://elsewhere.example/rest/1/CANARYCODE123/scope",
            "http://portal.example/rest/1/CANARYCODE123/scope",
        ] {
            let server = FakeServer::start(scripted(vec![Reply::redirect(302, location)])).await;
            let (client, _clock) = webhook_client(&server);
            let err = client.call(&scope()).await.unwrap_err();
            assert!(matches!(err, ClientError::Moved { .. }), "{err:?}");
            assert_eq!(server.seen().len(), 1);
        }
        assert!(
            elsewhere.seen().is_empty(),
            "nothing reached the other origin"
        );
    }

    #[tokio::test]
    async fn a_second_redirect_is_not_followed() {
        let server = FakeServer::start(scripted(vec![Reply::redirect(
            307,
            "/again/rest/1/CANARYCODE123/scope",
        )]))
        .await;
        let (client, _clock) = webhook_client(&server);
        let err = client.call(&scope()).await.unwrap_err();
        assert!(
            matches!(&err, ClientError::Redirected { status: 307, .. }),
            "{err:?}"
        );
        assert!(!everything(&err).contains(CANARY));
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn the_throttle_spaces_requests() {
        let server = FakeServer::start(scripted(vec![Reply::result(json!(true))])).await;
        let (client, clock) = webhook_client(&server);
        let client = client.with_rate(Rate {
            capacity: 2,
            per_second: 1.0,
        });
        assert_eq!(client.rate().capacity, 2);
        let clone = client.clone();
        for _ in 0..2 {
            client.call(&scope()).await.unwrap();
            clone.call(&scope()).await.unwrap();
        }
        assert_eq!(clock.sleeps(), vec![secs(1), secs(1)]);
        let stats = client.stats();
        assert_eq!((stats.requests, stats.throttle_wait), (4, secs(2)));
        assert_eq!(clone.stats(), stats);
    }

    #[tokio::test]
    async fn a_method_near_its_time_budget_pauses_first() {
        let answer = Reply::json(
            200,
            json!({"result": 1, "time": {"operating": 470.0, "operating_reset_at": UNIX + 20.0}}),
        );
        let server = FakeServer::start(scripted(vec![answer.clone()])).await;
        let (client, clock) = webhook_client(&server);
        let logs = capture();
        client.call(&scope()).await.unwrap();
        assert!(clock.sleeps().is_empty());
        client.call(&scope()).await.unwrap();
        assert_eq!(clock.sleeps(), vec![secs(21)]);
        assert_eq!(client.stats().operating_wait, secs(21));
        assert!(
            logs.text()
                .contains("scope: time budget nearly spent (470s of 480s used in the last 10 minutes): pausing 21s until it resets"),
            "{}",
            logs.text()
        );

        // With a larger limit, 470 s is not near it.
        let server = FakeServer::start(scripted(vec![answer])).await;
        let (client, clock) = webhook_client(&server);
        let client = client.with_operating_limit(secs(1000));
        client.call(&scope()).await.unwrap();
        client.call(&scope()).await.unwrap();
        assert!(clock.sleeps().is_empty());
    }

    // ---- OAuth ----

    const SECRET: &str = "SECRET_CANARY";

    /// A portal accepting only `valid` as `auth`, and a token endpoint turning
    /// `REFRESH_OLD_CANARY` into `ACCESS_NEW_CANARY` / `REFRESH_NEW_CANARY`.
    fn oauth_portal(
        valid: &'static str,
        token_answers: Vec<Reply>,
    ) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
        let token_endpoint = scripted(token_answers);
        move |seen: &Seen| {
            if seen.target.starts_with("/oauth/token/") {
                let url = Url::parse(&format!("http://x{}", seen.target)).unwrap();
                let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
                assert_eq!(seen.method, "GET");
                assert_eq!(query["grant_type"], "refresh_token");
                assert_eq!(query["client_id"], "app.local.1");
                assert_eq!(query["client_secret"], SECRET);
                assert_eq!(query["refresh_token"], "REFRESH_OLD_CANARY");
                token_endpoint(seen)
            } else if seen.auth().as_deref() == Some(valid) {
                Reply::result(json!("ok"))
            } else {
                Reply::error(
                    401,
                    "expired_token",
                    "The access token provided has expired",
                )
            }
        }
    }

    fn new_tokens() -> Reply {
        Reply::json(
            200,
            json!({"access_token": "ACCESS_NEW_CANARY", "refresh_token": "REFRESH_NEW_CANARY",
                "expires": 1_700_003_600, "expires_in": 3600, "domain": "oauth.bitrix.info"}),
        )
    }

    fn oauth_client(server: &FakeServer, token_file: &std::path::Path) -> (Client, Arc<FakeClock>) {
        let refresh = RefreshConfig::new("app.local.1", SECRET, "REFRESH_OLD_CANARY")
            .unwrap()
            .with_token_url(&format!("{}/oauth/token/", server.url))
            .unwrap()
            .with_token_file(token_file);
        let credentials =
            Credentials::oauth(&server.url, "ACCESS_OLD_CANARY", Some(refresh)).unwrap();
        let clock = FakeClock::new(UNIX);
        let client = Client::new(credentials)
            .unwrap()
            .with_clock(clock.clone())
            .with_retry(exact());
        (client, clock)
    }

    fn token_requests(server: &FakeServer) -> usize {
        server
            .seen()
            .iter()
            .filter(|s| s.target.starts_with("/oauth/token/"))
            .count()
    }

    #[tokio::test]
    async fn concurrent_expired_calls_refresh_once_and_save_the_tokens() {
        let server = FakeServer::start(oauth_portal("ACCESS_NEW_CANARY", vec![new_tokens()])).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens.json");
        let (client, _clock) = oauth_client(&server, &file);
        let logs = capture();
        let other = client.clone();
        let (request_a, request_b) = (scope(), Request::new("batch", json!({"cmd": {}})));
        let (a, b) = tokio::join!(client.call(&request_a), other.call(&request_b));
        assert_eq!(a.unwrap(), json!("ok"));
        assert_eq!(b.unwrap(), json!("ok"));
        assert_eq!(token_requests(&server), 1);
        let stats = client.stats();
        assert_eq!((stats.refreshes, stats.requests, stats.retries), (1, 4, 0));

        // The rotated pair is on disk; later calls use the new token directly.
        let stored = crate::bitrix::token_file::read_token_file(&file)
            .unwrap()
            .unwrap();
        assert_eq!(stored.access_token.expose(), "ACCESS_NEW_CANARY");
        assert_eq!(stored.refresh_token.expose(), "REFRESH_NEW_CANARY");
        assert_eq!(stored.expires, Some(1_700_003_600));
        assert!(stored.saved_at.is_some());
        client.call(&scope()).await.unwrap();
        assert_eq!(client.stats().requests, 5);
        let portal_calls: Vec<Seen> = server
            .seen()
            .into_iter()
            .filter(|s| !s.target.starts_with("/oauth/"))
            .collect();
        assert_eq!(
            portal_calls.last().unwrap().auth().unwrap(),
            "ACCESS_NEW_CANARY"
        );

        let logged = logs.text();
        assert!(
            logged.contains("refreshed the OAuth access token"),
            "{logged}"
        );
        assert!(!logged.contains("CANARY"), "{logged}");
        assert!(!format!("{client:?}").contains("CANARY"));
    }

    #[tokio::test]
    async fn a_rejected_refresh_token_ends_with_a_clear_error_after_one_request() {
        let server = FakeServer::start(oauth_portal(
            "never",
            vec![Reply::error(400, "invalid_grant", "Invalid refresh token")],
        ))
        .await;
        let dir = tempfile::tempdir().unwrap();
        let (client, clock) = oauth_client(&server, &dir.path().join("tokens.json"));
        let other = client.clone();
        let (request_a, request_b) = (scope(), scope());
        let (a, b) = tokio::join!(client.call(&request_a), other.call(&request_b));
        for err in [a.unwrap_err(), b.unwrap_err()] {
            assert!(
                matches!(err, ClientError::Refresh(RefreshError::InvalidGrant { .. })),
                "{err:?}"
            );
            assert_eq!(
                err.to_string(),
                "the refresh token was rejected (invalid_grant): re-authorise the app and set \
                 PAYSYNC_REFRESH_TOKEN / the token file (PAYSYNC_TOKEN_FILE)"
            );
            assert!(!everything(&err).contains("CANARY"));
        }
        assert_eq!(token_requests(&server), 1);
        assert!(clock.sleeps().is_empty());
        assert!(!dir.path().join("tokens.json").exists());
    }

    #[tokio::test]
    async fn a_token_refused_again_after_a_refresh_is_reported() {
        let server = FakeServer::start(oauth_portal("never", vec![new_tokens()])).await;
        let dir = tempfile::tempdir().unwrap();
        let (client, _clock) = oauth_client(&server, &dir.path().join("tokens.json"));
        let err = client.call(&scope()).await.unwrap_err();
        assert_eq!(err.portal_error().unwrap().code, "expired_token");
        assert_eq!(token_requests(&server), 1);
        assert_eq!(client.stats().requests, 2);
    }

    #[tokio::test]
    async fn a_failing_token_endpoint_is_retried_with_backoff() {
        let server = FakeServer::start(oauth_portal(
            "ACCESS_NEW_CANARY",
            vec![Reply::html(503), new_tokens()],
        ))
        .await;
        let dir = tempfile::tempdir().unwrap();
        let (client, clock) = oauth_client(&server, &dir.path().join("tokens.json"));
        let logs = capture();
        assert_eq!(client.call(&scope()).await.unwrap(), json!("ok"));
        assert_eq!(token_requests(&server), 2);
        assert_eq!(clock.sleeps(), vec![secs(1)]);
        assert_eq!(client.stats().refreshes, 2);
        assert!(
            logs.text()
                .contains("the OAuth token endpoint failed: retrying in 1s"),
            "{}",
            logs.text()
        );
    }

    #[tokio::test]
    async fn an_expired_token_without_refresh_credentials_names_the_variables() {
        let server = FakeServer::start(oauth_portal("never", vec![new_tokens()])).await;
        let credentials = Credentials::from_access_token(&server.url, "ACCESS_OLD_CANARY").unwrap();
        let client = Client::new(credentials).unwrap().with_retry(exact());
        let err = client.call(&scope()).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("(expired_token)"), "{text}");
        assert!(
            text.contains("PAYSYNC_REFRESH_TOKEN, PAYSYNC_CLIENT_ID and PAYSYNC_CLIENT_SECRET"),
            "{text}"
        );
        assert_eq!(token_requests(&server), 0);
        assert_eq!(client.stats().requests, 1);
    }
}
