//! Live validation (`validate --live`, `plan --refresh`, `apply --refresh`): manifest
//! mistakes only the portal can reveal, each located at file:line:col, exit 3, nothing
//! written.

use paysync_emulator::{PersonTypeSeed, Seed};

use crate::support::{World, manifest};

/// Every problem once, at known places.
const BAD: &str = "\
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: 11
personType: 1
settings:
  PS_WORK_MODE_IFRAME: LIVE
  PS_CHANGE_STATUS_PAY: \"yes\"
  REST_SERVICE_IDD: \"00412\"
  PAYMENT_ID: { type: PAYMENT, value: ACCOUNT_NUMBER }
---
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: 99
personType: 0
settings:
  PS_WORK_MODE_IFRAME: TEST
---
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: 1
personType: 1
settings:
  PS_WORK_MODE_IFRAME: TEST
---
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: 12
personType: 7
settings:
  PS_WORK_MODE_IFRAME: TEST
";

/// (code, place) of each problem in `BAD`.
const EXPECTED: &[(&str, &str)] = &[
    ("invalid-option", "m/bad.yaml:6:3"),
    ("invalid-checkbox", "m/bad.yaml:7:3"),
    ("undeclared-code", "m/bad.yaml:8:3"),
    ("unknown-pay-system", "m/bad.yaml:11:1"),
    ("built-in-pay-system", "m/bad.yaml:18:1"),
    ("unknown-person-type", "m/bad.yaml:25:1"),
];

const GOOD: &str = "\
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: 11
personType: 1
settings:
  PS_WORK_MODE_IFRAME: REGULAR
  PS_CHANGE_STATUS_PAY: N
  REST_SERVICE_ID_IFRAME: \"00412\"
  PAYMENT_ID: { type: PAYMENT, value: ACCOUNT_NUMBER }
  REST_SERVICE_KEY_IFRAME: { secret: env:ACME_KEY }
---
apiVersion: paysync/v1
kind: PaySystemSettings
paySystem: 12
personType: 0
settings:
  PS_WORK_MODE_IFRAME: TEST
";

const READS: &[&str] = &[
    "sale.paysystem.handler.list",
    "sale.paysystem.list",
    "sale.persontype.list",
    "sale.paysystem.settings.get",
    "batch",
];

/// Asserts each expected problem is reported at its place, and the run wrote nothing.
#[track_caller]
fn assert_reported(w: &World, stderr: &str) {
    for (code, place) in EXPECTED {
        assert!(
            stderr.contains(&format!("error[{code}]")),
            "missing {code}:\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("--> {place}")),
            "{code} not at {place}:\n{stderr}"
        );
    }
    assert!(stderr.contains("6 problems found in 1 file"), "{stderr}");
    assert!(w.updates().is_empty(), "a write was sent");
    for (method, _) in w.calls() {
        assert!(
            READS.contains(&method.as_str()) || method == "sale.paysystem.settings.get",
            "sent {method}"
        );
    }
    assert!(!w.path("paysync.state.json").exists(), "state written");
    assert!(!w.path("paysync.state.json.lock").exists(), "lock left");
}

#[test]
fn validate_live_reports_each_problem_with_its_place() {
    let w = World::new();
    w.write("m/bad.yaml", BAD);
    let out = w.run(&["validate", "--live", "m"]);
    out.expect_code(3);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert_reported(&w, &out.stderr);
    // The messages say what is wrong.
    for text in [
        "`PS_WORK_MODE_IFRAME` is \"LIVE\", which is not an option of handler `acmepay`",
        "use one of: TEST, REGULAR",
        "`PS_CHANGE_STATUS_PAY` is a Y/N setting, but its value is \"yes\"",
        "setting `REST_SERVICE_IDD` is not declared by handler `acmepay` of pay system 11",
        "pay system 99 does not exist on the portal",
        "pay system 1 (\"Cash\") uses the built-in handler `cash`",
        "payer type 7 does not exist on the portal",
    ] {
        assert!(
            out.stderr.contains(text),
            "missing {text:?}:\n{}",
            out.stderr
        );
    }
}

#[test]
fn validate_without_live_stays_offline() {
    let w = World::new();
    w.write("m/bad.yaml", BAD);
    w.run(&["validate", "m"]).expect_code(0);
    assert!(w.requests().is_empty());
}

#[test]
fn validate_live_accepts_a_good_manifest_with_only_reads() {
    let w = World::new();
    w.write("m/good.yaml", GOOD);
    let out = w.run(&["validate", "--live", "m"]);
    out.expect_code(0);
    assert!(out.stdout.starts_with("Valid: 2 targets"), "{}", out.stdout);
    let methods: Vec<String> = w.calls().into_iter().map(|(m, _)| m).collect();
    assert_eq!(
        methods,
        [
            "sale.paysystem.handler.list",
            "sale.paysystem.list",
            "sale.persontype.list"
        ]
    );
}

#[test]
fn plan_refresh_reports_each_problem_and_saves_no_plan() {
    let w = World::new();
    w.write("m/bad.yaml", BAD);
    let out = w.run(&["plan", "--refresh", "--out", "saved.json", "m"]);
    out.expect_code(3);
    assert_reported(&w, &out.stderr);
    assert!(!w.path("saved.json").exists(), "a plan was saved");
}

#[test]
fn apply_refresh_reports_each_problem_and_writes_nothing() {
    let w = World::new();
    w.write("m/bad.yaml", BAD);
    let out = w.run(&["apply", "--refresh", "--auto-approve", "m"]);
    out.expect_code(3);
    assert_reported(&w, &out.stderr);
    assert!(w.portal.settings(11, 1).is_empty());
}

