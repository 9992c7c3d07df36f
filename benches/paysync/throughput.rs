//! Applying N changed targets against the emulator's leaky bucket (50 requests, draining
//! 2/s), paysync's batched apply side by side with a per-target client (one
//! `settings.update` request per target, the way the SDK examples do it, with the same
//! throttle and retry policy so it sees no more 503s than it must).
//!
//! Part A runs paysync at the real 50/2 rate. Part B compares both clients with time
//! compressed by `SCALE`: bucket and client both drain at 2×SCALE/s (same burst), which
//! divides every throttled wait by SCALE and leaves request and 503 counts unchanged; the
//! per-target client at N = 5000 would otherwise need about 41 minutes. Times in part B
//! are shown as measured and scaled back to 2/s.
//!
//! Part C (`latency`, its own part of the harness) adds network latency: the emulator holds every request 300 ms (a request-scope
//! `Fault::delay`, before its leaky bucket counts it, as a request on the wire would
//! arrive) and paysync runs at the real 50/2 rate with `--parallelism 1` (one batch after
//! another) side by side with the default 4 batches in flight. Real time: the slowest
//! run, N = 5000 one at a time, takes about 30 s.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use paysync::bitrix::{Client, Credentials, Rate, Request};
use paysync::model::Target;
use paysync::secrets::Redacted;
use paysync_emulator::{EmulatorHandle, Fault, PaySystemSeed, RateLimit, Seed};

use crate::report;

const SIZES: [u64; 3] = [50, 1000, 5000];
const SCALE: f64 = 20.0;
/// The first pay system ID the benchmark portals add (one per target).
pub(crate) const FIRST_ID: u64 = 100;

struct Figures {
    requests: usize,
    rejected: u64,
    wall: Duration,
}

/// The demo portal with `n` more AcmePay pay systems from [`FIRST_ID`] on.
pub(crate) fn seed(n: u64) -> Seed {
    let mut seed = Seed::demo();
    let template = seed
        .pay_systems
        .iter()
        .find(|p| p.id == 11)
        .unwrap()
        .clone();
    for id in FIRST_ID..FIRST_ID + n {
        seed.pay_systems.push(PaySystemSeed {
            id,
            name: format!("AcmePay {id}"),
            xml_id: None,
            ..template.clone()
        });
    }
    seed
}

fn portal(n: u64, drain: f64) -> EmulatorHandle {
    let portal = EmulatorHandle::start(seed(n)).expect("emulator starts");
    portal.set_rate_limit(Some(RateLimit {
        capacity: 50,
        drain_per_sec: drain,
    }));
    portal
}

/// The latency part C adds to every request.
const LATENCY: Duration = Duration::from_millis(300);

/// The real `paysync apply` binary on N targets, each with one changed code.
fn paysync_apply(n: u64, drain: f64) -> Figures {
    paysync_apply_with(n, drain, None, &[])
}

/// `targets.yaml` in `dir`: `n` targets from [`FIRST_ID`] on, each setting one code.
fn targets_yaml(dir: &std::path::Path, n: u64) {
    let mut text = String::new();
    for id in FIRST_ID..FIRST_ID + n {
        text.push_str(&format!(
            "---\napiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: {id}\npersonType: 1\nsettings:\n  PS_WORK_MODE_IFRAME: REGULAR\n"
        ));
    }
    std::fs::write(dir.join("targets.yaml"), text).unwrap();
}

/// [`paysync_apply`] with every request held `latency` by the emulator and `extra`
/// arguments to apply.
fn paysync_apply_with(n: u64, drain: f64, latency: Option<Duration>, extra: &[&str]) -> Figures {
    let portal = portal(n, drain);
    if let Some(latency) = latency {
        portal.inject(Fault::delay(latency));
    }
    let dir = tempfile::tempdir().unwrap();
    targets_yaml(dir.path(), n);
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_paysync"))
        .current_dir(dir.path())
        .env("PAYSYNC_WEBHOOK_URL", portal.webhook_url())
        .env("NO_COLOR", "1")
        .args(["-q", "apply", "--auto-approve", "--rate"])
        .arg(format!("50/{drain}"))
        .args(extra)
        .arg("targets.yaml")
        .output()
        .unwrap();
    let wall = started.elapsed();
    assert!(
        out.status.success(),
        "paysync apply failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Figures {
        requests: portal.requests().len(),
        rejected: portal.limit_rejections(),
        wall,
    }
}

/// One `settings.update` request per target, sequentially.
fn per_target(n: u64, drain: f64) -> Figures {
    let portal = portal(n, drain);
    let credentials = Credentials::from_webhook_url(&portal.webhook_url()).unwrap();
    let client = Client::new(credentials).unwrap().with_rate(Rate {
        capacity: 50,
        per_second: drain,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        for id in FIRST_ID..FIRST_ID + n {
            let target = Target {
                pay_system: id,
                person_type: 1,
            };
            let settings = BTreeMap::from([(
                "PS_WORK_MODE_IFRAME".to_owned(),
                ("VALUE".to_owned(), Redacted::new("REGULAR".to_owned())),
            )]);
            let result = client
                .call(&Request::settings_update(target, &settings))
                .await
                .expect("settings.update succeeds");
            assert_eq!(result, serde_json::Value::Bool(true));
        }
    });
    Figures {
        requests: portal.requests().len(),
        rejected: portal.limit_rejections(),
        wall: started.elapsed(),
    }
}

