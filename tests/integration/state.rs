//! State guarantees: saved plans pinned to their state, one portal per state, the lock.

use paysync::state::file::FileBackend;
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
    let w = World::applied();
    w.set_mode("TEST");
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
    let w = World::applied();

    let other = EmulatorHandle::start(Seed::demo()).unwrap();
    for args in [
        &["apply", "--auto-approve", "m.yaml"][..],
        &["plan", "--refresh", "m.yaml"][..],
    ] {
        let out = w
            .cmd()
            .env("PAYSYNC_WEBHOOK_URL", other.webhook_url())
            .args(args)
            .run();
        assert_eq!(out.code, 1, "{args:?}");
        let stderr = out.stderr.as_str();
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
    let held = FileBackend::new(w.path("paysync.state.json"))
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
        w.cmd()
            .into_std()
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

/// Whether this process runs as root (which ignores permission bits).
#[cfg(unix)]
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Regression (issue 7.7): with a lock file left over by a killed run, an unwritable state
/// directory was found only after the portal was written.
#[cfg(unix)]
#[test]
fn an_unwritable_state_directory_with_a_leftover_lock_file_sends_nothing() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.write(
        "state/paysync.state.json.lock",
        "pid 1 user ci since 2026-01-01",
    );
    let set_mode = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    set_mode(&w.path("state"), 0o555);
    let mut cmd = w.cmd().into_std();
    cmd.args([
        "apply",
        "--auto-approve",
        "--state",
        "state/paysync.state.json",
        "m.yaml",
    ]);
    if running_as_root() {
        // Root writes anywhere: run paysync as nobody, who may read the world's files.
        set_mode(w.dir.path(), 0o755);
        set_mode(&w.path("state/paysync.state.json.lock"), 0o666);
        cmd.uid(65534).gid(65534);
    }
    let out = crate::support::Outcome::from(cmd.output().unwrap());
    set_mode(&w.path("state"), 0o755);
    out.expect_code(1);
    assert!(
        out.stderr.contains("does not take new files"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was sent"), "{}", out.stderr);
    assert!(w.requests().is_empty(), "{:?}", w.requests());
}

/// Regression (issue 7.7): a read-only state file is found before anything is sent.
#[cfg(unix)]
#[test]
fn a_read_only_state_file_sends_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::applied();
    let state = w.read("paysync.state.json");
    std::fs::set_permissions(
        w.path("paysync.state.json"),
        std::fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    w.set_mode("TEST");
    w.portal.clear_requests();
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(1);
    assert!(out.stderr.contains("is read-only"), "{}", out.stderr);
    assert!(w.requests().is_empty());
    assert_eq!(w.read("paysync.state.json"), state);
}

/// Regression (issue 7.7): the serial never wraps; a state at the top stops the run before
/// anything is sent.
#[test]
fn a_serial_at_its_maximum_stops_before_anything_is_sent() {
    let w = World::applied();
    let mut state: serde_json::Value = serde_json::from_str(&w.read("paysync.state.json")).unwrap();
    state["serial"] = serde_json::json!(u64::MAX);
    std::fs::write(w.path("paysync.state.json"), state.to_string()).unwrap();
    w.set_mode("TEST");
    w.portal.clear_requests();
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains(&format!("has serial {}", u64::MAX)),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("cannot be bumped"), "{}", out.stderr);
    assert!(w.requests().is_empty());
}

/// A state path that is a symlink is written through: the link stays a link, and the
/// lock and temporary files live next to the file it names.
#[cfg(unix)]
#[test]
fn a_state_path_that_is_a_symlink_is_written_through() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    std::fs::create_dir(w.path("shared")).unwrap();
    std::os::unix::fs::symlink("shared/real.json", w.path("paysync.state.json")).unwrap();
    w.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    w.set_mode("TEST");
    w.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    let link = std::fs::symlink_metadata(w.path("paysync.state.json")).unwrap();
    assert!(link.file_type().is_symlink());
    let real = w.read("shared/real.json");
    assert!(real.contains("\"TEST\""), "{real}");
    assert!(real.contains("\"serial\": 2"), "{real}");
    w.run(&["plan", "--detailed-exitcode", "m.yaml"])
        .expect_code(0);
}

