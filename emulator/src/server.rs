//! The HTTP layer: routes `/rest/...` and `/oauth/token/` requests, decodes the query
//! string and the body (JSON, form, multipart), applies request-scope faults, the leaky
//! bucket and authentication, runs the call, writes the envelope and records the request.
//!
//! Order for every request (documented in the README):
//! 1. decode the route and the parameters;
//! 2. request-scope faults, in injection order: delays sleep (real time) and matching
//!    goes on; the first other match answers instead of the portal (`request_error`,
//!    `html`, `moved`) or lets the portal answer and then drops the connection
//!    (`lost_response`);
//! 3. the leaky bucket (REST routes only; the token endpoint is another server);
//! 4. a body that could not be decoded → 400;
//! 5. authentication (`NO_AUTH_FOUND`, `expired_token`);
//! 6. per call, batch sub-calls included: call-scope faults, method lookup, scope,
//!    operating time, the method.
//!
//! The portal work runs synchronously under the portal mutex, so the request log is in
//! processing order and each request sees a consistent state; the mutex is never held
//! across a delay. Logging is `tracing` at info level with the method name and status
//! only: the path (which holds the webhook secret) and the parameters (which may hold
//! `auth` or OAuth secrets) are never logged.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::envelope::{ApiError, Output, Timing, success_body};
use crate::fault::{FaultAction, RequestFaults, normalize_method};
use crate::limits::OperatingReport;
use crate::methods;
use crate::oauth;
use crate::php;
use crate::portal::{Caller, Portal};
use crate::record::{AuthMode, RecordedRequest, RecordedSubCall};

