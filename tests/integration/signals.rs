//! Signals and kills on the real binary (issue 7.6, 7.7): SIGINT and SIGTERM stop a run
//! cleanly; a second signal stops it at once; SIGKILL at any point never leaves a state
//! that claims what the portal does not hold, and the next run converges.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paysync::state::file::FileBackend;
use paysync_emulator::{Fault, Gate};

use crate::support::{Outcome, World};

/// Sends `signal` (`INT`, `TERM`, `KILL`) to a process, through the shell's `kill`.
fn kill(pid: u32, signal: &str) -> std::io::Result<std::process::ExitStatus> {
    Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{signal} {pid}"))
        .stderr(Stdio::null())
        .status()
}

/// Sends `signal` to a child.
pub(crate) fn send(child: &Child, signal: &str) {
    let status = kill(child.id(), signal).expect("sh runs");
    assert!(status.success(), "kill -{signal}");
}

/// Waits for `done` (polling), failing after `limit`.
pub(crate) fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for the child to end (at most `limit`) and collects its output.
fn finish(child: Child, limit: Duration) -> (Outcome, Duration) {
    let started = Instant::now();
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(limit).is_err() {
            let _ = kill(pid, "KILL");
        }
    });
    let output = child.wait_with_output().unwrap();
    let took = started.elapsed();
    let _ = done.send(());
    watchdog.join().unwrap();
    assert!(took < limit, "still running after {limit:?}");
    (Outcome::from(output), took)
}

/// A child whose stderr is read as it is written, so a test can wait for a line (that
/// the signal was received, say) instead of for a while.
pub(crate) struct Watched {
    pub(crate) child: Child,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    reading: std::thread::JoinHandle<()>,
}

fn spawn_watched(w: &World, args: &[&str]) -> Watched {
    watch(spawn(w, args))
}

/// Collects `child`'s stderr (piped) as it comes.
pub(crate) fn watch(mut child: Child) -> Watched {
    use std::io::Read;
    let mut pipe = child.stderr.take().expect("stderr is piped");
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = stderr.clone();
    let reading = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    Watched {
        child,
        stderr,
        reading,
    }
}

impl Watched {
    /// Waits until stderr holds `text` (at most a minute, a guard against a hang).
    pub(crate) fn wait_for(&self, text: &str) {
        wait_until(Duration::from_secs(60), text, || {
            self.stderr.lock().unwrap().contains(text)
        });
    }

    /// Waits for the child to end and collects its output.
    pub(crate) fn finish(self, limit: Duration) -> (Outcome, Duration) {
        let (mut out, took) = finish(self.child, limit);
        self.reading.join().unwrap();
        out.stderr = self.stderr.lock().unwrap().clone();
        (out, took)
    }
}

fn spawn(w: &World, args: &[&str]) -> Child {
    w.cmd()
        .into_std()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paysync starts")
}

/// `n` targets (pay systems 100, 101, ...), each with one code set to `value`.
pub(crate) fn manifests(w: &World, n: u64, value: &str) {
    let mut text = String::new();
    for id in 100..100 + n {
        text.push_str(&crate::support::manifest(
            id,
            1,
            &[("REST_SERVICE_ID_IFRAME", value)],
        ));
        text.push_str("---\n");
    }
    w.write("m/all.yaml", text.trim_end_matches("---\n"));
}

