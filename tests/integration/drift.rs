//! `paysync drift`: live compared with the last-applied state, read-only (no lock, no
//! writes, only reads), exit 7 on drift, versioned JSON for alerting.

use std::fs::OpenOptions;
use std::path::Path;
use std::time::SystemTime;

use crate::support::{CANARY, Manifest, World};

/// 11/1: a literal, a PAYMENT source and the secret `env:ACME_KEY`; 12/0: a Y/N.
fn acme() -> String {
    Manifest::new()
        .target(11, 1)
        .literal("PS_WORK_MODE_IFRAME", "REGULAR")
        .source("PAYMENT_ID", "PAYMENT", "ACCOUNT_NUMBER")
        .secret("REST_SERVICE_KEY_IFRAME", "env:ACME_KEY")
        .target(12, 0)
        .literal("PS_CHANGE_STATUS_PAY", "Y")
        .text()
}

/// A world where [`acme`] was applied (with the canary as the secret).
fn applied() -> World {
    let w = World::new();
    w.write("m/acme.yaml", &acme());
    w.cmd()
        .env("ACME_KEY", CANARY)
        .args(["apply", "--auto-approve", "m"])
        .run()
        .expect_code(0);
    w.portal.clear_requests();
    w
}

/// The state file's bytes and mtime, and the names in the world's directory.
fn snapshot(w: &World) -> (Vec<u8>, SystemTime, Vec<String>) {
    let path = w.path("paysync.state.json");
    let bytes = std::fs::read(&path).expect("state exists");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    (bytes, mtime, names(w.dir.path()))
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every request was a `settings.get` read (alone or in a batch); none wrote.
fn assert_only_reads(w: &World) {
    let requests = w.requests();
    assert!(!requests.is_empty(), "drift read nothing");
    for r in &requests {
        let methods: Vec<&str> = if r.method == "batch" {
            r.batch.iter().map(|c| c.method.as_str()).collect()
        } else {
            vec![r.method.as_str()]
        };
        for m in methods {
            assert_eq!(m, "sale.paysystem.settings.get", "drift sent {m}");
        }
    }
    assert!(w.updates().is_empty(), "drift sent settings.update");
}

fn assert_clean(text: &str) {
    assert!(!text.contains(CANARY), "secret leaked:\n{text}");
    assert!(!text.contains("hmac-sha256"), "fingerprint shown:\n{text}");
}

#[test]
fn drift_without_changes_exits_0_writes_nothing_and_sends_only_reads() {
    let w = applied();
    let before = snapshot(&w);
    // Wait a little so that a rewrite would show in the mtime on coarse file systems.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = w.run(&["drift"]);
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("No drift: 4 settings in 2 targets match the last-applied state."),
        "{}",
        out.stdout
    );
    assert_eq!(
        snapshot(&w),
        before,
        "drift changed the state or left a file"
    );
    assert!(!w.path("paysync.state.json.lock").exists());
    assert_only_reads(&w);
}

#[test]
fn drift_found_exits_7_shows_each_code_and_hides_secrets() {
    let w = applied();
    w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "TEST");
    w.portal.set_setting(
        11,
        1,
        "REST_SERVICE_KEY_IFRAME",
        "VALUE",
        &format!("{CANARY}-new"),
    );
    w.portal
        .set_setting(12, 0, "PS_CHANGE_STATUS_PAY", "INPUT", "Y");
    let before = snapshot(&w);

    let out = w.run(&["drift"]);
    out.expect_code(7);
    assert_clean(&format!("{}{}", out.stdout, out.stderr));
    for line in [
        "paySystem 11 / personType 1:",
        "  ~ PS_WORK_MODE_IFRAME: \"TEST\" -> \"REGULAR\" (changed outside paysync)",
        "  ~ REST_SERVICE_KEY_IFRAME (secret env:ACME_KEY, changed outside paysync)",
        "paySystem 12 / personType 0:",
        "  ~ PS_CHANGE_STATUS_PAY: INPUT:Y -> \"Y\" (changed outside paysync)",
        "Drift: 3 settings in 2 targets changed outside paysync (4 settings in 2 targets checked).",
    ] {
        assert!(
            out.stdout.contains(line),
            "missing {line:?}:\n{}",
            out.stdout
        );
    }
    assert!(!out.stdout.contains("PAYMENT_ID"), "{}", out.stdout);
    assert_eq!(snapshot(&w), before);
    assert_only_reads(&w);

    // Not even trace logs show the live secret.
    let traced = w
        .cmd()
        .env("RUST_LOG", "trace")
        .args(["-vv", "drift", "--format", "json"])
        .run();
    assert_eq!(traced.code, 7);
    assert_clean(&format!(
        "{}{}",
        traced.stdout.as_str(),
        traced.stderr.as_str()
    ));
}

