//! State guarantees: saved plans pinned to their state, one portal per state, the lock.

use paysync::state::store::StateStore;
use paysync_emulator::{EmulatorHandle, Seed};

use crate::support::{World, manifest};

#[test]
fn a_saved_plan_is_applied_exactly() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.run(&["plan", "--out", "plan.json", "m.yaml"])
        .expect_code(0);
    assert!(w.requests().is_empty());
    // The manifest changes after review: the saved plan still applies what was reviewed.
    w.write(
        "m.yaml",
        &manifest(
            11,
            1,
            &[("PS_WORK_MODE_IFRAME", "TEST"), ("PAYMENT_ID", "p")],
        ),
    );
    // No terminal and no --auto-approve: a saved plan is approval enough.
    w.run(&["apply", "--plan", "plan.json"]).expect_code(0);
    let updates = w.updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["SETTINGS"].as_object().unwrap().len(), 1);
    assert_eq!(
        w.portal_value(11, 1, "PS_WORK_MODE_IFRAME").as_deref(),
        Some("REGULAR")
    );
    // Applying it twice is refused: the state moved on.
    w.portal.clear_requests();
    let again = w.run(&["apply", "--plan", "plan.json"]);
    again.expect_code(5);
    assert!(again.stderr.contains("stale"), "{}", again.stderr);
    assert!(w.requests().is_empty());
}

#[test]
fn a_stale_saved_plan_is_refused_and_sends_nothing() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    w.run(&["plan", "--out", "plan.json", "m.yaml"])
        .expect_code(0);
    w.write(
        "m.yaml",
        &manifest(
            11,
            1,
            &[("PS_WORK_MODE_IFRAME", "TEST"), ("PAYMENT_ID", "p")],
        ),
    );
    w.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    w.portal.clear_requests();

    let out = w.run(&["apply", "--plan", "plan.json"]);
    out.expect_code(5);
    assert!(
        out.stderr
            .contains("it was made from state serial 1, the state is now at serial 2"),
        "{}",
        out.stderr
    );
    assert!(w.requests().is_empty());
}

#[test]
fn a_saved_plan_from_another_state_is_refused() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.run(&["plan", "--out", "plan.json", "m.yaml"])
        .expect_code(0);
    w.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    let out = w.run(&["apply", "--plan", "plan.json"]);
    out.expect_code(5);
    assert!(out.stderr.contains("no state file"), "{}", out.stderr);
}

#[test]
fn state_made_for_another_portal_is_refused() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);

    let other = EmulatorHandle::start(Seed::demo()).unwrap();
    for args in [
        &["apply", "--auto-approve", "m.yaml"][..],
        &["plan", "--refresh", "m.yaml"][..],
    ] {
        let out = w
            .paysync()
            .env("PAYSYNC_WEBHOOK_URL", other.webhook_url())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("was made for"), "{stderr}");
    }
    assert!(other.requests().is_empty());
}

#[test]
fn a_second_apply_fails_at_once_on_the_lock() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    // Another holder of the same OS lock (this test process, as a concurrent apply would).
    let held = StateStore::new(w.path("paysync.state.json"))
        .lock()
        .unwrap();
    let started = std::time::Instant::now();
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(4);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(
        out.stderr.contains(&format!(
            "locked by another paysync run (pid {}",
            std::process::id()
        )),
        "{}",
        out.stderr
    );
    assert!(w.requests().is_empty());
    drop(held);
    w.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    assert!(
        !w.path("paysync.state.json.lock").exists(),
        "the lock file is removed on release"
    );
}

#[test]
fn two_real_applies_at_once_one_waits_for_nobody() {
    // Two processes race for the lock: exactly one applies, the other fails with code 4
    // (or both succeed one after the other when the first finished before the second
    // started — then the second has nothing to do).
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let spawn = || {
        w.paysync_std()
            .args(["apply", "--auto-approve", "m.yaml"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let mut codes = [a, b].map(|c| c.wait_with_output().unwrap().status.code().unwrap());
    codes.sort();
    assert!(codes == [0, 0] || codes == [0, 4], "{codes:?}");
    assert_eq!(w.updates().len(), 1, "the write happened once");
}
