//! Secret fingerprints (issue 7.10): memory-hard and salted per state, optionally keyed
//! with PAYSYNC_FINGERPRINT_KEY (then neither the state nor a saved plan holds anything
//! to test a guess with), and state format 1 migrated.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::support::World;

const KEY_CANARY: &str = "CANARY-fingerprint-key-3b9e";

/// Two targets with a secret each, both from the environment.
fn manifest() -> String {
    crate::support::secrets_manifest().replace("file:keys/acme12.txt", "env:OTHER_KEY")
}

/// `apply --auto-approve m.yaml` with both secrets set (`k-acme`, `k-other`).
fn apply_with_both_keys(w: &World) {
    w.cmd()
        .env("ACME_KEY", "k-acme")
        .env("OTHER_KEY", "k-other")
        .args(["apply", "--auto-approve", "m.yaml"])
        .run()
        .expect_code(0);
}

fn state(w: &World) -> serde_json::Value {
    serde_json::from_str(&w.read("paysync.state.json")).unwrap()
}

fn secret_fingerprint(state: &serde_json::Value, pay_system: u64) -> serde_json::Value {
    state["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["paySystem"] == pay_system)
        .map(|t| t["settings"]["REST_SERVICE_KEY_IFRAME"]["fingerprint"].clone())
        .unwrap_or(serde_json::Value::Null)
}

/// A state's fingerprints are Argon2id, salted per state, with the parameters recorded;
/// nothing in the state or a saved plan is a key.
#[test]
fn fingerprints_are_memory_hard_and_salted_per_state() {
    let w = World::new();
    w.write("m.yaml", &manifest());
    apply_with_both_keys(&w);
    let s = state(&w);
    assert_eq!(s["format"], 2);
    assert!(s.get("fingerprint_key").is_none(), "{s}");
    let scheme = &s["fingerprints"];
    assert_eq!(scheme["algorithm"], "argon2id");
    assert_eq!(scheme["version"], 19);
    assert_eq!(scheme["m_cost"], 65536);
    assert_eq!(scheme["t_cost"], 3);
    assert_eq!(scheme["p_cost"], 1);
    assert_eq!(scheme["keyed"], false);
    assert_eq!(scheme["salt"].as_str().unwrap().len(), 32);
    let fp = secret_fingerprint(&s, 11);
    assert!(fp.as_str().unwrap().starts_with("argon2id:"), "{fp}");

    // Another state, the same secret: another fingerprint (the salt).
    let other = World::new();
    other.write("m.yaml", &manifest());
    apply_with_both_keys(&other);
    assert_ne!(secret_fingerprint(&state(&other), 11), fp);

    // The plan compares by it: unchanged, then changed.
    let plan = |value: &str| {
        let out = w
            .cmd()
            .env("ACME_KEY", value)
            .env("OTHER_KEY", "k-other")
            .args(["plan", "--detailed-exitcode", "--out", "p.json", "m.yaml"])
            .run();
        (Some(out.code), out.stdout)
    };
    assert_eq!(plan("k-acme").0, Some(0));
    let (code, text) = plan("k-acme-2");
    assert_eq!(code, Some(2));
    assert!(
        text.contains("~ REST_SERVICE_KEY_IFRAME (secret env:ACME_KEY, changed)"),
        "{text}"
    );
    let saved: serde_json::Value = serde_json::from_str(&w.read("p.json")).unwrap();
    assert_eq!(saved["format"], "paysync.saved-plan/4");
    assert_eq!(saved["fingerprints"], *scheme);
    assert!(saved.get("fingerprint_key").is_none());
}

/// With PAYSYNC_FINGERPRINT_KEY set, fingerprints are keyed: no key material in the state
/// or a saved plan, and the state is never written without the key again.
#[test]
fn a_fingerprint_key_leaves_no_key_material_and_is_required_once_used() {
    let w = World::new();
    w.write("m.yaml", &manifest());
    let run = |key: Option<&str>, acme: &str, args: &[&str]| {
        let out = w
            .cmd()
            .env("ACME_KEY", acme)
            .env("OTHER_KEY", "k-other")
            .env("RUST_LOG", "trace")
            .arg("-vv")
            .env_opt("PAYSYNC_FINGERPRINT_KEY", key)
            .args(args)
            .run();
        out.assert_hides(&[KEY_CANARY]);
        out
    };
    run(
        Some(KEY_CANARY),
        "k-acme",
        &["apply", "--auto-approve", "m.yaml"],
    )
    .expect_code(0);
    let s = state(&w);
    assert_eq!(s["fingerprints"]["keyed"], true);
    assert!(
        secret_fingerprint(&s, 11)
            .as_str()
            .unwrap()
            .starts_with("argon2id-key+hmac:")
    );
    let out = run(
        Some(KEY_CANARY),
        "k-acme-2",
        &["plan", "--detailed-exitcode", "--out", "p.json", "m.yaml"],
    );
    out.expect_code(2);
    assert!(
        out.stdout.contains("(secret env:ACME_KEY, changed)"),
        "{}",
        out.stdout
    );
    for file in ["paysync.state.json", "p.json"] {
        let text = w.read(file);
        assert!(!text.contains(KEY_CANARY), "{file}: {text}");
        assert!(!text.contains("fingerprint_key"), "{file}: {text}");
    }

    // Without the key the plan cannot check secrets, and apply sends nothing.
    let out = run(None, "k-acme-2", &["plan", "m.yaml"]);
    out.expect_code(0);
    assert!(out.stdout.contains("? env:ACME_KEY in "), "{}", out.stdout);
    assert!(
        out.stderr.contains("PAYSYNC_FINGERPRINT_KEY"),
        "{}",
        out.stderr
    );
    // A plan with no secret at hand (a pull request's) is not told about the key: it
    // would check nothing more with it.
    let out = w
        .cmd()
        .env_remove("PAYSYNC_FINGERPRINT_KEY")
        .env_remove("ACME_KEY")
        .env_remove("OTHER_KEY")
        .args(["plan", "m.yaml"])
        .run();
    out.expect_code(0);
    assert!(out.stdout.contains("not checked"), "{}", out.stdout);
    assert!(
        !out.stderr.contains("FINGERPRINT_KEY") && !out.stdout.contains("FINGERPRINT_KEY"),
        "{out:?}"
    );
    w.portal.clear_requests();
    for args in [
        &["apply", "--auto-approve", "m.yaml"][..],
        &["apply", "--plan", "p.json"],
    ] {
        let out = run(None, "k-acme-2", args);
        out.expect_code(1);
        assert!(
            out.stderr
                .contains("keyed with PAYSYNC_FINGERPRINT_KEY, which is not set"),
            "{}",
            out.stderr
        );
        assert!(w.requests().is_empty(), "{args:?}");
    }
    // The saved plan applies with the key.
    run(Some(KEY_CANARY), "k-acme-2", &["apply", "--plan", "p.json"]).expect_code(0);
    assert_eq!(
        w.portal_value(11, 1, "REST_SERVICE_KEY_IFRAME").as_deref(),
        Some("k-acme-2")
    );
}

fn hmac(key: &str, value: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(value.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("hmac-sha256:{hex}")
}

/// A state of format 1 as an older paysync wrote it, with two recorded secrets.
fn format_1_state(w: &World) -> String {
    let key = "96bd27a5c48c7473cb60518a8d41db4774de31a98dd3fc6f48448e3596917690";
    let text = serde_json::json!({
        "format": 1,
        "lineage": "f5041444-37b4-439a-bd30-81a003c5f6df",
        "serial": 3,
        "portal": w.portal.base_url(),
        "fingerprint_key": key,
        "targets": [
            {"paySystem": 11, "personType": 1, "settings": {
                "PS_WORK_MODE_IFRAME": {"type": "VALUE", "value": "TEST"},
                "REST_SERVICE_KEY_IFRAME": {"type": "VALUE", "secret": "env:ACME_KEY",
                                            "fingerprint": hmac(key, "k-acme")}}},
            {"paySystem": 12, "personType": 0, "settings": {
                "REST_SERVICE_KEY_IFRAME": {"type": "VALUE", "secret": "env:OTHER_KEY",
                                            "fingerprint": hmac(key, "k-other")}}}
        ]
    });
    let text = serde_json::to_string_pretty(&text).unwrap();
    std::fs::write(w.path("paysync.state.json"), &text).unwrap();
    w.portal
        .set_setting(11, 1, "REST_SERVICE_KEY_IFRAME", "VALUE", "k-acme");
    w.portal
        .set_setting(12, 0, "REST_SERVICE_KEY_IFRAME", "VALUE", "k-other");
    text
}

/// Regression (issue 7.10): a format-1 state (HMAC key in the file) is read, compared
/// with its own key, and written as format 2 by the next apply, with every fingerprint
/// that run could verify carried over; the others show as not checked until the next
/// apply writes them.
#[test]
fn a_format_1_state_is_read_and_migrated() {
    let w = World::new();
    // The second secret is a file: a saved plan that does not write it cannot read it.
    w.write(
        "m.yaml",
        &manifest().replace("env:OTHER_KEY", "file:keys/other.txt"),
    );
    let text = format_1_state(&w).replace("env:OTHER_KEY", "file:keys/other.txt");
    std::fs::write(w.path("paysync.state.json"), text).unwrap();
    let run = |acme: &str, other: Option<&str>, args: &[&str]| {
        match other {
            Some(v) => w.write("keys/other.txt", v),
            None => {
                let _ = std::fs::remove_file(w.path("keys/other.txt"));
                w.path("keys/other.txt")
            }
        };
        w.cmd().env("ACME_KEY", acme).args(args).run()
    };
    // Its fingerprints still compare: unchanged, changed, not checked.
    let out = run("k-acme", None, &["plan", "m.yaml"]);
    out.expect_code(0);
    assert!(!out.stdout.contains("env:ACME_KEY"), "{}", out.stdout);
    assert!(
        out.stdout.contains("? file:keys/other.txt in "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("~ PS_WORK_MODE_IFRAME"),
        "{}",
        out.stdout
    );
    let out = run("k-acme-2", Some("k-other"), &["plan", "m.yaml"]);
    assert!(
        out.stdout.contains("(secret env:ACME_KEY, changed)"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("keys/other.txt"), "{}", out.stdout);

    // A plan saved from it applies: every run migrating it agrees on the new scheme.
    // The plan writes one plain value; the env: secret is read from the environment and
    // carried over, the file: one cannot be.
    run(
        "k-acme",
        Some("k-other"),
        &["plan", "--out", "p.json", "m.yaml"],
    )
    .expect_code(0);
    w.portal.clear_requests();
    run("k-acme", None, &["apply", "--plan", "p.json"]).expect_code(0);
    let s = state(&w);
    assert_eq!(s["format"], 2);
    assert!(s.get("fingerprint_key").is_none(), "{s}");
    assert!(!w.read("paysync.state.json").contains("hmac-sha256"));
    assert!(
        secret_fingerprint(&s, 11)
            .as_str()
            .unwrap()
            .starts_with("argon2id:")
    );
    assert_eq!(secret_fingerprint(&s, 12), serde_json::Value::Null);
    let out = run("k-acme", Some("k-other"), &["plan", "m.yaml"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("? file:keys/other.txt in "),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("env:ACME_KEY"), "{}", out.stdout);
    // The next apply writes it (the same value: an idempotent write) and records it.
    run(
        "k-acme",
        Some("k-other"),
        &["apply", "--auto-approve", "m.yaml"],
    )
    .expect_code(0);
    let out = run(
        "k-acme",
        Some("k-other"),
        &["plan", "--detailed-exitcode", "m.yaml"],
    );
    out.expect_code(0);
    assert!(out.stdout.contains("No changes."), "{}", out.stdout);
}

/// The same migration through `apply` with the manifests: every secret is read, so every
/// fingerprint is carried over.
#[test]
fn apply_migrates_every_fingerprint_it_can_verify() {
    let w = World::new();
    w.write("m.yaml", &manifest());
    format_1_state(&w);
    apply_with_both_keys(&w);
    let s = state(&w);
    assert_eq!(s["format"], 2);
    for pay_system in [11, 12] {
        assert!(
            secret_fingerprint(&s, pay_system)
                .as_str()
                .is_some_and(|f| f.starts_with("argon2id:")),
            "{s}"
        );
    }
    // Only the changed plain value was written; the secrets were verified, not re-sent.
    let updates = w.updates();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert!(updates[0]["SETTINGS"].get("PS_WORK_MODE_IFRAME").is_some());
}

/// Issue 22.1: a keyed state made before keyed fingerprints became one derivation per run
/// plus a MAC per secret (`argon2id+key:`, Argon2id per secret with the key as its secret
/// input) still compares (a clean plan), and holds the new kind after the next apply
/// that writes the state, with no secret sent again.
#[test]
fn keyed_fingerprints_of_the_earlier_kind_compare_and_are_remade() {
    let w = World::new();
    w.write("m.yaml", &manifest());
    let key = "earlier-kind-fingerprint-key";
    let salt = b"0123456789abcdef";
    let earlier = |value: &str| {
        let params = argon2::Params::new(8, 1, 1, Some(32)).unwrap();
        let argon = argon2::Argon2::new_with_secret(
            key.as_bytes(),
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        )
        .unwrap();
        let mut out = [0u8; 32];
        argon
            .hash_password_into(value.as_bytes(), salt, &mut out)
            .unwrap();
        format!("argon2id+key:{}", hex::encode(out))
    };
    let state = serde_json::json!({
        "format": 2,
        "lineage": "f5041444-37b4-439a-bd30-81a003c5f6df",
        "serial": 3,
        "portal": w.portal.base_url(),
        "fingerprints": {"algorithm": "argon2id", "version": 19, "m_cost": 8, "t_cost": 1,
                         "p_cost": 1, "salt": hex::encode(salt), "keyed": true},
        "targets": [
            {"paySystem": 11, "personType": 1, "settings": {
                "PS_WORK_MODE_IFRAME": {"type": "VALUE", "value": "REGULAR"},
                "REST_SERVICE_KEY_IFRAME": {"type": "VALUE", "secret": "env:ACME_KEY",
                                            "fingerprint": earlier("k-acme")}}},
            {"paySystem": 12, "personType": 0, "settings": {
                "REST_SERVICE_KEY_IFRAME": {"type": "VALUE", "secret": "env:OTHER_KEY",
                                            "fingerprint": earlier("k-other")}}}
        ]
    });
    w.write(
        "paysync.state.json",
        &serde_json::to_string_pretty(&state).unwrap(),
    );
    let run = |args: &[&str]| {
        w.cmd()
            .env("ACME_KEY", "k-acme")
            .env("OTHER_KEY", "k-other")
            .env("PAYSYNC_FINGERPRINT_KEY", key)
            .args(args)
            .run()
    };
    run(&["plan", "--detailed-exitcode", "m.yaml"]).expect_code(0);
    // The next apply that writes the state (as for format 1) records the new kind for
    // every secret it can verify, and sends none of them again.
    w.write("m.yaml", &manifest().replace("REGULAR", "IFRAME"));
    run(&["apply", "--auto-approve", "m.yaml"]).expect_code(0);
    let updates = serde_json::to_string(&w.updates()).unwrap();
    assert!(
        updates.contains("PS_WORK_MODE_IFRAME") && !updates.contains("REST_SERVICE_KEY_IFRAME"),
        "{updates}"
    );
    let s = self::state(&w);
    for pay_system in [11, 12] {
        let fingerprint = secret_fingerprint(&s, pay_system);
        assert!(
            fingerprint
                .as_str()
                .unwrap()
                .starts_with("argon2id-key+hmac:"),
            "{fingerprint}"
        );
    }
    run(&["plan", "--detailed-exitcode", "m.yaml"]).expect_code(0);
}
