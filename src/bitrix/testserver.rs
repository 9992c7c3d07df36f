//! A scripted HTTP/1.1 server on 127.0.0.1:0 for the client's unit tests (test builds
//! only): every request is recorded and answered by a closure, so retries, redirects and
//! token refreshes are exercised over real loopback HTTP without the emulator. It
//! understands just enough HTTP for reqwest: a request line, headers, a
//! `Content-Length` body; every answer closes the connection.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    pub body: String,
}

impl Seen {
    /// The body as JSON (Null when it is not JSON).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The body's `auth` field, if any.
    pub(crate) fn auth(&self) -> Option<String> {
        self.json()
            .get("auth")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

/// An answer. Status 0 closes the connection without answering.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub(crate) fn json(status: u16, value: Value) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: value.to_string(),
        }
    }

    /// A success envelope with an empty `time`.
    pub(crate) fn result(result: Value) -> Reply {
        Reply::json(200, json!({"result": result, "time": {"start": 1.0}}))
    }

    pub(crate) fn error(status: u16, code: &str, description: &str) -> Reply {
        Reply::json(
            status,
            json!({"error": code, "error_description": description}),
        )
    }

    pub(crate) fn html(status: u16) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: "<html><body>Bad Gateway</body></html>".into(),
        }
    }

    pub(crate) fn redirect(status: u16, location: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Location".into(), location.into())],
            body: String::new(),
        }
    }

    /// The connection is closed before any answer.
    pub(crate) fn hang_up() -> Reply {
        Reply {
            status: 0,
            headers: Vec::new(),
            body: String::new(),
        }
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// The server; it stops when dropped.
pub(crate) struct FakeServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl FakeServer {
    pub(crate) async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let task = tokio::spawn({
            let seen = Arc::clone(&seen);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (seen, handler) = (Arc::clone(&seen), Arc::clone(&handler));
                    tokio::spawn(async move {
                        serve(stream, &seen, handler.as_ref()).await;
                    });
                }
            }
        });
        FakeServer { url, seen, task }
    }

    /// Every request so far, in arrival order.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, seen: &Mutex<Vec<Seen>>, handler: &Handler) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap_or_default().split_whitespace();
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let request = Seen {
        method,
        target,
        body: String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned(),
    };
    seen.lock().unwrap().push(request.clone());
    let reply = handler(&request);
    if reply.status == 0 {
        return;
    }
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&reply.body);
    let _ = stream.write_all(out.as_bytes()).await;
    let _ = stream.shutdown().await;
}

// ---- Shared by the client's unit tests (client, batch, transport) ----

use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

use crate::bitrix::clock::fake::FakeClock;
use crate::bitrix::{Client, Credentials, Request, RetryConfig};

/// The webhook code of [`webhook_client`]: it must never show in an error or a log.
pub(crate) const CANARY: &str = "CANARYCODE123";

/// The error, its Debug and every cause in its chain, Display and Debug.
pub(crate) fn everything(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{error} | {error:?} | {error:#?}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(" | {cause} | {cause:?}"));
        source = cause.source();
    }
    text
}

pub(crate) const UNIX: f64 = 1_700_000_000.0;

pub(crate) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The default bounds without jitter, so waits are exact.
pub(crate) fn exact() -> RetryConfig {
    RetryConfig {
        jitter: false,
        ..RetryConfig::default()
    }
}

/// Answers in order; the last answer repeats.
pub(crate) fn scripted(replies: Vec<Reply>) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    let replies = Mutex::new(VecDeque::from(replies));
    move |_| {
        let mut replies = replies.lock().unwrap();
        if replies.len() > 1 {
            replies.pop_front().unwrap()
        } else {
            replies[0].clone()
        }
    }
}

pub(crate) fn webhook_client(server: &FakeServer) -> (Client, Arc<FakeClock>) {
    let clock = FakeClock::new(UNIX);
    let credentials =
        Credentials::from_webhook_url(&format!("{}/rest/1/CANARYCODE123/", server.url)).unwrap();
    let client = Client::new(credentials)
        .unwrap()
        .with_clock(clock.clone())
        .with_retry(exact());
    (client, clock)
}

/// `sale.paysystem.settings.update` of one literal `code` = `value` for a target.
pub(crate) fn update(pay_system: u64, person_type: u64, code: &str, value: &str) -> Request {
    let settings = std::collections::BTreeMap::from([(
        code.to_owned(),
        (
            "VALUE".to_owned(),
            crate::secrets::Redacted::new(value.to_owned()),
        ),
    )]);
    Request::settings_update(
        crate::model::Target {
            pay_system,
            person_type,
        },
        &settings,
    )
}

pub(crate) fn scope() -> Request {
    Request::new("scope", json!({}))
}

thread_local! {
    static LOGS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A writer appending to this thread's log buffer.
pub(crate) struct ThreadLogs;

impl Write for ThreadLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.with(|logs| logs.borrow_mut().extend_from_slice(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// This thread's logs since [`capture`].
pub(crate) struct Captured;

impl Captured {
    pub(crate) fn text(&self) -> String {
        LOGS.with(|logs| String::from_utf8(logs.borrow().clone()).unwrap())
    }
}

/// Starts capturing this thread's logs at trace level. One global subscriber for the
/// whole test binary, writing to per-thread buffers: scoped subscribers
/// (`set_default`) in parallel tests race on tracing's cached callsite interest and
/// lose events. Tests run on current-thread runtimes, so a test's tasks (client and
/// fake server) all log to its thread.
pub(crate) fn capture() -> Captured {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(|| ThreadLogs)
            .with_ansi(false)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
    LOGS.with(|logs| logs.borrow_mut().clear());
    Captured
}
