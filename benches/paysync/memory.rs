//! Issue 22.2: the peak memory of the commands that hold a whole state beside the
//! manifests and the portal's answers, at 1M settings (50,000 targets of 20 codes)
//! against the emulator (no leaky bucket, a client rate too high to wait): `apply` from
//! no state, then `plan --refresh` and `drift` of what it applied, beside the offline
//! `plan` without a state (the yardstick of the offline benchmark's 1M shape); and the
//! saved plan of every setting (`plan --out`) applied with `apply --plan` (issue 22.3:
//! at most 1.5 times the plan's peak).
//!
//! The real binary runs as a child; its peak resident size is `VmHWM` of
//! `/proc/PID/status`, read every 2 ms while it runs (a peak only grows, so the last
//! reading before it exits is its peak, short of what it allocates in its last 2 ms).
//! Linux only. Target: each at most 450 MiB.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paysync_emulator::EmulatorHandle;

use crate::report;
use crate::throughput::{FIRST_ID, seed};

const TARGETS: u64 = 50_000;
const CODES: usize = 20;
const PER_FILE: u64 = 500;
const TARGET_MIB: f64 = 450.0;

/// `VmHWM` of a running process, KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs `command` to its end; returns its exit code, peak KiB and wall time.
pub(crate) fn measured(command: &mut Command) -> (Option<i32>, u64, Duration) {
    // Its stderr to a file: a pipe nobody reads while it runs would stop it once full.
    let log = tempfile::tempfile().unwrap();
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(log.try_clone().unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let wall = started.elapsed();
    if !matches!(status.code(), Some(0 | 2)) {
        use std::io::{Read, Seek};
        let mut log = log;
        let mut stderr = String::new();
        let _ = log.rewind().and_then(|()| log.read_to_string(&mut stderr));
        panic!("{command:?} failed: {status}\n{stderr}");
    }
    (status.code(), peak, wall)
}

fn manifests(dir: &Path) {
    std::fs::create_dir(dir.join("m")).unwrap();
    let files = (TARGETS / PER_FILE) as usize;
    crate::generate_from(
        &dir.join("m"),
        FIRST_ID as usize,
        files,
        PER_FILE as usize,
        CODES,
    );
}

pub fn run() {
    report(&format!(
        "memory: peak resident size of the real binary at {} settings ({TARGETS} targets x {CODES} codes), emulator without a bucket (target: at most {TARGET_MIB} MiB each)",
        TARGETS as usize * CODES
    ));
    report("  command                              exit  peak MiB   wall s");
    // The handler declares the benchmark's codes, so the portal returns each of them.
    let mut seed = seed(TARGETS);
    let codes = seed.handlers[0].settings["CODES"].as_object_mut().unwrap();
    for c in 0..CODES {
        codes.insert(
            format!("CODE_{c:02}"),
            serde_json::json!({"NAME": format!("Code {c}"), "SORT": "100"}),
        );
    }
    let portal = EmulatorHandle::start(seed).expect("emulator starts");
    portal.set_rate_limit(None);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    manifests(dir.path());
    let paysync = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_paysync"));
        command
            .current_dir(dir.path())
            .env("PAYSYNC_WEBHOOK_URL", portal.webhook_url())
            .env("NO_COLOR", "1")
            .arg("-q")
            .args(args);
        command
    };
    let rate = ["--rate", "100000/100000"];
    // A saved plan of every setting applied from no state (then set aside), and the
    // apply from the manifests from no state again, which the reads then compare with.
    let runs: [(&str, Vec<&str>); 6] = [
        (
            "plan (offline, no state: yardstick)",
            vec!["plan", "--state", "none.json", "m"],
        ),
        (
            "plan --out (no state)",
            vec![
                "plan",
                "--state",
                "saved.state.json",
                "--out",
                "p.json",
                "m",
            ],
        ),
        (
            "apply --plan (from no state)",
            [
                &["apply", "--state", "saved.state.json", "--plan", "p.json"][..],
                &rate,
            ]
            .concat(),
        ),
        (
            "apply --auto-approve (from no state)",
            [&["apply", "--auto-approve"][..], &rate, &["m"]].concat(),
        ),
        (
            "plan --refresh (matching)",
            [&["plan", "--refresh"][..], &rate, &["m"]].concat(),
        ),
        ("drift", [&["drift"][..], &rate].concat()),
    ];
    for (label, args) in runs {
        let (code, kib, wall) = measured(&mut paysync(&args));
        let mib = kib as f64 / 1024.0;
        report(&format!(
            "  {label:<36} {:>4}  {mib:>8.1}  {:>7.2}{}",
            code.map_or("-".into(), |c| c.to_string()),
            wall.as_secs_f64(),
            if label.starts_with("plan (offline")
                || label.starts_with("plan --out")
                || mib <= TARGET_MIB
            {
                ""
            } else {
                "  over the target"
            }
        ));
    }
}
