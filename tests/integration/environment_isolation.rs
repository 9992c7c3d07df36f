//! Environments never cross (issue 18 §1): under `--env`, credentials and the fingerprint
//! key are read only through the environment's mapping; a pinned environment refuses
//! credentials of another portal before any request; an environment's state is its own;
//! a PATH under `--env` selects layered targets; `validate` in a project needs `--env`.

use paysync_emulator::{EmulatorHandle, OAuthTokenSeed, Seed};

use crate::support::{Outcome, World, manifest};

const PROD_ACCESS: &str = "CANARY-prod-access-7a41";

/// The test portal's overlay: the sandbox shop instead of production's.
const BASE: &str = "\
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: 11
personType: 1
settings:
  PS_WORK_MODE_IFRAME: REGULAR
  REST_SERVICE_ID_IFRAME: \"00412\"
";
const TEST_OVERLAY: &str = "\
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: 11
personType: 1
settings:
  PS_WORK_MODE_IFRAME: TEST
  REST_SERVICE_ID_IFRAME: \"00411\"
";

fn project(pin: Option<&str>) -> String {
    let pin = pin.map_or(String::new(), |p| format!("    portal: {p}\n"));
    format!(
        "apiVersion: paysync/v1\nkind: Project\nenvironments:\n  test:\n{pin}    sources: \
         [manifests, envs/test]\n    state: state/test.state.json\n    credentials: {{ \
         PAYSYNC_WEBHOOK_URL: TEST_WEBHOOK_URL }}\n"
    )
}

/// A world whose own portal plays the test portal, and a production portal that knows
/// production's OAuth access token.
fn world(pin: Option<&str>) -> (World, EmulatorHandle) {
    let w = World::new();
    w.write("paysync.yaml", &project(pin));
    w.write("manifests/acme.yaml", BASE);
    w.write("envs/test/acme.yaml", TEST_OVERLAY);
    let mut seed = Seed::demo();
    seed.oauth_tokens.push(OAuthTokenSeed::new(PROD_ACCESS));
    (w, EmulatorHandle::start(seed).unwrap())
}

/// paysync with production's OAuth pair under paysync's own names, and the test
/// webhook as `test` (`None`: unset).
fn run(w: &World, prod: &EmulatorHandle, test: Option<&str>, args: &[&str]) -> Outcome {
    let out = w
        .cmd()
        .offline()
        .env("PAYSYNC_PORTAL_URL", prod.base_url())
        .env("PAYSYNC_ACCESS_TOKEN", PROD_ACCESS)
        .env_opt("TEST_WEBHOOK_URL", test)
        .args(args)
        .run();
    out.assert_hides(&[PROD_ACCESS]);
    out
}