/// The targets the state file records, with their REST_SERVICE_ID_IFRAME value.
fn recorded(w: &World) -> Vec<(u64, String)> {
    let Some(state) = FileBackend::new(w.path("paysync.state.json"))
        .load()
        .expect("the state file is valid")
    else {
        return Vec::new();
    };
    state
        .targets
        .iter()
        .filter_map(
            |(t, settings)| match settings.get("REST_SERVICE_ID_IFRAME") {
                Some(paysync::state::RecordedValue::Plain { value, .. }) => {
                    Some((t.pay_system, value.to_string()))
                }
                _ => None,
            },
        )
        .collect()
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// SIGINT or SIGTERM in the middle of an apply: the batch in flight is finished and
/// recorded, no new batch is sent, the lock is released, the exit code says which signal,
/// and the next plan shows exactly the rest. One batch at a time (`--parallelism 1`, the
/// order before issue 12.6); see below for several in flight.
fn a_signal_mid_apply_stops_cleanly(signal: &str, code: i32) {
    let w = World::with_seed(crate::seeds::many_pay_systems(150));
    manifests(&w, 150, "v1");
    // Three batches of 50; the second (pay systems 150..200) is held on the portal until
    // the signal has been received: in flight, for as long as it takes.
    let gate = Gate::new();
    w.portal.inject(
        Fault::hold(&gate)
            .method("sale.paysystem.settings.update")
            .pay_system(150),
    );
    let child = spawn_watched(&w, &["apply", "--auto-approve", "--parallelism", "1", "m"]);
    wait_until(Duration::from_secs(30), "the second batch", || {
        w.portal.requests_received() >= 2
    });
    send(&child.child, signal);
    child.wait_for("received: stopping cleanly");
    gate.open();
    let (out, _) = child.finish(Duration::from_secs(30));
    assert_eq!(out.code, code, "{out:?}");
    assert!(
        out.stderr.contains(&format!("stopped by SIG{signal}")),
        "{}",
        out.stderr
    );
    // The batch in flight was awaited and recorded; exactly the confirmed targets are
    // recorded, and the portal holds each of them.
    let done = recorded(&w);
    assert_eq!(done.len(), 100, "{}", out.stderr);
    for (pay_system, value) in &done {
        assert_eq!(value, "v1");
        assert_eq!(
            w.portal_value(*pay_system, 1, "REST_SERVICE_ID_IFRAME")
                .as_deref(),
            Some("v1"),
            "pay system {pay_system}"
        );
    }
    let written = (100..250)
        .filter(|ps| w.portal_value(*ps, 1, "REST_SERVICE_ID_IFRAME").is_some())
        .count();
    assert_eq!(written, done.len(), "no batch was sent after the signal");
    assert!(
        out.stderr
            .contains(&format!("{} targets not sent", 150 - done.len())),
        "{}",
        out.stderr
    );
    // The lock is released (its file removed on the way out), and the next plan shows
    // only the rest.
    assert!(!w.path("paysync.state.json.lock").exists());
    let plan = w.run(&["plan", "m"]);
    plan.expect_code(0);
    assert!(
        plan.stdout
            .contains(&format!("Plan: {} targets to change", 150 - done.len())),
        "{}",
        plan.stdout
    );
    w.portal.clear_faults();
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    w.run(&["plan", "--detailed-exitcode", "m"]).expect_code(0);
}

#[cfg(unix)]
#[test]
fn sigint_mid_apply_finishes_the_batch_in_flight_and_exits_130() {
    a_signal_mid_apply_stops_cleanly("INT", 130);
}

#[cfg(unix)]
#[test]
fn sigterm_mid_apply_finishes_the_batch_in_flight_and_exits_143() {
    a_signal_mid_apply_stops_cleanly("TERM", 143);
}

/// Issue 12.6: with several batches in flight (`--parallelism 3`), SIGTERM sends no new
/// batch, awaits every batch in flight (the first one answering last), and the state
/// records exactly the targets the portal confirmed, however the answers were ordered;
/// the next run sends only the rest and converges.
#[cfg(unix)]
#[test]
fn a_signal_with_several_batches_in_flight_records_exactly_what_the_portal_confirmed() {
    let w = World::with_seed(crate::seeds::many_pay_systems(300));
    manifests(&w, 300, "v1");
    // Six batches of 50, held on the portal until the signal has been received; the first
    // one (pay system 100) is also delayed, so it answers after the two sent with it.
    let gate = Gate::new();
    w.portal.inject(Fault::hold(&gate).method("batch"));
    w.portal.inject(
        Fault::delay(Duration::from_millis(500))
            .method("sale.paysystem.settings.update")
            .pay_system(100),
    );
    let child = spawn_watched(&w, &["apply", "--auto-approve", "--parallelism", "3", "m"]);
    // Three batches reached the portal at once and are held there: all in flight.
    wait_until(Duration::from_secs(30), "three batches in flight", || {
        w.portal.requests_received() >= 3
    });
    send(&child.child, "TERM");
    child.wait_for("received: stopping cleanly");
    gate.open();
    let (out, _) = child.finish(Duration::from_secs(30));
    assert_eq!(out.code, 143, "{out:?}");
    assert!(out.stderr.contains("stopped by SIGTERM"), "{}", out.stderr);
    // Exactly what the portal holds is recorded: the three batches in flight, no more.
    let done = recorded(&w);
    let on_portal: Vec<u64> = (100..400)
        .filter(|ps| w.portal_value(*ps, 1, "REST_SERVICE_ID_IFRAME").as_deref() == Some("v1"))
        .collect();
    let recorded_ids: Vec<u64> = done.iter().map(|(ps, _)| *ps).collect();
    assert_eq!(recorded_ids, on_portal, "{}", out.stderr);
    assert_eq!(done.len(), 150, "{}", out.stderr);
    assert!(done.iter().all(|(_, v)| v == "v1"));
    assert_eq!(
        w.portal.requests_received(),
        3,
        "a batch was sent after the signal"
    );
    assert!(
        out.stderr.contains("150 targets not sent"),
        "{}",
        out.stderr
    );
    assert!(!w.path("paysync.state.json.lock").exists());
    let plan = w.run(&["plan", "m"]);
    plan.expect_code(0);
    assert!(
        plan.stdout.contains("Plan: 150 targets to change"),
        "{}",
        plan.stdout
    );
    w.portal.clear_faults();
    w.portal.clear_requests();
    w.run(&["apply", "--auto-approve", "--parallelism", "3", "m"])
        .expect_code(0);
    assert_eq!(w.updates().len(), 150, "only the rest is sent again");
    w.run(&["plan", "--detailed-exitcode", "m"]).expect_code(0);
    assert_eq!(recorded(&w).len(), 300);
}

/// A second signal does not wait for the batch in flight.
#[cfg(unix)]
#[test]
fn a_second_signal_stops_at_once() {
    let w = World::with_seed(crate::seeds::many_pay_systems(10));
    manifests(&w, 10, "v1");
    let gate = Gate::new();
    w.portal.inject(Fault::hold(&gate).method("batch"));
    let child = spawn_watched(&w, &["apply", "--auto-approve", "m"]);
    // The batch is held on the portal: in flight. The first signal is received, then
    // the second comes; the batch is never answered.
    wait_until(Duration::from_secs(30), "the batch", || {
        w.portal.requests_received() >= 1
    });
    send(&child.child, "INT");
    child.wait_for("received: stopping cleanly");
    send(&child.child, "INT");
    // Not the 20 s the batch in flight would otherwise be awaited.
    let (out, _) = child.finish(Duration::from_secs(15));
    assert_eq!(out.code, 130, "{out:?}");
    assert!(
        out.stderr.contains("received again: stopping at once"),
        "{}",
        out.stderr
    );
    gate.open();
    // What is on disk is whole, and the lock is free for the next run.
    assert!(recorded(&w).is_empty());
    w.portal.clear_faults();
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
}

/// Reads stop at a signal and write nothing: plan --refresh (no saved plan), drift,
/// import (no files).
#[cfg(unix)]
#[test]
fn reads_stop_at_a_signal_and_write_nothing() {
    let w = World::new();
    w.write(
        "m.yaml",
        &crate::support::manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    let state = w.read("paysync.state.json");
    w.portal
        .inject(Fault::delay(Duration::from_secs(30)).method("batch"));
    w.portal
        .inject(Fault::delay(Duration::from_secs(30)).method("sale.paysystem.handler.list"));
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        for args in [
            &["plan", "--refresh", "--out", "plan.json", "m.yaml"][..],
            &["drift"],
            &["import", "--all", "--out", "imported", "--adopt"],
        ] {
            // Sent once its read is held on the portal (the handlers are installed by
            // then), not after a while.
            let before = w.portal.requests_received();
            let child = spawn(&w, args);
            wait_until(Duration::from_secs(30), "the read", || {
                w.portal.requests_received() > before
            });
            send(&child, signal);
            let (out, took) = finish(child, Duration::from_secs(10));
            assert_eq!(out.code, code, "{args:?}: {out:?}");
            assert!(took < Duration::from_secs(5), "{args:?}: {took:?}");
            assert!(
                out.stderr.contains(&format!("stopped by SIG{signal}")),
                "{args:?}: {}",
                out.stderr
            );
            assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
        }
    }
    assert!(!w.path("plan.json").exists());
    assert!(!w.path("imported").exists());
    assert_eq!(w.read("paysync.state.json"), state);
    assert!(temp_files(w.dir.path()).is_empty());
}

/// A tiny deterministic generator, seeded from the clock and printed, so a failing run
/// can be repeated.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    pub(crate) fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// SIGKILL at random points of an apply, 20 times: the state file is always valid, never
/// records a value the portal does not hold, no temporary file outlives the next run, and
/// a re-run converges.
#[cfg(unix)]
#[test]
fn sigkill_at_random_points_never_leaves_a_state_ahead_of_the_portal() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut random = Lcg(seed);
    let w = World::with_seed(crate::seeds::many_pay_systems(120));
    // Three batches, each a little slow, so kills land before, between and inside them.
    w.portal
        .inject(Fault::delay(Duration::from_millis(40)).method("batch"));
    for round in 1..=20 {
        let value = format!("r{round}");
        manifests(&w, 120, &value);
        let mut child = spawn(&w, &["apply", "--auto-approve", "m"]);
        std::thread::sleep(Duration::from_millis(random.next(400)));
        let _ = child.kill();
        let _ = child.wait();
        // Valid, and never ahead: what is recorded as this round's value is on the portal.
        for (pay_system, recorded_value) in recorded(&w) {
            if recorded_value == value {
                assert_eq!(
                    w.portal_value(pay_system, 1, "REST_SERVICE_ID_IFRAME")
                        .as_deref(),
                    Some(value.as_str()),
                    "round {round} (seed {seed}): pay system {pay_system}"
                );
            }
        }
        // The next run takes the lock, removes what the kill left and converges.
        let out = w.run(&["apply", "--auto-approve", "m"]);
        assert_eq!(out.code, 0, "round {round} (seed {seed}): {out:?}");
        assert!(
            temp_files(w.dir.path()).is_empty(),
            "round {round} (seed {seed}): {:?}",
            temp_files(w.dir.path())
        );
        assert!(
            recorded(&w).iter().all(|(_, v)| *v == value) && recorded(&w).len() == 120,
            "round {round} (seed {seed})"
        );
        for pay_system in 100..220 {
            assert_eq!(
                w.portal_value(pay_system, 1, "REST_SERVICE_ID_IFRAME")
                    .as_deref(),
                Some(value.as_str())
            );
        }
    }
    w.run(&["plan", "--detailed-exitcode", "m"]).expect_code(0);
}