/// Request bodies larger than this are refused (Bitrix's own limits are far lower).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// State shared by the server task and every [`crate::EmulatorHandle`].
#[derive(Debug)]
pub(crate) struct Shared {
    portal: Mutex<Portal>,
    /// The portal's clock (also in the portal), readable without the lock.
    clock: Clock,
    /// HTTP requests received so far, counted as they arrive (before any fault or delay).
    received: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub(crate) fn new(portal: Portal) -> Self {
        Shared {
            clock: portal.clock.clone(),
            portal: Mutex::new(portal),
            received: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// HTTP requests received so far (see [`crate::EmulatorHandle::requests_received`]).
    pub(crate) fn received(&self) -> u64 {
        self.received.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Locks the portal; a panic elsewhere never makes the emulator unusable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Portal> {
        self.portal.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The axum application: every path goes through [`handle`].
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// Which URL form a request used.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// `/rest/<user_id>/<secret>/<method>`.
    Webhook {
        user_id: String,
        secret: String,
        method: String,
    },
    /// `/rest/<method>` with `auth` in the parameters.
    OAuth { method: String },
    /// Anything else.
    Unknown,
}

impl Route {
    fn parse(path: &str) -> Route {
        let Some(rest) = path.strip_prefix("/rest/") else {
            return Route::Unknown;
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let segments: Vec<String> = rest.split('/').map(percent_decode).collect();
        match segments.as_slice() {
            [method] if !method.is_empty() => Route::OAuth {
                method: normalize_method(method),
            },
            [user_id, secret, method] if !method.is_empty() => Route::Webhook {
                user_id: user_id.clone(),
                secret: secret.clone(),
                method: normalize_method(method),
            },
            _ => Route::Unknown,
        }
    }

    fn method(&self) -> &str {
        match self {
            Route::Webhook { method, .. } | Route::OAuth { method } => method,
            Route::Unknown => "",
        }
    }
}

/// Percent-decodes one path segment (`+` stays a plus in paths; a broken escape stays as
/// written).
fn percent_decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// What a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    /// `/rest/...` (or any other path, answered 404 by the portal).
    Rest(Route),
    /// `/oauth/token/`: the OAuth server's token endpoint.
    Token,
}

impl Endpoint {
    fn parse(path: &str) -> Endpoint {
        match path {
            "/oauth/token" | "/oauth/token/" => Endpoint::Token,
            _ => Endpoint::Rest(Route::parse(path)),
        }
    }

    fn method(&self) -> &str {
        match self {
            Endpoint::Rest(route) => route.method(),
            Endpoint::Token => oauth::TOKEN_METHOD,
        }
    }
}

/// One decoded request, before the portal sees it.
struct Incoming {
    http_method: String,
    endpoint: Endpoint,
    /// Query and body merged, `auth` removed (empty when decoding failed).
    params: Map<String, Value>,
    decode_error: Option<ApiError>,
    /// The `auth` parameter (OAuth access token).
    token: Option<String>,
    auth: AuthMode,
    /// The original path and query, for a `moved` fault's `Location`.
    path_and_query: String,
    timing: Timing,
}

impl Incoming {
    fn new(
        parts: &Parts,
        decoded: Result<Map<String, Value>, ApiError>,
        timing: Timing,
    ) -> Incoming {
        let endpoint = Endpoint::parse(parts.uri.path());
        let (mut params, decode_error) = match decoded {
            Ok(params) => (params, None),
            Err(error) => (Map::new(), Some(error)),
        };
        let token = params.remove("auth").as_ref().and_then(php::string);
        let auth = match &endpoint {
            Endpoint::Rest(Route::Webhook { user_id, .. }) => user_id
                .parse()
                .map_or(AuthMode::None, |user_id| AuthMode::Webhook { user_id }),
            Endpoint::Rest(Route::OAuth { .. }) if token.is_some() => AuthMode::OAuth,
            _ => AuthMode::None,
        };
        Incoming {
            http_method: parts.method.as_str().to_owned(),
            endpoint,
            params,
            decode_error,
            token,
            auth,
            path_and_query: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
            timing,
        }
    }

    fn method(&self) -> &str {
        self.endpoint.method()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    shared
        .received
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let timing = Timing::start(shared.clock());
    let (parts, body) = request.into_parts();
    let decoded = decode_params(&parts, body).await;
    let incoming = Incoming::new(&parts, decoded, timing);
    // Its own task, so that a client giving up (say during a delay) cannot cancel the
    // work half-way: like PHP, the portal finishes and only then finds nobody listening.
    match tokio::spawn(serve_request(shared, incoming)).await {
        Ok(response) => response,
        Err(_) => json_response(
            500,
            &ApiError::new(500, "INTERNAL_SERVER_ERROR", "Internal server error").body(),
        ),
    }
}

async fn serve_request(shared: Arc<Shared>, incoming: Incoming) -> Response {
    let (found, fault_sub_calls) = {
        let mut portal = shared.lock();
        if incoming.endpoint == Endpoint::Token {
            portal.oauth.requests += 1;
        }
        request_faults(&mut portal, &incoming)
    };
    for gate in &found.holds {
        gate.passed().await;
    }
    for delay in &found.delays {
        tokio::time::sleep(*delay).await;
    }
    let method = incoming.method().to_owned();
    match found.terminal {
        Some(FaultAction::Html { status }) => {
            record(&mut shared.lock(), incoming, status, fault_sub_calls);
            tracing::info!(method, status, "html fault");
            html_response(status)
        }
        Some(FaultAction::Moved { status, base_url }) => {
            let location = format!("{base_url}{}", incoming.path_and_query);
            record(&mut shared.lock(), incoming, status, fault_sub_calls);
            tracing::info!(method, status, "moved fault");
            redirect_response(status, &location)
        }
        Some(FaultAction::EchoRequest { status, code }) => {
            let description = format!(
                "{} {} params={} auth={}",
                incoming.http_method,
                incoming.path_and_query,
                Value::Object(incoming.params.clone()),
                incoming.token.as_deref().unwrap_or("-"),
            );
            let error = ApiError::new(status, code, description);
            record(&mut shared.lock(), incoming, status, fault_sub_calls);
            tracing::info!(method, status, "echo fault");
            json_response(error.status, &error.body())
        }
        Some(FaultAction::EndlessBody) => {
            record(&mut shared.lock(), incoming, 200, fault_sub_calls);
            tracing::info!(method, "endless body fault");
            endless_response()
        }
        Some(action @ FaultAction::Error { .. }) => {
            let error = action.as_error().unwrap_or_else(|| {
                ApiError::new(500, "INTERNAL_SERVER_ERROR", "Internal server error")
            });
            record(&mut shared.lock(), incoming, error.status, fault_sub_calls);
            tracing::info!(method, status = error.status, "request fault");
            json_response(error.status, &error.body())
        }
        Some(FaultAction::LostResponse) => {
            let (status, _) = process(&mut shared.lock(), incoming);
            tracing::info!(method, status, "response dropped (lost_response fault)");
            lost_response()
        }
        _ => {
            let (status, body) = process(&mut shared.lock(), incoming);
            tracing::info!(method, status, "rest call");
            json_response(status, &body)
        }
    }
}

/// Step 2: the request-scope faults matching the call or, for a batch, any sub-call.
/// Also returns the decoded sub-calls, for the log of a request a fault answers.
fn request_faults(
    portal: &mut Portal,
    incoming: &Incoming,
) -> (RequestFaults, Vec<RecordedSubCall>) {
    let method = incoming.method();
    let is_token = incoming.endpoint == Endpoint::Token;
    let sub_calls = if method == "batch" && !is_token {
        methods::decode_sub_calls(&incoming.params)
    } else {
        Vec::new()
    };
    let empty = Map::new();
    let prepared_subs: Vec<Map<String, Value>> = sub_calls
        .iter()
        .map(|s| methods::prepare(&s.method, s.params.as_object().unwrap_or(&empty)))
        .collect();
    let prepared = methods::prepare(method, &incoming.params);
    let mut targets = vec![methods::fault_target(method, &prepared)];
    targets.extend(
        sub_calls
            .iter()
            .zip(&prepared_subs)
            .map(|(s, p)| methods::fault_target(&s.method, p)),
    );
    (portal.faults.take_request(&targets, is_token), sub_calls)
}

/// Steps 3–6 for one request; records it and returns status and body.
fn process(portal: &mut Portal, incoming: Incoming) -> (u16, Value) {
    let mut sub_calls = Vec::new();
    let (status, body) = match &incoming.endpoint {
        Endpoint::Token => match &incoming.decode_error {
            Some(error) => {
                let error = ApiError::new(400, "invalid_request", error.description.clone());
                (error.status, error.body())
            }
            None => {
                let now = portal.now();
                let client_endpoint = portal
                    .client_endpoint
                    .clone()
                    .unwrap_or_else(|| format!("{}/rest/", portal.base_url));
                let answer = portal
                    .oauth
                    .refresh(&incoming.params, now, &client_endpoint);
                (answer.status, answer.body)
            }
        },
        Endpoint::Rest(route) => {
            let outcome = if !portal.admit_request() {
                Err(ApiError::query_limit_exceeded())
            } else if let Some(error) = &incoming.decode_error {
                Err(error.clone())
            } else {
                respond(
                    portal,
                    route,
                    incoming.token.as_deref(),
                    &incoming.params,
                    &mut sub_calls,
                )
            };
            match outcome {
                Ok((output, report)) => (200, success_body(output, &incoming.timing, report)),
                Err(error) => (error.status, error.body()),
            }
        }
    };
    record(portal, incoming, status, sub_calls);
    (status, body)
}

/// Appends a request to the log, without credentials.
fn record(portal: &mut Portal, incoming: Incoming, status: u16, batch: Vec<RecordedSubCall>) {
    let method = incoming.method().to_owned();
    let mut params = incoming.params;
    match incoming.endpoint {
        Endpoint::Token => oauth::redact(&mut params),
        Endpoint::Rest(_) if method == "batch" => scrub_batch_commands(&mut params),
        Endpoint::Rest(_) => {}
    }
    portal.log.push(RecordedRequest {
        http_method: incoming.http_method,
        method,
        params: Value::Object(params),
        auth: incoming.auth,
        batch,
        status,
    });
}

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A proxy's error page, e.g. `<html><body><h1>502 Bad Gateway</h1></body></html>`.
fn html_response(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let page = format!("<html><body><h1>{title}</h1></body></html>");
    let mut response = (status, page).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn redirect_response(status: u16, location: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
    let mut response = status.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// 200, `application/json`: `{"result":"xxxx…` in 64 KiB chunks, forever.
fn endless_response() -> Response {
    let mut response = Response::new(Body::new(EndlessBody { started: false }));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A body that never ends.
struct EndlessBody {
    started: bool,
}

impl http_body::Body for EndlessBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];
        let chunk = if self.started {
            Bytes::from_static(&CHUNK)
        } else {
            self.started = true;
            Bytes::from_static(b"{\"result\":\"")
        };
        Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
    }
}

/// A response whose body fails before its first byte: hyper then closes the connection
/// without writing anything (the head is only buffered until the body's first frame), so
/// the client sees "connection closed before message completed", not a status.
fn lost_response() -> Response {
    Response::new(Body::new(AbortBody))
}

/// A body that fails at once.
struct AbortBody;

impl http_body::Body for AbortBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "lost_response fault: the emulator drops the connection",
        ))))
    }
}

