//! The state in an S3-compatible store (issue 20), against a real SeaweedFS
//! ([`crate::stores`]): every command with `s3://bucket/key`, one lock holder at a time,
//! `--lock-timeout`, leases taken over after a kill, a removed lock refusing the broken
//! run's writes, random kills never leaving a lying state, SIGTERM recording everything
//! confirmed, a store without conditional writes refused, migration byte for byte, push's
//! checks, and the store's credentials in no output.

use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::Duration;

use paysync_emulator::{Fault, Gate, LaxS3};

use crate::stores::{ACCESS_KEY_ID, SECRET_ACCESS_KEY, Seaweed, fresh_location, s3_cmd, seaweed};
use crate::support::{Outcome, World, manifest, repo_root};

const CANARIES: [&str; 2] = [ACCESS_KEY_ID, SECRET_ACCESS_KEY];

/// One test's S3 state: its world, the store and a fresh key.
struct Case {
    w: World,
    s3: Arc<Seaweed>,
    state: String,
}

impl Case {
    /// A case in `w`; `None` (skip) only outside CI without SeaweedFS.
    fn in_world(w: World, name: &str) -> Option<Case> {
        Some(Case {
            s3: seaweed()?,
            w,
            state: fresh_location(name),
        })
    }

    fn new(name: &str) -> Option<Case> {
        Case::in_world(World::new(), name)
    }

    /// `m.yaml`: target 11:1 with `code: value`.
    fn declare(&self, code: &str, value: &str) {
        self.w.write("m.yaml", &manifest(11, 1, &[(code, value)]));
    }

    /// paysync with the store's credentials and `envs`, `args` then `--state STATE`.
    fn cmd(&self, args: &[&str], envs: &[(&str, &str)]) -> crate::support::Cmd {
        s3_cmd(&self.w, &self.s3)
            .envs(envs.iter().copied())
            .args(args)
            .args(["--state", &self.state])
    }

    /// [`Case::cmd`] run at trace level; no credential in any output.
    fn run(&self, args: &[&str]) -> Outcome {
        let out = self.cmd(args, &[]).arg("-vvv").run();
        out.assert_hides(&CANARIES);
        out
    }

    /// [`Case::cmd`] started in the background, its stderr piped.
    fn spawn(&self, args: &[&str], envs: &[(&str, &str)]) -> Child {
        self.cmd(args, envs)
            .into_std()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("paysync starts")
    }

    /// The ID of the lock held, as `state unlock` with a wrong ID names it.
    fn held_lock_id(&self) -> String {
        let out = self.run(&["state", "unlock", "not-the-id"]);
        out.expect_code(1);
        out.stderr
            .split("lock ID ")
            .nth(1)
            .and_then(|rest| rest.split([';', ',', ' ']).next())
            .unwrap_or_else(|| panic!("no lock ID in {}", out.stderr))
            .to_owned()
    }

