//! A gate never passes on nothing (issue 18 §2): targets whose live settings cannot be
//! read are "not compared" (exit 8, never 0, 2 or 7); a `--target` that matches nothing
//! is a usage error naming the nearest; a saved plan for another portal is refused
//! before anything is sent.

use paysync_emulator::{EmulatorHandle, Fault, Seed};

use crate::support::{World, manifest};

/// Answers `settings.get` can have that are not a map of settings.
fn unreadable_answers() -> [serde_json::Value; 3] {
    [
        serde_json::json!(["a", "list"]),
        serde_json::Value::Null,
        serde_json::json!("a string"),
    ]
}

/// A world whose two targets (10 settings in all) were applied.
fn applied_world() -> World {
    let w = World::new();
    let settings = [
        ("PS_WORK_MODE_IFRAME", "TEST"),
        ("PS_CHANGE_STATUS_PAY", "Y"),
        ("REST_SERVICE_ID_IFRAME", "\"00412\""),
        ("PAYMENT_ID", "\"1\""),
        ("REST_SERVICE_KEY_IFRAME", "k1"),
    ];
    w.write(
        "m/acme.yaml",
        &format!(
            "{}---\n{}",
            manifest(11, 1, &settings),
            manifest(12, 0, &settings)
        ),
    );
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    w
}

#[test]
fn drift_that_cannot_read_a_target_never_says_no_drift() {
    for answer in unreadable_answers() {
        let w = applied_world();
        w.portal.inject(
            Fault::result(answer.clone())
                .method("sale.paysystem.settings.get")
                .forever(),
        );
        let out = w.run(&["drift"]);
        out.expect_code(8);
        assert!(!out.stdout.contains("No drift"), "{answer}: {}", out.stdout);
        assert!(
            out.stdout.contains("Not compared (the portal's answer for these targets could not be read):")
                && out.stdout.contains("Incomplete: 2 targets not compared; 0 settings in 0 targets checked, no drift among them."),
            "{answer}: {}",
            out.stdout
        );
        assert!(
            out.stderr.contains("2 targets not compared"),
            "{answer}: {}",
            out.stderr
        );
        let out = w.run(&["drift", "--format", "json"]);
        out.expect_code(8);
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(doc["summary"]["not_compared"], 2, "{doc}");
        assert_eq!(doc["not_compared"][0]["paySystem"], 11, "{doc}");
    }
}

#[test]
fn plan_refresh_that_cannot_read_a_target_exits_8_never_0_or_2() {
    for answer in unreadable_answers() {
        let w = applied_world();
        w.portal.inject(
            Fault::result(answer.clone())
                .method("sale.paysystem.settings.get")
                .pay_system(12)
                .forever(),
        );
        for args in [
            &["plan", "--refresh", "m"][..],
            &["plan", "--refresh", "--detailed-exitcode", "m"][..],
        ] {
            let out = w.run(args);
            out.expect_code(8);
            assert!(
                out.stderr.contains("1 target not compared"),
                "{answer} {args:?}: {}",
                out.stderr
            );
        }
    }
}

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
    for args in [
        &["plan", "--target", "99:1", "m"][..],
        &["plan", "--target", "99:1", "--detailed-exitcode", "m"][..],
        &["apply", "--auto-approve", "--target", "99:1", "m"][..],
    ] {
        let out = w.run(args);
        out.expect_code(64);
        assert!(
            out.stderr.contains(
                "--target 99:1 matches no target of the manifests or the state (the nearest \
                 declared: 11:1, 12:0)"
            ),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stdout.contains("No changes."), "{}", out.stdout);
    }
    let out = w.run(&["plan", "--target", "xmlId:nope/1", "m"]);
    out.expect_code(64);
    assert!(
        out.stderr
            .contains("--target xmlId:nope/1 matches no target"),
        "{}",
        out.stderr
    );
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

#[test]
fn a_saved_plan_for_another_portal_is_refused_before_anything_is_sent() {
    let w = World::new();
    w.write(
        "m/acme.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    // Planned against this portal with --refresh, and no state yet.
    w.run(&["plan", "--refresh", "--out", "p.json", "m"])
        .expect_code(0);
    let other = EmulatorHandle::start(Seed::demo()).unwrap();
    let out = crate::support::Outcome::from(
        w.paysync()
            .env("PAYSYNC_WEBHOOK_URL", other.webhook_url())
            .args(["apply", "--plan", "p.json"])
            .output()
            .unwrap(),
    );
    out.expect_code(1);
    assert!(
        out.stderr.contains(&format!(
            "saved plan p.json was made for the portal {}, but the credentials \
             (PAYSYNC_WEBHOOK_URL) point at {}",
            w.portal.base_url(),
            other.base_url()
        )),
        "{}",
        out.stderr
    );
    assert!(
        other.requests().is_empty(),
        "a request reached the other portal"
    );
    assert!(!w.path("paysync.state.json").exists());
    // Against its own portal it applies.
    w.run(&["apply", "--plan", "p.json"]).expect_code(0);
}
