//! A gate never passes on nothing (issue 18 §2): targets whose live settings cannot be
//! read are "not compared" (exit 8, never 0, 2 or 7), in `drift` and in `plan --refresh`.

use paysync_emulator::Fault;

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
        assert_eq!(doc["not_compared"][0]["pay_system"], 11, "{doc}");
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
