//! `--target`: a target that matches nothing is a usage error (exit 64) naming the
//! nearest declared ones, never an empty plan that passes; a target only the state
//! records is still a target.

use crate::support::{World, manifest};

#[test]
fn a_target_that_matches_nothing_is_a_usage_error_naming_the_nearest() {
    let w = World::new();
    w.write(
        "m/acme.yaml",
        &format!(
            "{}---\n{}",
            manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
            manifest(12, 0, &[("PS_WORK_MODE_IFRAME", "TEST")])
        ),
    );
    let outs: Vec<String> = [
        &["plan", "--target", "99:1", "m"][..],
        &["plan", "--target", "99:1", "--detailed-exitcode", "m"][..],
        &["apply", "--auto-approve", "--target", "99:1", "m"][..],
    ]
    .into_iter()
    .map(|args| w.run(args).snapshot())
    .collect();
    assert!(outs.iter().all(|o| *o == outs[0]), "{outs:#?}");
    insta::assert_snapshot!(outs[0], @"
    exit code 64
    --- stdout
    --- stderr
    error: --target 99:1 matches no target of the manifests or the state (the nearest declared: 11:1, 12:0); nothing was planned
    ");
    let out = w.run(&["plan", "--target", "xmlId:nope/1", "m"]);
    insta::assert_snapshot!(out.snapshot(), @"
    exit code 64
    --- stdout
    --- stderr
    error: --target xmlId:nope/1 matches no target of the manifests or the state (the nearest declared: 11:1, 12:0); nothing was planned
    ");
    assert!(w.updates().is_empty());
    // A target the state records (no longer declared) is still a target.
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    w.write(
        "m/acme.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    let out = w.run(&["plan", "--target", "12:0", "m"]);
    out.expect_code(0);
    assert!(out.stdout.contains("no longer managed"), "{}", out.stdout);
}
