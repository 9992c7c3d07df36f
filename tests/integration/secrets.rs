//! Canary tests: a secret value and the webhook code never reach stdout, stderr (even at
//! trace level), the state file, a saved plan or the JSON plan.

use paysync_emulator::Fault;

use crate::support::{CANARY, World};

const HOOK_CANARY: &str = "CANARYHOOK9f3b2c";

use crate::support::secrets_manifest;

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
    w.write("m/acme.yaml", &secrets_manifest());
    w.write("m/keys/acme12.txt", &format!("{CANARY}-file\n"));
    let run = |args: &[&str], env_value: &str| {
        let out = w
            .cmd()
            .env("RUST_LOG", "trace")
            .env("ACME_KEY", env_value)
            .arg("-vv")
            .args(args)
            .run();
        let all = format!("{}\n{}", out.stdout.as_str(), out.stderr.as_str());
        assert_clean(&format!("output of {args:?}"), &all);
        (out.code, all)
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
    let out = w.cmd().env_remove("ACME_KEY").args(["plan", "m"]).run();
    let text = out.stdout.as_str();
    assert!(text.contains("? env:ACME_KEY in "), "{text}");
}

#[test]
fn apply_with_a_missing_secret_sends_nothing() {
    let w = World::new();
    w.write("m/acme.yaml", &secrets_manifest());
    w.write("m/keys/acme12.txt", "k\n");
    let out = w
        .cmd()
        .env_remove("ACME_KEY")
        .args(["apply", "--auto-approve", "m"])
        .run();
    insta::assert_snapshot!(out.snapshot(), @"
    exit code 1
    --- stdout
    --- stderr
    error: 1 secret could not be resolved; nothing was sent to the portal:
      - m/acme.yaml:7: environment variable ACME_KEY (secret env:ACME_KEY) is not set
    ");
    assert!(w.requests().is_empty());
    assert!(!w.path("paysync.state.json").exists());
}

#[test]
fn a_saved_plan_refuses_a_secret_changed_since_review() {
    let w = World::new();
    w.write("m/acme.yaml", &secrets_manifest());
    w.write("m/keys/acme12.txt", "k\n");
    w.cmd()
        .env("ACME_KEY", "one")
        .args(["plan", "--out", "p.json", "m"])
        .run()
        .expect_code(0);
    let out = w
        .cmd()
        .env("ACME_KEY", "two")
        .args(["apply", "--plan", "p.json"])
        .run();
    assert_eq!(out.code, 5);
    assert!(
        out.stderr
            .as_str()
            .contains("secret env:ACME_KEY changed since the plan was made")
    );
    assert!(w.requests().is_empty());
    w.cmd()
        .env("ACME_KEY", "one")
        .args(["apply", "--plan", "p.json"])
        .run()
        .expect_code(0);
    assert_eq!(
        w.portal_value(11, 1, "REST_SERVICE_KEY_IFRAME").as_deref(),
        Some("one")
    );
}

/// Regression (issue 7.1): an empty variable or file — what CI gives for a missing,
/// renamed or unexposed secret — is never written as the value.
#[test]
fn apply_refuses_empty_secrets_and_names_each_reference() {
    let w = World::new();
    w.write("m/acme.yaml", &secrets_manifest());
    // One trailing newline is stripped: this file is empty.
    w.write("m/keys/acme12.txt", "\n");
    let out = w
        .cmd()
        .env("ACME_KEY", "")
        .args(["apply", "--auto-approve", "m"])
        .run();
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit code 1
    --- stdout
    --- stderr
    error: 2 secrets could not be resolved; nothing was sent to the portal:
      - m/acme.yaml:7: secret env:ACME_KEY is empty (a CI system gives an empty value for a missing, renamed or unexposed secret); set it, or write a literal `value: ""` to clear the key on purpose
      - m/acme.yaml:14: secret file:keys/acme12.txt is empty (a CI system gives an empty value for a missing, renamed or unexposed secret); set it, or write a literal `value: ""` to clear the key on purpose
    "#);
    assert!(w.updates().is_empty(), "{:?}", w.requests());
    assert!(!w.path("paysync.state.json").exists());
}

/// Regression (issue 7.1): after an offline pull-request plan (secrets not checked), an
/// apply of the saved plan whose secret is empty used to overwrite the live key with "".
#[test]
fn apply_of_a_saved_plan_refuses_a_secret_that_became_empty() {
    let w = World::new();
    w.write("m/acme.yaml", &secrets_manifest());
    w.write("m/keys/acme12.txt", "k12\n");
    w.cmd()
        .env("ACME_KEY", "live-key")
        .args(["apply", "--auto-approve", "m"])
        .run()
        .expect_code(0);
    // The manifest changes a plain value; the plan is made offline without secrets.
    w.write(
        "m/acme.yaml",
        &secrets_manifest().replace(
            "PS_WORK_MODE_IFRAME: \"REGULAR\"",
            "PS_WORK_MODE_IFRAME: \"TEST\"",
        ),
    );
    let plan = w
        .cmd()
        .env_remove("ACME_KEY")
        .args(["plan", "--out", "plan.json", "m"])
        .run();
    assert_eq!(plan.code, 0);
    assert!(
        plan.stdout.as_str().contains("? env:ACME_KEY in "),
        "{}",
        plan.stdout.as_str()
    );
    w.portal.clear_requests();
    w.write("m/keys/acme12.txt", "");
    let out = w
        .cmd()
        .env("ACME_KEY", "")
        .args(["apply", "--plan", "plan.json"])
        .run();
    let stderr = out.stderr.as_str();
    assert_eq!(out.code, 1, "{stderr}");
    assert!(stderr.contains("secret env:ACME_KEY is empty"), "{stderr}");
    assert!(w.updates().is_empty(), "{:?}", w.requests());
    assert_eq!(
        w.portal_value(11, 1, "REST_SERVICE_KEY_IFRAME").as_deref(),
        Some("live-key")
    );
}

/// Regression (issue 7.1): the plan shows an empty secret as such, in every format, and
/// does not exit 0 (nor save a plan apply would refuse), with or without
/// `--detailed-exitcode`.
#[test]
fn plan_shows_an_empty_secret_and_does_not_hide_it_behind_the_exit_code() {
    let w = World::new();
    w.write("m/acme.yaml", &secrets_manifest());
    w.write("m/keys/acme12.txt", "k12\n");
    w.cmd()
        .env("ACME_KEY", "live-key")
        .args(["apply", "--auto-approve", "m"])
        .run()
        .expect_code(0);
    for args in [
        &["plan", "m"][..],
        &["plan", "--detailed-exitcode", "--out", "p.json", "m"],
    ] {
        let out = w.cmd().env("ACME_KEY", "").args(args).run();
        let (stdout, stderr) = (out.stdout.as_str(), out.stderr.as_str());
        assert_eq!(out.code, 1, "{args:?}\n{stdout}\n{stderr}");
        assert!(stdout.contains("? env:ACME_KEY (empty) in "), "{stdout}");
        assert!(stdout.contains("1 secret empty"), "{stdout}");
        assert!(
            stderr.contains("1 secret is empty: env:ACME_KEY"),
            "{stderr}"
        );
    }
    assert!(!w.path("p.json").exists());
    let json = w
        .cmd()
        .env("ACME_KEY", "")
        .args(["plan", "--format", "json", "m"])
        .run();
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["summary"]["empty_secrets"], 1);
    let after = &doc["targets"][0]["changes"][0]["after"];
    assert_eq!(after["empty"], true, "{doc}");
    assert_eq!(after["checked"], false, "{doc}");
    // Markdown too.
    let md = w
        .cmd()
        .env("ACME_KEY", "")
        .args(["plan", "--format", "markdown", "m"])
        .run();
    assert!(
        md.stdout.as_str().contains(
            "<code>REST&#95;SERVICE&#95;KEY&#95;IFRAME</code>: secret is empty: apply refuses \
             to run until it is set (<code>env&#58;ACME&#95;KEY</code>)"
        ),
        "{}",
        md.stdout.as_str()
    );
}
