//! Environments (issue 11): one repository, a test portal and a production portal whose
//! pay-system and payer-type IDs differ but whose XML_IDs match, a project file, base
//! manifests naming targets by reference, an overlay per environment, subsets and
//! protection.

use paysync_emulator::{EmulatorHandle, Seed};

use crate::support::{Outcome, World, manifest};

/// The test portal is the demo (AcmePay card b2c = 11, payer type 1 "Individual"); the
/// production portal has the same pay systems and payer types under other IDs (21 and
/// 7), with the same XML_IDs and codes.
fn portals() -> (EmulatorHandle, EmulatorHandle) {
    let mut test = Seed::demo();
    for p in &mut test.person_types {
        p.xml_id = Some(if p.id == 1 { "fiz" } else { "ur" }.to_owned());
    }
    let mut prod = test.clone();
    for ps in &mut prod.pay_systems {
        ps.id += 10;
        ps.person_type_id += 6;
    }
    for pt in &mut prod.person_types {
        pt.id += 6;
    }
    (
        EmulatorHandle::start(test).unwrap(),
        EmulatorHandle::start(prod).unwrap(),
    )
}

const PROJECT: &str = "\
apiVersion: paysync/v1
kind: Project
environments:
  test:
    sources: [manifests, envs/test]
    state: state/test.state.json
    credentials: { PAYSYNC_WEBHOOK_URL: TEST_WEBHOOK_URL }
  prod:
    sources: [manifests, envs/prod]
    state: state/prod.state.json
    credentials: { PAYSYNC_WEBHOOK_URL: PROD_WEBHOOK_URL }
";

const BASE: &str = "\
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: { xmlId: acme_card_b2c }
personType: { xmlId: fiz }
settings:
  PS_WORK_MODE_IFRAME: TEST
  REST_SERVICE_ID_IFRAME: \"00412\"
  PS_CHANGE_STATUS_PAY: Y
";

const PROD: &str = "\
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: { xmlId: acme_card_b2c }
personType: { xmlId: fiz }
settings:
  PS_WORK_MODE_IFRAME: REGULAR
  PS_CHANGE_STATUS_PAY: { remove: true }
";

/// A world with the project: base manifests, an empty test overlay and a prod overlay.
fn project(w: &World) {
    w.write("paysync.yaml", PROJECT);
    w.write("manifests/acme.yaml", BASE);
    std::fs::create_dir_all(w.path("envs/test")).unwrap();
    w.write("envs/prod/acme.yaml", PROD);
}

/// paysync in the world, with both portals' webhooks in their own variables and no
/// PAYSYNC_WEBHOOK_URL.
fn run(w: &World, test: &EmulatorHandle, prod: &EmulatorHandle, args: &[&str]) -> Outcome {
    w.cmd()
        .env_remove("PAYSYNC_WEBHOOK_URL")
        .env("TEST_WEBHOOK_URL", test.webhook_url())
        .env("PROD_WEBHOOK_URL", prod.webhook_url())
        .args(args)
        .run()
}

/// `apply --env ENV --auto-approve`, which must succeed.
fn apply(w: &World, test: &EmulatorHandle, prod: &EmulatorHandle, env: &str) {
    run(w, test, prod, &["apply", "--env", env, "--auto-approve"]).expect_code(0);
}

fn update_count(portal: &EmulatorHandle) -> usize {
    portal
        .requests()
        .iter()
        .flat_map(|r| {
            r.batch
                .iter()
                .map(|c| c.method.clone())
                .chain([r.method.clone()])
        })
        .filter(|m| m == "sale.paysystem.settings.update")
        .count()
}

