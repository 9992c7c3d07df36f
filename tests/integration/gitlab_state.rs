//! The state in a Terraform-HTTP-backend service, as GitLab-managed state serves it
//! (issue 20), against the emulator's double written from GitLab's documented behaviour:
//! every command, a held lock (exit 4, naming its ID), `state unlock` with a wrong ID
//! refused, a failed push kept in an errored-state file and pushed later, kills never
//! leaving a lying state, SIGTERM pushing everything confirmed, and the password in no
//! output.

use std::process::Stdio;
use std::time::Duration;

use paysync_emulator::{Fault, StateService};

use crate::support::{Outcome, World, manifest};

const USER: &str = "gitlab-ci-token";
const PASSWORD: &str = "glcbt-canary-4f1e2d3c5b6a";

/// One test's GitLab-managed state `prod`: the service, a world and the state's address.
struct Case {
    service: StateService,
    w: World,
    state: String,
}

impl Case {
    fn in_world(w: World) -> Case {
        let service = StateService::start(USER, PASSWORD).unwrap();
        let state = service.address("prod");
        Case { service, w, state }
    }

    /// A world whose m.yaml declares 11:1 `PS_WORK_MODE_IFRAME: REGULAR`.
    fn new() -> Case {
        let w = World::new();
        w.write(
            "m.yaml",
            &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
        );
        Case::in_world(w)
    }

    /// paysync with the service's credentials, `args` then `--state STATE`, at trace
    /// level; the password in no output.
    fn run(&self, args: &[&str]) -> Outcome {
        let out = gitlab_cmd(&self.w)
            .args(args)
            .args(["--state", &self.state, "-vvv"])
            .run();
        out.assert_hides(&[PASSWORD]);
        out
    }

    /// The stored state, as JSON.
    fn stored(&self) -> serde_json::Value {
        serde_json::from_slice(&self.service.state("prod").expect("a state")).unwrap()
    }
}

/// `w.cmd()` with the service's credentials.
fn gitlab_cmd(w: &World) -> crate::support::Cmd {
    w.cmd()
        .env("PAYSYNC_STATE_USERNAME", USER)
        .env("PAYSYNC_STATE_PASSWORD", PASSWORD)
}

/// Until `done`, at most a minute.
fn wait_until(what: &str, done: impl FnMut() -> bool) {
    crate::signals::wait_until(Duration::from_secs(60), what, done);
}

#[test]
fn every_command_works_with_gitlab_managed_state() {
    let c = Case::new();
    c.run(&["plan", "m.yaml"]).expect_code(0);
    c.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    assert!(c.stored()["serial"].as_u64().unwrap() >= 1);
    assert!(c.service.lock("prod").is_none(), "the lock is released");
    c.run(&["plan", "--detailed-exitcode", "m.yaml"])
        .expect_code(0);
    c.run(&["drift"]).expect_code(0);
    c.run(&["state", "list"]).expect_code(0);
    c.run(&["state", "move-portal", &c.w.portal.base_url()])
        .expect_code(0);
    // Wrong credentials: the service's 401, named; the password never shown.
    let out =
        c.w.cmd()
            .env("PAYSYNC_STATE_USERNAME", USER)
            .env("PAYSYNC_STATE_PASSWORD", "wrong-password-canary")
            .args(["plan", "--state", &c.state, "m.yaml"])
            .run();
    out.expect_code(1).assert_hides(&["wrong-password-canary"]);
    assert!(out.stderr.contains("401"), "{}", out.stderr);
}

#[test]
fn a_held_lock_exits_4_naming_its_id_and_only_that_id_unlocks_it() {
    let c = Case::new();
    c.service.hold_lock("prod", "5ad9c1e0-dead-run");
    let out = c.run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(4);
    assert!(
        out.stderr.contains("lock ID 5ad9c1e0-dead-run")
            && out.stderr.contains("paysync state unlock ID"),
        "{}",
        out.stderr
    );
    assert!(c.w.updates().is_empty());
    c.run(&["state", "unlock", "another-id"]).expect_code(1);
    assert!(c.service.lock("prod").is_some());
    c.run(&["state", "unlock", "5ad9c1e0-dead-run"])
        .expect_code(0);
    assert!(c.service.lock("prod").is_none());
    c.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
}

#[test]
fn a_failed_push_leaves_an_errored_state_file_and_the_command_that_pushes_it() {
    let c = Case::new();
    c.service.fail_posts(1_000);
    let out = c.run(&["apply", "--auto-approve", "m.yaml"]);
    assert_ne!(out.code, 0);
    let command = "paysync state push errored.paysync-state.json --state";
    assert!(out.stderr.contains(command), "{}", out.stderr);
    assert!(c.w.path("errored.paysync-state.json").exists());
    assert!(c.service.state("prod").is_none());
    c.service.fail_posts(0);
    c.run(&["state", "push", "errored.paysync-state.json"])
        .expect_code(0);
    c.run(&["plan", "--detailed-exitcode", "m.yaml"])
        .expect_code(0);
}

