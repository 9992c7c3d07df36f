//! The HTTP exchange with the portal: one POST of JSON parameters and its answer, read
//! within bounds ([`MAX_RESPONSE_BYTES`]), and the pure reading of that answer
//! (`interpret`).
//!
//! reqwest never follows redirects itself (their `Location` holds the webhook code, and
//! a redirect to another origin must never be followed: see `Client::exchange`), every
//! `reqwest::Error` is stripped of its URL, and neither URLs nor bodies are logged: only
//! the method name, the status and the time taken. Throttling, retries and tokens are
//! the client's; this module only talks HTTP.

use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use serde_json::Value;

use super::body::{BodyError, read_bounded};
use super::credentials::host_port;
use super::envelope::{CallError, Timing, parse_envelope};
use super::error::ClientError;
use super::stats::millis;

/// The portal cuts requests off after 60 seconds (bitrix24-api.md §9.3).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for a TCP/TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest answer read from the portal (the body of one HTTP response): a batch of 50
/// `settings.get` results is far below it. A longer answer is an error, read no further.
pub const MAX_RESPONSE_BYTES: u64 = 32 << 20;

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("paysync/", env!("CARGO_PKG_VERSION"));

/// The redirects followed (once, and only within the portal's own origin) by re-sending
/// the same POST; 303 asks for a GET and is not followed.
pub(super) const FOLLOWED_REDIRECTS: [u16; 4] = [301, 302, 307, 308];

/// One HTTP answer, as read by [`Transport::post`].
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) location: Option<String>,
    pub(super) body: Vec<u8>,
}

/// The HTTP side of a client: reqwest set up for the portal (rustls, the timeouts,
/// [`USER_AGENT`], no redirects followed by reqwest, no proxy for a loopback portal) and
/// the bound on what is read.
#[derive(Debug, Clone)]
pub(super) struct Transport {
    http: reqwest::Client,
    max_response: u64,
    /// The environment variable holding the portal's address, named in connection errors.
    variable: String,
}

impl Transport {
    pub(super) fn new(loopback: bool, variable: String) -> Result<Transport, ClientError> {
        let mut builder = reqwest::Client::builder()
            .tls_backend_rustls()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT);
        if loopback {
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|error| ClientError::Setup {
            error: error.without_url(),
        })?;
        Ok(Transport {
            http,
            max_response: MAX_RESPONSE_BYTES,
            variable,
        })
    }

    /// The same transport reading answers of at most `bytes`.
    pub(super) fn with_max_response(self, bytes: u64) -> Transport {
        Transport {
            max_response: bytes,
            ..self
        }
    }

    /// The reqwest client (the token endpoint is called with it too).
    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// POSTs `body` as JSON to `url` and reads the status, the `Location` and the body
    /// (not the body of a redirect).
    pub(super) async fn post(
        &self,
        method: &str,
        url: Url,
        body: &Value,
    ) -> Result<Answer, ClientError> {
        let started = Instant::now();
        let portal = host_port(&url);
        let transport_error = |e| transport_error(method, &portal, &self.variable, e);
        // Serialised here (not by reqwest's `.json`) so its size can be logged.
        let body = serde_json::to_vec(body).expect("a JSON value serialises");
        let sent = body.len();
        let response = self
            .http
            .post(url)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = if response.status().is_redirection() {
            Vec::new()
        } else {
            read_bounded(response, self.max_response)
                .await
                .map_err(|e| match e {
                    BodyError::Transport(e) => transport_error(e),
                    BodyError::TooLarge { limit } => ClientError::TooLarge {
                        method: method.to_owned(),
                        limit,
                    },
                })?
        };
        // `-vv`: each request, by method, size and time; never its URL or body.
        tracing::debug!(
            method = %method,
            status,
            sent_bytes = sent,
            received_bytes = body.len(),
            elapsed_ms = millis(started.elapsed()),
            "POST {method}: HTTP {status}, {sent} bytes sent, {} received in {}ms",
            body.len(),
            millis(started.elapsed()),
        );
        Ok(Answer {
            status,
            location,
            body,
        })
    }
}

