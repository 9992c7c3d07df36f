//! The HTTP client: sends [`Request`]s to the portal and reads the answers.
//!
//! Every HTTP request goes through one private `send`, a single attempt: POST the JSON
//! parameters to `<base><method>`, read the status and body, and hand them to the pure
//! `interpret`. `call` wraps `send` in the retry loop ([`error_policy`],
//! [`RetryPolicy`]); the rate-limit throttle and OAuth refresh will wrap it there too.
//!
//! Secrets: the request URL holds the webhook code, so it is never logged, every
//! `reqwest::Error` is stripped of it (`without_url`), redirects are not followed (their
//! `Location` holds the code too; only its host is kept), and request bodies are never
//! logged. Logs carry the method name, status and timing only.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::{ACCEPT, LOCATION};
use serde_json::Value;

use super::credentials::Credentials;
use super::envelope::{
    BatchEntry, BatchOutcome, CallError, PortalError, parse_batch_result, parse_response,
    parse_settings,
};
use super::request::{MAX_BATCH, METHOD_BATCH, METHOD_SETTINGS_GET, Request, batch_request};
use super::retry::{Decision, RetryPolicy, error_policy};
use crate::model::{LiveSetting, Target};

/// The portal cuts requests off after 60 seconds (bitrix24-api.md §9.3).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for a TCP/TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("paysync/", env!("CARGO_PKG_VERSION"));

/// Why a call to the portal failed. Never carries the webhook code, a token, a request
/// body or a response body.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot set up the HTTP client")]
    Setup {
        #[source]
        source: reqwest::Error,
    },
    /// The portal answered with an error envelope.
    #[error("{method}: {error}")]
    Portal { method: String, error: PortalError },
    /// The request could not be sent or the answer not received. The source has no URL.
    #[error("{method}: cannot reach the portal")]
    Transport {
        method: String,
        #[source]
        source: reqwest::Error,
    },
    /// No answer within [`REQUEST_TIMEOUT`].
    #[error("{method}: the portal did not answer within {} seconds", REQUEST_TIMEOUT.as_secs())]
    Timeout { method: String },
    /// The answer is not an envelope (an HTML error page, an empty body, ...).
    #[error("{method}: unreadable answer (HTTP {status})")]
    Unreadable {
        method: String,
        status: u16,
        #[source]
        source: CallError,
    },
    /// The envelope's `result` does not have the documented shape.
    #[error("{method}: {detail}")]
    Decode { method: String, detail: String },
    /// The portal answered with a redirect: its address has changed (bitrix24-api.md
    /// §1.1). Only the new host is kept; the full `Location` holds the webhook code.
    #[error(
        "the portal answered with a redirect to {location_host}: its address has probably \
         changed; update the portal address in the credentials"
    )]
    Moved { location_host: String },
    /// A method name that is not `[a-z0-9._]` (it is appended to the URL).
    #[error("invalid REST method name {method:?}")]
    InvalidMethod { method: String },
    /// More than [`MAX_BATCH`] commands for one `batch`.
    #[error("a batch takes at most {MAX_BATCH} commands, got {count}")]
    BatchTooLarge { count: usize },
    /// Two commands of one `batch` share a key.
    #[error("batch key {key:?} used twice")]
    DuplicateBatchKey { key: String },
}