#[test]
fn plan_refresh_with_a_good_manifest_still_plans() {
    let w = World::new();
    w.write("m/good.yaml", GOOD);
    let out = w.run(&["plan", "--refresh", "m"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("+ PS_WORK_MODE_IFRAME"),
        "{}",
        out.stdout
    );
}

#[test]
fn payer_types_are_read_page_by_page() {
    let mut seed = Seed::demo();
    for id in 3..=60 {
        seed.person_types.push(PersonTypeSeed {
            id,
            name: format!("Type {id}"),
            sort: None,
            code: None,
            registry_type: None,
            active: None,
            xml_id: None,
        });
    }
    let w = World::with_seed(seed);
    let doc = |pt: u64| manifest(11, pt, &[("PS_WORK_MODE_IFRAME", "TEST")]);
    w.write("ok/a.yaml", &doc(57));
    w.run(&["validate", "--live", "ok"]).expect_code(0);
    let pages: Vec<serde_json::Value> = w
        .calls()
        .into_iter()
        .filter(|(m, _)| m == "sale.persontype.list")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(pages.len(), 2, "{pages:?}");

    w.write("bad/a.yaml", &doc(61));
    let out = w.run(&["validate", "--live", "bad"]);
    out.expect_code(3);
    assert!(
        out.stderr.contains("error[unknown-person-type]"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--> bad/a.yaml:1:1"), "{}", out.stderr);
}

/// A portal that pages `sale.paysystem.list` by 50: every page is read (`next` followed),
/// so pay systems past the first 50 are known.
#[test]
fn pay_systems_are_read_page_by_page_when_the_portal_pages_them() {
    let mut seed = Seed::demo();
    let acme = seed.pay_systems[1].clone();
    for id in 13..=72 {
        let mut ps = acme.clone();
        ps.id = id;
        ps.name = format!("AcmePay shop {id}");
        ps.xml_id = Some(format!("shop_{id}"));
        seed.pay_systems.push(ps);
    }
    let w = World::with_seed(seed);
    w.portal.set_pay_system_page(Some(50));
    w.write(
        "ok/a.yaml",
        &format!(
            "{}---\n{}",
            manifest(70, 1, &[("PS_WORK_MODE_IFRAME", "TEST")]),
            manifest(11, 1, &[("PS_WORK_MODE_IFRAME", "TEST")])
        ),
    );
    let out = w.run(&["validate", "--live", "ok"]);
    let pages: Vec<serde_json::Value> = w
        .calls()
        .into_iter()
        .filter(|(m, _)| m == "sale.paysystem.list")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(out.code, 0, "{pages:?} {}", out.stderr);
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert_eq!(pages[1]["start"], 50, "{pages:?}");
    // A reference on the second page resolves too.
    w.write(
        "ref/a.yaml",
        "apiVersion: paysync/v1\nkind: PaySystemSettings\npaySystem: { xmlId: shop_71 }\npersonType: 1\nsettings:\n  PS_WORK_MODE_IFRAME: TEST\n",
    );
    w.run(&["apply", "--auto-approve", "ref"]).expect_code(0);
    assert_eq!(
        w.portal_value(71, 1, "PS_WORK_MODE_IFRAME").as_deref(),
        Some("TEST")
    );
}

/// `plan --refresh`: the catalog reads (handlers, pay systems, payer types) ride in the
/// first read batch with the targets' settings.get: one request where there were four.
#[test]
fn the_catalog_rides_in_the_first_read_batch() {
    let w = World::new();
    w.write("m/good.yaml", GOOD);
    w.run(&["plan", "--refresh", "m"]).expect_code(0);
    let requests = w.requests();
    assert_eq!(
        requests.len(),
        1,
        "{:?}",
        requests.iter().map(|r| &r.method).collect::<Vec<_>>()
    );
    let methods: Vec<&str> = requests[0]
        .batch
        .iter()
        .map(|c| c.method.as_str())
        .collect();
    assert_eq!(
        methods,
        [
            "sale.paysystem.handler.list",
            "sale.paysystem.list",
            "sale.persontype.list",
            "sale.paysystem.settings.get",
            "sale.paysystem.settings.get"
        ]
    );
}

/// `--target` narrows what rides in the catalog's batch: the settings of the selected
/// targets only, not of every declared one (read and thrown away before).
#[test]
fn a_target_subset_reads_only_its_own_settings() {
    let w = World::new();
    w.write("m/good.yaml", GOOD);
    w.run(&["plan", "--refresh", "--target", "11:1", "m"])
        .expect_code(0);
    let requests = w.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let reads: Vec<&serde_json::Value> = requests[0]
        .batch
        .iter()
        .filter(|c| c.method == "sale.paysystem.settings.get")
        .map(|c| &c.params)
        .collect();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(reads[0].to_string().contains("\"11\""), "{}", reads[0]);
    // A subset named by reference is read once the catalog has resolved it.
    w.write(
        "m/good.yaml",
        &GOOD.replacen("paySystem: 11", "paySystem: { xmlId: acme_card_b2c }", 1),
    );
    w.portal.clear_requests();
    w.run(&[
        "plan",
        "--refresh",
        "--target",
        "xmlId:acme_card_b2c/1",
        "m",
    ])
    .expect_code(0);
    let gets: usize = w
        .requests()
        .iter()
        .map(|r| {
            r.batch
                .iter()
                .filter(|c| c.method == "sale.paysystem.settings.get")
                .count()
                + usize::from(r.method == "sale.paysystem.settings.get")
        })
        .sum();
    assert_eq!(gets, 1);
}