/// SIGKILL mid-apply: the service's state never records a value the portal lacks; at most
/// the unpushed batches are sent again.
#[cfg(unix)]
#[test]
fn a_killed_apply_leaves_the_service_state_behind_the_portal_never_ahead() {
    let c = Case::in_world(World::with_seed(crate::seeds::many_pay_systems(1000)));
    crate::signals::manifests(&c.w, 1000, "v1");
    c.w.portal.inject(
        Fault::delay(Duration::from_millis(60))
            .method("batch")
            .forever(),
    );
    let mut child = gitlab_cmd(&c.w)
        .args([
            "apply",
            "--auto-approve",
            "--parallelism",
            "1",
            "--state",
            &c.state,
            "m",
        ])
        .into_std()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // After the first push (five batches confirmed), before the last batch.
    wait_until("the first push", || c.service.posts() > 0);
    child.kill().unwrap();
    child.wait().unwrap();
    let stored = c.stored();
    let recorded = stored["targets"].as_array().unwrap();
    // Pushed at least once (five batches), the rest unpushed when the kill landed (or, on a
    // machine slow enough for the apply to end first, everything).
    assert!(
        !recorded.is_empty() && recorded.len() <= 1000,
        "{}",
        recorded.len()
    );
    for t in recorded {
        let id = t["paySystem"].as_u64().unwrap();
        assert_eq!(
            c.w.portal_value(id, 1, "REST_SERVICE_ID_IFRAME").as_deref(),
            Some("v1")
        );
    }
    // The lock of the killed run has no lease: removed by hand, then the next run converges.
    let lock = c.service.lock("prod").expect("the killed run's lock stays");
    c.run(&["state", "unlock", lock["ID"].as_str().unwrap()])
        .expect_code(0);
    // The killed run's last request is answered (and recorded) after the kill.
    wait_until("the last answer", || {
        c.w.requests().len() as u64 == c.w.portal.requests_received()
    });
    let updates_before = c.w.updates().len();
    c.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    let resent = c.w.updates().len() - updates_before;
    assert!(resent <= 1000 - recorded.len(), "{resent} re-sent");
    c.run(&["plan", "--detailed-exitcode", "m"]).expect_code(0);
}

/// SIGTERM (a cancelled CI job) mid-apply: the batch in flight is finished, and the state
/// with every confirmed request is pushed before the exit (143).
#[cfg(unix)]
#[test]
fn sigterm_mid_apply_pushes_every_confirmed_request() {
    let service = StateService::start(USER, PASSWORD).unwrap();
    let (_, code, stderr) =
        crate::s3_state::terminated_mid_apply(gitlab_cmd, &service.address("prod"));
    assert_eq!(code, 143, "{stderr}");
    assert!(!stderr.contains(PASSWORD));
    let stored: serde_json::Value =
        serde_json::from_slice(&service.state("prod").unwrap()).unwrap();
    assert_eq!(stored["targets"].as_array().unwrap().len(), 100, "{stderr}");
    assert!(service.lock("prod").is_none(), "the lock is released");
}

/// A state larger than the service takes: its 413 is named, and the state is kept in the
/// errored-state file.
#[test]
fn a_state_too_large_for_the_service_is_named_and_kept() {
    let c = Case::new();
    c.service.max_bytes(100);
    let out = c.run(&["apply", "--auto-approve", "m.yaml"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("413") && out.stderr.contains("errored.paysync-state.json"),
        "{}",
        out.stderr
    );
    assert!(c.service.state("prod").is_none());
}

/// The service writes a state only under the lock ID its writer holds: a run whose lock
/// was removed and taken by another run cannot overwrite anything; what it confirmed is
/// kept in the errored-state file.
#[test]
fn a_run_whose_lock_was_taken_cannot_write_the_state() {
    let c = Case::new();
    c.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    let before = c.service.state("prod").unwrap();
    c.w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "IFRAME")]),
    );
    let gate = paysync_emulator::Gate::new();
    c.w.portal
        .inject(Fault::hold(&gate).method("batch").times(1));
    let received = c.w.portal.requests_received();
    let broken = gitlab_cmd(&c.w)
        .args(["apply", "--auto-approve", "--state", &c.state, "m.yaml"])
        .into_std()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the batch", || c.w.portal.requests_received() > received);
    let id = c.service.lock("prod").unwrap()["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    c.run(&["state", "unlock", &id]).expect_code(0);
    c.service.hold_lock("prod", "another-run");
    gate.open();
    let out = broken.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("nothing was overwritten"), "{stderr}");
    assert_eq!(c.service.state("prod").unwrap(), before);
    assert!(c.w.path("errored.paysync-state.json").exists());
    // The other run's lock is left as it is.
    assert_eq!(c.service.lock("prod").unwrap()["ID"], "another-run");
}
