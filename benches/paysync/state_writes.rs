//! Issue 13: what an apply writes to the state directory and the CPU it spends, for N
//! targets (N ∈ {20,000, 40,000}, one changed code each) applied to the emulator with no
//! leaky bucket (and a client rate too high to wait), so nothing but paysync's own work
//! is measured.
//!
//! The real `paysync apply` binary runs as a child in a fresh directory under cargo's
//! target tmpdir (a disk file system, so the kernel accounts block writes). When it has
//! exited, and before it is reaped, this harness reads the zombie's `/proc/PID/io`
//! (`write_bytes`: bytes the child caused to be written to storage — the state file,
//! its journal and the temporary files of atomic writes; its sockets and pipes are not
//! storage) and `/proc/PID/stat` (user + system CPU, clock ticks). Linux only.
//!
//! Acceptance: write_bytes ≤ 3 × final state size + a constant per request, and the
//! 40k run's CPU at most 2.3 × the 20k run's.

use std::time::{Duration, Instant};

use paysync_emulator::EmulatorHandle;

use crate::report;
use crate::throughput::{FIRST_ID, seed};

const SIZES: [u64; 2] = [20_000, 40_000];
const RUNS: usize = 3;

struct Figures {
    requests: usize,
    write_bytes: u64,
    cancelled_write_bytes: u64,
    state_bytes: u64,
    cpu: Duration,
    wall: Duration,
}

/// A field of `/proc/PID/io`.
fn io_field(io: &str, name: &str) -> u64 {
    io.lines()
        .find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(": ")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The process state letter and utime + stime (clock ticks) of `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields follow the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Fields 14 and 15 of the line (utime, stime) are the 12th and 13th after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((state, utime + stime))
}

fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn apply(n: u64) -> Figures {
    let portal = EmulatorHandle::start(seed(n)).expect("emulator starts");
    portal.set_rate_limit(None);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    // 5,000 targets a file: a manifest file may be at most 4 MiB.
    std::fs::create_dir(dir.path().join("m")).unwrap();
    let ids: Vec<u64> = (FIRST_ID..FIRST_ID + n).collect();
    for (i, chunk) in ids.chunks(5_000).enumerate() {
        let mut text = String::new();
        for id in chunk {
            text.push_str(&format!(
                "---\napiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: {id}\npersonType: 1\nsettings:\n  PS_WORK_MODE_IFRAME: REGULAR\n"
            ));
        }
        std::fs::write(dir.path().join(format!("m/targets{i:02}.yaml")), text).unwrap();
    }
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_paysync"))
        .current_dir(dir.path())
        .env("PAYSYNC_WEBHOOK_URL", portal.webhook_url())
        .env("NO_COLOR", "1")
        .args(["-q", "apply", "--auto-approve", "--rate", "100000/100000"])
        .arg("m")
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait for the exit without reaping, so the zombie's accounting can still be read.
    let ticks = loop {
        match stat(pid) {
            Some(('Z', ticks)) => break ticks,
            Some(_) => std::thread::sleep(Duration::from_millis(2)),
            None => panic!("cannot read /proc/{pid}/stat (this benchmark needs Linux)"),
        }
    };
    let wall = started.elapsed();
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "paysync apply failed:\n{}",
        std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
    );
    assert!(!dir.path().join("paysync.state.json.journal").exists());
    Figures {
        requests: portal.requests().len(),
        write_bytes: io_field(&io, "write_bytes"),
        cancelled_write_bytes: io_field(&io, "cancelled_write_bytes"),
        state_bytes: std::fs::metadata(dir.path().join("paysync.state.json"))
            .unwrap()
            .len(),
        cpu: Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64),
        wall,
    }
}

pub fn run() {
    report(
        "state writes: paysync apply of N targets (1 changed code each), emulator without a bucket",
    );
    report(
        "       N  requests  write_bytes MB  final state MB  written/state  (written - 3 x state)/request B  cpu s  wall s",
    );
    let mut cpus = Vec::new();
    for n in SIZES {
        // Best (least CPU) of RUNS runs: the emulator shares the two cores.
        let f = (0..RUNS)
            .map(|_| apply(n))
            .min_by(|a, b| a.cpu.cmp(&b.cpu))
            .unwrap();
        let written = f.write_bytes.saturating_sub(f.cancelled_write_bytes);
        let per_request = (written as f64 - 3.0 * f.state_bytes as f64) / f.requests.max(1) as f64;
        report(&format!(
            "{n:>8}  {:>8}  {:>14.2}  {:>14.2}  {:>13.2}  {:>32.0}  {:>5.2}  {:>6.2}",
            f.requests,
            written as f64 / 1e6,
            f.state_bytes as f64 / 1e6,
            written as f64 / f.state_bytes as f64,
            per_request,
            f.cpu.as_secs_f64(),
            f.wall.as_secs_f64()
        ));
        cpus.push(f.cpu.as_secs_f64());
    }
    report(&format!(
        "  cpu ratio 40k / 20k: {:.2}x (linear: 2.00x; acceptance: at most 2.30x; best of {RUNS} runs each)",
        cpus[1] / cpus[0]
    ));
}
