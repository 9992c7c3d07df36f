//! Doubles of the stores paysync keeps a state in, for its tests:
//!
//! - [`StateService`]: the Terraform HTTP backend as GitLab serves it
//!   (`/api/v4/projects/:id/terraform/state/:name`), written from GitLab's documented
//!   behaviour: basic auth; `GET` 200 with the state or 404; `POST ?ID=` with the state
//!   JSON, refused (409) under another lock's ID, 400 without a numeric top-level
//!   `serial`, 413 above the size cap; `POST …/lock` with a `LockInfo` (every field
//!   required, 400 otherwise), 409 with the holder's `LockInfo` when held; `DELETE …/lock`
//!   (409 when the body names another lock's ID). Pushes can be made to fail
//!   ([`StateService::fail_posts`]).
//! - [`LaxS3`]: an S3 endpoint that ignores `If-None-Match` and `If-Match` (as
//!   `rclone serve s3` does), to prove paysync refuses such a store.
//!
//! Both run on their own thread, like [`crate::EmulatorHandle`], until dropped.
//!
//! [`Seaweed`] starts the real S3-compatible server of the tests and benchmarks:
//! SeaweedFS's `weed mini` on 127.0.0.1, every port chosen at run time, stopped by PID.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::oneshot;

/// A server on its own thread, stopped when dropped.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(app: Router) -> io::Result<Running> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("store-double-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = axum::serve(listener, app).into_future() => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(Running {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The largest state the service takes, as GitLab's `max_terraform_state_size_bytes`.
pub const MAX_STATE_BYTES: usize = 8 << 20;

#[derive(Default)]
struct Service {
    user: String,
    password: String,
    states: BTreeMap<String, Vec<u8>>,
    locks: BTreeMap<String, serde_json::Value>,
    fail_posts: u32,
    posts: u64,
    max_bytes: usize,
}

/// A GitLab-managed-state double (see the module docs).
pub struct StateService {
    shared: Arc<Mutex<Service>>,
    running: Running,
}

impl StateService {
    /// Starts on 127.0.0.1 with basic-auth credentials `user` / `password`.
    pub fn start(user: &str, password: &str) -> io::Result<StateService> {
        let shared = Arc::new(Mutex::new(Service {
            user: user.to_owned(),
            password: password.to_owned(),
            max_bytes: MAX_STATE_BYTES,
            ..Service::default()
        }));
        let base = "/api/v4/projects/{project}/terraform/state/{name}";
        let app = Router::new()
            .route(base, get(get_state).post(post_state).delete(delete_state))
            .route(&format!("{base}/lock"), post(lock).delete(unlock))
            .route_layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                basic_auth,
            ))
            .with_state(shared.clone());
        Ok(StateService {
            shared,
            running: Running::start(app)?,
        })
    }

    /// The address of state `name` of project 1.
    pub fn address(&self, name: &str) -> String {
        format!(
            "http://{}/api/v4/projects/1/terraform/state/{name}",
            self.running.addr
        )
    }

    /// The state `name` as stored.
    pub fn state(&self, name: &str) -> Option<Vec<u8>> {
        guard(&self.shared).states.get(name).cloned()
    }

    /// The lock of `name`, as its holder sent it.
    pub fn lock(&self, name: &str) -> Option<serde_json::Value> {
        guard(&self.shared).locks.get(name).cloned()
    }

    /// Locks `name` under `id`, as another (dead) run would have.
    pub fn hold_lock(&self, name: &str, id: &str) {
        guard(&self.shared).locks.insert(
            name.to_owned(),
            serde_json::json!({
                "ID": id, "Operation": "OperationTypeApply", "Info": "", "Who": "ci@runner-1",
                "Version": "1.9.0", "Created": "2026-12-06T08:00:00Z", "Path": name,
            }),
        );
    }

    /// Takes states of at most `bytes` (413 above).
    pub fn max_bytes(&self, bytes: usize) {
        guard(&self.shared).max_bytes = bytes;
    }

    /// Answers the next `n` state writes with 503.
    pub fn fail_posts(&self, n: u32) {
        guard(&self.shared).fail_posts = n;
    }

    /// State writes accepted so far.
    pub fn posts(&self) -> u64 {
        guard(&self.shared).posts
    }
}

