//! What the remote backends ([`super::s3`], [`super::http`]) share: the worker their
//! requests run on, the HTTP client, the bounded reads, the store's variables and the
//! lock's description.
//!
//! The [`super::StateBackend`] seam is synchronous (a journal record must be durable
//! before the next answer is looked at), and is called from inside apply's runtime. A
//! remote backend therefore runs its requests on a runtime of its own ([`Worker`], one
//! thread): a call hands a future over and blocks on its answer, and the lock's lease is
//! renewed there in the background while the holder works.
//!
//! Everything a store sends is untrusted: bodies are read within a bound, and what a
//! message shows of an answer is its status and a short error code, escaped. A request's
//! address is never shown (a presigned S3 address holds the access key ID and the
//! session token), and the store's credentials are registered with the scrubber
//! ([`crate::untrusted::remember_secret`]) the moment they are read.

use std::future::Future;
use std::time::Duration;

use super::error::StateError;
use super::location::StateLocation;
use crate::variables::Variables;

/// The guard of `m`, whether or not a thread panicked holding it (what it guards stays
/// consistent: every holder only replaces whole values).
pub fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The largest lock object or service answer about a lock read, in bytes.
pub const MAX_LOCK_BYTES: u64 = 64 * 1024;

/// Runs a remote backend's requests on a runtime of its own (see the module docs).
pub struct Worker {
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Worker")
    }
}

impl Worker {
    pub fn new(state: &StateLocation) -> Result<Worker, StateError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("paysync-state")
            .enable_all()
            .build()
            .map_err(|e| StateError::StoreConfig {
                state: state.clone(),
                message: format!("cannot start the state worker: {e}"),
            })?;
        Ok(Worker {
            runtime: Some(runtime),
        })
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the worker")
    }

    /// Runs `future` on the worker and waits for its answer (from any thread, inside a
    /// runtime or not).
    pub fn run<T: Send + 'static>(
        &self,
        state: &StateLocation,
        future: impl Future<Output = Result<T, StateError>> + Send + 'static,
    ) -> Result<T, StateError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime().spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(StateError::Store {
                state: state.clone(),
                message: "the state worker stopped before answering".into(),
            })
        })
    }

    /// Runs `future` in the background until it ends or the worker is dropped.
    pub fn spawn(
        &self,
        future: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        self.runtime().spawn(future)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Never blocks (it may be dropped inside apply's runtime): background tasks stop.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The HTTP client of a store: no redirects (a store answers where it is asked; a
/// redirect would carry the credentials elsewhere), bounded connect and read times.
pub fn http_client(state: &StateLocation) -> Result<reqwest::Client, StateError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("paysync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StateError::StoreConfig {
            state: state.clone(),
            message: format!("cannot build an HTTP client: {}", e.without_url()),
        })
}

/// A transport failure, without the address it was sent to.
pub fn transport(state: &StateLocation, doing: &str, error: reqwest::Error) -> StateError {
    let error = error.without_url();
    let mut message = format!("cannot {doing}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    StateError::Store {
        state: state.clone(),
        message: crate::untrusted::scrub(&message).into_owned(),
    }
}

/// Reads a body of at most `limit` bytes.
pub async fn read_body(
    state: &StateLocation,
    doing: &str,
    response: reqwest::Response,
    limit: u64,
) -> Result<Vec<u8>, StateError> {
    use crate::net::{BodyError, read_bounded};
    read_bounded(response, limit).await.map_err(|e| match e {
        BodyError::Transport(error) => transport(state, doing, error),
        BodyError::TooLarge { limit } => StateError::Store {
            state: state.clone(),
            message: format!("cannot {doing}: the store's answer is larger than {limit} bytes"),
        },
    })
}

