//! The published JSON contracts: each schema under `schema/` is what the code generates,
//! and every JSON document paysync prints (plan, saved plan, show, drift, apply complete
//! and partial, validation, state list and history) validates against its committed
//! schema.

use paysync_emulator::Fault;
use serde_json::Value;

use crate::support::{CANARY, Manifest, World, manifest, repo_root};

const KINDS: [(&str, &str); 8] = [
    ("manifest", "schema/paysync.schema.json"),
    ("project", "schema/project.schema.json"),
    ("plan", "schema/plan.schema.json"),
    ("drift", "schema/drift.schema.json"),
    ("apply", "schema/apply.schema.json"),
    ("validation", "schema/validation.schema.json"),
    ("state-list", "schema/state-list.schema.json"),
    ("state-history", "schema/state-history.schema.json"),
];

fn committed(kind: &str) -> Value {
    let file = KINDS.iter().find(|(k, _)| *k == kind).unwrap().1;
    serde_json::from_str(&std::fs::read_to_string(repo_root().join(file)).unwrap()).unwrap()
}

/// Parses `text` as exactly one JSON document and checks it against the committed schema
/// of `kind`.
fn valid(kind: &str, text: &str) -> Value {
    let doc: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {text}"));
    let schema = committed(kind);
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{kind}: {errors:#?}\n{text}");
    assert_eq!(doc["format_version"], 2, "{text}");
    assert_eq!(doc["paysync_version"], env!("CARGO_PKG_VERSION"), "{text}");
    assert!(doc.get("environment").is_some(), "{text}");
    assert!(doc.get("portal").is_some(), "{text}");
    doc
}

#[test]
fn every_committed_schema_is_what_the_code_generates() {
    let w = World::new();
    for (kind, file) in KINDS {
        let out = w.run(&["schema", kind]);
        out.expect_code(0);
        let committed = std::fs::read_to_string(repo_root().join(file)).unwrap_or_default();
        assert!(
            out.stdout == committed,
            "{file} differs from what the code generates; run `cargo run -- schema {kind} > {file}`"
        );
    }
}

#[test]
fn the_example_project_file_validates_against_its_schema() {
    let text =
        std::fs::read_to_string(repo_root().join("examples/environments/paysync.yaml")).unwrap();
    let doc: Value = serde_saphyr::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&committed("project")).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let bad: Value = serde_json::json!({"apiVersion": "paysync/v1", "kind": "Project",
        "environments": {"x": {"sources": [], "state": "s", "extra": 1}}});
    assert!(!validator.is_valid(&bad));
}