/// Every request of the service carries its basic-auth credentials, or gets 401.
async fn basic_auth(
    State(shared): Shared,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !authorised(&guard(&shared), request.headers()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    next.run(request).await
}

fn authorised(service: &Service, headers: &HeaderMap) -> bool {
    use base64::Engine;
    let Some(value) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .is_ok_and(|pair| pair == format!("{}:{}", service.user, service.password).as_bytes())
}

type Shared = State<Arc<Mutex<Service>>>;

async fn get_state(State(shared): Shared, Path((_, name)): Path<(String, String)>) -> Response {
    let service = guard(&shared);
    match service.states.get(&name) {
        Some(body) => (StatusCode::OK, body.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn post_state(
    State(shared): Shared,
    Path((_, name)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut service = guard(&shared);
    if body.len() > service.max_bytes {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    if let Some(lock) = service.locks.get(&name) {
        let held = lock.get("ID").and_then(|v| v.as_str());
        if query.get("ID").map(String::as_str) != held {
            return (StatusCode::CONFLICT, lock.to_string()).into_response();
        }
    }
    let serial = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("serial").and_then(serde_json::Value::as_u64));
    if serial.is_none() {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"message":"serial is required"}"#,
        )
            .into_response();
    }
    if service.fail_posts > 0 {
        service.fail_posts -= 1;
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    service.posts += 1;
    service.states.insert(name, body.to_vec());
    StatusCode::OK.into_response()
}

async fn delete_state(State(shared): Shared, Path((_, name)): Path<(String, String)>) -> Response {
    let mut service = guard(&shared);
    service.states.remove(&name);
    StatusCode::OK.into_response()
}

const LOCK_FIELDS: [&str; 7] = [
    "ID",
    "Operation",
    "Info",
    "Who",
    "Version",
    "Created",
    "Path",
];

async fn lock(
    State(shared): Shared,
    Path((_, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let mut service = guard(&shared);
    let Ok(info) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if LOCK_FIELDS
        .iter()
        .any(|f| !info.get(*f).is_some_and(|v| v.is_string()))
    {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"message":"lock info requires ID, Operation, Info, Who, Version, Created and Path"}"#,
        )
            .into_response();
    }
    if let Some(held) = service.locks.get(&name) {
        return (StatusCode::CONFLICT, held.to_string()).into_response();
    }
    service.locks.insert(name, info);
    StatusCode::OK.into_response()
}

async fn unlock(
    State(shared): Shared,
    Path((_, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let mut service = guard(&shared);
    let asked = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("ID").and_then(|id| id.as_str().map(str::to_owned)));
    if let (Some(held), Some(asked)) = (service.locks.get(&name), asked)
        && held.get("ID").and_then(|v| v.as_str()) != Some(asked.as_str())
    {
        return (StatusCode::CONFLICT, held.to_string()).into_response();
    }
    service.locks.remove(&name);
    StatusCode::OK.into_response()
}

/// An S3 endpoint that ignores conditional headers (see the module docs).
pub struct LaxS3 {
    running: Running,
}

#[derive(Default)]
struct Objects {
    objects: BTreeMap<String, (Vec<u8>, u64)>,
    next: u64,
}

impl LaxS3 {
    pub fn start() -> io::Result<LaxS3> {
        let shared = Arc::new(Mutex::new(Objects::default()));
        let app = Router::new()
            .route("/{bucket}", get(list_objects))
            .route(
                "/{bucket}/{*key}",
                get(get_object).put(put_object).delete(delete_object),
            )
            .with_state(shared);
        Ok(LaxS3 {
            running: Running::start(app)?,
        })
    }

    /// The endpoint, for `AWS_ENDPOINT_URL_S3`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.running.addr)
    }
}

type Bucket = State<Arc<Mutex<Objects>>>;

async fn list_objects(State(_): Bucket) -> Response {
    (
        StatusCode::OK,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult \
         xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IsTruncated>false</IsTruncated>\
         </ListBucketResult>",
    )
        .into_response()
}

async fn get_object(
    State(shared): Bucket,
    Path((bucket, key)): Path<(String, String)>,
) -> Response {
    match guard(&shared).objects.get(&format!("{bucket}/{key}")) {
        Some((body, tag)) => (
            StatusCode::OK,
            [("etag", format!("\"{tag}\""))],
            body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn put_object(
    State(shared): Bucket,
    Path((bucket, key)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let mut objects = guard(&shared);
    objects.next += 1;
    let tag = objects.next;
    objects
        .objects
        .insert(format!("{bucket}/{key}"), (body.to_vec(), tag));
    (StatusCode::OK, [("etag", format!("\"{tag}\""))]).into_response()
}

async fn delete_object(
    State(shared): Bucket,
    Path((bucket, key)): Path<(String, String)>,
) -> Response {
    guard(&shared).objects.remove(&format!("{bucket}/{key}"));
    StatusCode::NO_CONTENT.into_response()
}

/// A running SeaweedFS (`weed mini`), stopped when dropped.
pub struct Seaweed {
    /// `http://127.0.0.1:PORT`, its S3 endpoint.
    pub endpoint: String,
    watchdog: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        // The watchdog shell's trap stops `weed` (by its PID) as the shell ends.
        let _ = std::process::Command::new("kill")
            .arg(self.watchdog.id().to_string())
            .status();
        let _ = self.watchdog.wait();
    }
}

impl Seaweed {
    /// Starts `weed` (a `weed` binary of SeaweedFS 4.x) with the S3 credentials
    /// `key_id`/`secret` and `bucket` created, and waits (up to two minutes) until
    /// `ready(endpoint)` says the bucket answers.
    pub fn start(
        weed: &std::path::Path,
        key_id: &str,
        secret: &str,
        bucket: &str,
        ready: impl Fn(&str) -> bool,
    ) -> io::Result<Seaweed> {
        let dir = tempfile::tempdir()?;
        let ports = {
            let listeners = (0..17)
                .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
                .collect::<io::Result<Vec<_>>>()?;
            listeners
                .iter()
                .map(|l| l.local_addr().map(|a| a.port()))
                .collect::<io::Result<Vec<_>>>()?
        };
        let names = [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
            "webdav.port",
            "debug.port",
            "metricsPort",
            "s3.port.iceberg",
            "s3.port.lance",
            "s3.debug.port",
            "s3.metricsPort",
        ];
        let mut args = vec![
            weed.display().to_string(),
            "mini".to_owned(),
            format!("-dir={}", dir.path().display()),
            "-ip=127.0.0.1".to_owned(),
            "-ip.bind=127.0.0.1".to_owned(),
            "-webdav=false".to_owned(),
            "-admin.ui=false".to_owned(),
            format!("-bucket={bucket}"),
        ];
        args.extend(names.iter().zip(&ports).map(|(n, p)| format!("-{n}={p}")));
        let watchdog = watched(
            &args,
            &[
                ("AWS_ACCESS_KEY_ID", key_id),
                ("AWS_SECRET_ACCESS_KEY", secret),
            ],
            dir.path(),
        )?;
        let seaweed = Seaweed {
            endpoint: format!("http://127.0.0.1:{}", ports[6]),
            watchdog,
            _dir: dir,
        };
        let started = std::time::Instant::now();
        while !ready(&seaweed.endpoint) {
            if started.elapsed() > std::time::Duration::from_secs(120) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "SeaweedFS did not become ready in two minutes",
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        Ok(seaweed)
    }
}

/// Starts `args` (a program and its arguments) under a watchdog shell: the program is
/// stopped (by its PID) when the shell is killed, and when the process that started it
/// is gone (a killed test run leaves no server). Its output goes to `dir/server.log`.
fn watched(
    args: &[String],
    envs: &[(&str, &str)],
    dir: &std::path::Path,
) -> io::Result<std::process::Child> {
    use std::process::{Command, Stdio};
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "{} >'{}/server.log' 2>&1 & w=$!; trap 'kill $w 2>/dev/null' EXIT INT TERM; \
         while kill -0 {} 2>/dev/null && kill -0 $w 2>/dev/null; do sleep 1; done",
        quoted.join(" "),
        dir.display(),
        std::process::id()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// A running OpenBao dev server (`bao server -dev`), stopped when dropped: KV version 2
/// mounted at `secret/`, the root token given.
pub struct OpenBao {
    /// `http://127.0.0.1:PORT`, for `VAULT_ADDR`.
    pub addr: String,
    watchdog: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.watchdog.id().to_string())
            .status();
        let _ = self.watchdog.wait();
    }
}

impl OpenBao {
    /// Starts `bao` with the root token `token` and waits (up to two minutes) until it
    /// answers its health check.
    pub fn start(bao: &std::path::Path, token: &str) -> io::Result<OpenBao> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let args = vec![
            bao.display().to_string(),
            "server".to_owned(),
            "-dev".to_owned(),
            format!("-dev-root-token-id={token}"),
            format!("-dev-listen-address=127.0.0.1:{port}"),
        ];
        let home = dir.path().display().to_string();
        let watchdog = watched(&args, &[("HOME", home.as_str())], dir.path())?;
        let bao_server = OpenBao {
            addr: format!("http://127.0.0.1:{port}"),
            watchdog,
            _dir: dir,
        };
        let started = std::time::Instant::now();
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                use std::io::{Read, Write};
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let request = "GET /v1/sys/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
                let mut answer = String::new();
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_to_string(&mut answer).is_ok()
                    && answer.lines().next().is_some_and(|l| l.contains(" 200 "))
                {
                    return Ok(bao_server);
                }
            }
            if started.elapsed() > std::time::Duration::from_secs(120) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "OpenBao did not become ready in two minutes",
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}
