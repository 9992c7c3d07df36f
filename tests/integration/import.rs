//! `paysync import`: live settings → manifests that round-trip (apply plans nothing, sends
//! no write), secrets written as references and never as values, `--adopt`, `--all`, and
//! refusing to overwrite.

use std::path::PathBuf;

use paysync_emulator::SettingsShape;

use crate::support::{CANARY, Outcome, World, manifest};

const KEY_VAR: &str = "PAYSYNC_PS11_PT1_REST_SERVICE_KEY_IFRAME";

/// 11/1: literals, a canary secret and a PAYMENT source; 12/0: defaults for pay system 12.
fn seeded() -> World {
    let w = World::new();
    w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "REGULAR");
    w.portal
        .set_setting(11, 1, "REST_SERVICE_ID_IFRAME", "VALUE", "00412");
    w.portal
        .set_setting(11, 1, "REST_SERVICE_KEY_IFRAME", "VALUE", CANARY);
    w.portal.set_setting(11, 1, "PAYMENT_ID", "PAYMENT", "ID");
    w.portal
        .set_setting(12, 0, "PS_WORK_MODE_IFRAME", "VALUE", "TEST");
    w.portal
        .set_setting(12, 0, "PS_CHANGE_STATUS_PAY", "VALUE", "N");
    w
}

/// Runs paysync at trace level and asserts the canary is in neither stream.
fn run_traced(w: &World, args: &[&str], key: Option<&str>) -> Outcome {
    let out = w
        .cmd()
        .env("RUST_LOG", "trace")
        .arg("-vv")
        .args(args)
        .env_opt(KEY_VAR, key)
        .run();
    out.assert_hides(&[CANARY]);
    out
}

fn run_with_key(w: &World, args: &[&str]) -> Outcome {
    w.cmd().env(KEY_VAR, CANARY).args(args).run()
}

fn settings_get_ids(w: &World) -> Vec<String> {
    w.portal
        .requests()
        .iter()
        .flat_map(|r| r.batch.iter())
        .filter(|c| c.method == "sale.paysystem.settings.get")
        .map(|c| c.params["ID"].to_string().trim_matches('"').to_owned())
        .collect()
}

#[test]
fn imported_manifests_round_trip_and_never_hold_the_secret() {
    let w = seeded();
    let out = run_traced(
        &w,
        &["import", "--target", "11:1", "--target", "12:0"],
        None,
    );
    out.expect_code(0);
    assert!(out.stdout.contains(KEY_VAR), "{}", out.stdout);

    let eleven = w.read("manifests/paysystem-11.yaml");
    let twelve = w.read("manifests/paysystem-12.yaml");
    for text in [&eleven, &twelve] {
        assert!(
            text.starts_with("# yaml-language-server: $schema="),
            "{text}"
        );
        assert!(
            !text.contains(CANARY),
            "the secret leaked into a file:\n{text}"
        );
    }
    assert!(
        eleven.contains(&format!(
            "REST_SERVICE_KEY_IFRAME: {{secret: \"env:{KEY_VAR}\"}}"
        )),
        "{eleven}"
    );
    assert!(
        eleven.contains("PAYMENT_ID: {type: \"PAYMENT\", value: \"ID\"}"),
        "{eleven}"
    );
    assert!(
        eleven.contains("REST_SERVICE_ID_IFRAME: \"00412\""),
        "{eleven}"
    );
    assert!(twelve.contains("PS_CHANGE_STATUS_PAY: \"N\""), "{twelve}");

    // The files load and validate.
    let desired = paysync::manifest::load(&[w.path("manifests")]).expect("imported manifests load");
    let targets: Vec<(u64, u64)> = desired
        .targets
        .keys()
        .map(|t| (t.pay_system, t.person_type))
        .collect();
    assert_eq!(targets, [(11, 1), (12, 0)]);
    assert_eq!(
        desired
            .targets
            .values()
            .map(|t| t.settings.len())
            .sum::<usize>(),
        6
    );

    // Apply right after the import: everything is already there, nothing is written.
    w.portal.clear_requests();
    run_traced(
        &w,
        &["apply", "--refresh", "--auto-approve", "manifests"],
        Some(CANARY),
    )
    .expect_code(0);
    assert!(w.updates().is_empty(), "{:#?}", w.updates());
    let plan = run_with_key(&w, &["plan", "--detailed-exitcode", "manifests"]);
    plan.expect_code(0);
    assert_eq!(plan.stdout.trim(), "No changes.");
    let refreshed = run_with_key(
        &w,
        &["plan", "--refresh", "--detailed-exitcode", "manifests"],
    );
    refreshed.expect_code(0);
    assert!(
        refreshed.stdout.contains("No changes."),
        "{}",
        refreshed.stdout
    );
    assert!(!w.read("paysync.state.json").contains(CANARY));
}

