//! paysync's benchmark harness (`cargo bench --bench paysync`): prints figures, asserts
//! nothing. See BENCHMARKS.md for the published numbers and how to read them.
//!
//! - `offline`: offline plans of the shapes of issue 13 (and, for issue 22, each against
//!   its matching state, saved with `--out` and shown) (200,000 settings in 100 files of
//!   100 documents, in one file of 5,000 documents, as 200,000 targets of one code; 10
//!   files of 1,000 documents against 9 of 1,111; 1M settings) against a bare YAML parse
//!   of the same files, each measured in a fresh child process so its peak memory
//!   (VmHWM) and CPU time (all threads) are its own. The bare parse is the floor paysync builds on: each file
//!   read and parsed by serde-saphyr (`from_str_multiple`, default options but budgets
//!   that admit every shape) into generic
//!   `serde_json::Value`s, one file after another on one thread, nothing kept. The plan
//!   is what `paysync plan` does offline, timed to the end (dropping its data included):
//!   `manifest::load` (which reads and checks files on every core), `DesiredValues::new`,
//!   `plan::compute` and `render::plan_text::render`.
//! - `throughput`: applying N changed targets (N ∈ {50, 1000, 5000}) to the emulator with
//!   its 50/2 leaky bucket on, side by side with a per-target client.
//! - `latency`: the same apply with 300 ms added to every request, `--parallelism 1`
//!   side by side with the default (issue 12.6).
//! - `reads`: `drift` and `plan --refresh` of 1,000 targets at 300 ms per request, one
//!   batch at a time beside `--parallelism`'s default (issue 22.4).
//! - `state`: the bytes an apply of 20,000 and 40,000 targets writes to the state
//!   directory, beside the final state size, and its CPU time (issue 13: the journal).
//! - `fingerprint`: the CPU one guessed secret costs someone holding a state file or a
//!   saved plan, with the default Argon2id parameters, beside state format 1's HMAC; and
//!   what fingerprinting 10/100/500 secrets costs a run, with and without a key.
//! - `state-store`: load and save of a 200,000-target state through S3 (SeaweedFS on
//!   loopback) beside the file backend (issue 20).
//! - `memory`: the peak memory of `apply`, `plan --refresh` and `drift` at 1M settings
//!   against the emulator, beside the offline plan's (issue 22.2).
//!
//! `cargo bench --bench paysync -- offline` runs one part.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod fingerprint;
mod memory;
mod state_store;
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
    if wants("reads") {
        throughput::reads();
    }
    if wants("state") {
        state_writes::run();
    }
    if wants("fingerprint") {
        fingerprint::run();
        fingerprint::per_run();
    }
    if wants("state-store") {
        state_store::run();
    }
    if wants("memory") {
        memory::run();
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

/// CPU time of this process so far (user + system, every thread), in milliseconds
/// (Linux: `/proc/self/stat`, in clock ticks of 10 ms), or 0.
pub(crate) fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) as f64 * 10.0
}

/// Writes `files` manifest files with `docs` documents of `codes` settings each, pay
/// systems from 1000 on.
fn generate(dir: &Path, files: usize, docs: usize, codes: usize) -> u64 {
    generate_from(dir, 1000, files, docs, codes)
}

