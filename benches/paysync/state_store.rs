//! Issue 20: loading and saving a 200,000-target state through an S3-compatible store on
//! loopback (SeaweedFS, `weed` from `target/test-tools`, as `.ci/run` installs it) beside
//! the file backend. The real binary runs each operation: `state pull` (a load: the
//! whole state, and for S3 the journal listing) and `state push` (the lock, a load of
//! the current state and a whole-state write: for S3 the conformance probe, the lock
//! object and a conditional PUT). Each is run three times; the median wall time and the
//! child's CPU time are printed side by side.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::report;

const TARGETS: u64 = 200_000;
const RUNS: usize = 3;
const KEY_ID: &str = "AKIDBENCHPAYSYNC";
const SECRET: &str = "bench-secret-key-0123456789";
const BUCKET: &str = "paysync-bench";

/// A format-2 state with `n` targets of one recorded code each.
fn big_state(n: u64) -> String {
    let mut targets = Vec::with_capacity(n as usize);
    for i in 0..n {
        targets.push(serde_json::json!({
            "paySystem": 1_000 + i,
            "personType": 1,
            "settings": { "REST_SERVICE_ID_IFRAME": { "type": "VALUE", "value": format!("value-{i}") } }
        }));
    }
    let state = serde_json::json!({
        "format": 2,
        "lineage": "6b1f4a9e-1d2c-4e5f-8a7b-0c9d8e7f6a5b",
        "serial": 1,
        "portal": "http://127.0.0.1:8099",
        "fingerprints": {
            "algorithm": "argon2id", "version": 19, "m_cost": 65536, "t_cost": 3,
            "p_cost": 1, "salt": "802f734bd2e649aa23a3ba450c7eab95", "keyed": false
        },
        "targets": targets,
    });
    serde_json::to_string_pretty(&state).unwrap() + "\n"
}

fn paysync(dir: &Path, endpoint: &str, args: &[&str]) -> (Duration, bool) {
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_paysync"))
        .current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_ENDPOINT_URL_S3", endpoint)
        .env("NO_COLOR", "1")
        .arg("-q")
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("paysync runs");
    (started.elapsed(), status.success())
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

pub fn run() {
    let weed = std::env::var_os("PAYSYNC_TEST_WEED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-tools/bin/weed")
        });
    if !weed.exists() {
        report(
            "state-store: SKIPPED (no SeaweedFS at target/test-tools/bin/weed; run .ci/run once)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ready = |endpoint: &str| {
        let (_, ok) = paysync(
            dir.path(),
            endpoint,
            &[
                "state",
                "history",
                "--state",
                &format!("s3://{BUCKET}/ready"),
            ],
        );
        ok
    };
    let seaweed = paysync_emulator::Seaweed::start(&weed, KEY_ID, SECRET, BUCKET, ready)
        .expect("SeaweedFS starts");
    let text = big_state(TARGETS);
    std::fs::write(dir.path().join("big.json"), &text).unwrap();
    let s3 = format!("s3://{BUCKET}/bench/paysync.state.json");
    let file = "paysync.state.json".to_owned();
    std::fs::write(dir.path().join(&file), &text).unwrap();
    let (_, ok) = paysync(
        dir.path(),
        &seaweed.endpoint,
        &["state", "migrate", "--state", &file, "--to", &s3],
    );
    assert!(ok, "the state reaches S3");
    report(&format!(
        "state-store: a {TARGETS}-target state ({:.1} MB), median of {RUNS} runs of the real binary (wall s)",
        text.len() as f64 / 1e6
    ));
    report("  operation                      file      s3 (SeaweedFS, loopback)");
    for (name, args) in [
        ("load  (state pull)", vec!["state", "pull", "--state"]),
        (
            "save  (state push --force)",
            vec!["state", "push", "big.json", "--force", "--state"],
        ),
    ] {
        let mut figures = Vec::new();
        for location in [&file, &s3] {
            let mut runs = Vec::new();
            for _ in 0..RUNS {
                let mut full = args.clone();
                full.push(location);
                let (took, ok) = paysync(dir.path(), &seaweed.endpoint, &full);
                assert!(ok, "{name} on {location}");
                runs.push(took);
            }
            figures.push(median(runs));
        }
        report(&format!(
            "  {name:<28} {:>7.2}   {:>7.2}",
            figures[0].as_secs_f64(),
            figures[1].as_secs_f64()
        ));
    }
}
