//! The state in an S3-compatible store (issue 20), against a real SeaweedFS
//! ([`crate::stores`]): every command with `s3://bucket/key`, one lock holder at a time,
//! `--lock-timeout`, leases taken over after a kill, a removed lock refusing the broken
//! run's writes, random kills never leaving a lying state, a store without conditional
//! writes refused, migration byte for byte, and the store's credentials in no output.

use std::process::{Child, Stdio};
use std::time::Duration;

use paysync_emulator::{Fault, Gate, LaxS3};

use crate::stores::{ACCESS_KEY_ID, SECRET_ACCESS_KEY, Seaweed, fresh_location, s3_cmd, seaweed};
use crate::support::{Outcome, World, manifest, repo_root};

const CANARIES: [&str; 2] = [ACCESS_KEY_ID, SECRET_ACCESS_KEY];

fn run(w: &World, s3: &Seaweed, args: &[&str]) -> Outcome {
    let out = s3_cmd(w, s3).args(args).arg("-vvv").run();
    out.assert_hides(&CANARIES);
    out
}

fn spawn(w: &World, s3: &Seaweed, args: &[&str], envs: &[(&str, &str)]) -> Child {
    s3_cmd(w, s3)
        .envs(envs.iter().copied())
        .into_std()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paysync starts")
}

fn wait_until(what: &str, done: impl FnMut() -> bool) {
    crate::signals::wait_until(Duration::from_secs(90), what, done);
}

/// The ID of the lock held on `state`, as `state unlock` with a wrong ID names it.
fn held_lock_id(w: &World, s3: &Seaweed, state: &str) -> String {
    let out = run(w, s3, &["state", "unlock", "not-the-id", "--state", state]);
    out.expect_code(1);
    out.stderr
        .split("lock ID ")
        .nth(1)
        .and_then(|rest| rest.split([';', ',', ' ']).next())
        .unwrap_or_else(|| panic!("no lock ID in {}", out.stderr))
        .to_owned()
}

/// What the state records of REST_SERVICE_ID_IFRAME, per pay system; empty when there is
/// no state yet. A state that cannot be read fails the test.
fn recorded(w: &World, s3: &Seaweed, state: &str) -> Vec<(u64, String)> {
    let out = run(w, s3, &["state", "pull", "--state", state]);
    if out.code == 1 && out.stderr.contains("there is no state") {
        return Vec::new();
    }
    out.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("the state is JSON");
    json["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter_map(|t| {
            let value = t["settings"]["REST_SERVICE_ID_IFRAME"]["value"].as_str()?;
            Some((t["paySystem"].as_u64()?, value.to_owned()))
        })
        .collect()
}

fn value(w: &World, s3: &Seaweed, state: &str, pay_system: u64) -> Option<String> {
    recorded(w, s3, state)
        .into_iter()
        .find_map(|(ps, v)| (ps == pay_system).then_some(v))
}

