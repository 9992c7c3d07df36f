//! paysync's benchmark harness (`cargo bench --bench paysync`): prints figures, asserts
//! nothing. See BENCHMARKS.md for the published numbers and how to read them.
//!
//! - `offline`: an offline plan of 10,000 targets × 20 codes (200,000 settings) against a
//!   bare YAML parse of the same files, each measured in a fresh child process so its peak
//!   memory (VmHWM) is its own. The bare parse is the floor paysync builds on: each file
//!   read and parsed by serde-saphyr (`from_str_multiple`, default options) into generic
//!   `serde_json::Value`s, one file after another on one thread, nothing kept. The plan
//!   is what `paysync plan` does offline, timed to the end (dropping its data included):
//!   `manifest::load` (which reads and checks files on every core), `DesiredValues::new`,
//!   `plan::compute` and `render::plan_text::render`.
//! - `throughput`: applying N changed targets (N ∈ {50, 1000, 5000}) to the emulator with
//!   its 50/2 leaky bucket on, side by side with a per-target client.
//! - `latency`: the same apply with 300 ms added to every request, `--parallelism 1`
//!   side by side with the default (issue 12.6).
//! - `state`: the bytes an apply of 20,000 and 40,000 targets writes to the state
//!   directory, beside the final state size, and its CPU time (issue 13: the journal).
//! - `fingerprint`: the CPU one guessed secret costs someone holding a state file or a
//!   saved plan, with the default Argon2id parameters, beside state format 1's HMAC.
//!
//! `cargo bench --bench paysync -- offline` runs one part.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod fingerprint;
mod state_writes;
mod throughput;

const CHILD_ENV: &str = "PAYSYNC_BENCH_CHILD";

fn main() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        child(&mode);
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |part: &str| args.is_empty() || args.iter().any(|a| a == part);
    if wants("offline") {
        offline();
    }
    if wants("throughput") {
        throughput::run();
    }
    if wants("latency") {
        throughput::latency();
    }
    if wants("state") {
        state_writes::run();
    }
    if wants("fingerprint") {
        fingerprint::run();
    }
}

/// Peak resident memory of this process so far, in KiB (Linux), or 0.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Writes `files` manifest files with `docs` documents of `codes` settings each.
fn generate(dir: &Path, files: usize, docs: usize, codes: usize) -> u64 {
    let mut bytes = 0;
    for f in 0..files {
        let mut text = String::new();
        for d in 0..docs {
            let pay_system = 1000 + f * docs + d;
            if d > 0 {
                text.push_str("---\n");
            }
            text.push_str(&format!(
                "apiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: {pay_system}\npersonType: 1\nsettings:\n"
            ));
            for c in 0..codes {
                match c % 4 {
                    0 => text.push_str(&format!("  CODE_{c:02}: value-{pay_system}-{c}\n")),
                    1 => text.push_str(&format!(
                        "  CODE_{c:02}: {{ type: VALUE, value: \"{c:05}\" }}\n"
                    )),
                    2 => text.push_str(&format!(
                        "  CODE_{c:02}: {{ type: PAYMENT, value: ACCOUNT_NUMBER }}\n"
                    )),
                    _ => text.push_str(&format!("  CODE_{c:02}: {}\n", pay_system * 7 + c)),
                }
            }
        }
        bytes += text.len() as u64;
        std::fs::write(dir.join(format!("m{f:03}.yaml")), text).unwrap();
    }
    bytes
}

fn manifest_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// One measurement in this (child) process; prints `elapsed_ms peak_kib detail`.
fn child(mode: &str) {
    let dir = PathBuf::from(std::env::var("PAYSYNC_BENCH_DIR").unwrap());
    let started = Instant::now();
    let detail = match mode {
        "parse" => {
            let mut docs = 0;
            for file in manifest_files(&dir) {
                let text = std::fs::read_to_string(&file).unwrap();
                let parsed: Vec<serde_json::Value> =
                    serde_saphyr::from_str_multiple(&text).unwrap();
                docs += parsed.len();
            }
            format!("{docs} documents")
        }
        "plan" => {
            // The command's own path (`paysync plan DIR`), its output discarded.
            use paysync::cli::{Format, Inputs, PlanSettings};
            use paysync::commands::{self, Context, Portal};
            let settings = PlanSettings {
                inputs: Inputs {
                    paths: vec![dir.clone()],
                    state: dir.join("paysync.state.json"),
                    refresh: false,
                    rate: paysync::bitrix::Rate::default(),
                    format: Format::Text,
                    layered: false,
                    targets: Vec::new(),
                    environment: None,
                },
                out: None,
                detailed_exitcode: false,
            };
            let term = paysync::render::terminal::Terminal::silent();
            let ctx = Context {
                term: &term,
                portal: Portal::Environment,
            };
            let plan = commands::plan::plan(&settings, &ctx).expect("plan runs");
            let summary = plan.summary();
            format!(
                "{} settings to add in {} targets",
                summary.to_add, summary.targets_to_change
            )
        }
        other => panic!("unknown child mode {other}"),
    };
    let elapsed = started.elapsed();
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    writeln!(
        out,
        "{} {} {}",
        elapsed.as_secs_f64() * 1000.0,
        peak_rss_kib(),
        detail
    )
    .unwrap();
}

fn measure(mode: &str, dir: &Path) -> (Duration, u64, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, mode)
        .env("PAYSYNC_BENCH_DIR", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.trim().splitn(3, ' ');
    let ms: f64 = parts.next().unwrap().parse().unwrap();
    let kib: u64 = parts.next().unwrap().parse().unwrap();
    (
        Duration::from_secs_f64(ms / 1000.0),
        kib,
        parts.next().unwrap_or("").to_owned(),
    )
}

fn offline() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = generate(dir.path(), 100, 100, 20);
    report(&format!(
        "offline plan: 10,000 targets x 20 codes = 200,000 settings in 100 files ({:.1} MiB)",
        bytes as f64 / (1024.0 * 1024.0)
    ));
    let runs = 3;
    let mut best_parse = (Duration::MAX, 0, String::new());
    let mut best_plan = (Duration::MAX, 0, String::new());
    for _ in 0..runs {
        let p = measure("parse", dir.path());
        if p.0 < best_parse.0 {
            best_parse = p;
        }
        let q = measure("plan", dir.path());
        if q.0 < best_plan.0 {
            best_plan = q;
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    report(&format!(
        "  bare parse, 1 thread (serde-saphyr from_str_multiple -> serde_json::Value): {:>8.1} ms, peak {:>7.1} MiB ({})",
        best_parse.0.as_secs_f64() * 1000.0,
        best_parse.1 as f64 / 1024.0,
        best_parse.2
    ));
    report(&format!(
        "  paysync offline plan, load on {cores} core(s) (load+validate+plan+render):   {:>8.1} ms, peak {:>7.1} MiB ({})",
        best_plan.0.as_secs_f64() * 1000.0,
        best_plan.1 as f64 / 1024.0,
        best_plan.2
    ));
    report(&format!(
        "  ratio plan / bare parse: {:.2}x (best of {runs} runs each)",
        best_plan.0.as_secs_f64() / best_parse.0.as_secs_f64()
    ));
}

/// Figures go to stdout: this harness exists to print them.
pub(crate) fn report(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}