/// Regression (issue 7.7): a temporary file left by a kill between its write and the
/// rename is removed by the next run that holds the lock; another file's stays.
#[test]
fn a_temporary_file_left_by_a_kill_is_removed_by_the_next_run() {
    let w = World::new();
    w.write(
        "m.yaml",
        &crate::support::manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.write(".paysync.state.json.paysync-k1ll3d.tmp", "{\"half\": ");
    w.write(".plan.json.paysync-0th3r.tmp", "{}");
    w.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    assert_eq!(temp_files(w.dir.path()), [".plan.json.paysync-0th3r.tmp"]);
}

/// Complete lines of the state journal next to the state file.
fn journal_lines(w: &World) -> usize {
    std::fs::read(w.path("paysync.state.json.journal"))
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

fn state_serial(w: &World) -> u64 {
    FileBackend::new(w.path("paysync.state.json"))
        .load()
        .unwrap()
        .unwrap()
        .serial
}

/// Issue 13: apply records confirmed batches in an append-only journal and writes the
/// state file once at the end. SIGKILL after two batches were journaled (the third is
/// held on the portal, unanswered): the state file on disk is still the previous run's,
/// yet every reader (`plan`, `drift`) — and the next run, which folds the journal first —
/// sees exactly the batches the portal confirmed, with the serial two per-batch saves
/// would have given; the next apply sends only the rest and converges.
#[cfg(unix)]
#[test]
fn sigkill_mid_apply_leaves_a_journal_holding_exactly_what_the_portal_confirmed() {
    let w = World::with_seed(crate::seeds::many_pay_systems(250));
    manifests(&w, 250, "v0");
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    assert!(!w.path("paysync.state.json.journal").exists());
    let before = state_serial(&w);
    let file_before = w.read("paysync.state.json");

    manifests(&w, 250, "v1");
    // Five batches, one at a time; the third (pay systems 200..250) is held on the portal
    // and never answered: the kill lands while it is in flight, whenever it comes.
    let gate = Gate::new();
    w.portal.inject(
        Fault::hold(&gate)
            .method("sale.paysystem.settings.update")
            .pay_system(200),
    );
    let mut child = spawn(&w, &["apply", "--auto-approve", "--parallelism", "1", "m"]);
    wait_until(Duration::from_secs(30), "the third batch held", || {
        journal_lines(&w) >= 2 && w.portal.requests_received() >= 3
    });
    send(&child, "KILL");
    let _ = child.wait();
    assert_eq!(journal_lines(&w), 2);
    // The state file itself was not rewritten per batch.
    assert_eq!(w.read("paysync.state.json"), file_before);

    // Readers see the journal: the state records exactly the two batches the portal
    // confirmed (answered), never more than the portal holds.
    let on_portal: Vec<u64> = (100..350)
        .filter(|ps| w.portal_value(*ps, 1, "REST_SERVICE_ID_IFRAME").as_deref() == Some("v1"))
        .collect();
    let recorded_v1: Vec<u64> = recorded(&w)
        .into_iter()
        .filter(|(_, v)| v == "v1")
        .map(|(ps, _)| ps)
        .collect();
    assert_eq!(recorded_v1, (100..200).collect::<Vec<u64>>());
    assert_eq!(on_portal, recorded_v1, "the held batch never landed");
    assert_eq!(recorded(&w).len(), 250);
    assert_eq!(state_serial(&w), before + 2);
    // drift reads the journal too: none of the confirmed targets shows as drifted (the
    // state file alone would show all 100). Readers fold nothing.
    let drift = w.run(&["drift"]);
    drift.expect_code(0);
    assert!(w.path("paysync.state.json.journal").exists());
    assert_eq!(w.read("paysync.state.json"), file_before);
    let plan = w.run(&["plan", "m"]);
    assert!(
        plan.stdout.contains("Plan: 150 targets to change"),
        "{}",
        plan.stdout
    );

    // The next run folds the journal under the lock, sends only the rest and converges.
    // (The killed run's held batch stays held: it is never answered.)
    w.portal.clear_faults();
    w.portal.clear_requests();
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    assert_eq!(w.updates().len(), 150, "only the rest is sent again");
    assert!(!w.path("paysync.state.json.journal").exists());
    assert_eq!(state_serial(&w), before + 2 + 3);
    assert!(recorded(&w).iter().all(|(_, v)| v == "v1") && recorded(&w).len() == 250);
    w.run(&["plan", "--detailed-exitcode", "m"]).expect_code(0);
    assert!(temp_files(w.dir.path()).is_empty());
}