#[test]
fn every_command_works_with_an_s3_state() {
    let Some(s3) = seaweed() else { return };
    let w = World::new();
    let state = fresh_location("commands");
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    run(
        &w,
        &s3,
        &["apply", "--auto-approve", "--state", &state, "m.yaml"],
    )
    .expect_code(0);
    run(
        &w,
        &s3,
        &["plan", "--detailed-exitcode", "--state", &state, "m.yaml"],
    )
    .expect_code(0);
    run(
        &w,
        &s3,
        &[
            "plan",
            "--refresh",
            "--detailed-exitcode",
            "--state",
            &state,
            "m.yaml",
        ],
    )
    .expect_code(0);
    run(&w, &s3, &["drift", "--state", &state]).expect_code(0);
    let saved = w.path("plan.bin");
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "IFRAME")]),
    );
    run(
        &w,
        &s3,
        &[
            "plan",
            "--state",
            &state,
            "--out",
            saved.to_str().unwrap(),
            "m.yaml",
        ],
    )
    .expect_code(0);
    run(&w, &s3, &["show", saved.to_str().unwrap()]).expect_code(0);
    run(
        &w,
        &s3,
        &[
            "apply",
            "--auto-approve",
            "--state",
            &state,
            "--plan",
            saved.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let list = run(
        &w,
        &s3,
        &["state", "list", "--state", &state, "--format", "json"],
    );
    list.expect_code(0);
    assert!(
        list.stdout.contains("PS_WORK_MODE_IFRAME"),
        "{}",
        list.stdout
    );
    let history = run(&w, &s3, &["state", "history", "--state", &state]);
    history.expect_code(0);
    assert_eq!(
        history.stdout.matches("  apply  ").count(),
        2,
        "{}",
        history.stdout
    );
    assert!(
        history
            .stdout
            .contains("paySystem 11 / personType 1: PS_WORK_MODE_IFRAME")
    );
    // The portal is where the state says: nothing to move.
    run(
        &w,
        &s3,
        &[
            "state",
            "move-portal",
            &w.portal.base_url(),
            "--state",
            &state,
        ],
    )
    .expect_code(0);
    // import --adopt into a new S3 state: the first plan is empty.
    let adopted = fresh_location("adopted");
    run(
        &w,
        &s3,
        &[
            "import",
            "--pay-system",
            "11",
            "--person-type",
            "1",
            "--adopt",
            "--out",
            "imported",
            "--state",
            &adopted,
        ],
    )
    .expect_code(0);
    run(
        &w,
        &s3,
        &[
            "plan",
            "--detailed-exitcode",
            "--state",
            &adopted,
            "imported",
        ],
    )
    .expect_code(0);
}

#[test]
fn two_applies_at_once_one_proceeds_and_the_other_exits_4_naming_the_holder() {
    let Some(s3) = seaweed() else { return };
    let w = World::new();
    let state = fresh_location("two-applies");
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let gate = Gate::new();
    w.portal.inject(Fault::hold(&gate).method("batch").times(1));
    let first = spawn(
        &w,
        &s3,
        &["apply", "--auto-approve", "--state", &state, "m.yaml"],
        &[],
    );
    wait_until("the first apply sends", || w.portal.requests_received() > 0);
    let second = run(
        &w,
        &s3,
        &["apply", "--auto-approve", "--state", &state, "m.yaml"],
    );
    second.expect_code(4);
    assert!(
        second.stderr.contains("is locked by another paysync run")
            && second.stderr.contains("(apply, pid ")
            && second.stderr.contains("lock ID "),
        "{}",
        second.stderr
    );
    // --lock-timeout: waits for the first to finish, then proceeds.
    let waiting = spawn(
        &w,
        &s3,
        &[
            "apply",
            "--auto-approve",
            "--lock-timeout",
            "60s",
            "--state",
            &state,
            "m.yaml",
        ],
        &[],
    );
    gate.open();
    let first = first.wait_with_output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let waited = waiting.wait_with_output().unwrap();
    assert!(
        waited.status.success(),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
    run(
        &w,
        &s3,
        &["plan", "--detailed-exitcode", "--state", &state, "m.yaml"],
    )
    .expect_code(0);
}

#[cfg(unix)]
#[test]
fn the_lock_of_a_killed_apply_is_taken_over_once_its_lease_runs_out() {
    let Some(s3) = seaweed() else { return };
    let w = World::new();
    let state = fresh_location("lease");
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let gate = Gate::new();
    w.portal.inject(Fault::hold(&gate).method("batch").times(1));
    let lease = [("PAYSYNC_STATE_LEASE", "2s")];
    let mut killed = spawn(
        &w,
        &s3,
        &["apply", "--auto-approve", "--state", &state, "m.yaml"],
        &lease,
    );
    wait_until("the apply sends", || w.portal.requests_received() > 0);
    let id = held_lock_id(&w, &s3, &state);
    killed.kill().unwrap();
    killed.wait().unwrap();
    gate.open();
    // The dead run's lock stays until its lease runs out (by the store's clock); then
    // the next run takes it over, naming the dead holder.
    let out = s3_cmd(&w, &s3)
        .envs(lease)
        .args([
            "apply",
            "--auto-approve",
            "--lock-timeout",
            "60s",
            "--state",
            &state,
            "m.yaml",
        ])
        .run();
    out.expect_code(0).assert_hides(&CANARIES);
    assert!(
        out.stderr.contains("took over the state lock") && out.stderr.contains(&id),
        "{}",
        out.stderr
    );
}

#[cfg(unix)]
#[test]
fn a_lock_removed_mid_apply_makes_the_broken_runs_next_write_refused() {
    let Some(s3) = seaweed() else { return };
    let w = World::new();
    let state = fresh_location("broken-lock");
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("REST_SERVICE_ID_IFRAME", "one")]),
    );
    run(
        &w,
        &s3,
        &["apply", "--auto-approve", "--state", &state, "m.yaml"],
    )
    .expect_code(0);
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("REST_SERVICE_ID_IFRAME", "two")]),
    );
    let gate = Gate::new();
    w.portal.inject(Fault::hold(&gate).method("batch").times(1));
    // Requests are recorded as they are answered; the held one is counted on arrival.
    let before = w.portal.requests_received();
    let broken = spawn(
        &w,
        &s3,
        &["apply", "--auto-approve", "--state", &state, "m.yaml"],
        &[],
    );
    wait_until("the apply sends its batch", || {
        w.portal.requests_received() > before
    });
    let id = held_lock_id(&w, &s3, &state);
    run(&w, &s3, &["state", "unlock", &id, "--state", &state]).expect_code(0);
    // Another run writes a newer state meanwhile (a push of the pulled state).
    let pulled = run(&w, &s3, &["state", "pull", "--state", &state]);
    w.write("pulled.json", &pulled.stdout);
    run(
        &w,
        &s3,
        &["state", "push", "pulled.json", "--state", &state],
    )
    .expect_code(0);
    let newer = run(&w, &s3, &["state", "pull", "--state", &state]).stdout;
    gate.open();
    let broken = broken.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(!broken.status.success(), "{stderr}");
    assert!(stderr.contains("nothing was overwritten"), "{stderr}");
    // Nothing of the newer state was overwritten.
    assert_eq!(
        run(&w, &s3, &["state", "pull", "--state", &state]).stdout,
        newer
    );
    assert_eq!(value(&w, &s3, &state, 11).as_deref(), Some("one"));
}

