//! Messages a newcomer trips over (issue 18 §6): a missing or empty secret names the
//! manifest line that references it; a misspelt variable or field gets "did you mean";
//! every unknown field of a document is reported; a tab is shown where it is.

use crate::support::{Outcome, World};

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
    let out = Outcome::from(
        w.paysync()
            .env_remove("ACME_KEY")
            .env("ACME_KEYS", CANARY)
            .args(["apply", "--auto-approve", "m.yaml"])
            .output()
            .unwrap(),
    );
    out.expect_code(1);
    assert!(
        out.stderr.contains(
            "  - m.yaml:7: environment variable ACME_KEY (secret env:ACME_KEY) is not set (did \
             you mean `ACME_KEYS`?)"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(CANARY) && !out.stdout.contains(CANARY));
    assert!(w.updates().is_empty());
}

#[test]
fn an_empty_secret_names_its_manifest_line() {
    let w = World::new();
    with_secret(&w);
    let run =
        |args: &[&str]| Outcome::from(w.paysync().env("ACME_KEY", "").args(args).output().unwrap());
    let out = run(&["apply", "--auto-approve", "m.yaml"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("  - m.yaml:7: secret env:ACME_KEY is empty"),
        "{}",
        out.stderr
    );
    let out = run(&["plan", "m.yaml"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("1 secret is empty: env:ACME_KEY (m.yaml:7)"),
        "{}",
        out.stderr
    );
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
    out.expect_code(3);
    for (at, field, hint) in [
        ("m.yaml:3:1", "paySystm", Some("did you mean `paySystem`?")),
        ("m.yaml:5:1", "setings", Some("did you mean `settings`?")),
        ("m.yaml:7:1", "extra", None),
        (
            "m.yaml:12:1",
            "personTyp",
            Some("did you mean `personType`?"),
        ),
    ] {
        assert!(
            out.stderr.contains(&format!("unknown field `{field}`"))
                && out.stderr.contains(at)
                && hint.is_none_or(|h| out.stderr.contains(h)),
            "{at} {field}: {}",
            out.stderr
        );
    }
    assert!(out.stderr.contains("4 problems found"), "{}", out.stderr);
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
    out.expect_code(3);
    assert!(
        out.stderr.contains("error[tab-indent]") && out.stderr.contains("--> m.yaml:7:3"),
        "{}",
        out.stderr
    );
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
    out.expect_code(3);
    assert!(
        out.stderr.contains(
            "\"PAYSYNC_WEBHOK_URL\" is not one of paysync's variables an environment maps (did \
             you mean `PAYSYNC_WEBHOOK_URL`?)"
        ),
        "{}",
        out.stderr
    );
}
