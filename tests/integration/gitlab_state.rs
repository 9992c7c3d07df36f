//! The state in a Terraform-HTTP-backend service, as GitLab-managed state serves it
//! (issue 20), against the emulator's double written from GitLab's documented behaviour:
//! every command, a held lock (exit 4, naming its ID), `state unlock` with a wrong ID
//! refused, a failed push kept in an errored-state file and pushed later, kills never
//! leaving a lying state, and the password in no output.

use std::process::Stdio;
use std::time::Duration;

use paysync_emulator::{Fault, StateService};

use crate::support::{Outcome, World, manifest};

const USER: &str = "gitlab-ci-token";
const PASSWORD: &str = "glcbt-canary-4f1e2d3c5b6a";

/// `w.cmd()` with the service's credentials.
fn gitlab_cmd(w: &World) -> crate::support::Cmd {
    w.cmd()
        .env("PAYSYNC_STATE_USERNAME", USER)
        .env("PAYSYNC_STATE_PASSWORD", PASSWORD)
}

fn run(w: &World, args: &[&str]) -> Outcome {
    let out = gitlab_cmd(w).args(args).arg("-vvv").run();
    out.assert_hides(&[PASSWORD]);
    out
}

#[test]
fn every_command_works_with_gitlab_managed_state() {
    let service = StateService::start(USER, PASSWORD).unwrap();
    let state = service.address("prod");
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    run(&w, &["plan", "--state", &state, "m.yaml"]).expect_code(0);
    run(
        &w,
        &["apply", "--auto-approve", "--state", &state, "m.yaml"],
    )
    .expect_code(0);
    let stored: serde_json::Value =
        serde_json::from_slice(&service.state("prod").unwrap()).unwrap();
    assert!(stored["serial"].as_u64().unwrap() >= 1);
    assert!(service.lock("prod").is_none(), "the lock is released");
    run(
        &w,
        &["plan", "--detailed-exitcode", "--state", &state, "m.yaml"],
    )
    .expect_code(0);
    run(&w, &["drift", "--state", &state]).expect_code(0);
    run(&w, &["state", "list", "--state", &state]).expect_code(0);
    run(
        &w,
        &[
            "state",
            "move-portal",
            &w.portal.base_url(),
            "--state",
            &state,
        ],
    )
    .expect_code(0);
    // Wrong credentials: the service's 401, named; the password never shown.
    let out = w
        .cmd()
        .env("PAYSYNC_STATE_USERNAME", USER)
        .env("PAYSYNC_STATE_PASSWORD", "wrong-password-canary")
        .args(["plan", "--state", &state, "m.yaml"])
        .run();
    out.expect_code(1).assert_hides(&["wrong-password-canary"]);
    assert!(out.stderr.contains("401"), "{}", out.stderr);
}

#[test]
fn a_held_lock_exits_4_naming_its_id_and_only_that_id_unlocks_it() {
    let service = StateService::start(USER, PASSWORD).unwrap();
    let state = service.address("prod");
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    service.hold_lock("prod", "5ad9c1e0-dead-run");
    let out = run(
        &w,
        &["apply", "--auto-approve", "--state", &state, "m.yaml"],
    );
    out.expect_code(4);
    assert!(
        out.stderr.contains("lock ID 5ad9c1e0-dead-run")
            && out.stderr.contains("paysync state unlock ID"),
        "{}",
        out.stderr
    );
    assert!(w.updates().is_empty());
    run(&w, &["state", "unlock", "another-id", "--state", &state]).expect_code(1);
    assert!(service.lock("prod").is_some());
    run(
        &w,
        &["state", "unlock", "5ad9c1e0-dead-run", "--state", &state],
    )
    .expect_code(0);
    assert!(service.lock("prod").is_none());
    run(
        &w,
        &["apply", "--auto-approve", "--state", &state, "m.yaml"],
    )
    .expect_code(0);
}

#[test]
fn a_failed_push_leaves_an_errored_state_file_and_the_command_that_pushes_it() {
    let service = StateService::start(USER, PASSWORD).unwrap();
    let state = service.address("prod");
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    service.fail_posts(1_000);
    let out = run(
        &w,
        &["apply", "--auto-approve", "--state", &state, "m.yaml"],
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("errored.paysync-state.json")
            && out
                .stderr
                .contains("paysync state push errored.paysync-state.json --state"),
        "{}",
        out.stderr
    );
    assert!(w.path("errored.paysync-state.json").exists());
    assert!(service.state("prod").is_none());
    service.fail_posts(0);
    run(
        &w,
        &[
            "state",
            "push",
            "errored.paysync-state.json",
            "--state",
            &state,
        ],
    )
    .expect_code(0);
    run(
        &w,
        &["plan", "--detailed-exitcode", "--state", &state, "m.yaml"],
    )
    .expect_code(0);
}

/// SIGKILL mid-apply: the service's state never records a value the portal lacks; at most
/// the unpushed batches are sent again.
#[cfg(unix)]
#[test]
fn a_killed_apply_leaves_the_service_state_behind_the_portal_never_ahead() {
    let service = StateService::start(USER, PASSWORD).unwrap();
    let state = service.address("prod");
    let w = World::with_seed(crate::seeds::many_pay_systems(1000));
    crate::signals::manifests(&w, 1000, "v1");
    w.portal.inject(
        Fault::delay(Duration::from_millis(60))
            .method("batch")
            .forever(),
    );
    let mut child = gitlab_cmd(&w)
        .into_std()
        .args([
            "apply",
            "--auto-approve",
            "--parallelism",
            "1",
            "--state",
            &state,
            "m",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // After the first push (five batches confirmed), before the last batch.
    let started = std::time::Instant::now();
    while service.posts() == 0 {
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let stored: serde_json::Value =
        serde_json::from_slice(&service.state("prod").unwrap()).unwrap();
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
            w.portal_value(id, 1, "REST_SERVICE_ID_IFRAME").as_deref(),
            Some("v1")
        );
    }
    // The lock of the killed run has no lease: removed by hand, then the next run converges.
    let lock = service.lock("prod").expect("the killed run's lock stays");
    let id = lock["ID"].as_str().unwrap().to_owned();
    run(&w, &["state", "unlock", &id, "--state", &state]).expect_code(0);
    // The killed run's last request is answered (and recorded) after the kill.
    let started = std::time::Instant::now();
    while w.requests().len() as u64 != w.portal.requests_received() {
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    let updates_before = w.updates().len();
    run(&w, &["apply", "--auto-approve", "--state", &state, "m"]).expect_code(0);
    let resent = w.updates().len() - updates_before;
    assert!(resent <= 1000 - recorded.len(), "{resent} re-sent");
    run(&w, &["plan", "--detailed-exitcode", "--state", &state, "m"]).expect_code(0);
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