impl ClientError {
    /// The portal's error, when the portal reported one.
    pub fn portal_error(&self) -> Option<&PortalError> {
        match self {
            ClientError::Portal { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A connection to one portal.
pub struct Client {
    http: reqwest::Client,
    credentials: Credentials,
    retry: RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("credentials", &self.credentials)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the portal the credentials name: rustls, [`REQUEST_TIMEOUT`],
    /// [`USER_AGENT`], redirects not followed, the default [`RetryPolicy`]. Proxies from
    /// the environment are used except for loopback portals.
    pub fn new(credentials: Credentials) -> Result<Client, ClientError> {
        let mut builder = reqwest::Client::builder()
            .tls_backend_rustls()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT);
        if credentials.is_loopback() {
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|source| ClientError::Setup {
            source: source.without_url(),
        })?;
        Ok(Client {
            http,
            credentials,
            retry: RetryPolicy::default(),
        })
    }

    /// The same client with another retry policy ([`RetryPolicy::none`] in tests).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Client {
        self.retry = retry;
        self
    }

    /// The portal's address, `scheme://host[:port]` (see [`Credentials::portal`]).
    pub fn portal(&self) -> String {
        self.credentials.portal()
    }

    /// Calls one method and returns its `result`, retrying transient failures as the
    /// retry policy allows.
    pub async fn call(&self, request: &Request) -> Result<Value, ClientError> {
        let mut attempt = 1;
        loop {
            let error = match self.send(request).await {
                Ok(result) => return Ok(result),
                Err(error) => error,
            };
            let delay = match error_policy(&error) {
                Decision::Retry => self.retry.delay_before(attempt + 1),
                Decision::Fail => None,
            };
            let Some(delay) = delay else {
                return Err(error);
            };
            attempt += 1;
            tracing::warn!(
                method = %request.method,
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "{error}; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Runs up to [`MAX_BATCH`] calls in one `batch` request, in the order given, and
    /// reports each one's fate by key. With `halt`, the portal stops at the first failing
    /// sub-call and the rest are [`BatchEntry::NotRun`]. No commands, no request.
    pub async fn batch(
        &self,
        commands: &[(String, Request)],
        halt: bool,
    ) -> Result<BatchOutcome, ClientError> {
        if commands.is_empty() {
            return Ok(BatchOutcome::default());
        }
        if commands.len() > MAX_BATCH {
            return Err(ClientError::BatchTooLarge {
                count: commands.len(),
            });
        }
        let mut keys = BTreeSet::new();
        for (key, request) in commands {
            if !keys.insert(key.as_str()) {
                return Err(ClientError::DuplicateBatchKey { key: key.clone() });
            }
            check_method(&request.method)?;
        }
        let result = self.call(&batch_request(commands, halt)).await?;
        let keys: Vec<String> = commands.iter().map(|(key, _)| key.clone()).collect();
        parse_batch_result(&keys, &result).map_err(|e| ClientError::Decode {
            method: METHOD_BATCH.into(),
            detail: e.to_string(),
        })
    }

    /// Reads the settings of each target with `sale.paysystem.settings.get`, batched at
    /// most [`MAX_BATCH`] per HTTP request. A target the portal refused (`ACCESS_DENIED`
    /// for a built-in pay system, `ERROR_CHECK_FAILURE` for an unknown one, ...) maps to
    /// its error; a failure of a whole request is the `Err`. Duplicate targets are read
    /// once.
    pub async fn read_settings(
        &self,
        targets: &[Target],
    ) -> Result<BTreeMap<Target, Result<BTreeMap<String, LiveSetting>, PortalError>>, ClientError>
    {
        let targets: Vec<Target> = targets
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut read = BTreeMap::new();
        for chunk in targets.chunks(MAX_BATCH) {
            let commands: Vec<(String, Request)> = chunk
                .iter()
                .map(|t| (settings_key(*t), Request::settings_get(*t)))
                .collect();
            let outcome = self.batch(&commands, false).await?;
            for (target, (key, _)) in chunk.iter().zip(&commands) {
                let settings = match outcome.entries.get(key) {
                    Some(BatchEntry::Ok(result)) => {
                        Ok(parse_settings(result).map_err(|e| ClientError::Decode {
                            method: METHOD_SETTINGS_GET.into(),
                            detail: format!("{target}: {e}"),
                        })?)
                    }
                    Some(BatchEntry::Failed(error)) => Err(error.clone()),
                    Some(BatchEntry::NotRun) | None => {
                        return Err(ClientError::Decode {
                            method: METHOD_BATCH.into(),
                            detail: format!(
                                "the portal reported neither a result nor an error for {target}"
                            ),
                        });
                    }
                };
                read.insert(*target, settings);
            }
        }
        Ok(read)
    }

    /// One HTTP exchange, the only place a request leaves the process.
    async fn send(&self, request: &Request) -> Result<Value, ClientError> {
        let method = &request.method;
        check_method(method)?;
        let url = self
            .credentials
            .base()
            .join(&method.to_ascii_lowercase())
            .map_err(|_| ClientError::InvalidMethod {
                method: method.clone(),
            })?;
        let mut body = request.params.clone();
        if let (Some(token), Value::Object(map)) = (self.credentials.access_token(), &mut body) {
            map.insert("auth".into(), Value::String(token.expose().clone()));
        }

        let started = Instant::now();
        let response = self
            .http
            .post(url)
            .header(ACCEPT, "application/json")
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(method, e))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = if response.status().is_redirection() {
            Default::default()
        } else {
            response
                .bytes()
                .await
                .map_err(|e| transport_error(method, e))?
        };
        tracing::debug!(
            method = %method,
            status,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "portal answered"
        );
        interpret(
            method,
            status,
            location.as_deref(),
            &bytes,
            self.credentials.base(),
        )
    }
}

/// Turns one answer into the call's `result` or error. Pure: tested without a network.
fn interpret(
    method: &str,
    status: u16,
    location: Option<&str>,
    body: &[u8],
    base: &Url,
) -> Result<Value, ClientError> {
    if (300..400).contains(&status) {
        return Err(ClientError::Moved {
            location_host: location_host(location, base),
        });
    }
    parse_response(status, body).map_err(|error| match error {
        CallError::Portal(error) => ClientError::Portal {
            method: method.to_owned(),
            error,
        },
        source => ClientError::Unreadable {
            method: method.to_owned(),
            status,
            source,
        },
    })
}

/// The host a redirect points to; a relative `Location` stays on the portal's host.
fn location_host(location: Option<&str>, base: &Url) -> String {
    location
        .and_then(|l| base.join(l).ok())
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "an unknown address".into())
}

fn transport_error(method: &str, error: reqwest::Error) -> ClientError {
    let error = error.without_url();
    if error.is_timeout() {
        ClientError::Timeout {
            method: method.to_owned(),
        }
    } else {
        ClientError::Transport {
            method: method.to_owned(),
            source: error,
        }
    }
}

/// Method names are appended to the webhook URL, so only `[A-Za-z0-9._]` is allowed
/// (no `/`, `?`, `..`).
fn check_method(method: &str) -> Result<(), ClientError> {
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

/// The batch key of a target's `settings.get`.
fn settings_key(target: Target) -> String {
    format!("ps{}_pt{}", target.pay_system, target.person_type)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use super::*;

    const CANARY: &str = "CANARYCODE123";

    fn base() -> Url {
        Url::parse("https://example.bitrix24.com/rest/1/CANARYCODE123/").unwrap()
    }

    /// The error, its Debug and every cause in its chain, Display and Debug.
    fn everything(error: &(dyn std::error::Error + 'static)) -> String {
        let mut text = format!("{error} | {error:?} | {error:#?}");
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(&format!(" | {cause} | {cause:?}"));
            source = cause.source();
        }
        text
    }

    #[test]
    fn user_agent_names_the_version() {
        assert_eq!(USER_AGENT, format!("paysync/{}", env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn interpret_success_and_portal_error() {
        assert_eq!(
            interpret("m", 200, None, br#"{"result": true, "time": {}}"#, &base()).unwrap(),
            json!(true)
        );
        let err = interpret(
            "sale.paysystem.settings.get",
            403,
            None,
            br#"{"error":"ACCESS_DENIED","error_description":"Access denied"}"#,
            &base(),
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
        let err = interpret("batch", 502, None, b"<html>Bad Gateway</html>", &base()).unwrap_err();
        assert!(matches!(err, ClientError::Unreadable { status: 502, .. }));
        let text = everything(&err);
        assert!(
            text.contains("portal answered HTTP 502 with a non-JSON body"),
            "{text}"
        );
        assert!(!text.contains("Bad Gateway"), "{text}");
        assert_eq!(error_policy(&err), Decision::Retry);
    }

    #[test]
    fn redirects_keep_only_the_host() {
        let err = interpret(
            "batch",
            302,
            Some("https://new.bitrix24.com/rest/1/CANARYCODE123/batch"),
            b"",
            &base(),
        )
        .unwrap_err();
        let ClientError::Moved { location_host } = &err else {
            panic!("expected Moved, got {err:?}");
        };
        assert_eq!(location_host, "new.bitrix24.com");
        assert!(!everything(&err).contains(CANARY));

        let err =
            interpret("batch", 301, Some("/rest/1/CANARYCODE123/x"), b"", &base()).unwrap_err();
        assert!(
            matches!(&err, ClientError::Moved { location_host } if location_host == "example.bitrix24.com")
        );
        let err = interpret("batch", 307, None, b"", &base()).unwrap_err();
        assert!(!everything(&err).contains(CANARY));
        assert!(matches!(err, ClientError::Moved { .. }));
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

    #[test]
    fn settings_keys_are_distinct() {
        let a = settings_key(Target {
            pay_system: 1,
            person_type: 12,
        });
        let b = settings_key(Target {
            pay_system: 11,
            person_type: 2,
        });
        assert_ne!(a, b);
        assert_eq!(a, "ps1_pt12");
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

    #[tokio::test]
    async fn local_mistakes_fail_before_any_request() {
        let credentials = Credentials::from_webhook_url("http://127.0.0.1:1/rest/1/code/").unwrap();
        let client = Client::new(credentials)
            .unwrap()
            .with_retry_policy(RetryPolicy::none());
        let r = Request::settings_get(Target {
            pay_system: 1,
            person_type: 0,
        });
        let too_many: Vec<(String, Request)> = (0..=MAX_BATCH)
            .map(|i| (format!("k{i}"), r.clone()))
            .collect();
        assert!(matches!(
            client.batch(&too_many, false).await,
            Err(ClientError::BatchTooLarge { count: 51 })
        ));
        let duplicate = vec![("a".to_owned(), r.clone()), ("a".to_owned(), r.clone())];
        assert!(matches!(
            client.batch(&duplicate, false).await,
            Err(ClientError::DuplicateBatchKey { .. })
        ));
        let bad = vec![("a".to_owned(), Request::new("../x", json!({})))];
        assert!(matches!(
            client.batch(&bad, false).await,
            Err(ClientError::InvalidMethod { .. })
        ));
        assert!(client.batch(&[], true).await.unwrap().entries.is_empty());
        assert!(client.read_settings(&[]).await.unwrap().is_empty());
    }

    /// A `MakeWriter` collecting everything the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// Connection refused on loopback port 1: the error, its whole source chain and the
    /// trace-level log must not contain the webhook code or the secret parameter.
    #[tokio::test]
    async fn transport_errors_and_logs_never_show_the_code() {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let credentials =
            Credentials::from_webhook_url("http://127.0.0.1:1/rest/1/CANARYCODE123/").unwrap();
        let client = Client::new(credentials)
            .unwrap()
            .with_retry_policy(RetryPolicy {
                max_attempts: 2,
                first_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(1),
            });
        let mut settings = BTreeMap::new();
        settings.insert(
            "REST_SERVICE_KEY".to_owned(),
            (
                "VALUE".to_owned(),
                crate::secrets::Redacted::new("SECRETVALUE456".to_owned()),
            ),
        );
        let request = Request::settings_update(
            Target {
                pay_system: 11,
                person_type: 1,
            },
            &settings,
        );

        let err = client.call(&request).await.unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Transport { .. } | ClientError::Timeout { .. }
            ),
            "{err:?}"
        );
        let mut text = everything(&err);
        text.push_str(&format!("{request:?}"));

        let err = client
            .batch(&[("a".to_owned(), request.clone())], true)
            .await
            .unwrap_err();
        text.push_str(&everything(&err));

        let err = client
            .read_settings(&[Target {
                pay_system: 11,
                person_type: 0,
            }])
            .await
            .unwrap_err();
        text.push_str(&everything(&err));

        let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(
            logged.contains("retrying"),
            "the retry should be logged: {logged}"
        );
        text.push_str(&logged);
        assert!(!text.contains(CANARY), "{text}");
        assert!(!text.contains("SECRETVALUE456"), "{text}");
        assert!(text.contains("sale.paysystem.settings.update"), "{text}");
    }
}
