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
use super::envelope::{Page, PortalError, Timing};
use super::error::{ClientError, Credential, Refusal, human};
use super::oauth::{TokenStore, warn_about_refresh_token_age};
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

pub(crate) mod refresh;

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
    /// How many read requests it keeps in flight at once (`--parallelism`).
    reads_in_flight: usize,
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
            reads_in_flight: 1,
        })
    }

    /// The same client keeping up to `k` read requests in flight at once (at least one),
    /// each still waiting for its slot in the bucket and the operating budget.
    pub fn with_parallelism(mut self, k: usize) -> Client {
        self.reads_in_flight = k.max(1);
        self
    }

    /// How many read requests it keeps in flight at once.
    pub fn parallelism(&self) -> usize {
        self.reads_in_flight
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

    /// Calls a method that creates something (`handler.add`, `sale.paysystem.add`):
    /// like [`Client::call`], except that once an attempt may have reached the portal
    /// (its answer lost), no further attempt is sent — a second `add` would create a
    /// second object. The caller looks the object up by its identity instead.
    pub async fn call_create(&self, request: &Request) -> Result<Value, ClientError> {
        check_method(&request.method)?;
        self.execute_with(request, &[request.method.to_ascii_lowercase()], true)
            .await
            .map(|(value, _)| value)
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
    /// closed before the response, a 5xx): `sale.paysystem.settings.update` is an
    /// idempotent upsert that does not rewrite an identical mapping (bitrix24-api.md
    /// §5.10), and the handler and pay-system updates and deletes set or remove the same
    /// thing again, so sending one twice is harmless. The creates are not: they go
    /// through [`Client::call_create`], which never re-sends after a lost answer.
    pub(super) async fn execute(
        &self,
        request: &Request,
        methods: &[String],
    ) -> Result<(Value, Timing), ClientError> {
        self.execute_with(request, methods, false).await
    }

    /// [`Client::execute`]; with `once_delivered`, no attempt follows one that may have
    /// reached the portal ([`Client::call_create`]).
    async fn execute_with(
        &self,
        request: &Request,
        methods: &[String],
        once_delivered: bool,
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
        .when(|error: &ClientError| {
            error_policy(error).is_retry()
                && !self.cancel.is_cancelled()
                && !(once_delivered && delivered.load(Ordering::SeqCst))
        })
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

/// Locks a mutex holding plain bookkeeping, which stays valid even if a holder panicked.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
#[cfg(test)]
mod tests;