/// [`generate`], pay systems from `first` on.
pub(crate) fn generate_from(
    dir: &Path,
    first: usize,
    files: usize,
    docs: usize,
    codes: usize,
) -> u64 {
    let mut bytes = 0;
    for f in 0..files {
        let mut text = String::new();
        for d in 0..docs {
            let pay_system = first + f * docs + d;
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

/// Where the matching state of the manifests in `dir` is kept: beside it, so that it is
/// not read as a manifest.
fn state_path(dir: &Path) -> PathBuf {
    dir.with_extension("state.json")
}

/// Where `plan-out` saves its plan and `show` reads it.
fn saved_plan_path(dir: &Path) -> PathBuf {
    dir.with_extension("plan.json")
}

/// Writes the state an apply of what [`generate`] wrote would leave (every value as
/// declared, each target's manifest recorded as read): the plan against it has no
/// changes, the CI case of a pull request that changes nothing.
fn generate_state(dir: &Path, files: usize, docs: usize, codes: usize) {
    let mut targets = Vec::new();
    for f in 0..files {
        let manifest = dir.join(format!("m{f:03}.yaml")).display().to_string();
        for d in 0..docs {
            let pay_system = 1000 + f * docs + d;
            let mut settings = serde_json::Map::new();
            for c in 0..codes {
                let (source, value) = match c % 4 {
                    0 => ("VALUE", format!("value-{pay_system}-{c}")),
                    1 => ("VALUE", format!("{c:05}")),
                    2 => ("PAYMENT", "ACCOUNT_NUMBER".to_owned()),
                    _ => ("VALUE", (pay_system * 7 + c).to_string()),
                };
                settings.insert(
                    format!("CODE_{c:02}"),
                    serde_json::json!({"type": source, "value": value}),
                );
            }
            targets.push(serde_json::json!({
                "paySystem": pay_system, "personType": 1, "manifest": manifest,
                "settings": settings,
            }));
        }
    }
    let state = serde_json::json!({
        "format": 2,
        "lineage": "00000000-0000-4000-8000-000000000001",
        "serial": 1,
        "portal": "https://portal.example",
        "fingerprints": {"algorithm": "argon2id", "version": 19, "m_cost": 65536, "t_cost": 3,
            "p_cost": 1, "salt": "802f734bd2e649aa23a3ba450c7eab95", "keyed": false},
        "targets": targets,
    });
    let file = std::fs::File::create(state_path(dir)).unwrap();
    serde_json::to_writer_pretty(std::io::BufWriter::new(file), &state).unwrap();
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
                // Default options but budgets that admit every shape (the default
                // allows 1,024 documents and 250,000 nodes in a string).
                let options = serde_saphyr::options! {
                    budget: serde_saphyr::budget! {
                        max_documents: usize::MAX,
                        max_events: usize::MAX,
                        max_nodes: usize::MAX,
                    },
                };
                let parsed: Vec<serde_json::Value> =
                    serde_saphyr::from_str_multiple_with_options(&text, options).unwrap();
                docs += parsed.len();
            }
            format!("{docs} documents")
        }
        "plan" | "plan-state" | "plan-out" => {
            // The command's own path (`paysync plan DIR`), its output discarded: without a
            // state, against the matching state beside the directory, or saving the plan.
            use paysync::cli::{Format, Inputs, PlanSettings};
            use paysync::commands::{self, Context, Portal};
            let settings = PlanSettings {
                inputs: Inputs {
                    paths: vec![dir.clone()],
                    state: match mode {
                        "plan-state" => state_path(&dir).into(),
                        _ => dir.join("paysync.state.json").into(),
                    },
                    refresh: false,
                    rate: paysync::bitrix::Rate::default(),
                    format: Format::Text,
                    layered: false,
                    subset: None,
                    notes: Vec::new(),
                    targets: Vec::new(),
                    environment: None,
                    parallelism: 1,
                },
                out: (mode == "plan-out").then(|| saved_plan_path(&dir)),
                detailed_exitcode: false,
                resolve_secrets: false,
                comment_parts: None,
            };
            let term = paysync::render::terminal::Terminal::silent();
            let ctx = Context {
                term: &term,
                portal: Portal::Environment,
                secrets: Default::default(),
            };
            let plan = commands::plan::plan(&settings, &ctx).expect("plan runs");
            let summary = plan.summary();
            // As `paysync plan` does at the end of the command (`commands::plan::run`).
            std::mem::forget(plan);
            format!(
                "{} settings to add in {} targets",
                summary.to_add, summary.targets_to_change
            )
        }
        "show" => {
            // `paysync show PLAN` of the plan `plan-out` saved, its text to stdout (read
            // and discarded by the parent; the figures are the last line).
            let term = paysync::render::terminal::Terminal::silent();
            let ctx = paysync::commands::Context {
                term: &term,
                portal: paysync::commands::Portal::Environment,
                secrets: Default::default(),
            };
            let code = paysync::commands::show::run(
                &saved_plan_path(&dir),
                paysync::cli::Format::Text,
                None,
                &ctx,
            )
            .expect("show runs");
            format!("exit {code}")
        }
        other => panic!("unknown child mode {other}"),
    };
    let elapsed = started.elapsed();
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    writeln!(
        out,
        "{} {} {} {}",
        elapsed.as_secs_f64() * 1000.0,
        cpu_ms(),
        peak_rss_kib(),
        detail
    )
    .unwrap();
}

fn measure(mode: &str, dir: &Path) -> Measured {
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
    let last = text.trim().lines().last().unwrap_or_default();
    let mut parts = last.splitn(4, ' ');
    let ms: f64 = parts.next().unwrap().parse().unwrap();
    let cpu_ms: f64 = parts.next().unwrap().parse().unwrap();
    let kib: u64 = parts.next().unwrap().parse().unwrap();
    (
        Duration::from_secs_f64(ms / 1000.0),
        Duration::from_secs_f64(cpu_ms / 1000.0),
        kib,
        parts.next().unwrap_or("").to_owned(),
    )
}

