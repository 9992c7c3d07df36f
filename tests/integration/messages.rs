//! Messages a newcomer trips over (issue 18 §6): a missing or empty secret names the
//! manifest line that references it; a misspelt variable or field gets "did you mean";
//! every unknown field of a document is reported; a tab is shown where it is.

use crate::support::World;

const CANARY: &str = "CANARY-near-name-value-3d1f";

/// A manifest whose secret is on line 7.
fn with_secret(w: &World) {
    w.write(
        "m.yaml",
        "apiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: 11\npersonType: 1\nsettings:\n  \
         PS_WORK_MODE_IFRAME: REGULAR\n  REST_SERVICE_KEY_IFRAME: { secret: env:ACME_KEY }\n",
    );
}

#[test]
fn a_missing_secret_names_its_manifest_line_and_the_variable_it_may_mean() {
    let w = World::new();
    with_secret(&w);
    let out = w
        .cmd()
        .env_remove("ACME_KEY")
        .env("ACME_KEYS", CANARY)
        .args(["apply", "--auto-approve", "m.yaml"])
        .run();
    insta::assert_snapshot!(out.snapshot(), @"
    exit code 1
    --- stdout
    --- stderr
    error: 1 secret could not be resolved; nothing was sent to the portal:
      - m.yaml:7: environment variable ACME_KEY (secret env:ACME_KEY) is not set (did you mean `ACME_KEYS`?)
    ");
    out.assert_hides(&[CANARY]);
    assert!(w.updates().is_empty());
}

#[test]
fn an_empty_secret_names_its_manifest_line() {
    let w = World::new();
    with_secret(&w);
    let run = |args: &[&str]| w.cmd().env("ACME_KEY", "").args(args).run();
    let out = run(&["apply", "--auto-approve", "m.yaml"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit code 1
    --- stdout
    --- stderr
    error: 1 secret could not be resolved; nothing was sent to the portal:
      - m.yaml:7: secret env:ACME_KEY is empty (a CI system gives an empty value for a missing, renamed or unexposed secret); set it, or write a literal `value: ""` to clear the key on purpose
    "#);
    let out = run(&["plan", "m.yaml"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit code 1
    --- stdout
    Needs attention:
      ! paySystem 11 / personType 1  REST_SERVICE_KEY_IFRAME: secret is empty: apply refuses to run until it is set  (m.yaml:7)

    paySystem 11 / personType 1  (m.yaml:1)
      + PS_WORK_MODE_IFRAME = "REGULAR"
      + REST_SERVICE_KEY_IFRAME = (secret env:ACME_KEY, empty)

    Plan: 1 target to change, 2 settings (2 to add, 0 to change). 1 secret empty: apply refuses to run until it is set.
    --- stderr
    error: 1 secret is empty: env:ACME_KEY (m.yaml:7); apply sends nothing while a secret it needs is empty. Set it, or write a literal `value: ""` to clear a key on purpose
    "#);
    assert!(w.updates().is_empty());
}

#[test]
fn every_unknown_field_of_a_document_is_reported_with_what_it_may_mean() {
    let w = World::new();
    w.write(
        "m.yaml",
        "apiVersion: paysync/v1\nkind: PaySystemSettings\npaySystm: 11\npersonType: 1\nsetings:\n  \
         A: b\nextra: 1\n---\napiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: 12\n\
         personTyp: 0\nsettings:\n  A: b\n",
    );
    let out = w.run(&["validate", "m.yaml"]);
    insta::assert_snapshot!(out.snapshot(), @"
    exit code 3
    --- stdout
    --- stderr
    error[unknown-field]: unknown field `paySystm`, expected one of `apiVersion`, `kind`, `paySystem`, `personType`, `settings`
     --> m.yaml:3:1
      |
    3 | paySystm: 11
      | ^^^^^^^^
      |
      = help: did you mean `paySystem`?

    error[unknown-field]: unknown field `setings`, expected one of `apiVersion`, `kind`, `paySystem`, `personType`, `settings`
     --> m.yaml:5:1
      |
    5 | setings:
      | ^^^^^^^
      |
      = help: did you mean `settings`?

    error[unknown-field]: unknown field `extra`, expected one of `apiVersion`, `kind`, `paySystem`, `personType`, `settings`
     --> m.yaml:7:1
      |
    7 | extra: 1
      | ^^^^^

    error[unknown-field]: unknown field `personTyp`, expected one of `apiVersion`, `kind`, `paySystem`, `personType`, `settings`
      --> m.yaml:12:1
       |
    12 | personTyp: 0
       | ^^^^^^^^^
       |
       = help: did you mean `personType`?

    error: 4 problems found in 1 file; nothing was written to the portal
    ");
}

#[test]
fn a_tab_is_shown_where_it_is() {
    let w = World::new();
    w.write(
        "m.yaml",
        "apiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: 11\npersonType: 1\nsettings:\n  \
         A: b\n  \tB: c\n",
    );
    let out = w.run(&["validate", "m.yaml"]);
    insta::assert_snapshot!(out.snapshot(), @"
    exit code 3
    --- stdout
    --- stderr
    error[tab-indent]: tab character in indentation
     --> m.yaml:7:3
      |
    7 |       B: c
      |   ^^^^
      |
      = help: YAML indents with spaces only: replace the tab with spaces

    error: 1 problem found in 1 file; nothing was written to the portal
    ");
}

#[test]
fn a_misspelt_variable_in_the_project_file_gets_what_it_may_mean() {
    let w = World::new();
    w.write(
        "paysync.yaml",
        "apiVersion: paysync/v1\nkind: Project\nenvironments:\n  test:\n    sources: [m]\n    \
         state: s.json\n    credentials: { PAYSYNC_WEBHOK_URL: TEST_WEBHOOK_URL }\n",
    );
    let out = w.run(&["plan", "--env", "test"]);
    insta::assert_snapshot!(out.snapshot(), @r#"
    exit code 3
    --- stdout
    --- stderr
    error[invalid-value]: invalid project file: "PAYSYNC_WEBHOK_URL" is not one of paysync's variables an environment maps (did you mean `PAYSYNC_WEBHOOK_URL`?): PAYSYNC_WEBHOOK_URL, PAYSYNC_PORTAL_URL, PAYSYNC_ACCESS_TOKEN, PAYSYNC_REFRESH_TOKEN, PAYSYNC_CLIENT_ID, PAYSYNC_CLIENT_SECRET, PAYSYNC_OAUTH_URL, PAYSYNC_TOKEN_FILE, PAYSYNC_FINGERPRINT_KEY, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, PAYSYNC_STATE_USERNAME, PAYSYNC_STATE_PASSWORD, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE
     --> paysync.yaml:7:18
      |
    7 |     credentials: { PAYSYNC_WEBHOK_URL: TEST_WEBHOOK_URL }
      |                  ^

    error: 1 problem found in 1 file; nothing was written to the portal
    "#);
}