#[test]
fn a_test_apply_never_falls_back_to_production_credentials() {
    let (w, prod) = world(None);
    for test in [Some(""), Some("  "), None] {
        let out = run(
            &w,
            &prod,
            test,
            &["apply", "--env", "test", "--auto-approve"],
        );
        // The message names the variable read, never paysync's own.
        insta::allow_duplicates! {
            insta::assert_snapshot!(out.snapshot(), @"
            exit code 1
            --- stdout
            --- stderr
            error: no portal credentials for environment test: set TEST_WEBHOOK_URL (https://<portal>/rest/<user_id>/<code>/) (unset and empty are the same; no other variable is read under an environment)
            ");
        }
        assert!(
            prod.requests().is_empty(),
            "{test:?}: production was called"
        );
        assert!(
            w.requests().is_empty(),
            "{test:?}: the test portal was called"
        );
        assert!(!w.path("state/test.state.json").exists());
    }
    // With the variable set, test writes to the test portal only.
    let out = run(
        &w,
        &prod,
        Some(&w.portal.webhook_url()),
        &["apply", "--env", "test", "--auto-approve"],
    );
    out.expect_code(0);
    assert!(prod.requests().is_empty(), "production was called");
    assert_eq!(
        w.portal_value(11, 1, "REST_SERVICE_ID_IFRAME").as_deref(),
        Some("00411")
    );
}

#[test]
fn an_environment_without_a_mapping_reads_no_credentials_at_all() {
    let (w, prod) = world(None);
    w.write(
        "paysync.yaml",
        "apiVersion: paysync/v1\nkind: Project\nenvironments:\n  test:\n    sources: [manifests, \
         envs/test]\n    state: state/test.state.json\n",
    );
    let out = run(&w, &prod, None, &["plan", "--env", "test", "--refresh"]);
    insta::assert_snapshot!(out.snapshot(), @"
    exit code 1
    --- stdout
    --- stderr
    error: environment test maps no portal credentials, and no other variable is read under it: map PAYSYNC_WEBHOOK_URL (or PAYSYNC_PORTAL_URL and PAYSYNC_ACCESS_TOKEN) to the variables holding its portal's in its `credentials` in the project file
    ");
    assert!(prod.requests().is_empty());
    // Mapping paysync's own names on purpose reads them.
    w.write(
        "paysync.yaml",
        "apiVersion: paysync/v1\nkind: Project\nenvironments:\n  test:\n    sources: [manifests, \
         envs/test]\n    state: state/test.state.json\n    credentials: { PAYSYNC_PORTAL_URL: \
         PAYSYNC_PORTAL_URL, PAYSYNC_ACCESS_TOKEN: PAYSYNC_ACCESS_TOKEN }\n",
    );
    run(&w, &prod, None, &["plan", "--env", "test", "--refresh"]).expect_code(0);
    assert!(!prod.requests().is_empty());
}

#[test]
fn a_pinned_environment_refuses_credentials_of_another_portal_before_any_request() {
    let (w, prod) = world(None);
    w.write("paysync.yaml", &project(Some(&w.portal.base_url())));
    // The webhook of another portal (production's address) under the test variable.
    let other = prod.webhook_url();
    for args in [
        &["apply", "--env", "test", "--auto-approve"][..],
        &["plan", "--env", "test", "--refresh"][..],
        &["drift", "--env", "test"][..],
    ] {
        let out = run(&w, &prod, Some(&other), args);
        assert_ne!(out.code, 0, "{args:?}: {}", out.stderr);
        if args[0] != "drift" {
            assert!(
                out.stderr.contains(&format!(
                    "environment test is pinned to the portal {}",
                    w.portal.base_url()
                )) && out
                    .stderr
                    .contains(&format!("TEST_WEBHOOK_URL points at {}", prod.base_url())),
                "{args:?}: {}",
                out.stderr
            );
        }
        assert!(!out.stderr.contains("demo-webhook-code"), "{}", out.stderr);
        assert!(prod.requests().is_empty(), "{args:?}: a request was sent");
        assert!(w.requests().is_empty(), "{args:?}: a request was sent");
    }
    // The pinned portal's own credentials work, and the pin is listed.
    run(
        &w,
        &prod,
        Some(&w.portal.webhook_url()),
        &["apply", "--env", "test", "--auto-approve"],
    )
    .expect_code(0);
    let out = run(&w, &prod, None, &["env", "list"]);
    assert!(
        out.stdout
            .contains(&format!("test\n  portal:      {}\n", w.portal.base_url())),
        "{}",
        out.stdout
    );
}

#[test]
fn a_pinned_environment_refuses_a_token_file_endpoint_of_another_portal() {
    let (w, prod) = world(None);
    let pin = w.portal.base_url();
    w.write(
        "paysync.yaml",
        &format!(
            "apiVersion: paysync/v1\nkind: Project\nenvironments:\n  test:\n    portal: {pin}\n    \
             sources: [manifests, envs/test]\n    state: state/test.state.json\n    credentials: \
             {{ PAYSYNC_PORTAL_URL: TEST_PORTAL_URL, PAYSYNC_TOKEN_FILE: TEST_TOKEN_FILE }}\n"
        ),
    );
    // A token file whose REST base (a refresh answer's client_endpoint) is on the same
    // host, another port: accepted without a pin, refused with one.
    let endpoint = format!("{}/rest/", prod.base_url());
    w.write(
        "tokens.json",
        &serde_json::json!({
            "access_token": PROD_ACCESS,
            "refresh_token": "CANARY-refresh-1f",
            "client_endpoint": endpoint,
        })
        .to_string(),
    );
    let out = w
        .cmd()
        .env_remove("PAYSYNC_WEBHOOK_URL")
        .env("TEST_PORTAL_URL", &pin)
        .env("TEST_TOKEN_FILE", w.path("tokens.json"))
        .args(["plan", "--env", "test", "--refresh"])
        .run();
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("the client_endpoint of the token file (TEST_TOKEN_FILE) points at")
            && out.stderr.contains(&prod.base_url()),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(PROD_ACCESS));
    assert!(prod.requests().is_empty() && w.requests().is_empty());
}

#[test]
fn an_exported_paysync_state_never_replaces_an_environments_state() {
    let (w, prod) = world(None);
    let test_url = w.portal.webhook_url();
    run(
        &w,
        &prod,
        Some(&test_url),
        &["apply", "--env", "test", "--auto-approve"],
    )
    .expect_code(0);
    // Another environment's state file, exported: not used, and said so.
    w.write("state/prod.state.json", "{ not even json");
    let out = w
        .cmd()
        .env("PAYSYNC_STATE", "state/prod.state.json")
        .args(["plan", "--env", "test"])
        .run();
    out.expect_code(0);
    assert!(out.stdout.contains("No changes."), "{}", out.stdout);
    assert!(
        out.stderr.contains(
            "PAYSYNC_STATE=state/prod.state.json is not used: environment test keeps its state \
             in state/test.state.json"
        ),
        "{}",
        out.stderr
    );
    // --state is an explicit override, named in the plan itself.
    let out = w.run(&["plan", "--env", "test", "--state", "other.json"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains(
            "--state other.json replaces environment test's state file state/test.state.json"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn a_path_under_an_environment_selects_its_layered_targets() {
    let (w, prod) = world(None);
    w.write(
        "manifests/other.yaml",
        &manifest(12, 0, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let test_url = w.portal.webhook_url();
    // The base file alone: its target with the test overlay applied (never production's
    // shop ID), and nothing of the other file.
    let out = run(
        &w,
        &prod,
        Some(&test_url),
        &["plan", "--env", "test", "manifests/acme.yaml"],
    );
    out.expect_code(0);
    assert!(
        out.stdout.contains("+ REST_SERVICE_ID_IFRAME = \"00411\"")
            && !out.stdout.contains("00412"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("paySystem 12"), "{}", out.stdout);
    // The overlay file selects the same target, layered.
    let out = run(
        &w,
        &prod,
        Some(&test_url),
        &["plan", "--env", "test", "./envs/test"],
    );
    out.expect_code(0);
    assert!(
        out.stdout.contains("+ PS_WORK_MODE_IFRAME = \"TEST\"")
            && !out.stdout.contains("paySystem 12"),
        "{}",
        out.stdout
    );
    run(
        &w,
        &prod,
        Some(&test_url),
        &[
            "apply",
            "--env",
            "test",
            "--auto-approve",
            "manifests/acme.yaml",
        ],
    )
    .expect_code(0);
    assert_eq!(
        w.portal_value(11, 1, "REST_SERVICE_ID_IFRAME").as_deref(),
        Some("00411")
    );
    // The whole environment now: the other file's target is added, the applied one
    // unchanged (its recorded settings are found though it was applied as a subset).
    let out = run(&w, &prod, Some(&test_url), &["plan", "--env", "test"]);
    assert!(
        out.stdout
            .contains("Plan: 1 target to change, 1 setting (1 to add, 0 to change)."),
        "{}",
        out.stdout
    );
    // A PATH outside the environment's sources is a usage error.
    w.write(
        "elsewhere/x.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "X")]),
    );
    let out = run(
        &w,
        &prod,
        Some(&test_url),
        &["plan", "--env", "test", "elsewhere"],
    );
    out.expect_code(64);
    assert!(
        out.stderr
            .contains("elsewhere is not among the environment's sources (manifests, envs/test)"),
        "{}",
        out.stderr
    );
    assert!(prod.requests().is_empty());
}

#[test]
fn validate_in_a_project_needs_an_environment_and_counts_every_target() {
    let (w, _prod) = world(None);
    let out = w.run(&["validate"]);
    out.expect_code(64);
    assert!(
        out.stderr
            .contains("paysync.yaml declares environments (test): choose one with --env NAME"),
        "{}",
        out.stderr
    );
    // Targets named by reference count too.
    w.write(
        "manifests/ref.yaml",
        "apiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: { xmlId: acme_card_b2b \
         }\npersonType: default\nsettings:\n  PS_WORK_MODE_IFRAME: TEST\n",
    );
    let out = w.run(&["validate", "--env", "test"]);
    out.expect_code(0);
    assert_eq!(
        out.stdout, "Valid: 2 targets with 3 settings in 2 files.\n",
        "{}",
        out.stderr
    );
    // An environment that writes without a pin is warned about, with its place.
    assert!(
        out.stderr
            .contains("paysync.yaml:5:5: environment test maps credentials but pins no portal"),
        "{}",
        out.stderr
    );
    w.write(
        "paysync.yaml",
        &project(Some("https://shop-test.bitrix24.com")),
    );
    let out = w.run(&["validate", "--env", "test"]);
    out.expect_code(0);
    assert!(!out.stderr.contains("pins no portal"), "{}", out.stderr);
}