/// The offline shapes of issue 13: (label, files, documents per file, codes per document).
const SHAPES: [(&str, usize, usize, usize); 6] = [
    ("100 files x 100 documents x 20 codes", 100, 100, 20),
    ("1 file x 5,000 documents x 20 codes", 1, 5_000, 20),
    ("400 files x 500 documents x 1 code", 400, 500, 1),
    ("10 files x 1,000 documents x 20 codes", 10, 1_000, 20),
    ("9 files x 1,111 documents x 20 codes", 9, 1_111, 20),
    (
        "500 files x 100 documents x 20 codes (1M settings)",
        500,
        100,
        20,
    ),
];

/// One measurement: wall time, CPU time (all threads), peak RSS in KiB, detail.
type Measured = (Duration, Duration, u64, String);

fn offline() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    report(&format!(
        "offline plan (load on {cores} core(s): load+validate+plan+render) against a bare parse (1 thread: serde-saphyr from_str_multiple -> serde_json::Value); each run a fresh child process, best CPU of 3 (1 for 1M settings)"
    ));
    report(
        "  shape                                                settings   MiB   parse cpu ms  wall ms  peak MiB |  plan cpu ms  wall ms  peak MiB | cpu ratio",
    );
    let mut cpu = Vec::new();
    let mut issue22 = Vec::new();
    for (label, files, docs, codes) in SHAPES {
        let dir = tempfile::tempdir().unwrap();
        let bytes = generate(dir.path(), files, docs, codes);
        let runs = if files * docs * codes >= 1_000_000 {
            1
        } else {
            3
        };
        let best = |mode: &str| {
            (0..runs)
                .map(|_| measure(mode, dir.path()))
                .min_by_key(|m| m.1)
                .unwrap()
        };
        let parse = best("parse");
        let plan = best("plan");
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mib = |k: u64| k as f64 / 1024.0;
        report(&format!(
            "  {label:<52} {:>8} {:>5.1} {:>12.1} {:>8.1} {:>9.1} | {:>11.1} {:>8.1} {:>9.1} | {:>8.2}x",
            files * docs * codes,
            bytes as f64 / (1024.0 * 1024.0),
            ms(parse.1),
            ms(parse.0),
            mib(parse.2),
            ms(plan.1),
            ms(plan.0),
            mib(plan.2),
            plan.1.as_secs_f64() / parse.1.as_secs_f64(),
        ));
        cpu.push(plan.1);
        // Issue 22: the same shape against its matching state, and saved.
        generate_state(dir.path(), files, docs, codes);
        let with_state = best("plan-state");
        let saved = best("plan-out");
        let shown = best("show");
        let saved_bytes = std::fs::metadata(saved_plan_path(dir.path()))
            .unwrap()
            .len();
        let state_bytes = std::fs::metadata(state_path(dir.path())).unwrap().len();
        let peak = |m: &Measured| m.2 as f64 / plan.2 as f64;
        issue22.push(format!(
            "  {label:<52} {:>9.1} | {:>6.1} {:>9.1} {:>5.2}x | {:>9.1} {:>5.2}x | {:>9.1} {:>5.2}x | {:>6.1} {:>5.2}x",
            mib(plan.2),
            state_bytes as f64 / (1024.0 * 1024.0),
            mib(with_state.2),
            peak(&with_state),
            mib(saved.2),
            peak(&saved),
            mib(shown.2),
            peak(&shown),
            saved_bytes as f64 / (1024.0 * 1024.0),
            saved_bytes as f64 / bytes as f64,
        ));
        for path in [state_path(dir.path()), saved_plan_path(dir.path())] {
            let _ = std::fs::remove_file(path);
        }
    }
    report(&format!(
        "  cliff: plan CPU of 9 x 1,111 documents / 10 x 1,000 documents (same 200k settings): {:.2}x",
        cpu[4].as_secs_f64() / cpu[3].as_secs_f64()
    ));
    report(
        "offline plan with a matching state, and saved (issue 22): peaks against the plan's without a state (targets: at most 1.5x; a saved plan of every setting at most 3x the manifests)",
    );
    report(
        "  shape                                                plan MiB |  state MiB  w/ state MiB ratio | --out MiB ratio |  show MiB ratio | saved MiB x YAML",
    );
    for line in issue22 {
        report(&line);
    }
}

/// Figures go to stdout: this harness exists to print them.
pub(crate) fn report(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}
