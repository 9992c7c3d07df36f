//! Reports tell the truth (issue 7.8): a batch whose answer was lost is "unknown", not
//! "not sent"; progress says "sent", never "applied"; every attempt is counted.

use paysync_emulator::Fault;

use crate::support::{World, manifest};

fn world() -> World {
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
    let w = world();
    // The first attempt is processed but its answer lost; the retry is refused.
    w.portal
        .inject(Fault::lost_response().method("batch").times(1));
    w.portal.inject(
        Fault::request_error("ACCESS_DENIED", 403, "Access denied")
            .method("batch")
            .times(1),
    );
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(6);
    assert!(
        out.stderr
            .contains("sent batch 1/1 (1 target): no answer, outcome unknown"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("1 target sent, but the answer was lost, so the outcome is unknown"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("not sent because"), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "0 targets changed (0 settings written), 0 failed, 1 unknown, 2 requests sent to portal 127.0.0.1:"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("applied batch"), "{}", out.stderr);
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
    let w = world();
    w.portal
        .inject(Fault::request_error("ACCESS_DENIED", 403, "Access denied").method("batch"));
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains(
            "batch 1/1 (1 target) not sent: the request failed before the portal took it"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("applied"), "{}", out.stderr);
    assert!(!out.stderr.contains("sent batch"), "{}", out.stderr);
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
    out.expect_code(8);
    assert!(
        out.stderr.contains(
            "1 target not compared: the portal's answer for it could not be read \
             (paySystem 12 / personType 0"
        ),
        "{}",
        out.stderr
    );
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
    assert!(out.stdout.contains("paySystem 11"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("Warning: paySystem 12 / personType 0 (m/acme.yaml:")
            && out.stdout.contains("the portal's answer cannot be read"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("paySystem 12 / personType 0  ("),
        "{}",
        out.stdout
    );

    let out = w.run(&["apply", "--auto-approve", "--refresh", "m"]);
    out.expect_code(6);
    assert!(
        out.stderr
            .contains("1 target not written: the portal's answer for it could not be read"),
        "{}",
        out.stderr
    );
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
    out.expect_code(6);
    assert!(
        out.stderr.contains(
            "error: paySystem 11 / personType 1 NOT_DECLARED_CODE (m/acme.yaml:7): written, but \
             the portal does not return it"
        ),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("PS_WORK_MODE_IFRAME (m/"),
        "{}",
        out.stderr
    );
    // One summary, which agrees with the exit code: never "Apply complete ... 0 failed"
    // before the codes not kept.
    assert!(!out.stderr.contains("Apply complete"), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("Apply incomplete:").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "Apply incomplete: 1 target changed (2 settings written), 0 failed, 1 setting not \
             kept by the portal as sent"
        ),
        "{}",
        out.stderr
    );
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