/// Query string merged with the body, as PHP's request superglobals would hold them.
async fn decode_params(parts: &Parts, body: Body) -> Result<Map<String, Value>, ApiError> {
    let mut params = php::parse_query(parts.uri.query().unwrap_or(""));
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::invalid_request("The request body could not be read or is too large")
        })?;
    if bytes.is_empty() {
        return Ok(params);
    }
    let content_type = parts.headers.get(CONTENT_TYPE);
    let essence = content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let body_params = match essence.as_str() {
        "application/json" => decode_json(&bytes)?,
        e if e.ends_with("+json") => decode_json(&bytes)?,
        "multipart/form-data" => decode_multipart(content_type, bytes).await?,
        "" | "application/x-www-form-urlencoded" => {
            php::parse_query(&String::from_utf8_lossy(&bytes))
        }
        // PHP ignores bodies of other types.
        _ => Map::new(),
    };
    php::merge_top(&mut params, body_params);
    Ok(params)
}

fn decode_json(bytes: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Array(items)) if items.is_empty() => Ok(Map::new()),
        Ok(_) => Err(ApiError::invalid_request("The JSON body must be an object")),
        Err(e) => Err(ApiError::invalid_request(format!("Invalid JSON body: {e}"))),
    }
}

async fn decode_multipart(
    content_type: Option<&HeaderValue>,
    bytes: Bytes,
) -> Result<Map<String, Value>, ApiError> {
    let bad = |e: &dyn std::fmt::Display| {
        ApiError::invalid_request(format!("Invalid multipart body: {e}"))
    };
    let mut request = Request::new(Body::from(bytes));
    if let Some(value) = content_type {
        request.headers_mut().insert(CONTENT_TYPE, value.clone());
    }
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| bad(&e))?;
    let mut params = php::PhpParams::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| bad(&e))? {
        let name = field.name().map(str::to_owned);
        // File parts go to PHP's $_FILES, not into the parameters.
        let is_file = field.file_name().is_some();
        let data = field.bytes().await.map_err(|e| bad(&e))?;
        if let (Some(name), false) = (name, is_file) {
            params.insert(&name, String::from_utf8_lossy(&data).into_owned());
        }
    }
    Ok(params.into_map())
}