/// SIGKILL at random points of applies to an S3 state (`PAYSYNC_TEST_KILLS` rounds, 50
/// by default): the state with its remote journal never records a value the portal does
/// not hold, and the next apply converges.
#[cfg(unix)]
#[test]
fn random_sigkills_never_leave_an_s3_state_ahead_of_the_portal() {
    let Some(s3) = seaweed() else { return };
    let rounds: u64 = std::env::var("PAYSYNC_TEST_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut random = seed;
    let mut next = |below: u64| {
        random = random
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (random >> 33) % below
    };
    let w = World::with_seed(crate::seeds::many_pay_systems(120));
    w.portal.inject(
        Fault::delay(Duration::from_millis(40))
            .method("batch")
            .forever(),
    );
    let state = fresh_location("kills");
    let lease = [("PAYSYNC_STATE_LEASE", "1s")];
    for round in 1..=rounds {
        let value = format!("r{round}");
        crate::signals::manifests(&w, 120, &value);
        let mut child = spawn(
            &w,
            &s3,
            &[
                "apply",
                "--auto-approve",
                "--parallelism",
                "1",
                "--state",
                &state,
                "m",
            ],
            &lease,
        );
        std::thread::sleep(Duration::from_millis(next(600)));
        let _ = child.kill();
        let _ = child.wait();
        // Readable, and never ahead: what is recorded as this round's value is on the
        // portal.
        for (pay_system, recorded_value) in recorded(&w, &s3, &state) {
            if recorded_value == value {
                assert_eq!(
                    w.portal_value(pay_system, 1, "REST_SERVICE_ID_IFRAME")
                        .as_deref(),
                    Some(value.as_str()),
                    "round {round} (seed {seed}): pay system {pay_system}"
                );
            }
        }
        let out = s3_cmd(&w, &s3)
            .envs(lease)
            .args([
                "apply",
                "--auto-approve",
                "--lock-timeout",
                "60s",
                "--state",
                &state,
                "m",
            ])
            .run();
        assert_eq!(out.code, 0, "round {round} (seed {seed}): {out:?}");
    }
    s3_cmd(&w, &s3)
        .args(["plan", "--detailed-exitcode", "--state", &state, "m"])
        .run()
        .expect_code(0);
}

#[test]
fn a_store_that_ignores_conditional_writes_is_refused() {
    let lax = LaxS3::start().expect("the double starts");
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let out = w
        .cmd()
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_ENDPOINT_URL_S3", lax.endpoint())
        .args([
            "apply",
            "--auto-approve",
            "--state",
            "s3://lax-bucket/state.json",
            "m.yaml",
            "-vvv",
        ])
        .run();
    out.expect_code(1).assert_hides(&CANARIES);
    assert!(
        out.stderr.contains("does not enforce conditional writes")
            && out.stderr.contains("second `If-None-Match: *` create"),
        "{}",
        out.stderr
    );
    assert!(w.updates().is_empty(), "nothing was sent to the portal");
}

#[test]
fn migrate_from_the_example_file_to_s3_and_back_is_byte_equal() {
    let Some(s3) = seaweed() else { return };
    let w = World::new();
    let example = repo_root().join("examples/paysync.state.json");
    let original = std::fs::read(&example).unwrap();
    std::fs::write(w.path("start.json"), &original).unwrap();
    let state = fresh_location("migrate");
    run(
        &w,
        &s3,
        &["state", "migrate", "--state", "start.json", "--to", &state],
    )
    .expect_code(0);
    assert_eq!(
        run(&w, &s3, &["state", "pull", "--state", &state])
            .stdout
            .as_bytes(),
        original
    );
    // Not over a state that exists.
    run(
        &w,
        &s3,
        &["state", "migrate", "--state", "start.json", "--to", &state],
    )
    .expect_code(1);
    run(
        &w,
        &s3,
        &["state", "migrate", "--state", &state, "--to", "back.json"],
    )
    .expect_code(0);
    assert_eq!(std::fs::read(w.path("back.json")).unwrap(), original);
}

#[test]
fn push_checks_lineage_and_serial_unless_forced() {
    let Some(s3) = seaweed() else { return };
    let w = World::new();
    let state = fresh_location("push");
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    run(
        &w,
        &s3,
        &["apply", "--auto-approve", "--state", &state, "m.yaml"],
    )
    .expect_code(0);
    let pulled = run(&w, &s3, &["state", "pull", "--state", &state]).stdout;
    let mut other: serde_json::Value = serde_json::from_str(&pulled).unwrap();
    other["lineage"] = "00000000-0000-4000-8000-000000000000".into();
    w.write("other.json", &other.to_string());
    let out = run(&w, &s3, &["state", "push", "other.json", "--state", &state]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("is of lineage 00000000"),
        "{}",
        out.stderr
    );
    let mut older: serde_json::Value = serde_json::from_str(&pulled).unwrap();
    older["serial"] = 0.into();
    w.write("older.json", &older.to_string());
    let out = run(&w, &s3, &["state", "push", "older.json", "--state", &state]);
    out.expect_code(1);
    assert!(out.stderr.contains("it is older"), "{}", out.stderr);
    run(
        &w,
        &s3,
        &["state", "push", "other.json", "--force", "--state", &state],
    )
    .expect_code(0);
    let now: serde_json::Value =
        serde_json::from_str(&run(&w, &s3, &["state", "pull", "--state", &state]).stdout).unwrap();
    assert_eq!(now["lineage"], "00000000-0000-4000-8000-000000000000");
}

#[test]
fn missing_store_credentials_are_named_and_nothing_is_sent() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let out = w
        .cmd()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args([
            "apply",
            "--auto-approve",
            "--state",
            "s3://bucket-name/state.json",
            "m.yaml",
        ])
        .run();
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{}",
        out.stderr
    );
    assert!(w.updates().is_empty());
    let bad = w.run(&["plan", "--state", "s3://bucket-only", "m.yaml"]);
    bad.expect_code(64);
    assert!(bad.stderr.contains("s3://BUCKET/KEY"), "{}", bad.stderr);
}

