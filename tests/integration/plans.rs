//! The plan as people and programs read it, through the binary: text and JSON, snapshot
//! by snapshot (the markdown plan's are in `src/render/plan_markdown.rs`). The README's
//! own command is one of them, so its output cannot change unnoticed.

use crate::support::{CANARY, Manifest, World, repo_root};

/// `paysync plan` of the bundled example in `format`, run as the README runs it: from
/// the repository's root, with its relative paths, no secret set.
fn example_plan(format: &str) -> String {
    let w = World::new();
    let out = w
        .cmd()
        .current_dir(repo_root())
        .env_remove("ACME_KEY")
        .args(["plan", "--format", format])
        .args([
            "--state",
            "examples/paysync.state.json",
            "examples/manifests",
        ])
        .run();
    out.expect_code(0);
    out.stdout.replace(env!("CARGO_PKG_VERSION"), "[version]")
}

#[test]
fn the_readme_example_plan_as_text() {
    insta::assert_snapshot!(example_plan("text"));
}

#[test]
fn the_readme_example_plan_as_json() {
    insta::assert_snapshot!(example_plan("json"));
}

/// Applied with the canary as the secret, then changed three ways: in the manifest (a
/// value, the secret's value), and on the portal (drift), planned with `--refresh`.
fn refreshed_plan(format: &str) -> String {
    let w = World::new();
    let acme = |mode: &str| {
        Manifest::new()
            .target(11, 1)
            .literal("PS_WORK_MODE_IFRAME", mode)
            .source("PAYMENT_ID", "PAYMENT", "ACCOUNT_NUMBER")
            .secret("REST_SERVICE_KEY_IFRAME", "env:ACME_KEY")
            .target(12, 0)
            .literal("PS_CHANGE_STATUS_PAY", "Y")
            .text()
    };
    w.write("m/acme.yaml", &acme("TEST"));
    w.cmd()
        .env("ACME_KEY", CANARY)
        .args(["apply", "--auto-approve", "m"])
        .run()
        .expect_code(0);
    w.write("m/acme.yaml", &acme("REGULAR"));
    w.portal
        .set_setting(12, 0, "PS_CHANGE_STATUS_PAY", "VALUE", "N");
    let out = w
        .cmd()
        .env("ACME_KEY", format!("{CANARY}-rotated"))
        .args(["plan", "--refresh", "--format", format, "m"])
        .run();
    out.expect_code(0);
    out.assert_hides(&[CANARY]);
    out.stdout
        .replace(env!("CARGO_PKG_VERSION"), "[version]")
        .replace(&w.portal.base_url(), "http://[portal]")
}

#[test]
fn a_refreshed_plan_with_drift_and_a_changed_secret_as_text() {
    insta::assert_snapshot!(refreshed_plan("text"));
}

#[test]
fn a_refreshed_plan_with_drift_and_a_changed_secret_as_json() {
    insta::assert_snapshot!(refreshed_plan("json"));
}

/// `paysync show PLANFILE` renders the saved plan exactly as `plan` rendered it, in each
/// format, without the state, the portal or the secrets.
#[test]
fn show_renders_a_saved_plan_as_plan_did() {
    let w = World::new();
    let acme = Manifest::new()
        .target(11, 1)
        .literal("PS_WORK_MODE_IFRAME", "REGULAR")
        .secret("REST_SERVICE_KEY_IFRAME", "env:ACME_KEY")
        .text();
    for format in ["text", "json", "markdown"] {
        w.write("m/acme.yaml", &acme);
        let planned = w
            .cmd()
            .env("ACME_KEY", CANARY)
            .args(["plan", "--format", format, "--out", "saved.json", "m"])
            .run();
        assert_eq!(planned.code, 0, "{planned:?}");
        std::fs::remove_dir_all(w.path("m")).ok();
        let shown = w.run(&["show", "--format", format, "saved.json"]);
        shown.expect_code(0);
        assert_eq!(shown.stdout, planned.stdout, "{format}");
        assert!(!shown.stdout.contains(CANARY));
        assert!(w.requests().is_empty(), "show reads the file only");
    }
    let missing = w.run(&["show", "nope.json"]);
    missing.expect_code(3);
}

