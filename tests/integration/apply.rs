//! `paysync apply` as a user meets it: the prompt names the portal (and the environment)
//! and counts what it writes, and anything but `yes` sends nothing; `Apply complete` /
//! `Apply incomplete` on one stream, coloured only on a colour terminal; per-batch log
//! lines only with `-v`, each request with `-vv`; and reports that tell the truth (issue
//! 7.8): a lost answer is "unknown", a refused request never "applied", a target whose
//! answer cannot be read is set aside, and `--verify` names what the portal did not keep.

use paysync_emulator::Fault;

use crate::seeds::{many_pay_systems, two_targets};
use crate::support::{Outcome, TerminalRun, World, filtered, manifest, run_on_terminal};

/// A webhook code that must never be shown.
const CODE: &str = "CANARYwebhook9q2l";

const PROMPT: &str = "Enter a value:";

fn host(w: &World) -> String {
    w.portal.addr().to_string()
}

fn apply_on_terminal(w: &World, answer: &str, env: &[(&str, &str)]) -> TerminalRun {
    let mut cmd = w.cmd().into_std();
    cmd.env("TERM", "xterm-256color");
    cmd.envs(env.iter().copied());
    cmd.args(["apply", "m"]);
    run_on_terminal(cmd, Some((PROMPT, answer)))
}

#[test]
fn the_apply_prompt_names_the_portal_host_and_counts_what_it_writes() {
    let w = two_targets(CODE);
    let run = apply_on_terminal(&w, "yes", &[]);
    assert_eq!(run.code, 0, "{}", run.screen);
    let question = format!("Apply 3 settings to 2 targets on portal {}?", host(&w));
    assert!(run.screen.contains(&question), "{}", run.screen);
    // Terraform's acceptance rule, said as Terraform says it.
    assert!(
        run.screen
            .contains("Only 'yes' will be accepted to approve."),
        "{}",
        run.screen
    );
    assert!(!run.screen.contains(CODE), "{}", run.screen);
    assert!(!run.screen.contains("/rest/"), "{}", run.screen);
    assert_eq!(w.updates().len(), 2);
}

#[test]
fn anything_but_yes_at_the_prompt_sends_nothing() {
    let w = two_targets(CODE);
    let run = apply_on_terminal(&w, "y", &[]);
    assert_eq!(run.code, 1, "{}", run.screen);
    assert!(run.screen.contains("apply cancelled"), "{}", run.screen);
    assert!(w.updates().is_empty());
}

#[test]
fn the_apply_prompt_names_the_environment() {
    let w = two_targets(CODE);
    w.write(
        "paysync.yaml",
        "apiVersion: paysync/v1\nkind: Project\nenvironments:\n  stage:\n    sources: [m]\n    state: stage.state.json\n    credentials: { PAYSYNC_WEBHOOK_URL: PAYSYNC_WEBHOOK_URL }\n",
    );
    let mut cmd = w.cmd().into_std();
    cmd.env("TERM", "xterm-256color");
    cmd.args(["apply", "--env", "stage"]);
    let run = run_on_terminal(cmd, Some((PROMPT, "yes")));
    assert_eq!(run.code, 0, "{}", run.screen);
    let question = format!(
        "Apply 3 settings to 2 targets on portal {} (environment stage)?",
        host(&w)
    );
    assert!(run.screen.contains(&question), "{}", run.screen);
    assert!(w.path("stage.state.json").exists());
}