/// Authenticates and runs the top-level call; the operating report is for `time`.
fn respond(
    portal: &mut Portal,
    route: &Route,
    token: Option<&str>,
    params: &Map<String, Value>,
    sub_calls: &mut Vec<RecordedSubCall>,
) -> Result<(Output, Option<OperatingReport>), ApiError> {
    let method = route.method();
    let caller: Caller = match route {
        Route::Webhook {
            user_id, secret, ..
        } => portal.authenticate_webhook(user_id, secret)?,
        Route::OAuth { .. } => portal.authenticate_token(token)?,
        Route::Unknown => return Err(ApiError::method_not_found()),
    };
    let output = methods::execute(portal, &caller, method, params, false, sub_calls)?;
    Ok((output, portal.operating_report(&caller, method)))
}

/// Drops `auth=...` from batch command strings so that no token reaches the log.
fn scrub_batch_commands(params: &mut Map<String, Value>) {
    let scrub = |command: &mut Value| {
        let Some(text) = command.as_str() else {
            return;
        };
        let Some((method, query)) = text.split_once('?') else {
            return;
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let name = pair.split('=').next().unwrap_or("");
                let decoded: String = form_urlencoded::parse(name.as_bytes())
                    .map(|(k, _)| k.into_owned())
                    .collect();
                decoded != "auth"
            })
            .collect();
        *command = Value::String(format!("{method}?{}", kept.join("&")));
    };
    match params.get_mut("cmd") {
        Some(Value::Object(map)) => map.values_mut().for_each(scrub),
        Some(Value::Array(items)) => items.iter_mut().for_each(scrub),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes() {
        assert_eq!(
            Route::parse("/rest/1/s3cr%65t/Sale.PaySystem.List.json"),
            Route::Webhook {
                user_id: "1".into(),
                secret: "s3cret".into(),
                method: "sale.paysystem.list".into()
            }
        );
        assert_eq!(
            Route::parse("/rest/batch/"),
            Route::OAuth {
                method: "batch".into()
            }
        );
        assert_eq!(Route::parse("/rest/"), Route::Unknown);
        assert_eq!(Route::parse("/rest/1/secret/"), Route::Unknown);
        assert_eq!(Route::parse("/other"), Route::Unknown);
    }

    #[test]
    fn percent_decoding_of_paths() {
        assert_eq!(percent_decode("a%2Fb+c%"), "a/b+c%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn batch_commands_lose_their_auth() {
        let mut params = match json!({"cmd": {"a": "scope?auth=tok&x=1", "b": "scope?au%74h=tok"}})
        {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        scrub_batch_commands(&mut params);
        assert_eq!(
            Value::Object(params),
            json!({"cmd": {"a": "scope?x=1", "b": "scope?"}})
        );
    }
}