/// The bucket's physical floor for `requests` requests from an empty bucket.
fn floor(requests: usize, drain: f64) -> f64 {
    (requests.saturating_sub(50)) as f64 / drain
}

pub fn run() {
    report("throughput A: paysync apply, emulator bucket 50 burst / 2 per s (real time)");
    report("       N  requests  503s    wall s  floor s  (floor = (requests - 50) / 2)");
    for n in SIZES {
        let f = paysync_apply(n, 2.0);
        report(&format!(
            "{n:>8}  {:>8}  {:>4}  {:>8.1}  {:>7.1}",
            f.requests,
            f.rejected,
            f.wall.as_secs_f64(),
            floor(f.requests, 2.0)
        ));
    }
    let drain = 2.0 * SCALE;
    report(&format!(
        "throughput B: paysync vs a per-target client, bucket 50 / {drain} per s (time compressed x{SCALE}; 'at 2/s' = measured x{SCALE})"
    ));
    report("       N  client      requests  503s  wall s  at 2/s s   request ratio  time ratio");
    for n in SIZES {
        let batched = paysync_apply(n, drain);
        let single = per_target(n, drain);
        for (name, f) in [("paysync", &batched), ("per-target", &single)] {
            report(&format!(
                "{n:>8}  {name:<10}  {:>8}  {:>4}  {:>6.1}  {:>8.1}",
                f.requests,
                f.rejected,
                f.wall.as_secs_f64(),
                f.wall.as_secs_f64() * SCALE,
            ));
        }
        report(&format!(
            "{:>8}  {:<10}  {:>48.1}x  {:>9.1}x",
            "",
            "",
            single.requests as f64 / batched.requests as f64,
            single.wall.as_secs_f64() / batched.wall.as_secs_f64()
        ));
    }
}

/// Part C: 300 ms per request at the real 50/2 rate, one batch at a time against the
/// default parallelism.
pub fn latency() {
    report(&format!(
        "throughput C: paysync apply, emulator bucket 50 burst / 2 per s, {} ms added to every request (real time)",
        LATENCY.as_millis()
    ));
    report(
        "       N  parallelism  requests  503s    wall s  floor s  (floor = max(bucket, requests / parallelism x latency))",
    );
    for n in [1000, 5000] {
        for parallelism in [1, paysync::apply::DEFAULT_PARALLELISM] {
            let k = parallelism.to_string();
            let f = paysync_apply_with(n, 2.0, Some(LATENCY), &["--parallelism", &k]);
            let rounds = f.requests.div_ceil(parallelism) as f64 * LATENCY.as_secs_f64();
            report(&format!(
                "{n:>8}  {parallelism:>11}  {:>8}  {:>4}  {:>8.2}  {:>7.2}",
                f.requests,
                f.rejected,
                f.wall.as_secs_f64(),
                floor(f.requests, 2.0).max(rounds)
            ));
        }
    }
}

/// Issue 22.4: reads at 300 ms per request, one batch at a time against `--parallelism`'s
/// default: `drift` and `plan --refresh` of N targets applied before (without latency).
pub fn reads() {
    report(&format!(
        "reads: paysync drift and plan --refresh, emulator bucket 50 burst / 2 per s, {} ms added to every request (real time)",
        LATENCY.as_millis()
    ));
    report(
        "       N  command          parallelism  requests  503s    wall s  floor s  (floor = max(bucket, requests / parallelism x latency))",
    );
    let n = 1000;
    for command in [&["drift"][..], &["plan", "--refresh", "targets.yaml"][..]] {
        for parallelism in [1, paysync::apply::DEFAULT_PARALLELISM] {
            let portal = portal(n, 2.0);
            let dir = tempfile::tempdir().unwrap();
            targets_yaml(dir.path(), n);
            let run = |args: &[&str]| {
                std::process::Command::new(env!("CARGO_BIN_EXE_paysync"))
                    .current_dir(dir.path())
                    .env("PAYSYNC_WEBHOOK_URL", portal.webhook_url())
                    .env("NO_COLOR", "1")
                    .args(["-q"])
                    .args(args)
                    .args(["--rate", "50/2"])
                    .output()
                    .unwrap()
            };
            assert!(
                run(&["apply", "--auto-approve", "targets.yaml"])
                    .status
                    .success()
            );
            // The apply's 20 requests and the reads' 21 fit the bucket's burst of 50.
            portal.inject(Fault::delay(LATENCY));
            let before = portal.requests().len();
            let rejected_before = portal.limit_rejections();
            let k = parallelism.to_string();
            let mut args = command.to_vec();
            args.extend(["--parallelism", &k]);
            let started = Instant::now();
            let out = run(&args);
            let wall = started.elapsed();
            assert!(out.status.code().is_some_and(|c| c == 0 || c == 2));
            let requests = portal.requests().len() - before;
            let rounds = requests.div_ceil(parallelism) as f64 * LATENCY.as_secs_f64();
            report(&format!(
                "{n:>8}  {:<15}  {parallelism:>11}  {requests:>8}  {:>4}  {:>8.2}  {:>7.2}",
                command[..command.len().min(2)].join(" "),
                portal.limit_rejections() - rejected_before,
                wall.as_secs_f64(),
                floor(requests, 2.0).max(rounds)
            ));
        }
    }
}
