//! Reaching the portal, and what it says when it will not take a request: a refused
//! connection is reported at once naming the portal and what to check; a wrong webhook
//! code is said in words without either code; `PORTAL_DELETED` is a clear stop (issue 18
//! §4); an error every call of the run would get, inside a batch (a missing scope, the
//! method denied), stops the run after that batch with what to check, while one pay
//! system's refusal fails that target only.

use paysync_emulator::Fault;

use crate::seeds::two_targets;
use crate::support::{World, manifest};

/// A webhook code that must never be shown.
const CODE: &str = "CANARYwebhook9q2l";

/// A refused connection (nothing listens there) is reported at once, naming the portal
/// and what to check: not after a minute of backoff (it took 31-62 s).
#[test]
fn a_closed_port_names_the_portal_and_what_to_check() {
    let w = two_targets(CODE);
    // Port 1: nothing unprivileged listens there, and no other test can take it.
    let out = w
        .cmd()
        .env(
            "PAYSYNC_WEBHOOK_URL",
            format!("http://127.0.0.1:1/rest/1/{CODE}/"),
        )
        .env("RUST_LOG", "trace")
        .args(["-vvv", "apply", "--auto-approve", "m"])
        .run();
    out.expect_code(1);
    let error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {}", out.stderr));
    assert_eq!(
        error,
        "error: cannot connect to portal 127.0.0.1:1 (connection refused): check \
         PAYSYNC_WEBHOOK_URL and the network",
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("retrying"), "{}", out.stderr);
    out.assert_hides(&[CODE, "/rest/1/"]);
}

#[test]
fn a_wrong_webhook_code_is_said_in_words_without_either_code() {
    let w = two_targets(CODE);
    let wrong = "CANARYwrong7f1dcode";
    let url = w.portal.webhook_url().replace(CODE, wrong);
    assert!(url.contains(wrong), "{url}");
    for args in [
        &["-vvv", "apply", "--auto-approve", "m"][..],
        &["-vvv", "plan", "--refresh", "m"][..],
    ] {
        let out = w
            .cmd()
            .env("PAYSYNC_WEBHOOK_URL", &url)
            .env("RUST_LOG", "trace")
            .args(args)
            .run();
        out.expect_code(1);
        assert!(
            out.stderr.contains(
                "the portal refused the webhook code (NO_AUTH_FOUND: Wrong authorization data): \
                 check the webhook code in PAYSYNC_WEBHOOK_URL"
            ),
            "{args:?}: {}",
            out.stderr
        );
        // Said in words, not prefixed with the method that happened to meet it.
        assert!(
            !out.stderr.contains("error: batch:") && !out.stderr.contains("error=batch:"),
            "{args:?}: {}",
            out.stderr
        );
        out.assert_hides(&[CODE, wrong, "/rest/1/"]);
    }
    assert!(w.updates().is_empty());
}

#[test]
fn a_deleted_portal_is_a_clear_stop_not_an_unknown_outcome() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.portal
        .inject(Fault::request_error("PORTAL_DELETED", 500, "Portal was deleted").forever());
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    // A clear stop: nothing "unknown", never retried.
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit code 1
    --- stdout
    paySystem 11 / personType 1  (m.yaml:1)
      + PS_WORK_MODE_IFRAME = "REGULAR"

    Plan: 1 target to change, 1 setting (1 to add, 0 to change).
    --- stderr
    ERROR batch request failed batch=1 error=the portal is closed (PORTAL_DELETED: Portal was deleted): it was deleted, or its public part was closed; nothing was written. Check the portal's address in PAYSYNC_WEBHOOK_URL with its administrator
    batch 1/1 (1 target) not sent: the request failed before the portal took it
    1 target not sent because the run stopped: paySystem 11 / personType 1
    Apply incomplete: 0 targets changed (0 settings written), 0 failed, 1 not sent, 1 request sent to portal 127.0.0.1:[PORT].
    error: the portal is closed (PORTAL_DELETED: Portal was deleted): it was deleted, or its public part was closed; nothing was written. Check the portal's address in PAYSYNC_WEBHOOK_URL with its administrator
    "#);
    assert_eq!(w.portal.requests_received(), 1, "never retried");
}

#[test]
fn a_missing_scope_inside_a_batch_stops_the_run_after_that_batch() {
    let w = crate::seeds::many_targets(120, "REGULAR");
    w.portal.inject(
        Fault::error(
            "insufficient_scope",
            403,
            "The request requires higher privileges than provided by the webhook token",
        )
        .method("sale.paysystem.settings.update")
        .forever(),
    );
    let out = w.run(&["apply", "--auto-approve", "--parallelism", "1", "m"]);
    out.expect_code(6);
    assert_eq!(
        w.portal.requests_received(),
        1,
        "one batch, then the run stopped"
    );
    assert!(
        out.stderr.contains(
            "error: the run stopped: the portal refused the webhook code: the webhook lacks \
             this method's scope (insufficient_scope: "
        ) && out
            .stderr
            .contains("paysync needs the pay_system and sale scopes"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("70 targets not sent because the run stopped"),
        "{}",
        out.stderr
    );
}

#[test]
fn access_denied_for_every_target_of_a_batch_stops_the_run_but_one_pay_system_does_not() {
    let w = crate::seeds::many_targets(120, "REGULAR");
    // One pay system of another app's handler: that target fails, the others go on.
    w.portal.inject(
        Fault::error("ACCESS_DENIED", 403, "Access denied")
            .method("sale.paysystem.settings.update")
            .pay_system(101)
            .forever(),
    );
    let out = w.run(&["apply", "--auto-approve", "--parallelism", "1", "m"]);
    out.expect_code(6);
    assert_eq!(w.portal.requests_received(), 3, "{}", out.stderr);
    assert!(out.stderr.contains("119 targets changed"), "{}", out.stderr);
    assert!(!out.stderr.contains("the run stopped"), "{}", out.stderr);
    // The method refused for every target: the run stops after the first batch.
    let w = crate::seeds::many_targets(120, "REGULAR");
    w.portal.inject(
        Fault::error("ACCESS_DENIED", 403, "Access denied")
            .method("sale.paysystem.settings.update")
            .forever(),
    );
    let out = w.run(&["apply", "--auto-approve", "--parallelism", "1", "m"]);
    out.expect_code(6);
    assert_eq!(w.portal.requests_received(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("error: the run stopped: the portal refused the method for every target"),
        "{}",
        out.stderr
    );
}
