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