/// An answer the store should not have given: its status and, from its body, an error
/// code (S3's `<Code>`, a service's `message`), cut short and escaped.
pub async fn unexpected(
    state: &StateLocation,
    doing: &str,
    response: reqwest::Response,
) -> StateError {
    let status = response.status();
    let body = crate::net::read_bounded(response, 16 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let code = xml_code(&text)
        .or_else(|| json_message(&text))
        .map(|c| format!(" ({})", crate::untrusted::portal_text(&c)))
        .unwrap_or_default();
    let hint = match status.as_u16() {
        401 | 403 => ": check the store's credentials and their permissions",
        404 => ": check that the bucket or project exists",
        _ => "",
    };
    StateError::Store {
        state: state.clone(),
        message: format!("cannot {doing}: the store answered {status}{code}{hint}"),
    }
}

/// S3's error code, `<Code>NoSuchBucket</Code>`: letters and digits only.
fn xml_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    let code: String = text[start..end]
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect();
    (!code.is_empty()).then_some(code)
}

/// A JSON service's `message` (GitLab: `{"message": "403 Forbidden"}`), at most 200
/// characters.
fn json_message(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let message = match value.get("message")? {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(message.chars().take(200).collect())
}

/// A variable of the store's, read through the environment's mapping; a credential is
/// registered with the scrubber as it is read.
pub fn variable(
    vars: &Variables,
    state: &StateLocation,
    var: &str,
    secret: bool,
) -> Result<Option<String>, StateError> {
    let value = vars.read(var).map_err(|e| StateError::StoreConfig {
        state: state.clone(),
        message: e.to_string(),
    })?;
    if secret && let Some(v) = &value {
        crate::untrusted::remember_secret(v);
    }
    Ok(value)
}

/// Whether an HTTP date (`Date`, `Last-Modified`) header is present, as seconds since
/// the epoch.
pub fn header_time(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    let text = headers.get(name)?.to_str().ok()?;
    let time = httpdate::parse_http_date(text).ok()?;
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The lock a run holds or finds, in the Terraform HTTP backend's `LockInfo` shape
/// (GitLab requires it; S3 lock objects use it too, with the lease).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LockInfo {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Operation", default)]
    pub operation: String,
    #[serde(rename = "Info", default)]
    pub info: String,
    #[serde(rename = "Who", default)]
    pub who: String,
    #[serde(rename = "Version", default)]
    pub version: String,
    #[serde(rename = "Created", default)]
    pub created: String,
    #[serde(rename = "Path", default)]
    pub path: String,
    /// How long the lock lives without being renewed, in seconds (S3 locks).
    #[serde(
        rename = "LeaseSeconds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_seconds: Option<u64>,
}

impl LockInfo {
    /// A new lock (a fresh random ID) for `request` on `state`.
    pub fn new(
        request: &super::backend::LockRequest,
        state: &StateLocation,
        lease: Option<Duration>,
    ) -> LockInfo {
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: request.operation.clone(),
            info: request.info.clone(),
            who: request.who.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            path: state.to_string(),
            lease_seconds: lease.map(|l| l.as_secs().max(1)),
        }
    }

    /// How a message names the holder: who, what, since when and the lock ID, escaped
    /// (a lock found in a store is untrusted text).
    pub fn holder(&self) -> String {
        let text =
            |s: &str| crate::untrusted::portal_text(&s.chars().take(200).collect::<String>());
        let shown = format!(
            "{} ({}{}) since {}, lock ID {}",
            text(&self.who),
            text(&self.operation),
            if self.info.is_empty() {
                String::new()
            } else {
                format!(", {}", text(&self.info))
            },
            text(&self.created),
            text(&self.id),
        );
        shown.chars().take(1_000).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_store_says_is_cut_short_and_escaped() {
        assert_eq!(
            xml_code("<Error><Code>NoSuch\u{1b}[31mBucket</Code></Error>").as_deref(),
            Some("NoSuch31mBucket")
        );
        assert_eq!(xml_code("<Error></Error>"), None);
        let long = format!("{{\"message\": \"{}\"}}", "x".repeat(500));
        assert_eq!(json_message(&long).unwrap().len(), 200);
        let holder = LockInfo {
            id: "id\u{1b}[2J".into(),
            operation: "apply".into(),
            info: "pid 7".into(),
            who: "ci\n@runner".into(),
            version: String::new(),
            created: "2026-12-06T08:00:00Z".into(),
            path: String::new(),
            lease_seconds: None,
        }
        .holder();
        assert!(
            !holder.contains('\u{1b}') && !holder.contains('\n'),
            "{holder}"
        );
        assert!(holder.contains("(apply, pid 7)"), "{holder}");
    }
}