/// Names read with `--refresh` are shown beside the IDs in every format, recorded in the
/// state by apply, and shown again by the offline plan that follows.
#[test]
fn pay_system_and_payer_type_names_are_shown_beside_the_ids() {
    let w = World::new();
    let acme = |mode: &str| {
        Manifest::new()
            .target(11, 1)
            .literal("PS_WORK_MODE_IFRAME", mode)
            .text()
    };
    w.write("m/acme.yaml", &acme("TEST"));
    let label = "paySystem 11 \"AcmePay card (individuals)\" / personType 1 \"Individual\"";
    let out = w.run(&["plan", "--refresh", "m"]);
    out.expect_code(0);
    assert!(out.stdout.contains(label), "{}", out.stdout);
    w.run(&["apply", "--auto-approve", "--refresh", "m"])
        .expect_code(0);
    let state: serde_json::Value = serde_json::from_str(&w.read("paysync.state.json")).unwrap();
    assert_eq!(
        state["targets"][0]["paySystemName"],
        "AcmePay card (individuals)"
    );
    assert_eq!(state["targets"][0]["personTypeName"], "Individual");

    // Offline: the names come from the state.
    w.write("m/acme.yaml", &acme("REGULAR"));
    let text = w.run(&["plan", "m"]);
    assert!(text.stdout.contains(label), "{}", text.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&w.run(&["plan", "--format", "json", "m"]).stdout).unwrap();
    assert_eq!(
        json["targets"][0]["pay_system_name"],
        "AcmePay card (individuals)"
    );
    assert_eq!(json["targets"][0]["person_type_name"], "Individual");
    let md = w.run(&["plan", "--format", "markdown", "m"]).stdout;
    assert!(
        md.contains(
            "paySystem 11 &#34;AcmePay card (individuals)&#34; / personType 1 &#34;Individual&#34;"
        ),
        "{md}"
    );
    // Drift names them too.
    w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "OTHER");
    let drift = w.run(&["drift"]);
    assert!(drift.stdout.contains(label), "{}", drift.stdout);
}