/// Regression: a write past `ulimit -f` (SIGXFSZ) killed paysync silently mid-apply, and
/// a full disk ended it with a bare write error and no report. Now the run stops
/// sending, reports the targets confirmed but not recorded, exits 6, and the next plan
/// shows them again.
#[test]
fn a_file_size_limit_mid_apply_stops_sending_and_says_what_was_not_recorded() {
    let w = crate::seeds::many_targets(120, "TEST");
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    let state_before = w.read("paysync.state.json");
    crate::seeds::declare_many(&w, 120, "REGULAR");
    w.portal.clear_requests();
    // The state file (well over the limit) is only read; the first journal line of 50
    // targets does not fit in 2 blocks.
    let mut sh = std::process::Command::new("sh");
    sh.current_dir(w.path(""));
    w.paysync_env(&mut sh);
    let out = crate::support::Outcome::from(
        sh.args([
            "-c",
            "ulimit -f 2; exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_paysync"),
            "apply",
            "--auto-approve",
            "--parallelism",
            "1",
            "m",
        ])
        .output()
        .unwrap(),
    );
    out.expect_code(6);
    assert!(
        out.stderr
            .contains("50 targets confirmed by the portal but not recorded")
            && out.stderr.contains("File too large"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("70 targets not sent because the run stopped"),
        "{}",
        out.stderr
    );
    assert_eq!(
        w.requests().len(),
        1,
        "nothing is sent after the record failed"
    );
    assert_eq!(w.read("paysync.state.json"), state_before);
    // The next plan shows the 50 again (their record never completed) with the 70.
    let plan = w.run(&["plan", "m"]);
    plan.expect_code(0);
    assert!(
        plan.stdout.contains("Plan: 120 targets to change"),
        "{}",
        plan.stdout
    );
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    let plan = w.run(&["plan", "--refresh", "m"]);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
}

/// Regression: a planted dangling `<state>.journal` link made apply create the link's
/// target anywhere and fill it with state content.
#[cfg(unix)]
#[test]
fn a_journal_that_is_a_symlink_is_refused_and_nothing_is_sent() {
    let w = World::applied();
    w.set_mode("TEST");
    let elsewhere = w.path("planted/elsewhere.json");
    std::os::unix::fs::symlink(&elsewhere, w.path("paysync.state.json.journal")).unwrap();
    w.portal.clear_requests();
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("paysync.state.json.journal is a symbolic link; paysync never follows links"),
        "{}",
        out.stderr
    );
    assert!(w.updates().is_empty(), "nothing is sent");
    assert!(!elsewhere.exists());
    let out = w.run(&["plan", "m.yaml"]);
    out.expect_code(1);
}

/// Regression: the lock message said "user unknown" where `$USER` is not set (a CI
/// container); it names the user the OS knows, and the host.
#[test]
fn the_lock_message_names_the_user_without_a_user_variable() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let gate = paysync_emulator::Gate::new();
    w.portal
        .inject(paysync_emulator::Fault::hold(&gate).method("batch"));
    let mut first = w.cmd().into_std();
    first
        .env_remove("USER")
        .env_remove("USERNAME")
        .args(["apply", "--auto-approve", "m.yaml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut first = first.spawn().unwrap();
    let started = std::time::Instant::now();
    while w.portal.requests_received() == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no request"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    gate.open();
    assert!(first.wait().unwrap().success());
    out.expect_code(4);
    let holder = out
        .stderr
        .split("locked by another paysync run (")
        .nth(1)
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(
        holder.starts_with(&format!("pid {} user ", first.id()))
            && !holder.contains("user unknown")
            && holder.contains(" on ")
            && holder.contains(" since "),
        "{}",
        out.stderr
    );
}

/// Regression (issue 19): a recorded secret reference paysync cannot read was taken as an
/// environment variable of that whole name; the state is now refused when it is read,
/// naming the reference (and no position, which a value already parsed does not have).
#[test]
fn a_state_recording_an_unreadable_secret_reference_is_refused_naming_it() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    w.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    let mut state: serde_json::Value = serde_json::from_str(&w.read("paysync.state.json")).unwrap();
    state["targets"][0]["settings"]["REST_SERVICE_KEY_IFRAME"] = serde_json::json!({
        "type": "VALUE",
        "secret": "gcp:kv/acme#key",
    });
    w.write("paysync.state.json", &state.to_string());
    w.portal.clear_requests();
    for args in [
        &["plan", "m.yaml"][..],
        &["apply", "--auto-approve", "m.yaml"],
    ] {
        let out = w.run(args);
        insta::allow_duplicates! {
            insta::assert_snapshot!(out.snapshot(), @r#"
            exit code 1
            --- stdout
            --- stderr
            error: state file paysync.state.json is not valid paysync state (line 1, column 450): unknown secret source in "gcp:kv/acme#key": expected `env:NAME`, `file:PATH`, `sops:PATH#KEY`, `vault:MOUNT/PATH#FIELD` or `exec:NAME`
            "#);
        }
    }
    assert!(w.requests().is_empty());
}