#[test]
fn one_project_applies_each_environment_to_its_own_ids_and_plans_offline() {
    let w = World::new();
    let (test, prod) = portals();
    project(&w);

    apply(&w, &test, &prod, "test");
    apply(&w, &test, &prod, "prod");

    // Each portal holds its values under its own IDs.
    let value = |p: &EmulatorHandle, ps, pt, code| p.setting(ps, pt, code).and_then(|(_, v)| v);
    assert_eq!(
        value(&test, 11, 1, "PS_WORK_MODE_IFRAME").as_deref(),
        Some("TEST")
    );
    assert_eq!(
        value(&test, 11, 1, "PS_CHANGE_STATUS_PAY").as_deref(),
        Some("Y")
    );
    assert_eq!(
        value(&prod, 21, 7, "PS_WORK_MODE_IFRAME").as_deref(),
        Some("REGULAR")
    );
    assert_eq!(
        value(&prod, 21, 7, "REST_SERVICE_ID_IFRAME").as_deref(),
        Some("00412")
    );
    assert_eq!(
        value(&prod, 21, 7, "PS_CHANGE_STATUS_PAY"),
        None,
        "removed by the overlay"
    );
    assert_eq!(value(&prod, 11, 1, "PS_WORK_MODE_IFRAME"), None);

    // Each state records its own resolution.
    for (env, ps, pt) in [("test", 11, 1), ("prod", 21, 7)] {
        let state: serde_json::Value =
            serde_json::from_str(&w.read(&format!("state/{env}.state.json"))).unwrap();
        let t = &state["targets"][0];
        assert_eq!(
            (t["paySystem"].as_u64(), t["personType"].as_u64()),
            (Some(ps), Some(pt))
        );
        assert_eq!(t["reference"], "xmlId:acme_card_b2c/xmlId:fiz", "{state}");
        assert_eq!(t["manifest"], "manifests/acme.yaml", "{state}");
    }

    // Offline, with no credentials at all: no changes.
    let out = w
        .cmd()
        .env_remove("PAYSYNC_WEBHOOK_URL")
        .args(["plan", "--env", "prod", "--detailed-exitcode"])
        .run();
    out.expect_code(0);
    assert!(out.stdout.contains("No changes."), "{}", out.stdout);

    // The plan shows where each value comes from: the overlay's code from the overlay.
    w.write("envs/prod/acme.yaml", &PROD.replace("REGULAR", "TEST"));
    let out = run(
        &w,
        &test,
        &prod,
        &["plan", "--env", "prod", "--format", "json"],
    );
    out.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["environment"], "prod");
    let change = &doc["targets"][0]["changes"][0];
    assert_eq!(change["code"], "PS_WORK_MODE_IFRAME");
    assert_eq!(change["manifest"], "envs/prod/acme.yaml:6", "{doc}");
    assert_eq!(doc["targets"][0]["pay_system"], 21);
    let text = run(&w, &test, &prod, &["plan", "--env", "prod"]).stdout;
    assert!(
        text.contains("~ PS_WORK_MODE_IFRAME: \"REGULAR\" -> \"TEST\"  (envs/prod/acme.yaml:6)"),
        "{text}"
    );
    let md = run(
        &w,
        &test,
        &prod,
        &["plan", "--env", "prod", "--format", "markdown"],
    )
    .stdout;
    assert!(
        md.contains("! PS_WORK_MODE_IFRAME: \"REGULAR\" -> \"TEST\"  (from envs/prod/acme.yaml:6)"),
        "{md}"
    );
}

