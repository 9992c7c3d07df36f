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
    let mut texts = Vec::new();
    for answer in unreadable_answers() {
        let w = applied_world();
        w.portal.inject(
            Fault::result(answer.clone())
                .method("sale.paysystem.settings.get")
                .forever(),
        );
        texts.push(w.run(&["drift"]).snapshot());
        let out = w.run(&["drift", "--format", "json"]);
        out.expect_code(8);
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(doc["summary"]["not_compared"], 2, "{doc}");
        assert_eq!(doc["not_compared"][0]["paySystem"], 11, "{doc}");
    }
    // Whatever the unreadable answer, the same report, naming the shape it had.
    for (text, shape) in texts.iter().zip(["a list", "null", "a string"]) {
        let shape = format!("settings are {shape},");
        assert!(text.contains(&shape), "{text}");
        assert_eq!(text.replace(&shape, "settings are a list,"), texts[0]);
    }
    insta::assert_snapshot!(texts[0], @"
    exit code 8
    --- stdout
    Not compared (the portal's answer for these targets could not be read):
      ! paySystem 11 / personType 1: unexpected shape of the portal's answer: settings are a list, expected an object of setting codes
      ! paySystem 12 / personType 0: unexpected shape of the portal's answer: settings are a list, expected an object of setting codes

    Incomplete: 2 targets not compared; 0 settings in 0 targets checked, no drift among them.
    --- stderr
     WARN target{pay_system=11 person_type=1}: the portal's answer for this target cannot be read: unexpected shape of the portal's answer: settings are a list, expected an object of setting codes
     WARN target{pay_system=12 person_type=0}: the portal's answer for this target cannot be read: unexpected shape of the portal's answer: settings are a list, expected an object of setting codes
    error: 2 targets not compared: the portal's answer for them could not be read (paySystem 11 / personType 1, paySystem 12 / personType 0; see above); the comparison is incomplete
    ");
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
    let out = w
        .cmd()
        .env("PAYSYNC_WEBHOOK_URL", other.webhook_url())
        .args(["apply", "--plan", "p.json"])
        .run();
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