/// Turns one answer into the call's `result` and timing, or its error. Pure: tested
/// without a network.
pub(super) fn interpret(
    method: &str,
    status: u16,
    body: &[u8],
) -> Result<(Value, Timing), ClientError> {
    if (300..400).contains(&status) {
        return Err(ClientError::Redirected {
            method: method.to_owned(),
            status,
        });
    }
    parse_envelope(status, body).map_err(|error| match error {
        CallError::Portal(error) => ClientError::Portal {
            method: method.to_owned(),
            error,
        },
        error => ClientError::Unreadable {
            method: method.to_owned(),
            status,
            error,
        },
    })
}

/// Whether two URLs share an origin: scheme, host (lower-cased by the parser) and
/// effective port.
pub(super) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A reqwest error as a [`ClientError`], stripped of its URL (it holds the webhook code).
pub(super) fn transport_error(
    method: &str,
    portal: &str,
    variable: &str,
    error: reqwest::Error,
) -> ClientError {
    let error = error.without_url();
    if error.is_timeout() {
        ClientError::Timeout {
            method: method.to_owned(),
            after: REQUEST_TIMEOUT,
        }
    } else {
        ClientError::Transport {
            method: method.to_owned(),
            portal: portal.to_owned(),
            variable: variable.to_owned(),
            error,
        }
    }
}

/// Method names are appended to the webhook URL, so only `[A-Za-z0-9._]` is allowed
/// (no `/`, `?`, `..`).
pub(super) fn check_method(method: &str) -> Result<(), ClientError> {
    let valid = !method.is_empty()
        && !method.starts_with('.')
        && !method.contains("..")
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(ClientError::InvalidMethod {
            method: method.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bitrix::retry::{Decision, error_policy};
    use crate::bitrix::testserver::everything;

    #[test]
    fn user_agent_names_the_version() {
        assert_eq!(USER_AGENT, format!("paysync/{}", env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn interpret_success_and_portal_error() {
        assert_eq!(
            interpret("m", 200, br#"{"result": true, "time": {}}"#)
                .unwrap()
                .0,
            json!(true)
        );
        let err = interpret(
            "sale.paysystem.settings.get",
            403,
            br#"{"error":"ACCESS_DENIED","error_description":"Access denied"}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "sale.paysystem.settings.get: ACCESS_DENIED: Access denied"
        );
        assert_eq!(err.portal_error().unwrap().http_status, Some(403));
    }

    #[test]
    fn interpret_html_page() {
        let err = interpret("batch", 502, b"<html>Bad Gateway</html>").unwrap_err();
        assert!(matches!(err, ClientError::Unreadable { status: 502, .. }));
        let text = everything(&err);
        assert!(
            text.contains("portal answered HTTP 502 with a non-JSON body"),
            "{text}"
        );
        assert!(!text.contains("Bad Gateway"), "{text}");
        assert_eq!(error_policy(&err), Decision::Backoff);
    }

    #[test]
    fn origins_compare_scheme_host_and_effective_port() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(
            &u("https://Example.bitrix24.com/rest/1/x/"),
            &u("https://example.bitrix24.com:443/other")
        ));
        assert!(!same_origin(&u("https://a.com/"), &u("http://a.com/")));
        assert!(!same_origin(
            &u("https://a.com/"),
            &u("https://a.com:8443/")
        ));
        assert!(!same_origin(&u("https://a.com/"), &u("https://b.com/")));
        let err = interpret("batch", 307, b"").unwrap_err();
        assert!(matches!(err, ClientError::Redirected { status: 307, .. }));
    }

    #[test]
    fn method_names_are_checked() {
        for ok in [
            "batch",
            "sale.paysystem.settings.update",
            "crm.deal.add.json",
            "scope",
        ] {
            assert!(check_method(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../x",
            "a/b",
            "a?b=1",
            "a..b",
            ".a",
            "a b",
            "a#b",
            "метод",
        ] {
            assert!(check_method(bad).is_err(), "{bad:?}");
        }
    }
}
