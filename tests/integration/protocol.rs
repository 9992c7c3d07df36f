//! Protocol details (issue 18 §4): `PORTAL_DELETED` is a clear stop; an error every call
//! of the run would get, inside a batch, stops the run after that batch with what to
//! check; a refused connection is reported at once, not after a minute of backoff.

use paysync_emulator::Fault;

use crate::support::{World, manifest};

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
    out.expect_code(1);
    assert!(
        out.stderr.contains(
            "the portal is closed (PORTAL_DELETED: Portal was deleted): it was deleted, or its \
             public part was closed; nothing was written"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("unknown"), "{}", out.stderr);
    assert!(!out.stderr.contains("retrying"), "{}", out.stderr);
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
