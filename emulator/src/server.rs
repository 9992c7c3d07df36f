//! The HTTP layer: routes `/rest/...` requests, decodes the query string and the body
//! (JSON, form, multipart), authenticates, applies request-scope faults, runs the call,
//! writes the envelope and records the request.
//!
//! Everything after decoding runs synchronously under the portal mutex, so the request
//! log is in processing order and each request sees a consistent state. Logging is
//! `tracing` at info level with the method name and status only: the path (which holds
//! the webhook secret) and the parameters (which may hold `auth`) are never logged.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header::{CONTENT_TYPE, HeaderValue};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::envelope::{ApiError, Output, Timing, success_body};
use crate::fault::{FaultScope, normalize_method};
use crate::methods;
use crate::php;
use crate::portal::{Caller, Portal};
use crate::record::{AuthMode, RecordedRequest, RecordedSubCall};

/// Request bodies larger than this are refused (Bitrix's own limits are far lower).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// State shared by the server task and every [`crate::EmulatorHandle`].
#[derive(Debug)]
pub(crate) struct Shared {
    portal: Mutex<Portal>,
}

impl Shared {
    pub(crate) fn new(portal: Portal) -> Self {
        Shared {
            portal: Mutex::new(portal),
        }
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

/// Percent-decodes one path segment (`+` stays a plus in paths).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let timing = Timing::start();
    let (parts, body) = request.into_parts();
    let route = Route::parse(parts.uri.path());
    let decoded = decode_params(&parts, body).await;
    let http_method = parts.method.as_str().to_owned();
    let (status, body) = {
        let mut portal = shared.lock();
        process(&mut portal, http_method, &route, decoded, &timing)
    };
    tracing::info!(method = route.method(), status, "rest call");
    json_response(status, &body)
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

/// Runs one decoded request against the portal and records it; returns status and body.
fn process(
    portal: &mut Portal,
    http_method: String,
    route: &Route,
    decoded: Result<Map<String, Value>, ApiError>,
    timing: &Timing,
) -> (u16, Value) {
    let method = route.method().to_owned();
    let (mut params, decode_error) = match decoded {
        Ok(params) => (params, None),
        Err(error) => (Map::new(), Some(error)),
    };
    let token = params.remove("auth").as_ref().and_then(php::string);
    let auth = match route {
        Route::Webhook { user_id, .. } => user_id
            .parse()
            .map_or(AuthMode::None, |user_id| AuthMode::Webhook { user_id }),
        Route::OAuth { .. } if token.is_some() => AuthMode::OAuth,
        _ => AuthMode::None,
    };
    let mut sub_calls = Vec::new();
    let outcome = match decode_error {
        Some(error) => Err(error),
        None => respond(portal, route, token.as_deref(), &params, &mut sub_calls),
    };
    let (status, body) = match outcome {
        Ok(output) => (200, success_body(output, timing)),
        Err(error) => (error.status, error.body()),
    };
    if method == "batch" {
        scrub_batch_commands(&mut params);
    }
    portal.log.push(RecordedRequest {
        http_method,
        method,
        params: Value::Object(params),
        auth,
        batch: sub_calls,
        status,
    });
    (status, body)
}

fn respond(
    portal: &mut Portal,
    route: &Route,
    token: Option<&str>,
    params: &Map<String, Value>,
    sub_calls: &mut Vec<RecordedSubCall>,
) -> Result<Output, ApiError> {
    let method = route.method();
    let prepared = methods::prepare(method, params);
    if let Some(action) = portal.faults.take(
        FaultScope::Request,
        &methods::fault_target(method, &prepared),
    ) && let Some(error) = action.as_error()
    {
        return Err(error);
    }
    let caller: Caller = match route {
        Route::Webhook {
            user_id, secret, ..
        } => portal.authenticate_webhook(user_id, secret)?,
        Route::OAuth { .. } => portal.authenticate_token(token)?,
        Route::Unknown => return Err(ApiError::method_not_found()),
    };
    methods::execute(portal, &caller, method, params, false, sub_calls)
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