#[test]
fn adopt_makes_the_first_plan_empty_without_an_apply() {
    let w = seeded();
    run_traced(&w, &["import", "--all", "--adopt"], None).expect_code(0);
    assert!(w.updates().is_empty());
    let state = w.read("paysync.state.json");
    assert!(!state.contains(CANARY), "{state}");
    assert!(state.contains(&format!("env:{KEY_VAR}")), "{state}");

    let plan = run_with_key(&w, &["plan", "--detailed-exitcode", "manifests"]);
    plan.expect_code(0);
    assert_eq!(plan.stdout.trim(), "No changes.");
    let refreshed = run_with_key(
        &w,
        &["plan", "--refresh", "--detailed-exitcode", "manifests"],
    );
    refreshed.expect_code(0);
    assert!(
        refreshed.stdout.contains("No changes."),
        "{}",
        refreshed.stdout
    );

    // Without the variable the secret cannot be compared: not checked, but nothing to change.
    let unchecked = w.run(&["plan", "--detailed-exitcode", "manifests"]);
    unchecked.expect_code(0);
    assert!(
        unchecked.stdout.contains("not checked"),
        "{}",
        unchecked.stdout
    );
    assert!(w.updates().is_empty());
}

#[test]
fn all_covers_rest_pay_systems_and_skips_the_built_in_one() {
    let w = seeded();
    let out = w.run(&["import", "--all", "--out", "imported"]);
    out.expect_code(0);
    assert!(w.path("imported/paysystem-11.yaml").exists());
    assert!(w.path("imported/paysystem-12.yaml").exists());
    assert!(!w.path("imported/paysystem-1.yaml").exists());
    let ids = settings_get_ids(&w);
    assert!(!ids.iter().any(|id| id == "1"), "{ids:?}");
    // personType 0 and both payer types of both REST pay systems were read.
    assert_eq!(ids.len(), 6, "{ids:?}");
    assert!(w.calls().iter().any(|(m, _)| m == "sale.persontype.list"));
    // Targets with nothing of their own (only inherited values) are skipped.
    let desired = paysync::manifest::load(&[w.path("imported")]).unwrap();
    // Named by XML_ID, as are the pay systems written beside them (and their handler).
    let targets: Vec<String> = desired
        .pending
        .iter()
        .map(|t| t.reference.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(
        targets,
        ["xmlId:acme_card_b2c/1", "xmlId:acme_card_b2b/0"],
        "{}",
        out.stdout
    );
    assert_eq!(
        desired.objects.pay_systems.keys().collect::<Vec<_>>(),
        ["acme_card_b2b", "acme_card_b2c"]
    );
    assert_eq!(
        desired.objects.handlers.keys().collect::<Vec<_>>(),
        ["acmepay"]
    );
    assert!(out.stdout.contains("Skipped 4 targets"), "{}", out.stdout);
}

#[test]
fn inherited_values_are_written_once_unless_asked() {
    let w = World::new();
    w.portal
        .set_setting(11, 0, "PS_WORK_MODE_IFRAME", "VALUE", "TEST");
    w.portal
        .set_setting(11, 1, "REST_SERVICE_ID_IFRAME", "VALUE", "7");
    w.run(&["import", "--target", "11:0", "--target", "11:1"])
        .expect_code(0);
    let text = w.read("manifests/paysystem-11.yaml");
    assert_eq!(text.matches("PS_WORK_MODE_IFRAME").count(), 1, "{text}");
    assert!(
        !text.contains("PAYMENT_ID"),
        "handler DEFAULT left out:\n{text}"
    );

    w.run(&[
        "import",
        "--target",
        "11:0",
        "--target",
        "11:1",
        "--include-inherited",
        "--force",
    ])
    .expect_code(0);
    let text = w.read("manifests/paysystem-11.yaml");
    assert_eq!(text.matches("PS_WORK_MODE_IFRAME").count(), 2, "{text}");
    assert_eq!(text.matches("PAYMENT_ID").count(), 2, "{text}");
    w.run(&["apply", "--refresh", "--auto-approve", "manifests"])
        .expect_code(0);
    assert!(w.updates().is_empty(), "{:#?}", w.updates());
}

#[test]
fn the_plain_string_shape_imports_as_literals() {
    let w = World::new();
    w.portal.set_settings_shape(SettingsShape::String);
    w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "REGULAR");
    w.run(&["import", "--pay-system", "11", "--person-type", "1"])
        .expect_code(0);
    let text = w.read("manifests/paysystem-11.yaml");
    assert!(text.contains("PS_WORK_MODE_IFRAME: \"REGULAR\""), "{text}");
    w.run(&["apply", "--refresh", "--auto-approve", "manifests"])
        .expect_code(0);
    assert!(w.updates().is_empty(), "{:#?}", w.updates());
    let plan = w.run(&["plan", "--refresh", "manifests"]);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
}

