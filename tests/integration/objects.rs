//! Issue 24: REST handlers and pay systems declared in Git — created from an empty
//! portal, adopted by identity, updated field by field, deleted only when declared,
//! verified after every write, never created twice.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};

use paysync_emulator::{Fault, Gate, OAuthTokenSeed, PersonTypeSeed, Seed};
use serde_json::{Value, json};

use crate::support::{World, copy_dir, repo_root};

const KEY: &str = "objects-canary-key-5c1f";

/// A portal with payer types only: no handler, no pay system, no setting.
fn empty_portal() -> Seed {
    let person_type = |id: u64, name: &str| PersonTypeSeed {
        id,
        name: name.to_owned(),
        sort: None,
        code: None,
        registry_type: Some("ORDER".to_owned()),
        active: None,
        xml_id: None,
    };
    Seed {
        handlers: Vec::new(),
        pay_systems: Vec::new(),
        settings: Vec::new(),
        person_types: vec![person_type(1, "Individual"), person_type(2, "Company")],
        ..Seed::demo()
    }
}

/// The bundled example (`examples/manifests`) copied to `m/`.
fn with_example(w: &World) {
    copy_dir(&repo_root().join("examples/manifests"), &w.path("m"));
}

fn apply(w: &World) -> crate::support::Outcome {
    w.cmd()
        .env("ACME_KEY", KEY)
        .args(["apply", "--auto-approve", "m"])
        .run()
}

/// The methods the portal ran that write.
fn writes(w: &World) -> Vec<String> {
    w.calls()
        .into_iter()
        .map(|(method, _)| method)
        .filter(|m| !m.ends_with(".list") && !m.ends_with(".get"))
        .collect()
}

fn handler_codes(w: &World) -> Vec<String> {
    w.portal.handlers().into_iter().map(|h| h.1).collect()
}

fn pay_system_xml_ids(w: &World) -> Vec<String> {
    w.portal
        .pay_systems()
        .into_iter()
        .filter_map(|p| p["XML_ID"].as_str().map(str::to_owned))
        .collect()
}

fn state(w: &World) -> Value {
    serde_json::from_str(&w.read("paysync.state.json")).unwrap_or(Value::Null)
}

#[test]
fn the_bundled_example_builds_an_empty_portal_in_one_apply_and_a_second_sends_nothing() {
    let w = World::with_seed(empty_portal());
    with_example(&w);
    let out = apply(&w);
    out.expect_code(0).assert_hides(&[KEY]);
    assert!(
        out.stderr.contains("Created handler acmepay (ID 1)."),
        "{}",
        out.stderr
    );
    // Handler first, then the pay systems, then the settings.
    let order = writes(&w);
    assert_eq!(
        order,
        [
            "sale.paysystem.handler.add",
            "sale.paysystem.add",
            "sale.paysystem.add",
            "sale.paysystem.settings.update",
            "sale.paysystem.settings.update"
        ]
    );
    assert_eq!(handler_codes(&w), ["acmepay"]);
    let (_, _, _, settings) = &w.portal.handlers()[0];
    assert_eq!(
        settings["CODES"]["PAYMENT_ID"]["DEFAULT"]["PROVIDER_KEY"],
        "PAYMENT"
    );
    assert_eq!(
        settings["IFRAME_DATA"]["ACTION_URI"],
        "https://pay.acme.example/iframe"
    );
    assert_eq!(settings["CURRENCY"], json!(["EUR", "USD"]));
    let systems = w.portal.pay_systems();
    let b2c = systems
        .iter()
        .find(|p| p["XML_ID"] == "acme_card_b2c")
        .unwrap();
    assert_eq!(b2c["NAME"], "AcmePay card (individuals)");
    assert_eq!(b2c["ACTION_FILE"], "acmepay");
    assert_eq!(b2c["PERSON_TYPE_ID"], 1);
    assert_eq!(b2c["ENTITY_REGISTRY_TYPE"], "ORDER");
    assert_eq!(b2c["ACTIVE"], "Y");
    let id = b2c["ID"].as_u64().unwrap();
    assert_eq!(
        w.portal_value(id, 1, "PS_WORK_MODE_IFRAME").as_deref(),
        Some("REGULAR")
    );
    assert_eq!(
        w.portal_value(id, 1, "REST_SERVICE_KEY_IFRAME").as_deref(),
        Some(KEY)
    );
    // The state records the IDs this portal gave.
    let recorded = state(&w);
    assert_eq!(recorded["objects"]["handlers"]["acmepay"]["id"], 1);
    assert_eq!(recorded["objects"]["paySystems"]["acme_card_b2c"]["id"], id);
    assert!(!w.read("paysync.state.json").contains(KEY));

    // Right after: nothing to change, on the portal either; a second apply writes nothing.
    no_changes_on_the_portal(&w);
    w.portal.clear_requests();
    apply(&w).expect_code(0);
    assert_eq!(writes(&w), Vec::<String>::new());
    w.run(&["plan", "--detailed-exitcode", "m"]).expect_code(0);
}

