//! The core pipeline end to end: manifests → plan → apply → state, against the emulator
//! over real HTTP.

use paysync_emulator::Fault;

use crate::support::{Manifest, World, manifest};

/// 11/1: a literal, the long `{ type: VALUE }` form and a PAYMENT source; 12/0: two
/// literals.
fn acme_with(service_id: &str, payment_id: bool) -> String {
    let mut acme = Manifest::new()
        .target(11, 1)
        .literal("PS_WORK_MODE_IFRAME", "REGULAR")
        .source("REST_SERVICE_ID_IFRAME", "VALUE", service_id);
    if payment_id {
        acme = acme.source("PAYMENT_ID", "PAYMENT", "ACCOUNT_NUMBER");
    }
    acme.target(12, 0)
        .literals(&[
            ("PS_WORK_MODE_IFRAME", "TEST"),
            ("PS_CHANGE_STATUS_PAY", "Y"),
        ])
        .text()
}

fn acme() -> String {
    acme_with("00412", true)
}

fn stored(w: &World, ps: u64, pt: u64, code: &str) -> (Option<String>, Option<String>) {
    w.portal
        .setting(ps, pt, code)
        .unwrap_or_else(|| panic!("{code} of {ps}/{pt} not stored on the portal"))
}

#[test]
fn apply_writes_exactly_the_manifest_values_then_plans_no_changes() {
    let w = World::new();
    w.write("manifests/acme.yaml", &acme());

    let plan = w.run(&["plan", "--detailed-exitcode", "manifests"]);
    insta::assert_snapshot!(plan.snapshot(), @r#"
    exit code 2
    --- stdout
    paySystem 11 / personType 1  (manifests/acme.yaml:1)
      + PAYMENT_ID = PAYMENT:ACCOUNT_NUMBER
      + PS_WORK_MODE_IFRAME = "REGULAR"
      + REST_SERVICE_ID_IFRAME = "00412"

    paySystem 12 / personType 0  (manifests/acme.yaml:10)
      + PS_CHANGE_STATUS_PAY = "Y"
      + PS_WORK_MODE_IFRAME = "TEST"

    Plan: 2 targets to change, 5 settings (5 to add, 0 to change).
    --- stderr
    "#);
    assert!(w.requests().is_empty(), "an offline plan sent requests");

    w.run(&["apply", "--auto-approve", "manifests"])
        .expect_code(0);
    assert_eq!(
        stored(&w, 11, 1, "PS_WORK_MODE_IFRAME"),
        (Some("VALUE".into()), Some("REGULAR".into()))
    );
    assert_eq!(
        stored(&w, 11, 1, "REST_SERVICE_ID_IFRAME"),
        (Some("VALUE".into()), Some("00412".into()))
    );
    assert_eq!(
        stored(&w, 11, 1, "PAYMENT_ID"),
        (Some("PAYMENT".into()), Some("ACCOUNT_NUMBER".into()))
    );
    assert_eq!(
        stored(&w, 12, 0, "PS_WORK_MODE_IFRAME"),
        (Some("VALUE".into()), Some("TEST".into()))
    );
    assert_eq!(
        stored(&w, 12, 0, "PS_CHANGE_STATUS_PAY"),
        (Some("VALUE".into()), Some("Y".into()))
    );
    assert_eq!(
        w.portal.settings(11, 1).len(),
        3,
        "only the declared codes are written"
    );

    // One batch request carrying one command per target; personType 0 omits PERSON_TYPE_ID.
    let requests = w.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].method, "batch");
    let updates = w.updates();
    assert_eq!(updates.len(), 2);
    let defaults = updates
        .iter()
        .find(|u| u["ID"] == "12" || u["ID"] == 12)
        .unwrap();
    assert!(defaults.get("PERSON_TYPE_ID").is_none(), "{defaults}");

    let state = w.read("paysync.state.json");
    assert!(state.contains("\"serial\": 1"), "{state}");

    w.portal.clear_requests();
    let again = w.run(&["plan", "--detailed-exitcode", "manifests"]);
    again.expect_code(0);
    assert_eq!(again.stdout.trim(), "No changes.");
    let refreshed = w.run(&["plan", "--refresh", "--detailed-exitcode", "manifests"]);
    refreshed.expect_code(0);
    assert!(
        refreshed.stdout.contains("No changes."),
        "{}",
        refreshed.stdout
    );
    assert!(w.updates().is_empty(), "plan --refresh must only read");
}