#[test]
fn every_json_output_validates_against_its_committed_schema() {
    let w = World::new();
    let acme = |mode: &str| {
        Manifest::new()
            .target(11, 1)
            .literal("PS_WORK_MODE_IFRAME", mode)
            .source("PAYMENT_ID", "PAYMENT", "ACCOUNT_NUMBER")
            .secret("REST_SERVICE_KEY_IFRAME", "env:ACME_KEY")
            .target(12, 0)
            .literal("PS_CHANGE_STATUS_PAY", "Y")
            .secret("REST_SERVICE_KEY_IFRAME", "file:key.txt")
            .text()
    };
    w.write("m/acme.yaml", &acme("TEST"));
    w.write("m/key.txt", &format!("{CANARY}-file\n"));

    // Validation: valid, then not.
    let out = w.run(&["validate", "--format", "json", "m"]);
    out.expect_code(0);
    assert_eq!(valid("validation", &out.stdout)["valid"], true);
    w.write("bad/x.yaml", "paySystem: x\n");
    let out = w.run(&["validate", "--format", "json", "bad"]);
    out.expect_code(3);
    assert_eq!(valid("validation", &out.stdout)["valid"], false);
    assert!(valid("validation", &out.stdout)["summary"]["problems"].as_u64() >= Some(1));

    // A plan with a target named by a reference not resolved yet (null IDs), saved, shown.
    w.write(
        "u/card.yaml",
        "apiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: { xmlId: acme_card_b2b }\npersonType: default\nsettings:\n  PS_CHANGE_STATUS_PAY: N\n",
    );
    let out = w.run(&["plan", "--state", "u.state.json", "--format", "json", "u"]);
    out.expect_code(0);
    let doc = valid("plan", &out.stdout);
    assert!(
        doc["unresolved"][0]["pay_system"].is_null(),
        "{}",
        out.stdout
    );

    // The first apply, complete.
    let out = w
        .cmd()
        .env("ACME_KEY", CANARY)
        .args(["apply", "--auto-approve", "--format", "json", "m"])
        .run();
    out.expect_code(0);
    let doc = valid("apply", &out.stdout);
    assert_eq!(doc["result"]["complete"], true, "{}", out.stdout);
    assert_eq!(doc["plan"]["summary"]["to_add"], 5, "{}", out.stdout);
    assert!(!out.stdout.contains(CANARY) && !out.stderr.contains(CANARY));

    // What the state records, and its audit trail.
    let out = w.run(&["state", "list", "--format", "json"]);
    out.expect_code(0);
    let doc = valid("state-list", &out.stdout);
    assert_eq!(doc["targets"][0]["pay_system"], 11, "{}", out.stdout);
    let out = w.run(&["state", "history", "--format", "json"]);
    out.expect_code(0);
    let doc = valid("state-history", &out.stdout);
    assert_eq!(doc["entries"][0]["operation"], "apply", "{}", out.stdout);
    assert!(doc["entries"][0]["serial_after"].is_u64(), "{}", out.stdout);

    // A plan with every kind of value: changed in the manifest, changed on the portal.
    w.write(
        "m/acme.yaml",
        &acme("REGULAR").replace("ACCOUNT_NUMBER", "ID"),
    );
    w.portal
        .set_setting(12, 0, "PS_CHANGE_STATUS_PAY", "VALUE", "N");
    let plan = |args: &[&str]| {
        w.cmd()
            .env("ACME_KEY", format!("{CANARY}-2"))
            .args(args)
            .run()
    };
    let out = plan(&[
        "plan",
        "--refresh",
        "--format",
        "json",
        "--out",
        "p.json",
        "m",
    ]);
    out.expect_code(0);
    let doc = valid("plan", &out.stdout);
    assert_eq!(doc["summary"]["drifted"], 1, "{}", out.stdout);
    assert_eq!(doc["portal"], w.portal.base_url());
    // `show` of the saved plan prints the same document (the saved plan keeps the plan,
    // not its document: issue 22.3).
    let out = w.run(&["show", "--format", "json", "p.json"]);
    out.expect_code(0);
    assert_eq!(valid("plan", &out.stdout), doc);
    for format in ["text", "markdown"] {
        w.run(&["show", "--format", format, "p.json"])
            .expect_code(0);
    }

    // Drift.
    let out = w.run(&["drift", "--format", "json"]);
    out.expect_code(7);
    let doc = valid("drift", &out.stdout);
    assert_eq!(doc["summary"]["drifted"], 1, "{}", out.stdout);

    // A partial apply: one target refused.
    w.portal.inject(
        Fault::error("ACCESS_DENIED", 403, "Access denied")
            .method("sale.paysystem.settings.update")
            .pay_system(12),
    );
    let out = plan(&[
        "apply",
        "--auto-approve",
        "--refresh",
        "--format",
        "json",
        "m",
    ]);
    out.expect_code(6);
    let doc = valid("apply", &out.stdout);
    assert_eq!(doc["result"]["complete"], false, "{}", out.stdout);
    assert_eq!(
        doc["result"]["failed"][0]["pay_system"], 12,
        "{}",
        out.stdout
    );
    assert_eq!(doc["result"]["failed"][0]["error"], "ACCESS_DENIED");
    assert_eq!(
        doc["result"]["applied"][0]["pay_system"], 11,
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(CANARY) && !out.stderr.contains(CANARY));

    // Nothing to apply: still one document.
    w.write(
        "m/acme.yaml",
        &manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "REGULAR")]),
    );
    let out = plan(&["apply", "--auto-approve", "--format", "json", "m"]);
    let doc = valid("apply", &out.stdout);
    assert!(doc["plan"]["targets"].is_array(), "{}", out.stdout);

    // --verify: a code the portal does not keep is in the one document too.
    w.write(
        "m/acme.yaml",
        &manifest(
            11,
            1,
            &[("PS_WORK_MODE_IFRAME", "REGULAR"), ("NOT_DECLARED", "x")],
        ),
    );
    let out = plan(&[
        "apply",
        "--auto-approve",
        "--verify",
        "--format",
        "json",
        "m",
    ]);
    out.expect_code(6);
    let doc = valid("apply", &out.stdout);
    assert_eq!(doc["result"]["complete"], false, "{}", out.stdout);
    assert_eq!(
        doc["result"]["not_kept"][0]["code"], "NOT_DECLARED",
        "{}",
        out.stdout
    );
    assert_eq!(
        doc["result"]["not_kept"][0]["found"], "missing",
        "{}",
        out.stdout
    );
}