#[test]
fn a_reference_unknown_on_one_portal_is_a_located_error_and_nothing_is_written() {
    let w = World::new();
    let (test, prod) = portals();
    project(&w);
    // Only the test portal has this pay system.
    w.write(
        "manifests/extra.yaml",
        &BASE.replace("acme_card_b2c", "only_on_test"),
    );
    let out = run(
        &w,
        &test,
        &prod,
        &["apply", "--env", "prod", "--auto-approve"],
    );
    out.expect_code(3);
    assert!(
        out.stderr.contains("manifests/extra.yaml:1:1") && out.stderr.contains("unknown-reference"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("only_on_test"), "{}", out.stderr);
    assert_eq!(update_count(&prod), 0);
    assert!(!w.path("state/prod.state.json").exists());
}

#[test]
fn a_subset_never_forgets_what_it_did_not_read() {
    let w = World::new();
    w.write(
        "manifests/a.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    w.write(
        "manifests/b.yaml",
        &format!(
            "{}---\n{}",
            manifest(12, 0, &[("PS_WORK_MODE_IFRAME", "TEST")]),
            manifest(12, 2, &[("PS_WORK_MODE_IFRAME", "TEST")])
        ),
    );
    w.run(&["apply", "--auto-approve", "manifests"])
        .expect_code(0);

    // One file given: the other file's targets are not "no longer managed".
    w.write(
        "manifests/a.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let one_file = w.run(&["plan", "manifests/a.yaml"]);
    insta::assert_snapshot!(one_file.snapshot(), @r#"
    exit code 0
    --- stdout
    Needs attention:
      ! paySystem 11 / personType 1  PS_WORK_MODE_IFRAME: key or mode changes  (manifests/a.yaml:6)

    paySystem 11 / personType 1  (manifests/a.yaml:1)
      ~ PS_WORK_MODE_IFRAME: "TEST" -> "REGULAR"

    Plan: 1 target to change, 1 setting (0 to add, 1 to change).
    --- stderr
    "#);

    // --target: only that target, even with every file read.
    let out = w.run(&["plan", "--target", "12:0", "manifests"]);
    insta::assert_snapshot!(out.snapshot(), @"
    exit code 0
    --- stdout
    No changes.
    --- stderr
    ");
    // The same plan as of the one file.
    let out = w.run(&["plan", "--target", "11:1", "manifests"]);
    assert_eq!(out.snapshot(), one_file.snapshot());

    w.run(&["apply", "--auto-approve", "--target", "11:1", "manifests"])
        .expect_code(0);
    assert_eq!(
        w.portal_value(11, 1, "PS_WORK_MODE_IFRAME").as_deref(),
        Some("REGULAR")
    );

    // A document deleted from a file that was read is still forgotten.
    w.write(
        "manifests/b.yaml",
        &manifest(12, 0, &[("PS_WORK_MODE_IFRAME", "TEST")]),
    );
    let out = w.run(&["plan", "manifests/b.yaml"]);
    insta::assert_snapshot!(out.snapshot(), @"
    exit code 0
    --- stdout
    Needs attention:
      ! paySystem 12 / personType 2  PS_WORK_MODE_IFRAME: no longer managed: left as is on the portal, no longer checked  (no longer declared in the manifests)

    paySystem 12 / personType 2
      . PS_WORK_MODE_IFRAME (no longer managed; left as is on the portal)

    Plan: 1 no longer managed.
    --- stderr
    ");
}

#[test]
fn where_it_writes_is_said_and_a_plan_for_another_environment_is_refused() {
    let w = World::new();
    let (test, prod) = portals();
    project(&w);
    let out = run(
        &w,
        &test,
        &prod,
        &[
            "plan",
            "--env",
            "test",
            "--refresh",
            "--out",
            "plan-test.json",
        ],
    );
    out.expect_code(0);
    let out = run(
        &w,
        &test,
        &prod,
        &["plan", "--env", "test", "--refresh", "--format", "json"],
    );
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["environment"], "test");
    assert_eq!(doc["portal"], test.base_url());
    let md = run(
        &w,
        &test,
        &prod,
        &["plan", "--env", "test", "--refresh", "--format", "markdown"],
    )
    .stdout;
    let host = test.base_url().replace("http://", "").replace(':', "&#58;");
    assert!(
        md.contains(&format!(
            "portal <code>{host}</code> · environment <code>test</code>"
        )),
        "{md}"
    );

    let text = run(&w, &test, &prod, &["plan", "--env", "test", "--refresh"]).stdout;
    let host = test.base_url().replace("http://", "");
    assert!(
        text.starts_with(&format!("Environment test · portal {host}\n\n")),
        "{text}"
    );
    let before = prod.requests().len();
    let out = run(
        &w,
        &test,
        &prod,
        &["apply", "--env", "prod", "--plan", "plan-test.json"],
    );
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("made for environment test, not environment prod"),
        "{}",
        out.stderr
    );
    assert_eq!(prod.requests().len(), before, "no request to prod");
    assert_eq!(test.requests().len(), test.requests().len());
    // The right environment applies it.
    run(
        &w,
        &test,
        &prod,
        &["apply", "--env", "test", "--plan", "plan-test.json"],
    )
    .expect_code(0);
}

#[test]
fn a_protected_environment_applies_only_a_saved_plan() {
    let w = World::new();
    let (test, prod) = portals();
    project(&w);
    w.write("paysync.yaml", &format!("{PROJECT}    protected: true\n"));
    let out = run(
        &w,
        &test,
        &prod,
        &["apply", "--env", "prod", "--auto-approve"],
    );
    out.expect_code(1);
    assert!(
        out.stderr.contains("environment prod is protected"),
        "{}",
        out.stderr
    );
    assert!(prod.requests().is_empty());
    run(
        &w,
        &test,
        &prod,
        &["plan", "--env", "prod", "--refresh", "--out", "p.json"],
    )
    .expect_code(0);
    run(
        &w,
        &test,
        &prod,
        &["apply", "--env", "prod", "--plan", "p.json"],
    )
    .expect_code(0);
    assert_eq!(
        prod.setting(21, 7, "PS_WORK_MODE_IFRAME")
            .and_then(|(_, v)| v)
            .as_deref(),
        Some("REGULAR")
    );
}

#[test]
fn the_project_file_is_checked_with_its_location_and_environments_are_listed() {
    let w = World::new();
    w.write(
        "paysync.yaml",
        &PROJECT.replace("state: state/prod", "stat: state/prod"),
    );
    let out = w.run(&["plan", "--env", "prod"]);
    insta::assert_snapshot!(out.snapshot(), @"
    exit code 3
    --- stdout
    --- stderr
    error[invalid-value]: invalid project file: unknown field `stat`, expected one of portal, sources, state, credentials, rate, protected
      --> paysync.yaml:10:5
       |
    10 |     stat: state/prod.state.json
       |     ^

    error: 1 problem found in 1 file; nothing was written to the portal
    ");
    // A misspelt variable would be ignored (and the portal's read under paysync's own
    // name): it is refused, with the ones an environment maps.
    w.write(
        "paysync.yaml",
        &PROJECT.replace(
            "{ PAYSYNC_WEBHOOK_URL: PROD_WEBHOOK_URL }",
            "{ PAYSYNC_WEBHOK_URL: PROD_WEBHOOK_URL }",
        ),
    );
    let out = w.run(&["plan", "--env", "prod"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit code 3
    --- stdout
    --- stderr
    error[invalid-value]: invalid project file: "PAYSYNC_WEBHOK_URL" is not one of paysync's variables an environment maps (did you mean `PAYSYNC_WEBHOOK_URL`?): PAYSYNC_WEBHOOK_URL, PAYSYNC_PORTAL_URL, PAYSYNC_ACCESS_TOKEN, PAYSYNC_REFRESH_TOKEN, PAYSYNC_CLIENT_ID, PAYSYNC_CLIENT_SECRET, PAYSYNC_OAUTH_URL, PAYSYNC_TOKEN_FILE, PAYSYNC_FINGERPRINT_KEY, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, PAYSYNC_STATE_USERNAME, PAYSYNC_STATE_PASSWORD, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE
      --> paysync.yaml:11:18
       |
    11 |     credentials: { PAYSYNC_WEBHOK_URL: PROD_WEBHOOK_URL }
       |                  ^

    error: 1 problem found in 1 file; nothing was written to the portal
    "#);
    w.write("paysync.yaml", PROJECT);
    let out = w.run(&["plan"]);
    insta::assert_snapshot!(out.snapshot(), @"
    exit code 64
    --- stdout
    --- stderr
    error: paysync.yaml declares environments (prod, test): choose one with --env NAME (or PAYSYNC_ENV)
    ");
    let out = w.run(&["plan", "--env", "stage"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit code 64
    --- stdout
    --- stderr
    error: paysync.yaml has no environment "stage"; it has: prod, test
    "#);
    let out = w.run(&["env", "list"]);
    insta::assert_snapshot!(out.snapshot(), @"
    exit code 0
    --- stdout
    Environments of paysync.yaml:

    prod
      portal:      not pinned (any portal its credentials point at)
      sources:     manifests, envs/prod
      state:       state/prod.state.json
      credentials: PAYSYNC_WEBHOOK_URL from $PROD_WEBHOOK_URL

    test
      portal:      not pinned (any portal its credentials point at)
      sources:     manifests, envs/test
      state:       state/test.state.json
      credentials: PAYSYNC_WEBHOOK_URL from $TEST_WEBHOOK_URL
    --- stderr
    ");
}

#[test]
fn import_portable_writes_references_that_plan_and_apply_on_another_portal() {
    let (test, prod) = portals();
    let w = World::new();
    // Settings on the test portal, imported portably and adopted.
    let run_on = |portal: &EmulatorHandle, args: &[&str]| {
        w.cmd()
            .env("PAYSYNC_WEBHOOK_URL", portal.webhook_url())
            .args(args)
            .run()
    };
    w.write(
        "seed/m.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    run_on(
        &test,
        &["apply", "--auto-approve", "--state", "seed.json", "seed"],
    )
    .expect_code(0);
    run_on(
        &test,
        &[
            "import",
            "--portable",
            "--target",
            "11:1",
            "--out",
            "manifests",
            "--adopt",
        ],
    )
    .expect_code(0);
    let text = w.read("manifests/paysystem-11.yaml");
    assert!(
        text.contains("paySystem: {xmlId: \"acme_card_b2c\"}"),
        "{text}"
    );
    assert!(text.contains("personType: {xmlId: \"fiz\"}"), "{text}");
    // Offline, the adopted state resolves the reference: nothing to do.
    let out = w.run(&["plan", "manifests"]);
    assert!(out.stdout.contains("No changes."), "{}", out.stdout);
    // The same manifest applies to the production portal's own IDs.
    run_on(
        &prod,
        &[
            "apply",
            "--auto-approve",
            "--state",
            "prod.json",
            "manifests",
        ],
    )
    .expect_code(0);
    assert_eq!(
        prod.setting(21, 7, "PS_WORK_MODE_IFRAME")
            .and_then(|(_, v)| v)
            .as_deref(),
        Some("REGULAR")
    );
}

/// A reference the state recorded for another target (the pay system was re-created
/// under a new ID): said, planned for the new target, never written to the old one.
#[test]
fn a_reference_that_moved_is_shown_and_never_written_to_the_old_id() {
    let w = World::new();
    let (test, prod) = portals();
    project(&w);
    apply(&w, &test, &prod, "test");
    // Pretend the state recorded the reference for pay system 13 (since re-created as 11).
    let state = w
        .read("state/test.state.json")
        .replace("\"paySystem\": 11", "\"paySystem\": 13");
    w.write("state/test.state.json", &state);
    test.clear_requests();
    let out = run(&w, &test, &prod, &["plan", "--env", "test", "--refresh"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains(
            "Warning: xmlId:acme_card_b2c/xmlId:fiz is now paySystem 11 / personType 1 (the state recorded paySystem 13 / personType 1)"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("no longer managed"), "{}", out.stdout);
    run(
        &w,
        &test,
        &prod,
        &["apply", "--env", "test", "--auto-approve", "--refresh"],
    )
    .expect_code(0);
    let written: Vec<String> = test
        .requests()
        .iter()
        .flat_map(|r| r.batch.clone())
        .filter(|c| c.method == "sale.paysystem.settings.update")
        .map(|c| c.params["ID"].to_string())
        .collect();
    assert!(written.iter().all(|id| id.contains("11")), "{written:?}");
    assert!(test.setting(13, 1, "PS_WORK_MODE_IFRAME").is_none());
    let state: serde_json::Value = serde_json::from_str(&w.read("state/test.state.json")).unwrap();
    let targets = state["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "{state}");
    assert_eq!(targets[0]["paySystem"], 11, "{state}");
    assert_eq!(
        targets[0]["reference"], "xmlId:acme_card_b2c/xmlId:fiz",
        "{state}"
    );
}

/// Offline and never applied, a reference cannot be resolved: the plan shows the target
/// "resolved at apply" with its settings, and apply of that saved plan resolves it.
#[test]
fn an_unresolved_reference_is_planned_as_resolved_at_apply() {
    let w = World::new();
    let (test, prod) = portals();
    project(&w);
    let out = w
        .cmd()
        .env_remove("PAYSYNC_WEBHOOK_URL")
        .args(["plan", "--env", "prod", "--out", "p.json"])
        .run();
    out.expect_code(0);
    assert!(
        out.stdout.contains("xmlId:acme_card_b2c/xmlId:fiz  (resolved at apply)  (manifests/acme.yaml:1)\n  + PS_WORK_MODE_IFRAME = \"REGULAR\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("1 target named by reference, resolved at apply."),
        "{}",
        out.stdout
    );
    let md = w
        .run(&["plan", "--env", "prod", "--format", "markdown"])
        .stdout;
    assert!(md.contains("(resolved at apply): 2 to add"), "{md}");
    run(
        &w,
        &test,
        &prod,
        &["apply", "--env", "prod", "--plan", "p.json"],
    )
    .expect_code(0);
    assert_eq!(
        prod.setting(21, 7, "PS_WORK_MODE_IFRAME")
            .and_then(|(_, v)| v)
            .as_deref(),
        Some("REGULAR")
    );
    assert!(test.requests().is_empty());
}

/// Each environment's secret fingerprints are keyed with its own key: `credentials` maps
/// `PAYSYNC_FINGERPRINT_KEY` like the portal's variables, and the key read under
/// paysync's own name is not used in its place.
#[test]
fn each_environment_keys_its_fingerprints_with_the_variable_it_maps() {
    const PROD_KEY: &str = "CANARY-prod-fingerprint-key-7c1d";
    const GENERIC_KEY: &str = "CANARY-generic-fingerprint-key-2b9e";
    let (test, prod) = portals();
    let w = World::new();
    project(&w);
    w.write(
        "paysync.yaml",
        &PROJECT.replace(
            "{ PAYSYNC_WEBHOOK_URL: PROD_WEBHOOK_URL }",
            "{ PAYSYNC_WEBHOOK_URL: PROD_WEBHOOK_URL, PAYSYNC_FINGERPRINT_KEY: PROD_FINGERPRINT_KEY }",
        ),
    );
    w.write(
        "manifests/acme.yaml",
        &format!("{BASE}  REST_SERVICE_KEY_IFRAME: {{ secret: env:ACME_KEY }}\n"),
    );
    let run = |prod_key: Option<&str>, args: &[&str]| {
        let out = w
            .cmd()
            .offline()
            .env("TEST_WEBHOOK_URL", test.webhook_url())
            .env("PROD_WEBHOOK_URL", prod.webhook_url())
            .env("ACME_KEY", "acme-secret-1")
            .key(GENERIC_KEY)
            .env_opt("PROD_FINGERPRINT_KEY", prod_key)
            .args(args)
            .run();
        for key in [PROD_KEY, GENERIC_KEY] {
            assert!(
                !out.stdout.contains(key) && !out.stderr.contains(key),
                "a key leaked: {out:?}"
            );
        }
        out
    };
    let fingerprint = |env: &str, keyed: bool| {
        let state: serde_json::Value =
            serde_json::from_str(&w.read(&format!("state/{env}.state.json"))).unwrap();
        assert_eq!(state["fingerprints"]["keyed"], keyed, "{env}: {state}");
        let text = state.to_string();
        assert!(!text.contains(PROD_KEY) && !text.contains(GENERIC_KEY));
        state
    };

    run(
        Some(PROD_KEY),
        &["apply", "--env", "test", "--auto-approve"],
    )
    .expect_code(0);
    run(
        Some(PROD_KEY),
        &["apply", "--env", "prod", "--auto-approve"],
    )
    .expect_code(0);
    // test maps no fingerprint key: PAYSYNC_FINGERPRINT_KEY, set under paysync's own
    // name, is not read for it (an environment reads only what it maps).
    fingerprint("test", false);
    fingerprint("prod", true);
    // The same key is needed again: each state checks its secret with its own key.
    for env in ["test", "prod"] {
        let out = run(
            Some(PROD_KEY),
            &["plan", "--env", env, "--detailed-exitcode"],
        );
        out.expect_code(0);
        assert!(out.stdout.contains("No changes."), "{env}: {}", out.stdout);
    }
    // Prod's key is read from PROD_FINGERPRINT_KEY only: without it, PAYSYNC_FINGERPRINT_KEY
    // (the test portal's key here) is not used instead, the plan says which variable
    // is missing, and apply sends nothing.
    let out = run(None, &["plan", "--env", "prod"]);
    out.expect_code(0);
    assert!(
        out.stderr
            .contains("keyed with PROD_FINGERPRINT_KEY, which is not set"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("not checked"), "{}", out.stdout);
    let before = update_count(&prod);
    w.write(
        "envs/prod/acme.yaml",
        &format!("{PROD}  REST_SERVICE_ID_IFRAME: \"00999\"\n"),
    );
    let out = run(None, &["apply", "--env", "prod", "--auto-approve"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("keyed with PROD_FINGERPRINT_KEY, which is not set"),
        "{}",
        out.stderr
    );
    assert_eq!(
        update_count(&prod),
        before,
        "nothing is sent without the key"
    );
    // With a wrong key in PROD_FINGERPRINT_KEY the secret no longer matches its
    // fingerprint (changed, shown as such), which proves the mapped key is the one used.
    let out = run(Some(GENERIC_KEY), &["plan", "--env", "prod"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("(secret env:ACME_KEY, changed)"),
        "{}",
        out.stdout
    );
}