#[test]
fn a_changed_value_is_planned_and_applied_alone() {
    let w = World::new();
    w.write("manifests/acme.yaml", &acme());
    w.run(&["apply", "--auto-approve", "manifests"])
        .expect_code(0);
    w.write("manifests/acme.yaml", &acme_with("00413", true));
    w.portal.clear_requests();

    let plan = w.run(&["plan", "--detailed-exitcode", "manifests"]);
    insta::assert_snapshot!(plan.snapshot(), @r#"
    exit code 2
    --- stdout
    paySystem 11 / personType 1  (manifests/acme.yaml:1)
      ~ REST_SERVICE_ID_IFRAME: "00412" -> "00413"

    Plan: 1 target to change, 1 setting (0 to add, 1 to change).
    --- stderr
    "#);

    w.run(&["apply", "--auto-approve", "manifests"])
        .expect_code(0);
    let updates = w.updates();
    assert_eq!(updates.len(), 1, "{updates:#?}");
    let settings = updates[0]["SETTINGS"].as_object().unwrap();
    assert_eq!(
        settings.keys().collect::<Vec<_>>(),
        ["REST_SERVICE_ID_IFRAME"]
    );
    assert_eq!(
        stored(&w, 11, 1, "REST_SERVICE_ID_IFRAME").1.as_deref(),
        Some("00413")
    );
}

#[test]
fn batches_hold_at_most_fifty_commands_of_changed_codes_only() {
    let w = World::with_seed(crate::seeds::many_pay_systems(120));
    let mut docs = Vec::new();
    for ps in 100..220 {
        docs.push(manifest(
            ps,
            1,
            &[
                ("PS_WORK_MODE_IFRAME", "REGULAR"),
                ("REST_SERVICE_ID_IFRAME", "x"),
            ],
        ));
    }
    w.write("m/all.yaml", &docs.join("---\n"));
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    // Up to four batches are in flight at once, so they arrive in any order: the
    // multiset of sizes and the bound are what is asserted, never the order.
    let requests = w.requests();
    let mut sizes: Vec<usize> = requests.iter().map(|r| r.batch.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [20, 50, 50]);

    // Change one code in 60 targets: two batches, each command carrying only that code.
    let mut docs = Vec::new();
    for ps in 100..220 {
        let id = if ps < 160 { "y" } else { "x" };
        docs.push(manifest(
            ps,
            1,
            &[
                ("PS_WORK_MODE_IFRAME", "REGULAR"),
                ("REST_SERVICE_ID_IFRAME", id),
            ],
        ));
    }
    w.write("m/all.yaml", &docs.join("---\n"));
    w.portal.clear_requests();
    w.run(&["apply", "--auto-approve", "m"]).expect_code(0);
    let mut sizes: Vec<usize> = w.requests().iter().map(|r| r.batch.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [10, 50]);
    for update in w.updates() {
        let codes: Vec<_> = update["SETTINGS"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(codes, ["REST_SERVICE_ID_IFRAME"]);
    }
}

#[test]
fn refresh_labels_an_out_of_band_change_and_apply_restores_it() {
    let w = World::new();
    w.write("manifests/acme.yaml", &acme());
    w.run(&["apply", "--auto-approve", "manifests"])
        .expect_code(0);
    w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "TEST");

    // Offline, the change is invisible.
    w.run(&["plan", "--detailed-exitcode", "manifests"])
        .expect_code(0);
    let plan = w.run(&["plan", "--refresh", "--detailed-exitcode", "manifests"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("~ PS_WORK_MODE_IFRAME: \"TEST\" -> \"REGULAR\" (changed outside paysync)"),
        "{}",
        plan.stdout
    );

    w.portal.clear_requests();
    w.run(&["apply", "--refresh", "--auto-approve", "manifests"])
        .expect_code(0);
    assert_eq!(
        stored(&w, 11, 1, "PS_WORK_MODE_IFRAME").1.as_deref(),
        Some("REGULAR")
    );
    let updates = w.updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["SETTINGS"].as_object().unwrap().len(), 1);
    w.run(&["plan", "--refresh", "--detailed-exitcode", "manifests"])
        .expect_code(0);
}

#[test]
fn live_value_already_desired_is_recorded_without_a_write() {
    let w = World::new();
    w.portal
        .set_setting(12, 0, "PS_WORK_MODE_IFRAME", "VALUE", "TEST");
    w.write(
        "m.yaml",
        &manifest(12, 0, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    let plan = w.run(&["plan", "--refresh", "--detailed-exitcode", "m.yaml"]);
    plan.expect_code(0);
    w.run(&["apply", "--refresh", "--auto-approve", "m.yaml"])
        .expect_code(0);
    assert!(w.updates().is_empty());
    assert!(w.read("paysync.state.json").contains("PS_WORK_MODE_IFRAME"));
    w.run(&["plan", "--detailed-exitcode", "m.yaml"])
        .expect_code(0);
}

#[test]
fn a_removed_code_is_no_longer_managed_and_left_on_the_portal() {
    let w = World::new();
    w.write("manifests/acme.yaml", &acme());
    w.run(&["apply", "--auto-approve", "manifests"])
        .expect_code(0);
    w.write("manifests/acme.yaml", &acme_with("00412", false));
    w.portal.clear_requests();

    let plan = w.run(&["plan", "--detailed-exitcode", "manifests"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains(". PAYMENT_ID (no longer managed; left as is on the portal)"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("Plan: 1 no longer managed."),
        "{}",
        plan.stdout
    );

    w.run(&["apply", "--auto-approve", "manifests"])
        .expect_code(0);
    assert!(
        w.updates().is_empty(),
        "forgetting a code must not touch the portal"
    );
    assert_eq!(
        stored(&w, 11, 1, "PAYMENT_ID").1.as_deref(),
        Some("ACCOUNT_NUMBER")
    );
    assert!(!w.read("paysync.state.json").contains("PAYMENT_ID"));
    w.run(&["plan", "--detailed-exitcode", "manifests"])
        .expect_code(0);
}

#[test]
fn an_injected_failure_leaves_the_others_applied_and_the_rerun_sends_only_it() {
    let w = World::new();
    w.write("manifests/acme.yaml", &acme());
    w.portal.inject(
        Fault::error("ACCESS_DENIED", 403, "Access denied")
            .method("sale.paysystem.settings.update")
            .pay_system(12),
    );
    let failed = w.run(&["apply", "--auto-approve", "manifests"]);
    failed.expect_code(6);
    assert!(
        failed
            .stderr
            .contains("paySystem 12 / personType 0: ACCESS_DENIED: Access denied"),
        "{}",
        failed.stderr
    );
    // The log line of a target's outcome is in that target's span.
    assert!(
        failed
            .stderr
            .contains("target{pay_system=12 person_type=0}: target failed"),
        "{}",
        failed.stderr
    );
    assert_eq!(
        stored(&w, 11, 1, "PS_WORK_MODE_IFRAME").1.as_deref(),
        Some("REGULAR")
    );
    let state = w.read("paysync.state.json");
    assert!(state.contains("\"paySystem\": 11"), "{state}");
    assert!(!state.contains("\"paySystem\": 12"), "{state}");

    w.portal.clear_faults();
    w.portal.clear_requests();
    let plan = w.run(&["plan", "manifests"]);
    assert!(
        plan.stdout
            .contains("Plan: 1 target to change, 2 settings (2 to add, 0 to change)."),
        "{}",
        plan.stdout
    );
    w.run(&["apply", "--auto-approve", "manifests"])
        .expect_code(0);
    let updates = w.updates();
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert!(
        updates[0]["ID"] == 12 || updates[0]["ID"] == "12",
        "{updates:#?}"
    );
    w.run(&["plan", "--detailed-exitcode", "manifests"])
        .expect_code(0);
}

#[test]
fn result_false_is_a_failure_and_is_not_recorded() {
    let w = World::new();
    w.write(
        "m.yaml",
        &manifest(
            11,
            1,
            &[("PS_WORK_MODE_IFRAME", "REGULAR"), ("PAYMENT_ID", "x")],
        ),
    );
    w.portal.inject(
        Fault::result_false()
            .method("sale.paysystem.settings.update")
            .pay_system(11),
    );
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(6);
    assert!(out.stderr.contains("instead of true"), "{}", out.stderr);
    assert!(!w.read("paysync.state.json").contains("PAYMENT_ID"));
}

#[test]
fn a_built_in_pay_system_fails_with_the_portal_code() {
    let w = World::new();
    w.write("m.yaml", &manifest(1, 1, &[("X", "y")]));
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(6);
    assert!(
        out.stderr
            .contains("paySystem 1 / personType 1: ACCESS_DENIED"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("m.yaml:1"), "{}", out.stderr);
}

#[test]
fn refresh_understands_the_documented_plain_string_shape() {
    let w = World::new();
    w.write("manifests/acme.yaml", &acme());
    w.run(&["apply", "--auto-approve", "manifests"])
        .expect_code(0);
    w.portal
        .set_settings_shape(paysync_emulator::SettingsShape::String);
    w.run(&["plan", "--refresh", "--detailed-exitcode", "manifests"])
        .expect_code(0);
    w.portal
        .set_setting(11, 1, "REST_SERVICE_ID_IFRAME", "VALUE", "99999");
    let plan = w.run(&["plan", "--refresh", "--detailed-exitcode", "manifests"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("~ REST_SERVICE_ID_IFRAME: \"99999\" -> \"00412\" (changed outside paysync)"),
        "{}",
        plan.stdout
    );
}

/// Regression (issue 12.1): inside `batch` the portal substitutes `$result[key]` and
/// `$error[key]` in a sub-call's parameters after decoding them, so a value that merely
/// looks like a reference was stored as something else ("$result[ps100_pt1]" became
/// "1", the earlier sub-call's `true`), apply said it was done and the next refresh
/// showed drift. Such a write now goes as a direct call, a secret's value included; the
/// other targets still ride in one batch.
#[test]
fn a_value_that_looks_like_a_batch_reference_lands_exactly() {
    let w = World::with_seed(crate::seeds::many_pay_systems(4));
    let by_reference = "$result[ps100_pt1]";
    let in_text = "a $error[ps100_pt1][error] b";
    let secret = "$RESULT[ps100_pt1][0]";
    w.write("keys/k.txt", secret);
    w.write(
        "m.yaml",
        &Manifest::new()
            .target(100, 1)
            .literal("REST_SERVICE_ID_IFRAME", "plain")
            .target(101, 1)
            .literal("REST_SERVICE_ID_IFRAME", by_reference)
            .target(102, 1)
            .source("REST_SERVICE_ID_IFRAME", "VALUE", in_text)
            .target(103, 1)
            .literal("REST_SERVICE_ID_IFRAME", "plain too")
            .secret("REST_SERVICE_KEY_IFRAME", "file:keys/k.txt")
            .text(),
    );
    let out = w.run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(0);
    for (ps, code, value) in [
        (100, "REST_SERVICE_ID_IFRAME", "plain"),
        (101, "REST_SERVICE_ID_IFRAME", by_reference),
        (102, "REST_SERVICE_ID_IFRAME", in_text),
        (103, "REST_SERVICE_ID_IFRAME", "plain too"),
        (103, "REST_SERVICE_KEY_IFRAME", secret),
    ] {
        assert_eq!(
            stored(&w, ps, 1, code),
            (Some("VALUE".into()), Some(value.into())),
            "{ps}/1 {code}"
        );
    }
    // One batch for the plain target, one direct call for each of the others. They are
    // in flight together, so they arrive in any order: counted, not lined up.
    let requests = w.requests();
    let mut methods: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    methods.sort_unstable();
    assert_eq!(
        methods,
        [
            "batch",
            "sale.paysystem.settings.update",
            "sale.paysystem.settings.update",
            "sale.paysystem.settings.update"
        ],
        "{}",
        out.stderr
    );
    let batches: Vec<_> = requests.iter().filter(|r| r.method == "batch").collect();
    assert_eq!(batches[0].batch.len(), 1);
    // The state records what the portal holds: a refresh finds nothing to do.
    let plan = w.run(&["plan", "--refresh", "m.yaml"]);
    plan.expect_code(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
}