    /// What the state records of REST_SERVICE_ID_IFRAME, per pay system; empty when
    /// there is no state yet. A state that cannot be read fails the test.
    fn recorded(&self) -> Vec<(u64, String)> {
        let out = self.run(&["state", "pull"]);
        if out.code == 1 && out.stderr.contains("there is no state") {
            return Vec::new();
        }
        out.expect_code(0);
        let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
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
}

/// Until the apply has sent a request (counted on arrival; a held one is recorded only
/// when answered).
fn wait_for_request(w: &World, before: u64) {
    crate::signals::wait_until(Duration::from_secs(90), "a request", || {
        w.portal.requests_received() > before
    });
}

fn succeeded(child: Child) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_command_works_with_an_s3_state() {
    let Some(c) = Case::new("commands") else {
        return;
    };
    c.declare("PS_WORK_MODE_IFRAME", "REGULAR");
    c.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    c.run(&["plan", "--detailed-exitcode", "m.yaml"])
        .expect_code(0);
    c.run(&["plan", "--refresh", "--detailed-exitcode", "m.yaml"])
        .expect_code(0);
    c.run(&["drift"]).expect_code(0);
    // Every library's trace logs too: no credential, no signed address.
    let traced = c.cmd(&["plan", "m.yaml"], &[("RUST_LOG", "trace")]).run();
    traced.expect_code(0).assert_hides(&CANARIES);
    assert!(
        !traced.stderr.contains("X-Amz-Signature="),
        "{}",
        traced.stderr
    );
    c.declare("PS_WORK_MODE_IFRAME", "IFRAME");
    c.run(&["plan", "--out", "plan.bin", "m.yaml"])
        .expect_code(0);
    c.w.run(&["show", "plan.bin"]).expect_code(0);
    c.run(&["apply", "--auto-approve", "--plan", "plan.bin"])
        .expect_code(0);
    let list = c.run(&["state", "list", "--format", "json"]);
    assert!(
        list.stdout.contains("PS_WORK_MODE_IFRAME"),
        "{}",
        list.stdout
    );
    let history = c.run(&["state", "history"]);
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
    c.run(&["state", "move-portal", &c.w.portal.base_url()])
        .expect_code(0);
    // import --adopt into a new S3 state: the first plan is empty.
    let adopted = Case::in_world(World::new(), "adopted").unwrap();
    let import = [
        "import",
        "--pay-system",
        "11",
        "--person-type",
        "1",
        "--adopt",
        "--out",
        "i",
    ];
    adopted.run(&import).expect_code(0);
    adopted
        .run(&["plan", "--detailed-exitcode", "i"])
        .expect_code(0);
}

#[test]
fn two_applies_at_once_one_proceeds_and_the_other_exits_4_naming_the_holder() {
    let Some(c) = Case::new("two-applies") else {
        return;
    };
    c.declare("PS_WORK_MODE_IFRAME", "REGULAR");
    let gate = Gate::new();
    c.w.portal
        .inject(Fault::hold(&gate).method("batch").times(1));
    let first = c.spawn(&["apply", "--auto-approve", "m.yaml"], &[]);
    wait_for_request(&c.w, 0);
    let second = c.run(&["apply", "--auto-approve", "m.yaml"]);
    second.expect_code(4);
    assert!(
        second.stderr.contains("is locked by another paysync run")
            && second.stderr.contains("(apply, pid ")
            && second.stderr.contains("lock ID "),
        "{}",
        second.stderr
    );
    // --lock-timeout: waits for the first to finish, then proceeds.
    let waiting = c.spawn(
        &["apply", "--auto-approve", "--lock-timeout", "60s", "m.yaml"],
        &[],
    );
    gate.open();
    succeeded(first);
    succeeded(waiting);
    c.run(&["plan", "--detailed-exitcode", "m.yaml"])
        .expect_code(0);
}

#[cfg(unix)]
#[test]
fn the_lock_of_a_killed_apply_is_taken_over_once_its_lease_runs_out() {
    let Some(c) = Case::new("lease") else { return };
    c.declare("PS_WORK_MODE_IFRAME", "REGULAR");
    let gate = Gate::new();
    c.w.portal
        .inject(Fault::hold(&gate).method("batch").times(1));
    let lease = [("PAYSYNC_STATE_LEASE", "2s")];
    let mut killed = c.spawn(&["apply", "--auto-approve", "m.yaml"], &lease);
    wait_for_request(&c.w, 0);
    let id = c.held_lock_id();
    killed.kill().unwrap();
    killed.wait().unwrap();
    gate.open();
    // The dead run's lock stays until its lease runs out (by the store's clock); then
    // the next run takes it over, naming the dead holder.
    let args = ["apply", "--auto-approve", "--lock-timeout", "60s", "m.yaml"];
    let out = c.cmd(&args, &lease).run();
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
    let Some(c) = Case::new("broken-lock") else {
        return;
    };
    c.declare("REST_SERVICE_ID_IFRAME", "one");
    c.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    c.declare("REST_SERVICE_ID_IFRAME", "two");
    let gate = Gate::new();
    c.w.portal
        .inject(Fault::hold(&gate).method("batch").times(1));
    let before = c.w.portal.requests_received();
    let broken = c.spawn(&["apply", "--auto-approve", "m.yaml"], &[]);
    wait_for_request(&c.w, before);
    let id = c.held_lock_id();
    c.run(&["state", "unlock", &id]).expect_code(0);
    // Another run writes a newer state meanwhile (a push of the pulled state).
    c.w.write("pulled.json", &c.run(&["state", "pull"]).stdout);
    c.run(&["state", "push", "pulled.json"]).expect_code(0);
    let newer = c.run(&["state", "pull"]).stdout;
    gate.open();
    let broken = broken.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(!broken.status.success(), "{stderr}");
    assert!(stderr.contains("nothing was overwritten"), "{stderr}");
    // Nothing of the newer state was overwritten.
    assert_eq!(c.run(&["state", "pull"]).stdout, newer);
    assert_eq!(c.recorded(), [(11, "one".to_owned())]);
}

/// SIGKILL at random points of applies to an S3 state (`PAYSYNC_TEST_KILLS` rounds, 50
/// by default): the state with its remote journal is always readable, never records a
/// value the portal does not hold, and the next apply converges.
#[cfg(unix)]
#[test]
fn random_sigkills_never_leave_an_s3_state_ahead_of_the_portal() {
    let w = World::with_seed(crate::seeds::many_pay_systems(120));
    let Some(c) = Case::in_world(w, "kills") else {
        return;
    };
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
    c.w.portal.inject(
        Fault::delay(Duration::from_millis(40))
            .method("batch")
            .forever(),
    );
    let lease = [("PAYSYNC_STATE_LEASE", "1s")];
    for round in 1..=rounds {
        let value = format!("r{round}");
        crate::signals::manifests(&c.w, 120, &value);
        let mut child = c.spawn(
            &["apply", "--auto-approve", "--parallelism", "1", "m"],
            &lease,
        );
        std::thread::sleep(Duration::from_millis(next(600)));
        let _ = child.kill();
        let _ = child.wait();
        // Readable, and never ahead: what is recorded as this round's value is on the
        // portal.
        for (pay_system, recorded) in c.recorded() {
            if recorded == value {
                assert_eq!(
                    c.w.portal_value(pay_system, 1, "REST_SERVICE_ID_IFRAME")
                        .as_deref(),
                    Some(value.as_str()),
                    "round {round} (seed {seed}): pay system {pay_system}"
                );
            }
        }
        let args = ["apply", "--auto-approve", "--lock-timeout", "60s", "m"];
        let out = c.cmd(&args, &lease).run();
        assert_eq!(out.code, 0, "round {round} (seed {seed}): {out:?}");
    }
    c.run(&["plan", "--detailed-exitcode", "m"]).expect_code(0);
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
        ])
        .arg("-vvv")
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
    let Some(c) = Case::new("migrate") else {
        return;
    };
    let original = std::fs::read(repo_root().join("examples/paysync.state.json")).unwrap();
    std::fs::write(c.w.path("start.json"), &original).unwrap();
    let to_s3 = [
        "state",
        "migrate",
        "--state",
        "start.json",
        "--to",
        &c.state,
    ];
    let s3_cmd = |args: &[&str]| s3_cmd(&c.w, &c.s3).args(args).run();
    s3_cmd(&to_s3).expect_code(0);
    assert_eq!(c.run(&["state", "pull"]).stdout.as_bytes(), original);
    // Not over a state that exists.
    s3_cmd(&to_s3).expect_code(1);
    c.run(&["state", "migrate", "--to", "back.json"])
        .expect_code(0);
    assert_eq!(std::fs::read(c.w.path("back.json")).unwrap(), original);
}