#[test]
fn objects_on_the_portal_but_not_recorded_are_adopted_never_created_again() {
    // The demo portal holds the handler and both pay systems, made by hand.
    let w = World::new();
    with_example(&w);
    let plan = w.run(&["plan", "--refresh", "m"]);
    plan.expect_code(0);
    assert!(
        plan.stdout.contains("+ handler acmepay (ID 1)  to adopt"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("3 handlers and pay systems to adopt"),
        "{}",
        plan.stdout
    );
    apply(&w).expect_code(0);
    assert!(
        !writes(&w).iter().any(|m| m.ends_with(".add")),
        "{:?}",
        writes(&w)
    );
    assert_eq!(handler_codes(&w), ["acmepay"]);
    let recorded = state(&w);
    assert_eq!(recorded["objects"]["paySystems"]["acme_card_b2c"]["id"], 11);
    assert_eq!(recorded["objects"]["paySystems"]["acme_card_b2b"]["id"], 12);
}

#[test]
fn a_create_whose_answer_is_lost_is_looked_up_and_adopted_not_sent_twice() {
    let w = World::with_seed(empty_portal());
    with_example(&w);
    // The portal makes the pay system, and the answer never arrives.
    w.portal
        .inject(Fault::lost_response().method("sale.paysystem.add").times(1));
    let out = apply(&w);
    out.expect_code(0);
    assert_eq!(
        pay_system_xml_ids(&w).len(),
        2,
        "{:?}",
        w.portal.pay_systems()
    );
    let adds = writes(&w)
        .iter()
        .filter(|m| *m == "sale.paysystem.add")
        .count();
    assert_eq!(
        adds,
        2,
        "one add per pay system, none repeated: {:?}",
        writes(&w)
    );
    assert!(
        out.stderr
            .contains("Adopted (found on the portal) pay system"),
        "{}",
        out.stderr
    );
}

/// `plan --refresh` right after: nothing to change, on the portal either.
fn no_changes_on_the_portal(w: &World) {
    w.cmd()
        .env("ACME_KEY", KEY)
        .args(["plan", "--refresh", "--detailed-exitcode", "m"])
        .run()
        .expect_code(0);
}

fn spawn_apply(w: &World) -> Child {
    w.cmd()
        .env("ACME_KEY", KEY)
        .into_std()
        .args(["apply", "--auto-approve", "m"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("paysync starts")
}

/// After a kill: one handler and one pay system per identity, and every object the state
/// records is on the portal under the recorded ID.
fn never_twice_never_ahead(w: &World, round: &str) {
    let handlers = handler_codes(w);
    assert!(handlers.len() <= 1, "{round}: {handlers:?}");
    let mut ids = pay_system_xml_ids(w);
    ids.sort();
    let count = ids.len();
    ids.dedup();
    assert_eq!(
        ids.len(),
        count,
        "{round}: a pay system made twice: {ids:?}"
    );
    let recorded = state(w);
    for (xml_id, record) in recorded["objects"]["paySystems"]
        .as_object()
        .into_iter()
        .flatten()
    {
        assert!(
            w.portal
                .pay_systems()
                .iter()
                .any(|p| p["XML_ID"] == xml_id.as_str() && p["ID"] == record["id"]),
            "{round}: the state records {xml_id} as {}, which the portal does not hold",
            record["id"]
        );
    }
}

/// SIGKILL at each point of a creating apply — while the handler's add, a pay system's
/// add or the settings are in flight — then a re-run: nothing is created twice, and the
/// state never records an object the portal does not hold. The kill points are made by
/// holding the request on the portal (no timing involved).
#[cfg(unix)]
#[test]
fn sigkill_during_a_creating_apply_never_creates_an_object_twice() {
    for method in [
        "sale.paysystem.handler.add",
        "sale.paysystem.add",
        "sale.paysystem.settings.update",
    ] {
        let w = World::with_seed(empty_portal());
        with_example(&w);
        let gate = Gate::new();
        w.portal.inject(Fault::hold(&gate).method(method).times(1));
        let mut child = spawn_apply(&w);
        // Wait for the held request to arrive: received, not answered (a condition, not
        // a clock; whatever the point the kill lands at, the checks below must hold).
        let arrived = || w.portal.requests_received() > w.portal.requests().len() as u64;
        for _ in 0..6000 {
            if arrived() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(arrived(), "{method} never arrived");
        let _ = child.kill();
        let _ = child.wait();
        // The portal finishes what it was doing (or drops it with the connection).
        gate.open();
        let round = format!("killed during {method}");
        never_twice_never_ahead(&w, &round);
        let out = apply(&w);
        assert_eq!(out.code, 0, "{round}: {out:?}");
        never_twice_never_ahead(&w, &round);
        assert_eq!(handler_codes(&w), ["acmepay"], "{round}");
        assert_eq!(pay_system_xml_ids(&w).len(), 2, "{round}");
        no_changes_on_the_portal(&w);
    }
}

#[test]
fn a_changed_registry_type_is_a_plan_error_naming_the_field_and_nothing_is_sent() {
    let w = World::with_seed(empty_portal());
    with_example(&w);
    apply(&w).expect_code(0);
    let file =
        w.read("m/acmepay.yaml")
            .replacen("registryType: ORDER", "registryType: CRM_INVOICE", 1);
    w.write("m/acmepay.yaml", &file);
    let offline = w.run(&["plan", "m"]);
    offline.expect_code(3);
    assert!(
        offline.stderr.contains(
            "ENTITY_REGISTRY_TYPE is ORDER on the portal and CRM_INVOICE in the manifest"
        ),
        "{}",
        offline.stderr
    );
    assert!(
        offline.stderr.contains("m/acmepay.yaml:48"),
        "{}",
        offline.stderr
    );
    w.portal.clear_requests();
    apply(&w).expect_code(3);
    assert_eq!(writes(&w), Vec::<String>::new());
}

#[test]
fn removing_a_code_from_a_handler_while_a_settings_document_manages_it_is_a_validation_error() {
    let w = World::new();
    with_example(&w);
    let file = w.read("m/acmepay.yaml");
    let without = file.replacen(
        "  REST_SERVICE_KEY_IFRAME: { name: Secret key, sort: 200 }\n",
        "",
        1,
    );
    assert_ne!(file, without);
    w.write("m/acmepay.yaml", &without);
    let out = w.run(&["validate", "m"]);
    out.expect_code(3);
    assert!(
        out.stderr.contains(
            "error[undeclared-code]: REST_SERVICE_KEY_IFRAME is not one of the codes of handler acmepay"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("m/acme.yaml:16:3"), "{}", out.stderr);
}

#[test]
fn a_handler_update_sends_its_whole_settings_and_the_plan_shows_each_field() {
    let w = World::with_seed(empty_portal());
    with_example(&w);
    apply(&w).expect_code(0);
    let file = w
        .read("m/acmepay.yaml")
        .replacen("name: Shop ID", "name: Shop number", 1);
    w.write("m/acmepay.yaml", &file);
    let plan = w.run(&["plan", "m"]);
    assert!(
        plan.stdout.contains(
            "~ handler acmepay (ID 1)  to update  (m/acmepay.yaml:8)\n    ~ SETTINGS.CODES.REST_SERVICE_ID_IFRAME.NAME: \"Shop ID\" -> \"Shop number\"\n"
        ),
        "{}",
        plan.stdout
    );
    w.portal.clear_requests();
    apply(&w).expect_code(0);
    let update = w
        .calls()
        .into_iter()
        .find(|(m, _)| m == "sale.paysystem.handler.update")
        .expect("an update")
        .1;
    // Whole: every code, not only the one that changed.
    let codes = update["FIELDS"]["SETTINGS"]["CODES"].as_object().unwrap();
    assert_eq!(codes.len(), 5, "{update}");
    assert_eq!(
        update["FIELDS"]["SETTINGS"]["IFRAME_DATA"]["ACTION_URI"],
        "https://pay.acme.example/iframe"
    );
    assert_eq!(
        w.portal.handlers()[0].3["CODES"]["REST_SERVICE_ID_IFRAME"]["NAME"],
        "Shop number"
    );
}

#[test]
fn a_field_the_portal_does_not_keep_is_reported_and_planned_again() {
    let w = World::with_seed(empty_portal());
    with_example(&w);
    apply(&w).expect_code(0);
    let file = w.read("m/acmepay.yaml").replacen(
        "name: AcmePay card (individuals)",
        "name: AcmePay card (people)",
        1,
    );
    w.write("m/acmepay.yaml", &file);
    // This portal answers the update but keeps nothing of it.
    w.portal.inject(
        Fault::result(json!(true))
            .method("sale.paysystem.update")
            .forever(),
    );
    let out = apply(&w);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains(
            "Not kept by the portal: pay system xmlId:acme_card_b2c: NAME (planned again)."
        ),
        "{}",
        out.stderr
    );
    let plan = w.run(&["plan", "--detailed-exitcode", "m"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains("+ NAME = \"AcmePay card (people)\""),
        "{}",
        plan.stdout
    );
}

#[test]
fn a_delete_is_explicit_shown_under_needs_attention_and_says_what_it_affects() {
    let w = World::with_seed(empty_portal());
    with_example(&w);
    apply(&w).expect_code(0);
    // Gone from the manifests: no longer managed, left on the portal.
    let file = w.read("m/acmepay.yaml");
    let (head, _) = file.split_once("---\n# The card pay system").unwrap();
    let b2b = file.split("---\n").last().unwrap();
    w.write("m/acmepay.yaml", &format!("{head}---\n{b2b}"));
    std::fs::remove_file(w.path("m/acme.yaml")).unwrap();
    let plan = w.run(&["plan", "m"]);
    assert!(
        plan.stdout.contains(&format!(
            ". pay system xmlId:acme_card_b2c (ID {})  no longer managed; left as is on the portal",
            state(&w)["objects"]["paySystems"]["acme_card_b2c"]["id"]
        )),
        "{}",
        plan.stdout
    );
    apply(&w).expect_code(0);
    assert_eq!(pay_system_xml_ids(&w).len(), 2);
    // Deleting takes `delete: true`.
    let with_delete = format!(
        "{}---\napiVersion: paysync/v1\nkind: PaySystem\nxmlId: acme_card_b2b\ndelete: true\n",
        w.read("m/acmepay.yaml").split("---\n").next().unwrap()
    );
    w.write("m/acmepay.yaml", &with_delete);
    std::fs::remove_file(w.path("m/acme-defaults.yaml")).unwrap();
    let plan = w.run(&["plan", "m"]);
    let id = state(&w)["objects"]["paySystems"]["acme_card_b2b"]["id"].clone();
    assert!(
        plan.stdout.starts_with(&format!(
            "Needs attention:\n  ! pay system xmlId:acme_card_b2b (ID {id})  deleted from the portal \
             (`delete: true`): deletes pay system {id} and, with it, its settings on the portal \
             (1 target recorded in the state is forgotten)"
        )),
        "{}",
        plan.stdout
    );
    // Its settings go with it: not listed as codes left as they are on the portal.
    assert!(
        !plan.stdout.contains("no longer managed; left as is"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("Plan: 1 handler or pay system to delete."),
        "{}",
        plan.stdout
    );
    let markdown = w.run(&["plan", "--format", "markdown", "m"]);
    assert!(
        markdown
            .stdout
            .contains("- **pay system xmlId&#58;acme&#95;card&#95;b2b** deleted from the portal"),
        "{}",
        markdown.stdout
    );
    apply(&w).expect_code(0);
    // Deleted; the one no longer managed is still there.
    assert_eq!(pay_system_xml_ids(&w), ["acme_card_b2c"]);
    // Remembered as deleted, so the declaration of the delete plans nothing more.
    assert_eq!(
        state(&w)["objects"]["paySystems"]["acme_card_b2b"]["deleted"],
        true,
        "{}",
        state(&w)
    );
    w.run(&["plan", "--detailed-exitcode", "m"]).expect_code(0);
    w.run(&["plan", "--refresh", "--detailed-exitcode", "m"])
        .expect_code(0);
    let listed = w.run(&["state", "list"]);
    assert!(
        !listed.stdout.contains("acme_card_b2b"),
        "{}",
        listed.stdout
    );
    assert!(
        state(&w)["targets"].as_array().unwrap().is_empty(),
        "{}",
        state(&w)
    );
}

#[test]
fn access_denied_for_another_applications_handler_names_the_object_and_its_manifest() {
    let mut seed = Seed::demo();
    seed.handlers[0].client_id = Some("app.other".to_owned());
    seed.oauth_tokens.push(OAuthTokenSeed {
        client_id: Some("app.mine".to_owned()),
        ..OAuthTokenSeed::new("objects-oauth-token")
    });
    let w = World::with_seed(seed);
    with_example(&w);
    let file = w
        .read("m/acmepay.yaml")
        .replacen("name: AcmePay\n", "name: AcmePay (ours)\n", 1);
    w.write("m/acmepay.yaml", &file);
    let out = w
        .cmd()
        .env_remove("PAYSYNC_WEBHOOK_URL")
        .env("PAYSYNC_PORTAL_URL", w.portal.base_url())
        .env("PAYSYNC_ACCESS_TOKEN", "objects-oauth-token")
        .env("ACME_KEY", KEY)
        .args(["apply", "--auto-approve", "m"])
        .run();
    out.expect_code(1)
        .assert_hides(&["objects-oauth-token", KEY]);
    assert!(
        out.stderr
            .contains("handler acmepay (m/acmepay.yaml:8): sale.paysystem.handler.update"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("ACCESS_DENIED"), "{}", out.stderr);
    assert!(
        out.stderr.contains("another application's REST handler"),
        "{}",
        out.stderr
    );
    assert_eq!(w.portal.handlers()[0].2, "AcmePay");
}

#[test]
fn a_saved_plan_that_creates_objects_is_applied_as_reviewed() {
    let w = World::with_seed(empty_portal());
    with_example(&w);
    w.cmd()
        .env("ACME_KEY", KEY)
        .args(["plan", "--out", "plan.json", "m"])
        .run()
        .expect_code(0);
    assert!(!w.read("plan.json").contains(KEY));
    w.cmd()
        .env("ACME_KEY", KEY)
        .args(["apply", "--plan", "plan.json"])
        .run()
        .expect_code(0);
    assert_eq!(handler_codes(&w), ["acmepay"]);
    assert_eq!(pay_system_xml_ids(&w).len(), 2);
    no_changes_on_the_portal(&w);
}

#[test]
fn the_json_plan_lists_objects_with_addresses_and_counts_them() {
    let w = World::with_seed(empty_portal());
    with_example(&w);
    let out = w.run(&["plan", "--format", "json", "m"]);
    out.expect_code(0);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["summary"]["objects_to_create"], 3);
    assert_eq!(doc["objects"][0]["address"], "handler[\"acmepay\"]");
    assert_eq!(doc["objects"][0]["action"], "create");
    assert_eq!(
        doc["objects"][1]["address"],
        "pay_system[\"acme_card_b2b\"]"
    );
    assert_eq!(doc["objects"][1]["manifest"], "m/acmepay.yaml:51");
    assert_eq!(doc["unresolved"].as_array().unwrap().len(), 2);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schema/plan.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// The environments example: test and prod are built from empty portals by the same
/// manifests, each with its own IDs recorded in its own state.
#[test]
fn the_environments_example_builds_test_and_prod_from_empty_portals_each_with_its_own_ids() {
    let test = World::with_seed(empty_portal());
    // Production's portal already has a pay system of its own: the same manifests land
    // on other IDs there.
    let mut prod_seed = empty_portal();
    prod_seed.pay_systems = Seed::demo()
        .pay_systems
        .into_iter()
        .filter(|p| p.action_file == "cash")
        .collect();
    let prod = paysync_emulator::EmulatorHandle::start(prod_seed).unwrap();
    copy_dir(&repo_root().join("examples/environments"), test.dir.path());
    let project = test
        .read("paysync.yaml")
        .replace(
            "portal: https://acme-test.bitrix24.com",
            &format!("portal: {}", test.portal.base_url()),
        )
        .replace(
            "portal: https://acme.bitrix24.com",
            &format!("portal: {}", prod.base_url()),
        );
    test.write("paysync.yaml", &project);
    let run = |args: &[&str]| {
        test.cmd()
            .env_remove("PAYSYNC_WEBHOOK_URL")
            .env("TEST_WEBHOOK_URL", test.portal.webhook_url())
            .env("PROD_WEBHOOK_URL", prod.webhook_url())
            .env("ACME_KEY", KEY)
            .args(args)
            .run()
    };
    run(&["apply", "--env", "test", "--auto-approve"]).expect_code(0);
    // Production is protected: a reviewed, saved plan.
    run(&["plan", "--env", "prod", "--out", "prod.plan"]).expect_code(0);
    run(&["apply", "--env", "prod", "--plan", "prod.plan"]).expect_code(0);
    for env in ["test", "prod"] {
        run(&["plan", "--env", env, "--refresh", "--detailed-exitcode"]).expect_code(0);
    }
    let recorded = |env: &str| -> Value {
        serde_json::from_str(&test.read(&format!("state/{env}.state.json"))).unwrap()
    };
    let ids = |env: &str| {
        let state = recorded(env);
        let p = &state["objects"]["paySystems"];
        (
            p["acme_card_b2b"]["id"].clone(),
            p["acme_card_b2c"]["id"].clone(),
        )
    };
    assert_eq!(ids("test"), (json!(1), json!(2)));
    assert_eq!(ids("prod"), (json!(2), json!(3)));
    for (env, portal) in [("test", &test.portal), ("prod", &prod)] {
        let state = recorded(env);
        let systems = portal.pay_systems();
        for (xml_id, record) in state["objects"]["paySystems"].as_object().unwrap() {
            assert!(
                systems
                    .iter()
                    .any(|p| p["XML_ID"] == xml_id.as_str() && p["ID"] == record["id"]),
                "{env}: {xml_id}"
            );
        }
        assert_eq!(portal.handlers().len(), 1, "{env}");
        // Each environment's overlay reached its own portal.
        let b2c = record_id(&state, "acme_card_b2c");
        let mode = portal
            .setting(b2c, 1, "PS_WORK_MODE_IFRAME")
            .and_then(|s| s.1);
        let expected = if env == "test" { "TEST" } else { "REGULAR" };
        assert_eq!(mode.as_deref(), Some(expected), "{env}");
    }
}

fn record_id(state: &Value, xml_id: &str) -> u64 {
    state["objects"]["paySystems"][xml_id]["id"]
        .as_u64()
        .unwrap()
}

/// Numbers as text (the portal keeps `SORT` as sent, a string or a number), so two
/// handlers' settings compare by what they say.
fn numbers_as_text(value: &Value) -> Value {
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_text).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), numbers_as_text(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The documents of an import, by file, without comments, with pay system IDs (in file
/// names and secret variables) taken out: what two portals' imports must agree on.
fn imported_documents(w: &World, dir: &str) -> BTreeMap<String, String> {
    let ids = regex_lite_ps();
    std::fs::read_dir(w.path(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let body: String = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| format!("{}\n", ids(l)))
                .collect();
            let key = if body.contains("kind: PaySystemHandler") {
                path.file_name().unwrap().to_string_lossy().into_owned()
            } else {
                body.lines()
                    .find(|l| l.starts_with("xmlId: "))
                    .unwrap_or_default()
                    .to_owned()
            };
            (key, body)
        })
        .collect()
}

/// `PAYSYNC_PS11_PT1_...` → `PAYSYNC_PS#_PT1_...`.
fn regex_lite_ps() -> impl Fn(&str) -> String {
    |line: &str| {
        let mut out = String::new();
        let mut rest = line;
        while let Some(at) = rest.find("PAYSYNC_PS") {
            out.push_str(&rest[..at + "PAYSYNC_PS".len()]);
            rest = rest[at + "PAYSYNC_PS".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
            out.push('#');
        }
        out.push_str(rest);
        out
    }
}

/// `import --all` from a configured portal, then `apply` of those manifests to an empty
/// portal: the second portal holds the same handlers, pay systems and settings, under its
/// own IDs, and `plan --refresh` against it shows no changes.
#[test]
fn import_all_then_apply_clones_a_configured_portal_to_an_empty_one() {
    let source = World::new();
    with_example(&source);
    apply(&source).expect_code(0);
    source
        .run(&["import", "--all", "--out", "imported"])
        .expect_code(0)
        .assert_hides(&[KEY]);
    assert!(source.path("imported/handler-acmepay.yaml").is_file());
    let clone = World::with_seed(empty_portal());
    copy_dir(&source.path("imported"), &clone.path("imported"));
    let secret = ("PAYSYNC_PS11_PT1_REST_SERVICE_KEY_IFRAME", KEY);
    clone
        .cmd()
        .env(secret.0, secret.1)
        .args(["apply", "--auto-approve", "imported"])
        .run()
        .expect_code(0);
    clone
        .cmd()
        .env(secret.0, secret.1)
        .args(["plan", "--refresh", "--detailed-exitcode", "imported"])
        .run()
        .expect_code(0);

    // Handlers: the same codes and schema.
    let handlers = |w: &World| -> Vec<(String, String, Value)> {
        w.portal
            .handlers()
            .into_iter()
            .map(|(_, code, name, settings)| (code, name, numbers_as_text(&settings)))
            .collect()
    };
    assert_eq!(handlers(&clone), handlers(&source));
    // Pay systems: the same fields under the clone's own IDs.
    let systems = |w: &World| -> BTreeMap<String, (Value, Value)> {
        w.portal
            .pay_systems()
            .into_iter()
            .filter(|p| p["ACTION_FILE"] == "acmepay")
            .map(|p| {
                let id = p["ID"].clone();
                let mut fields = p.clone();
                fields.as_object_mut().unwrap().remove("ID");
                (p["XML_ID"].as_str().unwrap().to_owned(), (id, fields))
            })
            .collect()
    };
    let (from, to) = (systems(&source), systems(&clone));
    assert_eq!(
        from.keys().collect::<Vec<_>>(),
        to.keys().collect::<Vec<_>>()
    );
    for (xml_id, (id, fields)) in &from {
        assert_eq!(&to[xml_id].1, fields, "{xml_id}");
        assert_ne!(&to[xml_id].0, id, "{xml_id}: the clone's own ID");
    }
    // Settings: importing the clone gives the same documents.
    clone
        .cmd()
        .env(secret.0, secret.1)
        .args(["import", "--all", "--out", "reimported"])
        .run()
        .expect_code(0);
    assert_eq!(
        imported_documents(&clone, "reimported"),
        imported_documents(&source, "imported")
    );
}

/// `validate --live` checks the new kinds against the portal: a handler neither declared
/// nor there, a changed registry type, an XML_ID two pay systems share — each located,
/// exit 3, nothing written.
#[test]
fn validate_live_checks_handlers_and_pay_systems_against_the_portal() {
    let mut seed = Seed::demo();
    // A second pay system with the b2b pay system's XML_ID.
    let mut twin = seed.pay_systems[2].clone();
    twin.id = 13;
    seed.pay_systems.push(twin);
    let w = World::with_seed(seed);
    with_example(&w);
    w.run(&["validate", "m"]).expect_code(0);
    // The settings that name it by XML_ID first, then the PaySystem document itself.
    let live = w.run(&["validate", "--live", "m"]);
    live.expect_code(3);
    assert!(
        live.stderr
            .contains("\"acme_card_b2b\" is not one thing on this portal: 12, 13 have it"),
        "{}",
        live.stderr
    );
    std::fs::remove_file(w.path("m/acme-defaults.yaml")).unwrap();
    let live = w.run(&["validate", "--live", "m"]);
    live.expect_code(3);
    assert!(
        live.stderr
            .contains("pay systems 12, 13 all have XML_ID \"acme_card_b2b\""),
        "{}",
        live.stderr
    );
    assert!(live.stderr.contains("m/acmepay.yaml:51"), "{}", live.stderr);
    let file = w
        .read("m/acmepay.yaml")
        .replacen("registryType: ORDER", "registryType: CRM_QUOTE", 1)
        .replacen(
            "handler: acmepay\npersonType: 1",
            "handler: otherpay\npersonType: 1",
            1,
        );
    w.write("m/acmepay.yaml", &file);
    let live = w.run(&["validate", "--live", "m"]);
    live.expect_code(3);
    for expected in [
        "ENTITY_REGISTRY_TYPE is ORDER on the portal and CRM_QUOTE in the manifest",
        "its handler otherpay is neither declared in the manifests nor on this portal",
    ] {
        assert!(
            live.stderr.contains(expected),
            "{expected}\n{}",
            live.stderr
        );
    }
    assert_eq!(writes(&w), Vec::<String>::new());
}

#[test]
fn deleting_a_pay_system_or_handler_the_manifests_still_use_is_a_validation_error() {
    let w = World::new();
    with_example(&w);
    let file = w.read("m/acmepay.yaml").replacen(
        "xmlId: acme_card_b2b\n",
        "xmlId: acme_card_b2b\ndelete: true\n",
        1,
    );
    w.write("m/acmepay.yaml", &file);
    let out = w.run(&["validate", "m"]);
    out.expect_code(3);
    assert!(
        out.stderr.contains(
            "pay system xmlId:acme_card_b2b is to be deleted, but this document still manages its settings"
        ),
        "{}",
        out.stderr
    );
    let file = w
        .read("m/acmepay.yaml")
        .replacen("delete: true\n", "", 1)
        .replacen("code: acmepay\n", "code: acmepay\ndelete: true\n", 1);
    w.write("m/acmepay.yaml", &file);
    let out = w.run(&["validate", "m"]);
    out.expect_code(3);
    assert!(
        out.stderr.contains(
            "handler acmepay is to be deleted, but pay system xmlId:acme_card_b2c still runs on it"
        ),
        "{}",
        out.stderr
    );
}

/// The pull-request comment shows each object to create in a fold of its own, before
/// the settings; `apply --format json` says what was done to each, against its schema.
#[test]
fn the_comment_shows_created_objects_and_the_apply_result_lists_them() {
    let w = World::with_seed(empty_portal());
    with_example(&w);
    let comment = w.run(&["plan", "--format", "markdown", "m"]);
    comment.expect_code(0);
    let text = &comment.stdout;
    assert!(
        text.contains("**Plan: 3 handlers and pay systems to create, 2 targets named by reference, resolved at apply.**"),
        "{text}"
    );
    let handler = text
        .find("<details><summary>+ <b>handler acmepay</b>: to create, 24 fields")
        .expect(text);
    let target = text.find("<code>xmlId&#58;acme&#95;card&#95;b2c/1</code> (its pay system is created by this apply)").expect(text);
    assert!(handler < target, "{text}");
    let out = w
        .cmd()
        .env("ACME_KEY", KEY)
        .args(["apply", "--auto-approve", "--format", "json", "m"])
        .run();
    out.expect_code(0).assert_hides(&[KEY]);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let objects = &doc["result"]["objects"];
    assert_eq!(objects[0]["address"], "handler[\"acmepay\"]");
    assert_eq!(objects[0]["action"], "create");
    assert_eq!(objects[0]["id"], 1);
    assert_eq!(objects.as_array().unwrap().len(), 3);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schema/apply.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// SIGKILL at random points of creating applies (each request a little slow, so kills
/// land before, between and inside them), then a re-run: never two objects for one
/// identity, never a recorded object the portal does not hold. Only where the kill lands
/// is random; what is checked holds wherever it lands.
#[cfg(unix)]
#[test]
fn sigkill_at_random_points_of_a_creating_apply_never_creates_twice() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut random = crate::signals::Lcg(seed);
    for round in 1..=8 {
        let w = World::with_seed(empty_portal());
        with_example(&w);
        w.portal
            .inject(Fault::delay(std::time::Duration::from_millis(30)).forever());
        let mut child = spawn_apply(&w);
        std::thread::sleep(std::time::Duration::from_millis(random.next(400)));
        let _ = child.kill();
        let _ = child.wait();
        let at = format!("round {round} (seed {seed})");
        never_twice_never_ahead(&w, &at);
        w.portal.clear_faults();
        let out = apply(&w);
        assert_eq!(out.code, 0, "{at}: {out:?}");
        never_twice_never_ahead(&w, &at);
        assert_eq!(handler_codes(&w), ["acmepay"], "{at}");
        assert_eq!(pay_system_xml_ids(&w).len(), 2, "{at}");
        no_changes_on_the_portal(&w);
    }
}

/// With OAuth, the application that creates the handler may update it later (and its
/// pay systems): only another application's are refused.
#[test]
fn an_oauth_application_creates_and_then_updates_its_own_handler() {
    let mut seed = empty_portal();
    seed.oauth_tokens.push(OAuthTokenSeed {
        client_id: Some("app.mine".to_owned()),
        ..OAuthTokenSeed::new("objects-oauth-mine")
    });
    let w = World::with_seed(seed);
    with_example(&w);
    let run = |args: &[&str]| {
        w.cmd()
            .env_remove("PAYSYNC_WEBHOOK_URL")
            .env("PAYSYNC_PORTAL_URL", w.portal.base_url())
            .env("PAYSYNC_ACCESS_TOKEN", "objects-oauth-mine")
            .env("ACME_KEY", KEY)
            .args(args)
            .run()
    };
    run(&["apply", "--auto-approve", "m"]).expect_code(0);
    let file = w
        .read("m/acmepay.yaml")
        .replacen("name: AcmePay\n", "name: AcmePay 2\n", 1)
        .replacen(
            "name: AcmePay card (companies)",
            "name: AcmePay card (firms)",
            1,
        );
    w.write("m/acmepay.yaml", &file);
    run(&["apply", "--auto-approve", "m"])
        .expect_code(0)
        .assert_hides(&["objects-oauth-mine", KEY]);
    assert_eq!(w.portal.handlers()[0].2, "AcmePay 2");
    assert!(
        w.portal
            .pay_systems()
            .iter()
            .any(|p| p["NAME"] == "AcmePay card (firms)")
    );
}

/// Planning a subset of the manifest files never forgets the handlers and pay systems of
/// the files not read (regression: they were planned as no longer managed).
#[test]
fn a_plan_of_some_files_leaves_the_objects_of_the_others_alone() {
    let w = World::with_seed(empty_portal());
    with_example(&w);
    apply(&w).expect_code(0);
    let subset = w
        .cmd()
        .env("ACME_KEY", KEY)
        .args(["plan", "--detailed-exitcode", "m/acme.yaml"])
        .run();
    subset.expect_code(0);
    assert_eq!(subset.stdout.trim(), "No changes.");
    // Gone from the files read, it is no longer managed.
    let file = w.read("m/acmepay.yaml");
    let (head, _) = file.split_once("---\n# The card pay system").unwrap();
    w.write("m/acmepay.yaml", head);
    let plan = w.run(&["plan", "m/acmepay.yaml"]);
    assert!(
        plan.stdout.contains(". pay system xmlId:acme_card_b2b"),
        "{}",
        plan.stdout
    );
}

/// Portal text is untrusted: a handler whose name and action URI hold the webhook's code
/// is imported without it (scrubbed), and the files still load.
#[test]
fn import_all_never_writes_a_credential_the_portal_echoes_in_a_handler() {
    let mut seed = Seed::demo();
    seed.handlers[0].name = "AcmePay demo-webhook-code".to_owned();
    seed.handlers[0].settings["IFRAME_DATA"]["ACTION_URI"] =
        json!("https://pay.acme.example/rest/1/demo-webhook-code/cb");
    let w = World::with_seed(seed);
    w.run(&["import", "--all", "--out", "imported"])
        .expect_code(0)
        .assert_hides(&["demo-webhook-code"]);
    let text = w.read("imported/handler-acmepay.yaml");
    assert!(!text.contains("demo-webhook-code"), "{text}");
    assert!(text.contains("<redacted>"), "{text}");
    w.run(&["validate", "imported"]).expect_code(0);
}

/// A pay system's logo is read from its file, sent base64 and compared by digest: a new
/// image is planned again, an unchanged one is not (the portal does not return it).
#[test]
fn a_logo_is_sent_from_its_file_and_compared_by_digest() {
    let w = World::with_seed(empty_portal());
    with_example(&w);
    std::fs::write(w.path("m/logo.png"), b"\x89PNG first").unwrap();
    let file = w.read("m/acmepay.yaml").replacen(
        "registryType: ORDER\nactive: true\n",
        "registryType: ORDER\nactive: true\nlogo: file:logo.png\n",
        1,
    );
    w.write("m/acmepay.yaml", &file);
    apply(&w).expect_code(0);
    let add = w
        .calls()
        .into_iter()
        .find(|(m, p)| m == "sale.paysystem.add" && p["XML_ID"] == "acme_card_b2c")
        .expect("the add")
        .1;
    assert_eq!(add["LOGOTYPE"], "iVBORyBmaXJzdA==");
    no_changes_on_the_portal(&w);
    std::fs::write(w.path("m/logo.png"), b"\x89PNG second").unwrap();
    let plan = w.run(&["plan", "--detailed-exitcode", "m"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains("~ LOGOTYPE: \"sha256:"),
        "{}",
        plan.stdout
    );
    std::fs::remove_file(w.path("m/logo.png")).unwrap();
    let missing = w.run(&["validate", "m"]);
    missing.expect_code(3);
    assert!(
        missing.stderr.contains("cannot read the logo"),
        "{}",
        missing.stderr
    );
}

/// SIGINT while a pay system is being created: the create in flight is awaited and
/// recorded, nothing more is sent (no other pay system, no setting), apply says what it
/// made and exits 130; the next apply finishes the rest.
#[cfg(unix)]
#[test]
fn sigint_while_objects_are_created_stops_after_the_one_in_flight() {
    use crate::signals::{send, wait_until, watch};
    let w = World::with_seed(empty_portal());
    with_example(&w);
    let gate = Gate::new();
    w.portal
        .inject(Fault::hold(&gate).method("sale.paysystem.add").times(1));
    let child = w
        .cmd()
        .env("ACME_KEY", KEY)
        .into_std()
        .args(["apply", "--auto-approve", "m"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paysync starts");
    let child = watch(child);
    wait_until(
        std::time::Duration::from_secs(60),
        "the held create",
        || w.portal.requests_received() > w.portal.requests().len() as u64,
    );
    send(&child.child, "INT");
    child.wait_for("received: stopping cleanly");
    gate.open();
    let (out, _) = child.finish(std::time::Duration::from_secs(60));
    assert_eq!(out.code, 130, "{out:?}");
    assert!(
        out.stderr.contains("Created handler acmepay (ID 1)."),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("apply stopped by SIGINT"),
        "{}",
        out.stderr
    );
    assert_eq!(pay_system_xml_ids(&w).len(), 1, "only the one in flight");
    assert!(w.updates().is_empty(), "no setting after the signal");
    never_twice_never_ahead(&w, "after SIGINT");
    assert_eq!(
        state(&w)["objects"]["paySystems"]
            .as_object()
            .map(|m| m.len()),
        Some(1)
    );
    apply(&w).expect_code(0);
    assert_eq!(pay_system_xml_ids(&w).len(), 2);
    no_changes_on_the_portal(&w);
}

/// A delete whose answer is lost is retried and finds the pay system gone: the delete
/// happened, the apply is complete (regression: the retry's "not found" failed it).
#[test]
fn a_delete_whose_answer_is_lost_is_complete_when_the_object_is_gone() {
    let w = World::with_seed(empty_portal());
    with_example(&w);
    apply(&w).expect_code(0);
    let file = w.read("m/acmepay.yaml");
    let (head, _) = file
        .split_once("---\napiVersion: paysync/v1\nkind: PaySystem\nxmlId: acme_card_b2b")
        .unwrap();
    w.write(
        "m/acmepay.yaml",
        &format!("{head}---\napiVersion: paysync/v1\nkind: PaySystem\nxmlId: acme_card_b2b\ndelete: true\n"),
    );
    std::fs::remove_file(w.path("m/acme-defaults.yaml")).unwrap();
    w.portal.inject(
        Fault::lost_response()
            .method("sale.paysystem.delete")
            .times(1),
    );
    let out = apply(&w);
    out.expect_code(0);
    assert!(
        out.stderr
            .contains("Deleted pay system xmlId:acme_card_b2b"),
        "{}",
        out.stderr
    );
    assert_eq!(pay_system_xml_ids(&w), ["acme_card_b2c"]);
    w.run(&["plan", "--detailed-exitcode", "m"]).expect_code(0);
}

/// `paysync drift` also compares the handlers and pay systems the state records: a pay
/// system renamed or deleted by hand is drift (exit 7), in text, JSON and markdown.
#[test]
fn drift_reports_a_pay_system_changed_or_deleted_by_hand() {
    let w = World::with_seed(empty_portal());
    with_example(&w);
    apply(&w).expect_code(0);
    let clean = w.run(&["drift"]);
    clean.expect_code(0);
    assert!(
        clean
            .stdout
            .contains("No drift: 3 handlers and pay systems, 7 settings in 2 targets"),
        "{}",
        clean.stdout
    );
    let b2c = record_id(&state(&w), "acme_card_b2c");
    w.portal.rename_pay_system(b2c, "Renamed by hand");
    let out = w.run(&["drift"]);
    out.expect_code(7);
    assert!(
        out.stdout.contains(&format!(
            "pay system xmlId:acme_card_b2c (ID {b2c}):\n  ~ NAME: \"Renamed by hand\" -> \"AcmePay card (individuals)\" (changed outside paysync)"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Drift: 1 handler or pay system changed outside paysync"),
        "{}",
        out.stdout
    );
    let json = w.run(&["drift", "--format", "json"]);
    json.expect_code(7);
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["summary"]["objects_drifted"], 1);
    assert_eq!(doc["objects"][0]["field"], "NAME");
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schema/drift.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&doc), "{doc}");
    let markdown = w.run(&["drift", "--format", "markdown"]);
    assert!(
        markdown
            .stdout
            .contains("| pay system xmlId&#58;acme&#95;card&#95;b2c (ID"),
        "{}",
        markdown.stdout
    );
    // Deleted by hand: drift, and its recorded settings are not read (the portal would
    // refuse them; regression: drift stopped with exit 1).
    let b2b = record_id(&state(&w), "acme_card_b2b");
    w.portal.remove_pay_system(b2b);
    let out = w.run(&["drift"]);
    out.expect_code(7);
    assert!(
        out.stdout.contains(&format!(
            "pay system xmlId:acme_card_b2b (ID {b2b}): no longer on the portal"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Drift: 2 handlers and pay systems changed outside paysync"),
        "{}",
        out.stdout
    );
}