#[test]
fn import_refuses_to_overwrite_without_force() {
    let w = seeded();
    let existing: PathBuf = w.write("manifests/paysystem-11.yaml", "# mine\n");
    let out = w.run(&["import", "--target", "11:1"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("already exists") && out.stderr.contains("--force"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "# mine\n");
    w.run(&["import", "--target", "11:1", "--force"])
        .expect_code(0);
    assert!(
        w.read("manifests/paysystem-11.yaml")
            .contains("paySystem: 11")
    );
}

#[test]
fn a_built_in_pay_system_is_refused() {
    let w = World::new();
    let out = w.run(&["import", "--pay-system", "1", "--person-type", "1"]);
    out.expect_code(1);
    assert!(out.stderr.contains("built-in handler"), "{}", out.stderr);
    assert!(!w.path("manifests").exists());
}

#[test]
fn a_code_named_with_secret_is_written_as_a_reference() {
    let w = World::new();
    w.portal
        .set_setting(12, 0, "REST_SERVICE_ID_IFRAME", "VALUE", CANARY);
    let out = w.run(&[
        "import",
        "--target",
        "12:0",
        "--secret",
        "rest_service_id_iframe",
    ]);
    out.expect_code(0);
    let text = w.read("manifests/paysystem-12.yaml");
    assert!(!text.contains(CANARY), "{text}");
    assert!(
        text.contains("secret: \"env:PAYSYNC_PS12_PT0_REST_SERVICE_ID_IFRAME\""),
        "{text}"
    );
    assert!(
        out.stdout
            .contains("PAYSYNC_PS12_PT0_REST_SERVICE_ID_IFRAME"),
        "{}",
        out.stdout
    );
}

#[test]
fn adopt_into_another_portals_state_writes_nothing() {
    let w = seeded();
    w.run(&["import", "--target", "11:1", "--adopt"])
        .expect_code(0);
    let state = w.read("paysync.state.json");
    let portal = w.portal.base_url();
    let portal = portal.trim_end_matches('/');
    assert!(state.contains(portal), "{state}");
    let foreign = state.replace(portal, "https://other.bitrix24.com");
    w.write("paysync.state.json", &foreign);
    let out = w.run(&["import", "--target", "12:0", "--adopt", "--out", "other"]);
    out.expect_code(1);
    assert!(out.stderr.contains("other.bitrix24.com"), "{}", out.stderr);
    assert!(!w.path("other").exists());
    assert_eq!(w.read("paysync.state.json"), foreign);
}

#[test]
fn unpaired_pay_system_and_person_type_flags_are_a_usage_error() {
    let w = World::new();
    let out = w.run(&[
        "import",
        "--pay-system",
        "11",
        "--person-type",
        "1",
        "--person-type",
        "2",
    ]);
    out.expect_code(64);
    assert!(out.stderr.contains("in pairs"), "{}", out.stderr);
}

#[test]
fn all_skips_pay_systems_the_portal_refuses_but_an_explicit_target_fails() {
    let w = seeded();
    w.portal.inject(
        paysync_emulator::Fault::error("ACCESS_DENIED", 403, "Access denied")
            .method("sale.paysystem.settings.get")
            .pay_system(12)
            .forever(),
    );
    let out = w.run(&["import", "--all"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains(
            "Skipped 3 targets the portal refused to read (ACCESS_DENIED): 12:0, 12:1, 12:2."
        ),
        "{}",
        out.stdout
    );
    assert!(w.path("manifests/paysystem-11.yaml").exists());
    assert!(!w.path("manifests/paysystem-12.yaml").exists());

    let out = w.run(&["import", "--target", "12:0", "--out", "explicit"]);
    out.expect_code(1);
    assert!(out.stderr.contains("ACCESS_DENIED"), "{}", out.stderr);
    assert!(!w.path("explicit").exists());
}

/// ACTION_FILE `ACMEPAY` names the handler `acmepay`: the portal and `validate --live`
/// compare handler codes without regard to case, and so does import (it used to look the
/// handler up exactly and call the pay system built-in).
#[test]
fn import_matches_handler_codes_regardless_of_case() {
    let mut seed = paysync_emulator::Seed::demo();
    for ps in &mut seed.pay_systems {
        if ps.id == 11 {
            ps.action_file = ps.action_file.to_uppercase();
            assert_ne!(ps.action_file, seed.handlers[0].code, "the case differs");
        }
    }
    let w = World::with_seed(seed);
    w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "REGULAR");
    w.write(
        "m/acme.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    w.run(&["validate", "--live", "m"]).expect_code(0);

    let out = w.run(&["import", "--target", "11:1"]);
    out.expect_code(0);
    let text = w.read("manifests/paysystem-11.yaml");
    assert!(text.contains("PS_WORK_MODE_IFRAME: \"REGULAR\""), "{text}");

    let out = w.run(&["import", "--all", "--out", "all", "--force"]);
    out.expect_code(0);
    assert!(w.path("all/paysystem-11.yaml").exists(), "{}", out.stdout);
}