/// SIGTERM (a cancelled CI job) mid-apply: the batch in flight is finished and recorded in
/// the store, nothing more is sent, exit 143.
#[cfg(unix)]
#[test]
fn sigterm_mid_apply_records_every_confirmed_request_in_the_store() {
    let Some(s3) = seaweed() else { return };
    let state = fresh_location("sigterm");
    let (w, code, stderr) = terminated_mid_apply(|w| s3_cmd(w, &s3), &state);
    assert_eq!(code, 143, "{stderr}");
    let list = run(
        &w,
        &s3,
        &["state", "list", "--state", &state, "--format", "json"],
    );
    let json: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(json["targets"].as_array().unwrap().len(), 100, "{stderr}");
    let plan = run(&w, &s3, &["plan", "--state", &state, "m"]);
    assert!(
        plan.stdout.contains("Plan: 50 targets to change"),
        "{}",
        plan.stdout
    );
}

/// An apply of 150 targets to `state` (three batches, one at a time), run by `cmd`, sent
/// SIGTERM while its second batch is held on the portal, the batch then let through:
/// the world, the exit code and stderr.
#[cfg(unix)]
pub(crate) fn terminated_mid_apply(
    cmd: impl FnOnce(&World) -> crate::support::Cmd,
    state: &str,
) -> (World, i32, String) {
    let w = World::with_seed(crate::seeds::many_pay_systems(150));
    crate::signals::manifests(&w, 150, "v1");
    let gate = Gate::new();
    w.portal.inject(
        Fault::hold(&gate)
            .method("sale.paysystem.settings.update")
            .pay_system(150),
    );
    let args = [
        "apply",
        "--auto-approve",
        "--parallelism",
        "1",
        "--state",
        state,
        "m",
    ];
    let child = crate::signals::watch(
        cmd(&w)
            .args(args)
            .into_std()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("paysync starts"),
    );
    wait_until("the second batch", || w.portal.requests_received() >= 2);
    crate::signals::send(&child.child, "TERM");
    child.wait_for("received: stopping cleanly");
    gate.open();
    let (out, _) = child.finish(Duration::from_secs(60));
    (w, out.code, out.stderr)
}