#[test]
fn apply_complete_and_apply_incomplete_go_to_stderr_both() {
    let w = two_targets(CODE);
    let complete = w.run(&["apply", "--auto-approve", "m"]);
    complete.expect_code(0);
    assert!(
        complete
            .stderr
            .contains("Apply complete: 2 targets changed"),
        "{complete:?}"
    );
    assert!(!complete.stdout.contains("Apply "), "{complete:?}");

    w.write(
        "m/a.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    w.write(
        "m/b.yaml",
        &manifest(12, 0, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.portal.inject(
        Fault::error("ACCESS_DENIED", 403, "Access denied")
            .method("sale.paysystem.settings.update")
            .pay_system(12),
    );
    let incomplete = w.run(&["apply", "--auto-approve", "m"]);
    incomplete.expect_code(6);
    assert!(
        incomplete
            .stderr
            .contains("Apply incomplete: 1 target changed"),
        "{incomplete:?}"
    );
    assert!(!incomplete.stdout.contains("Apply "), "{incomplete:?}");
    // Off a terminal, and with NO_COLOR: plain.
    for o in [&complete, &incomplete] {
        assert!(!o.stderr.contains('\u{1b}'), "{o:?}");
    }
}

#[test]
fn apply_complete_is_green_on_a_colour_terminal_and_plain_with_no_color() {
    let w = two_targets(CODE);
    let mut cmd = w.cmd().into_std();
    cmd.env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .args(["apply", "--auto-approve", "m"]);
    let run = run_on_terminal(cmd, None);
    assert_eq!(run.code, 0, "{}", run.screen);
    assert!(
        run.screen.contains("\u{1b}[32mApply complete:\u{1b}[0m"),
        "{:?}",
        run.screen
    );

    w.write(
        "m/a.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    let run = apply_on_terminal(&w, "yes", &[]);
    assert_eq!(run.code, 0, "{}", run.screen);
    assert!(run.screen.contains("Apply complete:"), "{}", run.screen);
    assert!(!run.screen.contains("\u{1b}[32m"), "{:?}", run.screen);
}

/// 150 targets: three batches of 50.
fn three_batches() -> World {
    let w = World::with_seed(many_pay_systems(150));
    let text: Vec<String> = (100..250)
        .map(|id| manifest(id, 1, &[("REST_SERVICE_ID_IFRAME", "v1")]))
        .collect();
    w.write("m/all.yaml", &text.join("---\n"));
    w
}

fn apply_at(verbosity: &[&str]) -> Outcome {
    let w = three_batches();
    let mut args = verbosity.to_vec();
    args.extend(["apply", "--auto-approve", "m"]);
    let out = w.run(&args);
    out.expect_code(0);
    out
}

fn count(o: &Outcome, needle: &str) -> usize {
    o.stderr.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn per_batch_log_lines_only_with_v_and_each_request_with_vv() {
    let default = apply_at(&[]);
    let v = apply_at(&["-v"]);
    let vv = apply_at(&["-vv"]);

    // Default: one progress line per batch and the report, nothing else.
    insta::assert_snapshot!(filtered(&default.stderr, None), @"
    sent batch 1/3 (50 targets): 50 confirmed
    sent batch 2/3 (50 targets): 50 confirmed
    sent batch 3/3 (50 targets): 50 confirmed
    Apply complete: 150 targets changed (150 settings written), 0 failed, 3 requests sent to portal 127.0.0.1:[PORT].
    ");
    // -v: the INFO line of each batch too.
    assert_eq!(count(&v, "INFO"), 3, "{}", v.stderr);
    assert_eq!(
        count(&v, "sending settings.update batch"),
        3,
        "{}",
        v.stderr
    );
    assert_eq!(count(&v, "DEBUG"), 0, "{}", v.stderr);
    // -vv: each request, by method, size and time.
    assert_eq!(count(&vv, "POST batch: HTTP 200"), 3, "{}", vv.stderr);
    assert!(vv.stderr.lines().count() > v.stderr.lines().count());
    assert!(v.stderr.lines().count() > default.stderr.lines().count());
    for o in [&default, &v, &vv] {
        assert!(!o.stderr.contains("/rest/"), "{}", o.stderr);
    }
}

fn one_target() -> World {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w
}

/// Regression (issue 7.8): a batch whose answer was lost after it was sent was reported
/// as "not sent", with one request counted for two attempts.
#[test]
fn a_lost_answer_is_reported_as_unknown_and_every_attempt_is_counted() {
    let w = one_target();
    // The first attempt is processed but its answer lost; the retry is refused.
    w.portal
        .inject(Fault::lost_response().method("batch").times(1));
    w.portal.inject(
        Fault::request_error("ACCESS_DENIED", 403, "Access denied")
            .method("batch")
            .times(1),
    );
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit code 6
    --- stdout
    paySystem 11 / personType 1  (m.yaml:1)
      + PS_WORK_MODE_IFRAME = "REGULAR"

    Plan: 1 target to change, 1 setting (1 to add, 0 to change).
    --- stderr
     WARN the connection to the portal failed: retrying in [WAIT] (attempt 2/6) method=batch wait_ms=[WAIT]
    ERROR batch sent, but its answer was lost: outcome unknown batch=1 error=batch: ACCESS_DENIED: Access denied (after 2 attempts; an earlier answer was lost, so the request may have been applied)
    sent batch 1/1 (1 target): no answer, outcome unknown
    error: the run stopped: batch: ACCESS_DENIED: Access denied (after 2 attempts; an earlier answer was lost, so the request may have been applied)
    1 target sent, but the answer was lost, so the outcome is unknown (not recorded; a re-run sends it again, and plan --refresh shows what the portal holds): paySystem 11 / personType 1
    Apply incomplete: 0 targets changed (0 settings written), 0 failed, 1 unknown, 2 requests sent to portal 127.0.0.1:[PORT].
    error: apply incomplete: 1 of 1 targets not confirmed (failed, unknown or not sent); the state records what the portal confirmed, re-run to retry the rest
    "#);
    assert_eq!(w.portal.requests().len(), 2);
    // The portal did apply it; the state does not claim it; the re-run converges.
    assert_eq!(
        w.portal_value(11, 1, "PS_WORK_MODE_IFRAME").as_deref(),
        Some("REGULAR")
    );
    assert!(
        !w.path("paysync.state.json").exists() || !w.read("paysync.state.json").contains("REGULAR")
    );
    w.run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    w.run(&["plan", "--detailed-exitcode", "m.yaml"])
        .expect_code(0);
}

/// Regression (issue 7.8): a request the portal refused as a whole was shown as an
/// "applied batch".
#[test]
fn a_refused_request_is_never_shown_as_an_applied_batch() {
    let w = one_target();
    w.portal
        .inject(Fault::request_error("ACCESS_DENIED", 403, "Access denied").method("batch"));
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit code 1
    --- stdout
    paySystem 11 / personType 1  (m.yaml:1)
      + PS_WORK_MODE_IFRAME = "REGULAR"

    Plan: 1 target to change, 1 setting (1 to add, 0 to change).
    --- stderr
    ERROR batch request failed batch=1 error=batch: ACCESS_DENIED: Access denied
    batch 1/1 (1 target) not sent: the request failed before the portal took it
    1 target not sent because the run stopped: paySystem 11 / personType 1
    Apply incomplete: 0 targets changed (0 settings written), 0 failed, 1 not sent, 1 request sent to portal 127.0.0.1:[PORT].
    error: batch: ACCESS_DENIED: Access denied
    "#);
}

/// One target whose `settings.get` answer has an unexpected shape (a list where a value
/// belongs) does not sink the read: the others are planned and applied, that one is
/// named (with its manifest place) and never written.
#[test]
fn one_unreadable_answer_sets_aside_only_its_target() {
    let w = World::new();
    w.write(
        "m/acme.yaml",
        &format!(
            "{}---\n{}",
            manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
            manifest(12, 0, &[("PS_WORK_MODE_IFRAME", "TEST")])
        ),
    );
    w.portal.inject(
        Fault::result(serde_json::json!({
            "PS_WORK_MODE_IFRAME": {"TYPE": "VALUE", "VALUE": ["a", "list"]}
        }))
        .method("sale.paysystem.settings.get")
        .pay_system(12)
        .forever(),
    );
    // Not compared is never a passing gate: exit 8, with or without
    // --detailed-exitcode, and no saved plan.
    let out = w.run(&["plan", "--refresh", "m"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit code 8
    --- stdout
    paySystem 11 "AcmePay card (individuals)" / personType 1 "Individual"  (m/acme.yaml:1)
      + PS_WORK_MODE_IFRAME = "REGULAR"

    Plan: 1 target to change, 1 setting (1 to add, 0 to change).
    Warning: paySystem 12 / personType 0 (m/acme.yaml:8): the portal's answer cannot be read (unexpected shape of the portal's answer: setting PS_WORK_MODE_IFRAME: VALUE is a list, expected a string): not planned, nothing is written to it
    --- stderr
     WARN target{pay_system=12 person_type=0}: the portal's answer for this target cannot be read: unexpected shape of the portal's answer: setting PS_WORK_MODE_IFRAME: VALUE is a list, expected a string
    error: 1 target not compared: the portal's answer for it could not be read (paySystem 12 / personType 0; see above); the comparison is incomplete
    "#);
    let detailed = w.run(&[
        "plan",
        "--refresh",
        "--detailed-exitcode",
        "--out",
        "p.json",
        "m",
    ]);
    detailed.expect_code(8);
    assert!(
        !w.path("p.json").exists(),
        "an incomplete plan is not saved"
    );
    let out = w.run(&["apply", "--auto-approve", "--refresh", "m"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit code 6
    --- stdout
    paySystem 11 "AcmePay card (individuals)" / personType 1 "Individual"  (m/acme.yaml:1)
      + PS_WORK_MODE_IFRAME = "REGULAR"

    Plan: 1 target to change, 1 setting (1 to add, 0 to change).
    Warning: paySystem 12 / personType 0 (m/acme.yaml:8): the portal's answer cannot be read (unexpected shape of the portal's answer: setting PS_WORK_MODE_IFRAME: VALUE is a list, expected a string): not planned, nothing is written to it
    --- stderr
     WARN target{pay_system=12 person_type=0}: the portal's answer for this target cannot be read: unexpected shape of the portal's answer: setting PS_WORK_MODE_IFRAME: VALUE is a list, expected a string
    sent batch 1/1 (1 target): 1 confirmed
    Apply complete: 1 target changed (1 setting written), 0 failed, 1 request sent to portal 127.0.0.1:[PORT].
    error: 1 target not written: the portal's answer for it could not be read (paySystem 12 / personType 0; see the warning above); the other targets were applied
    "#);
    assert_eq!(
        w.portal_value(11, 1, "PS_WORK_MODE_IFRAME").as_deref(),
        Some("REGULAR")
    );
    let written: Vec<serde_json::Value> = w.updates();
    assert!(
        written.iter().all(|u| u["ID"] != 12 && u["ID"] != "12"),
        "{written:?}"
    );
    assert_eq!(written.len(), 1, "{written:?}");
}

/// `apply --verify`: a written code the handler does not declare (the portal answers
/// `true`, stores it, never returns it) is named with its place, exit 6, and the next
/// plan shows it again.
#[test]
fn verify_names_a_code_the_portal_does_not_keep_and_the_next_plan_shows_it() {
    let w = World::new();
    w.write(
        "m/acme.yaml",
        &manifest(
            11,
            1,
            &[
                ("PS_WORK_MODE_IFRAME", "REGULAR"),
                ("NOT_DECLARED_CODE", "x"),
            ],
        ),
    );
    let out = w.run(&["apply", "--auto-approve", "--verify", "m"]);
    // One summary, which agrees with the exit code: never "Apply complete ... 0 failed"
    // before the codes not kept.
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit code 6
    --- stdout
    paySystem 11 / personType 1  (m/acme.yaml:1)
      + NOT_DECLARED_CODE = "x"
      + PS_WORK_MODE_IFRAME = "REGULAR"

    Plan: 1 target to change, 2 settings (2 to add, 0 to change).
    --- stderr
    sent batch 1/1 (1 target): 1 confirmed
    error: paySystem 11 / personType 1 NOT_DECLARED_CODE (m/acme.yaml:7): written, but the portal does not return it: its handler does not declare it, so the portal keeps it where nothing reads it
    Verify: 1 setting not kept as sent; the state no longer records it, so the next plan shows it again.
    Apply incomplete: 1 target changed (2 settings written), 0 failed, 1 setting not kept by the portal as sent, 1 request sent to portal 127.0.0.1:[PORT].
    error: 1 setting not kept by the portal as sent (see above); apply is incomplete
    "#);
    let reads = w
        .requests()
        .iter()
        .flat_map(|r| r.batch.clone())
        .filter(|c| c.method == "sale.paysystem.settings.get")
        .count();
    assert_eq!(reads, 1, "one read back");
    let out = w.run(&["plan", "m"]);
    assert!(
        out.stdout.contains("+ NOT_DECLARED_CODE = \"x\""),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("PS_WORK_MODE_IFRAME"),
        "{}",
        out.stdout
    );
    // Without --verify, the same apply trusts the answer (exit 0).
    let w2 = World::new();
    w2.write("m/acme.yaml", &w.read("m/acme.yaml"));
    w2.run(&["apply", "--auto-approve", "m"]).expect_code(0);
}