/// A saved plan of another format version is refused clearly by `show` and `apply
/// --plan` (read without building a generic JSON tree first: issue 22.3), whatever else
/// it holds; nothing is sent.
#[test]
fn a_saved_plan_of_another_format_is_refused_clearly() {
    let w = World::new();
    w.write(
        "m.yaml",
        &crate::support::manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.run(&["plan", "--out", "p.json", "m.yaml"]).expect_code(0);
    // The plan of an older format, with a field this version does not know.
    let mut old: serde_json::Value = serde_json::from_str(&w.read("p.json")).unwrap();
    old["format"] = "paysync.saved-plan/2".into();
    old["unknownField"] = 1.into();
    w.write("old.json", &old.to_string());
    for args in [
        &["show", "old.json"][..],
        &["apply", "--plan", "old.json"][..],
    ] {
        let out = w.run(args);
        assert_ne!(out.code, 0, "{args:?}");
        assert!(
            out.stderr.contains("has format \"paysync.saved-plan/2\"")
                && out.stderr.contains("make the plan again"),
            "{}",
            out.stderr
        );
    }
    assert!(w.updates().is_empty());
}

/// Issue 22.3: a saved plan is streamed to its file. SIGKILL at random points of `plan
/// --out` never leaves a half-written plan: the file is the previous plan or the new
/// one, whole, and `show` reads it. (Where each kill lands varies; what is asserted holds
/// wherever it lands.)
#[cfg(unix)]
#[test]
fn sigkill_during_a_streamed_saved_plan_leaves_the_previous_plan_or_the_new_one_whole() {
    use std::time::Instant;
    let w = World::new();
    crate::signals::manifests(&w, 10_000, "A");
    w.run(&["plan", "--out", "p.json", "m"]).expect_code(0);
    let previous = w.read("p.json");
    crate::signals::manifests(&w, 10_000, "B");
    let started = Instant::now();
    w.run(&["plan", "--out", "whole.json", "m"]).expect_code(0);
    let full = started.elapsed();
    let new = w.read("whole.json");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut rng = seed;
    for round in 0..8 {
        rng = rng.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let child = w
            .cmd()
            .into_std()
            .args(["plan", "--out", "p.json", "m"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(f64::from(rng % 100) / 100.0));
        crate::signals::send(&child, "KILL");
        let mut child = child;
        let _ = child.wait();
        let now = w.read("p.json");
        assert!(
            now == previous || without_salt(&now) == without_salt(&new),
            "round {round} (seed {seed}): p.json is neither plan whole ({} bytes)",
            now.len()
        );
        w.run(&["show", "p.json"]).expect_code(0);
    }
}

/// A saved plan made without a state, but for the salt of its new fingerprint scheme
/// (random per run).
fn without_salt(text: &str) -> serde_json::Value {
    let mut plan: serde_json::Value = serde_json::from_str(text).expect("a whole plan");
    plan["fingerprints"]["salt"] = serde_json::Value::Null;
    plan
}

/// Issue 22: a plan saved before the saved-plan format changed (format 3: the plan
/// document embedded) still shows as it did and applies.
#[test]
fn a_plan_saved_in_the_previous_format_still_applies() {
    let w = World::new();
    w.write(
        "m.yaml",
        &crate::support::manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let out = w.run(&["plan", "--format", "json", "--out", "p.json", "m.yaml"]);
    out.expect_code(0);
    // Format 3 as it was written: the head, the fingerprints, the plan document.
    let new: serde_json::Value = serde_json::from_str(&w.read("p.json")).unwrap();
    let mut old = serde_json::json!({"format": "paysync.saved-plan/3"});
    for field in [
        "paysync_version",
        "lineage",
        "serial",
        "portal",
        "fingerprints",
        "secret_fingerprints",
    ] {
        old[field] = new[field].clone();
    }
    old["plan"] = serde_json::from_str(&out.stdout).unwrap();
    w.write("old.json", &serde_json::to_string_pretty(&old).unwrap());
    let shown = w.run(&["show", "old.json"]);
    shown.expect_code(0);
    assert_eq!(shown.stdout, w.run(&["show", "p.json"]).stdout);
    w.run(&["apply", "--plan", "old.json"]).expect_code(0);
    assert_eq!(w.updates().len(), 1);
}

/// Regression (issue 23.3): a target named by a reference not resolved yet was
/// `paySystem: 0 / personType: 0` in the JSON plan.
#[test]
fn an_unresolved_target_has_no_ids_an_address_by_reference_and_is_counted() {
    let w = World::new();
    w.write(
        "m/card.yaml",
        "apiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: { xmlId: acme_card_b2b }\npersonType: default\nsettings:\n  PS_CHANGE_STATUS_PAY: N\n",
    );
    let out = w.run(&["plan", "--format", "json", "m"]);
    out.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let t = &doc["unresolved"][0];
    assert!(t["pay_system"].is_null(), "{doc}");
    assert!(t["person_type"].is_null(), "{doc}");
    assert_eq!(t["reference"], "xmlId:acme_card_b2b/0", "{doc}");
    assert_eq!(
        t["changes"][0]["address"],
        "reference[\"xmlId:acme_card_b2b/0\"].settings[\"PS_CHANGE_STATUS_PAY\"]",
        "{doc}"
    );
    assert_eq!(doc["summary"]["to_resolve"], 1, "{doc}");
    // The saved plan of it shows the same document.
    w.run(&["plan", "--out", "p.json", "m"]).expect_code(0);
    let shown = w.run(&["show", "--format", "json", "p.json"]);
    assert_eq!(shown.stdout, out.stdout);
}
