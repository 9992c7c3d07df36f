//! Canary tests: a secret value and the webhook code never reach stdout, stderr (even at
//! trace level), the state file, a saved plan or the JSON plan.

use paysync_emulator::Fault;

use crate::support::{CANARY, World};

const HOOK_CANARY: &str = "CANARYHOOK9f3b2c";

const MANIFEST: &str = "\
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: 11
personType: 1
settings:
  PS_WORK_MODE_IFRAME: REGULAR
  REST_SERVICE_KEY_IFRAME: { secret: env:ACME_KEY }
---
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: 12
personType: 0
settings:
  REST_SERVICE_KEY_IFRAME: { secret: file:keys/acme12.txt }
";

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(CANARY),
        "secret value leaked into {what}:\n{text}"
    );
    assert!(
        !text.contains(HOOK_CANARY),
        "webhook code leaked into {what}:\n{text}"
    );
}

#[test]
fn secrets_and_the_webhook_code_never_appear_anywhere() {
    let w = World::with_seed(crate::seeds::with_webhook_code(HOOK_CANARY));
    w.write("m/acme.yaml", MANIFEST);
    w.write("m/keys/acme12.txt", &format!("{CANARY}-file\n"));
    let run = |args: &[&str], env_value: &str| {
        let out = w
            .paysync()
            .env("RUST_LOG", "trace")
            .env("ACME_KEY", env_value)
            .arg("-vv")
            .args(args)
            .output()
            .unwrap();
        let all = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_clean(&format!("output of {args:?}"), &all);
        (out.status.code().unwrap(), all)
    };

    assert_eq!(run(&["validate", "m"], CANARY).0, 0);
    let (code, plan) = run(&["plan", "m"], CANARY);
    assert_eq!(code, 0);
    assert!(
        plan.contains("+ REST_SERVICE_KEY_IFRAME = (secret env:ACME_KEY)"),
        "{plan}"
    );
    assert_eq!(
        run(
            &["plan", "--format", "json", "--out", "saved.json", "m"],
            CANARY
        )
        .0,
        0
    );
    assert_clean("saved plan", &w.read("saved.json"));

    // A failing apply: the first target fails, its error goes to stderr.
    w.portal.inject(
        Fault::error(
            "ERROR_CHECK_FAILURE",
            400,
            "The value of SETTINGS[X] is not valid",
        )
        .method("sale.paysystem.settings.update")
        .pay_system(12)
        .times(1),
    );
    let (code, failed) = run(&["apply", "--auto-approve", "m"], CANARY);
    assert_eq!(code, 6, "{failed}");
    let (code, applied) = run(&["apply", "--auto-approve", "m"], CANARY);
    assert_eq!(code, 0, "{applied}");
    // The portal did receive the real values.
    assert_eq!(
        w.portal_value(11, 1, "REST_SERVICE_KEY_IFRAME").as_deref(),
        Some(CANARY)
    );
    assert_eq!(
        w.portal_value(12, 0, "REST_SERVICE_KEY_IFRAME"),
        Some(format!("{CANARY}-file"))
    );
    let state = w.read("paysync.state.json");
    assert_clean("state file", &state);
    assert!(state.contains("\"secret\": \"env:ACME_KEY\""), "{state}");

    let (code, refreshed) = run(&["plan", "--refresh", "--detailed-exitcode", "m"], CANARY);
    assert_eq!(code, 0, "{refreshed}");

    // A changed secret shows as changed, and drift of a secret is shown without values.
    let (code, changed) = run(
        &["plan", "--detailed-exitcode", "m"],
        &format!("{CANARY}-v2"),
    );
    assert_eq!(code, 2);
    assert!(
        changed.contains("~ REST_SERVICE_KEY_IFRAME (secret env:ACME_KEY, changed)"),
        "{changed}"
    );
    w.portal.set_setting(
        12,
        0,
        "REST_SERVICE_KEY_IFRAME",
        "VALUE",
        &format!("{CANARY}-drift"),
    );
    let (code, drift) = run(&["plan", "--refresh", "--format", "json", "m"], CANARY);
    assert_eq!(code, 0);
    assert!(drift.contains("\"drift\""), "{drift}");
    let (_, drift_text) = run(&["plan", "--refresh", "m"], CANARY);
    assert!(
        drift_text.contains(
            "~ REST_SERVICE_KEY_IFRAME (secret file:keys/acme12.txt, changed outside paysync)"
        ),
        "{drift_text}"
    );
    let (code, _) = run(&["plan", "--refresh", "--format", "markdown", "m"], CANARY);
    assert_eq!(code, 0);

    // Not resolvable at plan time: shown as not checked, still no leak.
    let out = w
        .paysync()
        .env_remove("ACME_KEY")
        .args(["plan", "m"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(secret env:ACME_KEY, not checked)"),
        "{text}"
    );
}

#[test]
fn apply_with_a_missing_secret_sends_nothing() {
    let w = World::new();
    w.write("m/acme.yaml", MANIFEST);
    w.write("m/keys/acme12.txt", "k\n");
    let out = w
        .paysync()
        .env_remove("ACME_KEY")
        .args(["apply", "--auto-approve", "m"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("environment variable ACME_KEY (secret env:ACME_KEY) is not set"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert!(w.requests().is_empty());
    assert!(!w.path("paysync.state.json").exists());
}

#[test]
fn a_saved_plan_refuses_a_secret_changed_since_review() {
    let w = World::new();
    w.write("m/acme.yaml", MANIFEST);
    w.write("m/keys/acme12.txt", "k\n");
    w.paysync()
        .env("ACME_KEY", "one")
        .args(["plan", "--out", "p.json", "m"])
        .assert()
        .success();
    let out = w
        .paysync()
        .env("ACME_KEY", "two")
        .args(["apply", "--plan", "p.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("secret env:ACME_KEY changed since the plan was made")
    );
    assert!(w.requests().is_empty());
    w.paysync()
        .env("ACME_KEY", "one")
        .args(["apply", "--plan", "p.json"])
        .assert()
        .success();
    assert_eq!(
        w.portal_value(11, 1, "REST_SERVICE_KEY_IFRAME").as_deref(),
        Some("one")
    );
}