#[test]
fn push_checks_lineage_and_serial_unless_forced() {
    let Some(c) = Case::new("push") else { return };
    c.declare("PS_WORK_MODE_IFRAME", "REGULAR");
    c.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    let pulled: serde_json::Value =
        serde_json::from_str(&c.run(&["state", "pull"]).stdout).unwrap();
    let mut other = pulled.clone();
    other["lineage"] = "00000000-0000-4000-8000-000000000000".into();
    c.w.write("other.json", &other.to_string());
    let out = c.run(&["state", "push", "other.json"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("is of lineage 00000000"),
        "{}",
        out.stderr
    );
    let mut older = pulled;
    older["serial"] = 0.into();
    c.w.write("older.json", &older.to_string());
    let out = c.run(&["state", "push", "older.json"]);
    out.expect_code(1);
    assert!(out.stderr.contains("it is older"), "{}", out.stderr);
    c.run(&["state", "push", "other.json", "--force"])
        .expect_code(0);
    let now: serde_json::Value = serde_json::from_str(&c.run(&["state", "pull"]).stdout).unwrap();
    assert_eq!(now["lineage"], "00000000-0000-4000-8000-000000000000");
}

#[test]
fn missing_store_credentials_are_named_and_nothing_is_sent() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let out = w.run(&[
        "apply",
        "--auto-approve",
        "--state",
        "s3://bucket-name/state.json",
        "m.yaml",
    ]);
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
    // Through PAYSYNC_STATE too, named; a command without a state does not care.
    let exported = w
        .cmd()
        .env("PAYSYNC_STATE", "s3://bucket-only")
        .args(["plan", "m.yaml"])
        .run();
    exported.expect_code(64);
    assert!(
        exported
            .stderr
            .contains("PAYSYNC_STATE: \"s3://bucket-only\""),
        "{}",
        exported.stderr
    );
    w.cmd()
        .env("PAYSYNC_STATE", "s3://bucket-only")
        .args(["schema"])
        .run()
        .expect_code(0);
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
    let c = Case { w, s3, state };
    let list = c.run(&["state", "list", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(json["targets"].as_array().unwrap().len(), 100, "{stderr}");
    let plan = c.run(&["plan", "m"]);
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
    wait_for_request(&w, 1);
    crate::signals::send(&child.child, "TERM");
    child.wait_for("received: stopping cleanly");
    gate.open();
    let (out, _) = child.finish(Duration::from_secs(60));
    (w, out.code, out.stderr)
}

/// An environment keeps its state in S3 with the store's credentials it maps (test and
/// production each their own bucket keys in one job): paysync's own `AWS_*` names, set
/// to another store's, are not read; a `state:` that names no state is located.
#[test]
fn an_environment_reads_its_store_credentials_only_through_its_mapping() {
    let Some(c) = Case::new("environment") else {
        return;
    };
    let project = format!(
        "apiVersion: paysync/v1\nkind: Project\nenvironments:\n  test:\n    sources: [m.yaml]\n    \
         state: {}\n    credentials:\n      PAYSYNC_WEBHOOK_URL: TEST_WEBHOOK_URL\n      \
         AWS_ACCESS_KEY_ID: TEST_STATE_KEY_ID\n      AWS_SECRET_ACCESS_KEY: TEST_STATE_SECRET\n      \
         AWS_ENDPOINT_URL_S3: TEST_STATE_ENDPOINT\n",
        c.state
    );
    c.w.write("paysync.yaml", &project);
    c.declare("PS_WORK_MODE_IFRAME", "REGULAR");
    let test_env = [
        ("TEST_WEBHOOK_URL", c.w.portal.webhook_url()),
        ("TEST_STATE_KEY_ID", ACCESS_KEY_ID.to_owned()),
        ("TEST_STATE_SECRET", SECRET_ACCESS_KEY.to_owned()),
        ("TEST_STATE_ENDPOINT", c.s3.endpoint.clone()),
        // Production's, under the names an unmapped variable would have.
        ("AWS_ACCESS_KEY_ID", "AKIDPRODUCTIONKEY".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "production-secret-key".to_owned()),
        ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9".to_owned()),
    ];
    let in_test = |args: &[&str]| {
        c.w.cmd()
            .env_remove("PAYSYNC_WEBHOOK_URL")
            .envs(test_env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["--env", "test", "-vvv"])
            .args(args)
            .run()
    };
    in_test(&["apply", "--auto-approve"])
        .expect_code(0)
        .assert_hides(&[SECRET_ACCESS_KEY, "production-secret-key"]);
    in_test(&["plan", "--detailed-exitcode"]).expect_code(0);
    // The state is where the environment says, in the store it maps.
    let list = in_test(&["state", "list"]);
    assert!(
        list.expect_code(0).stdout.starts_with(&c.state),
        "{}",
        list.stdout
    );
    // Unmapped: not read, and said so.
    let unmapped = project.replace("      AWS_SECRET_ACCESS_KEY: TEST_STATE_SECRET\n", "");
    c.w.write("paysync.yaml", &unmapped);
    let out = in_test(&["plan"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("AWS_SECRET_ACCESS_KEY (not mapped by environment test"),
        "{}",
        out.stderr
    );
    c.w.write(
        "paysync.yaml",
        &project.replace(&c.state, "s3://no-key-here"),
    );
    let out = c.w.run(&["plan", "--env", "test"]);
    out.expect_code(3);
    assert!(out.stderr.contains("paysync.yaml:6:12"), "{}", out.stderr);
}