#[test]
fn drift_json_parses_for_alerting() {
    let w = applied();
    w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "TEST");
    w.portal.set_setting(
        11,
        1,
        "REST_SERVICE_KEY_IFRAME",
        "VALUE",
        &format!("{CANARY}-new"),
    );
    let out = w.run(&["drift", "--format", "json"]);
    out.expect_code(7);
    assert_clean(&format!("{}{}", out.stdout, out.stderr));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON output");
    assert_eq!(v["format_version"], 2);
    assert_eq!(v["summary"]["drift"], true);
    assert_eq!(v["summary"]["drifted"], 2);
    assert_eq!(v["summary"]["settings_checked"], 4);
    let drift = v["drift"].as_array().unwrap();
    assert_eq!(drift.len(), 2);
    assert_eq!(drift[0]["pay_system"], 11);
    assert_eq!(drift[0]["person_type"], 1);
    assert_eq!(drift[0]["code"], "PS_WORK_MODE_IFRAME");
    assert_eq!(
        drift[0]["recorded"],
        serde_json::json!({"type": "VALUE", "value": "REGULAR"})
    );
    assert_eq!(
        drift[0]["live"],
        serde_json::json!({"type": "VALUE", "value": "TEST"})
    );
    assert_eq!(drift[1]["code"], "REST_SERVICE_KEY_IFRAME");
    assert_eq!(
        drift[1]["recorded"],
        serde_json::json!({"type": "VALUE", "secret": "env:ACME_KEY"})
    );
    assert_eq!(drift[1]["live"]["hidden"], true);

    // No drift: exit 0, still JSON.
    w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "REGULAR");
    w.portal
        .set_setting(11, 1, "REST_SERVICE_KEY_IFRAME", "VALUE", CANARY);
    let out = w.run(&["drift", "--format", "json"]);
    out.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON output");
    assert_eq!(v["summary"]["drift"], false);
    assert_eq!(v["drift"], serde_json::json!([]));
}

#[test]
fn drift_takes_no_lock() {
    let w = applied();
    w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "TEST");
    // Another process holds the apply lock: drift still runs (apply would exit 4).
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(w.path("paysync.state.json.lock"))
        .unwrap();
    lock.try_lock().expect("test takes the lock");
    w.run(&["drift"]).expect_code(7);
    w.run(&["apply", "--auto-approve", "m"]).expect_code(4);
    lock.unlock().unwrap();
}

#[test]
fn drift_reads_the_state_named_by_flag_or_environment() {
    let w = applied();
    std::fs::rename(w.path("paysync.state.json"), w.path("elsewhere.json")).unwrap();
    w.portal
        .set_setting(12, 0, "PS_CHANGE_STATUS_PAY", "VALUE", "N");
    w.run(&["drift", "--state", "elsewhere.json"])
        .expect_code(7);
    let out = w
        .cmd()
        .env("PAYSYNC_STATE", "elsewhere.json")
        .arg("drift")
        .run();
    assert_eq!(out.code, 7);
    assert!(!w.path("paysync.state.json").exists());
}

#[test]
fn drift_without_a_state_file_is_an_error() {
    let w = World::new();
    let out = w.run(&["drift"]);
    out.expect_code(1);
    assert!(out.stderr.contains("paysync.state.json"), "{}", out.stderr);
    assert!(out.stderr.contains("no state file"), "{}", out.stderr);
    assert!(
        w.requests().is_empty(),
        "nothing to compare, nothing to read"
    );
    assert!(names(w.dir.path()).is_empty(), "drift created a file");
}

#[test]
fn drift_takes_no_manifest_paths() {
    let w = applied();
    let out = w.run(&["drift", "m"]);
    out.expect_code(64);
}

/// Issue 23.2: `--format markdown` for an issue or an alert, with a marker a scheduled
/// job finds its issue by; the secret shows as `(secret)`, never its value.
#[test]
fn drift_as_markdown_for_an_issue() {
    let w = applied();
    w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "TEST|<b>");
    w.portal.set_setting(
        11,
        1,
        "REST_SERVICE_KEY_IFRAME",
        "VALUE",
        &format!("{CANARY}-new"),
    );
    let out = w.run(&["drift", "--format", "markdown"]);
    out.expect_code(7);
    let md = out.stdout.as_str();
    assert!(
        md.starts_with("<!-- paysync-drift -->\n### paysync drift: 2 settings in 1 target changed outside paysync\n"),
        "{md}"
    );
    assert!(
        md.contains("| target | code | on the portal | last applied |"),
        "{md}"
    );
    // Portal text cannot break the table or open a tag.
    assert!(
        md.contains("<code>\"TEST&#124;&#60;b&#62;\"</code>"),
        "{md}"
    );
    assert!(
        md.contains("| (secret) | secret <code>env&#58;ACME&#95;KEY</code> |"),
        "{md}"
    );
    assert_clean(&format!("{md}{}", out.stderr));
    // No drift: the same marker, a short report (the job closes its issue).
    w.portal
        .set_setting(11, 1, "PS_WORK_MODE_IFRAME", "VALUE", "REGULAR");
    w.cmd()
        .env("ACME_KEY", CANARY)
        .args(["apply", "--auto-approve", "--refresh", "m"])
        .run();
    let out = w.run(&["drift", "--format", "markdown"]);
    out.expect_code(0);
    assert!(
        out.stdout
            .starts_with("<!-- paysync-drift -->\n### paysync drift: no drift\n"),
        "{}",
        out.stdout
    );
}
